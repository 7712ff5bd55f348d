import Foundation
import Testing
@testable import TSRec

/// A prediction whose target sits at 0-based `rank` of the ranked list (nil: absent).
private func row(_ user: String, rank: Int?) -> Prediction {
    var ranked = (0..<20).map { "other\($0)" }
    if let rank { ranked[rank] = "target-\(user)" }
    return Prediction(user: user, target: "target-\(user)", ranked: ranked)
}

// MARK: - sign test against binomial tails computed by hand

@Test func signTestMatchesHandComputedBinomialTails() {
    // n = 10, min = 1: 2·(C(10,0) + C(10,1)) / 2^10 = 2·11/1024
    #expect(abs(PairedComparison.signTestP(1, 9) - 22.0 / 1024) < 1e-12)
    #expect(abs(PairedComparison.signTestP(9, 1) - 22.0 / 1024) < 1e-12)
    // n = 10, min = 0: 2/1024
    #expect(abs(PairedComparison.signTestP(0, 10) - 2.0 / 1024) < 1e-12)
    // n = 20, min = 5: 2·(1 + 20 + 190 + 1140 + 4845 + 15504) / 2^20 = 2·21700/1048576
    #expect(abs(PairedComparison.signTestP(5, 15) - 2 * 21700.0 / 1_048_576) < 1e-12)
    // balanced and empty: no evidence either way
    #expect(PairedComparison.signTestP(5, 5) == 1)
    #expect(PairedComparison.signTestP(0, 0) == 1)
}

// MARK: - per-row differences, by hand

@Test func pairedDifferencesByHand() throws {
    // ranks:  A = [0, 2, nil, 5],  B = [nil, 2, 0, nil]
    let a = [row("u1", rank: 0), row("u2", rank: 2), row("u3", rank: nil), row("u4", rank: 5)]
    let b = [row("u1", rank: nil), row("u2", rank: 2), row("u3", rank: 0), row("u4", rank: nil)]
    let c = try PairedComparison(a, b, metrics: ["HR@3", "HR@10", "NDCG@10"], resamples: 500, seed: 7)
    #expect(c.rows == 4)
    let hr3 = c.metrics[0], hr10 = c.metrics[1], nd10 = c.metrics[2]
    // HR@3: A = [1,1,0,0], B = [0,1,1,0] -> d = [1,0,-1,0]
    #expect(hr3.meanA == 0.5 && hr3.meanB == 0.5 && hr3.difference == 0)
    #expect(hr3.wins == 1 && hr3.losses == 1 && hr3.pValue == 1)
    // HR@10: A = [1,1,0,1], B = [0,1,1,0] -> d = [1,0,-1,1]
    #expect(hr10.meanA == 0.75 && hr10.meanB == 0.5 && hr10.difference == 0.25)
    #expect(hr10.wins == 2 && hr10.losses == 1 && abs(hr10.pValue - 1) < 1e-12)   // 2·P(X ≤ 1 | n=3) = 2·4/8
    #expect(hr10.relativeDifference == 0.5)
    // NDCG@10: A = [1, 1/2, 0, 1/log2 7], B = [0, 1/2, 1, 0]
    let expected = (1 + 0 - 1 + 1 / log2(7.0)) / 4
    #expect(abs(nd10.difference - expected) < 1e-12)
    // a bootstrap mean of 4 draws lies within [min d, max d]
    #expect(hr10.low >= -1 && hr10.high <= 1 && hr10.low <= hr10.high)
}

