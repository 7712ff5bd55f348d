import Foundation
import Testing
@testable import TSRec

/// The RL stage: rewards and advantages by hand, the loss's gradient against finite differences,
/// the shared-prefix scoring against the plain forward, one step on a tiny model, resume.
@Suite struct GRPORewardTests {
    /// Σ_{i<4} 1/log2(i + 2) = 1 + 0.6309298 + 0.5 + 0.4306766 = 2.5616063.
    let z4 = 2.561_606_311_6

    @Test func rankNormaliser() {
        #expect(abs(GroupRewards.rankNormaliser(4) - z4) < 1e-9)
        #expect(abs(GroupRewards.rankNormaliser(16) - 6.105_998_540_1) < 1e-9)
    }

    /// Hit at rank 0: 1 for the hit, −(1/log2(r + 2))/Z for the misses at ranks 1, 2, 3.
    @Test func hitAtRankZero() {
        let r = GroupRewards.rewards([[1], [2], [3], [4]], target: [1])
        expectClose(r.map(Float.init), [1, -0.630_929_75 / 2.561_606_3, -0.5 / 2.561_606_3, -0.430_676_56 / 2.561_606_3],
                    atol: 1e-7, rtol: 1e-6)
        expectClose(r.map(Float.init), [1, -0.246_302_39, -0.195_190_02, -0.168_127_54], atol: 1e-7, rtol: 1e-6)
        // advantages: mean 0.0975950, unbiased std 0.6024759 (ε = 1e-4)
        expectClose(GroupRewards.advantages(r).map(Float.init), [1.497_578_9, -0.570_712_1, -0.485_889_0, -0.440_977_7],
                    atol: 1e-6, rtol: 1e-5)
    }

    /// The target is in the group at rank 2: it gets 1, the misses the rank penalty of their own rank.
    @Test func missWithTargetInGroup() {
        let r = GroupRewards.rewards([[5, 1], [5, 2], [5, 3], [5, 4]], target: [5, 3])
        expectClose(r.map(Float.init), [-0.390_380_05, -0.246_302_39, 1, -0.168_127_54], atol: 1e-7, rtol: 1e-6)
        expectClose(GroupRewards.advantages(r).map(Float.init), [-0.685_270_9, -0.460_459_2, 1.484_209_2, -0.338_479_1],
                    atol: 1e-6, rtol: 1e-5)
        #expect(GroupRewards.advantages(r).max() == GroupRewards.advantages(r)[2])
    }

    /// Target absent: every completion gets 0, so every advantage is 0 (no gradient from the group).
    @Test func targetAbsent() {
        let r = GroupRewards.rewards([[1], [2], [3]], target: [9])
        #expect(r == [0, 0, 0])
        #expect(GroupRewards.advantages(r) == [0, 0, 0])
        #expect(GroupRewards.advantages([0.5]) == [0])
    }

    @Test func k3IsANonNegativeKLEstimate() {
        #expect(k3Estimate(policy: -1.5, reference: -1.5) == 0)
        // r − l = −1: e^{−1} + 1 − 1 = 0.3678794
        #expect(abs(k3Estimate(policy: -1, reference: -2) - 0.367_879_4) < 1e-6)
        // r − l = 0.5: e^{0.5} − 0.5 − 1 = 0.1487213
        #expect(abs(k3Estimate(policy: -2, reference: -1.5) - 0.148_721_3) < 1e-6)
        for d in stride(from: -3.0, through: 3.0, by: 0.25) { #expect(k3Estimate(policy: 0, reference: Float(d)) >= 0) }
    }
}

@Suite struct PolicyLossTests {
    /// A small problem: N = 6 token rows over V = 7, random logits, targets, advantages, reference.
    struct Problem {
        var logits: Tensor
        let targets: [Int32] = [3, 0, 6, 2, 2, 5]
        let advantages: [Float] = [1.2, 1.2, -0.4, -0.4, 0.7, -1.5]
        let reference: [Float] = [-1.1, -2.5, -0.3, -3.0, -1.9, -2.2]
        let weights: [Float] = [0.1, 0.1, 0.2, 0.2, 0.25, 0.15]
        init(seed: UInt64) {
            var rng = SplitMix64(seed: seed)
            logits = Tensor.randn([6, 7], std: 1.5, requiresGrad: true, using: &rng)
        }

