import Foundation

/// Every run of a dataset on the two parts of its test rows (`HistoryRepeats`): those whose
/// target is already in the user's history (repeat purchases) and the others. A table's gaps
/// can sit on either part: at `quick`, every ranker that personalises holds the repeat rows'
/// target in its top 10 most of the time, so they add about the same to each run's HR@10, and
/// the differences between runs come from the new rows (docs/results-quick.md, *Every row on the
/// repeat-purchase rows and on the others*).
///
/// `<name>-<dataset>-by-history.csv` (one line per run and part), a figure of the new rows and a
/// line per run for the log.
public struct HistoryReport {
    public struct Row: Sendable, Hashable {
        public var method: String
        /// `repeat` or `new`.
        public var part: String
        public var rows: Int
        /// `HistoryReport.metrics`, in order.
        public var values: [Double]
        /// The share of the part's rows whose top-1 SID is one of the history's SIDs, and the
        /// history's last SID (`HistoryRepeats.topOneInHistory`; a run asked with several test
        /// prompts: the mean over them).
        public var topOneInHistory: Double
        public var topOneLastItem: Double
    }

    public static let metrics = ["HR@1", "HR@10", "NDCG@10"]

    public let dataset: String
    /// The split's test rows whose target is in the history, and all its test rows.
    public let repeatRows: Int, allRows: Int
    public var rows: [Row] = []
    /// Runs left out (no predictions kept, or predictions of other rows), and why.
    public var notes: [String] = []

    /// - Parameter testRows: the dataset's test split, in order (each run covers a prefix).
    public init(dataset: String, results: [RunResult], testRows: [SplitRow]) {
        self.dataset = dataset
        let whole = HistoryRepeats(rows: testRows)
        (repeatRows, allRows) = (whole.repeated.count, testRows.count)
        let scorers = Self.metrics.map { PairedComparison.scoring($0)! }
        for r in results where r.dataset == dataset {
            guard let path = r.allPredictionsPaths.first else {
                notes.append("\(r.method): no predictions kept (not split)")
                continue
            }
            do {
                // [prompts][rows]: a run asked with several test prompts scores each part by the
                // mean over them, as its table row does
                let files = try PredictionsFile.read(prompts: r.allPredictionsPaths)
                let parts = try HistoryRepeats(rows: testRows, predictions: files[0], source: path)
                let covered = Array(testRows.prefix(files[0].count))
                for (part, indices) in [("repeat", parts.repeated), ("new", parts.new)] where !indices.isEmpty {
                    let selected = files.map { parts.select(indices, from: $0) }
                    let denominator = Double(indices.count * files.count)
                    let top = files.map { HistoryRepeats.topOneInHistory(rows: covered, predictions: $0, at: indices) }
                    rows.append(Row(method: r.method, part: part, rows: indices.count,
                                    values: scorers.map { score in selected.joined().reduce(0) { $0 + score($1) } / denominator },
                                    topOneInHistory: Double(top.reduce(0) { $0 + $1.inHistory }) / denominator,
                                    topOneLastItem: Double(top.reduce(0) { $0 + $1.last }) / denominator))
                }
            } catch {
                notes.append("\(r.method): not split: \(error)")
            }
        }
    }

    public static let csvHeader = ["dataset", "method", "part", "rows"] + metrics + ["top1_in_history", "top1_last_item"]

    public var csvRows: [[String]] {
        rows.map { [dataset, $0.method, $0.part, "\($0.rows)"] + $0.values.map { CSV.cell($0) } + [CSV.cell($0.topOneInHistory), CSV.cell($0.topOneLastItem)] }
    }

    /// The CSV, and the figure `<figure>.{gp,png,svg}` of every run's metrics on the new rows,
    /// where the runs differ (the repeat rows, near 1 for most runs, would flatten the bars: they
    /// are in the CSV).
    public func write(csv: URL, figure: URL, title: String, metadata: [(key: String, value: String)]) throws {
        try CSV.write(header: Self.csvHeader, rows: csvRows, to: csv,
                      metadata: metadata + notes.map { (key: "not split", value: $0) })
        let new = rows.filter { $0.part == "new" }
        guard !new.isEmpty else { return }
        try BarChart(title: title, ylabel: "metric value on the new rows",
                     categories: Self.metrics, series: new.map { .init(name: $0.method, values: $0.values) },
                     note: "rows whose target is not in the user's history (\(allRows - repeatRows) of \(allRows)); both parts: the CSV")
            .render(to: figure)
    }

    /// `SASRec: HR@10 0.9721 on the repeat rows, 0.1077 on the new rows`, one per run.
    public var lines: [String] {
        var seen: [String] = []
        for r in rows where !seen.contains(r.method) { seen.append(r.method) }
        let k = Self.metrics.firstIndex(of: "HR@10")!
        return seen.map { method in
            let value = { (part: String) in rows.first { $0.method == method && $0.part == part }.map { String(format: "%.4f", $0.values[k]) } ?? "-" }
            return "\(method): HR@10 \(value("repeat")) on the repeat rows, \(value("new")) on the new rows"
        }
    }
}
