/// Inference with a KV cache: no graph is built (ops run on a non-recording tape, which
/// allocates outputs but records nothing), and decoding runs all beams as one batch, so every
/// projection is a GEMM with M = beams rather than a GEMV.
extension Llama {
    /// A cache sized for prompts of up to `promptCapacity` tokens, `maxNewTokens` generated
    /// tokens and `maxBeams` beams.
    public func makeCache(promptCapacity: Int, maxNewTokens: Int, maxBeams: Int = 1) -> KVCache {
        KVCache(layers: config.layers, kvDim: config.kvDim, prefixCapacity: promptCapacity,
                suffixCapacity: maxNewTokens, maxBeams: maxBeams)
    }

    /// Runs the prompt through the model, storing its keys/values as the cache's shared
    /// prefix (the cache is reset first; one beam afterwards). Returns the logits of the last
    /// position, [1, V].
    public func prefill(_ tokens: [Int32], cache: KVCache) -> Tensor {
        let c = config
        let T = tokens.count
        precondition(T >= 1 && T <= cache.prefixCapacity, "prefill: \(T) tokens, cache holds \(cache.prefixCapacity)")
        precondition(cache.layers == c.layers && cache.kvDim == c.kvDim, "prefill: cache made for another model")
        precondition(tokens.allSatisfy { $0 >= 0 && Int($0) < c.vocabSize }, "prefill: token id outside 0..<\(c.vocabSize)")
        cache.reset()
        let tape = Tape(recording: false)
        let positions = (0..<T).map { Int32($0) }
        var x = tape.embedding(tokenEmbedding, ids: tokens)                                  // [T, D]
        for (l, b) in blocks.enumerated() {
            let h = tape.rmsNorm(x, weight: b.attnNorm, eps: c.rmsEps)
            let q = tape.rope(tape.matmul(h, b.wq, transposeB: true), heads: c.heads, positions: positions, base: c.ropeBase)
            let k = tape.rope(tape.matmul(h, b.wk, transposeB: true), heads: c.kvHeads, positions: positions, base: c.ropeBase)
            let v = tape.matmul(h, b.wv, transposeB: true)                                   // [T, Hkv·Dh]
            cache.prefixK[l].pointer.update(from: k.pointer, count: T * c.kvDim)
            cache.prefixV[l].pointer.update(from: v.pointer, count: T * c.kvDim)
            let a = tape.attention(q: q, k: k, v: v, batch: 1, seq: T, heads: c.heads, kvHeads: c.kvHeads, keyValid: nil)
            x = tape.add(x, tape.matmul(a, b.wo, transposeB: true))
            x = tape.add(x, feedForward(tape: tape, x, b))
        }
        cache.prefixLength = T
        let last = tape.gatherRows(x, rows: [T - 1])                                         // [1, D]
        return logits(tape: tape, hidden: tape.rmsNorm(last, weight: outputNorm, eps: c.rmsEps))
    }

    /// One decoding step for every beam: `tokens[b]` is beam b's newest token (at position
    /// `cache.length`); its keys/values are appended to the beam's suffix. Returns the next-token
    /// logits, [beams, V].
    public func decode(_ tokens: [Int32], cache: KVCache) -> Tensor {
        let c = config
        let M = tokens.count
        precondition(M == cache.beams, "decode: \(M) tokens for \(cache.beams) beams (use cache.select(parents:))")
        precondition(cache.prefixLength >= 1, "decode: prefill the cache first")
        precondition(cache.suffixLength < cache.suffixCapacity, "decode: cache full (\(cache.suffixCapacity) new tokens)")
        precondition(tokens.allSatisfy { $0 >= 0 && Int($0) < c.vocabSize }, "decode: token id outside 0..<\(c.vocabSize)")
        let tape = Tape(recording: false)
        let s = cache.suffixLength
        let positions = [Int32](repeating: Int32(cache.length), count: M)
        var x = tape.embedding(tokenEmbedding, ids: tokens)                                  // [M, D]
        for (l, b) in blocks.enumerated() {
            let h = tape.rmsNorm(x, weight: b.attnNorm, eps: c.rmsEps)
            let q = tape.rope(tape.matmul(h, b.wq, transposeB: true), heads: c.heads, positions: positions, base: c.ropeBase)
            let k = tape.rope(tape.matmul(h, b.wk, transposeB: true), heads: c.kvHeads, positions: positions, base: c.ropeBase)
            let v = tape.matmul(h, b.wv, transposeB: true)                                   // [M, Hkv·Dh]
            for beam in 0..<M {
                let o = cache.suffixOffset(beam: beam, position: s)
                cache.suffixK[l].pointer.advanced(by: o).update(from: k.pointer.advanced(by: beam * c.kvDim), count: c.kvDim)
                cache.suffixV[l].pointer.advanced(by: o).update(from: v.pointer.advanced(by: beam * c.kvDim), count: c.kvDim)
            }
            let a = cachedAttention(q: q, cache: cache, layer: l, suffixLength: s + 1)        // [M, H·Dh]
            x = tape.add(x, tape.matmul(a, b.wo, transposeB: true))
            x = tape.add(x, feedForward(tape: tape, x, b))
        }
        cache.suffixLength = s + 1
        return logits(tape: tape, hidden: tape.rmsNorm(x, weight: outputNorm, eps: c.rmsEps))
    }