        /// The objective whose value carries the ratio term's gradient: Σ w (−A·l + β·k3(r, l)),
        /// in Double (exp(l − sg(l)) has derivative 1 in l, like l itself).
        func unrolled(_ z: [Float], beta: Double) -> Double {
            var total = 0.0
            for n in 0..<6 {
                let row = z[(n * 7)..<(n * 7 + 7)].map(Double.init)
                let m = row.max()!
                let lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
                let l = row[Int(targets[n])] - lse
                let d = Double(reference[n]) - l
                total += Double(weights[n]) * (-Double(advantages[n]) * l + beta * (exp(d) - d - 1))
            }
            return total
        }
    }

    @Test func valueIsMinusAdvantagePlusBetaK3() {
        let p = Problem(seed: 3)
        let out = Tape().policyLoss(logits: p.logits, targets: p.targets, advantages: p.advantages, reference: p.reference,
                                    weights: p.weights, beta: 0.3)
        let expected = (0..<6).reduce(0.0) { s, n in
            s + Double(p.weights[n]) * (-Double(p.advantages[n]) + 0.3 * Double(k3Estimate(policy: out.logProbs[n], reference: p.reference[n])))
        }
        #expect(abs(Double(out.loss.item) - expected) < 1e-6)
        // the log-probabilities are the full-vocabulary log-softmax at the targets
        let z = p.logits.array
        for n in 0..<6 {
            let row = z[(n * 7)..<(n * 7 + 7)].map(Double.init)
            let lse = log(row.reduce(0) { $0 + exp($1) })
            #expect(abs(Double(out.logProbs[n]) - (row[Int(p.targets[n])] - lse)) < 1e-5)
        }
        #expect(Tape.targetLogProbs(logits: p.logits, targets: p.targets) == out.logProbs)
    }

    /// The surrogate's gradient (ratio and k3 terms) against central differences of the unrolled objective.
    @Test func gradientMatchesFiniteDifferences() {
        for (seed, beta) in [(UInt64(1), Float(0.3)), (2, 1e-3), (5, 0)] {
            let p = Problem(seed: seed)
            let tape = Tape()
            let out = tape.policyLoss(logits: p.logits, targets: p.targets, advantages: p.advantages, reference: p.reference,
                                      weights: p.weights, beta: beta)
            tape.backward(from: out.loss, seed: 2)          // a seed ≠ 1 checks the chain rule's scaling
            let analytic = p.logits.gradArray.map { $0 / 2 }
            var z = p.logits.array
            let h: Float = 1e-2
            for i in z.indices {
                let v = z[i]
                z[i] = v + h
                let up = p.unrolled(z, beta: Double(beta))
                z[i] = v - h
                let down = p.unrolled(z, beta: Double(beta))
                z[i] = v
                let numeric = (up - down) / Double(2 * h)
                #expect(abs(Double(analytic[i]) - numeric) < 2e-4 + 1e-3 * abs(numeric),
                        "seed \(seed) β \(beta) element \(i): autograd \(analytic[i]), finite difference \(numeric)")
            }
        }
    }

    /// With A = 0 the loss value is β Σ w k3: the generic finite-difference check applies to the op itself.
    @Test func klTermAgainstTheGenericGradientCheck() {
        let p = Problem(seed: 9)
        expectGradientsMatchFiniteDifferences([p.logits]) { tape, xs in
            tape.policyLoss(logits: xs[0], targets: p.targets, advantages: [Float](repeating: 0, count: 6),
                            reference: p.reference, weights: p.weights, beta: 0.5).loss
        }
    }
}

@Suite struct PrefixScoringTests {
    /// Shared-prefix attention equals causal attention over each prompt + continuation, for the
    /// prompt rows and the continuation rows alike.
    @Test func prefixAttentionEqualsAttentionOnConcatenatedSequences() {
        let (H, Hkv, Dh, G, S, T) = (4, 2, 3, 3, 2, 5)
        let lengths = [5, 3]
        let P = lengths.count, R = P * T + P * G * S
        var rng = SplitMix64(seed: 12)
        let q = Tensor.randn([R, H * Dh], using: &rng), k = Tensor.randn([R, Hkv * Dh], using: &rng)
        let v = Tensor.randn([R, Hkv * Dh], using: &rng)
        let out = Tape(recording: false).prefixAttention(q: q, k: k, v: v, lengths: lengths, seq: T, group: G, suffix: S,
                                                         heads: H, kvHeads: Hkv).array
        // reference: one sequence per (p, g): prompt p's real rows, then continuation (p, g)
        for p in 0..<P {
            for g in 0..<G {
                let rows = (0..<lengths[p]).map { p * T + $0 } + (0..<S).map { P * T + (p * G + g) * S + $0 }
                func pick(_ t: Tensor) -> Tensor {
                    let w = t.shape[1], a = t.array
                    return Tensor(rows.flatMap { a[($0 * w)..<($0 * w + w)] }, shape: [rows.count, w])
                }
                let ref = Tape(recording: false).attention(q: pick(q), k: pick(k), v: pick(v), batch: 1, seq: rows.count,
                                                           heads: H, kvHeads: Hkv).array
                let w = H * Dh
                let got = rows.flatMap { out[($0 * w)..<($0 * w + w)] }
                expectClose(got, ref, atol: 1e-5, rtol: 1e-4, "prompt \(p) continuation \(g)")
            }
        }
    }

