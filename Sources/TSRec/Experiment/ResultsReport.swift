import Foundation

/// Writes a results table (one row per method and dataset), its comparison with the reported
/// numbers, and a figure per dataset.
///
/// Outputs: `results/<name>.csv` (dataset, method, profile, HR/NDCG@K, wall time, the share of
/// ranked SIDs that are no catalogue item: LC-Rec's position-wise decoding),
/// `results/<name>-comparison.{csv,md}`, and `Figures/<name>-<dataset>-<profile>.{gp,png,svg}`.
public struct ResultsReport {
    public let name: String
    public let results: [RunResult]
    public let skipped: [(dataset: String, reason: String)]
    public let context: RunContext
    /// Methods not finished yet (`--report-only`): their rows stay in the comparison, with the
    /// reported cells and empty reproduced ones.
    public var pending: [PendingResult] = []

    /// A method of this report that has not run: `detail` says what would run it.
    public func pendingResult(dataset: String, method: String, detail: String) -> PendingResult {
        PendingResult(dataset: dataset, method: method, reportedMethod: reportedName(method), detail: detail)
    }
    /// Our method name → its row name in the reported table (nil: nothing reported to compare
    /// with). The reported MiniOneRec is SFT + RL: our MiniOneRec row, not MiniOneRec-SFT.
    public var reportedName: (String) -> String? = { method in
        switch method {
        case Method.minionerec.rawValue: "MiniOneRec"
        case Method.minionerecSFT.rawValue, Method.tsrec.rawValue, Method.tsrecSFT.rawValue, "Popularity": nil
        default: method
        }
    }

    /// Per dataset, one run against every other run there on the same test rows
    /// (`<name>-<dataset>-paired`); computed once, here, because it reads every run's predictions.
    public let paired: [String: PairedReport]

    /// Per dataset, every run on the repeat-purchase test rows and on the others
    /// (`<name>-<dataset>-by-history.csv`), when the report's program sets it (it holds the splits).
    public var byHistory: [String: HistoryReport] = [:]

    /// - Parameter pairedReferences: the method compared with all others, per dataset: the first
    ///   of these with a result there.
    /// - Parameter pairedExtras: further (method, versus) pairs compared when both have a result
    ///   and the pair is not compared already (each RL row against its SFT start, S-DPO against
    ///   D3, whose SFT run it continues, TS-Rec-SFT against MiniOneRec-SFT).
    public init(name: String, results: [RunResult], skipped: [(dataset: String, reason: String)], context: RunContext,
                pairedReferences: [String] = [Method.tsrec.rawValue, Method.tsrecSFT.rawValue, Method.minionerecSFT.rawValue],
                pairedExtras: [(String, String)] = ResultsReport.defaultPairedExtras) {
        self.name = name
        self.results = results
        self.skipped = skipped
        self.context = context
        var paired: [String: PairedReport] = [:]
        for dataset in Set(results.map(\.dataset)) {
            let here = results.filter { $0.dataset == dataset }
            guard let reference = pairedReferences.lazy.compactMap({ m in here.first { $0.method == m } }).first else { continue }
            var report = PairedReport(reference: reference, others: here, metrics: PairedReport.defaultMetrics)
            for (a, b) in pairedExtras where !report.pairs.contains(where: { Set([$0.reference, $0.other]) == Set([a, b]) }) {
                guard let ra = here.first(where: { $0.method == a }), let rb = here.first(where: { $0.method == b }) else { continue }
                report.append(PairedReport(reference: ra, others: [rb], metrics: PairedReport.defaultMetrics))
            }
            paired[dataset] = report
        }
        self.paired = paired
    }

