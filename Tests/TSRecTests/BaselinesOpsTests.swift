import Foundation
import Testing
@testable import TSRec

/// The baselines' own tensor ops: each forward against an independent reference (Double loops or
/// hand formulas) and each backward against finite differences (Support/GradCheck.swift).
@Suite struct BaselinesOpsTests {
    /// Normal values pushed at least 0.1 away from 0, so finite differences never straddle a kink.
    static func awayFromZero(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        let t = Tensor.randn(shape, requiresGrad: true, using: &rng)
        t.withUnsafeMutableBufferPointer { t in for i in t.indices { t[i] += t[i] >= 0 ? 0.1 : -0.1 } }
        return t
    }

    // MARK: - Pointwise

    @Test func sigmoidTanhReluMatchLibm() {
        let x = Self.awayFromZero([4, 9], seed: 1)
        let tape = Tape(recording: false)
        let s = tape.sigmoid(x).array, t = tape.tanh(x).array, r = tape.relu(x).array
        expectClose(s, x.array.map { Float(1 / (1 + Foundation.exp(-Double($0)))) }, atol: 1e-6, "sigmoid")
        expectClose(t, x.array.map { Float(Foundation.tanh(Double($0))) }, atol: 1e-6, "tanh")
        #expect(r == x.array.map { max($0, 0) })
        expectGradientsMatchFiniteDifferences([x]) { tape, x in tape.sigmoid(x[0]) }
        expectGradientsMatchFiniteDifferences([x]) { tape, x in tape.tanh(x[0]) }
        expectGradientsMatchFiniteDifferences([x]) { tape, x in tape.relu(x[0]) }
    }