    @Test func prefixAttentionGradients() {
        let (H, Hkv, Dh, G, S, T) = (2, 1, 3, 2, 3, 4)
        let lengths = [4, 2]
        let R = 2 * T + 2 * G * S
        var rng = SplitMix64(seed: 5)
        let q = Tensor.randn([R, H * Dh], requiresGrad: true, using: &rng)
        let k = Tensor.randn([R, Hkv * Dh], requiresGrad: true, using: &rng)
        let v = Tensor.randn([R, Hkv * Dh], requiresGrad: true, using: &rng)
        // padded prompt rows (prompt 1, t ≥ 2) are garbage by contract: keep them out of the probe
        let real = (0..<R).filter { !($0 >= T + 2 && $0 < 2 * T) }
        expectGradientsMatchFiniteDifferences([q, k, v], eps: 1e-2, atol: 3e-3, rtol: 2e-2) { tape, xs in
            tape.gatherRows(tape.prefixAttention(q: xs[0], k: xs[1], v: xs[2], lengths: lengths, seq: T, group: G, suffix: S,
                                                 heads: H, kvHeads: Hkv), rows: real)
        }
    }

    /// `completionLogits` (each prompt once) equals the plain forward over prompt + completion,
    /// in the logits and in the parameter gradients of a loss on them.
    @Test func completionLogitsEqualThePlainForward() throws {
        let model = try LlamaFixtures.tinyModel(seed: 31, std: 0.3)
        let prompts: [[Int32]] = [[3, 9, 14, 2, 7], [5, 11]]
        let completions: [[Int32]] = [[20, 21, 22], [23, 21, 40], [20, 30, 22], [41, 42, 43]]   // G = 2, L = 3
        let tape = Tape()
        let fast = model.completionLogits(tape: tape, prompts: prompts, completions: completions)
        #expect(fast.targets == completions.flatMap { $0 })
        var rng = SplitMix64(seed: 2)
        let probe = Tensor.randn(fast.logits.shape, using: &rng)
        tape.backward(from: tape.sum(tape.mul(fast.logits, probe)))
        let fastGrads = model.parameters.map(\.tensor.gradArray)
        for p in model.parameters { p.tensor.zeroGrad() }

        // plain: one right-padded batch of the four sequences prompt + completion[..<L−1]
        let seqs = completions.enumerated().map { c, comp in prompts[c / 2] + comp.dropLast() }
        let T = seqs.map(\.count).max()!
        let slow = Tape()
        let hidden = model.forward(tape: slow, tokens: seqs.flatMap { $0 + [Int32](repeating: 0, count: T - $0.count) },
                                   batch: seqs.count, seq: T,
                                   keyValid: seqs.flatMap { s in (0..<T).map { $0 < s.count } })
        let rows = completions.indices.flatMap { c in (0..<3).map { j in c * T + prompts[c / 2].count - 1 + j } }
        let slowLogits = model.logits(tape: slow, hidden: slow.gatherRows(hidden, rows: rows))
        expectClose(fast.logits.array, slowLogits.array, atol: 1e-4, rtol: 1e-4, "logits")
        slow.backward(from: slow.sum(slow.mul(slowLogits, probe)))
        for (p, g) in zip(model.parameters, fastGrads) {
            expectClose(g, p.tensor.gradArray, atol: 1e-4, rtol: 2e-3, p.name)
        }
    }
}

