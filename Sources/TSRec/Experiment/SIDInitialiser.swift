/// Chooses the initial embedding row of every new SID token from the configuration:
/// `sidInit` for tokens whose level is in `sidInitLevels`, `.random` for the others.
struct SIDInitialiser {
    let config: ExperimentConfig
    let dataset: Dataset
    let tokenizer: BPETokenizer
    /// The pretrained rows `[baseVocab, dim]`, read before the new rows are appended.
    let embedding: Tensor
    let baseVocab: Int
    /// Per-token keywords; required when `config.sidInit == .keywords`.
    let semantics: Keywords?

    /// `[tokens.count * dim]` rows, in the order of `tokens`.
    func rows(for tokens: [String], log: (String) -> Void) throws -> [Float] {
        let dim = embedding.shape[1]
        return try embedding.withUnsafeBufferPointer { all in
            let table = UnsafeBufferPointer(rebasing: all[0..<(baseVocab * dim)])   // [baseVocab, dim]
            let init_ = SIDEmbeddingInit(table: table, vocab: baseVocab, dim: dim)
            var rng = SplitMix64(seed: config.seed ^ 0x5349_4449_4E49_5400)  // "SIDINIT": its own stream
            let levels = Set(config.sidInitLevels.compactMap { Prompt.levelNames.firstIndex(of: String($0)) })
            let vocabMean = config.sidInit == .vocabMean ? init_.vocabularyMean() : []   // a pass over the whole table: only when used
            let clusters = config.sidInit == .titles ? dataset.clusters() : [:]
            if config.sidInit == .keywords && semantics == nil {
                throw TSRecError(.config(field: "sidInit", reason: "keyword initialisation (SA-Init) without token keywords"))
            }
            var out: [Float] = []
            out.reserveCapacity(tokens.count * dim)
            var fallbacks = 0
            for token in tokens {
                let random = init_.randomRow(scale: config.randomInitScale, using: &rng)  // drawn for every token: streams stay aligned
                let mode = levels.contains(SID.level(of: token)) ? config.sidInit : .random
                var row: [Float]?
                switch mode {
                case .random: row = random
                case .vocabMean: row = vocabMean
                case .keywords:
                    let words = semantics?[token]?.keywords ?? []
                    row = init_.rescaledMean(of: tokenizer.encode(words.joined(separator: " ")))
                case .titles:
                    let titles = (clusters[token] ?? []).map { dataset.items[$0].title }
                    row = init_.rescaledMean(of: titles.flatMap { tokenizer.encode($0) })
                }
                if row == nil { fallbacks += 1 }
                out += row ?? random
            }
            if fallbacks > 0 { log("  SID init: \(fallbacks) tokens had no text and start random") }
            return out
        }
    }
}
