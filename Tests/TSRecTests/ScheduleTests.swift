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
}
