import Foundation
import Testing
@testable import TSRec

/// Every op's backward against central finite differences (Support/GradCheck.swift), plus
/// each op's forward against an independent reference (hand values or plain loops).
@Suite struct GradientCheckTests {
    // MARK: - Kernels

    @Test func fastExpMatchesDoubleExp() {
        var worst: Double = 0
        var x: Float = -87
        while x < 88 {
            let e = exp(Double(x))
            worst = max(worst, abs(Double(Kernels.exp(x)) - e) / e)
            x += 0.0137
        }
        #expect(worst < 2e-7, "worst relative error \(worst)")
        #expect(Kernels.exp(-1000) < 1e-37 && Kernels.exp(-1000) >= 0)
        #expect(Kernels.exp(1000).isFinite)
    }

    @Test func rowReductionsMatchLoops() {
        var rng = SplitMix64(seed: 3)
        for n in [1, 7, 16, 33, 577] {
            let a = Tensor.randn([n], using: &rng), b = Tensor.randn([n], using: &rng)
            var d: Double = 0, s: Double = 0, m = -Float.infinity
            for i in 0..<n { d += Double(a.pointer[i] * b.pointer[i]); s += Double(a.pointer[i]); m = max(m, a.pointer[i]) }
            #expect(abs(Double(Kernels.dot(a.pointer, b.pointer, n)) - d) < 1e-4)
            #expect(abs(Double(Kernels.rowSum(a.pointer, n)) - s) < 1e-4)
            #expect(Kernels.rowMax(a.pointer, n) == m)
        }
    }

    // MARK: - Embedding, gather

