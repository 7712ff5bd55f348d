import Foundation
import TSRec

/// One run of the PyTorch peer (`scripts/torch-peer.sh GGUF STEPS THREADS PRECISION`): its output is
/// echoed line by line, and its last `peer tokens/s: X` line is the result.
struct PeerRun {
    /// The peer's training tokens/s; nil when it did not run (`failure` says why).
    private(set) var tokensPerSecond: Double?
    private(set) var failure = ""

    init(launcher: String, gguf: URL, steps: Int, threads: Int, precision: MatmulPrecision = .fp32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: launcher)
        process.arguments = [gguf.path, String(steps), String(threads), precision.rawValue]
        // the peer runs in the environment the user gave the bench (its OpenMP threads keep their default wait policy)
        process.environment = BLAS.userEnvironment()
        let pipe = Pipe()
        process.standardOutput = pipe
        do {
            try process.run()
        } catch {
            failure = "PyTorch peer: could not start \(launcher) (\(error)); carrying on without it"
            return
        }
        var last = ""
        var pending = Data()
        let handle = pipe.fileHandleForReading
        while case let chunk = handle.availableData, !chunk.isEmpty {
            pending.append(chunk)
            while let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
                pending = Data(pending[(nl + 1)...])
                say("  " + line)
                if !line.isEmpty { last = line }
            }
        }
        process.waitUntilExit()
        let prefix = "peer tokens/s: "
        if process.terminationStatus == 0, last.hasPrefix(prefix),
           let value = Double(last.dropFirst(prefix.count).prefix { !$0.isWhitespace }) {
            tokensPerSecond = value
        } else {
            failure = last.hasPrefix("PyTorch peer:") ? last
                : "PyTorch peer: exited with status \(process.terminationStatus) without a tokens/s line; carrying on without it"
        }
    }
}
