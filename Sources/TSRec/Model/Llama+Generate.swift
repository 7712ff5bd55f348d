/// Inference with a KV cache: no graph is built (ops run on a non-recording tape, which
/// allocates outputs but records nothing), and decoding runs all beams as one batch, so every
/// projection is a GEMM with M = beams rather than a GEMV.
extension Llama {
    /// A cache sized for up to `maxPrompts` prompts of up to `promptCapacity` tokens each,
    /// `maxNewTokens` generated tokens and `maxBeams` beams in all.
    public func makeCache(promptCapacity: Int, maxNewTokens: Int, maxBeams: Int = 1, maxPrompts: Int = 1) -> KVCache {
        KVCache(layers: config.layers, kvDim: config.kvDim, prefixCapacity: promptCapacity,
                suffixCapacity: maxNewTokens, maxBeams: maxBeams, maxPrompts: maxPrompts)
    }

    /// Runs one prompt (see `prefill(prompts:cache:)`); returns its last position's logits [1, V].
    public func prefill(_ tokens: [Int32], cache: KVCache) -> Tensor {
        prefill(prompts: [tokens], cache: cache)
    }

    /// Runs the prompts as one right-padded batch, storing each prompt's keys/values as its
    /// shared prefix in the cache (which is reset first and holds one beam per prompt
    /// afterwards, beam p = prompt p). Returns the logits of each prompt's last position, [G, V].
    /// With `shared`, the prompts that all extend it run only their own tokens (`SharedPrefix`).
    public func prefill(prompts: [[Int32]], cache: KVCache, shared: SharedPrefix? = nil) -> Tensor {
        logits(tape: Tape(recording: false), hidden: prefillHidden(prompts: prompts, cache: cache, shared: shared))
    }

    /// `prefill(prompts:cache:)` without the LM head: each prompt's last hidden state after the
    /// final norm, [G, D] (score a subset of the vocabulary with `logits(hidden:tokens:)`).
    public func prefillHidden(prompts: [[Int32]], cache: KVCache) -> Tensor {
        let c = config
        let G = prompts.count, lengths = prompts.map(\.count), T = lengths.max() ?? 0
        precondition(cache.layers == c.layers && cache.kvDim == c.kvDim, "prefill: cache made for another model")
        precondition(prompts.allSatisfy { $0.allSatisfy { $0 >= 0 && Int($0) < c.vocabSize } },
                     "prefill: token id outside 0..<\(c.vocabSize)")
        cache.reset(prefixLengths: lengths)                                                   // checks sizes
        let tape = Tape(recording: false)
        let tokens = prompts.flatMap { $0 + [Int32](repeating: 0, count: T - $0.count) }      // [G·T]
        let keyValid: [Bool]? = lengths.allSatisfy { $0 == T } ? nil : lengths.flatMap { n in (0..<T).map { $0 < n } }
        let positions = (0..<(G * T)).map { Int32($0 % T) }
        var x = tape.embedding(tokenEmbedding, ids: tokens)                                  // [G·T, D]
        for (l, b) in blocks.enumerated() {
            let (q, k, v) = attentionInputs(tape: tape, x, b, positions: positions)          // [G·T, ·]
            for (p, n) in lengths.enumerated() {
                let o = cache.prefixOffset(prompt: p)
                cache.prefixK[l].update(at: o, from: k.storage, at: p * T * c.kvDim, count: n * c.kvDim)
                cache.prefixV[l].update(at: o, from: v.storage, at: p * T * c.kvDim, count: n * c.kvDim)
            }
            let a = tape.attention(q: q, k: k, v: v, batch: G, seq: T, heads: c.heads, kvHeads: c.kvHeads, keyValid: keyValid)
            x = tape.add(x, tape.matmul(a, b.wo, transposeB: true))
            x = tape.add(x, feedForward(tape: tape, x, b))
        }
        let last = tape.gatherRows(x, rows: lengths.enumerated().map { $0 * T + $1 - 1 })    // [G, D]
        return tape.rmsNorm(last, weight: outputNorm, eps: c.rmsEps)
    }

    /// One decoding step for every beam: `tokens[b]` is beam b's newest token (at position
    /// `cache.position(ofBeam: b)`); its keys/values are appended to the beam's suffix. All beams
    /// of all prompts run as one batch. Returns the next-token logits, [beams, V].
    public func decode(_ tokens: [Int32], cache: KVCache) -> Tensor {
        logits(tape: Tape(recording: false), hidden: decodeHidden(tokens, cache: cache))
    }

