/// Elementwise ops and reductions. Each forward sits next to its backward; derivatives are
/// stated on the backward lines.
extension Tape {
    /// `y = a + b` (same shape). dA += dY, dB += dY.
    public func add(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "add: \(a.shape) vs \(b.shape)")
        let y = Tensor(uninitialized: a.shape, requiresGrad: needsGrad(a, b))
        let n = a.count
        withPointers(y, a, b) { py, pa, pb in for i in 0..<n { py[i] = pa[i] + pb[i] } }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                for t in [a, b] where t.requiresGrad {
                    t.withGradPointer { g in for i in 0..<n { g[i] += dy[i] } }
                }
            }
        }
        return y
    }

    /// `y = a ⊙ b` (same shape). dA += dY ⊙ b, dB += dY ⊙ a.
    public func mul(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "mul: \(a.shape) vs \(b.shape)")
        let y = Tensor(uninitialized: a.shape, requiresGrad: needsGrad(a, b))
        let n = a.count
        withPointers(y, a, b) { py, pa, pb in for i in 0..<n { py[i] = pa[i] * pb[i] } }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                withPointers(a, b) { pa, pb in
                    if a.requiresGrad { a.withGradPointer { g in for i in 0..<n { g[i] += dy[i] * pb[i] } } }
                    if b.requiresGrad { b.withGradPointer { g in for i in 0..<n { g[i] += dy[i] * pa[i] } } }
                }
            }
        }
        return y
    }

    /// `y = s · x`. dX += s · dY.
    public func scale(_ x: Tensor, by s: Float) -> Tensor {
        let y = Tensor(uninitialized: x.shape, requiresGrad: needsGrad(x))
        let n = x.count
        withPointers(y, x) { py, px in for i in 0..<n { py[i] = s * px[i] } }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                x.withGradPointer { g in for i in 0..<n { g[i] += s * dy[i] } }
            }
        }
        return y
    }

    /// `y = Σ x` (a one-element tensor). dX += dY (broadcast).
    public func sum(_ x: Tensor) -> Tensor {
        let y = Tensor(uninitialized: [1], requiresGrad: needsGrad(x))
        let s = x.withUnsafeBufferPointer { px in px.reduce(0) { $0 + Double($1) } }
        y.withPointer { $0[0] = Float(s) }
        guard y.requiresGrad else { return y }
        record {
            guard let dy = y.withAccumulatedGrad({ $0[0] }) else { return }
            x.withGradPointer { g in for i in 0..<x.count { g[i] += dy } }
        }
        return y
    }

    /// The same values with another shape (no copy). dX += dY (reshaped back).
    public func reshape(_ x: Tensor, _ shape: [Int]) -> Tensor {
        let y = Tensor(sharing: x, shape: shape, requiresGrad: needsGrad(x))
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                x.withGradPointer { g in for i in 0..<x.count { g[i] += dy[i] } }
            }
        }
        return y
    }
}

extension Tape {
    /// The one tape wrapper of every unary elementwise op (silu, gelu, sigmoid, tanh, relu):
    /// `forward(out, x, n)` fills a new tensor of x's shape; on the backward pass
    /// `backward(dx, dy, x, y, n)` accumulates dL/dx into x's gradient. Each op passes its two
    /// pointer kernels, which hold the math and are reused by the tape-free inference paths.
    func unary(_ x: Tensor,
               forward: (UnsafeMutablePointer<Float>, UnsafePointer<Float>, Int) -> Void,
               backward: @escaping (_ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>,
                                    _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Void) -> Tensor {
        let y = Tensor(uninitialized: x.shape, requiresGrad: needsGrad(x))
        withPointers(y, x) { py, px in forward(py, px, x.count) }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                x.withGradPointer { dx in withPointers(x, y) { px, py in backward(dx, dy, px, py, x.count) } }
            }
        }
        return y
    }
}
