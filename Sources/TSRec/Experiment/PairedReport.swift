import Foundation

/// One reference run against other runs on the same test rows (`PairedComparison`): a CSV (one
/// line per pair and metric), a figure (HR@10 and NDCG@10 differences with their 95% intervals)
/// and a few lines for the log and README.
///
/// Runs without kept predictions (the popularity floor) or on other rows are listed in `notes`
/// instead of failing the report: the table they belong to is still worth writing.
public struct PairedReport {
    public struct Pair {
        public var dataset: String
        public var reference: String
        public var other: String
        public var comparison: PairedComparison
    }

    public var pairs: [Pair] = []
    /// Runs that could not be compared, and why.
    public var notes: [String] = []
    /// Compares `reference` with each of `others` of the same dataset (itself excluded) on
    /// `metrics` (CSV order). A run asked with several test prompts is paired by each row's mean
    /// over its prompts (`RunResult.allPredictionsPaths`).
    public init(reference: RunResult, others: [RunResult], metrics: [String]) {
        guard !reference.allPredictionsPaths.isEmpty else {
            notes.append("\(reference.method): no predictions kept, nothing compared")
            return
        }
        let a: [[Prediction]]
        do { a = try PredictionsFile.read(prompts: reference.allPredictionsPaths) } catch {
            notes.append("\(reference.method): nothing compared: \(error)")   // names the file and line
            return
        }
        for other in others where other.dataset == reference.dataset && other.method != reference.method {
            let paths = other.allPredictionsPaths
            guard let path = paths.first else {
                notes.append("\(other.method): no predictions kept (not compared)")
                continue
            }
            do {
                let b = try PredictionsFile.read(prompts: paths)
                pairs.append(Pair(dataset: reference.dataset, reference: reference.method, other: other.method,
                                  comparison: try PairedComparison(prompts: a, b, metrics: metrics, source: path)))
            } catch {
                notes.append("\(other.method): not compared: \(error)")
            }
        }
    }

    /// Adds another report's pairs and notes (a second reference, e.g. each RL row against its SFT start).
    public mutating func append(_ other: PairedReport) {
        pairs += other.pairs
        notes += other.notes
    }

    /// Two runs' predictions, already read: `reference` minus `other`; `source` (where `other`
    /// came from) is named when a row does not match.
    public init(dataset: String, reference: (label: String, predictions: [Prediction]), other: (label: String, predictions: [Prediction]),
                source: String, metrics: [String] = PairedReport.defaultMetrics) throws {
        try self.init(dataset: dataset, reference: (reference.label, [reference.predictions]), other: (other.label, [other.predictions]),
                      source: source, metrics: metrics)
    }

    /// The same with each run's predictions per test prompt (`[prompts][rows]`; one file for
    /// most runs): a row's score is its mean over its run's prompts.
    public init(dataset: String, reference: (label: String, prompts: [[Prediction]]), other: (label: String, prompts: [[Prediction]]),
                source: String, metrics: [String] = PairedReport.defaultMetrics) throws {
        pairs = [Pair(dataset: dataset, reference: reference.label, other: other.label,
                      comparison: try PairedComparison(prompts: reference.prompts, other.prompts, metrics: metrics, source: source))]
    }

    /// The paper's table metrics, then the diagnostics: what every report here compares.
    public static let defaultMetrics = ResultsReport.tableMetrics + diagnostics

    public static let csvHeader = ["dataset", "method", "versus", "metric", "rows", "mean_method", "mean_versus",
                                   "difference", "relative_difference", "ci95_low", "ci95_high",
                                   "rows_better", "rows_worse", "sign_test_p"]

    public var csvRows: [[String]] {
        pairs.flatMap { p in
            p.comparison.metrics.map { m in
                [p.dataset, p.reference, p.other, m.name, "\(p.comparison.rows)", CSV.cell(m.meanA), CSV.cell(m.meanB),
                 CSV.cell(m.difference), CSV.cell(m.relativeDifference), CSV.cell(m.low), CSV.cell(m.high),
                 "\(m.wins)", "\(m.losses)", CSV.cell(m.pValue)]
            }
        }
    }

    /// Diagnostics compared after the table's metrics: is the SID's coarse part right
    /// (`PairedComparison.scoring`)? HR-a@1 / HR-ab@1 are the top-1 SID's prefix accuracy.
    public static let diagnostics = ["HR-a@1", "HR-ab@1", "HR-a@10", "HR-ab@10"]

    /// The metrics drawn in the figure and summarised in `lines`.
    public static let headline = ["HR@10", "NDCG@10"]

    /// One line per pair: `TS-Rec vs SASRec: HR@10 -0.0123 [-0.0190, -0.0050] (-8.2%), 150 rows better, 210 worse, p = 0.002; …`.
    public var lines: [String] {
        pairs.map { p in
            let parts = p.comparison.metrics.filter { Self.headline.contains($0.name) }.map { m in
                "\(m.name) " + String(format: "%+.4f [%+.4f, %+.4f]", m.difference, m.low, m.high)
                    + (m.relativeDifference.map { String(format: " (%+.1f%%)", 100 * $0) } ?? "")
                    + ", \(m.wins) rows better, \(m.losses) worse, p = \(Self.formatP(m.pValue))"
            }
            return "\(p.reference) vs \(p.other) (\(p.comparison.rows) rows): " + parts.joined(separator: "; ")
        } + notes
    }

    public static func formatP(_ p: Double) -> String { p < 0.0001 ? String(format: "%.1e", p) : String(format: "%.4f", p) }

    /// Writes the CSV and, when any pair was compared, the interval figure `<figure>.{gp,png,svg}`
    /// of `figureMetrics` (default: the headline metrics; the ablations add the level-a
    /// diagnostic, where SA-Init acts).
    public func write(csv: URL, figure: URL, title: String, metadata: [(key: String, value: String)],
                      figureMetrics: [String] = PairedReport.headline) throws {
        try CSV.write(header: Self.csvHeader, rows: csvRows, to: csv,
                      metadata: metadata + notes.map { (key: "not compared", value: $0) })
        // One reference: "vs <other>" rows; several (extra pairs): "<method> − <other>" rows.
        let oneReference = Set(pairs.map(\.reference)).count == 1
        let rows = pairs.flatMap { p in
            p.comparison.metrics.filter { figureMetrics.contains($0.name) }.map { m in
                IntervalPlot.Row(label: (oneReference ? "vs \(p.other)" : "\(p.reference) − \(p.other)") + ": \(m.name)",
                                 estimate: m.difference, low: m.low, high: m.high)
            }
        }
        guard !rows.isEmpty else { return }
        let xlabel = oneReference ? "difference (\(pairs[0].reference) minus the other), paired bootstrap 95% interval"
                                  : "difference (first minus second), paired bootstrap 95% interval"
        try IntervalPlot(title: title, xlabel: xlabel, rows: rows).render(to: figure)
    }
}

extension IntervalPlot.Row {
    /// The row of one metric of a paired comparison (its difference and bootstrap interval), nil
    /// when the comparison did not measure that metric.
    init?(_ label: String, _ comparison: PairedComparison, _ metric: String) {
        guard let m = comparison.metrics.first(where: { $0.name == metric }) else { return nil }
        self.init(label: label, estimate: m.difference, low: m.low, high: m.high)
    }
}
