import Testing
@testable import TSRec

/// `sgemm` against a naive triple loop, and `Tape.matmul`'s backward against finite differences.
@Suite struct MatmulTests {
    /// c = alpha·op(a)·op(b) + beta·c with plain loops (Double accumulation), row-major, given strides.
    static func naive(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: [Float], lda: Int,
                      b: [Float], ldb: Int, beta: Float, c: [Float], ldc: Int) -> [Float] {
        var out = c
        for i in 0..<m {
            for j in 0..<n {
                var s: Double = 0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(av) * Double(bv)
                }
                out[i * ldc + j] = Float(Double(alpha) * s + Double(beta) * Double(c[i * ldc + j]))
            }
        }
        return out
    }

    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func sgemmMatchesNaiveTripleLoop(transA: Bool, transB: Bool) {
        var rng = SplitMix64(seed: 11)
        let (m, n, k) = (7, 5, 13)
        // Padded leading dimensions (strided views), as attention uses them.
        let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 2, ldc = n + 4
        let a = Tensor.randn([(transA ? k : m) * lda], using: &rng)
        let b = Tensor.randn([(transB ? n : k) * ldb], using: &rng)
        let c = Tensor.randn([m * ldc], using: &rng)
        let expected = Self.naive(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.7, a: a.array, lda: lda,
                                  b: b.array, ldb: ldb, beta: 0.5, c: c.array, ldc: ldc)
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.7, a: a, lda: lda,
              b: b, ldb: ldb, beta: 0.5, c: c, ldc: ldc)
        expectClose(c.array, expected, atol: 1e-5, rtol: 1e-5, "sgemm transA=\(transA) transB=\(transB)")
    }

    @Test func matmulForwardMatchesNaive() {
        var rng = SplitMix64(seed: 12)
        let a = Tensor.randn([7, 13], using: &rng), b = Tensor.randn([13, 5], using: &rng), bt = Tensor.randn([5, 13], using: &rng)
        let tape = Tape(recording: false)
        expectClose(tape.matmul(a, b).array,
                    Self.naive(transA: false, transB: false, m: 7, n: 5, k: 13, alpha: 1, a: a.array, lda: 13,
                               b: b.array, ldb: 5, beta: 0, c: [Float](repeating: 0, count: 35), ldc: 5), rtol: 1e-5)
        expectClose(tape.matmul(a, bt, transposeB: true).array,
                    Self.naive(transA: false, transB: true, m: 7, n: 5, k: 13, alpha: 1, a: a.array, lda: 13,
                               b: bt.array, ldb: 13, beta: 0, c: [Float](repeating: 0, count: 35), ldc: 5), rtol: 1e-5)
    }

    @Test(arguments: [false, true])
    func matmulGradients(transposeB: Bool) {
        var rng = SplitMix64(seed: 13)
        let a = Tensor.randn([7, 13], requiresGrad: true, using: &rng)
        let b = Tensor.randn(transposeB ? [5, 13] : [13, 5], requiresGrad: true, using: &rng)
        expectGradientsMatchFiniteDifferences([a, b]) { tape, x in tape.matmul(x[0], x[1], transposeB: transposeB) }
    }

    @Test func matmulGradientsRank3Input() {
        var rng = SplitMix64(seed: 14)
        let a = Tensor.randn([2, 3, 4], requiresGrad: true, using: &rng)
        let w = Tensor.randn([6, 4], requiresGrad: true, using: &rng)
        expectGradientsMatchFiniteDifferences([a, w]) { tape, x in tape.matmul(x[0], x[1], transposeB: true) }
    }
}
