import Foundation

/// The GRPO objective per completion token (MiniOneRec's GRPO trainer, read for the maths):
///
///     ℓ = −[ exp(l − sg(l)) · A − β · k3 ],   k3 = exp(r − l) − (r − l) − 1
///
/// with l = log softmax(z)[t] the policy's log-probability of the token over the full vocabulary,
/// r the reference model's (a constant), A the completion's advantage and sg the stop-gradient.
/// exp(l − sg(l)) is 1 in value, so ℓ = −A + β·k3 in value, while its derivative in l is 1:
///
///     dℓ/dl = −A + β · (1 − exp(r − l)),   dl/dz_j = [j = t] − softmax(z)_j.

// MARK: - Kernels

extension Kernels {
    /// Per row n of logits z [N, V] with target t_n: lse_n (max-subtracted) and
    /// logp_n = z_{n,t_n} − lse_n. Rows run in parallel.
    static func targetLogProbs(logp: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
                               logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, n: Int, v: Int) {
        parallelChunks(n, costPerItem: 4 * v) { rows in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: v)
            defer { scratch.deallocate() }
            for r in rows {
                let z = logits + r * v
                let m = rowMax(z, v)
                for j in 0..<v { scratch[j] = exp(z[j] - m) }
                lse[r] = m + log(rowSum(scratch, v))
                logp[r] = z[Int(targets[r])] - lse[r]
            }
        }
    }

    /// dz_nj += coef_n · ([j = t_n] − exp(z_nj − lse_n)), where coef_n = dL/dl_n.
    static func targetLogProbsBackward(dlogits: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>,
                                       lse: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                                       coef: UnsafePointer<Float>, n: Int, v: Int) {
        parallelChunks(n, costPerItem: 4 * v) { rows in
            for r in rows {
                let c = coef[r]
                if c == 0 { continue }
                let z = logits + r * v, g = dlogits + r * v, l = lse[r]
                for j in 0..<v { g[j] -= c * exp(z[j] - l) }
                g[Int(targets[r])] += c
            }
        }
    }
}

// MARK: - Tape op

/// What `Tape.policyLoss` returns: the loss node and the per-token values it was built from.
public struct PolicyLoss {
    /// `[1]`: Σ_n w_n · (−A_n + β·k3_n) in value.
    public let loss: Tensor
    /// The policy's log-probability l_n of each target token (full-vocabulary log-softmax).
    public let logProbs: [Float]
    /// k3_n = exp(r_n − l_n) − (r_n − l_n) − 1 ≥ 0, the per-token KL estimate.
    public let k3: [Float]
}

/// k3 = exp(r − l) − (r − l) − 1: the non-negative KL estimate of one token (0 when r = l).
@inline(__always)
public func k3Estimate(policy l: Float, reference r: Float) -> Float {
    let d = r - l
    return Foundation.exp(d) - d - 1
}

extension Tape {
    /// The GRPO surrogate over the completion tokens' logits.
    ///
    /// - logits: `[N, V]`, one row per completion token (the row that predicts it).
    /// - targets: the tokens, `[N]`.
    /// - advantages: the advantage of each token's completion, `[N]`.
    /// - reference: the reference model's log-probability of each token, `[N]` (no gradient).
    /// - weights: each token's weight in the sum, `[N]` (mean over a completion's tokens, then
    ///   over completions: 1 / (tokens of its completion × completions)).
    /// - beta: the KL weight β.
    ///
    /// Value Σ_n w_n (−A_n + β k3_n); gradient through exp(l − sg(l)) = 1 and k3 (see the file
    /// header). Sums run in Double in row order: deterministic.
    public func policyLoss(logits: Tensor, targets: [Int32], advantages: [Float], reference: [Float],
                           weights: [Float], beta: Float) -> PolicyLoss {
        let (N, V) = logits.dims2()
        precondition(targets.count == N && advantages.count == N && reference.count == N && weights.count == N,
                     "policyLoss: \(N) rows, \(targets.count) targets, \(advantages.count) advantages, \(reference.count) reference values, \(weights.count) weights")
        for t in targets { precondition(t >= 0 && Int(t) < V, "policyLoss: target \(t) outside vocabulary of \(V)") }
        let stats = targetLogProbStats(logits: logits, targets: targets)     // [2, N]: logp, lse
        let logp = Array(stats.array.prefix(N))
        let k3 = (0..<N).map { k3Estimate(policy: logp[$0], reference: reference[$0]) }
        var total = 0.0
        for n in 0..<N { total += Double(weights[n]) * (-Double(advantages[n]) + Double(beta) * Double(k3[n])) }
        let y = Tensor([Float(total)], shape: [1], requiresGrad: needsGrad(logits))
        guard y.requiresGrad, N > 0 else { return PolicyLoss(loss: y, logProbs: logp, k3: k3) }
        // dL/dl_n per unit of dy: w_n · (−A_n + β (1 − exp(r_n − l_n)))
        let coefPerUnit = (0..<N).map { n in
            weights[n] * (-advantages[n] + beta * (1 - Foundation.exp(reference[n] - logp[n])))
        }
        recordTargetLogProbBackward(loss: y, logits: logits, stats: stats, targets: targets, coefPerUnit: coefPerUnit)
        return PolicyLoss(loss: y, logProbs: logp, k3: k3)
    }

    /// The [2, N] table (log-probability of each row's target, log-sum-exp of the row) that the
    /// token-level losses over `[N, V]` logits are built from.
    func targetLogProbStats(logits: Tensor, targets: [Int32]) -> Tensor {
        let (N, V) = logits.dims2()
        let stats = Tensor(uninitialized: [2, N], requiresGrad: false)     // logp, lse
        targets.withUnsafeBufferPointer { tp in
            guard let tp = tp.baseAddress else { return }
            withPointers(stats, logits) { stats, logits in
                Kernels.targetLogProbs(logp: stats, lse: stats + N, logits: logits, targets: tp, n: N, v: V)
            }
        }
        return stats
    }

    /// Records the backward of a scalar loss `y` that depends on the logits only through the
    /// target log-probabilities l_n: dL/dl_n = coefPerUnit[n] · dy, then through the log-softmax.
    func recordTargetLogProbBackward(loss y: Tensor, logits: Tensor, stats: Tensor, targets: [Int32], coefPerUnit: [Float]) {
        let N = targets.count, V = logits.dims2().1
        record {
            guard let dy = y.withAccumulatedGrad({ $0[0] }) else { return }
            let coef = coefPerUnit.map { $0 * dy }
            targets.withUnsafeBufferPointer { tp in
                coef.withUnsafeBufferPointer { cp in
                    logits.withGradPointer { dlogits in
                        withPointers(logits, stats) { logits, stats in
                            Kernels.targetLogProbsBackward(dlogits: dlogits, logits: logits, lse: stats + N,
                                                           targets: tp.baseAddress!, coef: cp.baseAddress!, n: N, v: V)
                        }
                    }
                }
            }
        }
    }

    /// log softmax(z)[t] per row without a graph (the reference model's values): `[N, V]` → `[N]`.
    public static func targetLogProbs(logits: Tensor, targets: [Int32]) -> [Float] {
        let (N, V) = logits.dims2()
        precondition(targets.count == N, "targetLogProbs: \(targets.count) targets for \(N) rows")
        for t in targets { precondition(t >= 0 && Int(t) < V, "targetLogProbs: target \(t) outside vocabulary of \(V)") }
        let stats = Tape(recording: false).targetLogProbStats(logits: logits, targets: targets)
        return Array(stats.array.prefix(N))
    }
}
