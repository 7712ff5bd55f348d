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

    @Test func fastErfMatchesDoubleErf() {
        var worst: Double = 0
        var x: Float = -9
        while x < 9 {
            worst = max(worst, abs(Double(Kernels.erf(x)) - Foundation.erf(Double(x))))
            x += 0.00731
        }
        #expect(worst < 3e-7, "worst absolute error \(worst)")
        #expect(Kernels.erf(0) == 0 || abs(Kernels.erf(0)) < 1e-7)
    }

    @Test func rowReductionsMatchLoops() {
        var rng = SplitMix64(seed: 3)
        for n in [1, 7, 16, 33, 577] {
            let a = Tensor.randn([n], using: &rng), b = Tensor.randn([n], using: &rng)
            var d: Double = 0, s: Double = 0, m = -Float.infinity
            let (av, bv) = (a.array, b.array)
            for i in 0..<n { d += Double(av[i] * bv[i]); s += Double(av[i]); m = max(m, av[i]) }
            let (dot, sum, max) = withPointers(a, b) { a, b in
                (Kernels.dot(a, b, n), Kernels.rowSum(a, n), Kernels.rowMax(a, n))
            }
            #expect(abs(Double(dot) - d) < 1e-4)
            #expect(abs(Double(sum) - s) < 1e-4)
            #expect(max == m)
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
                let (nx, ny) = withPointers(x, y) { x, y in (Kernels.dot(x + o, x + o, dh), Kernels.dot(y + o, y + o, dh)) }
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

    // MARK: - Attention

    /// Plain-loop reference: causal GQA attention with key padding, in Double.
    static func naiveAttention(q: [Float], k: [Float], v: [Float], B: Int, T: Int, H: Int, Hkv: Int, Dh: Int,
                               keyValid: [Bool]?) -> [Float] {
        var out = [Float](repeating: 0, count: B * T * H * Dh)
        for b in 0..<B {
            for h in 0..<H {
                let kh = h / (H / Hkv)
                for i in 0..<T {
                    var scores = [Double](repeating: -.infinity, count: T)
                    for j in 0...i where keyValid?[b * T + j] ?? true {
                        var s: Double = 0
                        let qRow: Int = (b * T + i) * H * Dh + h * Dh
                        let kRow: Int = (b * T + j) * Hkv * Dh + kh * Dh
                        for d in 0..<Dh { s += Double(q[qRow + d]) * Double(k[kRow + d]) }
                        scores[j] = s / Double(Dh).squareRoot()
                    }
                    let m = scores.max()!
                    guard m > -.infinity else { continue }       // no visible key: output stays 0
                    let e = scores.map { $0 == -.infinity ? 0 : Foundation.exp($0 - m) }
                    let z = e.reduce(0, +)
                    for d in 0..<Dh {
                        var acc: Double = 0
                        for j in 0..<T {
                            let vIndex: Int = (b * T + j) * Hkv * Dh + kh * Dh + d
                            acc += e[j] / z * Double(v[vIndex])
                        }
                        let outIndex: Int = (b * T + i) * H * Dh + h * Dh + d
                        out[outIndex] = Float(acc)
                    }
                }
            }
        }
        return out
    }

    // Batch 1: key 0 is padding (so query 0 sees nothing), key 3 is padding in the middle.
    static let attentionMask: [Bool] = [true, true, true, true, true, false, true, true, false, true]

    @Test(arguments: [false, true])
    func attentionMatchesNaiveReference(masked: Bool) {
        var rng = SplitMix64(seed: 21)
        let (B, T, H, Hkv, Dh) = (2, 5, 6, 2, 4)
        let q = Tensor.randn([B * T, H * Dh], using: &rng)
        let k = Tensor.randn([B * T, Hkv * Dh], using: &rng), v = Tensor.randn([B * T, Hkv * Dh], using: &rng)
        let mask = masked ? Self.attentionMask : nil
        let y = Tape(recording: false).attention(q: q, k: k, v: v, batch: B, seq: T, heads: H, kvHeads: Hkv, keyValid: mask)
        let expected = Self.naiveAttention(q: q.array, k: k.array, v: v.array, B: B, T: T, H: H, Hkv: Hkv, Dh: Dh, keyValid: mask)
        expectClose(y.array, expected, atol: 1e-5, rtol: 1e-4)
        if masked { #expect(y.array[(1 * T + 0) * H * Dh..<(1 * T + 1) * H * Dh].allSatisfy { $0 == 0 }) }
    }

    @Test func attentionGradients() {
        var rng = SplitMix64(seed: 22)
        let (B, T, H, Hkv, Dh) = (2, 5, 6, 2, 4)
        let q = Tensor.randn([B * T, H * Dh], requiresGrad: true, using: &rng)
        let k = Tensor.randn([B * T, Hkv * Dh], requiresGrad: true, using: &rng)
        let v = Tensor.randn([B * T, Hkv * Dh], requiresGrad: true, using: &rng)
        expectGradientsMatchFiniteDifferences([q, k, v]) { tape, t in
            tape.attention(q: t[0], k: t[1], v: t[2], batch: B, seq: T, heads: H, kvHeads: Hkv, keyValid: Self.attentionMask)
        }
    }

    @Test func attentionIsCausal() {
        var rng = SplitMix64(seed: 23)
        let (B, T, H, Hkv, Dh) = (2, 5, 6, 2, 4)
        let q = Tensor.randn([B * T, H * Dh], using: &rng)
        let k = Tensor.randn([B * T, Hkv * Dh], using: &rng), v = Tensor.randn([B * T, Hkv * Dh], using: &rng)
        let tape = Tape(recording: false)
        let before = tape.attention(q: q, k: k, v: v, batch: B, seq: T, heads: H, kvHeads: Hkv).array
        withPointers(k, v) { k, v in                                   // token 3 of sequence 0
            for row in 3 * Hkv * Dh..<4 * Hkv * Dh { k[row] += 5; v[row] -= 7 }
        }
        let after = tape.attention(q: q, k: k, v: v, batch: B, seq: T, heads: H, kvHeads: Hkv).array
        let width = H * Dh
        #expect(Array(after[0..<3 * width]) == Array(before[0..<3 * width]), "tokens 0–2 must not see token 3")
        #expect(Array(after[3 * width..<5 * width]) != Array(before[3 * width..<5 * width]), "tokens 3–4 do")
        let rest = 5 * width
        #expect(Array(after.dropFirst(rest)) == Array(before.dropFirst(rest)), "the other sequence is untouched")
    }

    @Test func attentionHeadKernelWithOffsetMatchesFullAttention() {
        // Decoding: the last 2 queries against all 5 keys (positions 3, 4) equal rows 3–4 of full attention.
        var rng = SplitMix64(seed: 24)
        let (T, H, Hkv, Dh) = (5, 2, 1, 4)
        let q = Tensor.randn([T, H * Dh], using: &rng)
        let k = Tensor.randn([T, Hkv * Dh], using: &rng), v = Tensor.randn([T, Hkv * Dh], using: &rng)
        let full = Tape(recording: false).attention(q: q, k: k, v: v, batch: 1, seq: T, heads: H, kvHeads: Hkv)
        let out = Tensor(zeros: [2, H * Dh]), probs = Tensor(zeros: [2, T])
        withPointers(out, probs, q, k, v) { out, probs, q, k, v in
            for h in 0..<H {
                Kernels.attentionHeadForward(out: out + h * Dh, ldo: H * Dh, probs: probs,
                                             q: q + 3 * H * Dh + h * Dh, ldq: H * Dh, k: k, v: v,
                                             ldkv: Hkv * Dh, tq: 2, tk: T, headDim: Dh, keyValid: nil)
            }
        }
        let lastTwo: [Float] = Array(full.array.dropFirst(3 * H * Dh))
        expectClose(out.array, lastTwo, atol: 1e-6, rtol: 1e-5)
    }

    // MARK: - Activations

    @Test func activationForwardsMatchReference() {
        let xs: [Float] = [-3, -0.5, 0, 0.7, 2.5]
        let x = Tensor(xs, shape: [5]), u = Tensor([1, 2, -1, 0.5, 3], shape: [5])
        let tape = Tape(recording: false)
        let sig = xs.map { 1 / (1 + Foundation.exp(-Double($0))) }
        expectClose(tape.silu(x).array, zip(xs, sig).map { Float(Double($0) * $1) }, atol: 1e-6, rtol: 1e-5)
        expectClose(tape.swiglu(gate: x, up: u).array, (0..<5).map { Float(Double(xs[$0]) * sig[$0] * Double(u.array[$0])) },
                    atol: 1e-6, rtol: 1e-5)
        // GELU(x) = x·Φ(x); Φ(1) = 0.841344746, Φ(−1) = 0.158655254 (normal table).
        expectClose(tape.gelu(Tensor([1, -1, 0], shape: [3])).array, [0.841_344_75, -0.158_655_25, 0], atol: 1e-6, rtol: 1e-5)
    }

    @Test func siluGradients() {
        var rng = SplitMix64(seed: 31)
        let x = Tensor.randn([3, 7], std: 2, requiresGrad: true, using: &rng)
        expectGradientsMatchFiniteDifferences([x]) { tape, t in tape.silu(t[0]) }
    }

    @Test func swigluGradients() {
        var rng = SplitMix64(seed: 32)
        let g = Tensor.randn([3, 7], std: 2, requiresGrad: true, using: &rng)
        let u = Tensor.randn([3, 7], requiresGrad: true, using: &rng)
        expectGradientsMatchFiniteDifferences([g, u]) { tape, t in tape.swiglu(gate: t[0], up: t[1]) }
    }

    @Test func geluGradients() {
        var rng = SplitMix64(seed: 33)
        let x = Tensor.randn([3, 7], std: 2, requiresGrad: true, using: &rng)
        expectGradientsMatchFiniteDifferences([x]) { tape, t in tape.gelu(t[0]) }
    }

    // MARK: - Dropout

    @Test func dropoutWithZeroPIsIdentity() {
        var rng = SplitMix64(seed: 41)
        let x = Tensor.randn([4, 4], requiresGrad: true, using: &rng)
        let before = rng
        let y = Tape().dropout(x, p: 0, rng: &rng)
        #expect(y === x)
        #expect(rng == before, "p = 0 draws nothing")
    }

    @Test func dropoutMaskIsSharedByBackwardAndKeepsTheExpectedRate() {
        var rng = SplitMix64(seed: 42)
        let n = 40_000, p: Float = 0.3
        let x = Tensor([Float](repeating: 1, count: n), shape: [n], requiresGrad: true)
        let tape = Tape()
        let y = tape.dropout(x, p: p, rng: &rng)
        tape.backward(from: tape.sum(y))
        let kept = y.array.filter { $0 != 0 }.count
        // Keep rate 0.7 ± 4.5 standard deviations (sd = sqrt(0.21/n) ≈ 0.0023).
        #expect(abs(Double(kept) / Double(n) - 0.7) < 0.0105, "keep rate \(Double(kept) / Double(n))")
        #expect(y.array.allSatisfy { $0 == 0 || abs($0 - 1 / 0.7) < 1e-6 })
        // d Σy / dx = mask: exactly the forward's multipliers.
        #expect(x.gradArray == y.array)
        // Same seed, same mask.
        var again = SplitMix64(seed: 42)
        #expect(Tape(recording: false).dropout(x, p: p, rng: &again).array == y.array)
    }

    @Test func dropoutGradients() {
        var rng = SplitMix64(seed: 43)
        let x = Tensor.randn([5, 6], requiresGrad: true, using: &rng)
        let maskRNG = SplitMix64(seed: 44)
        expectGradientsMatchFiniteDifferences([x]) { tape, t in
            var r = maskRNG   // the same mask on every re-run
            return tape.dropout(t[0], p: 0.4, rng: &r)
        }
    }

    // MARK: - Cross-entropy

    @Test func crossEntropyMatchesHandComputedValues() {
        // Row 0: z = [1, 2, 3], t = 2: log(e + e² + e³) − 3 = log(1 + e⁻¹ + e⁻²) = 0.4076059644.
        // Row 1: z = [1, 1, 1], t = 0: log 3 = 1.0986122887.
        let logits = Tensor([1, 2, 3, 1, 1, 1], shape: [2, 3], requiresGrad: true)
        let tape = Tape()
        let loss = tape.crossEntropy(logits: logits, targets: [2, 0])
        #expect(abs(loss.item - 0.753_109_126_5) < 1e-6)
        tape.backward(from: loss)
        // d/dz = (softmax − onehot) / 2; softmax([1,2,3]) = [0.0900305732, 0.2447284711, 0.6652409558].
        expectClose(logits.gradArray, [0.090_030_573 / 2, 0.244_728_471 / 2, (0.665_240_956 - 1) / 2,
                                       (1.0 / 3 - 1) / 2, 1.0 / 6, 1.0 / 6], atol: 1e-6, rtol: 1e-5)
        // Ignoring row 1 leaves the mean over row 0 only, and row 1 gets no gradient.
        logits.zeroGrad()
        let tape2 = Tape()
        let loss2 = tape2.crossEntropy(logits: logits, targets: [2, -100])
        #expect(abs(loss2.item - 0.407_605_964_4) < 1e-6)
        tape2.backward(from: loss2)
        expectClose(logits.gradArray, [0.090_030_573, 0.244_728_471, 0.665_240_956 - 1, 0, 0, 0], atol: 1e-6, rtol: 1e-5)
    }

    @Test func crossEntropyAllIgnoredIsZeroWithoutGradient() {
        let logits = Tensor([1, 2, 3, 4], shape: [2, 2], requiresGrad: true)
        let tape = Tape()
        let loss = tape.crossEntropy(logits: logits, targets: [-100, -100])
        #expect(loss.item == 0)
        tape.backward(from: loss)
        #expect(logits.gradArray == [0, 0, 0, 0])
        #expect(tape.crossEntropy(logits: logits, targets: [7, 7], ignoreIndex: 7).item == 0)
    }

    @Test func crossEntropyIsStableForHugeLogits() {
        let logits = Tensor([1000, 0, -1000, 1e4, 1e4, 0], shape: [2, 3])
        let loss = Tape(recording: false).crossEntropy(logits: logits, targets: [1, 0]).item
        // Row 0: 1000 − 0 = 1000 (exactly, to Float precision); row 1: log 2.
        #expect(abs(loss - (1000 + 0.693_147_18) / 2) < 1e-3)
    }

    @Test func crossEntropyGradients() {
        var rng = SplitMix64(seed: 51)
        let logits = Tensor.randn([4, 7], std: 2, requiresGrad: true, using: &rng)
        let targets: [Int32] = [3, -100, 0, 6]
        // The output is a scalar, so the probe is one random weight; the check is still non-trivial.
        expectGradientsMatchFiniteDifferences([logits]) { tape, t in tape.crossEntropy(logits: t[0], targets: targets) }
    }

    // MARK: - LM head + cross-entropy, fused

    /// `linearCrossEntropy` against the composition it replaces, `crossEntropy(matmul(h, Wᵀ))`:
    /// the same loss and the same gradients for hidden and weight, with ignored rows and with
    /// an upstream gradient ≠ 1 (the loss scaled before backward).
    @Test(arguments: [false, true])
    func linearCrossEntropyMatchesMatmulThenCrossEntropy(ignoreSome: Bool) {
        var rng = SplitMix64(seed: 52)
        let (N, D, V) = (5, 6, 37)
        let h = Tensor.randn([N, D], requiresGrad: true, using: &rng), w = Tensor.randn([V, D], requiresGrad: true, using: &rng)
        let targets: [Int32] = ignoreSome ? [3, -100, 36, 0, -100] : [3, 17, 36, 0, 5]
        func run(fused: Bool) -> (loss: Float, dh: [Float], dw: [Float]) {
            h.zeroGrad(); w.zeroGrad()
            let tape = Tape()
            let loss = fused ? tape.linearCrossEntropy(hidden: h, weight: w, targets: targets)
                : tape.crossEntropy(logits: tape.matmul(h, w, transposeB: true), targets: targets)
            tape.backward(from: tape.scale(loss, by: -2.5))
            return (loss.item, h.gradArray, w.gradArray)
        }
        let reference = run(fused: false), fused = run(fused: true)
        #expect(abs(fused.loss - reference.loss) <= 1e-6 * abs(reference.loss))
        expectClose(fused.dh, reference.dh, atol: 1e-6, rtol: 1e-5, "dhidden")
        expectClose(fused.dw, reference.dw, atol: 1e-6, rtol: 1e-5, "dweight")
        if ignoreSome {                                  // ignored rows get no gradient
            #expect(fused.dh[D..<(2 * D)].allSatisfy { $0 == 0 } && fused.dh[(4 * D)...].allSatisfy { $0 == 0 })
        }
        // Without a recording tape: the same loss and no graph.
        let plain = Tape(recording: false)
        #expect(plain.linearCrossEntropy(hidden: h, weight: w, targets: targets).item == fused.loss)
        #expect(plain.count == 0)
    }

    @Test func linearCrossEntropyGradients() {
        var rng = SplitMix64(seed: 53)
        let h = Tensor.randn([4, 3], requiresGrad: true, using: &rng), w = Tensor.randn([9, 3], requiresGrad: true, using: &rng)
        let targets: [Int32] = [8, -100, 0, 4]
        expectGradientsMatchFiniteDifferences([h, w]) { tape, t in tape.linearCrossEntropy(hidden: t[0], weight: t[1], targets: targets) }
    }

    /// Row weights (LC-Rec's group means): the loss is Σ_n w_n loss_n, each row's loss taken from
    /// the unweighted op on that row alone, and the gradients match finite differences.
    @Test func linearCrossEntropyWithRowWeights() {
        var rng = SplitMix64(seed: 54)
        let h = Tensor.randn([4, 3], requiresGrad: true, using: &rng), w = Tensor.randn([9, 3], requiresGrad: true, using: &rng)
        let targets: [Int32] = [8, -100, 0, 4], weights: [Float] = [0.5, 0, 0.125, 2]
        let weighted = Tape(recording: false).linearCrossEntropy(hidden: h, weight: w, targets: targets, rowWeights: weights).item
        var byRow: Double = 0
        for r in 0..<4 {                                  // each row alone: its own mean is its loss
            let one = targets.indices.map { $0 == r ? targets[r] : -100 }
            byRow += Double(weights[r]) * Double(Tape(recording: false).linearCrossEntropy(hidden: h, weight: w, targets: one).item)
        }
        #expect(abs(Double(weighted) - byRow) <= 1e-6 * abs(byRow))
        expectGradientsMatchFiniteDifferences([h, w]) { tape, t in
            tape.linearCrossEntropy(hidden: t[0], weight: t[1], targets: targets, rowWeights: weights)
        }
    }

    @Test func linearCrossEntropyAllIgnoredIsZeroWithoutGradient() {
        let h = Tensor([1, 2, 3, 4], shape: [2, 2], requiresGrad: true), w = Tensor([1, 0, 0, 1, 1, 1], shape: [3, 2], requiresGrad: true)
        let tape = Tape()
        let loss = tape.linearCrossEntropy(hidden: h, weight: w, targets: [-100, -100])
        #expect(loss.item == 0 && tape.count == 0)
    }
}
