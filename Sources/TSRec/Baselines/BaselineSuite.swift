import Foundation

/// The baselines of the paper's Table 2, each a value: what to build and how to train it.
public enum BaselineMethod: String, CaseIterable, Codable, Sendable, Hashable {
    /// Most-popular train targets: the sanity floor every trained model must beat.
    case popularity = "Popularity"
    case gru4rec = "GRU4Rec"
    case caser = "Caser"
    case sasrec = "SASRec"
    case hstu = "HSTU"
    case tiger = "TIGER"

    /// The method's row name in the reported table (nil: not reported).
    public var reportedName: String? { self == .popularity ? nil : rawValue }
}

/// One trained and evaluated baseline: a row of `results/baselines.csv`.
public struct BaselineResult: Sendable, Codable, CSVRow {
    public var dataset: String
    public var method: String
    public var metrics: MetricRow
    /// Training (including per-epoch validation) and test evaluation, in seconds of wall time.
    public var trainSeconds: Double
    public var evalSeconds: Double
    public var epochs: Int
    public var bestEpoch: Int
    public var parameterCount: Int
    /// The cached test predictions (`….predictions.jsonl` beside the cached result), when kept.
    public var predictionsPath: String? = nil

    public var wallSeconds: Double { trainSeconds + evalSeconds }

    public static var csvHeader: [String] {
        ["dataset", "method"] + MetricRow.metricNames + ["wall_seconds", "train_seconds", "eval_seconds", "epochs", "best_epoch", "parameters", "rows"]
    }
    public var csvFields: [String] {
        [dataset, method] + MetricRow.metricNames.map { CSV.cell(metrics.value(named: $0)) }
            + [String(format: "%.1f", wallSeconds), String(format: "%.1f", trainSeconds), String(format: "%.1f", evalSeconds),
               "\(epochs)", "\(bestEpoch)", "\(parameterCount)", "\(metrics.rows)"]
    }

    /// Reads the rows of a `baselines.csv` written by `CSV.write` (e.g. for `table2` to include the
    /// baselines without retraining them). Invalid counts are not stored there and read as 0.
    public static func read(from url: URL) throws -> [BaselineResult] {
        let table = try CSV.read(from: url)
        let datasets = try table.column("dataset"), methods = try table.column("method")
        var columns: [String: [Double?]] = [:]
        for name in MetricRow.metricNames + ["train_seconds", "eval_seconds", "epochs", "best_epoch", "parameters", "rows"] {
            columns[name] = try table.numericColumn(name)
        }
        return try datasets.indices.map { i in
            func value(_ name: String) throws -> Double {
                guard let v = columns[name]![i] else {
                    throw TSRecError(.format(path: url.path, line: table.metadata.count + 2 + i, field: name, reason: "empty cell"))
                }
                return v
            }
            let metrics = MetricRow(rows: Int(try value("rows")),
                                    hr: try MetricRow.cutoffs.map { try value("HR@\($0)") },
                                    ndcg: try MetricRow.cutoffs.map { try value("NDCG@\($0)") }, invalid: 0, invalidRate: 0)
            return BaselineResult(dataset: datasets[i], method: methods[i], metrics: metrics,
                                  trainSeconds: try value("train_seconds"), evalSeconds: try value("eval_seconds"),
                                  epochs: Int(try value("epochs")), bestEpoch: Int(try value("best_epoch")),
                                  parameterCount: Int(try value("parameters")))
        }
    }

    /// For `Comparison` against the reported table.
    public var reproduced: ReproducedResult {
        ReproducedResult(dataset: dataset, method: method,
                         reportedMethod: BaselineMethod(rawValue: method)?.reportedName, metrics: metrics)
    }
}

/// Data slices and training budgets per profile.
public struct BaselineBudget: Sendable, Hashable, CustomStringConvertible {
    public var trainRows: Int?
    public var validRows: Int?
    public var testRows: Int?
    public var settings: TrainSettings
    /// TIGER's size: `.compact` unless the profile is `paper`.
    public var tiger: TIGER.Config
    /// Beam width of TIGER's constrained beam search (the LLM path's, 20).
    public var beamWidth: Int

    public var description: String {
        let rows = [trainRows, validRows, testRows].map { $0.map(String.init) ?? "all" }.joined(separator: "/")
        return "rows \(rows); ≤ \(settings.maxEpochs) epochs, patience \(settings.patience) on valid \(settings.monitor.rawValue)"
            + " (TIGER: valid loss), batch \(settings.batchSize), AdamW lr \(settings.learningRate), ID-model loss \(settings.objective.rawValue);"
            + " TIGER d_model \(tiger.dim),"
            + " \(tiger.encoderLayers)+\(tiger.decoderLayers) layers, beam \(max(beamWidth, 20))"
    }

