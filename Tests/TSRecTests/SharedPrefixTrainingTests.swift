import Foundation
import Testing
@testable import TSRec

/// Training with the prompt template run once per micro-batch (`SFTBatch.sharedPrefix`,
/// `Llama.loss(…, sharedPrefix:)`, `groupedByTask`): the same loss and gradients as the whole
/// sequences, in fewer rows.
@Suite struct SharedPrefixTrainingTests {
    /// Three samples of one template [3, 9, 14, 2, 7], then their own prompt tokens and
    /// responses of different lengths (so the batch is right-padded).
    static let templated = [
        SFTSample(tokens: [3, 9, 14, 2, 7, 11, 12, 20, 21, 22], promptLength: 7, task: .nextItem),
        SFTSample(tokens: [3, 9, 14, 2, 7, 30, 31, 32, 24], promptLength: 8, task: .nextItem),
        SFTSample(tokens: [3, 9, 14, 2, 7, 40, 25, 26, 27, 28, 29, 5], promptLength: 6, task: .nextItem),
    ]

    @Test func batchFindsTheTemplateAndStopsBeforeTheFirstTarget() {
        #expect(SFTBatch(Self.templated, sharingPrefix: true).sharedPrefix == 5)
        #expect(SFTBatch(Self.templated).sharedPrefix == 0, "off unless asked")
        #expect(SFTBatch([Self.templated[0]], sharingPrefix: true).sharedPrefix == 0, "one sample shares nothing")
        // a sample whose prompt is the template plus one token: its first target sits at position 5,
        // so at most 5 positions are shared; a prompt of the template alone leaves 4
        let short = SFTSample(tokens: [3, 9, 14, 2, 7, 8, 1], promptLength: 5, task: .nextItem)
        #expect(SFTBatch(Self.templated + [short], sharingPrefix: true).sharedPrefix == 4)
        let other = SFTSample(tokens: [3, 9, 6, 6, 6, 6, 1], promptLength: 6, task: .fusion)
        #expect(SFTBatch(Self.templated + [other], sharingPrefix: true).sharedPrefix == 2)
    }

    /// The shared-prefix loss and every parameter's gradient equal the plain batch's, with the
    /// cap binding (a prompt one token longer than the shared part) and without.
    @Test(arguments: [false, true])
    func sharedPrefixLossEqualsTheWholeBatch(withShortPrompt: Bool) throws {
        let samples = Self.templated + (withShortPrompt ? [SFTSample(tokens: [3, 9, 14, 2, 7, 8, 1, 4], promptLength: 5, task: .nextItem)] : [])
        let shared = SFTBatch(samples, sharingPrefix: true), whole = SFTBatch(samples)
        #expect(shared.sharedPrefix == (withShortPrompt ? 4 : 5) && whole.sharedPrefix == 0)
        let model = try LlamaFixtures.tinyModel(seed: 41, std: 0.3)
        let slow = Self.expectSameLossAndGradients(model, shared, whole, atol: 1e-5)
        #expect(slow.joined().contains { $0 != 0 })
    }

    /// Loss and gradients of `shared` against `whole` on `model`; returns `whole`'s gradients.
    @discardableResult
    static func expectSameLossAndGradients(_ model: Llama, _ shared: SFTBatch, _ whole: SFTBatch, atol: Float) -> [[Float]] {
        func run(_ batch: SFTBatch) -> (Float, [[Float]]) {
            for p in model.parameters { p.tensor.zeroGrad() }
            let tape = Tape()
            let l = model.loss(tape: tape, batch: batch)
            tape.backward(from: l)
            return (l.item, model.parameters.map(\.tensor.gradArray))
        }
        let (fastLoss, fast) = run(shared)
        let (slowLoss, slow) = run(whole)
        #expect(abs(fastLoss - slowLoss) <= 1e-5 * abs(slowLoss), "loss \(fastLoss) vs \(slowLoss)")
        for ((name, _), (a, b)) in zip(model.parameters, zip(fast, slow)) { expectClose(a, b, atol: atol, rtol: 1e-3, name) }
        return slow
    }

