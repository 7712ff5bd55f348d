import Foundation

/// Softmax cross-entropy over a vocabulary, the language-modelling loss.

// MARK: - Kernels

extension Kernels {
    /// One row z [V]: out_j = exp(z_j − m) with m = max_j z_j, so nothing overflows; returns m
    /// and Σ_j out_j. `out` may be `z` itself. Both cross-entropy kernels below start here.
    @inline(__always)
    static func shiftedExp(_ z: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ v: Int) -> (max: Float, sum: Float) {
        let m = rowMax(z, v)
        for j in 0..<v { out[j] = exp(z[j] - m) }
        return (m, rowSum(out, v))
    }

    /// Per row n of logits z [N, V] with target t_n:
    ///   lse_n = m_n + log Σ_j exp(z_nj − m_n)  (m_n = max_j z_nj, so nothing overflows)
    ///   loss_n = lse_n − z_{n,t_n}, or 0 when t_n == ignoreIndex.
    /// Two passes over each row (max, then exp-sum). losses, lse: [N]. Rows run in parallel.
    static func crossEntropyForward(losses: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
                                    logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                                    n: Int, v: Int, ignoreIndex: Int32) {
        parallelChunks(n, costPerItem: 4 * v) { rows in
            // exp values of one row land here, so the exp loop vectorizes and the sum uses 16 lanes.
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: v)
            defer { scratch.deallocate() }
            for r in rows {
                let t = targets[r]
                if t == ignoreIndex { losses[r] = 0; lse[r] = 0; continue }
                let z = logits + r * v
                let (m, total) = shiftedExp(z, into: scratch, v)
                let l = m + log(total)
                lse[r] = l
                losses[r] = l - z[Int(t)]
            }
        }
    }

    /// forward was L = scale · Σ_n (lse_n − z_{n,t_n}) over non-ignored rows, so
    ///   dz_nj += dL · scale · (softmax(z_n)_j − [j == t_n]),  softmax(z_n)_j = exp(z_nj − lse_n);
    /// ignored rows get nothing. One pass per row (exp recomputed, not stored in forward).
    static func crossEntropyBackward(dlogits: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>,
                                     lse: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                                     n: Int, v: Int, ignoreIndex: Int32, scale: Float) {
        parallelChunks(n, costPerItem: 4 * v) { rows in
            for r in rows {
                let t = targets[r]
                if t == ignoreIndex { continue }
                let z = logits + r * v, g = dlogits + r * v, l = lse[r]
                for j in 0..<v { g[j] += scale * exp(z[j] - l) }
                g[Int(t)] -= scale
            }
        }
    }

    /// The forward pass of `linearCrossEntropy` over logits z [N, V], which it overwrites: per
    /// row n with target t_n, loss_n and lse_n as in `crossEntropyForward` (the same values),
    /// then z_n ← scale · (softmax(z_n) − onehot(t_n)), the gradient of scale · Σ_n loss_n with
    /// respect to z_n (softmax = exp(z − m) / Σ exp(z − m), from the exp values of the sum).
    /// Ignored rows (t_n == ignoreIndex) get loss 0 and an all-zero gradient row. `rowScales`
    /// [N]: row n's scale instead of `scale` (the gradient of Σ_n rowScales_n · loss_n).
    static func crossEntropyForwardWithGradient(logits z: UnsafeMutablePointer<Float>, losses: UnsafeMutablePointer<Float>,
                                                lse: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>,
                                                n: Int, v: Int, ignoreIndex: Int32, scale: Float,
                                                rowScales: UnsafePointer<Float>? = nil) {
        parallelChunks(n, costPerItem: 4 * v) { rows in
            for r in rows {
                let scale = rowScales?[r] ?? scale
                let t = targets[r], zr = z + r * v
                if t == ignoreIndex { losses[r] = 0; lse[r] = 0; zr.update(repeating: 0, count: v); continue }
                let zt = zr[Int(t)]
                let (m, total) = shiftedExp(zr, into: zr, v)             // z_n ← exp(z_n − m)
                let l = m + log(total)
                lse[r] = l
                losses[r] = l - zt
                let c = scale / total
                for j in 0..<v { zr[j] *= c }
                zr[Int(t)] -= scale
            }
        }
    }
}

// MARK: - Tape op

extension Tape {
    /// Mean softmax cross-entropy: `logits [N, V]`, `targets [N]` → `[1]`,
    /// L = (1/M) Σ_{n: t_n ≠ ignoreIndex} (log Σ_j e^{z_nj} − z_{n,t_n}), M = number of non-ignored rows.
    /// With M = 0 the loss is 0 and no gradient flows. Numerically stable (max-subtracted).
    public func crossEntropy(logits: Tensor, targets: [Int32], ignoreIndex: Int32 = -100) -> Tensor {
        let (N, V) = logits.dims2()
        precondition(targets.count == N, "crossEntropy: \(targets.count) targets for \(N) rows")
        var valid = 0
        for t in targets where t != ignoreIndex {
            precondition(t >= 0 && Int(t) < V, "crossEntropy: target \(t) outside vocabulary of \(V) (ignoreIndex \(ignoreIndex))")
            valid += 1
        }
        let y = Tensor(uninitialized: [1], requiresGrad: needsGrad(logits))
        let stats = Tensor(uninitialized: [2, N], requiresGrad: false)   // losses, lse
        targets.withUnsafeBufferPointer { tp in
            guard let tp = tp.baseAddress else { return }
            withPointers(stats, logits) { stats, logits in
                Kernels.crossEntropyForward(losses: stats, lse: stats + N, logits: logits,
                                            targets: tp, n: N, v: V, ignoreIndex: ignoreIndex)
            }
        }
        var total: Double = 0                      // fixed row order: deterministic
        stats.withPointer { losses in for r in 0..<N { total += Double(losses[r]) } }
        y.withPointer { $0[0] = valid == 0 ? 0 : Float(total / Double(valid)) }
        guard y.requiresGrad, valid > 0 else { return y }
        record {
            guard let dy = y.withAccumulatedGrad({ $0[0] }) else { return }
            targets.withUnsafeBufferPointer { tp in
                logits.withGradPointer { dlogits in
                    withPointers(logits, stats) { logits, stats in
                        Kernels.crossEntropyBackward(dlogits: dlogits, logits: logits, lse: stats + N,
                                                     targets: tp.baseAddress!, n: N, v: V,
                                                     ignoreIndex: ignoreIndex, scale: dy / Float(valid))
                    }
                }
            }
        }
        return y
    }

