/// Global gradient-norm clipping (`torch.nn.utils.clip_grad_norm_`): with
/// ‖g‖ = sqrt(Σ over all parameters Σ g²), if ‖g‖ > maxNorm every gradient is scaled by
/// maxNorm / (‖g‖ + 1e-6). Returns the norm before clipping (log it). Parameters without a
/// gradient count as zero. A non-finite norm is returned as is and nothing is scaled, so the
/// caller can stop on it.
@discardableResult
public func clipGradNorm(_ params: [Tensor], maxNorm: Float) -> Float {
    precondition(maxNorm > 0, "clipGradNorm: maxNorm \(maxNorm) must be positive")
    var total: Double = 0                 // per-block Float sums, accumulated in Double
    for p in params { total += p.withAccumulatedGrad { Kernels.sumOfSquaresDouble($0, p.count) } ?? 0 }
    let norm = Float(total.squareRoot())
    guard norm.isFinite, norm > maxNorm else { return norm }
    let factor = maxNorm / (norm + 1e-6)
    for p in params {
        p.withAccumulatedGrad { g in for i in 0..<p.count { g[i] *= factor } }
    }
    return norm
}
