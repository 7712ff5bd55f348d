import Foundation
import Testing
@testable import TSRec

/// AdamW against its formula, checkpoint round trip, convergence; gradient clipping;
/// gradient accumulation over micro-batches.
@Suite struct OptimizerTests {
    /// PyTorch AdamW in Double for one scalar: returns (p, m, v) after step t.
    static func reference(p: Double, g: Double, m: Double, v: Double, t: Int, lr: Double, b1: Double, b2: Double,
                          eps: Double, wd: Double) -> (Double, Double, Double) {
        let m2 = b1 * m + (1 - b1) * g, v2 = b2 * v + (1 - b2) * g * g
        let mHat = m2 / (1 - pow(b1, Double(t))), vHat = v2 / (1 - pow(b2, Double(t)))
        return (p * (1 - lr * wd) - lr * mHat / (vHat.squareRoot() + eps), m2, v2)
    }

    @Test func firstStepMatchesHandComputation() {
        // First step: m̂ = g, v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g).
        // p = 1, g = 0.5, lr = 0.1, wd = 0.1: matrix → 1·(1 − 0.01) − 0.1 = 0.89; vector (no decay) → 0.9.
        let w = Tensor([1, 1, 1, 1], shape: [2, 2], requiresGrad: true), b = Tensor([1, 1], shape: [2], requiresGrad: true)
        w.withUnsafeMutableGradBuffer { $0.update(repeating: 0.5) }
        b.withUnsafeMutableGradBuffer { $0.update(repeating: 0.5) }
        var opt = AdamW(learningRate: 0.1, weightDecay: 0.1)
        opt.step([w, b])
        expectClose(w.array, [0.89, 0.89, 0.89, 0.89], atol: 1e-6, rtol: 1e-6)
        expectClose(b.array, [0.9, 0.9], atol: 1e-6, rtol: 1e-6)
        #expect(opt.state.step == 1)
        expectClose(opt.state.m[0], [0.05, 0.05, 0.05, 0.05], atol: 1e-7, rtol: 1e-6)
        expectClose(opt.state.v[1], [0.000_25, 0.000_25], atol: 1e-9, rtol: 1e-4)   // 1 − 0.999 in Float is 0.00099999
    }

    @Test func threeStepsMatchTheFormulaAndDecayMaskOverrides() {
        var rng = SplitMix64(seed: 61)
        let w = Tensor.randn([3, 4], requiresGrad: true, using: &rng), b = Tensor.randn([4], requiresGrad: true, using: &rng)
        let (lr, b1, b2, eps, wd): (Float, Float, Float, Float, Float) = (0.01, 0.8, 0.95, 1e-6, 0.2)
        var opt = AdamW(learningRate: 1, beta1: b1, beta2: b2, epsilon: eps, weightDecay: wd)
        // Decay flipped on purpose: the vector decays, the matrix does not.
        let decay = [false, true]
        var ref = [w, b].map { t in t.array.map { (Double($0), 0.0, 0.0) } }
        for step in 1...3 {
            for t in [w, b] { t.withUnsafeMutableGradBuffer { g in for i in g.indices { g[i] = rng.nextGaussian() } } }
            for (k, t) in [w, b].enumerated() {
                let grad = t.gradArray
                for i in 0..<t.count {
                    let (p, m, v) = ref[k][i]
                    ref[k][i] = Self.reference(p: p, g: Double(grad[i]), m: m, v: v, t: step, lr: Double(lr), b1: Double(b1),
                                               b2: Double(b2), eps: Double(eps), wd: decay[k] ? Double(wd) : 0)
                }
            }
            opt.step([w, b], learningRate: lr, decay: decay)
        }
        expectClose(w.array, ref[0].map { Float($0.0) }, atol: 1e-6, rtol: 1e-5, "matrix")
        expectClose(b.array, ref[1].map { Float($0.0) }, atol: 1e-6, rtol: 1e-5, "vector")
    }