    /// The LM head and its mean cross-entropy in one op: `hidden [N, D]`, `weight [V, D]`,
    /// `targets [N]` → `[1]`, the value of
    /// `crossEntropy(logits: matmul(hidden, weight, transposeB: true), targets:)`.
    ///
    /// forward: z = hidden · weightᵀ [N, V]; L = (1/M) Σ_n loss_n (M non-ignored rows), and z is
    /// overwritten in place with G = ∂L/∂z = (softmax(z) − onehot)/M (ignored rows 0).
    /// backward: dhidden += dL · G · weight,  dweight += dL · Gᵀ · hidden (dL in the GEMMs' alpha).
    /// So the [N, V] logits exist once (no gradient buffer, no zero-fill, no exp pass in backward):
    /// 1024 × 49,152 floats = 201 MB less at the peak of a SmolLM2 step (issue #21).
    ///
    /// `rowWeights` [N]: L = Σ_n w_n loss_n instead of the mean (the weights carry the whole
    /// normalisation; `LossAveraging.randomGroupMeans`), G_n = w_n (softmax(z_n) − onehot(t_n)).
    public func linearCrossEntropy(hidden: Tensor, weight: Tensor, targets: [Int32], ignoreIndex: Int32 = -100,
                                   rowWeights: [Float]? = nil) -> Tensor {
        let (N, D) = hidden.dims2()
        let (V, wD) = weight.dims2()
        precondition(wD == D, "linearCrossEntropy: weight \(weight.shape) for hidden \(hidden.shape)")
        precondition(targets.count == N, "linearCrossEntropy: \(targets.count) targets for \(N) rows")
        precondition(rowWeights.map { $0.count == N } ?? true, "linearCrossEntropy: \(rowWeights?.count ?? 0) row weights for \(N) rows")
        var valid = 0
        for t in targets where t != ignoreIndex {
            precondition(t >= 0 && Int(t) < V, "linearCrossEntropy: target \(t) outside vocabulary of \(V) (ignoreIndex \(ignoreIndex))")
            valid += 1
        }
        let y = Tensor(uninitialized: [1], requiresGrad: needsGrad(hidden, weight))
        let needsGradient = y.requiresGrad && valid > 0
        let logits = Tensor(uninitialized: [N, V], requiresGrad: false)  // z, then G (when recording)
        let stats = Tensor(uninitialized: [2, N], requiresGrad: false)   // losses, lse
        sgemm(transA: false, transB: true, m: N, n: V, k: D, a: hidden, b: weight, c: logits)
        targets.withUnsafeBufferPointer { tp in
            guard let tp = tp.baseAddress else { return }
            withPointers(stats, logits) { stats, logits in
                if needsGradient {
                    withOptionalBuffer(rowWeights) { w in
                        Kernels.crossEntropyForwardWithGradient(logits: logits, losses: stats, lse: stats + N, targets: tp,
                                                                n: N, v: V, ignoreIndex: ignoreIndex, scale: 1 / Float(valid),
                                                                rowScales: w)
                    }
                } else {
                    Kernels.crossEntropyForward(losses: stats, lse: stats + N, logits: logits,
                                                targets: tp, n: N, v: V, ignoreIndex: ignoreIndex)
                }
            }
        }
        var total: Double = 0                      // fixed row order: deterministic
        stats.withPointer { losses in
            if let w = rowWeights {
                for r in 0..<N { total += Double(w[r]) * Double(losses[r]) }
            } else {
                for r in 0..<N { total += Double(losses[r]) }
            }
        }
        y.withPointer { $0[0] = valid == 0 ? 0 : Float(rowWeights == nil ? total / Double(valid) : total) }
        guard needsGradient else { return y }
        record {
            guard let dy = y.withAccumulatedGrad({ $0[0] }) else { return }
            withPointers(logits, hidden, weight) { g, h, w in
                if hidden.requiresGrad {          // dhidden[N, D] += dL · G[N, V] · weight[V, D]
                    hidden.withGradPointer { dh in
                        sgemm(transA: false, transB: false, m: N, n: D, k: V, alpha: dy, a: g, b: w, beta: 1, c: dh)
                    }
                }
                if weight.requiresGrad {          // dweight[V, D] += dL · Gᵀ[V, N] · hidden[N, D]
                    weight.withGradPointer { dw in
                        sgemm(transA: true, transB: false, m: V, n: D, k: N, alpha: dy, a: g, b: h, beta: 1, c: dw)
                    }
                }
            }
        }
        return y
    }
}

/// `body` with the array's storage, or nil for no array: the pointer lives only inside `body`.
private func withOptionalBuffer<R>(_ array: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let array else { return body(nil) }
    return array.withUnsafeBufferPointer { body($0.baseAddress) }
}
