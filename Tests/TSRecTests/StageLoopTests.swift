import Foundation
import Testing
@testable import TSRec

/// The bookkeeping every training stage shares (Train/StageLoop.swift). The stages' own
/// resume-equals-uninterrupted tests (TrainerTests, GRPOTests, PreferenceStageTests) cover the
/// pieces together; these pin each piece against a plain reference.
@Suite struct StageLoopTests {
    private func deal(_ rng: inout SplitMix64) -> [Int] { Array(0..<5).shuffled(using: &rng) }

    /// Drawing 13 elements straight, or 7, saving the header, and 6 more from an `EpochOrder`
    /// rebuilt from that header, gives the same sequence; and it is the reference: each epoch the
    /// next shuffle of the same RNG stream.
    @Test func epochOrderResumesWhereItStopped() {
        let fresh = Trainer.freshHeader(configHash: "h", epochRNG: SplitMix64(seed: 9))
        var state = fresh
        var order = EpochOrder(resumingAt: state, deal: deal)
        let straight = (0..<13).map { _ in order.next(&state) }

        var rng = SplitMix64(seed: 9)
        let reference = Array((0..<3).map { _ in deal(&rng) }.joined().prefix(13))
        #expect(straight == reference)
        #expect(state.epoch == 2 && state.cursor == 3)

        var first = fresh
        var a = EpochOrder(resumingAt: first, deal: deal)
        let head = (0..<7).map { _ in a.next(&first) }
        var resumed = first                                   // as a checkpoint would hold it
        var b = EpochOrder(resumingAt: resumed, deal: deal)
        let tail = (0..<6).map { _ in b.next(&resumed) }
        #expect(head + tail == straight)
        #expect(resumed.epoch == state.epoch && resumed.cursor == state.cursor)
    }

    @Test func logsRoundTripAndNameTheBadLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-steplog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("train_log.csv")

        let rl = [RLLogRow(step: 1, epoch: 0, meanReward: 0.25, exactMatch: 0.125, targetInGroup: 0.5, kl: 1e-3, loss: -0.5,
                           learningRate: 1e-5, gradNorm: 0.3, seconds: 2.5, validReward: nil, validHR10: nil),
                  RLLogRow(step: 2, epoch: 1, meanReward: 0, exactMatch: 0, targetInGroup: 0, kl: 0, loss: 0,
                           learningRate: 2e-5, gradNorm: 0, seconds: 1, validReward: 0.75, validHR10: 0.0625)]
        try StepLog.write(rl, to: url)
        #expect(try StepLog.read(RLLogRow.self, from: url) == rl)

        let pref = [PreferenceLogRow(step: 3, epoch: 0, loss: 1.386, chosenFirst: 0.25, learningRate: 1e-5, gradNorm: 0.1,
                                     seconds: 4, validLoss: 1.3)]
        try StepLog.write(pref, to: url)
        #expect(try StepLog.read(PreferenceLogRow.self, from: url) == pref)

        let sft = [TrainLogRow(step: 1, epoch: 0, loss: 2.5, learningRate: 3e-4, gradNorm: 1, targetTokens: 40, tokens: 128,
                               milliseconds: 1234.5, validLoss: nil)]
        try StepLog.write(sft, to: url)
        let back = try StepLog.read(TrainLogRow.self, from: url)
        #expect(back.map(\.step) == [1] && back[0].milliseconds == 1234.5 && back[0].validLoss == nil)

        // a log of another stage, and a row that does not parse, are errors that name the place
        #expect(throws: TSRecError.self) { try StepLog.read(RLLogRow.self, from: url) }
        var text = try String(contentsOf: url, encoding: .utf8)
        text += "2,0,oops,3e-4,1,40,128,1.0,\n"
        try text.write(to: url, atomically: true, encoding: .utf8)
        do {
            _ = try StepLog.read(TrainLogRow.self, from: url)
            Issue.record("a malformed row was read")
        } catch let error as TSRecError {
            #expect("\(error)".contains("line 3") || "\(error)".contains(":3"), "\(error)")
        }
    }

    /// A non-finite gradient norm stops the step before AdamW touches the weights; a finite one
    /// is clipped to the norm asked for, stepped, and the gradients zeroed.
    @Test func optimizerStepRefusesNonFiniteGradients() throws {
        let trainer = Trainer(config: ExperimentConfig(dataset: "toy", profile: .smoke),
                              runDirectory: FileManager.default.temporaryDirectory)
        let w = Tensor(zeros: [4], requiresGrad: true)
        w.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] = Float(i) } }
        let schedule = LRSchedule(warmupSteps: 0, totalSteps: 10, peak: 0.1)
        var optimizer = AdamW(learningRate: 0.1, weightDecay: 0)

        w.withUnsafeMutableGradBuffer { $0[0] = 3; $0[1] = .nan }
        #expect(throws: TSRecError.self) {
            _ = try trainer.optimizerStep([w], optimizer: &optimizer, schedule: schedule, step: 0, maxNorm: 1, stage: "RL")
        }
        #expect(w.array == [0, 1, 2, 3])

        w.zeroGrad()
        w.withUnsafeMutableGradBuffer { $0[0] = 3; $0[1] = 4 }
        let (lr, norm) = try trainer.optimizerStep([w], optimizer: &optimizer, schedule: schedule, step: 0, maxNorm: 1, stage: "RL")
        #expect(norm == 5 && lr == schedule.lr(at: 0))
        #expect(w.gradArray == [0, 0, 0, 0])
        #expect(w.array[0] < 0 && w.array[1] < 1 && w.array[2] == 2 && w.array[3] == 3)
    }
}
