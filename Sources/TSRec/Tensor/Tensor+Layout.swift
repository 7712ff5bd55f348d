/// Layout ops: column slices and concatenation (splitting fused projections, Caser's concatenated
/// features), a batched transpose, sliding windows (Caser's horizontal convolution as im2col)
/// and max-pooling over time. Pure data movement: every backward scatters `dy` back where the
/// forward gathered it from.

// MARK: - Kernels

extension Kernels {
    /// out[r, :] = x[r, start ..< start + w].   x: [R, C], out: [R, w]
    static func sliceColumnsForward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, rows: Int, cols: Int, start: Int, width: Int) {
        for r in 0..<rows { (out + r * width).update(from: x + r * cols + start, count: width) }
    }

    /// forward was a column slice, so dx[r, start + j] += dy[r, j].
    static func sliceColumnsBackward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, rows: Int, cols: Int, start: Int, width: Int) {
        for r in 0..<rows {
            let d = dx + r * cols + start, g = dout + r * width
            for j in 0..<width { d[j] += g[j] }
        }
    }

    /// out[b, j, i] = x[b, i, j].   x: [B, M, N], out: [B, N, M]
    static func transposeLastTwo(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, batch: Int, m: Int, n: Int) {
        for b in 0..<batch {
            let xb = x + b * m * n, ob = out + b * m * n
            for i in 0..<m { for j in 0..<n { ob[j * m + i] = xb[i * n + j] } }
        }
    }

    /// out[b, t, :] = x[b, t ..< t + h, :] flattened, for t in 0 ..< T − h + 1.
    /// x: [B, T, D], out: [B, T − h + 1, h·D]. Window t of batch b is the contiguous block of
    /// h·D floats starting at row b·T + t, so this is a strided copy.
    static func windowsForward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, batch: Int, seq: Int, d: Int, h: Int) {
        let n = seq - h + 1
        for b in 0..<batch {
            for t in 0..<n { (out + (b * n + t) * h * d).update(from: x + (b * seq + t) * d, count: h * d) }
        }
    }

    /// forward copied overlapping windows, so dx[b, t + i, :] += dy[b, t, i·D ..< (i+1)·D] for every window.
    static func windowsBackward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, batch: Int, seq: Int, d: Int, h: Int) {
        let n = seq - h + 1
        for b in 0..<batch {
            for t in 0..<n {
                let src = dout + (b * n + t) * h * d, dst = dx + (b * seq + t) * d
                for i in 0..<h * d { dst[i] += src[i] }
            }
        }
    }

    /// out[b, c] = max_t x[b, t, c]; argmax[b, c] = the first t attaining it.   x: [B, T, C]
    static func maxOverTimeForward(out: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>,
                                   x: UnsafePointer<Float>, batch: Int, seq: Int, c: Int) {
        for b in 0..<batch {
            for j in 0..<c {
                var best = x[b * seq * c + j], at: Int32 = 0
                for t in 1..<max(seq, 1) where x[(b * seq + t) * c + j] > best {
                    best = x[(b * seq + t) * c + j]
                    at = Int32(t)
                }
                out[b * c + j] = best
                argmax[b * c + j] = at
            }
        }
    }

    /// forward was y = max_t x, so the gradient goes to the (first) maximal element only:
    /// dx[b, argmax, c] += dy[b, c].
    static func maxOverTimeBackward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, argmax: UnsafePointer<Int32>,
                                    batch: Int, seq: Int, c: Int) {
        for b in 0..<batch {
            for j in 0..<c { dx[(b * seq + Int(argmax[b * c + j])) * c + j] += dout[b * c + j] }
        }
    }
}

// MARK: - Tape ops

