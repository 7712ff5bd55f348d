import Foundation

/// A one-line progress bar on stderr for downloads and copies:
/// `Industrial_and_Scientific.tar.gz [#########-----------]  45%  3.3/7.3 MB  2.1 MB/s`.
///
/// Redrawn in place (`\r`) at most 10 times a second when stderr is a terminal; otherwise
/// (logs, CI) only a start and a final line are written, so logs stay short. Named
/// `DownloadProgress` so it cannot clash with a general progress type elsewhere.
public struct DownloadProgress: Sendable {
    public let label: String
    /// Whether anything is printed at all (tests pass `false`).
    public let enabled: Bool
    private let interactive: Bool
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var startBytes: Int64 = 0
    private var started = false

    public init(label: String, enabled: Bool = true) {
        self.label = label
        self.enabled = enabled
        interactive = isatty(STDERR_FILENO) != 0
    }

    /// `done` bytes of `total` (nil when the server sent no length). `done` includes bytes
    /// resumed from an earlier partial file; the rate counts only this session's bytes.
    public mutating func update(done: Int64, total: Int64?) {
        guard enabled else { return }
        if !started {
            started = true
            startBytes = done
            if !interactive {
                let size = total.map { " (\(Self.megabytes($0)) MB)" } ?? ""
                let resumed = done > 0 ? ", resuming at \(Self.megabytes(done)) MB" : ""
                Self.write("\(label): downloading\(size)\(resumed)\n")
            }
        }
        guard interactive else { return }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.1 || (total != nil && done >= total!) else { return }
        lastDraw = now
        Self.write("\r" + line(done: done, total: total, now: now))
    }

    /// Ends the bar with a summary line.
    public mutating func finish(done: Int64, note: String = "done") {
        guard enabled else { return }
        let seconds = max(Date().timeIntervalSince(start), 1e-3)
        let rate = Double(done - startBytes) / seconds / 1e6
        let text = "\(label): \(note), \(Self.megabytes(done)) MB in \(String(format: "%.1f", seconds)) s (\(String(format: "%.1f", rate)) MB/s)"
        Self.write(interactive ? "\r\u{1B}[K" + text + "\n" : text + "\n")
    }

    func line(done: Int64, total: Int64?, now: Date) -> String {
        let seconds = max(now.timeIntervalSince(start), 1e-3)
        let rate = String(format: "%.1f MB/s", Double(done - startBytes) / seconds / 1e6)
        guard let total, total > 0 else { return "\(label) \(Self.megabytes(done)) MB  \(rate)\u{1B}[K" }
        let fraction = min(1, Double(done) / Double(total))
        let width = 24, filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        return "\(label) [\(bar)] \(String(format: "%3.0f", fraction * 100))%  \(Self.megabytes(done))/\(Self.megabytes(total)) MB  \(rate)\u{1B}[K"
    }

    static func megabytes(_ bytes: Int64) -> String { String(format: "%.1f", Double(bytes) / 1e6) }

    private static func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
