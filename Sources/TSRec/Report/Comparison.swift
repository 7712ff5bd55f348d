import Foundation

/// Published numbers, as loaded from a CSV `dataset,method,<metric>,<metric>,…`
/// (e.g. `shared/data/reported/baselines_minionerec_2025.csv` with HR@3 … NDCG@10).
/// Empty cells (and `NA`, `unknown`, `-`, `?`) are unknown: they load as nil, never as a number.
public struct ReportedTable: Sendable {
    /// The reported numbers available offline (MiniOneRec's main table, which holds the baselines
    /// and MiniOneRec; the TS-Rec paper's own rows are not among them): `$TSREC_REPORTED/<file>`
    /// when that folder is set, else the repository's copy `Reproductions/reported/<file>`
    /// (relative to the working directory: run from the checkout, as the Makefile does).
    public static func defaultURL(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let file = "baselines_minionerec_2025.csv"
        let dir = environment["TSREC_REPORTED"].flatMap { $0.isEmpty ? nil : $0 } ?? "Reproductions/reported"
        return URL(fileURLWithPath: dir).appendingPathComponent(file)
    }

    /// The metric columns, in file order (`HR@3`, `NDCG@3`, …).
    public var metrics: [String]
    /// (dataset, method) → metric → value (nil = unknown).
    public var values: [Key: [String: Double?]]
    /// Where the numbers came from (the file path), for provenance in reports.
    public var source: String

    public struct Key: Hashable, Sendable {
        public var dataset: String, method: String
        public init(dataset: String, method: String) { (self.dataset, self.method) = (dataset, method) }
    }

    /// Cell texts that mean "not known".
    static let unknownCells: Set<String> = ["", "na", "n/a", "nan", "unknown", "-", "?"]

    public init(metrics: [String], values: [Key: [String: Double?]], source: String) {
        (self.metrics, self.values, self.source) = (metrics, values, source)
    }

    public static func load(from url: URL) throws -> ReportedTable {
        let table = try CSV.read(from: url)
        for required in ["dataset", "method"] where !table.header.contains(required) {
            throw TSRecError(.format(path: url.path, line: table.metadata.count + 1, field: required, reason: "missing column"),
                             hint: "expected a header like dataset,method,HR@3,NDCG@3,...")
        }
        let metrics = table.header.filter { $0 != "dataset" && $0 != "method" }
        let di = table.header.firstIndex(of: "dataset")!, mi = table.header.firstIndex(of: "method")!
        var values: [Key: [String: Double?]] = [:]
        for (i, row) in table.rows.enumerated() {
            let line = table.metadata.count + 2 + i
            let key = Key(dataset: row[di], method: row[mi])
            guard values[key] == nil else {
                throw TSRecError(.format(path: url.path, line: line, field: "method", reason: "duplicate row for \(key.dataset)/\(key.method)"))
            }
            var cells: [String: Double?] = [:]
            for (j, name) in table.header.enumerated() where j != di && j != mi {
                let t = row[j].trimmingCharacters(in: .whitespaces)
                if unknownCells.contains(t.lowercased()) { cells[name] = .some(nil); continue }
                guard let v = Double(t) else {
                    throw TSRecError(.format(path: url.path, line: line, field: name, reason: "not a number: '\(row[j])'"),
                                     hint: "leave unknown cells empty")
                }
                cells[name] = v
            }
            values[key] = cells
        }
        return ReportedTable(metrics: metrics, values: values, source: url.path)
    }

    /// The reported value, or nil when the row, the column or the cell is unknown.
    public func value(dataset: String, method: String, metric: String) -> Double? {
        values[Key(dataset: dataset, method: method)]?[metric] ?? nil
    }
}

/// Metrics one run reproduced, and the name its reported counterpart has in the reported table.
public struct ReproducedResult: Sendable {
    public var dataset: String
    /// Our name for the method/variant (e.g. `MiniOneRec-SFT (SmolLM2-135M)`).
    public var method: String
    /// Row name in the reported table (the initialiser defaults it to `method`); nil compares with nothing,
    /// so every reported cell of this result is unknown.
    public var reportedMethod: String?
    public var metrics: MetricRow

