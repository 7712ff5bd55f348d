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

    /// The `TSRecError` `body` throws (nil: none, or another error).
    static func tsrecError(_ body: () throws -> Void) -> TSRecError? {
        do { try body() } catch let error as TSRecError { return error } catch { return nil }
        return nil
    }

    /// A `summary.json` that exists but does not decode is an error naming the file and what to
    /// do, never "pending": in a record (restore it from git), in a live run folder (delete the
    /// folder to re-run), and in a stage folder after SFT. A missing one stays pending.
    @Test func aCorruptSummaryThrowsNamingTheFile() throws {
        let dir = try DataTestSupport.makeTempDir("records-corrupt")
        defer { try? FileManager.default.removeItem(at: dir) }
        var (config, rows) = try Self.setting()
        var pipeline = Pipeline(config, label: "x", paths: Paths(cache: Paths.fromEnvironment().cache, results: dir.appendingPathComponent("results"),
                                                             records: dir.appendingPathComponent("records")))
        pipeline.log = { _ in }
        let record = try #require(pipeline.recordDirectory)
        let predictions = rows.map { Prediction(user: $0.userID, target: $0.targetSID, ranked: [$0.targetSID]) }
        try Self.writeStage(Self.summary, in: record, predictions: predictions, at: pipeline.predictionsURL(testRows: 5, root: record))
        #expect(try pipeline.finishedResult() != nil)
        let recorded = record.appendingPathComponent("summary.json")

        // truncated JSON in the record
        try Data(#"{"steps": 6, "bestValid"#.utf8).write(to: recorded)
        let truncated = try #require(Self.tsrecError { _ = try pipeline.finishedResult() })
        #expect(truncated.description.contains(recorded.path))
        #expect(truncated.hint?.contains("restore the file from git") == true)
        #expect(truncated.exitCode == ExitStatus.dataError)
        // valid JSON of the wrong shape: the missing key is named
        try Data(#"{"bestValidLoss": 1.5}"#.utf8).write(to: recorded)
        let wrongShape = try #require(Self.tsrecError { _ = try pipeline.finishedResult() })
        #expect(wrongShape.description.contains(recorded.path) && wrongShape.description.contains("steps"))
        // an unreadable one (a folder in its place) is an I/O error naming it
        try FileManager.default.removeItem(at: recorded)
        try FileManager.default.createDirectory(at: recorded, withIntermediateDirectories: false)
        let unreadable = try #require(Self.tsrecError { _ = try pipeline.finishedResult() })
        #expect(unreadable.description.contains(recorded.path) && unreadable.exitCode == ExitStatus.ioError)
        // missing: pending again
        try FileManager.default.removeItem(at: recorded)
        #expect(try pipeline.finishedResult() == nil)

        // a live run folder: the hint is to delete the folder and re-run; training itself refuses too
        try Self.writeStage(Self.summary, in: pipeline.runDirectory)
        try Data().write(to: pipeline.runDirectory.appendingPathComponent("best.tsrc"))
        let live = pipeline.runDirectory.appendingPathComponent("summary.json")
        try Data("not json".utf8).write(to: live)
        let liveError = try #require(Self.tsrecError { _ = try pipeline.finishedResult() })
        #expect(liveError.description.contains(live.path))
        #expect(liveError.hint?.contains("delete \(pipeline.runDirectory.path)") == true)
        #expect(Self.tsrecError { _ = try pipeline.finishedTraining() }?.description.contains(live.path) == true)
        try FileManager.default.removeItem(at: pipeline.runDirectory)

        // an RL stage's summary in a record
        config.rl = .profile(.smoke)
        pipeline = Pipeline(config, label: "x", paths: pipeline.paths)
        pipeline.log = { _ in }
        try Self.writeStage(Self.summary, in: record)
        let rlSummary = try #require(pipeline.rlFolder(under: record)).appendingPathComponent("summary.json")
        try Self.writeStage(RLSummary(steps: 3, wallSeconds: 5, prompts: 10, startValidation: nil, log: []),
                            in: rlSummary.deletingLastPathComponent(), predictions: predictions,
                            at: pipeline.predictionsURL(testRows: 5, root: record))
        #expect(try pipeline.finishedResult()?.rlSteps == 3)
        try Data("[]".utf8).write(to: rlSummary)
        let rlError = try #require(Self.tsrecError { _ = try pipeline.finishedResult() })
        #expect(rlError.description.contains(rlSummary.path) && rlError.description.contains("RLSummary"))
    }

    /// A predictions file that exists but does not read back whole (a damaged line, or fewer rows
    /// than the test set) is an error naming the file, not a pending row; a missing one is pending.
    @Test func damagedPredictionsThrowNamingTheFile() throws {
        let dir = try DataTestSupport.makeTempDir("records-predictions")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (config, rows) = try Self.setting()
        let pipeline = Pipeline(config, label: "x", paths: Paths(cache: Paths.fromEnvironment().cache, results: dir.appendingPathComponent("results"),
                                                             records: dir.appendingPathComponent("records")))
        let record = try #require(pipeline.recordDirectory)
        let url = pipeline.predictionsURL(testRows: 5, root: record)
        let predictions = rows.map { Prediction(user: $0.userID, target: $0.targetSID, ranked: [$0.targetSID]) }
        try Self.writeStage(Self.summary, in: record, predictions: predictions, at: url)
        #expect(try pipeline.finishedResult() != nil)
        // a damaged third line: the file and the line are named
        var lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
        lines[2] = String(lines[2].prefix(10))
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        let damaged = try #require(Self.tsrecError { _ = try pipeline.finishedResult() })
        #expect(damaged.description.contains(url.path) && damaged.description.contains("3"))
        // whole lines, but fewer than the test rows
        try PredictionsFile.write(Array(predictions.prefix(3)), to: url)
        let short = try #require(Self.tsrecError { _ = try pipeline.finishedResult() })
        #expect(short.description.contains(url.path) && short.description.contains("3 predictions for 5 test rows"))
        // missing: pending
        try FileManager.default.removeItem(at: url)
        #expect(try pipeline.finishedResult() == nil)
    }

    /// The committed records must decode with today's summary types: one that no longer did would
    /// now stop `REPORT_ONLY=1` tables with an error (before, its row went silently pending).
    @Test func everyCommittedSummaryDecodes() throws {
        let records = DataTestSupport.packageRoot.appendingPathComponent("Reproductions/results")
        let files = (FileManager.default.enumerator(at: records, includingPropertiesForKeys: nil)?.allObjects as? [URL] ?? [])
            .filter { $0.lastPathComponent == "summary.json" && $0.path.contains("/runs/") }
        for url in files {
            let data = try Data(contentsOf: url)
            let stage = url.deletingLastPathComponent().lastPathComponent
            if stage.hasPrefix("rl-") { _ = try JSONDecoder().decode(RLSummary.self, from: data) }
            else if stage.hasPrefix("pref-") { _ = try JSONDecoder().decode(PreferenceSummary.self, from: data) }
            else { _ = try JSONDecoder().decode(TrainingSummary.self, from: data) }
        }
        print("committed records: \(files.count) summary.json files decode")
    }
}
