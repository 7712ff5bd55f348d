import Foundation
import Testing
@testable import TSRec

/// Regression tests for issue #20: `tsrec logits` gave wrong answers in ~4 of 20 runs because
/// the logits were read through a pointer into a tensor that had already been freed. Tensor
/// storage is now reachable only through scoped access; these tests pin the symptoms: the same
/// input gives bit-identical outputs run after run, on the real model and through the pipeline.
@Suite(.serialized) struct DeterminismTests {
    /// The CLI's logits path (`Llama.topNextTokens`, what `tsrec logits` prints) 50 times on
    /// the real SmolLM2: every run bit-identical, top token " Paris".
    @Test(.enabled(if: LlamaFixtures.haveGGUF))
    func logitsCommandIsBitIdenticalOverFiftyRuns() throws {
        let gguf = try GGUFFile(contentsOf: LlamaFixtures.ggufURL)
        let tokenizer = try BPETokenizer(gguf: gguf)
        let model = try Llama.load(gguf: gguf)
        let ids = tokenizer.encode("The capital of France is").map(Int32.init)
        #expect(ids == LlamaFixtures.franceTokens)
        let first = model.topNextTokens(after: ids, k: 10)
        #expect(first.first?.id == 7042, "top token \(first.first.map { "\($0.id)" } ?? "none"), expected 7042 (\" Paris\")")
        #expect(tokenizer.decode([7042]) == " Paris")
        #expect(first.allSatisfy { $0.logit.isFinite && abs($0.logit) < 1e3 }, "logits out of range: \(first)")
        for run in 2...50 {
            let again = model.topNextTokens(after: ids, k: 10)
            #expect(again.map(\.id) == first.map(\.id), "run \(run): ids \(again.map(\.id))")
            #expect(again.map(\.logit.bitPattern) == first.map(\.logit.bitPattern), "run \(run): logits \(again.map(\.logit))")
        }
    }

    /// A small evaluation (smoke profile: 2-layer backbone, beam width 5, 8 test rows) run
    /// twice from scratch gives the same predictions, and the same predictions file bytes.
    @Test(.enabled(if: TSRecFixtures.industrialAndModelAvailable))
    func evaluationIsBitIdenticalTwice() throws {
        let a = try SmokeEvaluation(label: "determinism"), b = try SmokeEvaluation(label: "determinism")
        let first = try a.evaluate(try a.testRows(8), file: "a"), second = try b.evaluate(try b.testRows(8), file: "b")
        #expect(first.predictions.count == 8 && first.predictions.allSatisfy { $0.ranked.count == a.pipeline.config.beamWidth })
        #expect(first.predictions == second.predictions)
        #expect(first.bytes == second.bytes)
    }

    /// Batches decoded side by side (`Pipeline.evalLanes`, each lane one OpenBLAS thread and its
    /// own KV cache) give the predictions, and the file bytes, of one lane with all threads: 20
    /// rows in batches of 3 (7 batches: rounds of 2 and 3 lanes with a short last round).
    @Test(.enabled(if: TSRecFixtures.industrialAndModelAvailable))
    func evaluationInLanesEqualsOneLane() throws {
        let run = try SmokeEvaluation(label: "lanes", promptsPerBatch: 3)
        let rows = try run.testRows(20)
        let one = try run.evaluate(rows, file: "lanes1", lanes: 1)
        #expect(one.predictions.count == 20 && one.predictions.allSatisfy { $0.ranked.count == run.pipeline.config.beamWidth })
        for lanes in [2, 3] {
            let side = try run.evaluate(rows, file: "lanes\(lanes)", lanes: lanes)
            #expect(side.predictions == one.predictions, "\(lanes) lanes")
            #expect(side.bytes == one.bytes, "\(lanes) lanes")
        }
    }

    /// The same with bf16 products (`BF16Matmul`, which every lane inherits): 1, 2 and 3 lanes give
    /// the same predictions. Without `BF16Matmul`'s execution lock, oneDNN's shared scratchpad
    /// made the lanes' logits NaN (a smoke run failed 3 of 3 times).
    @Test(.enabled(if: TSRecFixtures.industrialAndModelAvailable))
    func bf16EvaluationInLanesEqualsOneLane() throws {
        let run = try SmokeEvaluation(label: "lanes-bf16", promptsPerBatch: 3)
        let rows = try run.testRows(20)
        let bf16 = try BF16Matmul()
        let one = try bf16.scope { try run.evaluate(rows, file: "bf16-lanes1", lanes: 1) }
        #expect(one.predictions.count == 20)
        for lanes in [2, 3] {
            let side = try bf16.scope { try run.evaluate(rows, file: "bf16-lanes\(lanes)", lanes: lanes) }
            #expect(side.predictions == one.predictions, "\(lanes) lanes")
        }
    }

