import Foundation

/// Rotary position embedding (Su et al. 2021) in llama.cpp's "NORM" layout: within each head,
/// the ADJACENT pair (x[2i], x[2i+1]) is rotated by the angle θᵢ = pos · base^(−2i/Dh).
/// (GGUF converters permute Llama's q/k weight rows so that this layout equals the Hugging Face
/// "rotate half" layout of the original checkpoint.)

// MARK: - Kernels

extension Kernels {
    /// cos θ and sin θ for the positions of one call, θᵢ = pos · base^(−2i/Dh) computed in Double.
    /// Positions repeat across a batch, so the table covers the range min...max of positions
    /// (or one row per input row when that range is sparse); `slot(row:position:)` indexes it.
    struct RopeAngles {
        let half: Int
        /// [2, P, Dh/2]: cos for P slots, then sin for P slots.
        let table: [Float]
        let first: Int32, perRow: Bool, slots: Int

        init(positions: UnsafePointer<Int32>, n: Int, headDim: Int, base: Float) {
            half = headDim / 2
            var lo = Int32.max, hi = Int32.min
            for r in 0..<n { lo = min(lo, positions[r]); hi = max(hi, positions[r]) }
            let span = n == 0 ? 0 : Int(hi) - Int(lo) + 1
            perRow = span > max(n, 256)
            first = n == 0 ? 0 : lo
            slots = perRow ? n : span
            var invFreq = [Double](repeating: 0, count: half)
            for i in 0..<half { invFreq[i] = pow(Double(base), -2 * Double(i) / Double(headDim)) }
            var table = [Float](repeating: 0, count: max(2 * slots * half, 1))
            let (slots, half, perRow, first) = (slots, half, perRow, first)
            table.withUnsafeMutableBufferPointer { t in
                let c = t.baseAddress!, s = c + slots * half
                for k in 0..<slots {
                    let pos = perRow ? Double(positions[k]) : Double(Int(first) + k)
                    for i in 0..<half {
                        let theta = pos * invFreq[i]
                        c[k * half + i] = Float(Foundation.cos(theta))
                        s[k * half + i] = Float(Foundation.sin(theta))
                    }
                }
            }
            self.table = table
        }

        @inline(__always) func slot(row r: Int, position p: Int32) -> Int { perRow ? r : Int(p - first) }

        /// Runs `body` with the cos table and the sin table, each [P, Dh/2].
        @inline(__always)
        func withCosSin<R>(_ body: (_ cos: UnsafePointer<Float>, _ sin: UnsafePointer<Float>) throws -> R) rethrows -> R {
            try table.withUnsafeBufferPointer { t in try body(t.baseAddress!, t.baseAddress! + slots * half) }
        }
    }

    /// (y₀, y₁) = (x₀ cos θ − x₁ sin θ, x₀ sin θ + x₁ cos θ) for each adjacent pair of each head.
    /// x, out: [N, heads·Dh] (row stride heads·Dh); positions: [N]. `out` may alias `x`
    /// (in-place rotation of a KV-cache row is fine). Pass `angles` to reuse a table.
    static func ropeForward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, positions: UnsafePointer<Int32>,
                            n: Int, heads: Int, headDim: Int, base: Float, angles: RopeAngles? = nil) {
        let angles = angles ?? RopeAngles(positions: positions, n: n, headDim: headDim, base: base)
        let half = headDim / 2, width = heads * headDim
        angles.withCosSin { cosT, sinT in
            parallelChunks(n, costPerItem: 3 * width) { rows in
                for r in rows {
                    let cr = cosT + angles.slot(row: r, position: positions[r]) * half
                    let sr = sinT + angles.slot(row: r, position: positions[r]) * half
                    for h in 0..<heads {
                        let xi = x + r * width + h * headDim, yi = out + r * width + h * headDim
                        for i in 0..<half {
                            let c = cr[i], s = sr[i]
                            let x0 = xi[2 * i], x1 = xi[2 * i + 1]
                            yi[2 * i] = x0 * c - x1 * s
                            yi[2 * i + 1] = x0 * s + x1 * c
                        }
                    }
                }
            }
        }
    }

    /// forward was y = R(θ)·x (a rotation), so dx += R(θ)ᵀ·dy = R(−θ)·dy:
    ///   dx₀ += dy₀ cos θ + dy₁ sin θ,   dx₁ += −dy₀ sin θ + dy₁ cos θ
    static func ropeBackward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, positions: UnsafePointer<Int32>,
                             n: Int, heads: Int, headDim: Int, angles: RopeAngles) {
        let half = headDim / 2, width = heads * headDim
        angles.withCosSin { cosT, sinT in
            parallelChunks(n, costPerItem: 3 * width) { rows in
                for r in rows {
                    let cr = cosT + angles.slot(row: r, position: positions[r]) * half
                    let sr = sinT + angles.slot(row: r, position: positions[r]) * half
                    for h in 0..<heads {
                        let gi = dx + r * width + h * headDim, dyi = dout + r * width + h * headDim
                        for i in 0..<half {
                            let c = cr[i], s = sr[i]
                            let d0 = dyi[2 * i], d1 = dyi[2 * i + 1]
                            gi[2 * i] += d0 * c + d1 * s
                            gi[2 * i + 1] += -d0 * s + d1 * c
                        }
                    }
                }
            }
        }
    }
}

// MARK: - Tape op

extension Tape {
    /// RoPE on `x [N, heads·Dh]` with one position per row (`positions [N]`) → same shape.
    /// Use `heads: kvHeads` for keys. Dh must be even.
    public func rope(_ x: Tensor, heads: Int, positions: [Int32], base: Float) -> Tensor {
        let (N, width) = x.dims2()
        precondition(heads > 0 && width % heads == 0, "rope: width \(width) not divisible by heads \(heads)")
        let headDim = width / heads
        precondition(headDim % 2 == 0, "rope: head dim \(headDim) must be even")
        precondition(positions.count == N, "rope: \(positions.count) positions for \(N) rows")
        for p in positions { precondition(p >= 0, "rope: negative position \(p)") }
        let y = Tensor(uninitialized: x.shape, requiresGrad: needsGrad(x))
        guard N > 0 else { return y }
        let angles = positions.withUnsafeBufferPointer { pp in
            Kernels.RopeAngles(positions: pp.baseAddress!, n: N, headDim: headDim, base: base)
        }
        positions.withUnsafeBufferPointer { pp in
            withPointers(y, x) { out, x in
                Kernels.ropeForward(out: out, x: x, positions: pp.baseAddress!, n: N, heads: heads,
                                    headDim: headDim, base: base, angles: angles)
            }
        }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                positions.withUnsafeBufferPointer { pp in
                    x.withGradPointer { dx in
                        Kernels.ropeBackward(dx: dx, dout: dy, positions: pp.baseAddress!, n: N,
                                             heads: heads, headDim: headDim, angles: angles)
                    }
                }
            }
        }
        return y
    }
}