/// Completions of different lengths (S-DPO's titles): right-padded inside, every real token's
/// logits equal the plain forward of its own prompt + completion, in logits and gradients.
@Suite struct VariableLengthCompletionTests {
    @Test func unequalCompletionsEqualThePlainForwardOfEach() throws {
        let model = try LlamaFixtures.tinyModel(seed: 33, std: 0.3)
        let prompts: [[Int32]] = [[3, 9, 14, 2, 7], [5, 11]]
        let completions: [[Int32]] = [[20, 21, 22, 23, 24], [23], [20, 30], [41, 42, 43]]   // G = 2, lengths 5, 1, 2, 3
        let tape = Tape()
        let fast = model.completionLogits(tape: tape, prompts: prompts, completions: completions)
        #expect(fast.targets == completions.flatMap { $0 })
        #expect(fast.completionOfRow == [0, 0, 0, 0, 0, 1, 2, 2, 3, 3, 3] && fast.logits.shape == [11, model.config.vocabSize])
        var rng = SplitMix64(seed: 5)
        let probe = Tensor.randn(fast.logits.shape, using: &rng)
        tape.backward(from: tape.sum(tape.mul(fast.logits, probe)))
        let fastGrads = model.parameters.map(\.tensor.gradArray)
        for p in model.parameters { p.tensor.zeroGrad() }

        // plain: each prompt + completion on its own (no padding anywhere)
        let slow = Tape()
        let V = model.config.vocabSize, probeValues = probe.array
        var slowLogits: [Float] = [], loss: Tensor? = nil, row = 0
        for (c, comp) in completions.enumerated() {
            let seq = prompts[c / 2] + comp.dropLast()
            let hidden = model.forward(tape: slow, tokens: seq, batch: 1, seq: seq.count, keyValid: [Bool](repeating: true, count: seq.count))
            let rows = (0..<comp.count).map { prompts[c / 2].count - 1 + $0 }
            let logits = model.logits(tape: slow, hidden: slow.gatherRows(hidden, rows: rows))
            slowLogits += logits.array
            let part = Tensor(Array(probeValues[(row * V)..<((row + comp.count) * V)]), shape: [comp.count, V])
            let term = slow.sum(slow.mul(logits, part))
            loss = loss.map { slow.add($0, term) } ?? term
            row += comp.count
        }
        expectClose(fast.logits.array, slowLogits, atol: 1e-4, rtol: 1e-4, "logits")
        slow.backward(from: loss!)
        for (p, g) in zip(model.parameters, fastGrads) {
            expectClose(g, p.tensor.gradArray, atol: 1e-4, rtol: 2e-3, p.name)
        }
    }
}

/// The stage on a tiny random Llama and a tiny trie (vocabulary 50; completions of 3 tokens).
@Suite struct GRPOStageTests {
    static let sequences = (0..<12).map { i in [10 + i % 4, 20 + i / 4, 40 + i % 3] }
    static let trie = PrefixTrie(sequences: sequences)

    static func config(steps: Int, promptsPerStep: Int = 2) -> ExperimentConfig {
        var c = ExperimentConfig(dataset: "toy", profile: .smoke)
        var rl = RLConfig()
        rl.completionsPerPrompt = 4
        rl.promptsPerStep = promptsPerStep
        rl.promptsPerMicroBatch = 1          // two micro-batches per step: accumulation is exercised
        rl.maxSteps = steps
        rl.epochs = 10
        rl.learningRate = 1e-3
        rl.beta = 0.05
        rl.refSyncSteps = 2
        rl.evalInterval = 3
        rl.checkpointInterval = 2
        c.rl = rl
        return c
    }

