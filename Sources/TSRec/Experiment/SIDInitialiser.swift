/// Chooses the initial embedding row of every new SID token from the configuration:
/// `sidInit` for tokens whose level is in `sidInitLevels`; the others, and tokens without any
/// text, keep what the authors' framework gives every new token (`.meanResize`).
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
            var resizeRNG = SplitMix64(seed: config.seed ^ 0x5245_5349_5A45_0000)  // "RESIZE": its own stream
            let levels = Set(config.sidInitLevels.compactMap { Prompt.levelNames.firstIndex(of: String($0)) })
            let vocabMean = config.sidInit == .vocabMean ? init_.vocabularyMean() : []   // a pass over the whole table: only when used
            let clusters = config.sidInit == .titles ? dataset.clusters() : [:]
            // Every token gets its mean-resizing row first, as `resize_token_embeddings` gives it
            // before SA-Init overwrites some (and the fallback of levels outside `sidInitLevels`).
            let resizing = init_.meanResizing()
            if resizing.factor == nil { log("  SID init: 1e-9·Σ is not positive definite; mean-resized rows are the exact mean") }
            if config.sidInit == .keywords && semantics == nil {
                throw TSRecError(.config(field: "sidInit", reason: "keyword initialisation (SA-Init) without token keywords"))
            }
            // 1. Every token gets its `resize_token_embeddings` row (and a Gaussian draw, so the
            //    random streams do not depend on the mode; `.random` and `.initializerRange` scale it).
            var rowsOf: [[Float]] = []
            var noise: [[Float]] = []                       // standard normal draws, [token][dim]
            for _ in tokens {
                noise.append(init_.unitGaussianRow(using: &rng))
                rowsOf.append(resizing.sample(using: &resizeRNG))
            }
            // 2. The configured mode on the configured levels. Text means (SA-Init, titles) are
            //    rescaled as the authors' SA-Init does it: to the mean norm of *all* rows of the
            //    resized table at that moment (pretrained + every SID row as it stands), token by
            //    token in the keyword file's order.
            let position = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, $0) })
            let norm = { (row: [Float]) in row.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
            var normSum = init_.rowNormSum + rowsOf.reduce(0) { $0 + norm($1) }
            let tableRows = Double(baseVocab + tokens.count)
            let order = config.sidInit == .keywords ? (semantics?.entries.map(\.token) ?? []) + tokens : tokens
            var done = Set<String>()
            var fallbacks = 0
            for token in order where !done.contains(token) {
                guard let i = position[token], levels.contains(SID.level(of: token)) else { continue }
                done.insert(token)
                let row: [Float]?
                switch config.sidInit {
                case .meanResize: row = rowsOf[i]
                case .random: row = init_.randomRow(noise[i], scale: config.randomInitScale)
                case .initializerRange:
                    row = SIDEmbeddingInit.initializerRangeRow(noise[i], initializerRange: LlamaConfig.smolLM2InitializerRange)
                case .vocabMean: row = vocabMean
                case .keywords:
                    let words = semantics?[token]?.keywords ?? []
                    row = init_.rescaledMean(of: tokenizer.encode(words.joined(separator: " ")), toNorm: normSum / tableRows)
                case .titles:
                    let titles = (clusters[token] ?? []).map { dataset.items[$0].title }
                    row = init_.rescaledMean(of: titles.flatMap { tokenizer.encode($0) }, toNorm: normSum / tableRows)
                }
                guard let row else { fallbacks += 1; continue }
                normSum += norm(row) - norm(rowsOf[i])
                rowsOf[i] = row
            }
            if fallbacks > 0 { log("  SID init: \(fallbacks) tokens had no text and keep the mean-resized row") }
            var out: [Float] = []
            out.reserveCapacity(tokens.count * dim)
            for r in rowsOf { out += r }
            return out
        }
    }
}