/// A run asked with several test prompts (LC-Rec's mean over its templates) is paired by each
/// row's mean over its prompts; by hand.
@Test func severalPromptsPairEachRowsMean() throws {
    // A, two prompts: ranks [0, nil, 4] and [nil, nil, 1]; B, one prompt: [nil, 0, 1]
    let a = [[row("u1", rank: 0), row("u2", rank: nil), row("u3", rank: 4)],
             [row("u1", rank: nil), row("u2", rank: nil), row("u3", rank: 1)]]
    let b = [[row("u1", rank: nil), row("u2", rank: 0), row("u3", rank: 1)]]
    let c = try PairedComparison(prompts: a, b, metrics: ["HR@1", "HR@3", "NDCG@10"], resamples: 200)
    let hr1 = c.metrics[0], hr3 = c.metrics[1], nd10 = c.metrics[2]
    // HR@1: A rows [1/2, 0, 0], B [0, 1, 0] -> d = [1/2, -1, 0]
    #expect(hr1.meanA == 0.5 / 3 && hr1.meanB == 1.0 / 3 && abs(hr1.difference - (-0.5 / 3)) < 1e-15)
    #expect(hr1.wins == 1 && hr1.losses == 1)
    // HR@3: A rows [1/2, 0, 1/2] (u3 hits only with prompt 2), B [0, 1, 1] -> d = [1/2, -1, -1/2]
    #expect(hr3.meanA == 1.0 / 3 && hr3.meanB == 2.0 / 3 && hr3.wins == 1 && hr3.losses == 2)
    // NDCG@10: A rows [1/2, 0, (1/log2 6 + 1/log2 3)/2], B [0, 1, 1/log2 3]
    let rowA3 = (1 / log2(6.0) + 1 / log2(3.0)) / 2
    #expect(abs(nd10.meanA - (0.5 + rowA3) / 3) < 1e-15 && abs(nd10.difference - (0.5 - 1 + rowA3 - 1 / log2(3.0)) / 3) < 1e-15)
    // the means are the runs' table values
    let catalogue = Set(["target-u1", "target-u2", "target-u3"])
    #expect(abs(hr3.meanA - MetricRow.evaluate(promptFiles: a, catalogue: catalogue).hr3) < 1e-15)
    // one prompt a side is the plain comparison; a prompt's file of other rows names its source
    #expect(try PairedComparison(prompts: [a[0]], b, metrics: ["HR@3"]) == PairedComparison(a[0], b[0], metrics: ["HR@3"]))
    var shuffled = a
    shuffled[1].swapAt(0, 1)
    #expect { try PairedComparison(prompts: a, [shuffled[1]], metrics: ["HR@3"], source: "b.jsonl") } throws: { e in
        guard let e = e as? TSRecError, case let .format(path, line, _, _) = e.kind else { return false }
        return path == "b.jsonl" && line == 1
    }
    #expect { try PairedComparison(prompts: shuffled, b, metrics: ["HR@3"], source: "b.jsonl") } throws: { e in
        guard let e = e as? TSRecError, case let .format(path, line, _, _) = e.kind else { return false }
        return path.contains("test prompt 1") && line == 1
    }
}

@Test func identicalRunsHaveAZeroIntervalAndNoEvidence() throws {
    let a = (0..<50).map { row("u\($0)", rank: $0 % 3 == 0 ? nil : $0 % 20) }
    let c = try PairedComparison(a, a, metrics: ["HR@10", "NDCG@10"])
    for m in c.metrics {
        #expect(m.difference == 0 && m.low == 0 && m.high == 0)
        #expect(m.wins == 0 && m.losses == 0 && m.pValue == 1)
    }
}

// MARK: - the bootstrap interval against the normal approximation

@Test func bootstrapIntervalMatchesTheNormalApproximation() throws {
    // 2,000 rows: A alone hits on every 10th row, B alone on every 20th (offset), else both miss.
    // d is +1 on 200 rows, -1 on 100 rows: mean 0.05, sd = sqrt(E[d²] - mean²) = sqrt(0.15 - 0.0025).
    let n = 2000
    let a = (0..<n).map { row("u\($0)", rank: $0 % 10 == 0 ? 0 : nil) }
    let b = (0..<n).map { row("u\($0)", rank: $0 % 20 == 5 ? 0 : nil) }
    let c = try PairedComparison(a, b, metrics: ["HR@1"], resamples: 2000, seed: 1)
    let m = c.metrics[0]
    #expect(m.wins == 200 && m.losses == 100)
    #expect(abs(m.difference - 0.05) < 1e-12)
    let halfWidth = 1.959964 * (0.15 - 0.0025).squareRoot() / Double(n).squareRoot()   // ≈ 0.01683
    #expect(abs((m.high - m.low) / 2 - halfWidth) < 0.15 * halfWidth)
    #expect(abs((m.high + m.low) / 2 - 0.05) < 0.25 * halfWidth)
    // same inputs and seed: the same interval
    let again = try PairedComparison(a, b, metrics: ["HR@1"], resamples: 2000, seed: 1).metrics[0]
    #expect(again.low == m.low && again.high == m.high)
    // McNemar exact p for 200 vs 100 discordant rows is far below 0.001
    #expect(m.pValue < 1e-6)
}

