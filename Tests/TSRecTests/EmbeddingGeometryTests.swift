import Testing
@testable import TSRec

@Suite struct EmbeddingGeometryTests {
    /// Rows [3,4], [0,2], [-3,-4]: norms 5, 2, 5; unit rows u0 = [.6,.8], u1 = [0,1], u2 = −u0.
    /// Pairs: u0·u1 = 0.8, u0·u2 = −1, u1·u2 = −0.8 → mean −1/3.
    @Test func threeRowsByHand() {
        let rows: [Float] = [3, 4, 0, 2, -3, -4]
        let g = rows.withUnsafeBufferPointer { EmbeddingGeometry(rows: $0, count: 3, dim: 2, reference: [0, 7]) }
        #expect(g.rows == 3)
        #expect(abs(g.meanNorm - 4) < 1e-12)
        #expect(abs(g.meanPairwiseCosine! - (-1.0 / 3)) < 1e-12)
        // cosines to [0,1]: 0.8, 1, −0.8 → mean 1/3
        #expect(abs(g.meanCosineToReference! - 1.0 / 3) < 1e-12)
    }

    /// Identical rows (what `vocab-mean` initialisation gives every SID token) have cosine 1;
    /// one row has no pairs; a zero row has no direction and is left out of the cosines.
    @Test func edgeCases() {
        let same: [Float] = [1, 2, 3, 1, 2, 3, 1, 2, 3]
        let g = same.withUnsafeBufferPointer { EmbeddingGeometry(rows: $0, count: 3, dim: 3) }
        #expect(abs(g.meanPairwiseCosine! - 1) < 1e-12)
        #expect(g.meanCosineToReference == nil)
        let one: [Float] = [1, 0]
        #expect(one.withUnsafeBufferPointer { EmbeddingGeometry(rows: $0, count: 1, dim: 2) }.meanPairwiseCosine == nil)
        let withZero: [Float] = [1, 0, 0, 0, 0, 1]
        let z = withZero.withUnsafeBufferPointer { EmbeddingGeometry(rows: $0, count: 3, dim: 2) }
        #expect(abs(z.meanNorm - 2.0 / 3) < 1e-12)
        #expect(abs(z.meanPairwiseCosine! - 0) < 1e-12)
    }

    /// The one-pass formula against the direct mean over all pairs, on random rows.
    @Test func matchesBruteForceOverPairs() {
        var rng = SplitMix64(seed: 7)
        let n = 17, dim = 9
        let rows = (0..<(n * dim)).map { _ in rng.nextGaussian() + 1 }   // a shared offset: cosines around 0.5, not 0
        func row(_ i: Int) -> [Double] { rows[(i * dim)..<((i + 1) * dim)].map(Double.init) }
        func cos(_ a: [Double], _ b: [Double]) -> Double {
            zip(a, b).map(*).reduce(0, +) / (a.map { $0 * $0 }.reduce(0, +).squareRoot() * b.map { $0 * $0 }.reduce(0, +).squareRoot())
        }
        var sum = 0.0, pairs = 0
        for i in 0..<n { for j in (i + 1)..<n { sum += cos(row(i), row(j)); pairs += 1 } }
        let g = rows.withUnsafeBufferPointer { EmbeddingGeometry(rows: $0, count: n, dim: dim) }
        #expect(abs(g.meanPairwiseCosine! - sum / Double(pairs)) < 1e-9)
        #expect(sum / Double(pairs) > 0.2)
    }
}