    /// bf16 evaluation with the weights' copies kept for the whole evaluation gives the
    /// predictions of rounding every product afresh, in one lane and in two.
    @Test(.enabled(if: TSRecFixtures.industrialAndModelAvailable))
    func bf16EvaluationWithKeptWeightCopiesEqualsRoundingAfresh() throws {
        let run = try SmokeEvaluation(label: "copies-bf16", promptsPerBatch: 3)
        let rows = try run.testRows(12)
        let afresh = try BF16Matmul(keepsWeightCopies: false).scope { try run.evaluate(rows, file: "bf16-afresh", lanes: 1) }
        for lanes in [1, 2] {
            let kept = try BF16Matmul().scope { try run.evaluate(rows, file: "bf16-kept\(lanes)", lanes: lanes) }
            #expect(kept.predictions == afresh.predictions, "\(lanes) lanes")
        }
    }

    /// Results come back in lane order, each lane sees one kernel thread, and a lane's error
    /// reaches the caller.
    @Test func lanesReturnInOrderAndRethrow() throws {
        struct Boom: Error, Equatable { let lane: Int }
        let got = try Lanes.run(4) { k in (k, Kernels.laneThreads) }
        #expect(got.map(\.0) == [0, 1, 2, 3] && got.allSatisfy { $0.1 == 1 })
        #expect(try Lanes.run(1) { _ in Kernels.laneThreads } == [nil])   // one lane: inline, the process's threads
        #expect(throws: Boom(lane: 1)) { try Lanes.run(3) { k in if k >= 1 { throw Boom(lane: k) }; return k } }
        #expect(Kernels.laneThreads == nil)
    }

    /// Rows whose prompt repeats an earlier row's (users with the same history) are decoded once
    /// and take that ranking, each with its own user and target; the other rows are unchanged.
    @Test(.enabled(if: TSRecFixtures.industrialAndModelAvailable))
    func repeatedPromptsAreDecodedOnceWithTheSameRanking() throws {
        let logged = LogBox()
        let run = try SmokeEvaluation(label: "repeats", log: { logged.append($0) })
        let rows = try run.testRows(5)
        var twins = [rows[0], rows[3]]
        for i in twins.indices { twins[i].userID += "-twin"; twins[i].targetSID = rows[4 - i].targetSID }
        let alone = try run.evaluate(rows, file: "alone").predictions
        let withTwins = try run.evaluate([twins[0]] + rows + [twins[1]], file: "twins").predictions
        #expect(Array(withTwins[1...5]) == alone)
        #expect(withTwins[0] == Prediction(user: twins[0].userID, target: twins[0].targetSID, ranked: alone[0].ranked))
        #expect(withTwins[6] == Prediction(user: twins[1].userID, target: twins[1].targetSID, ranked: alone[3].ranked))
        #expect(logged.lines.contains { $0.contains("2 rows repeat an earlier row's prompt") }, "\(logged.lines)")
    }
}

/// A killed evaluation resumes from its journal: the rows it finished are read back, the rest
/// decoded, and the result is the uninterrupted evaluation's; the journal keeps the seconds so far
/// beside its rows, so the resumed run reports its earlier pieces' time too.
@Suite(.serialized) struct EvaluationResumeTests {
    @Test(.enabled(if: TSRecFixtures.industrialAndModelAvailable))
    func resumedEvaluationMatchesAnUninterruptedOneAndKeepsItsSeconds() throws {
        let logged = LogBox()
        let run = try SmokeEvaluation(label: "resume", log: { logged.append($0) })
        let rows = try run.testRows(8)
        let whole = try run.evaluate(rows, file: "whole").predictions
        let url = run.folder.appendingPathComponent("killed.predictions.jsonl")
        let journal = PredictionJournal(url: url.appendingPathExtension("partial"))
        func evaluate(_ rows: [SplitRow], spent: Double) throws -> [Prediction] {
            try run.pipeline.evaluate(model: run.parts.model, builder: run.parts.builder, dataset: run.parts.dataset,
                                      tokens: run.parts.sidTokens, firstID: run.parts.firstNewID, rows: rows, output: url,
                                      spent: { spent })
        }
        // the "killed" run finished the first 4 rows after 3 s
        #expect(try evaluate(Array(rows.prefix(4)), spent: 3) == Array(whole.prefix(4)))
        #expect(journal.load().count == 4 && journal.spentSeconds() == 3)
        #expect(try evaluate(rows, spent: 5) == whole)
        #expect(logged.lines.contains { $0.contains("resuming, 4 of 8 rows") }, "\(logged.lines)")
        #expect(journal.load().count == 8 && journal.spentSeconds() == 5)
        journal.remove()
        #expect(!FileManager.default.fileExists(atPath: journal.secondsURL.path) && journal.spentSeconds() == 0)
    }
}