    static func examples(count: Int, seed: UInt64) -> [RLExample] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { i in
            RLExample(prompt: (0..<(3 + i % 4)).map { _ in Int32(rng.next() % 10) }, target: sequences[Int(rng.next() % 12)])
        }
    }

    static func logProb(_ model: Llama, prompt: [Int32], completion: [Int]) -> Double {
        let out = model.completionLogits(tape: Tape(recording: false), prompts: [prompt], completions: [completion.map(Int32.init)])
        return Tape.targetLogProbs(logits: out.logits, targets: out.targets).reduce(0) { $0 + Double($1) }
    }

    /// The target is the beam's third completion (reward 1, the highest advantage): one step
    /// raises its log-probability and lowers the best-ranked miss's.
    @Test func oneStepRaisesTheBestAdvantagedCompletion() throws {
        let model = try LlamaFixtures.tinyModel(seed: 8, std: 0.3)
        let prompt: [Int32] = [1, 4, 2, 8, 5]
        var scorer = LlamaBeamScorer(model: model, promptCapacity: 64, depth: 3, width: 4)
        let group = try beamSearch(&scorer, trie: Self.trie, prompt: prompt.map(Int.init), width: 4).map(\.tokens)
        let target = group[2]
        let advantages = GroupRewards.advantages(GroupRewards.rewards(group, target: target))
        #expect(advantages.firstIndex(of: advantages.max()!) == 2)
        let before = (Self.logProb(model, prompt: prompt, completion: target), Self.logProb(model, prompt: prompt, completion: group[0]))

        let dir = try DataTestSupport.makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var trainer = Trainer(config: Self.config(steps: 1, promptsPerStep: 1), runDirectory: dir)
        trainer.log = { _ in }
        let summary = try #require(try trainer.reinforce(model, examples: [RLExample(prompt: prompt, target: target)], valid: [],
                                                         trie: Self.trie, configHash: "toy"))
        #expect(summary.steps == 1 && summary.log[0].targetInGroup == 1 && summary.log[0].exactMatch == 0.25)
        let after = (Self.logProb(model, prompt: prompt, completion: target), Self.logProb(model, prompt: prompt, completion: group[0]))
        #expect(after.0 > before.0, "log π(target) \(before.0) → \(after.0)")
        #expect(after.1 < before.1, "log π(rank-0 miss) \(before.1) → \(after.1)")
    }

    /// Stopped after 3 of 6 steps (the last checkpoint is step 2) and resumed with a model of other
    /// weights: the same parameters, reference sync and log as an uninterrupted stage.
    @Test func resumeAfterKillEqualsUninterruptedStage() throws {
        let examples = Self.examples(count: 5, seed: 3), valid = Self.examples(count: 2, seed: 4)
        let straightDir = try DataTestSupport.makeTempDir("straight"), resumedDir = try DataTestSupport.makeTempDir("resumed")
        defer { try? FileManager.default.removeItem(at: straightDir); try? FileManager.default.removeItem(at: resumedDir) }
        let config = Self.config(steps: 6)

        let straight = try LlamaFixtures.tinyModel(seed: 8, std: 0.3)
        var t1 = Trainer(config: config, runDirectory: straightDir)
        t1.log = { _ in }
        t1.rolloutPromptsPerBatch = 2
        let s1 = try #require(try t1.reinforce(straight, examples: examples, valid: valid, trie: Self.trie, configHash: "h"))

        var t2 = Trainer(config: config, runDirectory: resumedDir)
        t2.log = { _ in }
        t2.rolloutPromptsPerBatch = 2
        t2.stepLimitThisInvocation = 3
        #expect(try t2.reinforce(try LlamaFixtures.tinyModel(seed: 8, std: 0.3), examples: examples, valid: valid,
                                 trie: Self.trie, configHash: "h") == nil)
        let resumed = try LlamaFixtures.tinyModel(seed: 99, std: 0.3)   // other weights: all must come from the checkpoint
        t2.stepLimitThisInvocation = nil
        let s2 = try #require(try t2.reinforce(resumed, examples: examples, valid: valid, trie: Self.trie, configHash: "h"))

        for (a, b) in zip(straight.parameters, resumed.parameters) {
            #expect(a.tensor.array == b.tensor.array, "parameter \(a.name) differs after resume")
        }
        func strip(_ rows: [RLLogRow]) -> [RLLogRow] { rows.map { var r = $0; r.seconds = 0; return r } }
        #expect(strip(s1.log) == strip(s2.log))
        #expect(s1.log.map(\.step) == Array(1...6) && s1.log.map(\.epoch) == [0, 0, 1, 1, 1, 2])
        #expect(s1.log.compactMap(\.validReward).count == 2)              // steps 3 and 6
        #expect(s1.startValidation == s2.startValidation && s1.startValidation != nil)
        #expect(strip(try StepLog.read(RLLogRow.self, from: resumedDir.appendingPathComponent("train_log.csv"))) == strip(s1.log))
        // the final weights are the result
        let reloaded = try LlamaFixtures.tinyModel(seed: 1, std: 0.3)
        _ = try Checkpoint.load(straightDir.appendingPathComponent("policy.tsrc"),
                                tensors: Dictionary(uniqueKeysWithValues: reloaded.parameters.map { ($0.name, $0.tensor) }))
        #expect(zip(reloaded.parameters, straight.parameters).allSatisfy { $0.tensor.array == $1.tensor.array })
    }

    /// With bf16 products, the RL stage's regions (each step's rollouts and backward, each
    /// validation; copies reused between steps while the policy and, at syncs, the reference
    /// change) end with the parameters and log of rounding every product afresh.
    @Test func bf16StageWithWeightCopiesEqualsRoundingAfresh() throws {
        let examples = Self.examples(count: 5, seed: 3), valid = Self.examples(count: 2, seed: 4)
        func stage(_ engine: BF16Matmul) throws -> (parameters: [[Float]], log: [RLLogRow]) {
            let dir = try DataTestSupport.makeTempDir("bf16")
            defer { try? FileManager.default.removeItem(at: dir) }
            let model = try LlamaFixtures.tinyModel(seed: 8, std: 0.3)
            var trainer = Trainer(config: Self.config(steps: 6), runDirectory: dir)
            trainer.log = { _ in }
            trainer.rolloutPromptsPerBatch = 2
            let summary = try #require(try engine.scope { try trainer.reinforce(model, examples: examples, valid: valid, trie: Self.trie, configHash: "h") })
            return (model.parameters.map(\.tensor.array), summary.log.map { var r = $0; r.seconds = 0; return r })
        }
        let kept = try stage(try BF16Matmul(smallestProduct: 0))
        let afresh = try stage(try BF16Matmul(smallestProduct: 0, keepsWeightCopies: false))
        #expect(kept.parameters == afresh.parameters)
        #expect(kept.log == afresh.log)
        let fp32 = try LlamaFixtures.tinyModel(seed: 8, std: 0.3).parameters.map(\.tensor.array)
        #expect(kept.parameters != fp32)                                     // it trained
    }

    /// The data-parallel stage (docs/mpi.md) on ranks simulated in this process: 2 ranks split each
    /// step's two rollout chunks and two loss micro-batches, 3 ranks leave one rank idle. Every
    /// rank ends with the same weights, and those are the one-process stage's up to float
    /// rounding (the ranks' gradients are added in another order), with the same rewards at every
    /// step. Rewards are not all zero here (the target is in the group at some steps), so the
    /// gradient path is exercised; an all-reduce that drops the other ranks' gradients is caught
    /// by the stage's own weight check across ranks. (The time limit: ranks that disagreed on the
    /// order of their collectives would wait for each other for ever.)
    @Test(.timeLimit(.minutes(5)), arguments: [2, 3]) func ranksEqualOneProcess(ranks: Int) throws {
        let examples = Self.examples(count: 5, seed: 3), valid = Self.examples(count: 3, seed: 4)
        let config = Self.config(steps: 6)
        @Sendable func stage(_ communicator: any Communicator, in dir: URL) throws -> (parameters: [[Float]], log: [RLLogRow]) {
            let model = try LlamaFixtures.tinyModel(seed: 8, std: 0.3)
            var trainer = Trainer(config: config, runDirectory: dir)
            trainer.log = { _ in }
            trainer.rolloutPromptsPerBatch = 1           // two rollout chunks per step of two prompts
            trainer.communicator = communicator
            trainer.parameterCheckInterval = 2
            let summary = try #require(try trainer.reinforce(model, examples: examples, valid: valid, trie: Self.trie, configHash: "h"))
            return (model.parameters.map(\.tensor.array), summary.log.map { var r = $0; r.seconds = 0; return r })
        }
        let oneDir = try DataTestSupport.makeTempDir("one"), sharedDir = try DataTestSupport.makeTempDir("ranks"),
            brokenDir = try DataTestSupport.makeTempDir("broken")
        defer { for d in [oneDir, sharedDir, brokenDir] { try? FileManager.default.removeItem(at: d) } }
        let one = try stage(SingleProcess(), in: oneDir)
        #expect(one.log.contains { $0.targetInGroup > 0 && $0.gradNorm > 0 }, "the stage must learn something for the check to mean anything")

        let byRank = try ThreadRanks.run(ranks) { try stage($0, in: sharedDir) }
        #expect(byRank.allSatisfy { $0.parameters == byRank[0].parameters }, "ranks ended with different weights")
        let parallel = byRank[0]
        #expect(parallel.log.map(\.step) == one.log.map(\.step))
        for (a, b) in zip(parallel.log, one.log) {
            #expect(a.meanReward == b.meanReward && a.exactMatch == b.exactMatch && a.targetInGroup == b.targetInGroup,
                    "step \(a.step): rollouts differ")
            #expect(a.validHR10 == b.validHR10, "step \(a.step): validation HR@10 \(String(describing: a.validHR10)) vs \(String(describing: b.validHR10))")
            for (x, y, what) in [(a.loss, b.loss, "loss"), (a.kl, b.kl, "kl"), (a.gradNorm, b.gradNorm, "grad norm"),
                                 (a.validReward ?? 0, b.validReward ?? 0, "validation reward")] {
                #expect(abs(x - y) <= 1e-9 + 1e-5 * max(abs(x), abs(y)), "step \(a.step) \(what): \(x) vs \(y)")
            }
        }
        for (i, (a, b)) in zip(parallel.parameters, one.parameters).enumerated() {
            expectClose(a, b, atol: 1e-6, rtol: 1e-4, "parameter \(i)")
        }

        // an all-reduce that keeps each rank's own gradient: the ranks' weights drift apart
        #expect(throws: TSRecError.self) {
            _ = try ThreadRanks.run(ranks, dropsOtherRanks: true) { try stage($0, in: brokenDir) }
        }
    }

    /// ref ← 0.6·π + 0.4·ref.
    @Test func referenceSyncMixes() throws {
        let a = try LlamaFixtures.tinyModel(seed: 1), b = try LlamaFixtures.tinyModel(seed: 2)
        let before = b.parameters.map(\.tensor.array)
        Trainer.mix(reference: b.parameters, toward: a.parameters, alpha: 0.6)
        for ((pa, pb), old) in zip(zip(a.parameters, b.parameters), before) {
            expectClose(pb.tensor.array, zip(pa.tensor.array, old).map { 0.6 * $0 + 0.4 * $1 }, atol: 1e-7, rtol: 1e-6, pa.name)
        }
    }
}

