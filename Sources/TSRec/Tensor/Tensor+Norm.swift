/// Normalisations over the last dimension: RMSNorm (Llama) and LayerNorm (BERT/MiniLM).

// MARK: - RMSNorm kernels

extension Kernels {
    /// y = x · r · w with r = 1 / sqrt(mean(x²) + eps), per row.
    /// x, out: [N, D]; weight: [D]; rstd: [N] (saved for backward; pass nil at inference).
    /// `out` may alias `x`.
    static func rmsNormForward(out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>?,
                               x: UnsafePointer<Float>, weight: UnsafePointer<Float>, n: Int, d: Int, eps: Float) {
        parallelChunks(n, costPerItem: 3 * d) { rows in
            for i in rows {
                let xi = x + i * d, yi = out + i * d
                let r = 1 / (dot(xi, xi, d) / Float(d) + eps).squareRoot()
                rstd?[i] = r
                for j in 0..<d { yi[j] = xi[j] * r * weight[j] }
            }
        }
    }

    /// forward was y = x·r·w, r = (mean(x²) + eps)^(−1/2), so
    ///   dw += Σ_rows dy ⊙ x·r
    ///   dx += r · (dy⊙w − x · r² · mean(dy⊙w⊙x))        (∂r/∂x_j = −r³ x_j / D)
    /// dx and dweight may each be nil when that input needs no gradient.
    static func rmsNormBackward(dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?,
                                dout: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                rstd: UnsafePointer<Float>, n: Int, d: Int) {
        if let dx {
            parallelChunks(n, costPerItem: 4 * d) { rows in
                for i in rows {
                    let xi = x + i * d, dyi = dout + i * d, dxi = dx + i * d
                    let r = rstd[i]
                    var dwx: Float = 0                      // Σ_j dy_j w_j x_j
                    for j in 0..<d { dwx += dyi[j] * weight[j] * xi[j] }
                    let c = r * r * r * dwx / Float(d)
                    for j in 0..<d { dxi[j] += r * dyi[j] * weight[j] - c * xi[j] }
                }
            }
        }
        if let dweight {  // a sum over rows: serial, so the order is fixed
            for i in 0..<n {
                let xi = x + i * d, dyi = dout + i * d, r = rstd[i]
                for j in 0..<d { dweight[j] += dyi[j] * xi[j] * r }
            }
        }
    }
}

// MARK: - LayerNorm kernels

extension Kernels {
    /// y = (x − μ) · s · w + b with μ = mean(x), s = 1 / sqrt(var(x) + eps) (biased variance),
    /// per row. x, out: [N, D]; weight, bias: [D]; mean, rstd: [N] (nil at inference).
    /// `out` may alias `x`.
    static func layerNormForward(out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>?,
                                 rstd: UnsafeMutablePointer<Float>?, x: UnsafePointer<Float>,
                                 weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, n: Int, d: Int, eps: Float) {
        parallelChunks(n, costPerItem: 4 * d) { rows in
            for i in rows {
                let xi = x + i * d, yi = out + i * d
                let mu = rowSum(xi, d) / Float(d)
                var v: Float = 0                              // two passes: no cancellation
                for j in 0..<d { let c = xi[j] - mu; v += c * c }
                let s = 1 / (v / Float(d) + eps).squareRoot()
                mean?[i] = mu
                rstd?[i] = s
                for j in 0..<d { yi[j] = (xi[j] - mu) * s * weight[j] + bias[j] }
            }
        }
    }

