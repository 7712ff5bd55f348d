import Foundation

/// One comparison (a method against a baseline method) repeated over training seeds.
///
/// A paired comparison on the test rows (`PairedComparison`) measures test-sampling noise for
/// one pair of trained models; it cannot say whether another seed (another data order and
/// initialisation) would have trained the same difference. This study trains both methods for
/// every seed and reports: each run's metrics, each seed's paired difference with its bootstrap
/// interval, and the difference's mean and standard deviation over seeds with a t interval.
///
/// Outputs (`figures` folder, like the ablations): `<name>-<profile>.csv` (one row per run),
/// `<name>-<profile>-seeds.csv` (per metric: means, standard deviations, differences over seeds),
/// `<name>-<profile>-paired.csv` (per seed and metric), `<name>-<profile>-seed-noise.csv` (each arm
/// against itself at another seed) and the figure `<name>-<profile>-paired`.
public struct SeedStudy {
    /// A method's configuration; the study overwrites its seed.
    public struct Arm {
        public var label: String
        public var config: ExperimentConfig
        public init(_ label: String, _ config: ExperimentConfig) { (self.label, self.config) = (label, config) }
    }

    public let name: String
    public let context: RunContext
    public let method: Arm
    public let baseline: Arm
    public let seeds: [UInt64]

    public init(name: String, context: RunContext, method: Arm, baseline: Arm, seeds: [UInt64]) {
        precondition(!seeds.isEmpty, "SeedStudy: no seeds")
        (self.name, self.context, self.method, self.baseline, self.seeds) = (name, context, method, baseline, seeds)
    }

    /// The metrics summarised over seeds (the paper's table columns).
    static let metrics = ResultsReport.tableMetrics

    /// Both arms for one seed: (method, baseline), nil where a run has not finished (`--report-only`).
    public struct SeedRuns {
        public var seed: UInt64
        public var method: RunResult?
        public var baseline: RunResult?
    }

