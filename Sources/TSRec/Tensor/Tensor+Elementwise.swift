/// Elementwise ops and reductions. Each forward sits next to its backward; derivatives are
/// stated on the backward lines.
extension Tape {
    /// `y = a + b` (same shape). dA += dY, dB += dY.
    public func add(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "add: \(a.shape) vs \(b.shape)")
        let y = Tensor(uninitialized: a.shape, requiresGrad: needsGrad(a, b))
        let n = a.count, pa = a.pointer, pb = b.pointer, py = y.pointer
        for i in 0..<n { py[i] = pa[i] + pb[i] }
        guard y.requiresGrad else { return y }
        record {
            guard let dy = y.gradStorage?.pointer else { return }
            for t in [a, b] where t.requiresGrad {
                let g = t.gradPointer().pointer
                for i in 0..<n { g[i] += dy[i] }
            }
        }
        return y
    }

    /// `y = a ⊙ b` (same shape). dA += dY ⊙ b, dB += dY ⊙ a.
    public func mul(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "mul: \(a.shape) vs \(b.shape)")
        let y = Tensor(uninitialized: a.shape, requiresGrad: needsGrad(a, b))
        let n = a.count, pa = a.pointer, pb = b.pointer, py = y.pointer
        for i in 0..<n { py[i] = pa[i] * pb[i] }
        guard y.requiresGrad else { return y }
        record {
            guard let dy = y.gradStorage?.pointer else { return }
            if a.requiresGrad { let g = a.gradPointer().pointer; for i in 0..<n { g[i] += dy[i] * pb[i] } }
            if b.requiresGrad { let g = b.gradPointer().pointer; for i in 0..<n { g[i] += dy[i] * pa[i] } }
        }
        return y
    }

    /// `y = s · x`. dX += s · dY.
    public func scale(_ x: Tensor, by s: Float) -> Tensor {
        let y = Tensor(uninitialized: x.shape, requiresGrad: needsGrad(x))
        let n = x.count, px = x.pointer, py = y.pointer
        for i in 0..<n { py[i] = s * px[i] }
        guard y.requiresGrad else { return y }
        record {
            guard let dy = y.gradStorage?.pointer else { return }
            let g = x.gradPointer().pointer
            for i in 0..<n { g[i] += s * dy[i] }
        }
        return y
    }

    /// `y = Σ x` (a one-element tensor). dX += dY (broadcast).
    public func sum(_ x: Tensor) -> Tensor {
        let y = Tensor(uninitialized: [1], requiresGrad: needsGrad(x))
        var s: Double = 0
        for i in 0..<x.count { s += Double(x.pointer[i]) }
        y.pointer[0] = Float(s)
        guard y.requiresGrad else { return y }
        record {
            guard let dy = y.gradStorage?.pointer[0] else { return }
            let g = x.gradPointer().pointer
            for i in 0..<x.count { g[i] += dy }
        }
        return y
    }

    /// The same values with another shape (no copy). dX += dY (reshaped back).
    public func reshape(_ x: Tensor, _ shape: [Int]) -> Tensor {
        let y = Tensor(sharing: x, shape: shape, requiresGrad: needsGrad(x))
        guard y.requiresGrad else { return y }
        record {
            guard let dy = y.gradStorage?.pointer else { return }
            let g = x.gradPointer().pointer
            for i in 0..<x.count { g[i] += dy[i] }
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
        forward(y.pointer, x.pointer, x.count)
        guard y.requiresGrad else { return y }
        record {
            guard let dy = y.gradStorage?.pointer else { return }
            backward(x.gradPointer().pointer, dy, x.pointer, y.pointer, x.count)
        }
        return y
    }
}
