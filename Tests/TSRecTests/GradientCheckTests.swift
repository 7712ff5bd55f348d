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
}