    /// Hugging Face's warm-up spends step 0 at rate 0 (`LRSchedule.Warmup.huggingFace`): as in
    /// torch, that update leaves the weights where they are but moves the moments and the
    /// bias-correction count, so step 1 is torch's second step, not a first one.
    @Test func aStepAtRateZeroStillCounts() {
        var rng = SplitMix64(seed: 62)
        let w = Tensor.randn([2, 3], requiresGrad: true, using: &rng)
        let start = w.array
        let schedule = LRSchedule(warmupSteps: 4, totalSteps: 10, peak: 0.1, warmup: .huggingFace)
        var opt = AdamW(learningRate: 1, weightDecay: 0.1)
        var ref = start.map { (Double($0), 0.0, 0.0) }
        for step in 0..<2 {
            w.withUnsafeMutableGradBuffer { g in for i in g.indices { g[i] = rng.nextGaussian() } }
            let grad = w.gradArray, lr = schedule.lr(at: step)
            for i in 0..<w.count {
                let (p, m, v) = ref[i]
                ref[i] = Self.reference(p: p, g: Double(grad[i]), m: m, v: v, t: step + 1, lr: Double(lr), b1: 0.9, b2: 0.999,
                                        eps: 1e-8, wd: 0.1)
            }
            opt.step([w], learningRate: lr)
            if step == 0 {
                #expect(lr == 0 && w.array == start && opt.state.step == 1 && opt.state.m[0].contains { $0 != 0 })
            }
        }
        #expect(w.array != start)
        expectClose(w.array, ref.map { Float($0.0) }, atol: 1e-7, rtol: 1e-6)
    }

