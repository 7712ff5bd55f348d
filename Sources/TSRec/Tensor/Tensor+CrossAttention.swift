/// Multi-head softmax attention between two sequences, for TIGER's encoder-decoder: bidirectional
/// self-attention in the encoder, cross-attention from decoder positions to encoder outputs, and
/// (with `causal`) decoder self-attention. The engine's `attention` covers only the causal,
/// equal-length case; this op generalises it to Tq ≠ Tk and no causal mask, reusing the engine's
/// masked softmax row kernel.
///
///     out = softmax(q kᵀ / sqrt(Dh) + mask) v     per (batch, head)
///
/// q, out: [B·Tq, H·Dh]; k, v: [B·Tk, H·Dh]. Key j is visible to query i iff `keyValid[b·Tk + j]`
/// (when given) and, if `causal`, j ≤ i + (Tk − Tq). A query with no visible key outputs 0.

// MARK: - Kernels

extension Kernels {
    /// probs: [B, H, Tq, Tk] (saved for backward).
    static func crossAttentionForward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                                      q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                      batch B: Int, tq: Int, tk: Int, heads H: Int, headDim Dh: Int, causal: Bool,
                                      keyValid: UnsafePointer<Bool>?) {
        let ld = H * Dh, scale = 1 / Float(Dh).squareRoot()
        for b in 0..<B {
            for h in 0..<H {                               // S = q kᵀ / sqrt(Dh)   [Tq, Tk]
                sgemm(transA: false, transB: true, m: tq, n: tk, k: Dh, alpha: scale,
                      a: q + b * tq * ld + h * Dh, lda: ld, b: k + b * tk * ld + h * Dh, ldb: ld,
                      c: probs + (b * H + h) * tq * tk, ldc: tk)
            }
        }
        parallelChunks(B * H * tq, costPerItem: 4 * tk) { rows in
            for r in rows {
                let b = r / (H * tq), i = r % tq
                maskedSoftmaxRow(probs + r * tk, tk: tk, limit: causal ? min(tk, i + (tk - tq) + 1) : tk,
                                 keyValid: keyValid.map { $0 + b * tk })
            }
        }
        for b in 0..<B {
            for h in 0..<H {                               // out = P v   [Tq, Dh]
                sgemm(transA: false, transB: false, m: tq, n: Dh, k: tk,
                      a: probs + (b * H + h) * tq * tk, lda: tk, b: v + b * tk * ld + h * Dh, ldb: ld,
                      c: out + b * tq * ld + h * Dh, ldc: ld)
            }
        }
    }

    /// forward was S = c·q kᵀ, P = masked softmax(S), O = P v (c = 1/sqrt(Dh)); per (b, h):
    ///   dv += Pᵀ dO,   dP = dO vᵀ,   dS = P ⊙ (dP − rowsum(P ⊙ dP)),
    ///   dq += c · dS k,   dk += c · dSᵀ q.       scratch: [B, H, Tq, Tk]
    static func crossAttentionBackward(dq: UnsafeMutablePointer<Float>?, dk: UnsafeMutablePointer<Float>?,
                                       dv: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>,
                                       probs: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                                       q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                       batch B: Int, tq: Int, tk: Int, heads H: Int, headDim Dh: Int) {
        let ld = H * Dh, scale = 1 / Float(Dh).squareRoot()
        for b in 0..<B {
            for h in 0..<H {
                let p = probs + (b * H + h) * tq * tk, o = dout + b * tq * ld + h * Dh
                let kvOff = b * tk * ld + h * Dh
                if let dv {
                    sgemm(transA: true, transB: false, m: tk, n: Dh, k: tq, a: p, lda: tk, b: o, ldb: ld,
                          beta: 1, c: dv + kvOff, ldc: ld)
                }
                if dq != nil || dk != nil {
                    sgemm(transA: false, transB: true, m: tq, n: tk, k: Dh, a: o, lda: ld, b: v + kvOff, ldb: ld,
                          c: scratch + (b * H + h) * tq * tk, ldc: tk)
                }
            }
        }
        guard dq != nil || dk != nil else { return }
        parallelChunks(B * H * tq, costPerItem: 4 * tk) { rows in
            for r in rows {
                let p = probs + r * tk, g = scratch + r * tk
                let inner = dot(p, g, tk)
                for j in 0..<tk { g[j] = p[j] * (g[j] - inner) }
            }
        }
        for b in 0..<B {
            for h in 0..<H {
                let ds = scratch + (b * H + h) * tq * tk
                let qOff = b * tq * ld + h * Dh, kvOff = b * tk * ld + h * Dh
                if let dq {
                    sgemm(transA: false, transB: false, m: tq, n: Dh, k: tk, alpha: scale, a: ds, lda: tk,
                          b: k + kvOff, ldb: ld, beta: 1, c: dq + qOff, ldc: ld)
                }
                if let dk {
                    sgemm(transA: true, transB: false, m: tk, n: Dh, k: tq, alpha: scale, a: ds, lda: tk,
                          b: q + qOff, ldb: ld, beta: 1, c: dk + kvOff, ldc: ld)
                }
            }
        }
    }
}

// MARK: - Tape op

extension Tape {
    /// Softmax attention of `q [B·Tq, H·Dh]` over `k, v [B·Tk, H·Dh]` → `[B·Tq, H·Dh]`; see the file comment.
    public func crossAttention(q: Tensor, k: Tensor, v: Tensor, batch: Int, queryLength tq: Int, keyLength tk: Int,
                               heads: Int, causal: Bool = false, keyValid: [Bool]? = nil) -> Tensor {
        let (qRows, width) = q.dims2()
        precondition(batch > 0 && tq > 0 && tk > 0 && qRows == batch * tq, "crossAttention: q \(q.shape) for \(batch) × \(tq)")
        precondition(heads > 0 && width % heads == 0, "crossAttention: width \(width) not divisible by \(heads) heads")
        precondition(k.shape == [batch * tk, width] && v.shape == k.shape, "crossAttention: k \(k.shape), v \(v.shape), expected [\(batch * tk), \(width)]")
        precondition(keyValid == nil || keyValid!.count == batch * tk, "crossAttention: keyValid has \(keyValid!.count) entries for \(batch * tk) keys")
        precondition(!causal || tq <= tk, "crossAttention: causal needs Tq ≤ Tk")
        let Dh = width / heads
        let y = Tensor(uninitialized: q.shape, requiresGrad: needsGrad(q, k, v))
        let probs = Tensor(uninitialized: [batch, heads, tq, tk], requiresGrad: false)
        withKeyMask(keyValid) { mask in
            withPointers(y, probs, q, k, v) { out, probs, q, k, v in
                Kernels.crossAttentionForward(out: out, probs: probs, q: q, k: k, v: v, batch: batch, tq: tq, tk: tk,
                                              heads: heads, headDim: Dh, causal: causal, keyValid: mask)
            }
        }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                let scratch = Tensor(uninitialized: probs.shape, requiresGrad: false)   // dP, then dS
                withGradPointersIfRequired(q, k, v) { dq, dk, dv in
                    withPointers(probs, scratch, q, k, v) { probs, scratch, q, k, v in
                        Kernels.crossAttentionBackward(dq: dq, dk: dk, dv: dv, dout: dy, probs: probs, scratch: scratch,
                                                       q: q, k: k, v: v, batch: batch, tq: tq, tk: tk,
                                                       heads: heads, headDim: Dh)
                    }
                }
            }
        }
        return y
    }
}