    public init(dataset: String, method: String, reportedMethod: String? = nil, metrics: MetricRow) {
        (self.dataset, self.method, self.metrics) = (dataset, method, metrics)
        self.reportedMethod = reportedMethod ?? method
    }
}

/// A method of the table that has not run yet: its row stays, with the reproduced cells empty.
public struct PendingResult: Sendable, Hashable, CustomStringConvertible {
    public var dataset: String
    public var method: String
    /// Row name in the reported table (nil: nothing reported to compare with).
    public var reportedMethod: String?
    /// What would produce it, e.g. "run 9d684265d482".
    public var detail: String

    public init(dataset: String, method: String, reportedMethod: String?, detail: String) {
        (self.dataset, self.method, self.reportedMethod, self.detail) = (dataset, method, reportedMethod, detail)
    }

    public var description: String { "\(dataset) \(method) (\(detail))" }
}

/// One metric of one reproduced method beside its reported value.
public struct ComparisonRow: Sendable, Hashable, CSVRow {
    /// Note on rows whose reported value is missing.
    public static let unknownNote = "unknown (not available offline)"

    public var dataset: String
    public var method: String
    public var reportedMethod: String
    public var metric: String
    /// nil when the reported table has no number for it (never filled with a guess).
    public var reported: Double?
    /// nil while the method has not run (`pending` says what would run it).
    public var reproduced: Double?
    /// Why `reproduced` is empty: e.g. "run 9d684265d482".
    public var pending: String?
    /// `reproduced - reported`, nil when either is nil.
    public var difference: Double? { reported.flatMap { r in reproduced.map { $0 - r } } }
    /// `difference / reported`, nil when unknown or the reported value is 0.
    public var relativeDifference: Double? { reported.flatMap { r in r == 0 ? nil : difference.map { $0 / r } } }
    public var note: String {
        [pending.map { "not run yet (\($0))" }, reported == nil ? Self.unknownNote : nil].compactMap { $0 }.joined(separator: "; ")
    }

    public init(dataset: String, method: String, reportedMethod: String, metric: String, reported: Double?,
                reproduced: Double?, pending: String? = nil) {
        (self.dataset, self.method, self.reportedMethod, self.metric) = (dataset, method, reportedMethod, metric)
        (self.reported, self.reproduced, self.pending) = (reported, reproduced, pending)
    }

    public static let csvHeader = ["dataset", "method", "reported_method", "metric", "reported", "reproduced", "difference", "relative_difference", "note"]
    public var csvFields: [String] {
        [dataset, method, reportedMethod, metric, CSV.cell(reported), CSV.cell(reproduced),
         CSV.cell(difference), CSV.cell(relativeDifference), note]
    }
}

/// Reproduced vs reported numbers: rows, CSV and a markdown table.
public struct Comparison: Sendable {
    public var rows: [ComparisonRow]
    /// Provenance of the reported numbers (file path).
    public var reportedSource: String

    /// One row per (result, metric). `metrics` defaults to the reported table's columns; a metric the
    /// reported table lacks still gets a row, with the reported cell unknown. Each `pending` method
    /// keeps its rows after the results: the reported cells, the reproduced ones empty.
    public init(reproduced: [ReproducedResult], reported: ReportedTable, metrics: [String]? = nil, pending: [PendingResult] = []) {
        let names = metrics ?? reported.metrics
        var rows: [ComparisonRow] = []
        for r in reproduced {
            for m in names {
                guard let ours = r.metrics.value(named: m) else {
                    preconditionFailure("Comparison: '\(m)' is not a metric of MetricRow (\(MetricRow.metricNames))")
                }
                let theirs = r.reportedMethod.flatMap { reported.value(dataset: r.dataset, method: $0, metric: m) }
                rows.append(ComparisonRow(dataset: r.dataset, method: r.method, reportedMethod: r.reportedMethod ?? "",
                                          metric: m, reported: theirs, reproduced: ours))
            }
        }
        for p in pending {
            for m in names {
                let theirs = p.reportedMethod.flatMap { reported.value(dataset: p.dataset, method: $0, metric: m) }
                rows.append(ComparisonRow(dataset: p.dataset, method: p.method, reportedMethod: p.reportedMethod ?? "",
                                          metric: m, reported: theirs, reproduced: nil, pending: p.detail))
            }
        }
        (self.rows, self.reportedSource) = (rows, reported.source)
    }

