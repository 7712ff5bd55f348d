import Foundation
import Testing
@testable import TSRec

/// The preference stage (S-DPO's softmax-DPO after SFT) on a tiny random Llama (vocabulary 50),
/// with answers of different lengths as titles have.
@Suite struct PreferenceStageTests {
    static func config(steps: Int, promptsPerStep: Int = 2, promptsPerMicroBatch: Int = 1, lr: Float = 1e-3) -> ExperimentConfig {
        var c = ExperimentConfig(dataset: "toy", profile: .smoke)
        var p = PreferenceConfig()
        p.promptsPerStep = promptsPerStep
        p.promptsPerMicroBatch = promptsPerMicroBatch
        p.maxSteps = steps
        p.epochs = 10
        p.learningRate = lr
        p.warmupRatio = 0
        p.evalStepsFraction = nil
        p.evalInterval = 2
        p.checkpointInterval = 2
        c.preference = p
        return c
    }

    /// Prompts of 3–6 tokens; 1 chosen + 3 rejected answers of 2–4 tokens, each ending in 2
    /// (EOS-like); answer j starts in its own token range, so the four always differ.
    static func examples(count: Int, seed: UInt64) -> [PreferenceExample] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { i in
            let prompt = (0..<(3 + i % 4)).map { _ in Int32(rng.next() % 10 + 3) }
            let answers: [[Int32]] = (0..<4).map { j in
                var answer: [Int32] = [Int32(15 + 7 * j + Int(rng.next() % 7))]
                for _ in 0..<Int(rng.next() % 3) { answer.append(Int32(rng.next() % 30 + 15)) }
                answer.append(2)
                return answer
            }
            return PreferenceExample(prompt: prompt, answers: answers)
        }
    }

    static func logProb(_ model: Llama, prompt: [Int32], answer: [Int32]) -> Double {
        let out = model.completionLogits(tape: Tape(recording: false), prompts: [prompt], completions: [answer])
        return Tape.targetLogProbs(logits: out.logits, targets: out.targets).reduce(0) { $0 + Double($1) }
    }

    /// At the start the policy is the reference: every Δ is 0 and the loss is log(1 + 3) exactly;
    /// one step raises log π(chosen) and lowers every rejected answer's.
    @Test func firstLossIsLogFourAndOneStepPrefersTheChosenAnswer() throws {
        let model = try LlamaFixtures.tinyModel(seed: 12, std: 0.3)
        let example = Self.examples(count: 1, seed: 5)[0]
        let before = example.answers.map { Self.logProb(model, prompt: example.prompt, answer: $0) }
        let dir = try DataTestSupport.makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var trainer = Trainer(config: Self.config(steps: 1, promptsPerStep: 1), runDirectory: dir)
        trainer.log = { _ in }
        let summary = try #require(try trainer.prefer(model, examples: [example], valid: [], configHash: "toy"))
        #expect(abs(summary.log[0].loss - log(4)) < 1e-6, "first loss \(summary.log[0].loss)")
        let after = example.answers.map { Self.logProb(model, prompt: example.prompt, answer: $0) }
        #expect(after[0] > before[0], "log π(chosen) \(before[0]) → \(after[0])")
        for j in 1..<4 { #expect(after[j] < before[j], "log π(rejected \(j)) \(before[j]) → \(after[j])") }
    }

    /// The step's loss is the mean over its prompts however they are split into micro-batches:
    /// 4 prompts (policy ≠ reference) in micro-batches of 1 and of 4 give the same loss and gradient.
    @Test func microBatchingDoesNotChangeTheStep() throws {
        let examples = Self.examples(count: 4, seed: 9)
        let reference = try LlamaFixtures.tinyModel(seed: 12, std: 0.3)
        var results: [(loss: Double, grads: [[Float]])] = []
        for micro in [1, 4] {
            let policy = try LlamaFixtures.tinyModel(seed: 13, std: 0.3)
            let config = Self.config(steps: 1, promptsPerStep: 4, promptsPerMicroBatch: micro)
            let trainer = Trainer(config: config, runDirectory: URL(fileURLWithPath: "/nonexistent"))
            let pass = try trainer.preferencePass(policy: policy, reference: reference, examples, pref: config.preference!, backward: true)
            results.append((pass.loss, policy.parameters.map(\.tensor.gradArray)))
        }
        #expect(abs(results[0].loss - results[1].loss) < 1e-5 * abs(results[0].loss), "\(results[0].loss) vs \(results[1].loss)")
        for (a, b) in zip(results[0].grads, results[1].grads) { expectClose(a, b, atol: 2e-5, rtol: 1e-3, "gradient") }   // summation order only; a weighting error is O(1)
    }

    /// The validation rows' reference sums, computed once for the stage, give the pass the very
    /// bits it computes with the reference run in place (policy ≠ reference, micro-batches of 2).
    @Test func cachedReferenceSumsAreExact() throws {
        let valid = Self.examples(count: 5, seed: 4)
        let reference = try LlamaFixtures.tinyModel(seed: 12, std: 0.3), policy = try LlamaFixtures.tinyModel(seed: 13, std: 0.3)
        let config = Self.config(steps: 1, promptsPerStep: 5, promptsPerMicroBatch: 2)
        let trainer = Trainer(config: config, runDirectory: URL(fileURLWithPath: "/nonexistent"))
        let cache = trainer.referenceSums(reference, valid, pref: config.preference!)
        #expect(cache.keys.sorted() == [0, 2, 4] && cache[4]?.count == 4)
        let fresh = try trainer.preferencePass(policy: policy, reference: reference, valid, pref: config.preference!, backward: false)
        let cached = try trainer.preferencePass(policy: policy, reference: reference, valid, pref: config.preference!, backward: false,
                                                referenceSums: cache)
        #expect(fresh.loss == cached.loss && fresh.chosenFirst == cached.chosenFirst, "\(fresh) vs \(cached)")
        #expect(abs(fresh.loss - log(4)) > 1e-3)          // policy ≠ reference: the reference's side matters
        // and a cache of another reference changes the loss (the cache is what the pass reads)
        let other = trainer.referenceSums(policy, valid, pref: config.preference!)
        #expect(try trainer.preferencePass(policy: policy, reference: reference, valid, pref: config.preference!, backward: false,
                                           referenceSums: other).loss != fresh.loss)
    }

    /// Stopped after 3 of 6 steps (last checkpoint at step 2) and resumed into a model with other
    /// weights... except the reference: the stage rebuilds it from the model it is given, which
    /// must be the SFT weights, as the pipeline passes them. Same parameters and log as one run;
    /// the best validation weights are the result.
    @Test func resumeAfterKillEqualsUninterruptedStage() throws {
        let examples = Self.examples(count: 5, seed: 3), valid = Self.examples(count: 2, seed: 4)
        let straightDir = try DataTestSupport.makeTempDir("straight"), resumedDir = try DataTestSupport.makeTempDir("resumed")
        defer { try? FileManager.default.removeItem(at: straightDir); try? FileManager.default.removeItem(at: resumedDir) }
        let config = Self.config(steps: 6)

        let straight = try LlamaFixtures.tinyModel(seed: 12, std: 0.3)
        var t1 = Trainer(config: config, runDirectory: straightDir)
        t1.log = { _ in }
        let s1 = try #require(try t1.prefer(straight, examples: examples, valid: valid, configHash: "h"))

        var t2 = Trainer(config: config, runDirectory: resumedDir)
        t2.log = { _ in }
        t2.stepLimitThisInvocation = 3
        #expect(try t2.prefer(try LlamaFixtures.tinyModel(seed: 12, std: 0.3), examples: examples, valid: valid, configHash: "h") == nil)
        t2.stepLimitThisInvocation = nil
        let resumed = try LlamaFixtures.tinyModel(seed: 12, std: 0.3)     // the SFT weights again, as the pipeline loads them
        let s2 = try #require(try t2.prefer(resumed, examples: examples, valid: valid, configHash: "h"))

        for (a, b) in zip(straight.parameters, resumed.parameters) {
            #expect(a.tensor.array == b.tensor.array, "parameter \(a.name) differs after resume")
        }
        func strip(_ rows: [PreferenceLogRow]) -> [PreferenceLogRow] { rows.map { var r = $0; r.seconds = 0; return r } }
        #expect(strip(s1.log) == strip(s2.log))
        #expect(s1.log.map(\.step) == Array(1...6) && s1.log.map(\.epoch) == [0, 0, 1, 1, 1, 2])
        #expect(s1.log.compactMap(\.validLoss).count == 3)                 // steps 2, 4 and 6
        #expect(s1.bestValidLoss == s1.log.compactMap(\.validLoss).min())
        #expect(strip(try StepLog.read(PreferenceLogRow.self, from: resumedDir.appendingPathComponent("train_log.csv"))) == strip(s1.log))
        // the weights left in the model and written as the stage's result are the best validation step's
        let best = try LlamaFixtures.tinyModel(seed: 1, std: 0.3)
        _ = try Checkpoint.load(straightDir.appendingPathComponent("best.tsrc"),
                                tensors: Dictionary(uniqueKeysWithValues: best.parameters.map { ($0.name, $0.tensor) }))
        #expect(zip(best.parameters, straight.parameters).allSatisfy { $0.tensor.array == $1.tensor.array })
        #expect(FileManager.default.fileExists(atPath: straightDir.appendingPathComponent("policy.tsrc").path))
    }

    /// Data-parallel: 2 and 3 ranks (threads meeting in memory) each run their share of a step's
    /// 4 micro-batches and sum the gradients; every step's loss, chosen-first share, gradient norm
    /// and validation loss, and the final weights, equal one process's within fp32 summation
    /// order, and every rank ends with the same weights. An all-reduce that keeps each rank's own
    /// gradient is caught by the weight check.
    @Test(.timeLimit(.minutes(5)), arguments: [2, 3]) func ranksEqualOneProcess(ranks: Int) throws {
        let examples = Self.examples(count: 7, seed: 3), valid = Self.examples(count: 3, seed: 4)
        let config = Self.config(steps: 4, promptsPerStep: 4)
        @Sendable func stage(_ communicator: any Communicator, in dir: URL) throws -> (parameters: [[Float]], log: [PreferenceLogRow]) {
            let model = try LlamaFixtures.tinyModel(seed: 12, std: 0.3)
            var trainer = Trainer(config: config, runDirectory: dir)
            trainer.log = { _ in }
            trainer.communicator = communicator
            trainer.parameterCheckInterval = 2
            let summary = try #require(try trainer.prefer(model, examples: examples, valid: valid, configHash: "h"))
            return (model.parameters.map(\.tensor.array), summary.log.map { var r = $0; r.seconds = 0; return r })
        }
        let oneDir = try DataTestSupport.makeTempDir("one"), sharedDir = try DataTestSupport.makeTempDir("ranks"),
            brokenDir = try DataTestSupport.makeTempDir("broken")
        defer { for d in [oneDir, sharedDir, brokenDir] { try? FileManager.default.removeItem(at: d) } }
        let one = try stage(SingleProcess(), in: oneDir)
        #expect(one.log.contains { $0.chosenFirst > 0 && $0.loss < log(4) - 1e-3 }, "the stage must learn something for the check to mean anything")

        let byRank = try ThreadRanks.run(ranks) { try stage($0, in: sharedDir) }
        #expect(byRank.allSatisfy { $0.parameters == byRank[0].parameters }, "ranks ended with different weights")
        let parallel = byRank[0]
        #expect(parallel.log.map(\.step) == one.log.map(\.step) && parallel.log.map(\.chosenFirst) == one.log.map(\.chosenFirst))
        for (a, b) in zip(parallel.log, one.log) {
            #expect((a.validLoss == nil) == (b.validLoss == nil))
            for (x, y, what) in [(a.loss, b.loss, "loss"), (a.gradNorm, b.gradNorm, "grad norm"), (a.validLoss ?? 0, b.validLoss ?? 0, "validation loss")] {
                #expect(abs(x - y) <= 1e-9 + 1e-5 * max(abs(x), abs(y)), "step \(a.step) \(what): \(x) vs \(y)")
            }
        }
        for (i, (a, b)) in zip(parallel.parameters, one.parameters).enumerated() {
            expectClose(a, b, atol: 1e-6, rtol: 1e-4, "parameter \(i)")
        }
        #expect(throws: TSRecError.self) {
            _ = try ThreadRanks.run(ranks, dropsOtherRanks: true) { try stage($0, in: brokenDir) }
        }
    }

    /// S-DPO's loader keeps rows with at least 3 history items (lastfm_data.py:81); nil keeps all.
    @Test func shortHistoriesStayOut() {
        let rows = (0...4).map { n in
            SplitRow(userID: "u\(n)", historyItemIDs: Array(0..<n), historySIDs: [], historyTitles: [], targetItemID: 9,
                     targetSID: "", targetTitle: "t")
        }
        var c = PreferenceConfig.profile(.quick)
        #expect(c.minHistory == 3 && PreferenceConfig.profile(.paper).minHistory == 3)
        #expect(rows.filter(c.admits).map(\.historyItemIDs.count) == [3, 4])
        c.minHistory = nil
        #expect(rows.filter(c.admits).count == 5)
    }

    /// The authors' budget in `paper`; the stage never enters the SFT run's hash.
    @Test func paperBudgetAndHash() {
        let paper = PreferenceConfig.profile(.paper)
        #expect(paper.beta == 1 && paper.negatives == 3 && paper.promptsPerStep == 128 && paper.epochs == 3)
        #expect(paper.learningRate == 1e-5 && paper.warmupRatio == 0.05 && paper.gradClip == 0.3 && paper.evalStepsFraction == 0.1)
        #expect(paper.warmupSteps(total: 849) == 43 && paper.validationInterval(total: 849) == 85)
        var c = ExperimentConfig.profile(.quick, dataset: "Industrial_and_Scientific")
        let sft = Pipeline(c, label: "x").trainingHash
        c.preference = .profile(.quick)
        #expect(Pipeline(c, label: "x").trainingHash == sft)
    }
}

