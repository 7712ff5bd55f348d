import Foundation

/// Pointwise ops the ID-based baselines need beyond the engine's (GRU gates, Caser's ReLU, bias
/// broadcast of linear layers, HSTU's L2-normalised outputs). Each forward kernel sits next to
/// its backward; derivatives are stated on the backward lines.

// MARK: - Kernels

extension Kernels {
    /// y = σ(x) = 1 / (1 + e^(−x)).
    static func sigmoidForward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, n: Int) {
        for i in 0..<n { out[i] = sigmoid(x[i]) }
    }

    /// forward was y = σ(x), so dx += dy · y (1 − y)  (uses the saved output).
    static func sigmoidBackward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, y: UnsafePointer<Float>, n: Int) {
        for i in 0..<n { dx[i] += dout[i] * y[i] * (1 - y[i]) }
    }

    /// y = tanh(x) = 2σ(2x) − 1 (the vectorizable `exp`; |error| ≲ 1e-7 absolute).
    static func tanhForward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, n: Int) {
        for i in 0..<n { out[i] = 2 * sigmoid(2 * x[i]) - 1 }
    }

    /// forward was y = tanh(x), so dx += dy · (1 − y²).
    static func tanhBackward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, y: UnsafePointer<Float>, n: Int) {
        for i in 0..<n { dx[i] += dout[i] * (1 - y[i] * y[i]) }
    }

    /// y = max(x, 0).
    static func reluForward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, n: Int) {
        for i in 0..<n { out[i] = x[i] > 0 ? x[i] : 0 }
    }

    /// forward was y = max(x, 0), so dx += dy · [x > 0]  (subgradient 0 at x = 0).
    static func reluBackward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, x: UnsafePointer<Float>, n: Int) {
        for i in 0..<n where x[i] > 0 { dx[i] += dout[i] }
    }

    /// y[r, :] = x[r, :] + b.   x, out: [R, D]; b: [D]. `out` may alias `x`.
    static func addBiasForward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, b: UnsafePointer<Float>, rows: Int, d: Int) {
        for r in 0..<rows {
            let xi = x + r * d, yi = out + r * d
            for j in 0..<d { yi[j] = xi[j] + b[j] }
        }
    }

    /// forward was y = x + b (b broadcast over rows), so dx += dy, db += Σ_rows dy (serial: fixed order).
    static func addBiasBackward(dx: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?,
                                dout: UnsafePointer<Float>, rows: Int, d: Int) {
        if let dx { for i in 0..<rows * d { dx[i] += dout[i] } }
        if let db {
            for r in 0..<rows {
                let g = dout + r * d
                for j in 0..<d { db[j] += g[j] }
            }
        }
    }

    /// y[r, :] = x[r, :] / max(‖x[r, :]‖₂, eps), per row. x, out: [R, D]; norms: [R] (saved).
    static func l2NormalizeForward(out: UnsafeMutablePointer<Float>, norms: UnsafeMutablePointer<Float>,
                                   x: UnsafePointer<Float>, rows: Int, d: Int, eps: Float) {
        for r in 0..<rows {
            let xi = x + r * d, yi = out + r * d
            let n = max(dot(xi, xi, d).squareRoot(), eps)
            norms[r] = n
            for j in 0..<d { yi[j] = xi[j] / n }
        }
    }

    /// forward was y = x / n with n = ‖x‖ (when ‖x‖ > eps), so dx += (dy − y ⟨y, dy⟩) / n;
    /// when the norm was clamped to eps, n is a constant and dx += dy / eps.
    static func l2NormalizeBackward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, y: UnsafePointer<Float>,
                                    x: UnsafePointer<Float>, norms: UnsafePointer<Float>, rows: Int, d: Int, eps: Float) {
        for r in 0..<rows {
            let yi = y + r * d, gi = dout + r * d, di = dx + r * d, n = norms[r]
            let clamped = dot(x + r * d, x + r * d, d).squareRoot() <= eps
            let inner = clamped ? 0 : dot(yi, gi, d)
            for j in 0..<d { di[j] += (gi[j] - yi[j] * inner) / n }
        }
    }
}

// MARK: - Tape ops