    /// `decode(_:cache:)` without the LM head: each beam's hidden state after the final norm,
    /// [beams, D]. Constrained search that normalises over the allowed tokens only needs
    /// `logits(hidden:tokens:)` on those (|allowed|·D per beam instead of V·D).
    public func decodeHidden(_ tokens: [Int32], cache: KVCache) -> Tensor {
        decodeHidden(sequences: tokens.map { [$0] }, cache: cache)
    }

    /// Decoding several tokens per beam at once: beam b's tokens `sequences[b]` (n_b ≥ 1 of them)
    /// go to positions `cache.position(ofBeam: b)` + 0, 1, …, each attending to the beam's prompt,
    /// its suffix and the tokens before it in its sequence. Returns the hidden state after the
    /// final norm of every token, [Σ n_b, D], beam by beam in order (no padding: the rows of all
    /// beams run as one batch through every projection).
    ///
    /// The cache keeps beams in lock step, so its suffix advances by the shortest n_b; the keys
    /// and values of the tokens past that are written to their beam's slots (which must have room)
    /// but not kept: a forced path whose log-probabilities are all the search needs. With one
    /// token per beam this is `decodeHidden(_:cache:)`, the same arithmetic.
    public func decodeHidden(sequences: [[Int32]], cache: KVCache) -> Tensor {
        let c = config
        precondition(sequences.count == cache.beams, "decode: \(sequences.count) sequences for \(cache.beams) beams (use cache.select(parents:))")
        precondition(!cache.prefixLengths.isEmpty, "decode: prefill the cache first")
        precondition(sequences.allSatisfy { !$0.isEmpty }, "decode: an empty sequence")
        let s = cache.suffixLength
        let longest = sequences.map(\.count).max()!
        precondition(s + longest <= cache.suffixCapacity, "decode: cache full (\(s) + \(longest) new tokens, capacity \(cache.suffixCapacity))")
        let tokens = sequences.flatMap { $0 }                                               // [R]
        precondition(tokens.allSatisfy { $0 >= 0 && Int($0) < c.vocabSize }, "decode: token id outside 0..<\(c.vocabSize)")
        let rowBeam = sequences.indices.flatMap { b in [Int](repeating: b, count: sequences[b].count) }
        let rowOffset = sequences.flatMap { $0.indices }                                    // j within the beam's sequence
        let tape = Tape(recording: false)
        let positions = zip(rowBeam, rowOffset).map { Int32(cache.position(ofBeam: $0) + $1) }
        var groups = [[Int]](repeating: [], count: cache.prefixLengths.count)                // rows of each prompt
        for (row, b) in rowBeam.enumerated() { groups[cache.beamPrompts[b]].append(row) }
        let visible = rowOffset.map { s + $0 + 1 }                                          // suffix keys a row sees
        var x = tape.embedding(tokenEmbedding, ids: tokens)                                  // [R, D]
        for (l, b) in blocks.enumerated() {
            let (q, k, v) = attentionInputs(tape: tape, x, b, positions: positions)          // [R, ·]
            for row in rowBeam.indices {
                let o = cache.suffixOffset(beam: rowBeam[row], position: s + rowOffset[row])
                cache.suffixK[l].update(at: o, from: k.storage, at: row * c.kvDim, count: c.kvDim)
                cache.suffixV[l].update(at: o, from: v.storage, at: row * c.kvDim, count: c.kvDim)
            }
            let a = cachedAttention(q: q, cache: cache, layer: l, groups: groups, rowBeams: rowBeam, visibleSuffix: visible) // [R, H·Dh]
            x = tape.add(x, tape.matmul(a, b.wo, transposeB: true))
            x = tape.add(x, feedForward(tape: tape, x, b))
        }
        cache.suffixLength = s + sequences.map(\.count).min()!
        return tape.rmsNorm(x, weight: outputNorm, eps: c.rmsEps)
    }

