import Foundation
import Testing
@testable import TSRec

/// Committed records (`Paths.records`): a finished run's summaries and predictions without its
/// weights, read by `Pipeline.finishedResult()` when `results/` has no finished run, so a fresh
/// clone's `REPORT_ONLY=1 make table2` shows the runs its repository holds.
@Suite(.enabled(if: TSRecFixtures.industrialAndModelAvailable, "needs the Industrial dataset in the cache (make model data)"))
struct RunRecordTests {
    /// A smoke configuration evaluated on the first 5 test rows, and those rows' targets.
    static func setting() throws -> (ExperimentConfig, [SplitRow]) {
        var config = ExperimentConfig.profile(.smoke, dataset: Benchmark.industrial.name)
        config.testRows = 5
        let dataset = try Dataset.load(.industrial, paths: .fromEnvironment())
        return (config, Array(try dataset.split(.test).rows.prefix(5)))
    }

    /// Writes a finished-looking stage folder: `summary.json` and, when given, predictions.
    static func writeStage<S: Encodable>(_ summary: S, in folder: URL, predictions: [Prediction]? = nil, at url: URL? = nil) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try JSONEncoder().encode(summary).write(to: folder.appendingPathComponent("summary.json"))
        if let predictions, let url { try PredictionsFile.write(predictions, to: url) }
    }

    static let summary = TrainingSummary(steps: 6, bestValidLoss: 1.5, stoppedEarly: false, wallSeconds: 12, log: [])

    @Test func aRecordWithoutWeightsGivesTheRowAndLiveRunsComeFirst() throws {
        let dir = try DataTestSupport.makeTempDir("records")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (config, rows) = try Self.setting()
        // the first two rows hit at rank 0, the rest miss: HR@1 = 2/5
        let predictions = rows.enumerated().map { i, r in
            Prediction(user: r.userID, target: r.targetSID, ranked: i < 2 ? [r.targetSID] : ["<a_0><b_0><c_0>"])
        }
        let cache = Paths.fromEnvironment().cache
        var noRecords = Pipeline(config, label: "x", paths: Paths(cache: cache, results: dir.appendingPathComponent("results")))
        noRecords.log = { _ in }
        var pipeline = Pipeline(config, label: "x", paths: Paths(cache: cache, results: dir.appendingPathComponent("results"),
                                                             records: dir.appendingPathComponent("records")))
        pipeline.log = { _ in }
        #expect(try pipeline.finishedResult() == nil)                                  // nothing anywhere: pending

        let record = try #require(pipeline.recordDirectory)
        #expect(record.path.hasSuffix("records/smoke/runs/\(pipeline.trainingHash)"))
        let recorded = pipeline.predictionsURL(testRows: 5, root: record)
        try Self.writeStage(Self.summary, in: record, predictions: predictions, at: recorded)
        let row = try #require(try pipeline.finishedResult())
        #expect(row.metrics.hr1 == 0.4 && row.metrics.rows == 5 && row.trainSteps == 6)
        #expect(row.predictionsPath == recorded.path)
        #expect(try noRecords.finishedResult() == nil)                                 // records off: pending

        // a live run folder with a summary but no weights has not finished: the record still answers
        try Self.writeStage(Self.summary, in: pipeline.runDirectory)
        #expect(try pipeline.finishedResult()?.predictionsPath == recorded.path)
        // a finished live run (weights and predictions) comes first
        try Data().write(to: pipeline.runDirectory.appendingPathComponent("best.tsrc"))
        let live = pipeline.predictionsURL(testRows: 5)
        try PredictionsFile.write(rows.map { Prediction(user: $0.userID, target: $0.targetSID, ranked: [$0.targetSID]) }, to: live)
        let liveRow = try #require(try pipeline.finishedResult())
        #expect(liveRow.predictionsPath == live.path && liveRow.metrics.hr1 == 1)
    }

    @Test func anRLRecordNeedsItsStageSummaryAndReadsItsPredictions() throws {
        let dir = try DataTestSupport.makeTempDir("records-rl")
        defer { try? FileManager.default.removeItem(at: dir) }
        var (config, rows) = try Self.setting()
        config.rl = .profile(.smoke)
        var pipeline = Pipeline(config, label: "x", paths: Paths(cache: Paths.fromEnvironment().cache, results: dir.appendingPathComponent("results"),
                                                             records: dir.appendingPathComponent("records")))
        pipeline.log = { _ in }
        let record = try #require(pipeline.recordDirectory)
        let predictions = rows.map { Prediction(user: $0.userID, target: $0.targetSID, ranked: [$0.targetSID]) }
        let url = pipeline.predictionsURL(testRows: 5, root: record)
        #expect(url.deletingLastPathComponent().lastPathComponent == "rl-\(pipeline.rlHash!)")
        try Self.writeStage(Self.summary, in: record, predictions: predictions, at: url)
        #expect(try pipeline.finishedResult() == nil)                                  // the RL stage has no summary
        let rl = RLSummary(steps: 3, wallSeconds: 5, prompts: 10, startValidation: nil, log: [])
        try Self.writeStage(rl, in: url.deletingLastPathComponent())
        let row = try #require(try pipeline.finishedResult())
        #expect(row.rlSteps == 3 && row.metrics.hr1 == 1 && row.trainSeconds == 17)
    }
}
