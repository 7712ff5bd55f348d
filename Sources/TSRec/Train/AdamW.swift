import Foundation

/// AdamW (Loshchilov & Hutter 2019): Adam with bias correction and *decoupled* weight decay,
/// matching `torch.optim.AdamW`. For parameter p with gradient g at step t (1-based):
///
///     m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²
///     p ← p − lr · wd · p                                   (only where decay applies)
///     p ← p − lr · (m / (1 − β₁ᵗ)) / (sqrt(v / (1 − β₂ᵗ)) + ε)
///
/// Moments are kept per parameter, by index in the `params` array passed to `step`, so always
/// pass the same parameters in the same order. Weight decay applies by default to rank ≥ 2
/// parameters (matrices, embeddings), not to norms' weights or biases. `step` reads the
/// accumulated gradients and does not clear them: call `zeroGrad()` on each parameter before
/// the next accumulation.
public struct AdamW: Sendable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float

    /// Everything that evolves during training, for checkpoints. `m[i]`, `v[i]` hold parameter
    /// i's moments (`[Float]` of its element count; empty before the first step), `step` the
    /// number of updates done. Codable, and the arrays can also be written raw
    /// (`withUnsafeBytes`) and put back with `restore(_:)`.
    public struct State: Codable, Sendable, Equatable {
        public var step: Int
        public var m: [[Float]]
        public var v: [[Float]]
        public init(step: Int = 0, m: [[Float]] = [], v: [[Float]] = []) { (self.step, self.m, self.v) = (step, m, v) }
    }
    public private(set) var state = State()

    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0.01) {
        precondition((0..<1).contains(beta1) && (0..<1).contains(beta2) && epsilon > 0 && weightDecay >= 0,
                     "AdamW: invalid hyper-parameters β₁=\(beta1) β₂=\(beta2) ε=\(epsilon) wd=\(weightDecay)")
        (self.learningRate, self.beta1, self.beta2, self.epsilon, self.weightDecay) =
            (learningRate, beta1, beta2, epsilon, weightDecay)
    }

    /// Puts back a state taken from `state` (e.g. read from a checkpoint). Sizes are checked
    /// against the parameters at the next `step`.
    public mutating func restore(_ saved: State) {
        precondition(saved.m.count == saved.v.count && zip(saved.m, saved.v).allSatisfy { $0.count == $1.count },
                     "AdamW.restore: m and v do not match")
        state = saved
    }

    /// Whether decoupled weight decay applies to a parameter by default: rank ≥ 2.
    public static func decaysByDefault(_ p: Tensor) -> Bool { p.rank >= 2 }

    /// One update of every parameter with a gradient, at `learningRate` (e.g. from an
    /// `LRSchedule`). `decay[i]` overrides the rank rule for parameter i. Parameters whose
    /// gradient was never allocated are skipped (their moments do not move), as in PyTorch.
    public mutating func step(_ params: [Tensor], learningRate lr: Float, decay: [Bool]? = nil) {
        precondition(decay == nil || decay!.count == params.count, "AdamW.step: \(decay!.count) decay flags for \(params.count) params")
        if state.m.isEmpty && state.step == 0 {
            state.m = params.map { _ in [] }
            state.v = params.map { _ in [] }
        }
        precondition(state.m.count == params.count,
                     "AdamW.step: \(params.count) parameters, but the state holds moments for \(state.m.count)")
        state.step += 1
        let t = Float(state.step)
        let bc1 = 1 - pow(beta1, t), bc2 = 1 - pow(beta2, t)
        let (b1, b2, eps) = (beta1, beta2, epsilon)
        let stepSize = lr / bc1, invSqrtBC2 = 1 / bc2.squareRoot()
        for (i, p) in params.enumerated() {
            guard p.hasGrad else { continue }
            if state.m[i].isEmpty {
                state.m[i] = [Float](repeating: 0, count: p.count)
                state.v[i] = [Float](repeating: 0, count: p.count)
            }
            precondition(state.m[i].count == p.count, "AdamW.step: parameter \(i) has \(p.count) elements, moments \(state.m[i].count)")
            let shrink = (decay?[i] ?? Self.decaysByDefault(p)) ? 1 - lr * weightDecay : 1
            let n = p.count
            // Move the moments out so they can be mutated in place side by side (no copy: unique).
            var mi = state.m[i], vi = state.v[i]
            state.m[i] = []; state.v[i] = []
            mi.withUnsafeMutableBufferPointer { mb in
                vi.withUnsafeMutableBufferPointer { vb in
                    p.withGradPointer { g in
                        p.withPointer { x in
                            let m = mb.baseAddress!, v = vb.baseAddress!
                            Kernels.parallelChunks(n, costPerItem: 12) { r in
                                for j in r {
                                    m[j] = b1 * m[j] + (1 - b1) * g[j]
                                    v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j]
                                    // m̂ / (sqrt(v̂) + ε) with m̂ = m / bc1, v̂ = v / bc2 (torch's arrangement)
                                    x[j] = x[j] * shrink - stepSize * m[j] / (v[j].squareRoot() * invSqrtBC2 + eps)
                                }
                            }
                        }
                    }
                }
            }
            state.m[i] = mi; state.v[i] = vi
        }
    }

    /// `step` at the learning rate given at initialisation.
    public mutating func step(_ params: [Tensor], decay: [Bool]? = nil) { step(params, learningRate: learningRate, decay: decay) }
}
