import Foundation
import Testing
@testable import TSRec

@Suite struct LlamaTrainingTests {
    /// Every parameter's gradient against a central finite difference along a random
    /// direction d of that tensor: (L(θ+εd) − L(θ−εd)) / 2ε ≈ ⟨∇L, d⟩. Covers padding masks and
    /// ignored targets. Float32 forward: ε = 3e-3 (1e-2 already shows curvature error on q/k).
    @Test func gradientsMatchFiniteDifferences() throws {
        let m = try LlamaFixtures.tinyModel(seed: 11, std: 0.3)
        let B = 2, T = 5
        let tokens: [Int32] = [3, 9, 27, 31, 44, 8, 6, 4, 0, 0]
        let valid = [true, true, true, true, true, true, true, true, false, false]
        let targets: [Int32] = [9, 27, 31, 44, -100, -100, 4, 2, -100, -100]
        func loss(_ tape: Tape) -> Tensor {
            m.loss(tape: tape, tokens: tokens, targets: targets, batch: B, seq: T, keyValid: valid)
        }
        let tape = Tape()
        tape.backward(from: loss(tape))
        var rng = SplitMix64(seed: 5)
        let eps: Float = 3e-3
        var report: [String] = []
        for (name, p) in m.parameters {
            let d = (0..<p.count).map { _ in rng.nextGaussian() }
            let analytic = zip(p.gradArray, d).reduce(Double(0)) { $0 + Double($1.0) * Double($1.1) }
            let saved = p.array
            p.copy(from: (0..<p.count).map { saved[$0] + eps * d[$0] })
            let up = loss(Tape(recording: false)).item
            p.copy(from: (0..<p.count).map { saved[$0] - eps * d[$0] })
            let down = loss(Tape(recording: false)).item
            p.copy(from: saved)
            let numeric = Double(up - down) / Double(2 * eps)
            let excess = abs(numeric - analytic) - max(2e-3, 3e-2 * abs(analytic))
            if excess > 0 { report.append("\(name): analytic \(analytic) numeric \(numeric)") }
        }
        #expect(report.isEmpty, "\(report)")
    }

    /// The response-only loss (rows gathered before the head) equals the mean over kept rows of
    /// logsumexp(logits) − logit[target], computed from the Float64 reference forward.
    @Test func responseOnlyLossMatchesReference() throws {
        let m = try LlamaFixtures.tinyModel(seed: 2, std: 0.3)
        let tokens: [Int32] = [1, 2, 3, 4, 5, 6, 7]
        let targets: [Int32] = [-100, -100, -100, 5, 6, 7, 8]
        let got = m.loss(tape: Tape(recording: false), tokens: tokens, targets: targets, batch: 1, seq: 7).item
        let ref = referenceLlamaLogits(m, tokens)
        var total = 0.0
        for t in 3..<7 {
            let mx = ref[t].max()!
            total += mx + log(ref[t].reduce(0) { $0 + exp($1 - mx) }) - ref[t][Int(targets[t])]
        }
        #expect(abs(Double(got) - total / 4) < 1e-4, "loss \(got) vs reference \(total / 4)")
        let none = m.loss(tape: Tape(), tokens: tokens, targets: [Int32](repeating: -100, count: 7), batch: 1, seq: 7)
        #expect(none.item == 0 && !none.requiresGrad)
    }

    /// A 2-layer d=32 decoder memorises four sequences (next token is a function of the
    /// prefix) in 300 AdamW steps: mean loss < 0.05.
    @Test func tinyDecoderOverfitsToySequences() throws {
        let m = try LlamaFixtures.tinyModel(seed: 1, std: 0.02)
        let seqs: [[Int32]] = [[1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45],
                               [2, 4, 8, 16, 32, 14, 28, 6, 12, 24, 48, 46],
                               [3, 30, 33, 36, 39, 42, 3, 30, 33, 36, 39, 42],
                               [49, 0, 49, 0, 7, 7, 7, 7, 11, 22, 33, 44]]
        let T = 12
        let tokens = seqs.flatMap { $0 }
        let targets: [Int32] = seqs.flatMap { Array($0.dropFirst()) + [Int32(-100)] }
        var opt = AdamW(learningRate: 1e-2, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0)
        let params = m.parameters.map(\.tensor)
        var first: Float = 0, last: Float = 0
        for step in 0..<300 {
            for p in params { p.zeroGrad() }
            let tape = Tape()
            let l = m.loss(tape: tape, tokens: tokens, targets: targets, batch: seqs.count, seq: T)
            if step == 0 { first = l.item }
            last = l.item
            tape.backward(from: l)
            opt.step(params, learningRate: 1e-2)
        }
        print("tiny overfit: loss \(first) -> \(last)")
        #expect(first > 3)
        #expect(last < 0.05)
    }

    /// Pretrained SmolLM2 (first 2 blocks) with 10 new tokens: 5 AdamW steps on a fixed batch
    /// that uses the new tokens lower its loss.
    @Test(.enabled(if: LlamaFixtures.haveGGUF))
    func smolLM2WithNewTokensLearnsFixedBatch() throws {
        let m = try Llama.load(contentsOf: LlamaFixtures.ggufURL, layers: 2) { _ in }
        let V = m.config.vocabSize, D = m.config.dim
        var rng = SplitMix64(seed: 42)
        m.addTokens(count: 10, initialRows: (0..<(10 * D)).map { _ in rng.nextGaussian() * 0.02 })
        let new = (0..<10).map { Int32(V + $0) }
        let seqs: [[Int32]] = [[504, 3575, 282, 4649, 314, new[0], new[1], new[2], 2],
                               [1, new[3], new[4], new[5], 28, new[6], new[7], new[8], new[9]]]
        let T = 9
        let tokens = seqs.flatMap { $0 }
        let targets: [Int32] = seqs.flatMap { Array($0.dropFirst()) + [Int32(-100)] }
        var opt = AdamW(learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01)
        let params = m.parameters.map(\.tensor)
        var losses: [Float] = []
        for _ in 0..<5 {
            for p in params { p.zeroGrad() }
            let tape = Tape()
            let l = m.loss(tape: tape, tokens: tokens, targets: targets, batch: 2, seq: T)
            losses.append(l.item)
            tape.backward(from: l)
            opt.step(params, learningRate: 1e-3)
        }
        let final = m.loss(tape: Tape(recording: false), tokens: tokens, targets: targets, batch: 2, seq: T).item
        print("SmolLM2(2 blocks)+10 tokens: losses \(losses) -> \(final)")
        #expect(losses[0].isFinite && final < losses[0] - 0.5)
    }
}
