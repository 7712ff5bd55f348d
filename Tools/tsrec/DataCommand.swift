import ArgumentParser
import Dispatch
import Foundation
import TSRec

/// `tsrec data …`: fetch the benchmarks into the cache and describe them.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Fetch, check and describe the benchmark datasets.",
        subcommands: [Fetch.self, Stats.self, Status.self]
    )

    /// `industrial`, `office`, full names, or `all`.
    static func benchmarks(_ names: [String]) throws -> [Benchmark] {
        if names.isEmpty || names.contains(where: { $0.lowercased() == "all" }) { return Benchmark.all }
        return try names.map { name in
            guard let b = Benchmark.named(name) else {
                throw ValidationError("unknown dataset '\(name)'; known: \(Benchmark.all.map(\.name).joined(separator: ", ")) (or industrial, office, all)")
            }
            return b
        }
    }

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download (or copy from a mirror), verify and unpack benchmark datasets into the cache.",
            discussion: """
            Files land in $TSREC_CACHE/datasets/<Name>/ (see Paths). With --mirror or TSREC_MIRROR the \
            <Name>.tar.gz archive is copied from that folder or downloaded from that URL; otherwise every \
            file is downloaded from its upstream raw.githubusercontent.com URL. Everything is sha256-checked \
            (the Office train split by its git blob id); interrupted downloads resume.
            """
        )

        @Argument(help: "Datasets: Industrial_and_Scientific, Office_Products (or industrial, office, all).")
        var datasets: [String] = []

        @Option(help: "Folder or http(s) URL holding <Name>.tar.gz (default: $TSREC_MIRROR; without either, upstream).")
        var mirror: String?

        @Option(help: .hidden)
        var upstreamBase: String?

        @Option(help: "Seconds without data before a download fails.")
        var timeout: Double = 60

        @Flag(help: "No progress bar.")
        var quiet = false

        func run() throws {
            let paths = Paths.fromEnvironment()
            let source = try DataSource.resolve(mirror: mirror, upstreamBase: upstreamBase)
            let fetcher = DataFetcher(paths: paths, downloader: Downloader(idleTimeout: timeout, showProgress: !quiet))
            for b in try DataCommand.benchmarks(datasets) {
                let report = try runBlocking { try await fetcher.fetch(b, from: source) }
                print(report.summary)
            }
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the dataset statistics table (CSV and markdown).",
            discussion: "Users, items, interactions, train/valid/test rows, SID tokens per level, distinct SIDs, collisions. Values that need a missing split are n/a."
        )

        @Argument(help: "Datasets (default: all).")
        var datasets: [String] = []

        @Option(help: "Output folder (default: $TSREC_RESULTS/data).")
        var out: String?

        func run() throws {
            let paths = Paths.fromEnvironment()
            var rows: [DatasetStats] = []
            var firstFailure: Error?
            for b in try DataCommand.benchmarks(datasets) {
                do {
                    let ds = try Dataset.load(b, paths: paths)
                    print(ds.summary)
                    rows.append(DatasetStats(ds))
                } catch {
                    firstFailure = firstFailure ?? error
                    FileHandle.standardError.write(Data("\(b.name): \(error)\n".utf8))
                }
            }
            // No dataset loaded: the first failure is the error (its own exit status: a corrupt
            // split is bad data, not a wrong command line).
            if rows.isEmpty, let firstFailure { throw firstFailure }
            let dir = out.map { URL(fileURLWithPath: $0) } ?? paths.results.appendingPathComponent("data")
            let csv = dir.appendingPathComponent("stats.csv"), md = dir.appendingPathComponent("stats.md")
            try AtomicFile.write(DatasetStats.csv(rows), to: csv)
            try AtomicFile.write(DatasetStats.markdown(rows), to: md)
            print("")
            print(DatasetStats.markdown(rows))
            print("wrote \(csv.path) and \(md.path)")
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say which dataset files are present and verified, and what is missing."
        )

        @Argument(help: "Datasets (default: all).")
        var datasets: [String] = []

        func run() throws {
            let fetcher = DataFetcher(paths: Paths.fromEnvironment())
            for b in try DataCommand.benchmarks(datasets) {
                let dir = fetcher.directory(for: b)
                guard let installed = try fetcher.installedFiles(b) else {
                    print("\(b.name): not fetched (or incomplete) at \(dir.path); run `tsrec data fetch \(b.name)`")
                    continue
                }
                print("\(b.name): \(installed.count) file(s) verified at \(dir.path)")
                for f in b.files where !installed.contains(f.relativePath) {
                    print("  missing \(f.part): \(f.relativePath)")
                }
            }
        }
    }
}

/// Runs async work from a synchronous command: the main thread waits on a semaphore while the
/// work runs on the cooperative pool (the main thread is not part of that pool, so no deadlock).
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do {
            box.result = Result<T, Error>.success(try await body())
        } catch {
            box.result = Result<T, Error>.failure(error)
        }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

/// Written once by the task, read after the semaphore: the semaphore orders the accesses.
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}
