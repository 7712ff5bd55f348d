/// Causal multi-head attention with grouped-query heads (GQA) and key padding:
/// out = softmax(q kᵀ / sqrt(Dh) + mask) v per (batch, head), every product an `sgemm` on
/// strided views of the packed `[B·T, heads·Dh]` activations (lda/ldb/ldc = row width).

// MARK: - Kernels

extension Kernels {
    /// In place over one row of scores `s [tk]`: p_j = exp(s_j − max) / Σ over the visible keys
    /// j < `limit` with `keyValid[j] != false`; every other entry becomes 0. A row with no
    /// visible key becomes all zeros (its query outputs 0).
    @inline(__always)
    static func maskedSoftmaxRow(_ s: UnsafeMutablePointer<Float>, tk: Int, limit: Int, keyValid: UnsafePointer<Bool>?) {
        var m = -Float.infinity
        for j in 0..<limit where keyValid?[j] ?? true { m = s[j] > m ? s[j] : m }
        guard m > -Float.infinity else { s.update(repeating: 0, count: tk); return }
        var total: Float = 0
        for j in 0..<limit {
            let e = (keyValid?[j] ?? true) ? exp(s[j] - m) : 0
            s[j] = e
            total += e
        }
        let inv = 1 / total
        for j in 0..<limit { s[j] *= inv }
        for j in limit..<tk { s[j] = 0 }
    }

    /// One (batch, head) slice, e.g. for KV-cache decoding:
    ///   probs [tq, tk] = masked softmax(q [tq, Dh] · k [tk, Dh]ᵀ / sqrt(Dh)),  out [tq, Dh] = probs · v [tk, Dh]
    /// Rows of q, k/v and out are `ldq`, `ldkv`, `ldo` floats apart (views into packed
    /// activations or a cache). Query i sits at position (tk − tq) + i and sees key j iff
    /// j ≤ (tk − tq) + i and `keyValid?[j] != false`. `probs` is contiguous scratch [tq, tk].
    static func attentionHeadForward(out: UnsafeMutablePointer<Float>, ldo: Int, probs: UnsafeMutablePointer<Float>,
                                     q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                     ldkv: Int, tq: Int, tk: Int, headDim: Int, keyValid: UnsafePointer<Bool>?) {
        precondition(tq <= tk, "attention: \(tq) queries but only \(tk) keys")
        sgemm(transA: false, transB: true, m: tq, n: tk, k: headDim, alpha: 1 / Float(headDim).squareRoot(),
              a: q, lda: ldq, b: k, ldb: ldkv, c: probs, ldc: tk)
        for i in 0..<tq { maskedSoftmaxRow(probs + i * tk, tk: tk, limit: tk - tq + i + 1, keyValid: keyValid) }
        sgemm(transA: false, transB: false, m: tq, n: headDim, k: tk, a: probs, lda: tk, b: v, ldb: ldkv,
              c: out, ldc: ldo)
    }

    /// Causal GQA attention over a batch of equal-length sequences.
    /// q, out: [B·T, H·Dh]; k, v: [B·T, Hkv·Dh]; probs: [B, H, T, T] (saved for backward);
    /// keyValid: [B·T] or nil. Head h reads kv head h / (H / Hkv).
    /// Three phases so that the softmax runs on all rows in parallel between the BLAS calls.
    static func attentionForward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                                 q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                 batch B: Int, seq T: Int, heads H: Int, kvHeads Hkv: Int, headDim Dh: Int,
                                 keyValid: UnsafePointer<Bool>?) {
        let ldq = H * Dh, ldkv = Hkv * Dh, group = H / Hkv
        let scale = 1 / Float(Dh).squareRoot()
        for b in 0..<B {                                   // scores S = q kᵀ / sqrt(Dh)   [T, T]
            for h in 0..<H {
                sgemm(transA: false, transB: true, m: T, n: T, k: Dh, alpha: scale,
                      a: q + b * T * ldq + h * Dh, lda: ldq, b: k + b * T * ldkv + (h / group) * Dh, ldb: ldkv,
                      c: probs + (b * H + h) * T * T, ldc: T)
            }
        }
        parallelChunks(B * H * T, costPerItem: 4 * T) { rows in  // row (b, h, i) → causal masked softmax
            for r in rows {
                let b = r / (H * T), i = r % T
                maskedSoftmaxRow(probs + r * T, tk: T, limit: i + 1, keyValid: keyValid.map { $0 + b * T })
            }
        }
        for b in 0..<B {                                   // out = P v   [T, Dh]
            for h in 0..<H {
                sgemm(transA: false, transB: false, m: T, n: Dh, k: T,
                      a: probs + (b * H + h) * T * T, lda: T, b: v + b * T * ldkv + (h / group) * Dh, ldb: ldkv,
                      c: out + b * T * ldq + h * Dh, ldc: ldq)
            }
        }
    }

    /// forward was S = q kᵀ·c (c = 1/sqrt(Dh)), P = softmax(S) per row, O = P v; so per (b, h):
    ///   dP = dO vᵀ
    ///   dS = P ⊙ (dP − rowsum(P ⊙ dP))            (softmax Jacobian; masked entries have P = 0)
    ///   dq += c · dS k,   dk += c · dSᵀ q,   dv += Pᵀ dO
    /// GQA: the H / Hkv query heads of a group all accumulate into the same dk, dv columns
    /// (sequentially, in head order). Any of dq, dk, dv may be nil. `scratch`: [B, H, T, T].
    static func attentionBackward(dq: UnsafeMutablePointer<Float>?, dk: UnsafeMutablePointer<Float>?,
                                  dv: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>,
                                  probs: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                                  q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                  batch B: Int, seq T: Int, heads H: Int, kvHeads Hkv: Int, headDim Dh: Int) {
        let ldq = H * Dh, ldkv = Hkv * Dh, group = H / Hkv
        let scale = 1 / Float(Dh).squareRoot()
        for b in 0..<B {
            for h in 0..<H {
                let p = probs + (b * H + h) * T * T, o = dout + b * T * ldq + h * Dh
                let kvOff = b * T * ldkv + (h / group) * Dh
                if let dv {                                 // dv += Pᵀ dO   [T, Dh]
                    sgemm(transA: true, transB: false, m: T, n: Dh, k: T, a: p, lda: T, b: o, ldb: ldq,
                          beta: 1, c: dv + kvOff, ldc: ldkv)
                }
                if dq != nil || dk != nil {                 // dP = dO vᵀ   [T, T]
                    sgemm(transA: false, transB: true, m: T, n: T, k: Dh, a: o, lda: ldq, b: v + kvOff, ldb: ldkv,
                          c: scratch + (b * H + h) * T * T, ldc: T)
                }
            }
        }
        guard dq != nil || dk != nil else { return }
        parallelChunks(B * H * T, costPerItem: 4 * T) { rows in  // dS = P ⊙ (dP − Σ P⊙dP), in place
            for r in rows {
                let p = probs + r * T, g = scratch + r * T
                let inner = dot(p, g, T)
                for j in 0..<T { g[j] = p[j] * (g[j] - inner) }
            }
        }
        for b in 0..<B {
            for h in 0..<H {
                let ds = scratch + (b * H + h) * T * T
                let qOff = b * T * ldq + h * Dh, kvOff = b * T * ldkv + (h / group) * Dh
                if let dq {                                 // dq += c · dS k   [T, Dh]
                    sgemm(transA: false, transB: false, m: T, n: Dh, k: T, alpha: scale, a: ds, lda: T,
                          b: k + kvOff, ldb: ldkv, beta: 1, c: dq + qOff, ldc: ldq)
                }
                if let dk {                                 // dk += c · dSᵀ q   [T, Dh]
                    sgemm(transA: true, transB: false, m: T, n: Dh, k: T, alpha: scale, a: ds, lda: T,
                          b: q + qOff, ldb: ldq, beta: 1, c: dk + kvOff, ldc: ldkv)
                }
            }
        }
    }
}

