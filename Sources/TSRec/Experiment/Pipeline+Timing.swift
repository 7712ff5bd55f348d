import Foundation

extension Pipeline {
    /// One way of running the evaluation, for `evaluationTiming`.
    public struct EvaluationSetting: Sendable, Hashable {
        public var promptsPerBatch: Int
        public var sharesPromptPrefix: Bool
        public var forcesPaths: Bool
        /// Batches decoded side by side (`Pipeline.evalLanes`); nil: the pipeline's default.
        public var lanes: Int?
        public init(promptsPerBatch: Int, sharesPromptPrefix: Bool, forcesPaths: Bool = true, lanes: Int? = nil) {
            (self.promptsPerBatch, self.sharesPromptPrefix, self.forcesPaths, self.lanes) = (promptsPerBatch, sharesPromptPrefix, forcesPaths, lanes)
        }
    }

    /// What one timed evaluation did.
    public struct EvaluationTiming: Sendable {
        public var setting: EvaluationSetting
        public var seconds: Double
        public var predictions: [Prediction]
        public var rowsPerSecond: Double { Double(predictions.count) / seconds }
    }

    /// The evaluation's speed on the real test prompts (tsrec-bench): this configuration's
    /// backbone with its SID tokens, *untrained* (the work per row does not depend on the
    /// weights), decodes `rows` test rows spread evenly over the test split once per setting,
    /// through the same `evaluate` the runs use. Predictions go to a scratch folder under
    /// `scratch`, removed afterwards. Also returns the rows' prompt lengths in tokens, how many
    /// leading tokens all of them share, and how many tokens a search generates at most (the SID
    /// trie: the SID's tokens, then "\n" and EOS in the authors' format; the title trie: the
    /// longest title completion).
    public func evaluationTiming(rows n: Int, settings: [EvaluationSetting], scratch: URL) throws
        -> (timings: [EvaluationTiming], promptTokens: [Int], sharedTokens: Int, generatedTokens: Int) {
        let p = try assemble()
        let test = try p.dataset.split(.test).rows
        let step = max(1, test.count / max(n, 1))
        let rows = Array(stride(from: 0, to: test.count, by: step).prefix(n).map { test[$0] })
        let folder = scratch.appendingPathComponent("tsrec-eval-timing-\(ProcessInfo.processInfo.processIdentifier)")
        try AtomicFile.createDirectory(folder)
        defer { try? FileManager.default.removeItem(at: folder) }
        var timings: [EvaluationTiming] = []
        for (i, setting) in settings.enumerated() {
            var run = self
            run.evalPromptsPerBatch = setting.promptsPerBatch
            run.evalSharesPromptPrefix = setting.sharesPromptPrefix
            run.evalForcesPaths = setting.forcesPaths
            if let lanes = setting.lanes { run.evalLanes = lanes }
            let start = Date()
            let predictions = try run.evaluate(model: p.model, builder: p.builder, dataset: p.dataset, tokens: p.sidTokens,
                                               firstID: p.firstNewID, rows: rows, output: folder.appendingPathComponent("run\(i).jsonl"))
            timings.append(EvaluationTiming(setting: setting, seconds: Date().timeIntervalSince(start), predictions: predictions))
        }
        let prompts = try testPrompts(rows: rows, builder: p.builder, dataset: p.dataset)
        let depth = try decoding(builder: p.builder, dataset: p.dataset, tokens: p.sidTokens, firstID: p.firstNewID).depth
        return (timings, prompts.map(\.count), SharedPrefix.commonTokens(of: prompts).count, depth)
    }
}

extension Pipeline {
    /// One timed pass of `trainingTiming`.
    public struct TrainingTiming: Sendable {
        /// Whether each micro-batch ran its common template once (`Trainer.sharesPromptPrefix`).
        public var sharesPromptPrefix: Bool
        public var seconds: Double
        /// Rows through the decoder: Σ batch·seq, or Σ prefix + batch·(seq − prefix) when shared.
        public var rows: Int
        /// The samples' own tokens (no padding).
        public var tokens: Int
        /// The step's token-averaged loss (equal in both passes up to float rounding).
        public var loss: Double
    }

    /// The SFT step's speed on this configuration's real training samples (tsrec-bench): the
    /// first `microBatches` micro-batches of the run's own first epoch (its seed and bucketing),
    /// as one optimizer step (token-averaged forward and backward, no update, untrained
    /// weights), timed whole and then with the template run once (grouped by task, as the
    /// trainer does), or only the ways in `sharing`. Writes nothing.
    public func trainingTiming(microBatches n: Int, sharing ways: [Bool] = [false, true]) throws -> [TrainingTiming] {
        let p = try assemble()
        let (samples, _, _) = try trainingSamples(p)
        var epochRNG = Trainer.sftStreams(seed: config.seed).order     // the run's first epoch
        let step = Array(makeMicroBatches(samples, microBatch: config.microBatch, using: &epochRNG).prefix(n))
        let trainer = Trainer(config: config, runDirectory: runDirectory)
        return try ways.map { sharing in
            let batches = (sharing ? groupedByTask(step) : step).map { SFTBatch($0, sharingPrefix: sharing) }
            for param in p.model.parameters { param.tensor.zeroGrad() }
            let start = Date()
            let loss = try trainer.accumulateGradients(p.model, batches, averaging: .responseTokens, step: 1)
            let seconds = Date().timeIntervalSince(start)
            let rows = batches.reduce(0) { $0 + $1.sharedPrefix + $1.batch * ($1.seq - $1.sharedPrefix) }
            return TrainingTiming(sharesPromptPrefix: sharing, seconds: seconds, rows: rows,
                                  tokens: step.joined().reduce(0) { $0 + $1.tokens.count }, loss: loss)
        }
    }
}
