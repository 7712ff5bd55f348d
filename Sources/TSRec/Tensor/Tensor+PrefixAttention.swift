/// Attention for many short continuations of a few prompts (the RL stage's completions): each
/// prompt's tokens are computed once and its G continuations attend to them, instead of G
/// copies of prompt + continuation. Rows of q, k, v (`[R, width]`, R = P·T + P·G·S):
///
///     prompt rows        p·T + t               (P prompts right-padded to T; causal, key padding)
///     continuation rows  P·T + (p·G + g)·S + s (G continuations of S tokens per prompt)
///
/// A prompt row sees the earlier keys of its prompt (causal attention as in `attention`). A
/// continuation row (p, g, s) sees prompt p's first `lengths[p]` keys and its own continuation's
/// keys 0...s: exactly what it sees in the sequence prompt_p + continuation, so the outputs equal
/// those of `attention` on the concatenated sequences (tested), at the cost of P·T + P·G·S rows.

// MARK: - Kernels

extension Kernels {
    /// Softmax in place over one continuation row `[T + S]` whose visible keys are the prefix
    /// columns j < `prefix` and the continuation columns T + j for j ≤ `step`; others become 0.
    @inline(__always)
    static func prefixSoftmaxRow(_ s: UnsafeMutablePointer<Float>, T: Int, S: Int, prefix: Int, step: Int) {
        var m = -Float.infinity
        for j in 0..<prefix { m = s[j] > m ? s[j] : m }
        for j in 0...step { m = s[T + j] > m ? s[T + j] : m }
        var total: Float = 0
        for j in 0..<prefix { let e = exp(s[j] - m); s[j] = e; total += e }
        for j in prefix..<T { s[j] = 0 }
        for j in 0...step { let e = exp(s[T + j] - m); s[T + j] = e; total += e }
        for j in (step + 1)..<S { s[T + j] = 0 }
        let inv = 1 / total
        for j in 0..<prefix { s[j] *= inv }
        for j in 0...step { s[T + j] *= inv }
    }

