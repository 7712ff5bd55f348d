import Foundation

/// Softmax cross-entropy over a vocabulary, the language-modelling loss.

// MARK: - Kernels

extension Kernels {
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
                let m = rowMax(z, v)
                for j in 0..<v { scratch[j] = exp(z[j] - m) }
                let l = m + log(rowSum(scratch, v))
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
}