// MARK: - Tape op

extension Tape {
    /// Causal grouped-query attention: `q [B·T, H·Dh]`, `k, v [B·T, Hkv·Dh]` → `[B·T, H·Dh]`.
    ///
    /// out = softmax(q kᵀ / sqrt(Dh)) v per (batch, head) under the causal mask; head h uses kv
    /// head h / (H / Hkv). `keyValid [B·T]` marks padding keys with `false`: they get probability
    /// 0, and a query row with no valid key outputs 0. Padding *queries* are computed normally
    /// (mask them in the loss).
    public func attention(q: Tensor, k: Tensor, v: Tensor, batch: Int, seq: Int, heads: Int, kvHeads: Int,
                          keyValid: [Bool]? = nil) -> Tensor {
        let (rows, qWidth) = q.dims2()
        precondition(batch >= 0 && seq >= 0 && rows == batch * seq, "attention: q \(q.shape) for batch \(batch) × seq \(seq)")
        precondition(heads > 0 && kvHeads > 0 && heads % kvHeads == 0, "attention: heads \(heads) not a multiple of kvHeads \(kvHeads)")
        precondition(qWidth % heads == 0, "attention: q width \(qWidth) not divisible by \(heads) heads")
        let Dh = qWidth / heads
        precondition(k.shape == [rows, kvHeads * Dh] && v.shape == k.shape,
                     "attention: k \(k.shape), v \(v.shape); expected [\(rows), \(kvHeads * Dh)]")
        precondition(keyValid == nil || keyValid!.count == rows, "attention: keyValid has \(keyValid!.count) entries for \(rows) rows")
        let y = Tensor(uninitialized: q.shape, requiresGrad: needsGrad(q, k, v))
        let probs = Tensor(uninitialized: [batch, heads, seq, seq], requiresGrad: false)
        withKeyMask(keyValid) { mask in
            withPointers(y, probs, q, k, v) { out, probs, q, k, v in
                Kernels.attentionForward(out: out, probs: probs, q: q, k: k, v: v, batch: batch, seq: seq,
                                         heads: heads, kvHeads: kvHeads, headDim: Dh, keyValid: mask)
            }
        }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                let scratch = Tensor(uninitialized: probs.shape, requiresGrad: false)   // dP, then dS
                withGradPointersIfRequired(q, k, v) { dq, dk, dv in
                    withPointers(probs, scratch, q, k, v) { probs, scratch, q, k, v in
                        Kernels.attentionBackward(dq: dq, dk: dk, dv: dv, dout: dy, probs: probs, scratch: scratch,
                                                  q: q, k: k, v: v, batch: batch, seq: seq, heads: heads,
                                                  kvHeads: kvHeads, headDim: Dh)
                    }
                }
            }
        }
        return y
    }
}

/// Runs `body` with a pointer to the key-padding mask (`false` = padding), or nil when there is
/// none: the form the attention kernels take. Shared by every attention op.
@inline(__always)
func withKeyMask<R>(_ keyValid: [Bool]?, _ body: (UnsafePointer<Bool>?) -> R) -> R {
    guard let keyValid else { return body(nil) }
    return keyValid.withUnsafeBufferPointer { body($0.baseAddress) }
}
