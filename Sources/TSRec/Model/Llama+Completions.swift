/// Teacher-forced scoring of completions (the RL stage): P prompts with G completions of L tokens
/// each. Each prompt runs once and its completions attend to it (`Tape.prefixAttention`), so a
/// step costs P·T + P·G·(L − 1) rows instead of P·G·(T + L); the logits equal those of the
/// concatenated sequences through `forward` (tested).
extension Llama {
    /// Rows of the LM head input, the logits and the targets of every completion token.
    public struct CompletionLogits {
        /// `[Σ_c len_c, V]`: completion c's tokens in order, completions in order (c = p·G + g);
        /// with equal lengths L, row (c·L + j) predicts token j of completion c.
        public let logits: Tensor
        /// The completion tokens, flattened in the same order.
        public let targets: [Int32]
        /// Which completion each row belongs to.
        public let completionOfRow: [Int]
    }

    /// Logits of every completion token given its prompt and the completion's earlier tokens.
    ///
    /// - prompts: P prompts (1...`maxLength` tokens each).
    /// - completions: P·G completions, prompt p's at p·G ..< (p + 1)·G, each at least 1 token.
    ///   Completions of different lengths (S-DPO's titles) are right-padded to the longest for the
    ///   forward pass; causal attention keeps the padding out of every real token's logits, and
    ///   only real tokens get rows.
    /// Every op goes through `tape` (a non-recording tape builds no graph: the reference model).
    public func completionLogits(tape: Tape, prompts: [[Int32]], completions: [[Int32]]) -> CompletionLogits {
        let c = config
        let P = prompts.count
        precondition(P > 0 && completions.count % P == 0 && !completions.isEmpty,
                     "completionLogits: \(completions.count) completions for \(P) prompts")
        let counts = completions.map(\.count)
        precondition(counts.allSatisfy { $0 >= 1 }, "completionLogits: empty completion")
        let G = completions.count / P, L = max(2, counts.max()!), S = L - 1
        let lengths = prompts.map(\.count), T = lengths.max()!
        precondition(lengths.allSatisfy { $0 >= 1 }, "completionLogits: empty prompt")
        // [P·T] prompt rows, then [P·G·S] completion rows: each completion's first S tokens, right-padded with 0
        var tokens: [Int32] = prompts.flatMap { $0 + [Int32](repeating: 0, count: T - $0.count) }
        for completion in completions {
            let head = completion.prefix(S)
            tokens += head
            tokens += [Int32](repeating: 0, count: S - head.count)
        }
        precondition(tokens.allSatisfy { $0 >= 0 && Int($0) < c.vocabSize }, "completionLogits: token id outside 0..<\(c.vocabSize)")
        let positions = (0..<(P * T)).map { Int32($0 % T) }
            + (0..<(P * G * S)).map { r in Int32(lengths[r / (G * S)] + r % S) }

        let x = decoderStack(tape: tape, tape.embedding(tokenEmbedding, ids: tokens), positions: positions) { q, k, v in
            tape.prefixAttention(q: q, k: k, v: v, lengths: lengths, seq: T, group: G, suffix: S, heads: c.heads, kvHeads: c.kvHeads)
        }                                                                                    // [R, D]
        // Token 0 of a completion is predicted by its prompt's last row, token j ≥ 1 by its own row j − 1.
        let rows = (0..<(P * G)).flatMap { cIndex in
            (0..<counts[cIndex]).map { j in j == 0 ? (cIndex / G) * T + lengths[cIndex / G] - 1 : P * T + cIndex * S + j - 1 }
        }
        let hidden = tape.rmsNorm(tape.gatherRows(x, rows: rows), weight: outputNorm, eps: c.rmsEps)     // [Σ len_c, D]
        return CompletionLogits(logits: logits(tape: tape, hidden: hidden), targets: completions.flatMap { $0 },
                                completionOfRow: counts.enumerated().flatMap { [Int](repeating: $0.offset, count: $0.element) })
    }

    /// A copy of this model's configuration and weights (no gradients): the RL stage's reference.
    public func copy() throws -> Llama {
        let twin = try Llama(zeros: config)
        for (a, b) in zip(twin.parameters, parameters) { a.tensor.copy(from: b.tensor) }
        return twin
    }
}