    /// Logits of selected vocabulary entries: hidden [M, D] → [M, tokens.count], column j =
    /// h · E[tokens[j]] (the tied head restricted to those rows).
    public func logits(hidden: Tensor, tokens: [Int32]) -> Tensor {
        let (M, D) = hidden.dims2()
        precondition(D == config.dim, "logits(hidden:tokens:): hidden \(hidden.shape), dim \(config.dim)")
        precondition(tokens.allSatisfy { $0 >= 0 && Int($0) < config.vocabSize }, "logits: token id outside 0..<\(config.vocabSize)")
        let rows = Tensor(uninitialized: [tokens.count, D], requiresGrad: false)      // E[tokens]
        for (j, t) in tokens.enumerated() {
            rows.storage.update(at: j * D, from: tokenEmbedding.storage, at: Int(t) * D, count: D)
        }
        let out = Tensor(uninitialized: [M, tokens.count], requiresGrad: false)
        withPointers(out, hidden, rows) { out, hidden, rows in
            sgemm(transA: false, transB: true, m: M, n: tokens.count, k: D, a: hidden, b: rows, c: out)
        }
        return out
    }

    /// The `k` largest next-token logits after `tokens` (ties: the lower id first), from one
    /// fresh prefill: what `tsrec logits` prints.
    public func topNextTokens(after tokens: [Int32], k: Int) -> [(id: Int, logit: Float)] {
        let cache = makeCache(promptCapacity: tokens.count, maxNewTokens: 1)
        let logits = prefill(tokens, cache: cache).array                     // [1, V], copied out
        let order = logits.indices.sorted { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }.prefix(k)
        return order.map { (id: $0, logit: logits[$0]) }
    }

    /// Greedy decoding for the CLI: the prompt's continuation, at most `maxTokens` ids,
    /// stopping after the first id in `stop` (which is included).
    public func generate(prompt: [Int32], maxTokens: Int, stop: Set<Int32> = []) -> [Int32] {
        guard maxTokens > 0 else { return [] }
        let cache = makeCache(promptCapacity: prompt.count, maxNewTokens: maxTokens, maxBeams: 1)
        var logits = prefill(prompt, cache: cache)
        var out: [Int32] = []
        while true {
            let next = Int32(logits.withPointer { argmax($0, count: config.vocabSize) })
            out.append(next)
            if stop.contains(next) || out.count == maxTokens { return out }
            logits = decode([next], cache: cache)
        }
    }

    /// Block b's attention inputs for rows x [N, D] at `positions`: with h = rmsNorm(x),
    /// q = rope(h Wqᵀ) [N, H·Dh], k = rope(h Wkᵀ) [N, Hkv·Dh], v = h Wvᵀ [N, Hkv·Dh].
    func attentionInputs(tape: Tape, _ x: Tensor, _ b: Block, positions: [Int32]) -> (q: Tensor, k: Tensor, v: Tensor) {
        let c = config
        let h = tape.rmsNorm(x, weight: b.attnNorm, eps: c.rmsEps)
        let q = tape.rope(tape.matmul(h, b.wq, transposeB: true), heads: c.heads, positions: positions, base: c.ropeBase)
        let k = tape.rope(tape.matmul(h, b.wk, transposeB: true), heads: c.kvHeads, positions: positions, base: c.ropeBase)
        return (q, k, tape.matmul(h, b.wv, transposeB: true))
    }

    /// silu(h Wgateᵀ) ⊙ (h Wupᵀ) Wdownᵀ with h = rmsNorm(x): [M, D] → [M, D].
    func feedForward(tape: Tape, _ x: Tensor, _ b: Block) -> Tensor {
        let h = tape.rmsNorm(x, weight: b.ffnNorm, eps: config.rmsEps)
        let g = tape.matmul(h, b.wGate, transposeB: true)
        let u = tape.matmul(h, b.wUp, transposeB: true)
        return tape.matmul(tape.swiglu(gate: g, up: u), b.wDown, transposeB: true)
    }