    /// Runs (or reads back) both arms for every seed, then writes the report. With
    /// `--report-only` nothing trains; unfinished runs are listed as pending.
    @discardableResult
    public func run(figures: URL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["TSREC_FIGURES"] ?? "Figures"))
        throws -> [SeedRuns] {
        var runs: [SeedRuns] = []
        for seed in seeds {
            func result(_ arm: Arm) throws -> RunResult? {
                var config = arm.config
                config.seed = seed
                let pipeline = Pipeline(config, label: arm.label, paths: context.paths)
                let r = try pipeline.result(reportOnly: context.reportOnly)
                if r == nil { print("pending: \(arm.label) seed \(seed) (\(pipeline.trainingHash)) has not finished") }
                return r
            }
            runs.append(SeedRuns(seed: seed, method: try result(method), baseline: try result(baseline)))
        }
        if context.communicator.isRoot { try write(runs, figures: figures) }     // rank 0 reports
        return runs
    }

    func write(_ runs: [SeedRuns], figures: URL) throws {
        let base = "\(name)-\(context.profile.rawValue)"
        let metrics = Self.metrics

        // MARK: every finished run
        let rows = runs.flatMap { s in [s.method, s.baseline].compactMap { $0 }.map { $0.studyRow(key: "\(s.seed)") } }
        try CSV.write(header: RunResult.studyHeader(nameColumn: "method", keyColumn: "seed"),
                      rows: rows, to: figures.appendingPathComponent("\(base).csv"), metadata: context.metadata)

        // MARK: each seed's pair on the same test rows
        let complete = runs.compactMap { s in s.method.flatMap { m in s.baseline.map { (seed: s.seed, method: m, baseline: $0) } } }
        let paired = complete.map { (seed: $0.seed, report: PairedReport(reference: $0.method, others: [$0.baseline], metrics: PairedReport.defaultMetrics)) }
        try CSV.write(header: ["seed"] + PairedReport.csvHeader, rows: paired.flatMap { p in p.report.csvRows.map { ["\(p.seed)"] + $0 } },
                      to: figures.appendingPathComponent("\(base)-paired.csv"),
                      metadata: context.metadata + paired.flatMap { p in p.report.notes.map { (key: "seed \(p.seed)", value: $0) } })

        // MARK: over seeds: mean and spread of each arm and of the difference
        let summary = metrics.map { m in
            SeedSummary(metric: m, method: complete.map { $0.method.metrics.value(named: m) ?? 0 },
                        baseline: complete.map { $0.baseline.metrics.value(named: m) ?? 0 })
        }
        try CSV.write(header: SeedSummary.csvHeader, rows: summary.map(\.csvFields),
                      to: figures.appendingPathComponent("\(base)-seeds.csv"),
                      metadata: context.metadata + [("method", method.label), ("baseline", baseline.label),
                                                    ("seeds", complete.map { "\($0.seed)" }.joined(separator: " "))])

        // MARK: the same configuration at another seed: training noise alone, on the same test rows
        let noise = try Self.sameConfigurationPairs(runs)
        try CSV.write(header: PairedReport.csvHeader, rows: noise.flatMap(\.csvRows),
                      to: figures.appendingPathComponent("\(base)-seed-noise.csv"),
                      metadata: context.metadata + [("what", "each arm at a later seed minus the same arm at its first finished seed")])

        // MARK: figure: each seed's interval, the across-seed interval, then seed-to-seed noise
        var intervals: [IntervalPlot.Row] = []
        for m in PairedReport.headline {
            intervals += paired.compactMap { p in p.report.pairs.first.flatMap { IntervalPlot.Row("seed \(p.seed): \(m)", $0.comparison, m) } }
            if let s = summary.first(where: { $0.metric == m }), s.seeds > 1 {
                intervals.append(.init(label: "\(s.seeds) seeds (t): \(m)", estimate: s.differenceMean,
                                       low: s.differenceMean - s.halfWidth, high: s.differenceMean + s.halfWidth))
            }
            intervals += noise.flatMap(\.pairs).compactMap { IntervalPlot.Row("\($0.reference) minus \($0.other): \(m)", $0.comparison, m) }
        }
        if !intervals.isEmpty {
            // the seed-noise rows name both of their runs; the title stays short enough to fit
            try IntervalPlot(title: "\(name) (\(context.profile.rawValue)): \(method.label) minus \(baseline.label), per seed and over seeds",
                             xlabel: "difference; per seed: paired bootstrap 95%; over seeds: t 95%", rows: intervals)
                .render(to: figures.appendingPathComponent("\(base)-paired"))
        }
        for s in summary where PairedReport.headline.contains(s.metric) { print("\(method.label) vs \(baseline.label): \(s.line)") }
        for line in noise.flatMap(\.lines) { print("same configuration, another seed: \(line)") }
        print("wrote \(figures.appendingPathComponent(base).path).csv, -seeds.csv, -paired.csv, -seed-noise.csv and the figure")
    }

    /// Each arm at every later seed minus the same arm at its first finished seed, paired on the
    /// test rows. Two runs of one configuration differ only by training noise (data order and
    /// initialisation), so these intervals show what the paired test makes of noise alone: where it
    /// calls such a difference significant, a single-seed comparison of two methods cannot tell
    /// training noise from an effect. Runs without kept predictions are skipped.
    static func sameConfigurationPairs(_ runs: [SeedRuns]) throws -> [PairedReport] {
        var reports: [PairedReport] = []
        for arm in [\SeedRuns.method, \SeedRuns.baseline] {
            let finished = runs.compactMap { s in
                s[keyPath: arm].flatMap { r in r.allPredictionsPaths.isEmpty ? nil : (seed: s.seed, run: r, paths: r.allPredictionsPaths) }
            }
            guard let first = finished.first else { continue }
            let firstPrompts = try PredictionsFile.read(prompts: first.paths)
            for later in finished.dropFirst() {
                reports.append(try PairedReport(dataset: later.run.dataset,
                                                reference: ("\(later.run.method) seed \(later.seed)", try PredictionsFile.read(prompts: later.paths)),
                                                other: ("\(first.run.method) seed \(first.seed)", firstPrompts), source: first.paths[0]))
            }
        }
        return reports
    }
}