// MARK: - errors name the file and row

@Test func mismatchedRowsAreRejectedWithTheirLine() {
    let a = [row("u1", rank: 0), row("u2", rank: 1)]
    let b = [row("u1", rank: 0), row("u9", rank: 1)]
    #expect {
        try PairedComparison(a, b, metrics: ["HR@10"], source: "b.jsonl")
    } throws: { e in
        guard let e = e as? TSRecError, case let .format(path, line, _, _) = e.kind else { return false }
        return path == "b.jsonl" && line == 2
    }
    #expect(throws: TSRecError.self) { try PairedComparison(a, Array(b.prefix(1)), metrics: ["HR@10"]) }
    #expect(throws: TSRecError.self) { try PairedComparison(a, a, metrics: ["MRR@10"]) }
}

// MARK: - report: CSV + interval figure from prediction files

@Test func pairedReportWritesCSVAndFigure() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-paired-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    func result(_ method: String, ranks: [Int?]) throws -> RunResult {
        let predictions = ranks.enumerated().map { row("u\($0.offset)", rank: $0.element) }
        let url = dir.appendingPathComponent("\(method).jsonl")
        try PredictionsFile.write(predictions, to: url)
        return RunResult(dataset: "D", method: method, profile: "smoke", configHash: "-",
                         metrics: MetricRow.evaluate(predictions, catalogue: []), trainSteps: 0, bestValidLoss: nil,
                         trainSeconds: 0, evalSeconds: 0, validCurve: [], predictionsPath: url.path)
    }
    let ranks: [Int?] = [0, 1, nil, 3, nil, 12, 0, nil]
    let reference = try result("Ref", ranks: ranks)
    let worse = try result("Worse", ranks: ranks.map { $0.map { $0 + 2 } })
    var noPredictions = try result("Popularity", ranks: ranks)
    noPredictions.predictionsPath = nil
    let report = PairedReport(reference: reference, others: [reference, worse, noPredictions], metrics: ["HR@3", "HR@10", "NDCG@10"])
    #expect(report.pairs.map(\.other) == ["Worse"])
    #expect(report.notes.count == 1 && report.notes[0].hasPrefix("Popularity"))
    // NDCG@10 falls on every row hit within 10 (rank + 2): rows 0, 1, 3, 6 (row 5 is at rank 12)
    let nd = try #require(report.pairs.first?.comparison.metrics.first { $0.name == "NDCG@10" })
    #expect(nd.wins == 4 && nd.losses == 0 && nd.difference > 0)

    try report.write(csv: dir.appendingPathComponent("paired.csv"), figure: dir.appendingPathComponent("paired"),
                     title: "test", metadata: [("profile", "smoke")])
    let table = try CSV.read(from: dir.appendingPathComponent("paired.csv"))
    #expect(table.header == PairedReport.csvHeader)
    #expect(try table.column("metric") == ["HR@3", "HR@10", "NDCG@10"])
    // HR@3: only row 1 (rank 1 -> 3) drops out; HR@10: every hit stays inside 10
    #expect(try table.column("rows_better") == ["1", "0", "4"])
    #expect(try table.column("rows_worse") == ["0", "0", "0"])
    for ext in ["gp", "png", "svg"] {
        let size = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("paired.\(ext)").path)[.size] as? Int
        #expect((size ?? 0) > 0)
    }
    // the figure draws the headline metrics by default, and what it is asked for otherwise
    let script = { try String(contentsOf: dir.appendingPathComponent("paired.gp"), encoding: .utf8) }
    #expect(try script().contains("vs Worse: HR@10") && !script().contains("vs Worse: HR@3"))
    try report.write(csv: dir.appendingPathComponent("paired.csv"), figure: dir.appendingPathComponent("paired"),
                     title: "test", metadata: [], figureMetrics: ["HR@3"])
    #expect(try script().contains("vs Worse: HR@3") && !script().contains("vs Worse: HR@10"))
}

