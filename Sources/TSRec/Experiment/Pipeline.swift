import Foundation

/// One method's result on one dataset: what a row of a results table holds.
public struct RunResult: Codable, Sendable {
    public var dataset: String
    public var method: String
    public var profile: String
    public var configHash: String
    public var metrics: MetricRow
    public var trainSteps: Int
    public var bestValidLoss: Double?
    public var trainSeconds: Double
    public var evalSeconds: Double
    /// Validation loss per evaluated step, for convergence figures.
    public var validCurve: [ValidPoint]

    public struct ValidPoint: Codable, Sendable { public var step: Int; public var loss: Double }
}

/// prepare → train → evaluate for one configuration, skipping every stage whose outputs exist.
///
/// Stages and their outputs (under `results/runs/<dataset>/<label>-<hash>/`):
/// 1. data and model (cached downloads), SID tokens added with the configured initialisation;
/// 2. training (`checkpoint.tsrc`, `best.tsrc`, `train_log.csv`, `summary.json`), resumable;
/// 3. constrained beam search over the test rows (`predictions-*.jsonl`) and metrics.
public struct Pipeline {
    public let config: ExperimentConfig
    public let paths: Paths
    /// Short name of the run for folders and logs (e.g. the method's name).
    public let label: String
    public var log: @Sendable (String) -> Void = { print($0) }

    public init(_ config: ExperimentConfig, label: String, paths: Paths = .fromEnvironment()) {
        self.config = config
        self.label = label
        self.paths = paths
    }