    @Test func embeddingForwardAndBackward() {
        var rng = SplitMix64(seed: 1)
        let table = Tensor.randn([6, 5], requiresGrad: true, using: &rng)
        let ids: [Int32] = [3, 0, 3, 5, 3]   // 3 repeated: its gradient row accumulates three times
        let y = Tape(recording: false).embedding(table, ids: ids)
        for (n, id) in ids.enumerated() {
            #expect(Array(y.array[n * 5..<(n + 1) * 5]) == Array(table.array[Int(id) * 5..<(Int(id) + 1) * 5]))
        }
        expectGradientsMatchFiniteDifferences([table]) { tape, x in tape.embedding(x[0], ids: ids) }
        // Unused rows (1, 2, 4) get no gradient at all.
        let tape = Tape()
        table.zeroGrad()
        tape.backward(from: tape.sum(tape.embedding(table, ids: ids)))
        for row in [1, 2, 4] { #expect(table.gradArray[row * 5..<(row + 1) * 5].allSatisfy { $0 == 0 }) }
        #expect(table.gradArray[15..<20].allSatisfy { $0 == 3 })
    }

    @Test func gatherRowsForwardAndBackward() {
        var rng = SplitMix64(seed: 2)
        let x = Tensor.randn([5, 3], requiresGrad: true, using: &rng)
        let rows = [4, 1, 1, 0]
        let y = Tape(recording: false).gatherRows(x, rows: rows)
        #expect(y.shape == [4, 3])
        for (i, r) in rows.enumerated() { #expect(Array(y.array[i * 3..<i * 3 + 3]) == Array(x.array[r * 3..<r * 3 + 3])) }
        expectGradientsMatchFiniteDifferences([x]) { tape, x in tape.gatherRows(x[0], rows: rows) }
    }

    // MARK: - Norms

    @Test func rmsNormForwardMatchesReference() {
        var rng = SplitMix64(seed: 4)
        let x = Tensor.randn([2, 3, 8], using: &rng), w = Tensor.randn([8], using: &rng)
        let y = Tape(recording: false).rmsNorm(x, weight: w, eps: 1e-5)
        var expected = [Float](repeating: 0, count: x.count)
        for r in 0..<6 {
            var ms: Double = 0
            for j in 0..<8 { ms += Double(x.array[r * 8 + j]) * Double(x.array[r * 8 + j]) / 8 }
            for j in 0..<8 { expected[r * 8 + j] = Float(Double(x.array[r * 8 + j]) / (ms + 1e-5).squareRoot() * Double(w.array[j])) }
        }
        expectClose(y.array, expected, rtol: 1e-5)
    }

    @Test func rmsNormGradients() {
        var rng = SplitMix64(seed: 5)
        let x = Tensor.randn([2, 3, 8], requiresGrad: true, using: &rng)
        let w = Tensor.randn([8], requiresGrad: true, using: &rng)
        expectGradientsMatchFiniteDifferences([x, w]) { tape, t in tape.rmsNorm(t[0], weight: t[1], eps: 1e-5) }
    }

    @Test func layerNormForwardMatchesReference() {
        var rng = SplitMix64(seed: 6)
        let x = Tensor.randn([5, 7], using: &rng), w = Tensor.randn([7], using: &rng), b = Tensor.randn([7], using: &rng)
        let y = Tape(recording: false).layerNorm(x, weight: w, bias: b, eps: 1e-12)
        var expected = [Float](repeating: 0, count: x.count)
        for r in 0..<5 {
            let row = (0..<7).map { Double(x.array[r * 7 + $0]) }
            let mu = row.reduce(0, +) / 7
            let v = row.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / 7
            for j in 0..<7 { expected[r * 7 + j] = Float((row[j] - mu) / (v + 1e-12).squareRoot() * Double(w.array[j]) + Double(b.array[j])) }
        }
        expectClose(y.array, expected, atol: 1e-5, rtol: 1e-5)
    }

    @Test func layerNormGradients() {
        var rng = SplitMix64(seed: 7)
        let x = Tensor.randn([4, 6], requiresGrad: true, using: &rng)
        let w = Tensor.randn([6], requiresGrad: true, using: &rng), b = Tensor.randn([6], requiresGrad: true, using: &rng)
        expectGradientsMatchFiniteDifferences([x, w, b]) { tape, t in tape.layerNorm(t[0], weight: t[1], bias: t[2], eps: 1e-5) }
    }

    // MARK: - RoPE

    @Test func ropeMatchesHandRotation() {
        // One head, Dh = 4, base 10000, position 2: pair 0 turns by 2 rad, pair 1 by 2·10000^(−1/2) = 0.02 rad.
        let x = Tensor([1, 0, 0.5, -1], shape: [1, 4])
        let y = Tape(recording: false).rope(x, heads: 1, positions: [2], base: 10000)
        let (c0, s0, c1, s1) = (cos(2.0), sin(2.0), cos(0.02), sin(0.02))
        let expected = [c0, s0, 0.5 * c1 + s1, 0.5 * s1 - c1].map { Float($0) }
        expectClose(y.array, expected, atol: 1e-6, rtol: 1e-6)
    }

    @Test func ropeIdentityAtZeroPreservesNormsAndIsRelative() {
        var rng = SplitMix64(seed: 8)
        let heads = 3, dh = 8
        let x = Tensor.randn([4, heads * dh], using: &rng)
        let tape = Tape(recording: false)
        #expect(tape.rope(x, heads: heads, positions: [0, 0, 0, 0], base: 100_000).array == x.array)
        let y = tape.rope(x, heads: heads, positions: [1, 7, 300, 5000], base: 100_000)
        for r in 0..<4 {
            for h in 0..<heads {
                let o = r * heads * dh + h * dh
                let nx = Kernels.dot(x.pointer + o, x.pointer + o, dh), ny = Kernels.dot(y.pointer + o, y.pointer + o, dh)
                #expect(abs(nx - ny) <= 1e-5 * nx, "row \(r) head \(h): |x|² \(nx) vs |rope(x)|² \(ny)")
            }
        }
        // ⟨rope(q, m), rope(k, n)⟩ depends only on m − n.
        let q = Tensor.randn([1, dh], using: &rng), k = Tensor.randn([1, dh], using: &rng)
        func score(_ m: Int32, _ n: Int32) -> Float {
            let a = tape.rope(q, heads: 1, positions: [m], base: 10000), b = tape.rope(k, heads: 1, positions: [n], base: 10000)
            return zip(a.array, b.array).map { $0 * $1 }.reduce(0, +)
        }
        #expect(abs(score(5, 2) - score(13, 10)) < 1e-4)
        #expect(abs(score(5, 2) - score(2, 5)) > 1e-3)   // and is not symmetric: the direction matters
    }

    @Test func ropeGradients() {
        var rng = SplitMix64(seed: 9)
        let x = Tensor.randn([3, 2 * 6], requiresGrad: true, using: &rng)
        expectGradientsMatchFiniteDifferences([x]) { tape, t in tape.rope(t[0], heads: 2, positions: [0, 3, 11], base: 10000) }
    }
}