/// One metric over seeds: each arm's mean and sample standard deviation, and the per-seed
/// difference (method − baseline) with a Student-t 95% interval of its mean.
public struct SeedSummary: Sendable, Hashable {
    public var metric: String
    public var seeds: Int
    public var methodMean: Double, methodSD: Double
    public var baselineMean: Double, baselineSD: Double
    public var differenceMean: Double, differenceSD: Double
    /// Seeds in which the method scored above the baseline.
    public var methodBetter: Int

    public init(metric: String, method: [Double], baseline: [Double]) {
        precondition(method.count == baseline.count, "SeedSummary: \(method.count) method runs, \(baseline.count) baseline runs")
        let d = zip(method, baseline).map { $0 - $1 }
        self.metric = metric
        seeds = d.count
        (methodMean, methodSD) = Self.meanSD(method)
        (baselineMean, baselineSD) = Self.meanSD(baseline)
        (differenceMean, differenceSD) = Self.meanSD(d)
        methodBetter = d.filter { $0 > 0 }.count
    }

    /// Mean and sample standard deviation (n − 1; 0 for fewer than two values).
    static func meanSD(_ x: [Double]) -> (Double, Double) {
        guard !x.isEmpty else { return (0, 0) }
        let mean = x.reduce(0, +) / Double(x.count)
        guard x.count > 1 else { return (mean, 0) }
        return (mean, (x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(x.count - 1)).squareRoot())
    }

    /// Two-sided 95% Student-t quantiles for 1…10 degrees of freedom; 1.96 beyond (the error of
    /// the normal value is under 5% from 30 on, and seed studies here are far smaller).
    static let t975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]

    /// Half-width of the 95% t interval of `differenceMean` (0 with fewer than two seeds).
    public var halfWidth: Double {
        guard seeds > 1 else { return 0 }
        let t = seeds - 1 <= Self.t975.count ? Self.t975[seeds - 2] : 1.96
        return t * differenceSD / Double(seeds).squareRoot()
    }

    public static let csvHeader = ["metric", "seeds", "method_mean", "method_sd", "baseline_mean", "baseline_sd",
                                   "difference_mean", "difference_sd", "difference_ci95_low", "difference_ci95_high", "seeds_method_better"]
    public var csvFields: [String] {
        [metric, "\(seeds)", CSV.cell(methodMean), CSV.cell(methodSD), CSV.cell(baselineMean), CSV.cell(baselineSD),
         CSV.cell(differenceMean), CSV.cell(differenceSD), CSV.cell(differenceMean - halfWidth), CSV.cell(differenceMean + halfWidth),
         "\(methodBetter)"]
    }

    /// `HR@10 over 3 seeds: method 0.1100 ± 0.0040, baseline 0.1017 ± 0.0030; difference +0.0083 ± 0.0020, t 95% [...], method better in 3/3`.
    /// With one seed there is no spread to show, so none is printed.
    public var line: String {
        guard seeds > 1 else {
            return "\(metric), one seed (no spread yet): "
                + String(format: "method %.4f, baseline %.4f, difference %+.4f", methodMean, baselineMean, differenceMean)
        }
        return "\(metric) over \(seeds) seeds: "
            + String(format: "method %.4f ± %.4f, baseline %.4f ± %.4f; difference %+.4f ± %.4f, t 95%% [%+.4f, %+.4f]",
                     methodMean, methodSD, baselineMean, baselineSD, differenceMean, differenceSD,
                     differenceMean - halfWidth, differenceMean + halfWidth)
            + ", method better in \(methodBetter)/\(seeds)"
    }
}