    public static let defaultPairedExtras: [(String, String)] = [
        (Method.tsrec.rawValue, Method.tsrecSFT.rawValue), (Method.minionerec.rawValue, Method.minionerecSFT.rawValue),
        (Method.tsrec.rawValue, Method.minionerec.rawValue), (Method.tsrecSFT.rawValue, Method.minionerecSFT.rawValue),
        (Method.sdpo.rawValue, Method.d3.rawValue),
    ]

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
            return Comparison(reproduced: reproduced, reported: try Self.reportedTable(), metrics: Self.tableMetrics,
                              pending: pending)
        }
    }

    /// Writes the CSVs under `results/` and the figures under `figures` (default `Figures/`, or
    /// `TSREC_FIGURES` when set, e.g. for CI's smoke run).
    public func write(figures: URL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["TSREC_FIGURES"] ?? "Figures")) throws {
        let header = ["dataset", "method", "profile", "config_hash", "test_rows"] + Self.tableMetrics
            + ["HR@1", "NDCG@1", "HR@20", "NDCG@20", "train_steps", "best_valid_loss", "train_seconds", "eval_seconds",
               "invalid_rate"]
        let rows = results.map { r -> [String] in
            [r.dataset, r.method, r.profile, r.configHash, "\(r.metrics.rows)"]
                + Self.tableMetrics.map { CSV.cell(r.metrics.value(named: $0)) }
                + [CSV.cell(r.metrics.hr1), CSV.cell(r.metrics.ndcg1), CSV.cell(r.metrics.hr20), CSV.cell(r.metrics.ndcg20),
                   "\(r.trainSteps)", CSV.cell(r.bestValidLoss), String(format: "%.0f", r.trainSeconds),
                   String(format: "%.0f", r.evalSeconds), CSV.cell(r.metrics.invalidRate)]
        }
        let skippedMeta = skipped.map { (key: "skipped \($0.dataset)", value: $0.reason) }
            + pending.map { (key: "pending", value: $0.description) }
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
                                 title: "\(name): \(dataset), paired differences on the test rows (profile \(context.profile.rawValue))",
                                 metadata: context.metadata)
            }
            try byHistory[dataset]?.write(csv: context.output("\(name)-\(dataset)-by-history.csv"), figure: figures.appendingPathComponent(base + "-by-history"),
                                          title: "\(name): \(dataset), the test rows whose target is new to the user (profile \(context.profile.rawValue))",
                                          metadata: context.metadata)
            let trained = results.filter { $0.dataset == dataset && !$0.validCurve.isEmpty }
            if !trained.isEmpty {
                try Self.writeValidationCurves(trained, title: "\(name): \(dataset) validation loss (profile \(context.profile.rawValue))",
                                               to: figures.appendingPathComponent(base + "-valid-loss"), metadata: context.metadata)
            }
            let reinforced = results.filter { $0.dataset == dataset && !($0.rlCurve ?? []).isEmpty }
            if !reinforced.isEmpty {
                try Self.writeRLCurves(reinforced, title: "\(name): \(dataset) RL stage (profile \(context.profile.rawValue))",
                                       to: figures.appendingPathComponent(base + "-rl"), metadata: context.metadata)
            }
        }
    }

    /// The RL stage against its optimizer step, one line per run: the rollouts' mean reward, the
    /// KL estimate to the reference, and the validation reward and HR@10 (step 0 = the SFT
    /// weights). `<base>.csv` (run, step, mean_reward, kl, valid_reward, valid_hr10) and the
    /// three-panel figure `<base>.{gp,png,svg}`.
    public static func writeRLCurves(_ results: [RunResult], title: String, to base: URL,
                                     metadata: [(key: String, value: String)]) throws {
        func points(_ r: RunResult) -> [RunResult.RLPoint] {
            let start = r.rlStart.map { RunResult.RLPoint(step: 0, meanReward: .nan, kl: .nan, validReward: $0.meanReward, validHR10: $0.hr10) }
            return (start.map { [$0] } ?? []) + (r.rlCurve ?? [])
        }
        let rows = results.flatMap { r in
            points(r).map { p in [r.method, "\(p.step)", CSV.cell(p.meanReward.isNaN ? nil : p.meanReward),
                                  CSV.cell(p.kl.isNaN ? nil : p.kl), CSV.cell(p.validReward), CSV.cell(p.validHR10)] }
        }
        try CSV.write(header: ["run", "step", "mean_reward", "kl", "valid_reward", "valid_hr10"], rows: rows,
                      to: base.appendingPathExtension("csv"), metadata: metadata)
        func series(_ value: (RunResult.RLPoint) -> Double?, suffix: String = "") -> [LinePlot.Series] {
            results.map { r in
                .init(name: r.method + suffix, points: points(r).compactMap { p in value(p).map { (x: Double(p.step), y: $0) } })
            }
        }
        try PanelPlot(title: title, panels: [
            LinePlot(title: "mean reward of the step's rollouts", xlabel: "RL step", ylabel: "reward", series: series { $0.meanReward }),
            LinePlot(title: "KL to the reference (k3, mean per token)", xlabel: "RL step", ylabel: "KL", series: series { $0.kl }),
            LinePlot(title: "validation (next item): mean reward and HR@10", xlabel: "RL step", ylabel: "value",
                     series: series({ $0.validReward }, suffix: " reward") + series({ $0.validHR10 }, suffix: " HR@10")),
        ]).render(to: base)
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
        for dataset in byHistory.keys.sorted() {
            guard let h = byHistory[dataset], !h.rows.isEmpty else { continue }
            text += "\n\nBy repeat purchase (\(dataset): \(h.repeatRows) of the \(h.allRows) test rows have their target in the history; "
                + "a run on fewer rows is split on its own):\n"
            text += (h.lines + h.notes).map { "- " + $0 }.joined(separator: "\n")
        }
        for s in skipped { text += "\nSkipped \(s.dataset): \(s.reason)" }
        for p in pending { text += "\nNot finished yet: \(p)" }
        return text
    }
}