    /// The continuation part of the forward pass. q, out: `[R, H·Dh]`; k, v: `[R, Hkv·Dh]` (whole
    /// packed tensors; prompt rows are read as keys only). probs: `[P, H, G·S, T + S]`, saved for
    /// backward (prefix columns, then continuation columns).
    static func prefixAttentionForward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                                       q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                       lengths: [Int], seq T: Int, group G: Int, suffix S: Int,
                                       heads H: Int, kvHeads Hkv: Int, headDim Dh: Int) {
        let P = lengths.count, ldq = H * Dh, ldkv = Hkv * Dh, perKV = H / Hkv
        let scale = 1 / Float(Dh).squareRoot()
        let rows = G * S, width = T + S, base = P * T
        for p in 0..<P {
            for h in 0..<H {
                let pr = probs + (p * H + h) * rows * width
                let qb = q + (base + p * rows) * ldq + h * Dh
                let kvCol = (h / perKV) * Dh
                // prefix scores [G·S, len]
                sgemm(transA: false, transB: true, m: rows, n: lengths[p], k: Dh, alpha: scale,
                      a: qb, lda: ldq, b: k + p * T * ldkv + kvCol, ldb: ldkv, c: pr, ldc: width)
                for g in 0..<G {                                    // own continuation scores [S, S]
                    sgemm(transA: false, transB: true, m: S, n: S, k: Dh, alpha: scale,
                          a: qb + g * S * ldq, lda: ldq, b: k + (base + (p * G + g) * S) * ldkv + kvCol, ldb: ldkv,
                          c: pr + g * S * width + T, ldc: width)
                }
            }
        }
        parallelChunks(P * H * rows, costPerItem: 4 * width) { chunk in
            for r in chunk {
                let p = r / (H * rows), s = r % S
                prefixSoftmaxRow(probs + r * width, T: T, S: S, prefix: lengths[p], step: s)
            }
        }
        for p in 0..<P {
            for h in 0..<H {
                let pr = probs + (p * H + h) * rows * width
                let ob = out + (base + p * rows) * ldq + h * Dh
                let kvCol = (h / perKV) * Dh
                // out = P_prefix V_prefix  [G·S, Dh]
                sgemm(transA: false, transB: false, m: rows, n: Dh, k: lengths[p], a: pr, lda: width,
                      b: v + p * T * ldkv + kvCol, ldb: ldkv, c: ob, ldc: ldq)
                for g in 0..<G {                                    // += P_own V_own  [S, Dh]
                    sgemm(transA: false, transB: false, m: S, n: Dh, k: S, a: pr + g * S * width + T, lda: width,
                          b: v + (base + (p * G + g) * S) * ldkv + kvCol, ldb: ldkv, beta: 1,
                          c: ob + g * S * ldq, ldc: ldq)
                }
            }
        }
    }

    /// Backward of the continuation part (softmax Jacobian as in `attentionBackward`), per
    /// prompt p and head h with Q, dO the block of p's G·S continuation rows:
    ///   dP = dO Vᵀ (prefix and own columns), dS = P ⊙ (dP − rowsum(P ⊙ dP)),
    ///   dQ += c (dS_prefix K_prefix + dS_own K_own),
    ///   dK_prefix += c dS_prefixᵀ Q, dV_prefix += P_prefixᵀ dO  (summed over the G continuations),
    ///   dK_own += c dS_ownᵀ Q_own, dV_own += P_ownᵀ dO_own.
    /// `scratch` `[P, H, G·S, T + S]`. Any of dq, dk, dv may be nil.
    static func prefixAttentionBackward(dq: UnsafeMutablePointer<Float>?, dk: UnsafeMutablePointer<Float>?,
                                        dv: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>,
                                        probs: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                                        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                        lengths: [Int], seq T: Int, group G: Int, suffix S: Int,
                                        heads H: Int, kvHeads Hkv: Int, headDim Dh: Int) {
        let P = lengths.count, ldq = H * Dh, ldkv = Hkv * Dh, perKV = H / Hkv
        let scale = 1 / Float(Dh).squareRoot()
        let rows = G * S, width = T + S, base = P * T
        for p in 0..<P {
            for h in 0..<H {
                let pr = probs + (p * H + h) * rows * width
                let ob = dout + (base + p * rows) * ldq + h * Dh
                let kvCol = (h / perKV) * Dh
                if let dv {
                    sgemm(transA: true, transB: false, m: lengths[p], n: Dh, k: rows, a: pr, lda: width, b: ob, ldb: ldq,
                          beta: 1, c: dv + p * T * ldkv + kvCol, ldc: ldkv)
                    for g in 0..<G {
                        sgemm(transA: true, transB: false, m: S, n: Dh, k: S, a: pr + g * S * width + T, lda: width,
                              b: ob + g * S * ldq, ldb: ldq, beta: 1, c: dv + (base + (p * G + g) * S) * ldkv + kvCol, ldc: ldkv)
                    }
                }
                guard dq != nil || dk != nil else { continue }
                let sc = scratch + (p * H + h) * rows * width
                sc.update(repeating: 0, count: rows * width)
                sgemm(transA: false, transB: true, m: rows, n: lengths[p], k: Dh, a: ob, lda: ldq,
                      b: v + p * T * ldkv + kvCol, ldb: ldkv, c: sc, ldc: width)
                for g in 0..<G {
                    sgemm(transA: false, transB: true, m: S, n: S, k: Dh, a: ob + g * S * ldq, lda: ldq,
                          b: v + (base + (p * G + g) * S) * ldkv + kvCol, ldb: ldkv, c: sc + g * S * width + T, ldc: width)
                }
            }
        }
        guard dq != nil || dk != nil else { return }
        parallelChunks(P * H * rows, costPerItem: 4 * width) { chunk in    // dS = P ⊙ (dP − Σ P⊙dP), in place
            for r in chunk {
                let pr = probs + r * width, g = scratch + r * width
                let inner = dot(pr, g, width)
                for j in 0..<width { g[j] = pr[j] * (g[j] - inner) }
            }
        }
        for p in 0..<P {
            for h in 0..<H {
                let ds = scratch + (p * H + h) * rows * width
                let qOff = (base + p * rows) * ldq + h * Dh
                let kvCol = (h / perKV) * Dh
                if let dq {
                    sgemm(transA: false, transB: false, m: rows, n: Dh, k: lengths[p], alpha: scale, a: ds, lda: width,
                          b: k + p * T * ldkv + kvCol, ldb: ldkv, beta: 1, c: dq + qOff, ldc: ldq)
                    for g in 0..<G {
                        sgemm(transA: false, transB: false, m: S, n: Dh, k: S, alpha: scale, a: ds + g * S * width + T, lda: width,
                              b: k + (base + (p * G + g) * S) * ldkv + kvCol, ldb: ldkv, beta: 1,
                              c: dq + qOff + g * S * ldq, ldc: ldq)
                    }
                }
                if let dk {
                    sgemm(transA: true, transB: false, m: lengths[p], n: Dh, k: rows, alpha: scale, a: ds, lda: width,
                          b: q + qOff, ldb: ldq, beta: 1, c: dk + p * T * ldkv + kvCol, ldc: ldkv)
                    for g in 0..<G {
                        sgemm(transA: true, transB: false, m: S, n: Dh, k: S, alpha: scale, a: ds + g * S * width + T, lda: width,
                              b: q + qOff + g * S * ldq, ldb: ldq, beta: 1,
                              c: dk + (base + (p * G + g) * S) * ldkv + kvCol, ldc: ldkv)
                    }
                }
            }
        }
    }
}