    /// forward was y = x̂·w + b with x̂ = (x − μ)·s, so
    ///   dw += Σ_rows dy ⊙ x̂,   db += Σ_rows dy
    ///   dx += s · (g − mean(g) − x̂ · mean(g ⊙ x̂))   with g = dy ⊙ w
    static func layerNormBackward(dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?,
                                  dbias: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>,
                                  x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                  mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, n: Int, d: Int) {
        if let dx {
            parallelChunks(n, costPerItem: 6 * d) { rows in
                for i in rows {
                    let xi = x + i * d, dyi = dout + i * d, dxi = dx + i * d
                    let mu = mean[i], s = rstd[i]
                    var gMean: Float = 0, gxMean: Float = 0
                    for j in 0..<d {
                        let g = dyi[j] * weight[j]
                        gMean += g
                        gxMean += g * (xi[j] - mu) * s
                    }
                    gMean /= Float(d); gxMean /= Float(d)
                    for j in 0..<d { dxi[j] += s * (dyi[j] * weight[j] - gMean - (xi[j] - mu) * s * gxMean) }
                }
            }
        }
        if dweight != nil || dbias != nil {
            for i in 0..<n {
                let xi = x + i * d, dyi = dout + i * d, mu = mean[i], s = rstd[i]
                if let dweight { for j in 0..<d { dweight[j] += dyi[j] * (xi[j] - mu) * s } }
                if let dbias { for j in 0..<d { dbias[j] += dyi[j] } }
            }
        }
    }
}

// MARK: - Tape ops

extension Tape {
    /// RMSNorm over the last dimension: `x [..., D]`, `weight [D]` → same shape as `x`.
    /// y = x / sqrt(mean(x²) + eps) ⊙ w (Zhang & Sennrich 2019; Llama's `RMSNorm`).
    public func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float) -> Tensor {
        let D = x.shape.last ?? 0
        precondition(weight.shape == [D], "rmsNorm: weight \(weight.shape) for x \(x.shape)")
        let N = D == 0 ? 0 : x.count / D
        let y = Tensor(uninitialized: x.shape, requiresGrad: needsGrad(x, weight))
        let rstd = y.requiresGrad ? Tensor(uninitialized: [N], requiresGrad: false) : nil
        withOptionalPointer(rstd) { rstd in
            withPointers(y, x, weight) { out, x, w in
                Kernels.rmsNormForward(out: out, rstd: rstd, x: x, weight: w, n: N, d: D, eps: eps)
            }
        }
        guard y.requiresGrad, let rstd else { return y }
        record {
            y.withAccumulatedGrad { dy in
                withGradPointersIfRequired(x, weight) { dx, dw in
                    withPointers(x, weight, rstd) { x, w, rstd in
                        Kernels.rmsNormBackward(dx: dx, dweight: dw, dout: dy, x: x, weight: w, rstd: rstd, n: N, d: D)
                    }
                }
            }
        }
        return y
    }

    /// LayerNorm over the last dimension: `x [..., D]`, `weight, bias [D]` → same shape.
    /// y = (x − mean) / sqrt(var + eps) ⊙ w + b, biased variance (Ba et al. 2016; BERT).
    public func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) -> Tensor {
        let D = x.shape.last ?? 0
        precondition(weight.shape == [D] && bias.shape == [D],
                     "layerNorm: weight \(weight.shape), bias \(bias.shape) for x \(x.shape)")
        let N = D == 0 ? 0 : x.count / D
        let y = Tensor(uninitialized: x.shape, requiresGrad: needsGrad(x, weight, bias))
        let stats = y.requiresGrad ? Tensor(uninitialized: [2, N], requiresGrad: false) : nil  // mean, rstd
        withOptionalPointer(stats) { stats in
            withPointers(y, x, weight, bias) { out, x, w, b in
                Kernels.layerNormForward(out: out, mean: stats, rstd: stats.map { $0 + N },
                                         x: x, weight: w, bias: b, n: N, d: D, eps: eps)
            }
        }
        guard y.requiresGrad, let stats else { return y }
        record {
            y.withAccumulatedGrad { dy in
                withGradPointersIfRequired(x, weight, bias) { dx, dw, db in
                    withPointers(x, weight, stats) { x, w, stats in
                        Kernels.layerNormBackward(dx: dx, dweight: dw, dbias: db, dout: dy, x: x, weight: w,
                                                  mean: stats, rstd: stats + N, n: N, d: D)
                    }
                }
            }
        }
        return y
    }
}