// MARK: - diagnostics: is the coarse part of the SID right?

@Test func prefixHitsCountLevelsByHand() throws {
    let target = "<a_1><b_2><c_3>"
    let p = Prediction(user: "u", target: target, ranked: ["<a_1><b_9><c_3>", "<a_1><b_2><c_8>", "<a_5><b_2><c_3>"])
    #expect(PairedComparison.prefixHit(p, levels: 1, k: 1) == 1)     // a right at rank 0
    #expect(PairedComparison.prefixHit(p, levels: 2, k: 1) == 0)     // a+b wrong at rank 0 ...
    #expect(PairedComparison.prefixHit(p, levels: 2, k: 2) == 1)     // ... right at rank 1
    #expect(PairedComparison.prefixHit(p, levels: 3, k: 3) == 0)     // the item itself is absent
    // a_1 must not match a_10: tokens are compared whole
    let q = Prediction(user: "u", target: target, ranked: ["<a_10><b_2><c_3>"])
    #expect(PairedComparison.prefixHit(q, levels: 1, k: 1) == 0)
    // through the comparison: A gets level a right on both rows, B on one
    let a = [p, Prediction(user: "v", target: "<a_4><b_4><c_4>", ranked: ["<a_4><b_0><c_0>"])]
    let b = [p, Prediction(user: "v", target: "<a_4><b_4><c_4>", ranked: ["<a_0><b_4><c_4>"])]
    let m = try PairedComparison(a, b, metrics: ["HR-a@1", "HR-ab@1"], resamples: 10).metrics
    #expect(m[0].meanA == 1 && m[0].meanB == 0.5 && m[0].wins == 1 && m[0].losses == 0)
    #expect(m[1].meanA == 0 && m[1].meanB == 0)
}

@Test func unreadableReferencePredictionsAreNamedInTheNotes() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-paired-bad-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let bad = dir.appendingPathComponent("ref.jsonl")
    try Data("{\"user\": \"u\"}\n".utf8).write(to: bad)
    let reference = RunResult(dataset: "D", method: "Ref", profile: "smoke", configHash: "-",
                              metrics: MetricRow.evaluate([row("u", rank: 0)], catalogue: []), trainSteps: 0,
                              bestValidLoss: nil, trainSeconds: 0, evalSeconds: 0, validCurve: [], predictionsPath: bad.path)
    let report = PairedReport(reference: reference, others: [], metrics: ["HR@10"])
    #expect(report.pairs.isEmpty)
    #expect(report.notes.count == 1 && report.notes[0].contains(bad.path) && report.notes[0].contains(":1"))
}

// MARK: - tsrec compare: finding a run's predictions from a file, a folder or a hash

