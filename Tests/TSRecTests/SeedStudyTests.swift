import Foundation
import Testing
@testable import TSRec

// MARK: - over seeds: means, sample standard deviations and the t interval, by hand

@Test func seedSummaryByHand() {
    // method [0.11, 0.12, 0.10], baseline [0.10, 0.10, 0.11] -> d = [0.01, 0.02, -0.01]
    let s = SeedSummary(metric: "HR@10", method: [0.11, 0.12, 0.10], baseline: [0.10, 0.10, 0.11])
    #expect(s.seeds == 3 && s.methodBetter == 2)
    #expect(abs(s.methodMean - 0.11) < 1e-12 && abs(s.methodSD - 0.01) < 1e-12)          // sd of {0.11, 0.12, 0.10}
    #expect(abs(s.baselineMean - 0.31 / 3) < 1e-12)
    let mean = 0.02 / 3
    let sd = (([0.01, 0.02, -0.01].map { ($0 - mean) * ($0 - mean) }.reduce(0, +)) / 2).squareRoot()   // ≈ 0.015275
    #expect(abs(s.differenceMean - mean) < 1e-12 && abs(s.differenceSD - sd) < 1e-12)
    #expect(abs(s.halfWidth - 4.303 * sd / 3.0.squareRoot()) < 1e-12)                   // t(0.975, df 2)
    #expect(s.csvFields.count == SeedSummary.csvHeader.count)
    #expect(s.line.contains("method better in 2/3"))
}

@Test func oneSeedHasNoSpread() {
    let s = SeedSummary(metric: "NDCG@10", method: [0.2], baseline: [0.1])
    #expect(s.differenceSD == 0 && s.halfWidth == 0 && s.methodBetter == 1)
    #expect(!s.line.contains("t 95%") && !s.line.contains("±") && s.line.contains("+0.1000"))
}

// MARK: - the --seeds argument

@Test func seedsArgumentParsesAndRejectsJunk() throws {
    let c = try RunContext(["seeds", "--seeds", "42, 7,1"], name: "seeds", environment: [:])
    #expect(c.seeds == [42, 7, 1] && c.seed == nil)
    #expect(try RunContext(["seeds"], name: "seeds", environment: [:]).seeds == nil)
    #expect {
        try RunContext(["seeds", "--seeds", "42,x"], name: "seeds", environment: [:])
    } throws: { e in
        guard let e = e as? TSRecError, case let .config(field, _) = e.kind else { return false }
        return field == "--seeds"
    }
}
