import Foundation

/// Writes a results table (one row per method and dataset), its comparison with the reported
/// numbers, and a figure per dataset.
///
/// Outputs: `results/<name>.csv` (dataset, method, profile, HR/NDCG@K, wall time),
/// `results/<name>-comparison.{csv,md}`, and `Figures/<name>-<dataset>-<profile>.{gp,png,svg}`.
public struct ResultsReport {
    public let name: String
    public let results: [RunResult]
    public let skipped: [(dataset: String, reason: String)]
    public let context: RunContext
    /// Runs not finished yet (`--report-only`), e.g. "Industrial_and_Scientific TS-Rec (hash …)".
    public var pending: [String] = []
    /// Our method name → its row name in the reported table (nil: nothing reported to compare with).
    public var reportedName: (String) -> String? = { method in
        switch method {
        case Method.minionerecSFT.rawValue: "MiniOneRec"
        case Method.tsrec.rawValue, "Popularity": nil
        default: method
        }
    }

    /// Per dataset, one run against every other run there on the same test rows
    /// (`<name>-<dataset>-paired`); computed once, here, because it reads every run's predictions.
    public let paired: [String: PairedReport]

    /// - Parameter pairedReferences: the method compared with all others, per dataset: the first
    ///   of these with a result there.
    public init(name: String, results: [RunResult], skipped: [(dataset: String, reason: String)], context: RunContext,
                pairedReferences: [String] = [Method.tsrec.rawValue, Method.minionerecSFT.rawValue]) {
        self.name = name
        self.results = results
        self.skipped = skipped
        self.context = context
        var paired: [String: PairedReport] = [:]
        for dataset in Set(results.map(\.dataset)) {
            let here = results.filter { $0.dataset == dataset }
            guard let reference = pairedReferences.lazy.compactMap({ m in here.first { $0.method == m } }).first else { continue }
            paired[dataset] = PairedReport(reference: reference, others: here, metrics: PairedReport.defaultMetrics)
        }
        self.paired = paired
    }

    /// The reported table (`ReportedTable.defaultURL`).
    public static func reportedTable() throws -> ReportedTable {
        try ReportedTable.load(from: ReportedTable.defaultURL())
    }

    /// The metrics the paper reports (K = 3, 5, 10), in table order.
    static let tableMetrics = ["HR@3", "NDCG@3", "HR@5", "NDCG@5", "HR@10", "NDCG@10"]

    public var comparison: Comparison {
        get throws {
            let reproduced = results.map {
                ReproducedResult(dataset: $0.dataset, method: $0.method, reportedMethod: reportedName($0.method) ?? "-", metrics: $0.metrics)
            }
            return Comparison(reproduced: reproduced, reported: try Self.reportedTable(), metrics: Self.tableMetrics)
        }
    }

    /// Writes the CSVs under `results/` and the figures under `figures` (default `Figures/`, or
    /// `TSREC_FIGURES` when set, e.g. for CI's smoke run).
    public func write(figures: URL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["TSREC_FIGURES"] ?? "Figures")) throws {
        let header = ["dataset", "method", "profile", "config_hash", "test_rows"] + Self.tableMetrics
            + ["HR@1", "NDCG@1", "HR@20", "NDCG@20", "train_steps", "best_valid_loss", "train_seconds", "eval_seconds"]
        let rows = results.map { r -> [String] in
            [r.dataset, r.method, r.profile, r.configHash, "\(r.metrics.rows)"]
                + Self.tableMetrics.map { CSV.cell(r.metrics.value(named: $0)) }
                + [CSV.cell(r.metrics.hr1), CSV.cell(r.metrics.ndcg1), CSV.cell(r.metrics.hr20), CSV.cell(r.metrics.ndcg20),
                   "\(r.trainSteps)", CSV.cell(r.bestValidLoss), String(format: "%.0f", r.trainSeconds),
                   String(format: "%.0f", r.evalSeconds)]
        }
        let skippedMeta = skipped.map { (key: "skipped \($0.dataset)", value: $0.reason) }
            + pending.map { (key: "pending", value: $0) }
        try CSV.write(header: header, rows: rows, to: context.output("\(name).csv"), metadata: context.metadata + skippedMeta)
        let comparison = try self.comparison
        try comparison.writeCSV(to: context.output("\(name)-comparison.csv"), metadata: context.metadata)
        try comparison.writeMarkdown(to: context.output("\(name)-comparison.md"))
        for dataset in Set(results.map(\.dataset)).sorted() {
            let base = "\(name)-\(dataset)-\(context.profile.rawValue)"
            try comparison.barChart(dataset: dataset, title: "\(name): \(dataset) (profile \(context.profile.rawValue))")
                .render(to: figures.appendingPathComponent(base))
            if let paired = paired[dataset] {
                try paired.write(csv: context.output("\(name)-\(dataset)-paired.csv"), figure: figures.appendingPathComponent(base + "-paired"),
                                 title: "\(name): \(dataset), \(paired.pairs.first?.reference ?? "") minus each method (profile \(context.profile.rawValue))",
                                 metadata: context.metadata)
            }
            let trained = results.filter { $0.dataset == dataset && !$0.validCurve.isEmpty }
            if !trained.isEmpty {
                try Self.writeValidationCurves(trained, title: "\(name): \(dataset) validation loss (profile \(context.profile.rawValue))",
                                               to: figures.appendingPathComponent(base + "-valid-loss"), metadata: context.metadata)
            }
        }
    }

    /// Validation loss (next-item task) against optimizer step, one line per run: `<base>.csv`
    /// (run, step, valid_loss) and the figure `<base>.{gp,png,svg}`.
    public static func writeValidationCurves(_ results: [RunResult], title: String, to base: URL,
                                             metadata: [(key: String, value: String)]) throws {
        let rows = results.flatMap { r in r.validCurve.map { [r.method, "\($0.step)", "\($0.loss)"] } }
        try CSV.write(header: ["run", "step", "valid_loss"], rows: rows, to: base.appendingPathExtension("csv"), metadata: metadata)
        try LinePlot(title: title, ylabel: "validation loss (next item)",
                     series: results.map { r in .init(name: r.method, points: r.validCurve.map { (x: Double($0.step), y: $0.loss) }) })
            .render(to: base)
    }

    public var markdown: String {
        var text = (try? comparison.markdown) ?? ""
        for dataset in Set(results.map(\.dataset)).sorted() {
            guard let paired = paired[dataset], !paired.lines.isEmpty else { continue }
            text += "\n\nPaired on the same test rows (\(dataset); difference, paired bootstrap 95% interval, sign test):\n"
            text += paired.lines.map { "- " + $0 }.joined(separator: "\n")
        }
        for s in skipped { text += "\nSkipped \(s.dataset): \(s.reason)" }
        for p in pending { text += "\nNot finished yet: \(p)" }
        return text
    }
}