@Test func runLocatorFindsPredictionsByFileFolderAndHash() throws {
    let runs = FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-locate-\(UUID().uuidString)/runs")
    defer { try? FileManager.default.removeItem(at: runs.deletingLastPathComponent()) }
    let folder = runs.appendingPathComponent("D/abc123"), empty = runs.appendingPathComponent("D/untested")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
    let file = folder.appendingPathComponent("predictions-beam20-n3.jsonl")
    try PredictionsFile.write([row("u0", rank: 0)], to: file)
    try Data().write(to: folder.appendingPathComponent("checkpoint.tsrc"))

    #expect(try RunLocator.predictions(file.path, runs: runs) == [file])
    #expect(try RunLocator.predictions(folder.path, runs: runs) == [file])
    #expect(try RunLocator.predictions("abc123", runs: runs).map(\.standardizedFileURL) == [file.standardizedFileURL])
    #expect(RunLocator.dataset(of: file, runs: runs) == "D")
    #expect(RunLocator.dataset(of: URL(fileURLWithPath: "/elsewhere/p.jsonl"), runs: runs) == nil)
    // an unknown hash and an unevaluated run say what to pass or do
    #expect { try RunLocator.predictions("nope", runs: runs) } throws: { e in
        guard let e = e as? TSRecError, case .missing = e.kind else { return false }
        return e.description.contains("nope") && e.hint?.contains("hash") == true
    }
    #expect { try RunLocator.predictions("untested", runs: runs) } throws: { e in
        guard let e = e as? TSRecError, case let .missing(_, path) = e.kind else { return false }
        return path.hasSuffix("untested") && e.hint?.contains("not been evaluated") == true
    }
    // one evaluation's test prompts (LC-Rec): the first prompt's file, then prompt 1, 2, … (10 after 2)
    let prompts = (1...10).map { folder.appendingPathComponent("predictions-prompt\($0)-beam20-n3.jsonl") }
    for url in prompts.reversed() { try PredictionsFile.write([row("u0", rank: 1)], to: url) }
    #expect(try RunLocator.predictions(folder.path, runs: runs) == [file] + prompts)
    #expect(try RunLocator.predictions(prompts[1].path, runs: runs) == [prompts[1]])      // a file is itself alone
    #expect(RunLocator.testPrompt(of: "predictions-grounded-w4-t128-lp1.0-prompt-titlehits2-beam4-n3.jsonl").index == 0)  // BIGRec's tag
    // a prompt missing (an evaluation under way): say so
    try FileManager.default.removeItem(at: prompts[4])
    #expect { try RunLocator.predictions(folder.path, runs: runs) } throws: { e in
        (e as? TSRecError)?.hint?.contains("not finished") == true
    }
    for url in prompts { try? FileManager.default.removeItem(at: url) }
    // two evaluations in one folder: ambiguous, so ask for the file
    try PredictionsFile.write([row("u0", rank: 1)], to: folder.appendingPathComponent("predictions-beam10-n3.jsonl"))
    #expect(throws: TSRecError.self) { try RunLocator.predictions(folder.path, runs: runs) }
}

/// A committed record is outside `runs`: its dataset is read from the `config.json` beside the
/// predictions, or in the SFT run's folder for a stage (RL, preference) inside it.
@Test func runLocatorReadsTheDatasetFromTheRunsConfiguration() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-dataset-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: root) }
    let run = root.appendingPathComponent("abc123"), stage = run.appendingPathComponent("rl-def456")
    try FileManager.default.createDirectory(at: stage, withIntermediateDirectories: true)
    try Data(#"{"beamWidth": 20, "dataset": "Office_Products"}"#.utf8).write(to: run.appendingPathComponent("config.json"))
    try Data(#"{"beta": 0.001}"#.utf8).write(to: stage.appendingPathComponent("config.json"))   // a stage's own config has none
    let runs = root.appendingPathComponent("runs")
    #expect(RunLocator.datasetName(of: run.appendingPathComponent("p.jsonl"), runs: runs) == "Office_Products")
    #expect(RunLocator.datasetName(of: stage.appendingPathComponent("p.jsonl"), runs: runs) == "Office_Products")
    #expect(RunLocator.datasetName(of: root.appendingPathComponent("p.jsonl"), runs: runs) == nil)
    #expect(RunLocator.datasetName(of: runs.appendingPathComponent("D/x/p.jsonl"), runs: runs) == "D")
}

// MARK: - the test rows split by repeat purchases

private func splitRow(_ user: String, history: [String], target: String) -> SplitRow {
    SplitRow(userID: user, historyItemIDs: history.indices.map { $0 }, historySIDs: history, historyTitles: history,
             targetItemID: 0, targetSID: target, targetTitle: target)
}

@Test func historyRepeatsSplitsRowsByWhetherTheTargetIsInTheHistory() throws {
    let rows = [splitRow("u0", history: ["A", "B"], target: "B"),     // repeats its last item
                splitRow("u1", history: ["A", "B"], target: "C"),
                splitRow("u2", history: ["C", "A"], target: "C"),     // repeats an earlier one
                splitRow("u3", history: [], target: "A")]
    let parts = HistoryRepeats(rows: rows)
    #expect(parts.repeated == [0, 2] && parts.new == [1, 3])
    // a run on the first 3 rows: checked row by row, the 4th row is outside it
    let predictions = rows.prefix(3).map { Prediction(user: $0.userID, target: $0.targetSID, ranked: [$0.targetSID]) }
    let onPrefix = try HistoryRepeats(rows: rows, predictions: predictions, source: "p.jsonl")
    #expect(onPrefix.repeated == [0, 2] && onPrefix.new == [1])
    #expect(onPrefix.select(onPrefix.new, from: predictions).map(\.user) == ["u1"])
    // predictions of other rows name the file and the first row that differs
    var shuffled = predictions; shuffled.swapAt(1, 2)
    #expect { try HistoryRepeats(rows: rows, predictions: shuffled, source: "p.jsonl") } throws: { e in
        guard let e = e as? TSRecError, case let .format(path, line, _, _) = e.kind else { return false }
        return path == "p.jsonl" && line == 2
    }
}