@Suite struct RLConfigTests {
    /// HF's warm-up ratio: ceil(0.03 × total); the paper budget's ~1,650 steps warm up for 50.
    @Test func budgetAndWarmup() {
        let paper = RLConfig.profile(.paper)
        #expect(paper.promptsPerStep == 64 && paper.completionsPerPrompt == 16 && paper.epochs == 2 && paper.maxSteps == nil)
        #expect(paper.learningRate == 1e-5 && paper.gradClip == 0.3 && paper.beta == 1e-3 && paper.weightDecay == 0)
        #expect(paper.refSyncSteps == 512 && paper.refSyncAlpha == 0.6 && paper.titleHistoryRows == 10_000)
        let prompts = 36_259 + 3_646 + 2_870 + 10_000
        #expect(paper.totalSteps(promptCount: prompts) == 824 * 2)
        #expect(paper.warmupSteps(total: 1_648) == 50)
        #expect(paper.validationInterval(total: 1_648) == 165)
        let s = LRSchedule(warmupSteps: 50, totalSteps: 1_648, peak: 1e-5, kind: .cosine)
        #expect(s.lr(at: 49) == 1e-5 && abs(s.lr(at: 849) - 0.5e-5) < 1e-8 && s.lr(at: 1_647) < 1e-10)
    }

