/// A Llama-family decoder (SmolLM2-135M here): token embedding, `layers` pre-norm blocks of
/// grouped-query self-attention with RoPE and a SwiGLU feed-forward, a final RMSNorm and an LM
/// head tied to the embedding.
///
///     x₀ = E[tokens]                                         [N, D]   (N = B·T)
///     xₗ' = xₗ + Wo · attn(rope(Wq h), rope(Wk h), Wv h),   h = rmsNorm(xₗ) · g_attn
///     xₗ₊₁ = xₗ' + Wdown · (silu(Wgate h') ⊙ Wup h'),       h' = rmsNorm(xₗ') · g_ffn
///     logits = rmsNorm(x_L) · g_out · Eᵀ                     [N, V]
///
/// Parameters are named by their GGUF tensor names (`token_embd.weight`, `blk.3.attn_q.weight`,
/// …), which is the one name map the loader, checkpoints and logs share. Weight matrices are
/// stored `[out, in]` (GGUF dims reversed), so a projection is `matmul(x, W, transposeB: true)`.
/// Reference: llama.cpp `llm_build_llama`, HF `LlamaForCausalLM`.
public final class Llama {
    public private(set) var config: LlamaConfig
    /// [V, D]; also the LM head (tied). Replaced (grown) by `addTokens`.
    public private(set) var tokenEmbedding: Tensor
    public let blocks: [Block]
    /// [D] final RMSNorm gain.
    public let outputNorm: Tensor

    /// One transformer block's parameters.
    public final class Block {
        /// [D] pre-attention RMSNorm gain.
        public let attnNorm: Tensor
        /// [H·Dh, D] query projection (rows permuted for llama.cpp's adjacent-pair RoPE).
        public let wq: Tensor
        /// [Hkv·Dh, D] key projection (permuted like wq).
        public let wk: Tensor
        /// [Hkv·Dh, D] value projection.
        public let wv: Tensor
        /// [D, H·Dh] attention output projection.
        public let wo: Tensor
        /// [D] pre-FFN RMSNorm gain.
        public let ffnNorm: Tensor
        /// [F, D] SwiGLU gate projection.
        public let wGate: Tensor
        /// [F, D] SwiGLU up projection.
        public let wUp: Tensor
        /// [D, F] SwiGLU down projection.
        public let wDown: Tensor

        init(_ c: LlamaConfig) {
            func p(_ shape: [Int]) -> Tensor { Tensor(zeros: shape, requiresGrad: true) }
            attnNorm = p([c.dim])
            wq = p([c.qDim, c.dim])
            wk = p([c.kvDim, c.dim])
            wv = p([c.kvDim, c.dim])
            wo = p([c.dim, c.qDim])
            ffnNorm = p([c.dim])
            wGate = p([c.ffnDim, c.dim])
            wUp = p([c.ffnDim, c.dim])
            wDown = p([c.dim, c.ffnDim])
        }

        /// (GGUF suffix, tensor) in a fixed order.
        var named: [(String, Tensor)] {
            [("attn_norm.weight", attnNorm), ("attn_q.weight", wq), ("attn_k.weight", wk),
             ("attn_v.weight", wv), ("attn_output.weight", wo), ("ffn_norm.weight", ffnNorm),
             ("ffn_gate.weight", wGate), ("ffn_up.weight", wUp), ("ffn_down.weight", wDown)]
        }
    }

    /// All-zero parameters of the given shape (the loader fills them in place).
    init(zeros config: LlamaConfig) throws {
        try config.validate()
        self.config = config
        tokenEmbedding = Tensor(zeros: [config.vocabSize, config.dim], requiresGrad: true)
        blocks = (0..<config.layers).map { _ in Block(config) }
        outputNorm = Tensor(zeros: [config.dim], requiresGrad: true)
    }

    /// A randomly initialised decoder (tests, toy runs): matrices ~ N(0, std²), output
    /// projections (wo, wDown) scaled by 1/√(2·layers) as in GPT-2, norm gains 1.
    public convenience init(random config: LlamaConfig, std: Float = 0.02, using rng: inout SplitMix64) throws {
        try self.init(zeros: config)
        let residualStd = std / Float(2 * config.layers).squareRoot()
        for (name, t) in parameters {
            if t.rank == 1 {
                t.withUnsafeMutableBufferPointer { $0.update(repeating: 1) }
            } else {
                let s = name.hasSuffix("attn_output.weight") || name.hasSuffix("ffn_down.weight") ? residualStd : std
                t.withUnsafeMutableBufferPointer { t in for i in t.indices { t[i] = rng.nextGaussian() * s } }
            }
        }
    }