/// The stage inside the pipeline (smoke budget, 2-layer backbone, real Industrial rows): D3's
/// recipe trains, S-DPO's stage runs from its best weights into `pref-<hash>/` of the same SFT
/// run, and a second pipeline finds both finished.
@Suite(.enabled(if: TSRecFixtures.industrialAndModelAvailable, "needs the SmolLM2 GGUF and the Industrial dataset in the cache (make model data)"))
struct PreferencePipelineTests {
    @Test func d3ThenPreferenceStageAtSmoke() throws {
        try SmokePipeline.withResults("pref-pipeline") { paths in
            var config = SmokePipeline.config()
            config.tasks = []
            config.recipe = .d3
            var d3 = Pipeline(config, label: "D3", paths: paths)
            d3.log = { _ in }
            config.preference = .profile(.smoke)
            var sdpo = Pipeline(config, label: "S-DPO", paths: paths)
            sdpo.log = { _ in }
            #expect(sdpo.trainingHash == d3.trainingHash && sdpo.preferenceDirectory?.deletingLastPathComponent().path == d3.runDirectory.path)

            let summary = try sdpo.trainOnly()
            #expect(summary.steps == 6)
            let pref = try #require(try sdpo.finishedPreference())
            #expect(pref.steps == 3 && pref.log.count == 3 && pref.log.compactMap(\.validLoss).count == 2)
            #expect(abs(pref.log[0].loss - log(4)) < 1e-3)                // the first step starts at policy = reference
            #expect(try d3.finishedTraining() != nil && d3.finishedPreference() == nil)
            // a second process's pipeline finds the stage finished and loads its weights
            var again = Pipeline(config, label: "S-DPO", paths: paths)
            let box = again.keepingLog()
            _ = try again.trainOnly()
            #expect(box.lines.contains { $0.contains("preference: finished earlier (3 steps)") })
        }
    }
}