    /// The RL methods differ from their SFT methods in `rl` only, and share their SFT run.
    @Test func rlMethodsAddOnlyTheRLStage() throws {
        for profile in Profile.allCases {
            let base = ExperimentConfig.profile(profile, dataset: "Industrial_and_Scientific")
            #expect(try AblationStudy.differences(base.applying(.minionerec), from: base.applying(.minionerecSFT)) == ["rl"])
            #expect(try AblationStudy.differences(base.applying(.tsrec), from: base.applying(.tsrecSFT)) == ["rl"])
            #expect(try AblationStudy.differences(base.applying(.tsrec), from: base.applying(.minionerec)) == ["sidInit", "tasks"])
            #expect(base.applying(.tsrec).rl == RLConfig.profile(profile))
            #expect(Pipeline(base.applying(.minionerec), label: "x").trainingHash == Pipeline(base.applying(.minionerecSFT), label: "x").trainingHash)
            #expect(Pipeline(base.applying(.tsrec), label: "x").rlDirectory?.deletingLastPathComponent().path
                    == Pipeline(base.applying(.tsrecSFT), label: "x").runDirectory.path)
            #expect(Pipeline(base.applying(.tsrecSFT), label: "x").rlHash == nil)
        }
        // nil encodes as nothing: the SFT-only JSON has no "rl" key
        let json = String(decoding: try JSONEncoder().encode(ExperimentConfig.profile(.quick, dataset: "x").applying(.tsrecSFT)), as: UTF8.self)
        #expect(!json.contains("\"rl\""))
        #expect(Method.tsrec.hasRL && Method.minionerec.hasRL && !Method.tsrecSFT.hasRL && Method.tsrec.sftStage == .tsrecSFT)
        #expect(Method.named("ts-rec-sft") == .tsrecSFT && Method.named("TS_Rec") == .tsrec && Method.named("TS-Rec") == .tsrec)
        #expect(Method.named("nope") == nil)
    }
}