    public static func of(_ profile: Profile) -> BaselineBudget {
        var s = TrainSettings()
        let beam = ExperimentConfig.profile(profile, dataset: "").beamWidth
        switch profile {
        case .smoke:
            s.maxEpochs = 2
            return BaselineBudget(trainRows: 512, validRows: 128, testRows: 128, settings: s, tiger: .compact, beamWidth: beam)
        case .quick:
            s.maxEpochs = 30
            return BaselineBudget(trainRows: nil, validRows: nil, testRows: nil, settings: s, tiger: .compact, beamWidth: beam)
        case .paper:
            s.maxEpochs = 200
            return BaselineBudget(trainRows: nil, validRows: nil, testRows: nil, settings: s, tiger: .paper, beamWidth: beam)
        }
    }

    /// The training settings of one method (the profile's epochs and patience, the method's optimiser).
    public func settings(for method: BaselineMethod) -> TrainSettings {
        var s = settings
        switch method {
        case .popularity, .gru4rec, .caser, .sasrec, .hstu: break
        case .tiger:
            s.monitor = .loss
        }
        return s
    }
}

public enum BaselineSuite {
    /// The random stream of one method: independent of which other methods run, and of their order.
    static func rng(seed: UInt64, method: BaselineMethod) -> SplitMix64 {
        var base = SplitMix64(seed: seed)
        for _ in 0...BaselineMethod.allCases.firstIndex(of: method)! { _ = base.next() }
        return base.fork()
    }

    /// The model of a trainable method, initialised from `rng`.
    static func makeModel(_ method: BaselineMethod, data: RecData, budget: BaselineBudget, rng: inout SplitMix64) -> any Recommender {
        switch method {
        case .popularity: preconditionFailure("popularity has no model")
        case .gru4rec: return GRU4Rec(itemSIDs: data.itemSIDs, rng: &rng)
        case .caser: return Caser(itemSIDs: data.itemSIDs, userCount: data.userCount, rng: &rng)
        case .sasrec: return SASRec(itemSIDs: data.itemSIDs, rng: &rng)
        case .hstu: return HSTU(itemSIDs: data.itemSIDs, rng: &rng)
        case .tiger: return TIGER(data: data, config: budget.tiger, rng: &rng)
        }
    }

