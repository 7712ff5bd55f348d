import Foundation

/// A set of configurations that differ in one intended field, run one after another and
/// reported together: metrics per variant (CSV + bar chart), validation loss against training
/// steps per variant (CSV + line plot; the paper notes SA-Init speeds convergence), and the
/// first variant against each other one on the same test rows (CSV + interval plot).
public struct AblationStudy {
    public struct Variant {
        public var label: String
        public var config: ExperimentConfig
        public init(_ label: String, _ config: ExperimentConfig) { (self.label, self.config) = (label, config) }
    }

    public let name: String
    public let context: RunContext
    public let variants: [Variant]

    public init(name: String, context: RunContext, variants: [Variant]) {
        self.name = name
        self.context = context
        self.variants = variants
    }

    /// The fields in which `config` differs from `base` (for the log and for tests: an
    /// ablation must change only what it says it changes).
    public static func differences(_ config: ExperimentConfig, from base: ExperimentConfig) throws -> [String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let a = try JSONSerialization.jsonObject(with: encoder.encode(base)) as! [String: Any]
        let b = try JSONSerialization.jsonObject(with: encoder.encode(config)) as! [String: Any]
        // Values compare as JSON with sorted keys: a nested object (e.g. `rl`) printed as a
        // dictionary would list its keys in hash order, which differs between two equal values.
        func canonical(_ value: Any) -> String {
            (try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys]))
                .map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
        }
        return Set(a.keys).union(b.keys).sorted().filter { key in a[key].map(canonical) != b[key].map(canonical) }
    }

    /// Before any training: per variant and SID level, how long the initial rows are, how alike
    /// they are to each other and to the mean pretrained row (CSV + bar chart). Needs no
    /// trained run, only the data and the backbone, so it is cheap and never pending.
    @discardableResult
    public func writeInitialGeometry(figures: URL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["TSREC_FIGURES"] ?? "Figures"))
        throws -> [(variant: String, level: String, geometry: EmbeddingGeometry)] {
        var rows: [(variant: String, level: String, geometry: EmbeddingGeometry)] = []
        guard context.communicator.isRoot else { return rows }     // no training: rank 0's alone
        var pretrained: EmbeddingGeometry?   // the same backbone under every variant
        for v in variants {
            var pipeline = Pipeline(v.config, label: v.label, paths: context.paths)
            pipeline.log = { _ in }
            let geometry = try pipeline.initialSIDGeometry()
            for (level, g) in geometry.levels { rows.append((v.label, level, g)) }
            pretrained = geometry.pretrained
        }
        if let pretrained { rows.append(("pretrained rows", "all", pretrained)) }
        func fixed(_ x: Double?) -> String { x.map(f4) ?? "" }
        for r in rows {
            print("initial rows \(r.variant), level \(r.level): norm \(fixed(r.geometry.meanNorm)), "
                  + "pairwise cosine \(fixed(r.geometry.meanPairwiseCosine)), cosine to mean row \(fixed(r.geometry.meanCosineToReference))")
        }
        let stem = figures.appendingPathComponent("\(name)-\(context.profile.rawValue)-init-geometry")
        try CSV.write(header: ["variant", "level", "rows", "mean_norm", "mean_pairwise_cosine", "mean_cosine_to_vocab_mean"],
                      rows: rows.map { [$0.variant, $0.level, "\($0.geometry.rows)", fixed($0.geometry.meanNorm),
                                        fixed($0.geometry.meanPairwiseCosine), fixed($0.geometry.meanCosineToReference)] },
                      to: stem.appendingPathExtension("csv"), metadata: context.metadata)
        let levels = Prompt.levelNames
        let categories = levels.map { "alike \($0)" } + levels.map { "to mean \($0)" }
        try BarChart(title: "\(name): SID rows before training (cosine between rows of a level; to the mean pretrained row)",
                     ylabel: "mean cosine", categories: categories,
                     series: variants.map { v in
                         let mine = rows.filter { $0.variant == v.label }
                         func at(_ l: String) -> EmbeddingGeometry? { mine.first { $0.level == l }?.geometry }
                         return .init(name: v.label, values: levels.map { at($0)?.meanPairwiseCosine }
                                                            + levels.map { at($0)?.meanCosineToReference })
                     } + (pretrained.map { p in
                         [.init(name: "pretrained rows (\(p.rows))", values: levels.map { _ in p.meanPairwiseCosine }
                                                                        + levels.map { _ in p.meanCosineToReference })]
                     } ?? []))
            .render(to: stem)
        return rows
    }

    /// Runs every variant (each resumes or reuses its cached run) and writes the report; with
    /// `--report-only`, reports the finished variants and lists the others as pending.
    @discardableResult
    public func run(figures: URL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["TSREC_FIGURES"] ?? "Figures"))
        throws -> [RunResult] {
        var results: [RunResult] = []
        for v in variants {
            if let base = variants.first, v.label != base.label {
                print("variant \(v.label): differs from \(base.label) in \(try Self.differences(v.config, from: base.config))")
            }
            let pipeline = Pipeline(v.config, label: v.label, paths: context.paths)
            if let r = try pipeline.result(reportOnly: context.reportOnly) {
                results.append(r)
            } else {
                print("pending: \(v.label) (\(pipeline.trainingHash)) has not finished")
            }
        }
        guard context.communicator.isRoot else { return results }   // rank 0 reports
        guard !results.isEmpty else {
            print("\(name): no finished variant to report yet")
            return []
        }

        // MARK: metrics per variant
        let metrics = ResultsReport.tableMetrics
        let csv = figures.appendingPathComponent("\(name)-\(context.profile.rawValue).csv")
        try CSV.write(header: RunResult.studyHeader(nameColumn: "variant", keyColumn: "profile"),
                      rows: results.map { $0.studyRow(key: $0.profile) }, to: csv, metadata: context.metadata)
        try BarChart(title: "\(name) (profile \(context.profile.rawValue))", ylabel: "metric value", categories: metrics,
                     series: results.map { r in .init(name: r.method, values: metrics.map { r.metrics.value(named: $0) }) })
            .render(to: figures.appendingPathComponent("\(name)-\(context.profile.rawValue)-metrics"))

        // MARK: do the rankings depend on the user? (a collapsed model gives everyone one list)
        let diversity = try results.compactMap { r in
            try r.predictionsPath.map { (r.method, RankingDiversity(try PredictionsFile.read(from: URL(fileURLWithPath: $0)))) }
        }
        try CSV.write(header: ["variant"] + RankingDiversity.csvHeader, rows: diversity.map { [$0.0] + $0.1.csvFields },
                      to: figures.appendingPathComponent("\(name)-\(context.profile.rawValue)-diversity.csv"), metadata: context.metadata)
        for (method, d) in diversity {
            print("\(method): \(d.distinctLists) distinct top-10 lists over \(d.rows) rows, \(d.distinctTop1) distinct first items "
                  + "(most common first in \(String(format: "%.1f", 100 * d.topItemShare))% of rows), \(d.distinctItems) items in any top 10")
        }

        // MARK: the test rows whose target the user bought before, and the others
        if let dataset = results.first?.dataset, let benchmark = Benchmark.named(dataset) {
            let history = HistoryReport(dataset: dataset, results: results,
                                        testRows: try Dataset.load(benchmark, paths: context.paths).split(.test).rows)
            try history.write(csv: figures.appendingPathComponent("\(name)-\(context.profile.rawValue)-by-history.csv"),
                              figure: figures.appendingPathComponent("\(name)-\(context.profile.rawValue)-by-history"),
                              title: "\(name): the test rows whose target is new to the user (profile \(context.profile.rawValue))",
                              metadata: context.metadata)
            (history.lines + history.notes).forEach { print($0) }
        }

        // MARK: validation loss against training steps
        try ResultsReport.writeValidationCurves(results, title: "\(name): validation loss (profile \(context.profile.rawValue))",
                                                to: figures.appendingPathComponent("\(name)-\(context.profile.rawValue)-valid-loss"),
                                                metadata: context.metadata)
        // MARK: each variant against the first (the full configuration), row by row
        if let reference = results.first(where: { $0.method == variants.first?.label }), results.count > 1 {
            let paired = PairedReport(reference: reference, others: results, metrics: PairedReport.defaultMetrics)
            try paired.write(csv: figures.appendingPathComponent("\(name)-\(context.profile.rawValue)-paired.csv"),
                             figure: figures.appendingPathComponent("\(name)-\(context.profile.rawValue)-paired"),
                             title: "\(name): \(reference.method) minus each variant (profile \(context.profile.rawValue))",
                             metadata: context.metadata, figureMetrics: PairedReport.headline + ["HR-a@1"])
            paired.lines.forEach { print($0) }
        }
        print("wrote \(csv.path) and figures")
        return results
    }
}