    /// Every parameter with its GGUF name, in a fixed order: `token_embd.weight`, then each
    /// block's nine tensors (`blk.N.attn_norm.weight`, …, `blk.N.ffn_down.weight`), then
    /// `output_norm.weight`. Optimizer state is indexed by position in this list.
    public var parameters: [(name: String, tensor: Tensor)] {
        var list: [(name: String, tensor: Tensor)] = [("token_embd.weight", tokenEmbedding)]
        for (l, b) in blocks.enumerated() {
            for (suffix, t) in b.named { list.append(("blk.\(l).\(suffix)", t)) }
        }
        list.append(("output_norm.weight", outputNorm))
        return list
    }

    /// Grows the vocabulary by `count` tokens (new ids `V ..< V+count`): the embedding (and the
    /// tied head) gets `count` rows appended, with values `initialRows` ([count, D], row-major)
    /// chosen by the caller (random, mean, SA-Init, …). Replaces `tokenEmbedding` with a new
    /// tensor, so call it before creating an optimizer (its state is per parameter tensor); the
    /// old gradient is dropped.
    public func addTokens(count: Int, initialRows: [Float]) {
        precondition(count >= 0, "addTokens: negative count \(count)")
        precondition(initialRows.count == count * config.dim,
                     "addTokens: \(initialRows.count) values for \(count) rows of \(config.dim)")
        guard count > 0 else { return }
        let old = tokenEmbedding
        let grown = Tensor(uninitialized: [config.vocabSize + count, config.dim], requiresGrad: true)
        let n = old.count
        withPointers(grown, old) { grown, old in                 // the [V, D] rows, then the [count, D] new ones
            grown.update(from: old, count: n)
            initialRows.withUnsafeBufferPointer { (grown + n).update(from: $0.baseAddress!, count: $0.count) }
        }
        tokenEmbedding = grown
        config.vocabSize += count
    }

    // MARK: - Training forward (autograd)

    /// Hidden states after the final norm: tokens [B·T] (row-major [B, T]) → [B·T, D].
    ///
    /// `keyValid` ([B·T], false = padding) masks padded keys; use right padding, since
    /// positions are `t` within each sequence (a padded query row's output is garbage that the
    /// loss must ignore). Every op goes through `tape`, so `tape.backward(from:)` reaches all
    /// parameters; a non-recording tape (`Tape(recording: false)`) builds no graph.
    public func forward(tape: Tape, tokens: [Int32], batch: Int, seq: Int, keyValid: [Bool]? = nil) -> Tensor {
        let c = config
        precondition(tokens.count == batch * seq, "forward: \(tokens.count) tokens for batch \(batch) × seq \(seq)")
        precondition(keyValid == nil || keyValid!.count == tokens.count, "forward: keyValid must have B·T entries")
        precondition(tokens.allSatisfy { $0 >= 0 && Int($0) < c.vocabSize }, "forward: token id outside 0..<\(c.vocabSize)")
        let positions = (0..<tokens.count).map { Int32($0 % seq) }
        let x = decoderStack(tape: tape, tape.embedding(tokenEmbedding, ids: tokens), positions: positions) { q, k, v in
            tape.attention(q: q, k: k, v: v, batch: batch, seq: seq, heads: c.heads, kvHeads: c.kvHeads, keyValid: keyValid)
        }                                                                                        // [N, D]
        return tape.rmsNorm(x, weight: outputNorm, eps: c.rmsEps)
    }

    /// The decoder blocks over rows x [N, D] at `positions` [N] → [N, D] (before the final norm).
    /// `attention(q, k, v)` ([N, H·Dh], [N, Hkv·Dh] twice → [N, H·Dh]) decides which rows each
    /// row sees: causal within each sequence (`forward`), or a shared prompt's rows and its own
    /// continuation's (`loss(tape:tokens:targets:batch:seq:sharedPrefix:)`, `completionLogits`).
    func decoderStack(tape: Tape, _ x: Tensor, positions: [Int32], attention: (Tensor, Tensor, Tensor) -> Tensor) -> Tensor {
        var x = x
        for b in blocks {
            let (q, k, v) = attentionInputs(tape: tape, x, b, positions: positions)              // [N, ·]
            x = tape.add(x, tape.matmul(attention(q, k, v), b.wo, transposeB: true))             // [N, D]
            x = tape.add(x, feedForward(tape: tape, x, b))                                       // [N, D]
        }
        return x
    }

    /// LM head: hidden [N, D] → logits [N, V] = h · Eᵀ (tied embedding).
    public func logits(tape: Tape, hidden: Tensor) -> Tensor {
        tape.matmul(hidden, tokenEmbedding, transposeB: true)
    }