/// The smoke profile's MiniOneRec-SFT (2-layer backbone, beam width 5), assembled once, whose
/// evaluations write their predictions files into a temporary folder removed with it.
final class SmokeEvaluation {
    private(set) var pipeline: Pipeline
    let parts: Pipeline.Prepared
    let folder: URL

    init(label: String, promptsPerBatch: Int? = nil, log: @escaping @Sendable (String) -> Void = { _ in }) throws {
        pipeline = Pipeline(ExperimentConfig.profile(.smoke, dataset: Benchmark.industrial.name).applying(.minionerecSFT), label: label)
        pipeline.log = log
        if let promptsPerBatch { pipeline.evalPromptsPerBatch = promptsPerBatch }
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        parts = try pipeline.assemble()
    }

    deinit { try? FileManager.default.removeItem(at: folder) }

    /// The first `count` test rows.
    func testRows(_ count: Int) throws -> [SplitRow] { Array(try parts.dataset.split(.test).rows.prefix(count)) }

    /// The rows' predictions (`lanes` nil: the pipeline's default) and the bytes of their file.
    func evaluate(_ rows: [SplitRow], file: String, lanes: Int? = nil) throws -> (predictions: [Prediction], bytes: Data) {
        var run = pipeline
        if let lanes { run.evalLanes = lanes }
        let url = folder.appendingPathComponent("\(file).predictions.jsonl")
        let predictions = try run.evaluate(model: parts.model, builder: parts.builder, dataset: parts.dataset, tokens: parts.sidTokens,
                                           firstID: parts.firstNewID, rows: rows, output: url)
        try PredictionsFile.write(predictions, to: url)
        return (predictions, try Data(contentsOf: url))
    }
}

/// Checkpoint files are byte-identical for identical state (the header JSON has sorted keys).
@Suite struct CheckpointBytesTests {
    static func header() -> Checkpoint.Header {
        Checkpoint.Header(configHash: "abc123", step: 7, epoch: 1, cursor: 3, epochRNG: SplitMix64(seed: 1),
                          dropoutRNG: SplitMix64(seed: 2), bestValidLoss: 1.25, evalsWithoutImprovement: 0,
                          stopped: false, optimizerStep: 7, tensorNames: [], tensorCounts: [])
    }

    @Test func headerEncodesToTheSameSortedBytes() throws {
        let a = try Checkpoint.headerJSON(Self.header()), b = try Checkpoint.headerJSON(Self.header())
        #expect(a == b)
        let text = String(decoding: a, as: UTF8.self)
        let keys = ["bestValidLoss", "configHash", "cursor", "dropoutRNG", "epoch", "epochRNG", "evalsWithoutImprovement",
                    "optimizerStep", "step", "stopped", "tensorCounts", "tensorNames"]
        let positions = keys.map { text.range(of: "\"\($0)\"")?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil }, "\(text)")
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted(), "keys not sorted: \(text)")
    }

    @Test func checkpointsOfTheSameParametersAreByteIdentical() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-ckpt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        func save(_ name: String) throws -> Data {
            var rng = SplitMix64(seed: 42)                          // fresh tensors with the same values
            let w = Tensor.randn([4, 3], requiresGrad: true, using: &rng), b = Tensor.randn([3], requiresGrad: true, using: &rng)
            let url = dir.appendingPathComponent(name)
            try Checkpoint.save(Self.header(), tensors: [("w", .tensor(w)), ("b", .tensor(b)), ("m", .array([1, 2, 3]))], to: url)
            return try Data(contentsOf: url)
        }
        let a = try save("a.tsrc"), b = try save("b.tsrc")
        #expect(a == b)
        #expect(a.count > 16 + (12 + 3 + 3) * 4)
        // and it reads back
        let w = Tensor(zeros: [4, 3]), bias = Tensor(zeros: [3])
        let (header, arrays) = try Checkpoint.load(dir.appendingPathComponent("a.tsrc"), tensors: ["w": w, "b": bias])
        var rng = SplitMix64(seed: 42)
        #expect(w.array == Tensor.randn([4, 3], using: &rng).array && header.step == 7 && arrays["m"] == [1, 2, 3])
    }
}
