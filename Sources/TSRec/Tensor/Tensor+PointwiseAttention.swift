/// HSTU's pointwise aggregated attention (Zhai et al. 2024, "Actions Speak Louder than Words",
/// Eq. 2): a SiLU over the scores instead of a softmax, normalised by the sequence length,
/// causal, with a learned relative-position bias:
///
///     A[i, j] = silu(q_i · k_j + rab[j − i + T − 1]) / T    for j ≤ i and key j valid, else 0
///     out_i   = Σ_j A[i, j] v_j                                 per (batch, head)
///
/// As in the reference implementation (generative-recommenders `hstu.py`) the scores are not
/// scaled by 1/sqrt(Dh) and the normaliser is the padded length T. The paper's bias rab^{p,t} has
/// a position and a time part; these datasets carry no timestamps, so only the position part
/// exists (one weight per relative distance, shared by all heads).
///
/// q, k, v, out: [B·T, H·Dh]; rab: [2T − 1]; keyValid: [B·T] (false = padding) or nil.

// MARK: - Kernels

extension Kernels {
    /// pre: [B, H, T, T] receives s = q_i · k_j + rab (saved for backward; masked entries unused).
    static func pointwiseAttentionForward(out: UnsafeMutablePointer<Float>, pre: UnsafeMutablePointer<Float>,
                                          q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                          rab: UnsafePointer<Float>?, batch B: Int, seq T: Int, heads H: Int, headDim Dh: Int,
                                          keyValid: UnsafePointer<Bool>?) {
        let ld = H * Dh, inv = 1 / Float(T)
        parallelChunks(B, costPerItem: 2 * H * T * T * Dh) { batches in
            for b in batches {
                for h in 0..<H {
                    let s = pre + (b * H + h) * T * T
                    for i in 0..<T {
                        let qi = q + (b * T + i) * ld + h * Dh, oi = out + (b * T + i) * ld + h * Dh
                        oi.update(repeating: 0, count: Dh)
                        for j in 0...i where keyValid?[b * T + j] ?? true {
                            let kj = k + (b * T + j) * ld + h * Dh, vj = v + (b * T + j) * ld + h * Dh
                            let x = dot(qi, kj, Dh) + (rab?[j - i + T - 1] ?? 0)
                            s[i * T + j] = x
                            let a = x * sigmoid(x) * inv
                            for d in 0..<Dh { oi[d] += a * vj[d] }
                        }
                    }
                }
            }
        }
    }

    /// forward as above with a = silu(s)/T; so for each visible (i, j):
    ///   dv_j += a · dout_i,   ds = (dout_i · v_j) · silu'(s) / T,   silu'(s) = σ(s)(1 + s(1 − σ(s)))
    ///   dq_i += ds · k_j,     dk_j += ds · q_i,     drab[j − i + T − 1] += ds
    /// Batches run in parallel for dq, dk, dv (disjoint rows); drab sums serially over batches.
    static func pointwiseAttentionBackward(dq: UnsafeMutablePointer<Float>?, dk: UnsafeMutablePointer<Float>?,
                                           dv: UnsafeMutablePointer<Float>?, drab: UnsafeMutablePointer<Float>?,
                                           dout: UnsafePointer<Float>, pre: UnsafePointer<Float>,
                                           q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                           batch B: Int, seq T: Int, heads H: Int, headDim Dh: Int, keyValid: UnsafePointer<Bool>?) {
        let ld = H * Dh, inv = 1 / Float(T)
        // ds per (b, h, i, j), kept so drab can be summed in a fixed order afterwards.
        let dsAll = UnsafeMutablePointer<Float>.allocate(capacity: max(B * H * T * T, 1))
        defer { dsAll.deallocate() }
        dsAll.update(repeating: 0, count: B * H * T * T)
        parallelChunks(B, costPerItem: 4 * H * T * T * Dh) { batches in
            for b in batches {
                for h in 0..<H {
                    let s = pre + (b * H + h) * T * T, dsb = dsAll + (b * H + h) * T * T
                    for i in 0..<T {
                        let qi = q + (b * T + i) * ld + h * Dh, gi = dout + (b * T + i) * ld + h * Dh
                        for j in 0...i where keyValid?[b * T + j] ?? true {
                            let off = (b * T + j) * ld + h * Dh
                            let x = s[i * T + j], sg = sigmoid(x)
                            if let dv { let a = x * sg * inv; for d in 0..<Dh { dv[off + d] += a * gi[d] } }
                            let ds = dot(gi, v + off, Dh) * sg * (1 + x * (1 - sg)) * inv
                            dsb[i * T + j] = ds
                            if let dq { let dqi = dq + (b * T + i) * ld + h * Dh; for d in 0..<Dh { dqi[d] += ds * k[off + d] } }
                            if let dk { for d in 0..<Dh { dk[off + d] += ds * qi[d] } }
                        }
                    }
                }
            }
        }
        if let drab {
            for bh in 0..<B * H {
                let dsb = dsAll + bh * T * T
                for i in 0..<T { for j in 0...i { drab[j - i + T - 1] += dsb[i * T + j] } }
            }
        }
    }
}

// MARK: - Tape op

extension Tape {
    /// HSTU pointwise causal attention (see the file comment): `q, k, v [B·T, H·Dh]`, optional
    /// relative-position bias `rab [2T − 1]` → `[B·T, H·Dh]`.
    public func pointwiseAttention(q: Tensor, k: Tensor, v: Tensor, rab: Tensor?, batch: Int, seq: Int, heads: Int,
                                   keyValid: [Bool]? = nil) -> Tensor {
        let (rows, width) = q.dims2()
        precondition(batch > 0 && seq > 0 && rows == batch * seq, "pointwiseAttention: q \(q.shape) for \(batch) × \(seq)")
        precondition(heads > 0 && width % heads == 0, "pointwiseAttention: width \(width) not divisible by \(heads) heads")
        precondition(k.shape == q.shape && v.shape == q.shape, "pointwiseAttention: q \(q.shape), k \(k.shape), v \(v.shape)")
        precondition(rab == nil || rab!.shape == [2 * seq - 1], "pointwiseAttention: rab \(rab!.shape), expected [\(2 * seq - 1)]")
        precondition(keyValid == nil || keyValid!.count == rows, "pointwiseAttention: keyValid has \(keyValid!.count) entries for \(rows) rows")
        let Dh = width / heads
        let needs = needsGrad(q, k, v) || (rab.map { needsGrad($0) } ?? false)
        let y = Tensor(uninitialized: q.shape, requiresGrad: needs)
        let pre = Tensor(zeros: [batch, heads, seq, seq])
        withKeyMask(keyValid) { mask in
            withOptionalPointer(rab) { rab in
                withPointers(y, pre, q, k, v) { out, pre, q, k, v in
                    Kernels.pointwiseAttentionForward(out: out, pre: pre, q: q, k: k, v: v, rab: rab, batch: batch,
                                                      seq: seq, heads: heads, headDim: Dh, keyValid: mask)
                }
            }
        }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                withKeyMask(keyValid) { mask in
                    withOptionalGradPointerIfRequired(rab) { drab in
                        withGradPointersIfRequired(q, k, v) { dq, dk, dv in
                            withPointers(pre, q, k, v) { pre, q, k, v in
                                Kernels.pointwiseAttentionBackward(dq: dq, dk: dk, dv: dv, drab: drab, dout: dy, pre: pre,
                                                                   q: q, k: k, v: v, batch: batch, seq: seq, heads: heads,
                                                                   headDim: Dh, keyValid: mask)
                            }
                        }
                    }
                }
            }
        }
        return y
    }
}
