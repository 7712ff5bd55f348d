/// A fused GRU cell (Cho et al. 2014, in PyTorch's `nn.GRU` gate order r, z, n), used by GRU4Rec.
///
/// The two input projections are ordinary matmuls done outside, so the cell only holds the gate
/// arithmetic:
///
///     gi = x Wᵢᵀ + bᵢ,  gh = h Wₕᵀ + bₕ          (both [B, 3H], column blocks r | z | n)
///     r = σ(gi_r + gh_r),  z = σ(gi_z + gh_z),  n = tanh(gi_n + r ⊙ gh_n)
///     h' = (1 − z) ⊙ n + z ⊙ h
///
/// Rows with `active[b] == false` (left padding before a short history) copy h through unchanged,
/// so a batch of left-padded histories ends in each history's own final state.

// MARK: - Kernels

extension Kernels {
    /// out, r, z, n: [B, H]; gi, gh: [B, 3H]; h: [B, H]. r, z, n are saved for backward.
    static func gruCellForward(out: UnsafeMutablePointer<Float>, r: UnsafeMutablePointer<Float>, z: UnsafeMutablePointer<Float>,
                               n: UnsafeMutablePointer<Float>, gi: UnsafePointer<Float>, gh: UnsafePointer<Float>,
                               h: UnsafePointer<Float>, active: UnsafePointer<Bool>, batch: Int, hidden H: Int) {
        for b in 0..<batch {
            let o = b * H, g = b * 3 * H
            guard active[b] else {
                (out + o).update(from: h + o, count: H)
                for j in 0..<H { r[o + j] = 0; z[o + j] = 1; n[o + j] = 0 }
                continue
            }
            for j in 0..<H {
                let rj = sigmoid(gi[g + j] + gh[g + j])
                let zj = sigmoid(gi[g + H + j] + gh[g + H + j])
                let nj = 2 * sigmoid(2 * (gi[g + 2 * H + j] + rj * gh[g + 2 * H + j])) - 1
                r[o + j] = rj; z[o + j] = zj; n[o + j] = nj
                out[o + j] = (1 - zj) * nj + zj * h[o + j]
            }
        }
    }

    /// forward as above; with a = gi_n + r ⊙ gh_n:
    ///   dh  += dh' ⊙ z                         dz = dh' ⊙ (h − n)
    ///   dn   = dh' ⊙ (1 − z)                   da = dn ⊙ (1 − n²)
    ///   dr   = da ⊙ gh_n
    ///   dgi_r = dgh_r = dr ⊙ r(1 − r),   dgi_z = dgh_z = dz ⊙ z(1 − z),
    ///   dgi_n = da,   dgh_n = da ⊙ r
    /// Inactive rows: dh += dh' (identity), no gate gradients.
    static func gruCellBackward(dgi: UnsafeMutablePointer<Float>?, dgh: UnsafeMutablePointer<Float>?, dh: UnsafeMutablePointer<Float>?,
                                dout: UnsafePointer<Float>, r: UnsafePointer<Float>, z: UnsafePointer<Float>, n: UnsafePointer<Float>,
                                gh: UnsafePointer<Float>, h: UnsafePointer<Float>, active: UnsafePointer<Bool>, batch: Int, hidden H: Int) {
        for b in 0..<batch {
            let o = b * H, g = b * 3 * H
            guard active[b] else {
                if let dh { for j in 0..<H { dh[o + j] += dout[o + j] } }
                continue
            }
            for j in 0..<H {
                let d = dout[o + j], rj = r[o + j], zj = z[o + j], nj = n[o + j]
                let dz = d * (h[o + j] - nj)
                let da = d * (1 - zj) * (1 - nj * nj)
                let dr = da * gh[g + 2 * H + j]
                let dpr = dr * rj * (1 - rj), dpz = dz * zj * (1 - zj)
                dh?[o + j] += d * zj
                if let dgi { dgi[g + j] += dpr; dgi[g + H + j] += dpz; dgi[g + 2 * H + j] += da }
                if let dgh { dgh[g + j] += dpr; dgh[g + H + j] += dpz; dgh[g + 2 * H + j] += da * rj }
            }
        }
    }
}

// MARK: - Tape op

extension Tape {
    /// One GRU step: `gi, gh [B, 3H]` (input and hidden projections, biases included), `h [B, H]`
    /// → `h' [B, H]`; rows where `active` is false return `h` unchanged (padding steps).
    public func gruCell(gi: Tensor, gh: Tensor, h: Tensor, active: [Bool]) -> Tensor {
        let (B, H) = h.dims2()
        precondition(gi.shape == [B, 3 * H] && gh.shape == [B, 3 * H], "gruCell: gi \(gi.shape), gh \(gh.shape) for h \(h.shape)")
        precondition(B > 0 && active.count == B, "gruCell: \(active.count) activity flags for batch \(B)")
        let y = Tensor(uninitialized: [B, H], requiresGrad: needsGrad(gi, gh, h))
        let r = Tensor(uninitialized: [B, H], requiresGrad: false)
        let z = Tensor(uninitialized: [B, H], requiresGrad: false)
        let n = Tensor(uninitialized: [B, H], requiresGrad: false)
        active.withUnsafeBufferPointer { a in
            withPointers(y, r, z, n) { out, r, z, n in            // outputs: h', and the gates saved for backward
                withPointers(gi, gh, h) { gi, gh, h in
                    Kernels.gruCellForward(out: out, r: r, z: z, n: n, gi: gi, gh: gh, h: h, active: a.baseAddress!,
                                           batch: B, hidden: H)
                }
            }
        }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                active.withUnsafeBufferPointer { a in
                    withGradPointersIfRequired(gi, gh, h) { dgi, dgh, dh in
                        withPointers(r, z, n, gh, h) { r, z, n, gh, h in
                            Kernels.gruCellBackward(dgi: dgi, dgh: dgh, dh: dh, dout: dy, r: r, z: z, n: n, gh: gh, h: h,
                                                    active: a.baseAddress!, batch: B, hidden: H)
                        }
                    }
                }
            }
        }
        return y
    }
}