/// The top-1 item already in the history, by hand: u0's top-1 is its last item, u1's an earlier
/// one, u2's a new item, u3 has no history.
@Test func topOneInHistoryByHand() {
    let rows = [splitRow("u0", history: ["A", "B"], target: "B"), splitRow("u1", history: ["A", "B"], target: "C"),
                splitRow("u2", history: ["A"], target: "C"), splitRow("u3", history: [], target: "A")]
    let predictions = zip(rows, ["B", "A", "D", "A"]).map { Prediction(user: $0.userID, target: $0.targetSID, ranked: [$1, "E"]) }
    #expect(HistoryRepeats.topOneInHistory(rows: rows, predictions: predictions, at: [0, 1, 2, 3]) == (2, 1))
    #expect(HistoryRepeats.topOneInHistory(rows: rows, predictions: predictions, at: [1, 2]) == (1, 0))
}

/// The committed D3 and S-DPO records against the counts docs/results-quick.md gives for them
/// (sessions 31-32, from a separate script over the same files and the test split's CSV): top-1
/// a history item on 3,002 and 3,490 of the 4,533 rows, the last history item on 2,235 and 2,736.
@Test(.enabled(if: FileManager.default.fileExists(atPath: Dataset.directory(for: .industrial, paths: .fromEnvironment()).path),
               "needs the Industrial dataset in the cache (make data)"))
func topOneInHistoryOfTheCommittedRecords() throws {
    let rows = try Dataset.load(.industrial, paths: .fromEnvironment()).split(.test).rows
    let d3 = DataTestSupport.packageRoot.appendingPathComponent("Reproductions/results/quick/runs/2a404550ca44")
    let file = "predictions-title-lp0.0-titlehits2-beam10-n4533.jsonl"
    for (folder, expected) in [(d3, (3_002, 2_235)), (d3.appendingPathComponent("pref-ce2c3a438317"), (3_490, 2_736))] {
        let url = folder.appendingPathComponent(file)
        let predictions = try PredictionsFile.read(from: url)
        _ = try HistoryRepeats(rows: rows, predictions: predictions, source: url.path)     // the same rows
        #expect(HistoryRepeats.topOneInHistory(rows: rows, predictions: predictions, at: Array(rows.indices)) == expected, "\(url.path)")
    }
}