    /// Attention of each query row over its beam's prompt prefix and the first `visibleSuffix[row]`
    /// suffix keys of its beam (its own included: causal within a beam's new tokens):
    /// q [R, H·Dh] → [R, H·Dh], softmax(q Kᵀ/√Dh) V with grouped-query heads. `rowBeams[row]` is
    /// the row's beam, `groups[p]` the rows of prompt p's beams.
    ///
    /// For prompt p and kv head g, the r = H/Hkv query heads of p's rows are packed into
    /// Q [rows_p·r, Dh], so the prefix part is two GEMMs shared by those rows
    /// (Q K_gᵀ: [rows_p·r, P_p]; then · V_g: [rows_p·r, Dh]); the suffix keys are dot products.
    func cachedAttention(q: Tensor, cache: KVCache, layer l: Int, groups: [[Int]], rowBeams: [Int], visibleSuffix: [Int]) -> Tensor {
        let c = config
        let (R, width) = q.dims2()
        precondition(width == c.qDim && rowBeams.count == R && visibleSuffix.count == R, "cachedAttention: q \(q.shape)")
        let Dh = c.headDim, r = c.heads / c.kvHeads, kvDim = c.kvDim, qDim = c.qDim
        let scale = 1 / Float(Dh).squareRoot()
        let maxRows = (groups.map(\.count).max() ?? 0) * r
        let maxL = (cache.prefixLengths.max() ?? 0) + (visibleSuffix.max() ?? 0)
        let out = Tensor(uninitialized: [R, qDim], requiresGrad: false)
        let qg = UnsafeMutablePointer<Float>.allocate(capacity: max(maxRows * Dh, 1))
        let og = UnsafeMutablePointer<Float>.allocate(capacity: max(maxRows * Dh, 1))
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(maxRows * maxL, 1))
        defer { qg.deallocate(); og.deallocate(); scores.deallocate() }
        withPointers(q, out) { q, out in                     // [R, H·Dh] each
            cache.withLayer(l) { prefixK, prefixV, sK, sV in
                for (p, rows) in groups.enumerated() where !rows.isEmpty {
                    let P = cache.prefixLengths[p], L = P + rows.map { visibleSuffix[$0] }.max()!, Rp = rows.count * r
                    let pK = prefixK.advanced(by: cache.prefixOffset(prompt: p))
                    let pV = prefixV.advanced(by: cache.prefixOffset(prompt: p))
                    for g in 0..<c.kvHeads {
                        for (i, row) in rows.enumerated() {             // pack: row i·r + j = query row i, head g·r + j
                            qg.advanced(by: i * r * Dh).update(from: q.advanced(by: row * qDim + g * r * Dh), count: r * Dh)
                        }
                        // prefix scores [Rp, P] (columns 0..<P of the [Rp, L] score matrix)
                        sgemm(transA: false, transB: true, m: Rp, n: P, k: Dh, alpha: scale, a: qg, lda: Dh,
                              b: pK.advanced(by: g * Dh), ldb: kvDim, beta: 0, c: scores, ldc: L)
                        for packed in 0..<Rp {
                            let row = rows[packed / r], b = rowBeams[row], S = visibleSuffix[row]
                            let qrow = qg.advanced(by: packed * Dh), srow = scores.advanced(by: packed * L)
                            for t in 0..<S {                            // suffix scores, columns P..<P+S
                                srow[P + t] = Kernels.dot(qrow, sK.advanced(by: cache.suffixOffset(beam: b, position: t) + g * Dh), Dh) * scale
                            }
                            let mx = Kernels.rowMax(srow, P + S)         // softmax over the P + S keys
                            var z: Float = 0
                            for j in 0..<(P + S) { let e = Kernels.exp(srow[j] - mx); srow[j] = e; z += e }
                            let inv = 1 / z
                            for j in 0..<(P + S) { srow[j] *= inv }
                        }
                        // O = P_prefix V_g [Rp, Dh], then the suffix terms
                        sgemm(transA: false, transB: false, m: Rp, n: Dh, k: P, a: scores, lda: L,
                              b: pV.advanced(by: g * Dh), ldb: kvDim, beta: 0, c: og, ldc: Dh)
                        for packed in 0..<Rp {
                            let row = rows[packed / r], b = rowBeams[row]
                            let orow = og.advanced(by: packed * Dh), srow = scores.advanced(by: packed * L)
                            for t in 0..<visibleSuffix[row] {
                                let w = srow[P + t]
                                let vrow = sV.advanced(by: cache.suffixOffset(beam: b, position: t) + g * Dh)
                                for i in 0..<Dh { orow[i] += w * vrow[i] }
                            }
                        }
                        for (i, row) in rows.enumerated() {             // unpack
                            out.advanced(by: row * qDim + g * r * Dh).update(from: og.advanced(by: i * r * Dh), count: r * Dh)
                        }
                    }
                }
            }
        }
        return out
    }
}

/// Index of the largest of `count` floats (the first one on ties).
func argmax(_ p: UnsafePointer<Float>, count: Int) -> Int {
    var best = 0
    for i in 1..<max(count, 1) where p[i] > p[best] { best = i }
    return best
}