    /// With per-sample weights (LC-Rec's group means) the shared-prefix path gives the whole
    /// batch's weighted loss and gradients, on the real model; the weights are not a mean.
    @Test func weightedSharedPrefixLossEqualsTheWholeBatch() throws {
        let weights: [Float] = [0.05, 0.2, 0.01]
        let shared = SFTBatch(Self.templated, sharingPrefix: true, sampleWeights: weights)
        let whole = SFTBatch(Self.templated, sampleWeights: weights)
        #expect(shared.sharedPrefix == 5)
        let model = try LlamaFixtures.tinyModel(seed: 42, std: 0.3)
        Self.expectSameLossAndGradients(model, shared, whole, atol: 1e-6)
        let slowLoss = model.loss(tape: Tape(recording: false), batch: whole).item
        // reference: Σ_s w_s · (sample s's own mean loss) · (its target count)
        var reference: Double = 0
        for (s, w) in zip(Self.templated, weights) {
            let one = SFTBatch([s])
            reference += Double(w) * Double(one.targetCount) * Double(model.loss(tape: Tape(recording: false), batch: one).item)
        }
        #expect(abs(Double(slowLoss) - reference) <= 1e-5 * reference)
    }

    /// Re-forming a step's micro-batches by task keeps every sample once, the micro-batch sizes,
    /// and (token averaging) the step's loss and gradient; most micro-batches then hold one task.
    @Test func groupingByTaskKeepsTheStep() throws {
        var rng = SplitMix64(seed: 3)
        let tasks: [SFTTask] = [.nextItem, .itemAlignment, .fusion]
        let samples = (0..<24).map { i -> SFTSample in
            let task = tasks[i % 3]
            let template: [Int32] = [1, 2, Int32(3 + i % 3), 4]                  // one template per task
            let own = (0..<(2 + Int(rng.next() % 4))).map { _ in Int32(10 + rng.next() % 30) }
            return SFTSample(tokens: template + own, promptLength: template.count + own.count - 1, task: task)
        }
        let step = stride(from: 0, to: 24, by: 4).map { Array(samples[$0..<min($0 + 4, 24)]) }   // 6 micro-batches, tasks mixed
        let grouped = groupedByTask(step)
        #expect(grouped.map(\.count) == step.map(\.count))
        #expect(grouped.joined().map(\.tokens).sorted { $0.lexicographicallyPrecedes($1) }
                == samples.map(\.tokens).sorted { $0.lexicographicallyPrecedes($1) })
        #expect(grouped.allSatisfy { Set($0.map(\.task)).count == 1 })
        #expect(grouped == groupedByTask(step.reversed()), "a function of the samples, not of their order")
        #expect(grouped.map { SFTBatch($0, sharingPrefix: true).sharedPrefix }.allSatisfy { $0 == 4 })
        #expect(step.map { SFTBatch($0, sharingPrefix: true).sharedPrefix }.allSatisfy { $0 == 2 })

        let trainer = Trainer(config: ExperimentConfig(dataset: "toy", profile: .smoke), runDirectory: FileManager.default.temporaryDirectory)
        func gradients(_ batches: [[SFTSample]], sharing: Bool) throws -> (Double, [Float]) {
            let model = try LlamaFixtures.tinyModel(seed: 43, std: 0.3)
            let loss = try trainer.accumulateGradients(model, batches.map { SFTBatch($0, sharingPrefix: sharing) },
                                                       averaging: .responseTokens, step: 1)
            return (loss, model.parameters.flatMap(\.tensor.gradArray))
        }
        let (plainLoss, plain) = try gradients(step, sharing: false)
        let (groupedLoss, fast) = try gradients(grouped, sharing: true)
        #expect(abs(plainLoss - groupedLoss) <= 1e-5 * abs(plainLoss))
        expectClose(fast, plain, atol: 1e-5, rtol: 1e-3, "step gradient")
    }
}
