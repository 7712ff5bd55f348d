/// What the experiments need of a dataset beyond parsing: the SID vocabulary, token clusters,
/// and whether a dataset can be trained on at all.
extension Dataset {
    /// Every SID token used by the item index, ordered by level then code (`<a_0>`, `<a_3>`,
    /// …, `<b_0>`, …): the tokens appended to the backbone's vocabulary, in this order.
    public var sidTokens: [String] {
        index.tokensPerLevel.flatMap { level in level.sorted { SID.code(of: $0) < SID.code(of: $1) } }
    }

    /// SID → title as the authors' map holds it: items in id order, so a collided SID keeps the
    /// title of its last item.
    public func titleBySID() -> [String: String] {
        var out: [String: String] = [:]
        for item in 0..<index.count { out[index.sid(of: item)] = items[item].title }
        return out
    }

    /// A token's cluster: the items whose SID has that token (at its level).
    public func clusters() -> [String: [Int]] {
        var out: [String: [Int]] = [:]
        for (item, tokens) in index.tokens.enumerated() {
            for t in tokens { out[t, default: []].append(item) }
        }
        return out
    }

    /// Why the LLM methods cannot be trained on this dataset (nil when they can).
    public var reasonCannotTrain: String? {
        for part in [DatasetPart.train, .valid, .test] where !has(part) {
            return missing.first { $0.part == part }.map(\.description) ?? "\(part) split missing"
        }
        return nil
    }

    /// The keyword file's entries, or a clear error saying it is missing.
    public func requireKeywords() throws -> Keywords {
        try require(.keywords)
        guard let keywords else { throw TSRecError(.missing(what: "\(benchmark.name) keywords", path: directory.path)) }
        return keywords
    }
}

extension SID {
    /// Level of a token from its letter: `<a_…>` → 0, `<b_…>` → 1, `<c_…>` → 2.
    public static func level(of token: String) -> Int {
        let u = Array(token.utf8)
        precondition(u.count > 2 && isToken(token), "SID.level: '\(token)' is not a SID token")
        return Int(u[1]) - 0x61
    }

    /// The number of a token: `<b_17>` → 17.
    public static func code(of token: String) -> Int {
        Int(token.split(separator: "_").last!.dropLast()) ?? -1
    }
}

extension Llama: TrainableModel {
    public var namedParameters: [(name: String, tensor: Tensor)] { parameters }

    /// Response-only loss of a right-padded batch (the mean over its targets, or their weighted
    /// sum when the batch carries `targetWeights`). The causal mask already hides the padding
    /// (it follows every real token), so no key mask is needed. A batch with a `sharedPrefix`
    /// runs its common template once (the same loss and gradients, fewer rows).
    public func loss(tape: Tape, batch: SFTBatch) -> Tensor {
        guard batch.sharedPrefix > 0 else {
            return loss(tape: tape, tokens: batch.tokens, targets: batch.targets, batch: batch.batch, seq: batch.seq,
                        ignoreIndex: SFTBatch.ignoreIndex, targetWeights: batch.targetWeights)
        }
        return loss(tape: tape, tokens: batch.tokens, targets: batch.targets, batch: batch.batch, seq: batch.seq,
                    sharedPrefix: batch.sharedPrefix, ignoreIndex: SFTBatch.ignoreIndex, targetWeights: batch.targetWeights)
    }
}
