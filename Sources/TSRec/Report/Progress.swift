import Foundation

/// A progress bar with rate and ETA for long loops (evaluation over test rows, training steps).
///
/// Writes to stderr so stdout stays data. On a terminal it redraws one line in place (`\r`), at most
/// `redrawInterval` apart (~5 times/s), so a fast loop does not spend its time printing. When stderr is
/// not a TTY (logs, CI) it prints a plain line each time another ~10% is done, then a summary.
/// Rate = items done / elapsed seconds since creation; ETA = remaining items / rate.
///
/// ```swift
/// let bar = ProgressBar(total: rows.count, label: "eval test")
/// for row in rows { evaluate(row); bar.advance() }
/// bar.finish()
/// ```
public final class ProgressBar {
    public let total: Int
    public let label: String
    /// What an item is, in the rate (`it/s` by default; the RL stage counts `rollouts`).
    public let unit: String
    /// Appended to every status line (e.g. the RL stage's mean reward); set it before `advance`.
    public var note = ""
    public private(set) var done = 0

    /// Minimum seconds between two redraws on a terminal.
    static let redrawInterval = 0.2

    private let isTTY: Bool
    private let now: () -> Double
    private let write: (String) -> Void
    private let start: Double
    private var lastDraw = -Double.infinity
    private var lastDecile = 0
    private var finished = false

    /// A bar on stderr; the display mode follows `isatty(2)`.
    public convenience init(total: Int, label: String, unit: String = "it") {
        self.init(total: total, label: label, unit: unit, isTTY: isatty(2) != 0,
                  now: { ProcessInfo.processInfo.systemUptime },
                  write: { FileHandle.standardError.write(Data($0.utf8)) })
    }

    /// Injectable terminal flag, clock (seconds, monotonic) and sink, for tests.
    init(total: Int, label: String, unit: String = "it", isTTY: Bool, now: @escaping () -> Double,
         write: @escaping (String) -> Void) {
        precondition(total >= 0, "ProgressBar: total \(total) < 0")
        (self.total, self.label, self.unit, self.isTTY, self.now, self.write) = (total, label, unit, isTTY, now, write)
        start = now()
        if isTTY { draw(at: start) }
    }

    /// Records `n` more items done (clamped to `total`) and redraws if due.
    public func advance(by n: Int = 1) {
        precondition(n >= 0, "ProgressBar.advance: n \(n) < 0")
        guard !finished else { return }
        done = min(total, done + n)
        let t = now()
        if isTTY {
            if t - lastDraw >= Self.redrawInterval { draw(at: t) }
        } else if total > 0 {
            let decile = done * 10 / total
            if decile > lastDecile && done < total {
                lastDecile = decile
                write("\(label): \(statusText(at: t))\n")
            }
        }
    }

    /// Final line: items done, elapsed time and mean rate. Further calls do nothing.
    public func finish() {
        guard !finished else { return }
        finished = true
        let t = now()
        let elapsed = t - start
        let summary = "\(label): done \(done)/\(total) in \(Self.duration(elapsed)) (\(Self.rate(Double(done), elapsed, unit: unit)))"
            + (note.isEmpty ? "" : " \(note)")
        write(isTTY ? "\r\u{1B}[K\(summary)\n" : "\(summary)\n")
    }

    private func draw(at t: Double) {
        lastDraw = t
        let width = 24
        let filled = total == 0 ? width : done * width / total
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        write("\r\u{1B}[K\(label) [\(bar)] \(statusText(at: t))")
    }

    /// `45% 450/1000 12.3 it/s ETA 0:45` (ETA `?` before the first item), then the note.
    func statusText(at t: Double) -> String {
        let elapsed = t - start
        let pct = total == 0 ? 100 : done * 100 / total
        let perSecond = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = perSecond > 0 ? Self.duration(Double(total - done) / perSecond) : "?"
        return "\(pct)% \(done)/\(total) \(Self.rate(Double(done), elapsed, unit: unit)) ETA \(eta)" + (note.isEmpty ? "" : " \(note)")
    }

    /// `12.3 it/s`, or `4.1 s/it` when slower than one item per second (`unit` in place of `it`).
    static func rate(_ items: Double, _ seconds: Double, unit: String = "it") -> String {
        guard items > 0, seconds > 0 else { return "- \(unit)/s" }
        let r = items / seconds
        return r >= 1 ? String(format: "%.1f %@/s", r, unit) : String(format: "%.1f s/%@", 1 / r, unit)
    }

    /// `m:ss`, or `h:mm:ss` from one hour.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60)
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, sec) : String(format: "%d:%02d", m, sec)
    }
}