extension Tape {
    /// Columns `start ..< start + width` of `x [R, C]` → `[R, width]` (e.g. one gate of a fused projection).
    public func sliceColumns(_ x: Tensor, start: Int, width: Int) -> Tensor {
        let (R, C) = x.dims2()
        precondition(start >= 0 && width >= 0 && start + width <= C, "sliceColumns: \(start)..<\(start + width) of \(C) columns")
        let y = Tensor(uninitialized: [R, width], requiresGrad: needsGrad(x))
        withPointers(y, x) { out, x in
            Kernels.sliceColumnsForward(out: out, x: x, rows: R, cols: C, start: start, width: width)
        }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                x.withGradPointer { dx in
                    Kernels.sliceColumnsBackward(dx: dx, dout: dy, rows: R, cols: C, start: start, width: width)
                }
            }
        }
        return y
    }

    /// Side-by-side concatenation: `[R, C₀], [R, C₁], …` → `[R, ΣCᵢ]`.
    public func concatColumns(_ xs: [Tensor]) -> Tensor {
        precondition(!xs.isEmpty, "concatColumns: no inputs")
        let R = xs[0].dims2().0
        for x in xs { precondition(x.rank == 2 && x.shape[0] == R, "concatColumns: \(xs.map(\.shape)) differ in rows") }
        let widths = xs.map { $0.shape[1] }, total = widths.reduce(0, +)
        let y = Tensor(uninitialized: [R, total], requiresGrad: xs.contains { $0.requiresGrad } && isRecording)
        var start = 0
        for (x, w) in zip(xs, widths) {        // the forward of y[:, start..<start+w] = x is the slice backward's transpose
            withPointers(y, x) { py, px in
                for r in 0..<R { (py + r * total + start).update(from: px + r * w, count: w) }
            }
            start += w
        }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                var start = 0
                for (x, w) in zip(xs, widths) {    // dxᵢ += dy[:, startᵢ ..< startᵢ + wᵢ]
                    if x.requiresGrad {
                        x.withGradPointer { g in
                            for r in 0..<R { for j in 0..<w { g[r * w + j] += dy[r * total + start + j] } }
                        }
                    }
                    start += w
                }
            }
        }
        return y
    }

    /// Batched transpose of the last two dimensions: `x [B, M, N]` → `[B, N, M]`.
    public func transposeLastTwo(_ x: Tensor) -> Tensor {
        let (B, M, N) = x.dims3()
        let y = Tensor(uninitialized: [B, N, M], requiresGrad: needsGrad(x))
        withPointers(y, x) { out, x in Kernels.transposeLastTwo(out: out, x: x, batch: B, m: M, n: N) }
        guard y.requiresGrad else { return y }
        record {                               // dx = transpose(dy), accumulated
            y.withAccumulatedGrad { dy in
                x.withGradPointer { g in
                    for b in 0..<B {
                        for i in 0..<M { for j in 0..<N { g[b * M * N + i * N + j] += dy[b * M * N + j * M + i] } }
                    }
                }
            }
        }
        return y
    }

    /// Sliding windows of `h` consecutive time steps: `x [B, T, D]` → `[B, T − h + 1, h·D]`
    /// (im2col for a convolution of height h over time; multiply by `[filters, h·D]ᵀ` next).
    public func windows(_ x: Tensor, height h: Int) -> Tensor {
        let (B, T, D) = x.dims3()
        precondition(h >= 1 && h <= T, "windows: height \(h) for \(T) steps")
        let y = Tensor(uninitialized: [B, T - h + 1, h * D], requiresGrad: needsGrad(x))
        withPointers(y, x) { out, x in Kernels.windowsForward(out: out, x: x, batch: B, seq: T, d: D, h: h) }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                x.withGradPointer { dx in Kernels.windowsBackward(dx: dx, dout: dy, batch: B, seq: T, d: D, h: h) }
            }
        }
        return y
    }

    /// Max-pooling over the whole time axis: `x [B, T, C]` → `[B, C]`; ties go to the earliest step.
    public func maxOverTime(_ x: Tensor) -> Tensor {
        let (B, T, C) = x.dims3()
        precondition(T >= 1 && B * C > 0, "maxOverTime: empty input \(x.shape)")
        let y = Tensor(uninitialized: [B, C], requiresGrad: needsGrad(x))
        var argmax = [Int32](repeating: 0, count: B * C)
        argmax.withUnsafeMutableBufferPointer { a in
            withPointers(y, x) { out, x in
                Kernels.maxOverTimeForward(out: out, argmax: a.baseAddress!, x: x, batch: B, seq: T, c: C)
            }
        }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                argmax.withUnsafeBufferPointer { a in
                    x.withGradPointer { dx in
                        Kernels.maxOverTimeBackward(dx: dx, dout: dy, argmax: a.baseAddress!, batch: B, seq: T, c: C)
                    }
                }
            }
        }
        return y
    }
}