extension Tape {
    /// Logistic sigmoid, elementwise, any shape: y = 1 / (1 + e^(−x)).
    public func sigmoid(_ x: Tensor) -> Tensor {
        unary(x, forward: { Kernels.sigmoidForward(out: $0, x: $1, n: $2) },
              backward: { dx, dy, x, y, n in Kernels.sigmoidBackward(dx: dx, dout: dy, y: y, n: n) })
    }

    /// Hyperbolic tangent, elementwise, any shape.
    public func tanh(_ x: Tensor) -> Tensor {
        unary(x, forward: { Kernels.tanhForward(out: $0, x: $1, n: $2) },
              backward: { dx, dy, x, y, n in Kernels.tanhBackward(dx: dx, dout: dy, y: y, n: n) })
    }

    /// Rectified linear unit, elementwise, any shape: y = max(x, 0).
    public func relu(_ x: Tensor) -> Tensor {
        unary(x, forward: { Kernels.reluForward(out: $0, x: $1, n: $2) },
              backward: { dx, dy, x, y, n in Kernels.reluBackward(dx: dx, dout: dy, x: x, n: n) })
    }

    /// Adds a bias row to every row: `x [..., D] + b [D]` → `[..., D]` (a linear layer's bias).
    public func addBias(_ x: Tensor, _ b: Tensor) -> Tensor {
        let D = x.shape.last ?? 0
        precondition(b.shape == [D], "addBias: x \(x.shape) with bias \(b.shape)")
        let rows = x.count / max(D, 1)
        let y = Tensor(uninitialized: x.shape, requiresGrad: needsGrad(x, b))
        withPointers(y, x, b) { out, x, b in Kernels.addBiasForward(out: out, x: x, b: b, rows: rows, d: D) }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                withGradPointersIfRequired(x, b) { dx, db in
                    Kernels.addBiasBackward(dx: dx, db: db, dout: dy, rows: rows, d: D)
                }
            }
        }
        return y
    }

    /// Row-wise L2 normalisation: `x [..., D]` → `x / max(‖x‖₂, eps)` per row.
    public func l2Normalize(_ x: Tensor, eps: Float = 1e-6) -> Tensor {
        let D = x.shape.last ?? 0, rows = x.count / max(D, 1)
        let y = Tensor(uninitialized: x.shape, requiresGrad: needsGrad(x))
        let norms = Tensor(uninitialized: [rows], requiresGrad: false)
        withPointers(y, norms, x) { out, norms, x in
            Kernels.l2NormalizeForward(out: out, norms: norms, x: x, rows: rows, d: D, eps: eps)
        }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                x.withGradPointer { dx in
                    withPointers(y, x, norms) { py, px, norms in
                        Kernels.l2NormalizeBackward(dx: dx, dout: dy, y: py, x: px, norms: norms, rows: rows, d: D, eps: eps)
                    }
                }
            }
        }
        return y
    }
}

// MARK: - Binary cross-entropy

extension Tape {
    /// Mean binary cross-entropy with logits: `x [N]` (any shape, N elements), labels `y [N]` in {0, 1}:
    ///     L = (1/N) Σ max(x, 0) − x·y + log(1 + e^(−|x|))       (stable softplus form)
    /// dL/dx = (σ(x) − y) / N.
    public func binaryCrossEntropy(logits x: Tensor, labels: [Float]) -> Tensor {
        precondition(labels.count == x.count && x.count > 0, "binaryCrossEntropy: \(labels.count) labels for \(x.count) logits")
        let n = x.count
        let y = Tensor(uninitialized: [1], requiresGrad: needsGrad(x))
        var total: Double = 0
        x.withPointer { px in
            for i in 0..<n {
                let v = px[i]
                total += Double(max(v, 0) - v * labels[i] + Foundation.log1p(Kernels.exp(-abs(v))))
            }
        }
        y.withPointer { $0[0] = Float(total / Double(n)) }
        guard y.requiresGrad else { return y }
        record {
            guard let dy = y.withAccumulatedGrad({ $0[0] }) else { return }
            x.withGradPointer { g in
                x.withPointer { px in for i in 0..<n { g[i] += dy * (Kernels.sigmoid(px[i]) - labels[i]) / Float(n) } }
            }
        }
        return y
    }
}
