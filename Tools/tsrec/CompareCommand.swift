import ArgumentParser
import Foundation
import TSRec

/// Any two finished runs on the same test rows: the paired difference of every table metric
/// and diagnostic with its bootstrap interval and sign test (what table2, the ablations and the
/// seed study report for their own pairs), e.g. an ablation variant against MiniOneRec-SFT.
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Paired comparison of two finished runs on the same test rows (first minus second).",
        discussion: """
            Each run is a predictions file, a run folder, or a run's configuration hash (looked up under \
            $TSREC_RESULTS/runs/<dataset>/). A run whose test rows were asked with several prompts (LC-Rec: \
            each of its templates, one file each) is compared by each row's mean over them when named by \
            its folder or hash. Example: tsrec compare fb2979a2cdc6 9f7a027cf823 --labels "w/o SA-Init,SFT"
            """)

    @Argument(help: "The reference run (predictions file, run folder or hash).") var reference: String
    @Argument(help: "The run it is compared with.") var other: String
    @Option(help: "Names for the two runs in the output, comma-separated (default: the arguments).") var labels: String?
    @Option(help: "Also write the comparison as CSV to this path.") var csv: String?
    @Flag(help: "Also compare them on the rows whose target is in the user's history (repeat purchases) and on the others.")
    var byHistory = false
    @Option(help: "The dataset of the runs, for --by-history (default: from their folder or config.json).") var dataset: String?

    func run() throws {
        let paths = Paths.fromEnvironment()
        let a = try RunLocator.predictions(reference, runs: paths.runs), b = try RunLocator.predictions(other, runs: paths.runs)
        let names = labels.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? [reference, other]
        guard names.count == 2 else { throw ValidationError("--labels needs two names separated by a comma, got '\(labels ?? "")'") }
        let datasetName = dataset ?? RunLocator.datasetName(of: a[0], runs: paths.runs)
        // [prompts][rows] per run
        let predictions = (a: try PredictionsFile.read(prompts: a.map(\.path)), b: try PredictionsFile.read(prompts: b.map(\.path)))
        let report = try PairedReport(dataset: datasetName ?? "-", reference: (names[0], predictions.a), other: (names[1], predictions.b),
                                      source: b[0].path)
        for (name, files) in zip(names, [a, b]) {
            print("\(name): \(files[0].path)" + (files.count > 1 ? " and \(files.count - 1) more test prompts (each row's mean over \(files.count))" : ""))
        }
        guard let comparison = report.pairs.first?.comparison else { return }
        print("\(names[0]) minus \(names[1]), \(comparison.rows) test rows; paired bootstrap 95% interval; exact sign test")
        printTable(comparison, names: names)

        print("\nranking diversity (top 10): distinct top-1 items, distinct lists, items in any list, rows with the most common top-1"
              + (a.count > 1 || b.count > 1 ? " (first test prompt)" : ""))
        for (name, p) in zip(names, [predictions.a[0], predictions.b[0]]) {
            let d = RankingDiversity(p)
            print(name.padding(11) + " \(d.distinctTop1)".padding(7) + " \(d.distinctLists)".padding(7) + " \(d.distinctItems)".padding(7)
                  + String(format: " %.1f%%", 100 * d.topItemShare))
        }

        if byHistory {
            guard let datasetName, let benchmark = Benchmark.named(datasetName) else {
                throw ValidationError("--by-history needs the runs' dataset: pass --dataset (\(Benchmark.all.map(\.name).joined(separator: " or ")))")
            }
            let rows = try Dataset.load(benchmark, paths: paths).split(.test).rows
            let parts = try HistoryRepeats(rows: rows, predictions: predictions.a[0], source: a[0].path)
            for (title, indices) in [("target is in the history (a repeat purchase)", parts.repeated), ("target is new to the user", parts.new)] where !indices.isEmpty {
                let part = try PairedComparison(prompts: predictions.a.map { parts.select(indices, from: $0) },
                                                predictions.b.map { parts.select(indices, from: $0) },
                                                metrics: HistoryReport.metrics, source: b[0].path)
                print("\nrows whose \(title): \(indices.count) of \(predictions.a[0].count)")
                printTable(part, names: names)
            }
            // what each run ranks first: an item the user already has?
            let covered = Array(rows.prefix(predictions.a[0].count)), all = Array(covered.indices)
            print("\ntop-1 already in the user's history: rows whose first SID is a history item / the last history item")
            for (name, files) in zip(names, [predictions.a, predictions.b]) {
                let counts = files.map { HistoryRepeats.topOneInHistory(rows: covered, predictions: $0, at: all) }
                let n = Double(all.count * files.count)
                let inHistory = Double(counts.reduce(0) { $0 + $1.inHistory }), last = Double(counts.reduce(0) { $0 + $1.last })
                print(name.padding(11) + String(format: " %5.1f%%  %5.1f%%", 100 * inHistory / n, 100 * last / n)
                      + (files.count == 1 ? "   (\(counts[0].inHistory) and \(counts[0].last) of \(all.count) rows)" : "   (mean over \(files.count) test prompts)"))
            }
        }
        if let csv {
            try CSV.write(header: PairedReport.csvHeader, rows: report.csvRows, to: URL(fileURLWithPath: csv),
                          metadata: [("run", "tsrec compare"), ("commit", RunContext.gitCommit() ?? "unknown"),
                                    ("date", ISO8601DateFormatter().string(from: Date())), ("reference", a.map(\.path).joined(separator: " ")),
                                    ("other", b.map(\.path).joined(separator: " "))])
            print("wrote \(csv)")
        }
    }

    private func printTable(_ comparison: PairedComparison, names: [String]) {
        print("metric      \(names[0].padding(8)) \(names[1].padding(8)) difference  [95% interval]       better/worse  p")
        for m in comparison.metrics {
            print(m.name.padding(11) + String(format: " %.4f   %.4f   %+.4f     [%+.4f, %+.4f]   ", m.meanA, m.meanB, m.difference, m.low, m.high)
                  + "\(m.wins)/\(m.losses)".padding(13) + " " + PairedReport.formatP(m.pValue))
        }
    }
}

private extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
