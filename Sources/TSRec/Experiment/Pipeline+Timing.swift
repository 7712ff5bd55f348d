import Foundation

extension Pipeline {
    /// One way of running the evaluation, for `evaluationTiming`.
    public struct EvaluationSetting: Sendable, Hashable {
        public var promptsPerBatch: Int
        public var sharesPromptPrefix: Bool
        public init(promptsPerBatch: Int, sharesPromptPrefix: Bool) {
            (self.promptsPerBatch, self.sharesPromptPrefix) = (promptsPerBatch, sharesPromptPrefix)
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