    /// A markdown table of measured rows; each cell is `ours (reported)` where the reported table has
    /// the number, else `ours (–)`.
    public static func markdown(_ results: [BaselineResult], reported: ReportedTable?) -> String {
        let metrics = ["HR@3", "NDCG@3", "HR@5", "NDCG@5", "HR@10", "NDCG@10"]
        var lines = ["| dataset | method | " + metrics.joined(separator: " | ") + " | epochs | wall s |",
                     "|---|---|" + String(repeating: "---:|", count: metrics.count + 2)]
        for r in results {
            let cells = metrics.map { m -> String in
                let ours = f4(r.metrics.value(named: m) ?? .nan)
                let theirs = r.reproduced.reportedMethod.flatMap { reported?.value(dataset: r.dataset, method: $0, metric: m) }
                return ours + " (" + (theirs.map(f4) ?? "–") + ")"
            }
            lines.append("| \(r.dataset) | \(r.method) | " + cells.joined(separator: " | ")
                         + " | \(r.epochs) | " + String(format: "%.0f", r.wallSeconds) + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Every (dataset, method) pair in order; after each one the rows so far are written to `csv`
    /// (so an interrupted run keeps its finished rows); each run is cached (`cachedRun`).
    public static func runAll(_ methods: [BaselineMethod], on datasets: [RecData], budget: BaselineBudget, seed: UInt64,
                              csv: URL, metadata: [(key: String, value: String)], runsDirectory: URL,
                              log: (String) -> Void = say) throws -> [BaselineResult] {
        var results: [BaselineResult] = []
        for data in datasets {
            for method in methods {
                results.append(try cachedRun(method, data: data, budget: budget, seed: seed, runsDirectory: runsDirectory, log: log))
                try CSV.write(results, to: csv, metadata: metadata)
            }
        }
        return results
    }

    /// `run`, cached like the LLM runs: a finished (method, data, budget, seed) is read back from
    /// `<runsDirectory>/<dataset>/baselines/<method>-<hash>.json` (its test predictions beside it,
    /// `….predictions.jsonl`) instead of being trained again. The hash covers every stored
    /// field of the budget (a `dump` of it), the split sizes and the seed.
    public static func cachedRun(_ method: BaselineMethod, data: RecData, budget: BaselineBudget, seed: UInt64,
                                 runsDirectory: URL, log: (String) -> Void = say) throws -> BaselineResult {
        let resultURL = cacheURL(method, data: data, budget: budget, seed: seed, runsDirectory: runsDirectory)
        if let cached = cachedResult(at: resultURL) {
            log("\(method.rawValue): finished earlier, read from \(resultURL.path)")
            return cached
        }
        var result = try run(method, data: data, budget: budget, seed: seed,
                             predictionsURL: predictionsURL(ofCached: resultURL), log: log)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try AtomicFile.write(try encoder.encode(result), to: resultURL)
        result.predictionsPath = predictionsURL(ofCached: resultURL).path
        return result
    }

    /// `cachedRun`; with `reportOnly`, only `finishedResult` (nil: not run yet, never trains).
    public static func result(_ method: BaselineMethod, data: RecData, budget: BaselineBudget, seed: UInt64,
                              runsDirectory: URL, recordsDirectory: URL? = nil, reportOnly: Bool) throws -> BaselineResult? {
        reportOnly ? finishedResult(method, data: data, budget: budget, seed: seed, runsDirectory: runsDirectory,
                                    recordsDirectory: recordsDirectory)
            : try cachedRun(method, data: data, budget: budget, seed: seed, runsDirectory: runsDirectory)
    }

    /// The cached result of `cachedRun` with these arguments, or nil when it has not run yet.
    /// `recordsDirectory` (`<records>/<profile>/runs`, laid out as `runsDirectory`; filled by
    /// `scripts/record-run.sh PROFILE baselines`) is read when `runsDirectory` lacks the result, so
    /// a fresh clone's report shows the committed baseline rows as it does the LLM runs'.
    public static func finishedResult(_ method: BaselineMethod, data: RecData, budget: BaselineBudget, seed: UInt64,
                                      runsDirectory: URL, recordsDirectory: URL? = nil) -> BaselineResult? {
        if let done = cachedResult(at: cacheURL(method, data: data, budget: budget, seed: seed, runsDirectory: runsDirectory)) {
            return done
        }
        return recordsDirectory.flatMap { cachedResult(at: cacheURL(method, data: data, budget: budget, seed: seed, runsDirectory: $0)) }
    }

    /// `<runsDirectory>/<dataset>/baselines/<method>-<hash>.json`.
    static func cacheURL(_ method: BaselineMethod, data: RecData, budget: BaselineBudget, seed: UInt64, runsDirectory: URL) -> URL {
        var key = "\(method.rawValue) \(data.name) \(data.train.count)/\(data.valid.count)/\(data.test.count) seed \(seed)\n"
        dump(budget, to: &key)
        return runsDirectory.appendingPathComponent(data.name).appendingPathComponent("baselines")
            .appendingPathComponent("\(method.rawValue)-\(SHA256.hash(Data(key.utf8)).prefix(12)).json")
    }

    /// `<method>-<hash>.predictions.jsonl` beside the cached result.
    static func predictionsURL(ofCached resultURL: URL) -> URL {
        resultURL.deletingPathExtension().appendingPathExtension("predictions.jsonl")
    }

    static func cachedResult(at url: URL) -> BaselineResult? {
        guard let d = try? Data(contentsOf: url), var r = try? JSONDecoder().decode(BaselineResult.self, from: d) else { return nil }
        let predictions = predictionsURL(ofCached: url)
        r.predictionsPath = FileManager.default.fileExists(atPath: predictions.path) ? predictions.path : nil
        return r
    }

    /// The trained model of a trainable method on data already cut to `budget`'s rows: the same
    /// random streams, so the same weights, as `run` trains.
    static func trainedModel(_ method: BaselineMethod, budgetedData data: RecData, budget: BaselineBudget, seed: UInt64,
                             log: (String) -> Void) throws -> (model: any Recommender, outcome: TrainOutcome) {
        var rng = rng(seed: seed, method: method)
        var initRNG = rng.fork(), trainRNG = rng.fork()
        let model = makeModel(method, data: data, budget: budget, rng: &initRNG)
        if let id = model as? any SequentialRecommender { id.objective = budget.settings(for: method).objective }
        log("\(method.rawValue): \(model.parameters.reduce(0) { $0 + $1.count }) parameters, \(data.train.count) train rows")
        let outcome = try BaselineTrainer.train(model, data: data, settings: budget.settings(for: method), rng: &trainRNG, log: log)
        return (model, outcome)
    }

    /// Each row of one split's distribution over the catalogue under an ID-based method as
    /// Table 2 trains it (`[rows][itemCount]`, D3's assistant; `TitleAssistant`), trained again
    /// from its seed (SASRec at `quick`: about a minute). `split` is `\.test` or `\.valid`, cut to
    /// `budget`'s rows. When the Table-2 row's test predictions are cached (`runsDirectory`, else
    /// `recordsDirectory`), the retrained model's top-20 lists are compared with them and the
    /// agreement logged: the assistant is that row's model when they agree.
    public static func distributions(_ method: BaselineMethod, of split: KeyPath<RecData, [RecSample]>, data: RecData,
                                     budget: BaselineBudget, seed: UInt64, runsDirectory: URL, recordsDirectory: URL? = nil,
                                     log: (String) -> Void = say) throws -> [[Float]] {
        let full = data, data = data.prefix(train: budget.trainRows, valid: budget.validRows, test: budget.testRows)
        let (trained, _) = try trainedModel(method, budgetedData: data, budget: budget, seed: seed, log: log)
        guard let model = trained as? any SequentialRecommender else {
            throw TSRecError(.config(field: "assistant", reason: "\(method.rawValue) does not score the whole catalogue"),
                             hint: "use an ID-based sequential model, e.g. SASRec (D3's)")
        }
        let cached = [runsDirectory] + (recordsDirectory.map { [$0] } ?? [])
        if let url = cached.lazy.map({ predictionsURL(ofCached: cacheURL(method, data: full, budget: budget, seed: seed, runsDirectory: $0)) })
            .first(where: { FileManager.default.fileExists(atPath: $0.path) }) {
            let table2 = try PredictionsFile.read(from: url)
            let again = try BaselineTrainer.predictions(model, data.test, data: data, k: 20)
            let same = zip(table2, again).filter { $0.ranked == $1.ranked }.count
            log("\(method.rawValue) retrained for the assistant: top-20 lists identical to \(url.lastPathComponent)'s on \(same) of \(data.test.count) test rows")
        } else {
            log("\(method.rawValue) retrained for the assistant (no cached Table-2 predictions to compare with)")
        }
        return model.catalogueProbabilities(data[keyPath: split])
    }

    /// Trains (unless popularity) and evaluates one method on `data.test`; writes the test
    /// predictions to `predictionsURL` when given.
    public static func run(_ method: BaselineMethod, data: RecData, budget: BaselineBudget, seed: UInt64,
                           predictionsURL: URL? = nil, log: (String) -> Void = say) throws -> BaselineResult {
        let data = data.prefix(train: budget.trainRows, valid: budget.validRows, test: budget.testRows)
        let t0 = Date()
        var predictions: [Prediction]
        var outcome: TrainOutcome?
        var parameterCount = 0
        var evalStart = Date()
        if method == .popularity {
            let pop = PopularityBaseline(trainItems: data.train.map(\.target), trainSIDs: data.train.map { data.itemSIDs[$0.target] })
            evalStart = Date()
            predictions = pop.predictions(for: data.test.map { ($0.userID, data.itemSIDs[$0.target]) })
        } else {
            let (model, trained) = try trainedModel(method, budgetedData: data, budget: budget, seed: seed, log: log)
            outcome = trained
            parameterCount = model.parameters.reduce(0) { $0 + $1.count }
            evalStart = Date()
            if let tiger = model as? TIGER { tiger.beamWidth = budget.beamWidth }
            predictions = try BaselineTrainer.predictions(model, data.test, data: data, k: 20)
        }
        let evalSeconds = Date().timeIntervalSince(evalStart)
        if let predictionsURL { try PredictionsFile.write(predictions, to: predictionsURL) }
        let metrics = MetricRow.evaluate(predictions, catalogue: data.catalogue)
        let result = BaselineResult(dataset: data.name, method: method.rawValue, metrics: metrics,
                                    trainSeconds: evalStart.timeIntervalSince(t0), evalSeconds: evalSeconds,
                                    epochs: outcome?.epochs.count ?? 0, bestEpoch: outcome?.bestEpoch ?? 0,
                                    parameterCount: parameterCount)
        log("\(method.rawValue): HR@10 \(f4(metrics.hr10)) NDCG@10 \(f4(metrics.ndcg10)) wall \(String(format: "%.1f", result.wallSeconds)) s")
        return result
    }
}