// MARK: - Tape op

extension Tape {
    /// Prompts with G continuations each (layout in the file header): `q [R, H·Dh]`,
    /// `k, v [R, Hkv·Dh]` → `[R, H·Dh]`, R = P·T + P·G·S, P = `lengths.count`.
    ///
    /// Prompt rows: causal attention within the prompt, keys at t ≥ `lengths[p]` masked (right
    /// padding; padded query rows are computed and must be ignored). Continuation rows: prompt
    /// p's valid keys and their own continuation's keys up to themselves.
    public func prefixAttention(q: Tensor, k: Tensor, v: Tensor, lengths: [Int], seq T: Int, group G: Int, suffix S: Int,
                                heads: Int, kvHeads: Int) -> Tensor {
        let P = lengths.count
        let (rows, qWidth) = q.dims2()
        precondition(P > 0 && G > 0 && S > 0 && T > 0, "prefixAttention: P \(P), G \(G), S \(S), T \(T)")
        precondition(lengths.allSatisfy { $0 >= 1 && $0 <= T }, "prefixAttention: prompt lengths \(lengths) outside 1...\(T)")
        precondition(rows == P * T + P * G * S, "prefixAttention: q has \(rows) rows, expected \(P)·\(T) + \(P)·\(G)·\(S)")
        precondition(heads > 0 && kvHeads > 0 && heads % kvHeads == 0 && qWidth % heads == 0,
                     "prefixAttention: heads \(heads), kvHeads \(kvHeads), q width \(qWidth)")
        let Dh = qWidth / heads
        precondition(k.shape == [rows, kvHeads * Dh] && v.shape == k.shape, "prefixAttention: k \(k.shape), v \(v.shape)")
        let keyValid = lengths.flatMap { n in (0..<T).map { $0 < n } }
        let y = Tensor(uninitialized: q.shape, requiresGrad: needsGrad(q, k, v))
        let promptProbs = Tensor(uninitialized: [P, heads, T, T], requiresGrad: false)
        let probs = Tensor(uninitialized: [P, heads, G * S, T + S], requiresGrad: false)
        withKeyMask(keyValid) { mask in
            withPointers(y, promptProbs, probs, q, k, v) { out, promptProbs, probs, q, k, v in
                Kernels.attentionForward(out: out, probs: promptProbs, q: q, k: k, v: v, batch: P, seq: T,
                                         heads: heads, kvHeads: kvHeads, headDim: Dh, keyValid: mask)
                Kernels.prefixAttentionForward(out: out, probs: probs, q: q, k: k, v: v, lengths: lengths, seq: T,
                                               group: G, suffix: S, heads: heads, kvHeads: kvHeads, headDim: Dh)
            }
        }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                withGradPointersIfRequired(q, k, v) { dq, dk, dv in
                    let promptScratch = Tensor(uninitialized: promptProbs.shape, requiresGrad: false)
                    withPointers(promptProbs, promptScratch, q, k, v) { promptProbs, promptScratch, q, k, v in
                        Kernels.attentionBackward(dq: dq, dk: dk, dv: dv, dout: dy, probs: promptProbs, scratch: promptScratch,
                                                  q: q, k: k, v: v, batch: P, seq: T, heads: heads, kvHeads: kvHeads, headDim: Dh)
                    }
                    let scratch = Tensor(uninitialized: probs.shape, requiresGrad: false)
                    withPointers(probs, scratch, q, k, v) { probs, scratch, q, k, v in
                        Kernels.prefixAttentionBackward(dq: dq, dk: dk, dv: dv, dout: dy, probs: probs, scratch: scratch,
                                                        q: q, k: k, v: v, lengths: lengths, seq: T, group: G, suffix: S,
                                                        heads: heads, kvHeads: kvHeads, headDim: Dh)
                    }
                }
            }
        }
        return y
    }
}
