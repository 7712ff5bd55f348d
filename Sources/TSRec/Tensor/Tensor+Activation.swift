import Foundation

/// Pointwise activations (SiLU, fused SwiGLU, exact GELU) and inverted dropout.

// MARK: - SiLU / SwiGLU kernels

extension Kernels {
    /// y = x · σ(x).   x, out: [n] (any shape, flat); `out` may alias `x`.
    static func siluForward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, n: Int) {
        parallelChunks(n, costPerItem: 20) { r in
            for i in r { out[i] = x[i] * sigmoid(x[i]) }
        }
    }

    /// forward was y = x·σ(x), so dx += dy · σ(x)·(1 + x·(1 − σ(x))).
    static func siluBackward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, x: UnsafePointer<Float>, n: Int) {
        parallelChunks(n, costPerItem: 20) { r in
            for i in r {
                let s = sigmoid(x[i])
                dx[i] += dout[i] * s * (1 + x[i] * (1 - s))
            }
        }
    }

    /// y = silu(gate) ⊙ up (Shazeer 2020, the Llama MLP). gate, up, out: [n]; `out` may alias either.
    static func swigluForward(out: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, n: Int) {
        parallelChunks(n, costPerItem: 20) { r in
            for i in r { out[i] = gate[i] * sigmoid(gate[i]) * up[i] }
        }
    }

    /// forward was y = g·σ(g)·u, so
    ///   dg += dy · u · σ(g)·(1 + g·(1 − σ(g))),   du += dy · g·σ(g)
    static func swigluBackward(dgate: UnsafeMutablePointer<Float>?, dup: UnsafeMutablePointer<Float>?,
                               dout: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, n: Int) {
        parallelChunks(n, costPerItem: 24) { r in
            if let dgate, let dup {
                for i in r {
                    let g = gate[i], s = sigmoid(g)
                    dgate[i] += dout[i] * up[i] * s * (1 + g * (1 - s))
                    dup[i] += dout[i] * g * s
                }
            } else if let dgate {
                for i in r { let g = gate[i], s = sigmoid(g); dgate[i] += dout[i] * up[i] * s * (1 + g * (1 - s)) }
            } else if let dup {
                for i in r { dup[i] += dout[i] * gate[i] * sigmoid(gate[i]) }
            }
        }
    }
}

// MARK: - GELU kernels

extension Kernels {
    /// y = x · Φ(x) = ½ x (1 + erf(x / √2)), the exact form (BERT, MiniLM), with `Kernels.erf`
    /// (|error| < 3e-7). `out` may alias `x`.
    static func geluForward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, n: Int) {
        parallelChunks(n, costPerItem: 40) { r in
            for i in r { out[i] = 0.5 * x[i] * (1 + erf(x[i] * 0.707_106_77)) }
        }
    }

    /// forward was y = x·Φ(x), so dx += dy · (Φ(x) + x·φ(x)),  φ(x) = e^(−x²/2) / √(2π).
    static func geluBackward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, x: UnsafePointer<Float>, n: Int) {
        parallelChunks(n, costPerItem: 60) { r in
            for i in r {
                let v = x[i]
                let cdf = 0.5 * (1 + erf(v * 0.707_106_77))
                let pdf = exp(-0.5 * v * v) * 0.398_942_28
                dx[i] += dout[i] * (cdf + v * pdf)
            }
        }
    }
}

// MARK: - Dropout kernels

extension Kernels {
    /// Draws the inverted-dropout multipliers: mask[i] = 1/(1−p) with probability 1 − p, else 0
    /// (one uniform per element, in index order, so a seed fixes the mask).
    static func dropoutMask(_ mask: UnsafeMutablePointer<Float>, n: Int, p: Float, rng: inout SplitMix64) {
        let keep = 1 / (1 - p)
        for i in 0..<n { mask[i] = rng.nextUniformFloat() >= p ? keep : 0 }
    }

    /// y = x ⊙ mask.
    static func dropoutForward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, mask: UnsafePointer<Float>, n: Int) {
        for i in 0..<n { out[i] = x[i] * mask[i] }
    }

    /// forward was y = x ⊙ mask, so dx += dy ⊙ mask (the same mask).
    static func dropoutBackward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, mask: UnsafePointer<Float>, n: Int) {
        for i in 0..<n { dx[i] += dout[i] * mask[i] }
    }
}

// MARK: - Tape ops

extension Tape {
    /// SiLU (swish): y = x · σ(x), elementwise, any shape.
    public func silu(_ x: Tensor) -> Tensor {
        unary(x, forward: { Kernels.siluForward(out: $0, x: $1, n: $2) },
              backward: { dx, dy, x, y, n in Kernels.siluBackward(dx: dx, dout: dy, x: x, n: n) })
    }

    /// Fused SwiGLU: y = silu(gate) ⊙ up (same shapes), the Llama MLP's middle.
    public func swiglu(gate: Tensor, up: Tensor) -> Tensor {
        precondition(gate.shape == up.shape, "swiglu: gate \(gate.shape) vs up \(up.shape)")
        let y = Tensor(uninitialized: gate.shape, requiresGrad: needsGrad(gate, up))
        withPointers(y, gate, up) { out, gate, up in Kernels.swigluForward(out: out, gate: gate, up: up, n: y.count) }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                withGradPointersIfRequired(gate, up) { dgate, dup in
                    withPointers(gate, up) { g, u in
                        Kernels.swigluBackward(dgate: dgate, dup: dup, dout: dy, gate: g, up: u, n: y.count)
                    }
                }
            }
        }
        return y
    }

    /// GELU, exact erf form: y = ½ x (1 + erf(x/√2)).
    public func gelu(_ x: Tensor) -> Tensor {
        unary(x, forward: { Kernels.geluForward(out: $0, x: $1, n: $2) },
              backward: { dx, dy, x, y, n in Kernels.geluBackward(dx: dx, dout: dy, x: x, n: n) })
    }

    /// Inverted dropout: each element is kept with probability 1 − p and scaled by 1/(1 − p),
    /// so E[y] = x. `p == 0` returns `x` itself and draws nothing from `rng` (use it for
    /// evaluation). The mask is drawn from `rng` in element order and reused by backward.
    public func dropout(_ x: Tensor, p: Float, rng: inout SplitMix64) -> Tensor {
        precondition(p >= 0 && p < 1, "dropout: p = \(p) must be in [0, 1)")
        if p == 0 { return x }
        let mask = Tensor(uninitialized: x.shape, requiresGrad: false)
        mask.withPointer { Kernels.dropoutMask($0, n: x.count, p: p, rng: &rng) }
        let y = Tensor(uninitialized: x.shape, requiresGrad: needsGrad(x))
        withPointers(y, x, mask) { out, x, mask in Kernels.dropoutForward(out: out, x: x, mask: mask, n: y.count) }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                x.withGradPointer { dx in
                    mask.withPointer { mask in Kernels.dropoutBackward(dx: dx, dout: dy, mask: mask, n: x.count) }
                }
            }
        }
        return y
    }
}