    /// Greedy decoding for the CLI: the prompt's continuation, at most `maxTokens` ids,
    /// stopping after the first id in `stop` (which is included).
    public func generate(prompt: [Int32], maxTokens: Int, stop: Set<Int32> = []) -> [Int32] {
        guard maxTokens > 0 else { return [] }
        let cache = makeCache(promptCapacity: prompt.count, maxNewTokens: maxTokens, maxBeams: 1)
        var logits = prefill(prompt, cache: cache)
        var out: [Int32] = []
        while true {
            let next = Int32(argmax(logits.pointer, count: config.vocabSize))
            out.append(next)
            if stop.contains(next) || out.count == maxTokens { return out }
            logits = decode([next], cache: cache)
        }
    }

    /// silu(h Wgateᵀ) ⊙ (h Wupᵀ) Wdownᵀ with h = rmsNorm(x): [M, D] → [M, D].
    func feedForward(tape: Tape, _ x: Tensor, _ b: Block) -> Tensor {
        let h = tape.rmsNorm(x, weight: b.ffnNorm, eps: config.rmsEps)
        let g = tape.matmul(h, b.wGate, transposeB: true)
        let u = tape.matmul(h, b.wUp, transposeB: true)
        return tape.matmul(tape.swiglu(gate: g, up: u), b.wDown, transposeB: true)
    }

    /// Attention of each beam's newest query over the shared prefix and its own suffix:
    /// q [M, H·Dh] → [M, H·Dh], softmax(q Kᵀ/√Dh) V with grouped-query heads.
    ///
    /// Per kv head g the r = H/Hkv query heads of all M beams are packed into Q_g [M·r, Dh], so
    /// the prefix part is two GEMMs shared by all beams (Q_g K_gᵀ: [M·r, P]; P_g V_g: [M·r, Dh]);
    /// the ≤ S suffix keys of each beam are plain dot products.
    func cachedAttention(q: Tensor, cache: KVCache, layer l: Int, suffixLength S: Int) -> Tensor {
        let c = config
        let (M, width) = q.dims2()
        precondition(width == c.qDim && M == cache.beams, "cachedAttention: q \(q.shape)")
        let Dh = c.headDim, r = c.heads / c.kvHeads, kvDim = c.kvDim
        let P = cache.prefixLength, L = P + S, R = M * r
        let scale = 1 / Float(Dh).squareRoot()
        let out = Tensor(uninitialized: [M, c.qDim], requiresGrad: false)
        let qg = UnsafeMutablePointer<Float>.allocate(capacity: R * Dh)
        let og = UnsafeMutablePointer<Float>.allocate(capacity: R * Dh)
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: R * L)
        defer { qg.deallocate(); og.deallocate(); scores.deallocate() }
        let pK = cache.prefixK[l].pointer, pV = cache.prefixV[l].pointer
        let sK = cache.suffixK[l].pointer, sV = cache.suffixV[l].pointer
        for g in 0..<c.kvHeads {
            for b in 0..<M {                                    // pack Q_g: row b·r + j = beam b, head g·r + j
                qg.advanced(by: b * r * Dh).update(from: q.pointer.advanced(by: b * c.qDim + g * r * Dh), count: r * Dh)
            }
            // prefix scores [R, P] (columns 0..<P of the [R, L] score matrix)
            sgemm(transA: false, transB: true, m: R, n: P, k: Dh, alpha: scale, a: qg, lda: Dh,
                  b: pK.advanced(by: g * Dh), ldb: kvDim, beta: 0, c: scores, ldc: L)
            for row in 0..<R {
                let b = row / r
                let qrow = qg.advanced(by: row * Dh), srow = scores.advanced(by: row * L)
                for t in 0..<S {                                // suffix scores, columns P..<L
                    let krow = sK.advanced(by: cache.suffixOffset(beam: b, position: t) + g * Dh)
                    srow[P + t] = Kernels.dot(qrow, krow, Dh) * scale
                }
                let mx = Kernels.rowMax(srow, L)                 // softmax over the L keys
                var z: Float = 0
                for j in 0..<L { let e = Kernels.exp(srow[j] - mx); srow[j] = e; z += e }
                let inv = 1 / z
                for j in 0..<L { srow[j] *= inv }
            }
            // O_g = P_prefix V_g [R, Dh], then the suffix terms
            sgemm(transA: false, transB: false, m: R, n: Dh, k: P, a: scores, lda: L,
                  b: pV.advanced(by: g * Dh), ldb: kvDim, beta: 0, c: og, ldc: Dh)
            for row in 0..<R {
                let b = row / r
                let orow = og.advanced(by: row * Dh), srow = scores.advanced(by: row * L)
                for t in 0..<S {
                    let p = srow[P + t]
                    let vrow = sV.advanced(by: cache.suffixOffset(beam: b, position: t) + g * Dh)
                    for i in 0..<Dh { orow[i] += p * vrow[i] }
                }
            }
            for b in 0..<M {                                    // unpack
                out.pointer.advanced(by: b * c.qDim + g * r * Dh).update(from: og.advanced(by: b * r * Dh), count: r * Dh)
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
