/// Row lookups: token embeddings and row gathers (e.g. the response positions before the LM head).

// MARK: - Kernels

extension Kernels {
    /// out[n, :] = table[ids[n], :].   table: [V, D], ids: [N], out: [N, D]
    static func embeddingForward(out: UnsafeMutablePointer<Float>, table: UnsafePointer<Float>,
                                 ids: UnsafePointer<Int32>, n: Int, d: Int) {
        for i in 0..<n { (out + i * d).update(from: table + Int(ids[i]) * d, count: d) }
    }

    /// forward was out[n] = table[ids[n]], so dtable[ids[n]] += dout[n]; rows never looked up
    /// are not touched (a repeated id accumulates once per occurrence).
    static func embeddingBackward(dtable: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                  ids: UnsafePointer<Int32>, n: Int, d: Int) {
        for i in 0..<n {
            let dst = dtable + Int(ids[i]) * d, src = dout + i * d
            for j in 0..<d { dst[j] += src[j] }
        }
    }

    /// out[i, :] = x[rows[i], :].   x: [N, D], rows: [R], out: [R, D]
    static func gatherRowsForward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                                  rows: UnsafePointer<Int>, r: Int, d: Int) {
        for i in 0..<r { (out + i * d).update(from: x + rows[i] * d, count: d) }
    }

    /// forward was out[i] = x[rows[i]], so dx[rows[i]] += dout[i].
    static func gatherRowsBackward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                   rows: UnsafePointer<Int>, r: Int, d: Int) {
        for i in 0..<r {
            let dst = dx + rows[i] * d, src = dout + i * d
            for j in 0..<d { dst[j] += src[j] }
        }
    }
}

// MARK: - Tape ops

extension Tape {
    /// Token embedding lookup: `table [V, D]`, `ids [N]` → `[N, D]`.
    /// Backward scatter-adds into the rows that were used only (sparse-friendly).
    public func embedding(_ table: Tensor, ids: [Int32]) -> Tensor {
        let (V, D) = table.dims2()
        for id in ids { precondition(id >= 0 && Int(id) < V, "embedding: id \(id) outside table of \(V) rows") }
        let y = Tensor(uninitialized: [ids.count, D], requiresGrad: needsGrad(table))
        ids.withUnsafeBufferPointer { ip in
            guard let ip = ip.baseAddress else { return }
            withPointers(y, table) { out, table in Kernels.embeddingForward(out: out, table: table, ids: ip, n: ids.count, d: D) }
        }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                ids.withUnsafeBufferPointer { ip in
                    guard let ip = ip.baseAddress else { return }
                    table.withGradPointer { dtable in
                        Kernels.embeddingBackward(dtable: dtable, dout: dy, ids: ip, n: ids.count, d: D)
                    }
                }
            }
        }
        return y
    }

    /// Picks rows: `x [N, D]`, `rows [R]` (any order, repeats allowed) → `[R, D]`.
    public func gatherRows(_ x: Tensor, rows: [Int]) -> Tensor {
        let (N, D) = x.dims2()
        for r in rows { precondition(r >= 0 && r < N, "gatherRows: row \(r) outside [0, \(N))") }
        let y = Tensor(uninitialized: [rows.count, D], requiresGrad: needsGrad(x))
        rows.withUnsafeBufferPointer { rp in
            guard let rp = rp.baseAddress else { return }
            withPointers(y, x) { out, x in Kernels.gatherRowsForward(out: out, x: x, rows: rp, r: rows.count, d: D) }
        }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                rows.withUnsafeBufferPointer { rp in
                    guard let rp = rp.baseAddress else { return }
                    x.withGradPointer { dx in Kernels.gatherRowsBackward(dx: dx, dout: dy, rows: rp, r: rows.count, d: D) }
                }
            }
        }
        return y
    }
}
