import Foundation
import Testing
@testable import TSRec

/// LRSchedule at the warm-up and decay edges (values computed by hand).
@Suite struct ScheduleTests {
    @Test func linearWarmupThenLinearDecay() {
        let s = LRSchedule(warmupSteps: 20, totalSteps: 100, peak: 3e-4)
        #expect(abs(s.lr(at: 0) - 1.5e-5) < 1e-10)          // 3e-4 · 1/20: the first step is not wasted
        #expect(abs(s.lr(at: 9) - 1.5e-4) < 1e-10)          // 3e-4 · 10/20
        #expect(s.lr(at: 19) == 3e-4)                        // last warm-up step reaches the peak
        #expect(s.lr(at: 20) == 3e-4)                        // decay starts at the peak
        #expect(abs(s.lr(at: 60) - 1.5e-4) < 1e-10)         // halfway through the decay
        #expect(abs(s.lr(at: 99) - 3.75e-6) < 1e-10)        // 3e-4 · 1/80
        #expect(s.lr(at: 100) == 0 && s.lr(at: 500) == 0)   // minRatio 0 by default
    }

    @Test func cosineDecayWithFloor() {
        let s = LRSchedule(warmupSteps: 10, totalSteps: 110, peak: 1, kind: .cosine, minRatio: 0.1)
        #expect(s.lr(at: 10) == 1)
        #expect(abs(s.lr(at: 60) - 0.55) < 1e-6)            // 0.1 + 0.9 · ½(1 + cos(π/2))
        #expect(abs(s.lr(at: 35) - (0.1 + 0.9 * 0.853_553_39)) < 1e-6)  // ½(1 + cos(π/4)) = 0.85355339
        #expect(abs(s.lr(at: 110) - 0.1) < 1e-7 && abs(s.lr(at: 1000) - 0.1) < 1e-7)
    }

    @Test func noWarmupAndMonotonicity() {
        let s = LRSchedule(warmupSteps: 0, totalSteps: 50, peak: 2, minRatio: 0.25)
        #expect(s.lr(at: 0) == 2)
        #expect(abs(s.lr(at: 25) - 1.25) < 1e-6)            // 0.5 + 1.5 · ½
        #expect(s.lr(at: 50) == 0.5)
        for kind in [LRSchedule.Kind.linear, .cosine] {
            let t = LRSchedule(warmupSteps: 7, totalSteps: 40, peak: 1, kind: kind)
            for i in 0..<6 { #expect(t.lr(at: i) < t.lr(at: i + 1)) }
            for i in 7..<45 { #expect(t.lr(at: i) >= t.lr(at: i + 1)) }
        }
    }

    /// transformers' `_get_linear_schedule_with_warmup_lr_lambda`: s / W during warm-up, then
    /// (T − s) / (T − W); values by hand from that formula.
    @Test func huggingFaceWarmup() {
        let s = LRSchedule(warmupSteps: 20, totalSteps: 100, peak: 3e-4, warmup: .huggingFace)
        #expect(s.lr(at: 0) == 0)                            // step 0 spent at rate 0
        #expect(abs(s.lr(at: 1) - 1.5e-5) < 1e-10)          // 3e-4 · 1/20
        #expect(abs(s.lr(at: 19) - 2.85e-4) < 1e-10)        // 3e-4 · 19/20: the peak is not reached in warm-up
        #expect(s.lr(at: 20) == 3e-4)
        #expect(abs(s.lr(at: 60) - 1.5e-4) < 1e-10)         // (100 − 60) / 80
        #expect(abs(s.lr(at: 99) - 3.75e-6) < 1e-10)
        // the cosine twin: the RL stage's paper schedule (W = 50 of 1,648)
        let c = LRSchedule(warmupSteps: 50, totalSteps: 1_648, peak: 1e-5, kind: .cosine, warmup: .huggingFace)
        #expect(c.lr(at: 0) == 0 && abs(c.lr(at: 49) - 0.98e-5) < 1e-12 && c.lr(at: 50) == 1e-5)
        // the two rules differ only inside the warm-up, by one step of the ramp
        let llmc = LRSchedule(warmupSteps: 20, totalSteps: 100, peak: 3e-4)
        for step in 0..<20 { #expect(abs(llmc.lr(at: step) - s.lr(at: step) - 1.5e-5) < 1e-10) }
        for step in 20...120 { #expect(llmc.lr(at: step) == s.lr(at: step)) }
    }

    /// `paper` warms up as the authors' trainers do in every stage (SFT, RL, preference);
    /// `quick` and `smoke` keep the rule their committed runs used, absent from the JSON so
    /// their hashes stay (pinned in LLMBaselineConfigTests).
    @Test func paperStagesWarmUpAsHuggingFace() throws {
        for method in Method.allCases {
            let paper = ExperimentConfig.profile(.paper, dataset: "Industrial_and_Scientific").applying(method)
            let sft = Trainer(config: paper, runDirectory: URL(fileURLWithPath: "/nonexistent")).lrSchedule(sampleCount: 100_000)
            #expect(sft.warmup == .huggingFace && sft.lr(at: 0) == 0, "\(method.rawValue)")
            if let rl = paper.rl { #expect(rl.lrSchedule(total: 1_648).lr(at: 0) == 0, "\(method.rawValue)") }
            if let pref = paper.preference { #expect(pref.lrSchedule(total: 849).lr(at: 0) == 0, "\(method.rawValue)") }
            for profile in [Profile.quick, .smoke] {
                let c = ExperimentConfig.profile(profile, dataset: "Industrial_and_Scientific").applying(method)
                #expect(c.warmupRule == nil && c.rl?.warmupRule == nil && c.preference?.warmupRule == nil)
                let json = String(decoding: try JSONEncoder().encode(c), as: UTF8.self)
                #expect(!json.contains("warmupRule"), "\(profile.rawValue) \(method.rawValue)")
                let first = Trainer(config: c, runDirectory: URL(fileURLWithPath: "/nonexistent")).lrSchedule(sampleCount: 100_000)
                #expect(first.lr(at: 0) > 0)
            }
        }
    }
}