    public func writeCSV(to url: URL, metadata: [(key: String, value: String)] = []) throws {
        try CSV.write(rows, to: url, metadata: [("reported_source", reportedSource)] + metadata)
    }

    /// A markdown table; unknown reported cells read "unknown (not available offline)", the
    /// reproduced cells of a method not run yet "not run yet (…)".
    public var markdown: String {
        func signed(_ x: Double?) -> String { x.map { ($0 >= 0 ? "+" : "") + f4($0) } ?? "" }
        func pct(_ x: Double?) -> String { x.map { ($0 >= 0 ? "+" : "") + String(format: "%.1f%%", $0 * 100) } ?? "" }
        func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
        var lines = ["| dataset | method | reported as | metric | reported | reproduced | difference | relative |",
                     "|---|---|---|---|---:|---:|---:|---:|"]
        for r in rows {
            let rep = r.reported.map(f4) ?? ComparisonRow.unknownNote
            lines.append("| \(cell(r.dataset)) | \(cell(r.method)) | \(cell(r.reportedMethod)) | \(cell(r.metric)) | \(rep) | \(r.reproduced.map(f4) ?? r.pending.map { "not run yet (\($0))" } ?? "") | \(signed(r.difference)) | \(pct(r.relativeDifference)) |")
        }
        lines.append("")
        lines.append("Reported numbers: `\(reportedSource)`.")
        return lines.joined(separator: "\n") + "\n"
    }

    public func writeMarkdown(to url: URL) throws {
        try AtomicFile.write(markdown, to: url)
    }

    /// Bar chart of one dataset: one cluster per metric, bars for each method's reproduced value and,
    /// where known, its reported value. Unknown reported values draw no bar.
    public func barChart(dataset: String, title: String? = nil) -> BarChart {
        let mine = rows.filter { $0.dataset == dataset }
        var metricOrder: [String] = [], methodOrder: [String] = []
        for r in mine {
            if !metricOrder.contains(r.metric) { metricOrder.append(r.metric) }
            if !methodOrder.contains(r.method) { methodOrder.append(r.method) }
        }
        func lookup(_ method: String, _ metric: String) -> ComparisonRow? {
            mine.first { $0.method == method && $0.metric == metric }
        }
        var series: [BarChart.Series] = []
        var reportedSeen = Set<String>()
        for (k, m) in methodOrder.enumerated() {   // one colour per method: solid = ours, hatched = reported
            let reportedName = metricOrder.first.flatMap { lookup(m, $0) }?.reportedMethod ?? m
            if !reportedName.isEmpty, reportedSeen.insert(reportedName).inserted {
                let values = metricOrder.map { lookup(m, $0)?.reported }
                if values.contains(where: { $0 != nil }) {
                    series.append(.init(name: "\(reportedName) (reported)", values: values, color: k, hatched: true))
                }
            }
            let ours = metricOrder.map { lookup(m, $0)?.reproduced }
            if ours.contains(where: { $0 != nil }) {                // a method not run yet: its reported bars only
                series.append(.init(name: "\(m) (reproduced)", values: ours, color: k))
            }
        }
        return BarChart(title: title ?? "\(dataset): reproduced vs reported", ylabel: "metric value",
                        categories: metricOrder, series: series,
                        note: "no bar = reported number not available offline")
    }
}