@Suite struct RLPromptTests {
    let history = ["<a_1><b_2><c_3>", "<a_4><b_5><c_6>"]

    /// Only the input block: no preamble, no instruction section; one text; training wording of
    /// the next-item question; titles quoted in the title history, the title bare in title → SID.
    @Test func rlPromptsAreTheInputBlockAlone() {
        let prompts = [Prompt.nextItem(history: history), .itemWithTitle(title: "Glue"), .itemWithDescription(description: "Strong glue."),
                       .nextItemFromTitles(titles: ["Glue", "Tape 2\" wide"])]
        for p in prompts {
            #expect(p.rlText.hasPrefix("### User Input: \n") && p.rlText.hasSuffix("\n\n### Response:\n"))
            #expect(!p.rlText.contains("### Instruction") && !p.rlText.contains(Prompt.preamble.prefix(20)))
            #expect(p.rlText == p.segments(.alpaca)[1])           // the SFT prompt's second block
        }
        #expect(prompts[3].rlText.contains("\"Glue\", \"Tape 2\" wide\""))
        #expect(prompts[1].rlText.contains("Glue?") && !prompts[1].rlText.contains("\"Glue\""))
        #expect(prompts[2].rlText.contains("\"Strong glue.\""))
        #expect(Prompt.nextItem(history: history).rlText != Prompt.nextItemQuery(history: history).segments(.alpaca)[1])
    }

    @Test func descriptionKeyIsTheFirstListElement() {
        #expect(ItemInfo(title: "t", description: "['First part.', 'Second.']").rlDescription == "First part.")
        #expect(ItemInfo(title: "t", description: "").rlDescription == "")
        #expect(ItemInfo(title: "t", description: "plain text").rlDescription == "plain text")
        #expect(ItemInfo(title: "t", description: "[\"double quoted\"]").rlDescription == "[\"double quoted\"]")
        #expect(ItemInfo(title: "t", description: "['LulzBot's part']").rlDescription == "['LulzBot's part']")   // not a literal
    }
}

/// The prompt set on Industrial: 36,259 next item + 3,646 titles + 2,870 descriptions + 10,000 title histories.
@Suite(.enabled(if: TSRecFixtures.industrialAndModelAvailable, "needs the SmolLM2 GGUF and the Industrial dataset in the cache (make model data)"))
struct RLPromptSetTests {
    @Test func industrialPromptSetSizes() throws {
        let paths = Paths.fromEnvironment()
        let dataset = try Dataset.load(.industrial, paths: paths)
        var tokenizer = try BPETokenizer(gguf: GGUFFile(contentsOf: ModelStore(paths: paths).url("SmolLM2-135M-Instruct.Q4_1.gguf")))
        _ = tokenizer.addTokens(dataset.sidTokens)
        let builder = try SFTSampleBuilder(tokenizer: tokenizer, maxLength: 512, format: .alpaca)
        var rng = Trainer.rlStreams(seed: 42).sampling
        let (prompts, truncated) = try builder.rlPrompts(dataset, trainRows: nil, rl: RLConfig(), using: &rng)
        let count = Dictionary(grouping: prompts, by: \.source).mapValues(\.count)
        #expect(count[.nextItem] == 36_259 && count[.title] == 3_646 && count[.description] == 2_870 && count[.titleHistory] == 10_000)
        #expect(prompts.count == 52_775)
        print("RL prompts: \(count), \(truncated) cut to 512 tokens, longest \(prompts.map(\.tokens.count).max()!)")
        // each prompt keeps its own row's target; the text is tokenized in one piece
        let train = try dataset.split(.train).rows
        #expect(zip(prompts.prefix(train.count), train).allSatisfy { $0.target == $1.targetSID })
        let first = prompts[0]
        #expect(first.tokens == tokenizer.encode(Prompt.nextItem(history: train[0].historySIDs).rlText).map(Int32.init))
        #expect(prompts.allSatisfy { $0.tokens.count <= 512 })
        // the draw of title histories is the seed's: the same again, another for another seed
        var again = Trainer.rlStreams(seed: 42).sampling, other = Trainer.rlStreams(seed: 7).sampling
        #expect(try builder.rlPrompts(dataset, trainRows: nil, rl: RLConfig(), using: &again).prompts.suffix(10_000) == prompts.suffix(10_000))
        #expect(try builder.rlPrompts(dataset, trainRows: nil, rl: RLConfig(), using: &other).prompts.suffix(10_000) != prompts.suffix(10_000))
    }
}