    /// Mean next-token cross-entropy over the positions whose target is not `ignoreIndex`.
    ///
    /// tokens, targets: [B·T] (targets are usually tokens shifted left by one, with prompt and
    /// padding positions set to `ignoreIndex`). Only the kept rows go through the LM head
    /// (gatherRows before the [n, V] matmul), so response-only loss costs n·V·D, not B·T·V·D.
    /// If no position is kept the result is a constant 0 with `requiresGrad == false`
    /// (skip `backward` then). `targetWeights` [B·T]: the weighted sum Σ w_t loss_t over the
    /// kept positions instead of their mean (`Tape.linearCrossEntropy(rowWeights:)`).
    public func loss(tape: Tape, tokens: [Int32], targets: [Int32], batch: Int, seq: Int,
                     keyValid: [Bool]? = nil, ignoreIndex: Int32 = -100, targetWeights: [Float]? = nil) -> Tensor {
        precondition(targets.count == tokens.count, "loss: \(targets.count) targets for \(tokens.count) tokens")
        precondition(targetWeights.map { $0.count == targets.count } ?? true, "loss: \(targetWeights?.count ?? 0) weights for \(targets.count) targets")
        let rows = targets.indices.filter { targets[$0] != ignoreIndex }
        guard !rows.isEmpty else { return Tensor(zeros: [1]) }
        precondition(rows.allSatisfy { targets[$0] >= 0 && Int(targets[$0]) < config.vocabSize },
                     "loss: target id outside 0..<\(config.vocabSize)")
        let hidden = forward(tape: tape, tokens: tokens, batch: batch, seq: seq, keyValid: keyValid)
        let kept = rows.count == tokens.count ? hidden : tape.gatherRows(hidden, rows: rows)     // [n, D]
        return tape.linearCrossEntropy(hidden: kept, weight: tokenEmbedding, targets: rows.map { targets[$0] },
                                       ignoreIndex: ignoreIndex, rowWeights: targetWeights.map { w in rows.map { w[$0] } })
    }

    /// `loss(tape:tokens:targets:batch:seq:)` for a batch whose sequences all begin with the same
    /// `sharedPrefix` tokens C, none of whose positions has a target (the prompt template): the
    /// prefix runs once and each sequence's other S = seq − C positions attend to it and to
    /// themselves (`Tape.prefixAttention` with one prompt of C rows and `batch` continuations), so
    /// the batch costs C + batch·S rows instead of batch·seq. Every row sees what it sees in its
    /// whole sequence, so the loss and the gradients are the same (tested; float rounding aside).
    public func loss(tape: Tape, tokens: [Int32], targets: [Int32], batch B: Int, seq: Int, sharedPrefix C: Int,
                     ignoreIndex: Int32 = -100, targetWeights: [Float]? = nil) -> Tensor {
        let c = config
        precondition(tokens.count == B * seq && targets.count == tokens.count,
                     "loss: \(tokens.count) tokens, \(targets.count) targets for batch \(B) × seq \(seq)")
        precondition(targetWeights.map { $0.count == targets.count } ?? true, "loss: \(targetWeights?.count ?? 0) weights for \(targets.count) targets")
        precondition(C >= 1 && C < seq, "loss: shared prefix \(C) outside 1..<\(seq)")
        let S = seq - C
        for g in 1..<max(B, 1) {
            precondition(tokens[(g * seq)..<(g * seq + C)].elementsEqual(tokens[0..<C]), "loss: sequence \(g) does not begin with the shared prefix")
        }
        for g in 0..<B {
            precondition(targets[(g * seq)..<(g * seq + C)].allSatisfy { $0 == ignoreIndex }, "loss: sequence \(g) has a target inside the shared prefix")
        }
        // [C] prefix rows, then [B·S] continuation rows (sequence g's positions C..<seq, padding included)
        let packed = Array(tokens[0..<C]) + (0..<B).flatMap { g in tokens[(g * seq + C)..<((g + 1) * seq)] }
        precondition(packed.allSatisfy { $0 >= 0 && Int($0) < c.vocabSize }, "loss: token id outside 0..<\(c.vocabSize)")
        let positions = (0..<C).map(Int32.init) + (0..<(B * S)).map { Int32(C + $0 % S) }
        let rows = targets.indices.filter { targets[$0] != ignoreIndex }      // original positions g·seq + t, t ≥ C
        guard !rows.isEmpty else { return Tensor(zeros: [1]) }
        precondition(rows.allSatisfy { targets[$0] >= 0 && Int(targets[$0]) < c.vocabSize }, "loss: target id outside 0..<\(c.vocabSize)")
        let x = decoderStack(tape: tape, tape.embedding(tokenEmbedding, ids: packed), positions: positions) { q, k, v in
            tape.prefixAttention(q: q, k: k, v: v, lengths: [C], seq: C, group: B, suffix: S, heads: c.heads, kvHeads: c.kvHeads)
        }                                                                                        // [C + B·S, D]
        let kept = tape.gatherRows(x, rows: rows.map { i in C + (i / seq) * S + (i % seq - C) })  // [n, D]
        return tape.linearCrossEntropy(hidden: tape.rmsNorm(kept, weight: outputNorm, eps: c.rmsEps), weight: tokenEmbedding,
                                       targets: rows.map { targets[$0] }, ignoreIndex: ignoreIndex,
                                       rowWeights: targetWeights.map { w in rows.map { w[$0] } })
    }
}
