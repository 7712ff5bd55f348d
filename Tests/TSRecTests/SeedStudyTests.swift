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
        guard let e = e as? TSRecError, case let .usage(argument, _) = e.kind else { return false }
        return argument == "--seeds" && e.exitCode == ExitStatus.usage
    }
}

// MARK: - the per-run CSV shared by the seed study and the ablations

@Test func studyRowLinesUpWithItsHeader() {
    let r = RunResult(dataset: "D", method: "TS-Rec", profile: "quick", configHash: "abc123",
                      metrics: MetricRow(rows: 10, hr: [0.1, 0.3, 0.5, 0.7, 0.9], ndcg: [0.1, 0.2, 0.4, 0.6, 0.8],
                                         invalid: 0, invalidRate: 0),
                      trainSteps: 60, bestValidLoss: 3.5, trainSeconds: 5730.4, evalSeconds: 770, validCurve: [], predictionsPath: nil)
    let header = RunResult.studyHeader(nameColumn: "method", keyColumn: "seed")
    let row = r.studyRow(key: "43")
    #expect(row.count == header.count)
    let cell = Dictionary(uniqueKeysWithValues: zip(header, row))
    #expect(cell["method"] == "TS-Rec" && cell["seed"] == "43" && cell["config_hash"] == "abc123")
    #expect(cell["HR@10"] == CSV.cell(0.7) && cell["NDCG@3"] == CSV.cell(0.2) && cell["HR@5"] == CSV.cell(0.5))
    #expect(cell["best_valid_loss"] == CSV.cell(3.5) && cell["train_seconds"] == "5730")
}

// MARK: - the same configuration at another seed

@Test func sameConfigurationPairsCompareEachArmWithItsFirstSeed() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-seeds-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    func run(_ method: String, seed: Int, ranks: [Int?]) throws -> RunResult {
        let predictions = ranks.enumerated().map { i, rank in
            Prediction(user: "u\(i)", target: "<a_0><b_0><c_\(i)>",
                       ranked: (0..<20).map { (k: Int) in k == rank ? "<a_0><b_0><c_\(i)>" : "<a_1><b_1><c_\(k)>" })
        }
        let url = dir.appendingPathComponent("\(method)-\(seed).jsonl")
        try PredictionsFile.write(predictions, to: url)
        return RunResult(dataset: "D", method: method, profile: "smoke", configHash: "-",
                         metrics: MetricRow.evaluate(predictions, catalogue: []), trainSteps: 0, bestValidLoss: nil,
                         trainSeconds: 0, evalSeconds: 0, validCurve: [], predictionsPath: url.path)
    }
    // TS-Rec at seeds 42, 43, 44; seed 43 finds two more targets within 10, seed 44 loses one.
    // The baseline finished only at seed 43: nothing to pair it with.
    let ranks: [Int?] = [0, 4, nil, nil, 12, 2]
    let runs = [
        SeedStudy.SeedRuns(seed: 42, method: try run("TS-Rec", seed: 42, ranks: ranks), baseline: nil),
        SeedStudy.SeedRuns(seed: 43, method: try run("TS-Rec", seed: 43, ranks: [0, 4, 3, 9, 12, 2]),
                           baseline: try run("SFT", seed: 43, ranks: ranks)),
        SeedStudy.SeedRuns(seed: 44, method: try run("TS-Rec", seed: 44, ranks: [0, nil, nil, nil, 12, 2]), baseline: nil),
    ]
    let reports = try SeedStudy.sameConfigurationPairs(runs)
    #expect(reports.flatMap(\.pairs).map { "\($0.reference) | \($0.other)" }
            == ["TS-Rec seed 43 | TS-Rec seed 42", "TS-Rec seed 44 | TS-Rec seed 42"])
    let hr = try reports.map { r in try #require(r.pairs[0].comparison.metrics.first { $0.name == "HR@10" }) }
    #expect(hr[0].wins == 2 && hr[0].losses == 0 && abs(hr[0].difference - 2.0 / 6) < 1e-12)   // rows 2 and 3
    #expect(hr[1].wins == 0 && hr[1].losses == 1 && abs(hr[1].difference + 1.0 / 6) < 1e-12)   // row 1
}
