import Foundation
@testable import TSRec

/// What the pipeline suites share: a results folder of their own (the model and data come from
/// the cache `make model data` fills), the smoke budget on real Industrial rows, and a log kept
/// for the assertions.
enum SmokePipeline {
    /// Runs `body` with paths whose results folder is new and is removed afterwards.
    static func withResults<T>(_ tag: String, _ body: (Paths) throws -> T) throws -> T {
        let dir = try DataTestSupport.makeTempDir(tag)
        defer { try? FileManager.default.removeItem(at: dir) }
        return try body(Paths(cache: Paths.fromEnvironment().cache, results: dir))
    }

    /// The smoke profile on Industrial with `method`'s configuration, over the first `testRows`
    /// test rows when given.
    static func config(_ method: Method? = nil, testRows: Int? = nil) -> ExperimentConfig {
        var c = ExperimentConfig.profile(.smoke, dataset: Benchmark.industrial.name)
        if let method { c = c.applying(method) }
        if let testRows { c.testRows = testRows }
        return c
    }
}

/// A pipeline's log lines, kept for assertions (the pipeline logs from its worker threads).
final class LogBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ s: String) { lock.lock(); stored.append(s); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return stored }
}

extension Pipeline {
    /// Sends this pipeline's log to a new box and returns it.
    mutating func keepingLog() -> LogBox {
        let box = LogBox()
        log = { box.append($0) }
        return box
    }
}