    /// Hash of everything that changes the trained weights (not the evaluation budget).
    public var trainingHash: String {
        var c = config
        c.testRows = nil
        c.beamWidth = 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(c)) ?? Data()
        return String(SHA256.hash(data).prefix(12))
    }

    /// `results/runs/<dataset>/<hash>/`: keyed by the configuration alone, so the same
    /// configuration reached from two reproductions (e.g. TS-Rec in table2 and the keyword
    /// variant of ablation-init) trains once.
    public var runDirectory: URL {
        paths.runs.appendingPathComponent(config.dataset).appendingPathComponent(trainingHash)
    }

    public func run() throws -> RunResult {
        log("run \(label): \(config.dataset), profile \(config.profile.rawValue), hash \(trainingHash)")
        log("  folder \(runDirectory.path)")
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try AtomicFile.write(try encoder.encode(config), to: runDirectory.appendingPathComponent("config.json"))

        // MARK: - Data
        guard let benchmark = Benchmark.named(config.dataset) else {
            throw TSRecError(.config(field: "dataset", reason: "unknown benchmark '\(config.dataset)'"),
                             hint: "one of \(Benchmark.all.map(\.name).joined(separator: ", "))")
        }
        let dataset = try Dataset.load(benchmark, paths: paths)

        // MARK: - Backbone, tokenizer and SID tokens
        let gguf = try GGUFFile(contentsOf: try ModelStore(paths: paths).smolLM2())
        var tokenizer = try BPETokenizer(gguf: gguf)
        let model = try Llama.load(gguf: gguf, layers: config.backboneLayers)
        let sidTokens = dataset.sidTokens
        let firstNewID = tokenizer.vocabSize
        let newIDs = tokenizer.addTokens(sidTokens)
        precondition(newIDs.first == firstNewID, "SID tokens must follow the base vocabulary")
        let rows = try SIDInitialiser(config: config, dataset: dataset, tokenizer: tokenizer,
                                      embedding: model.tokenEmbedding, baseVocab: firstNewID).rows(for: sidTokens, log: log)
        model.addTokens(count: sidTokens.count, initialRows: rows)
        log("  \(sidTokens.count) SID tokens added (init \(config.sidInit.rawValue), levels \(config.sidInitLevels))")

        // MARK: - Training (cached by configuration hash, resumable)
        let builder = try SFTSampleBuilder(tokenizer: tokenizer, maxLength: config.maxLength)
        let trainer = Trainer(config: config, runDirectory: runDirectory)
        let summaryURL = runDirectory.appendingPathComponent("summary.json")
        var summary: TrainingSummary
        if let data = try? Data(contentsOf: summaryURL), let s = try? JSONDecoder().decode(TrainingSummary.self, from: data),
           FileManager.default.fileExists(atPath: trainer.bestURL.path) {
            summary = s
            _ = try Checkpoint.load(trainer.bestURL, tensors: Dictionary(uniqueKeysWithValues: model.namedParameters.map { ($0.name, $0.tensor) }))
            log("  training: finished earlier (\(s.steps) steps), best weights loaded")
        } else {
            let (samples, dropped) = try builder.trainingSamples(dataset, tasks: config.tasks, trainRows: config.trainRows)
            let valid = builder.nextItemSamples(Array(try dataset.split(.valid).rows.prefix(config.validRows ?? .max)))
            let byTask = Dictionary(grouping: samples, by: \.task).mapValues(\.count).sorted { $0.key < $1.key }
            log("  samples: " + byTask.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
                + (dropped > 0 ? " (\(dropped) longer than \(config.maxLength) tokens dropped)" : "")
                + "; \(trainer.totalSteps(sampleCount: samples.count)) steps of \(config.effectiveBatch)")
            guard let s = try trainer.train(model, train: samples, valid: valid, configHash: trainingHash) else {
                throw TSRecError(.config(field: "stepLimit", reason: "stopped before the end"))
            }
            summary = s
        }

        // MARK: - Evaluation: constrained beam search over the test rows
        let test = Array(try dataset.split(.test).rows.prefix(config.testRows ?? .max))
        let predictionsURL = runDirectory.appendingPathComponent("predictions-beam\(config.beamWidth)-n\(test.count).jsonl")
        let evalStart = Date()
        let predictions: [Prediction]
        if let cached = try? PredictionsFile.read(from: predictionsURL), cached.count == test.count {
            predictions = cached
            log("  evaluation: predictions found, metrics recomputed")
        } else {
            predictions = try evaluate(model: model, builder: builder, dataset: dataset, tokens: sidTokens,
                                       firstID: firstNewID, rows: test)
            try PredictionsFile.write(predictions, to: predictionsURL)
        }
        let metrics = MetricRow.evaluate(predictions, catalogue: Set(dataset.index.sids))
        let result = RunResult(dataset: config.dataset, method: label, profile: config.profile.rawValue,
                               configHash: trainingHash, metrics: metrics, trainSteps: summary.steps,
                               bestValidLoss: summary.bestValidLoss, trainSeconds: summary.wallSeconds,
                               evalSeconds: Date().timeIntervalSince(evalStart),
                               validCurve: summary.log.compactMap { r in r.validLoss.map { .init(step: r.step, loss: $0) } })
        log(String(format: "  %@: HR@10 %.4f NDCG@10 %.4f (%d test rows)", label, metrics.hr10, metrics.ndcg10, test.count))
        return result
    }

    /// Ranked SIDs for every row: beam search constrained to the catalogue's SIDs.
    func evaluate(model: Llama, builder: SFTSampleBuilder, dataset: Dataset, tokens: [String], firstID: Int,
                  rows: [SplitRow]) throws -> [Prediction] {
        let idOf = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, firstID + $0) })
        let sequences = Set(dataset.index.sids).sorted().map { sid in SID.tokens(sid)!.map { idOf[$0]! } }
        let trie = PrefixTrie(sequences: sequences)
        let sidOf = Dictionary(uniqueKeysWithValues: sequences.map { ($0, $0.map { tokens[$0 - firstID] }.joined()) })
        var scorer = LlamaBeamScorer(model: model, promptCapacity: config.maxLength, depth: trie.uniformLength ?? 3,
                                     width: config.beamWidth)
        let progress = ProgressBar(total: rows.count, label: "beam search")
        var out: [Prediction] = []
        out.reserveCapacity(rows.count)
        for row in rows {
            let prompt = builder.promptIDs(.nextItem(history: row.historySIDs)).map(Int.init)
            let ranked = try beamSearch(&scorer, trie: trie, prompt: prompt, width: config.beamWidth)
            out.append(Prediction(user: row.userID, target: row.targetSID, ranked: ranked.map { sidOf[$0.tokens]! }))
            progress.advance(by: 1)
        }
        progress.finish()
        return out
    }
}