    @Test func addBiasBroadcastsOverRows() {
        var rng = SplitMix64(seed: 2)
        let x = Tensor.randn([2, 3, 4], requiresGrad: true, using: &rng), b = Tensor.randn([4], requiresGrad: true, using: &rng)
        let y = Tape(recording: false).addBias(x, b)
        #expect(y.shape == [2, 3, 4])
        let (yv, xv, bv) = (y.array, x.array, b.array)
        for i in 0..<24 { #expect(yv[i] == xv[i] + bv[i % 4]) }
        expectGradientsMatchFiniteDifferences([x, b]) { tape, p in tape.addBias(p[0], p[1]) }
    }

    @Test func l2NormalizeGivesUnitRows() {
        var rng = SplitMix64(seed: 3)
        let x = Tensor.randn([5, 6], requiresGrad: true, using: &rng)
        let y = Tape(recording: false).l2Normalize(x)
        for r in 0..<5 {
            let row = Array(x.array[r * 6..<(r + 1) * 6]), n = row.map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
            expectClose(Array(y.array[r * 6..<(r + 1) * 6]), row.map { Float(Double($0) / n) }, atol: 1e-6, "row \(r)")
        }
        expectGradientsMatchFiniteDifferences([x], eps: 1e-3) { tape, p in tape.l2Normalize(p[0]) }
    }

    @Test func binaryCrossEntropyMatchesHandValues() {
        // x = [2, −1, 0], y = [1, 0, 1]: L = (log(1+e⁻²) + log(1+e⁻¹) + log 2) / 3.
        let x = Tensor([2, -1, 0], shape: [3], requiresGrad: true)
        let l = Tape(recording: false).binaryCrossEntropy(logits: x, labels: [1, 0, 1]).item
        let expected = (Foundation.log(1 + Foundation.exp(-2.0)) + Foundation.log(1 + Foundation.exp(-1.0)) + Foundation.log(2.0)) / 3
        #expect(abs(Double(l) - expected) < 1e-6)
        let big = Tape(recording: false).binaryCrossEntropy(logits: Tensor([80, -80], shape: [2]), labels: [0, 1]).item
        #expect(abs(big - 80) < 1e-3)                                   // stable: no overflow at |x| = 80
        let y = Self.awayFromZero([7], seed: 14)
        expectGradientsMatchFiniteDifferences([y]) { tape, p in
            tape.reshape(tape.binaryCrossEntropy(logits: p[0], labels: [1, 0, 0, 1, 1, 0, 1]), [1])
        }
    }

    // MARK: - Layout

    @Test func sliceAndConcatColumnsAreInverse() {
        var rng = SplitMix64(seed: 4)
        let x = Tensor.randn([3, 7], requiresGrad: true, using: &rng)
        let tape = Tape(recording: false)
        let a = tape.sliceColumns(x, start: 0, width: 2), b = tape.sliceColumns(x, start: 2, width: 5)
        #expect(a.shape == [3, 2] && b.array[0] == x.array[2] && b.array[5] == x.array[7 + 2])
        #expect(tape.concatColumns([a, b]).array == x.array)
        expectGradientsMatchFiniteDifferences([x]) { tape, p in tape.sliceColumns(p[0], start: 3, width: 3) }
        let c = Tensor.randn([3, 2], requiresGrad: true, using: &rng)
        expectGradientsMatchFiniteDifferences([x, c]) { tape, p in tape.concatColumns([p[1], p[0], p[1]]) }
    }

    @Test func transposeLastTwoMatchesIndexing() {
        var rng = SplitMix64(seed: 5)
        let x = Tensor.randn([2, 3, 4], requiresGrad: true, using: &rng)
        let y = Tape(recording: false).transposeLastTwo(x)
        #expect(y.shape == [2, 4, 3])
        let (yv, xv) = (y.array, x.array)
        for b in 0..<2 { for i in 0..<3 { for j in 0..<4 { #expect(yv[b * 12 + j * 3 + i] == xv[b * 12 + i * 4 + j]) } } }
        expectGradientsMatchFiniteDifferences([x]) { tape, p in tape.transposeLastTwo(p[0]) }
    }

    @Test func windowsAreConsecutiveSteps() {
        var rng = SplitMix64(seed: 6)
        let x = Tensor.randn([2, 5, 3], requiresGrad: true, using: &rng)
        let y = Tape(recording: false).windows(x, height: 2)
        #expect(y.shape == [2, 4, 6])
        let (yv, xv) = (y.array, x.array)
        for b in 0..<2 { for t in 0..<4 { for i in 0..<2 { for d in 0..<3 {
            #expect(yv[(b * 4 + t) * 6 + i * 3 + d] == xv[(b * 5 + t + i) * 3 + d])
        } } } }
        expectGradientsMatchFiniteDifferences([x]) { tape, p in tape.windows(p[0], height: 3) }
    }

    @Test func maxOverTimePicksTheLargestStep() {
        // Values on a 0.5 grid (plus a small shuffle) so ±eps never changes which step is largest.
        var rng = SplitMix64(seed: 7)
        var values = (0..<24).map { Float($0) * 0.5 }
        values.shuffle(using: &rng)
        let x = Tensor(values, shape: [2, 4, 3], requiresGrad: true)
        let y = Tape(recording: false).maxOverTime(x)
        let (yv, xv) = (y.array, x.array)
        for b in 0..<2 { for c in 0..<3 {
            #expect(yv[b * 3 + c] == (0..<4).map { xv[(b * 4 + $0) * 3 + c] }.max()!)
        } }
        expectGradientsMatchFiniteDifferences([x]) { tape, p in tape.maxOverTime(p[0]) }
    }

    // MARK: - GRU cell

    /// PyTorch's GRU equations in Double, written out independently of the kernel.
    static func referenceGRU(gi: [Float], gh: [Float], h: [Float], batch: Int, hidden H: Int) -> [Float] {
        func σ(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }
        var out = [Float](repeating: 0, count: batch * H)
        for b in 0..<batch { for j in 0..<H {
            let g = b * 3 * H
            let r = σ(Double(gi[g + j]) + Double(gh[g + j]))
            let z = σ(Double(gi[g + H + j]) + Double(gh[g + H + j]))
            let n = Foundation.tanh(Double(gi[g + 2 * H + j]) + r * Double(gh[g + 2 * H + j]))
            out[b * H + j] = Float((1 - z) * n + z * Double(h[b * H + j]))
        } }
        return out
    }

    @Test func gruCellMatchesReferenceAndCopiesInactiveRows() {
        var rng = SplitMix64(seed: 8)
        let (B, H) = (3, 4)
        let gi = Tensor.randn([B, 3 * H], requiresGrad: true, using: &rng)
        let gh = Tensor.randn([B, 3 * H], requiresGrad: true, using: &rng)
        let h = Tensor.randn([B, H], requiresGrad: true, using: &rng)
        let active = [true, false, true]
        let y = Tape(recording: false).gruCell(gi: gi, gh: gh, h: h, active: active)
        let ref = Self.referenceGRU(gi: gi.array, gh: gh.array, h: h.array, batch: B, hidden: H)
        for b in 0..<B {
            let got = Array(y.array[b * H..<(b + 1) * H])
            expectClose(got, active[b] ? Array(ref[b * H..<(b + 1) * H]) : Array(h.array[b * H..<(b + 1) * H]), atol: 1e-6, "row \(b)")
        }
        expectGradientsMatchFiniteDifferences([gi, gh, h]) { tape, p in tape.gruCell(gi: p[0], gh: p[1], h: p[2], active: active) }
        // The inactive row passes the gradient straight to h and none to the gates.
        let tape = Tape()
        for t in [gi, gh, h] { t.zeroGrad() }
        tape.backward(from: tape.sum(tape.gruCell(gi: gi, gh: gh, h: h, active: active)))
        #expect(gi.gradArray[3 * H..<6 * H].allSatisfy { $0 == 0 } && gh.gradArray[3 * H..<6 * H].allSatisfy { $0 == 0 })
        #expect(h.gradArray[H..<2 * H].allSatisfy { $0 == 1 })
    }

    // MARK: - Attention

    /// softmax attention per (batch, head) in Double with explicit masks: the reference for both
    /// `crossAttention` and (causal, Tq = Tk) the engine's `attention`.
    static func referenceAttention(q: [Float], k: [Float], v: [Float], batch B: Int, tq: Int, tk: Int, heads H: Int, dh: Int,
                                   causal: Bool, keyValid: [Bool]?) -> [Float] {
        let ld = H * dh
        var out = [Float](repeating: 0, count: B * tq * ld)
        for b in 0..<B { for h in 0..<H { for i in 0..<tq {
            var scores: [(Int, Double)] = []
            for j in 0..<tk where (keyValid?[b * tk + j] ?? true) && (!causal || j <= i + tk - tq) {
                let qi = (b * tq + i) * ld + h * dh, kj = (b * tk + j) * ld + h * dh
                var s = 0.0
                for d in 0..<dh { s += Double(q[qi + d]) * Double(k[kj + d]) }
                scores.append((j, s / Double(dh).squareRoot()))
            }
            guard let m = scores.map(\.1).max() else { continue }
            let z = scores.map { Foundation.exp($0.1 - m) }.reduce(0, +)
            for (j, s) in scores {
                let p = Foundation.exp(s - m) / z
                let oi = (b * tq + i) * ld + h * dh, vj = (b * tk + j) * ld + h * dh
                for d in 0..<dh { out[oi + d] += Float(p * Double(v[vj + d])) }
            }
        } } }
        return out
    }

    @Test(arguments: [false, true]) func crossAttentionMatchesReference(causal: Bool) {
        var rng = SplitMix64(seed: causal ? 9 : 10)
        let (B, tq, tk, H, dh) = (2, 3, 5, 2, 4)
        let q = Tensor.randn([B * tq, H * dh], requiresGrad: true, using: &rng)
        let k = Tensor.randn([B * tk, H * dh], requiresGrad: true, using: &rng)
        let v = Tensor.randn([B * tk, H * dh], requiresGrad: true, using: &rng)
        // Batch 1 hides its first two keys; under the causal mask its query 0 then sees no key (→ 0).
        let valid = [true, true, true, true, true, false, false, true, true, true]
        let y = Tape(recording: false).crossAttention(q: q, k: k, v: v, batch: B, queryLength: tq, keyLength: tk, heads: H,
                                                      causal: causal, keyValid: valid)
        let ref = Self.referenceAttention(q: q.array, k: k.array, v: v.array, batch: B, tq: tq, tk: tk, heads: H, dh: dh,
                                          causal: causal, keyValid: valid)
        expectClose(y.array, ref, atol: 1e-5, "crossAttention causal=\(causal)")
        expectGradientsMatchFiniteDifferences([q, k, v]) { tape, p in
            tape.crossAttention(q: p[0], k: p[1], v: p[2], batch: B, queryLength: tq, keyLength: tk, heads: H, causal: causal, keyValid: valid)
        }
    }

    @Test func crossAttentionCausalSquareEqualsEngineAttention() {
        var rng = SplitMix64(seed: 11)
        let (B, T, H, dh) = (3, 6, 2, 8)
        let q = Tensor.randn([B * T, H * dh], using: &rng), k = Tensor.randn([B * T, H * dh], using: &rng)
        let v = Tensor.randn([B * T, H * dh], using: &rng)
        let valid = (0..<B * T).map { $0 % T >= $0 / T }   // left padding of 0, 1, 2 steps
        let tape = Tape(recording: false)
        let mine = tape.crossAttention(q: q, k: k, v: v, batch: B, queryLength: T, keyLength: T, heads: H, causal: true, keyValid: valid)
        let engine = tape.attention(q: q, k: k, v: v, batch: B, seq: T, heads: H, kvHeads: H, keyValid: valid)
        expectClose(mine.array, engine.array, atol: 1e-6, "vs engine attention")
    }

    /// HSTU attention written out in Double: silu(q·k + rab)/T over visible causal keys.
    static func referencePointwise(q: [Float], k: [Float], v: [Float], rab: [Float], batch B: Int, seq T: Int, heads H: Int, dh: Int,
                                   keyValid: [Bool]) -> [Float] {
        let ld = H * dh
        var out = [Float](repeating: 0, count: B * T * ld)
        for b in 0..<B { for h in 0..<H { for i in 0..<T { for j in 0...i where keyValid[b * T + j] {
            let qi = (b * T + i) * ld + h * dh, kj = (b * T + j) * ld + h * dh
            var s = Double(rab[j - i + T - 1])
            for d in 0..<dh { s += Double(q[qi + d]) * Double(k[kj + d]) }
            let a = s / (1 + Foundation.exp(-s)) / Double(T)
            for d in 0..<dh { out[qi + d] += Float(a * Double(v[kj + d])) }
        } } } }
        return out
    }

    @Test func pointwiseAttentionMatchesReference() {
        var rng = SplitMix64(seed: 12)
        let (B, T, H, dh) = (2, 4, 2, 3)
        let q = Tensor.randn([B * T, H * dh], requiresGrad: true, using: &rng)
        let k = Tensor.randn([B * T, H * dh], requiresGrad: true, using: &rng)
        let v = Tensor.randn([B * T, H * dh], requiresGrad: true, using: &rng)
        let rab = Tensor.randn([2 * T - 1], requiresGrad: true, using: &rng)
        let valid = [true, true, true, true, false, true, true, true]
        let y = Tape(recording: false).pointwiseAttention(q: q, k: k, v: v, rab: rab, batch: B, seq: T, heads: H, keyValid: valid)
        let ref = Self.referencePointwise(q: q.array, k: k.array, v: v.array, rab: rab.array, batch: B, seq: T, heads: H, dh: dh, keyValid: valid)
        expectClose(y.array, ref, atol: 1e-5, "pointwiseAttention")
        // Padding query (batch 1, step 0) sees no key: exactly 0.
        #expect(y.array[T * H * dh..<(T + 1) * H * dh].allSatisfy { $0 == 0 })
        expectGradientsMatchFiniteDifferences([q, k, v, rab]) { tape, p in
            tape.pointwiseAttention(q: p[0], k: p[1], v: p[2], rab: p[3], batch: B, seq: T, heads: H, keyValid: valid)
        }
    }
}