/// The table's breakdown: each run's metrics on the repeat rows and on the new rows, by hand.
@Test func historyReportSplitsEachRunsMetricsByHand() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-history-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let rows = [splitRow("u0", history: ["A", "B"], target: "B"),     // repeat
                splitRow("u1", history: ["A"], target: "C"),          // new
                splitRow("u2", history: ["C"], target: "C"),          // repeat
                splitRow("u3", history: ["A"], target: "D")]          // new
    // "Last": the last history item first, then E; "Pop": A, C, D
    let last = rows.map { Prediction(user: $0.userID, target: $0.targetSID, ranked: [$0.historySIDs.last!, "E"]) }
    let pop = rows.map { Prediction(user: $0.userID, target: $0.targetSID, ranked: ["A", "C", "D"]) }
    func result(_ method: String, _ predictions: [Prediction]?) throws -> RunResult {
        let url = dir.appendingPathComponent("\(method).jsonl")
        if let predictions { try PredictionsFile.write(predictions, to: url) }
        return RunResult(dataset: "D", method: method, profile: "smoke", configHash: "-",
                         metrics: MetricRow.evaluate(predictions ?? last, catalogue: []), trainSteps: 0, bestValidLoss: nil,
                         trainSeconds: 0, evalSeconds: 0, validCurve: [], predictionsPath: predictions == nil ? nil : url.path)
    }
    let report = HistoryReport(dataset: "D", results: [try result("Last", last), try result("Pop", pop), try result("Floor", nil)],
                               testRows: rows)
    #expect(report.repeatRows == 2 && report.allRows == 4)
    func values(_ method: String, _ part: String) -> [Double]? { report.rows.first { $0.method == method && $0.part == part }?.values }
    // HR@1, HR@10, NDCG@10. Last: both repeats at rank 1, no new row. Pop: u2's C at rank 2
    // (1/log2(3)), u1's C at rank 2, u3's D at rank 3 (1/log2(4) = 0.5).
    #expect(values("Last", "repeat") == [1, 1, 1] && values("Last", "new") == [0, 0, 0])
    let ndcg2 = 1 / log2(3.0)
    #expect(values("Pop", "repeat")! == [0, 0.5, ndcg2 / 2])
    #expect(values("Pop", "new")! == [0, 1, (ndcg2 + 0.5) / 2])
    #expect(report.notes.count == 1 && report.notes[0].hasPrefix("Floor"))
    // a run asked with two prompts, "Last" then "Pop": each part is the mean of the two
    var both = try result("Both", last)
    let popURL = dir.appendingPathComponent("Pop.jsonl")
    both.promptPredictionsPaths = [both.predictionsPath!, popURL.path]
    let twoPrompts = HistoryReport(dataset: "D", results: [both], testRows: rows)
    #expect(twoPrompts.rows.map(\.part) == ["repeat", "new"])
    #expect(twoPrompts.rows[0].values.prefix(2) == [0.5, 0.75] && abs(twoPrompts.rows[0].values[2] - (1 + ndcg2 / 2) / 2) < 1e-15)
    #expect(twoPrompts.rows[1].values.prefix(2) == [0, 0.5] && abs(twoPrompts.rows[1].values[2] - (ndcg2 + 0.5) / 4) < 1e-15)
    #expect(report.lines == ["Last: HR@10 1.0000 on the repeat rows, 0.0000 on the new rows",
                             "Pop: HR@10 0.5000 on the repeat rows, 1.0000 on the new rows"])
    #expect(report.csvRows.count == 4 && report.csvRows[0] == ["D", "Last", "repeat", "2", "1.0", "1.0", "1.0", "1.0", "1.0"])
    // Last's top-1 is each row's last history item; Pop's is A, in u1's and u3's history only
    #expect(report.rows.map(\.topOneInHistory) == [1, 1, 0.5, 1] && report.rows.map(\.topOneLastItem) == [1, 1, 0, 1])
    // the CSV reads back; the figure draws the new rows, one bar series per run with predictions
    try report.write(csv: dir.appendingPathComponent("h.csv"), figure: dir.appendingPathComponent("h"), title: "test", metadata: [])
    let table = try CSV.read(from: dir.appendingPathComponent("h.csv"))
    #expect(try table.column("part") == ["repeat", "new", "repeat", "new"])
    #expect(try table.column("HR@10") == ["1.0", "0.0", "0.5", "1.0"])
    let script = try String(contentsOf: dir.appendingPathComponent("h.gp"), encoding: .utf8)
    #expect(script.contains("title 'Last'") && script.contains("title 'Pop'") && !script.contains("Floor"))
    #expect(((try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("h.png").path)[.size] as? Int) ?? 0) > 0)
}