    /// The vectorized update (16 lanes, then a scalar tail) gives bitwise the scalar formula in
    /// Float, in torch's arrangement, on a parameter long enough for both paths and the threads.
    @Test func vectorizedUpdateIsBitwiseTheScalarFormula() {
        var rng = SplitMix64(seed: 63)
        let n = 70_000 + 13
        let p = Tensor.randn([n / 13, 13], requiresGrad: true, using: &rng)
        let (lr, b1, b2, eps, wd): (Float, Float, Float, Float, Float) = (0.003, 0.9, 0.999, 1e-8, 0.01)
        var opt = AdamW(learningRate: lr, beta1: b1, beta2: b2, epsilon: eps, weightDecay: wd)
        var x = p.array, m = [Float](repeating: 0, count: p.count), v = m
        for t in 1...2 {
            p.withUnsafeMutableGradBuffer { g in for i in g.indices { g[i] = rng.nextGaussian() * 1e-2 } }
            let g = p.gradArray
            let bc1 = 1 - pow(b1, Float(t)), bc2 = 1 - pow(b2, Float(t))
            let stepSize = lr / bc1, invSqrtBC2 = 1 / bc2.squareRoot(), shrink = 1 - lr * wd
            for j in 0..<p.count {
                m[j] = b1 * m[j] + (1 - b1) * g[j]
                v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j]
                x[j] = x[j] * shrink - stepSize * m[j] / (v[j].squareRoot() * invSqrtBC2 + eps)
            }
            opt.step([p])
        }
        #expect(p.array == x)
        #expect(opt.state.m[0] == m && opt.state.v[0] == v)
    }

    @Test func stateRoundTripContinuesIdentically() throws {
        var rng = SplitMix64(seed: 62)
        let a = Tensor.randn([3, 3], requiresGrad: true, using: &rng), c = Tensor.randn([3], requiresGrad: true, using: &rng)
        let a2 = Tensor(a.array, shape: a.shape, requiresGrad: true), c2 = Tensor(c.array, shape: c.shape, requiresGrad: true)
        var opt = AdamW(learningRate: 0.05)
        func setGrads(_ seed: UInt64) {
            var r = SplitMix64(seed: seed)
            for t in [a, c] { t.withUnsafeMutableGradBuffer { g in for i in g.indices { g[i] = r.nextGaussian() } } }
            r = SplitMix64(seed: seed)
            for t in [a2, c2] { t.withUnsafeMutableGradBuffer { g in for i in g.indices { g[i] = r.nextGaussian() } } }
        }
        for s in 0..<3 { setGrads(UInt64(s)); opt.step([a, c]) }
        // Checkpoint: parameters and optimizer state through JSON, into a fresh optimizer.
        let saved = try JSONDecoder().decode(AdamW.State.self, from: JSONEncoder().encode(opt.state))
        a2.copy(from: a); c2.copy(from: c)
        var resumed = AdamW(learningRate: 0.05)
        resumed.restore(saved)
        #expect(resumed.state == opt.state)
        setGrads(3); opt.step([a, c]); resumed.step([a2, c2])
        #expect(a.array == a2.array && c.array == c2.array)
    }

    @Test func tinyLinearRegressionConverges() {
        // y = X·w* with a column of ones for the intercept; w* = [2, −3, 0.5, 1].
        var rng = SplitMix64(seed: 63)
        let n = 32, wStar: [Float] = [2, -3, 0.5, 1]
        var xs = [Float](), ys = [Float]()
        for _ in 0..<n {
            let row = [rng.nextGaussian(), rng.nextGaussian(), rng.nextGaussian(), 1]
            xs += row
            ys.append(zip(row, wStar).map { $0 * $1 }.reduce(0, +))
        }
        let X = Tensor(xs, shape: [n, 4]), negY = Tensor(ys.map { -$0 }, shape: [n, 1])
        let w = Tensor(zeros: [1, 4], requiresGrad: true)
        var opt = AdamW(learningRate: 0.05, weightDecay: 0)
        var loss: Float = .infinity
        for _ in 0..<400 {
            let tape = Tape()
            let diff = tape.add(tape.matmul(X, w, transposeB: true), negY)
            let l = tape.scale(tape.sum(tape.mul(diff, diff)), by: 1 / Float(n))   // mean squared error
            w.zeroGrad()
            tape.backward(from: l)
            opt.step([w])
            loss = l.item
        }
        #expect(loss < 1e-4, "final MSE \(loss)")
        expectClose(w.array, wStar, atol: 1e-2, rtol: 0)
    }

    @Test func clipGradNormScalesToMaxNorm() {
        let a = Tensor([0, 0], shape: [2], requiresGrad: true), b = Tensor([0], shape: [1], requiresGrad: true)
        let untouched = Tensor([0], shape: [1], requiresGrad: true)   // no gradient: counts as zero
        a.withUnsafeMutableGradBuffer { $0[0] = 3 }; b.withUnsafeMutableGradBuffer { $0[0] = 4 }   // global norm 5
        #expect(clipGradNorm([a, b, untouched], maxNorm: 10) == 5)
        #expect(a.gradArray == [3, 0] && b.gradArray == [4])
        #expect(clipGradNorm([a, b, untouched], maxNorm: 1) == 5)
        expectClose(a.gradArray + b.gradArray, [0.6, 0, 0.8], atol: 1e-6, rtol: 1e-5)
        #expect(abs(clipGradNorm([a, b], maxNorm: 100) - 1) < 1e-5)
        #expect(!untouched.hasGrad)
    }

    /// Gradient accumulation relies on grads being `+=`: with mean-per-micro-batch losses,
    /// Σ over k equal micro-batches of (1/k)·∇mean_loss(micro-batch) = ∇mean_loss(whole batch),
    /// provided every micro-batch has the same number of non-ignored targets (the mean is taken
    /// per micro-batch; with unequal counts, weight each micro-batch by its count instead).
    @Test func gradientAccumulationOverMicroBatchesEqualsOneBatch() {
        var rng = SplitMix64(seed: 64)
        let (V, D) = (11, 6)
        let table = Tensor.randn([V, D], std: 0.5, requiresGrad: true, using: &rng)
        let norm = Tensor.randn([D], requiresGrad: true, using: &rng)
        let head = Tensor.randn([V, D], std: 0.5, requiresGrad: true, using: &rng)
        let params = [table, norm, head]
        let ids: [Int32] = [1, 4, 4, 9], targets: [Int32] = [4, 4, 9, 2]
        func lossOf(_ tape: Tape, _ range: Range<Int>) -> Tensor {
            let x = tape.embedding(table, ids: Array(ids[range]))
            let h = tape.rmsNorm(x, weight: norm, eps: 1e-5)
            return tape.crossEntropy(logits: tape.matmul(h, head, transposeB: true), targets: Array(targets[range]))
        }
        let tape = Tape()
        tape.backward(from: lossOf(tape, 0..<4))
        let whole = params.map(\.gradArray)
        for p in params { p.zeroGrad() }
        for micro in [0..<2, 2..<4] {
            let t = Tape()
            t.backward(from: t.scale(lossOf(t, micro), by: 0.5))   // grads accumulate across micro-batches
        }
        for (k, p) in params.enumerated() { expectClose(p.gradArray, whole[k], atol: 1e-6, rtol: 1e-5, "param \(k)") }
    }
}
