import Foundation
import Testing
@testable import TSRec

/// A bigram language model: logits of the next token = E[token] · Wᵀ. Small enough that the
/// trainer tests run in milliseconds, with the same loss path (response-only cross-entropy).
private final class BigramModel: TrainableModel {
    let embedding: Tensor   // [V, D]
    let output: Tensor      // [V, D]
    init(vocab: Int, dim: Int, seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        embedding = .randn([vocab, dim], std: 0.5, requiresGrad: true, using: &rng)
        output = .randn([vocab, dim], std: 0.5, requiresGrad: true, using: &rng)
    }
    var namedParameters: [(name: String, tensor: Tensor)] { [("embedding", embedding), ("output", output)] }
    func loss(tape: Tape, batch: SFTBatch) -> Tensor {
        let h = tape.embedding(embedding, ids: batch.tokens)                       // [B*T, D]
        return tape.linearCrossEntropy(hidden: h, weight: output, targets: batch.targets,      // logits h·Wᵀ [B*T, V]
                                       ignoreIndex: SFTBatch.ignoreIndex, rowWeights: batch.targetWeights)
    }
}

private func toySamples(count: Int, vocab: Int, seed: UInt64) -> [SFTSample] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in
        let n = 4 + Int(rng.next() % 5)
        let start = Int32(rng.next() % UInt64(vocab))
        // a deterministic successor rule makes the task learnable: t+1 = (t * 3 + 1) mod V
        var tokens = [start]
        for _ in 1..<n { tokens.append((tokens.last! * 3 + 1) % Int32(vocab)) }
        return SFTSample(tokens: tokens, promptLength: 2, task: .nextItem)
    }
}

private func toyConfig() -> ExperimentConfig {
    var c = ExperimentConfig(dataset: "toy", profile: .smoke)
    c.effectiveBatch = 8
    c.microBatch = 4
    c.maxSteps = 12
    c.warmupSteps = 2
    c.learningRate = 0.05
    c.evalInterval = 3
    c.checkpointInterval = 2
    c.patience = 100
    return c
}

private func temporaryDirectory() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-trainer-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite struct TrainerTests {
    /// The authors' loss averaging (HF Trainer: mean over every response token of the step):
    /// micro-batches with unequal response-token counts accumulate to the gradient of the same
    /// samples in one micro-batch; the mean of micro-batch means (tsrec's old rule) does not.
    @Test func accumulatedGradientEqualsOneMicroBatch() throws {
        let samples = toySamples(count: 7, vocab: 13, seed: 21)
        let parts = [SFTBatch(Array(samples[..<1])), SFTBatch(Array(samples[1..<3])), SFTBatch(Array(samples[3...]))]
        #expect(Set(parts.map(\.targetCount)).count >= 2, "the test needs unequal token counts")
        let trainer = Trainer(config: toyConfig(), runDirectory: temporaryDirectory())
        func gradients(_ batches: [SFTBatch], _ averaging: LossAveraging) throws -> (Double, [[Float]]) {
            let model = BigramModel(vocab: 13, dim: 5, seed: 4)
            let loss = try trainer.accumulateGradients(model, batches, averaging: averaging, step: 1)
            return (loss, model.namedParameters.map(\.tensor.gradArray))
        }
        let (wholeLoss, whole) = try gradients([SFTBatch(samples)], .responseTokens)
        let (splitLoss, split) = try gradients(parts, .responseTokens)
        #expect(abs(wholeLoss - splitLoss) < 1e-5 * abs(wholeLoss))
        let scale = whole.joined().map { abs($0) }.max()!
        #expect(scale > 0)
        for (a, b) in zip(whole, split) { for (x, y) in zip(a, b) { #expect(abs(x - y) <= 1e-5 * scale) } }
        // the old rule weighs the 1-sample micro-batch as much as the 4-sample one: another gradient
        let (_, means) = try gradients(parts, .microBatchMeans)
        let worst = zip(whole.joined(), means.joined()).map { abs($0 - $1) }.max()!
        #expect(worst > 1e-3 * scale)
    }

    /// LC-Rec's averaging (HF before 4.46, random sampler, 8 per device): the mean of random
    /// groups' token means. Reference: those groups run as micro-batches under `.microBatchMeans`.
    /// tsrec keeps its own compute micro-batches (other sizes, re-formed by task) and weights
    /// each token by its group: the same loss and gradient, and not the token mean's.
    @Test func randomGroupMeansEqualTheGroupsAsMicroBatches() throws {
        let samples = toySamples(count: 12, vocab: 13, seed: 22)
        var config = toyConfig()
        config.lossAveraging = .randomGroupMeans(size: 4)
        let trainer = Trainer(config: config, runDirectory: temporaryDirectory())
        let groups = Trainer.lossGroups(count: samples.count, size: 4, seed: config.seed, step: 3)
        #expect(groups.count == 3 && groups.allSatisfy { $0.count == 4 })
        func gradients(_ batches: [SFTBatch], _ averaging: LossAveraging) throws -> (Double, [Float]) {
            let model = BigramModel(vocab: 13, dim: 5, seed: 4)
            let loss = try trainer.accumulateGradients(model, batches, averaging: averaging, step: 3)
            return (loss, Array(model.namedParameters.map(\.tensor.gradArray).joined()))
        }
        let (refLoss, ref) = try gradients(groups.map { g in SFTBatch(g.map { samples[$0] }) }, .microBatchMeans)
        let compute = [Array(samples[..<5]), Array(samples[5..<7]), Array(samples[7...])]
        let (loss, got) = try gradients(trainer.makeStepBatches(compute, step: 3), config.lossAveraging)
        let scale = ref.map { abs($0) }.max()!
        #expect(abs(loss - refLoss) <= 1e-5 * abs(refLoss))
        #expect(zip(ref, got).allSatisfy { abs($0 - $1) <= 1e-5 * scale })
        let (_, tokenMean) = try gradients([SFTBatch(samples)], .responseTokens)
        #expect(zip(ref, tokenMean).map { abs($0 - $1) }.max()! > 1e-3 * scale, "the groups must weigh tokens differently")
    }

    @Test func lossGroupsPartitionTheStepFromSeedAndStep() {
        let a = Trainer.lossGroups(count: 21, size: 8, seed: 42, step: 7)
        #expect(a.map(\.count) == [8, 8, 5] && a.joined().sorted() == Array(0..<21))
        #expect(a == Trainer.lossGroups(count: 21, size: 8, seed: 42, step: 7))      // resumed runs, other ranks
        #expect(a != Trainer.lossGroups(count: 21, size: 8, seed: 42, step: 8))
        #expect(a != Trainer.lossGroups(count: 21, size: 8, seed: 43, step: 7))
        // by hand: G = 2 groups of 1 + 3 and 2 response tokens: w = 1/(2·4), 1/(2·4), 1/(2·2)
        let w = Trainer.groupWeights(responseLengths: [1, 3, 2], groups: [[0, 1], [2]])
        #expect(w == [0.125, 0.125, 0.25])
    }

    @Test func lossAveragingEncodesByName() throws {
        for (a, name) in [(LossAveraging.responseTokens, "response-tokens"), (.microBatchMeans, "micro-batch-means"),
                          (.randomGroupMeans(size: 8), "random-group-means-8")] {
            let json = try JSONEncoder().encode([a])
            #expect(String(decoding: json, as: UTF8.self) == "[\"\(name)\"]")
            #expect(try JSONDecoder().decode([LossAveraging].self, from: json) == [a])
        }
        for bad in ["random-group-means-0", "random-group-means-x", "token-mean"] {
            #expect(throws: TSRecError.self) { try LossAveraging(name: bad) }
        }
        do { _ = try LossAveraging(name: "token-mean"); Issue.record("no error") } catch {
            #expect("\(error)".contains("lossAveraging") && "\(error)".contains("token-mean"))
        }
    }

    @Test func batchesTargetOnlyTheResponse() {
        let s = SFTSample(tokens: [5, 6, 7, 8], promptLength: 2, task: .nextItem)
        let b = SFTBatch([s, SFTSample(tokens: [1, 2, 3], promptLength: 1, task: .fusion)])
        #expect(b.seq == 4)
        // sample 0: position 1 predicts 7, position 2 predicts 8; sample 1: positions 0, 1 predict 2, 3
        #expect(b.targets == [-100, 7, 8, -100, 2, 3, -100, -100])
        #expect(b.valid == [true, true, true, true, true, true, true, false])
        #expect(b.targetCount == 4)
    }

    @Test func bucketingKeepsEverySampleOnceAndIsDeterministic() {
        let samples = toySamples(count: 100, vocab: 11, seed: 3)
        var r1 = SplitMix64(seed: 9), r2 = SplitMix64(seed: 9)
        let a = makeMicroBatches(samples, microBatch: 8, bucketBatches: 4, using: &r1)
        let b = makeMicroBatches(samples, microBatch: 8, bucketBatches: 4, using: &r2)
        #expect(a == b)
        #expect(a.joined().map(\.tokens).sorted { $0.lexicographicallyPrecedes($1) }
                == samples.map(\.tokens).sorted { $0.lexicographicallyPrecedes($1) })
        var r3 = SplitMix64(seed: 9)
        let unbucketed = makeMicroBatches(samples, microBatch: 8, bucketBatches: 1, using: &r3)
        #expect(paddingFraction(a) < paddingFraction(unbucketed))
    }

    @Test func lossFallsOnALearnableTask() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = BigramModel(vocab: 11, dim: 8, seed: 1)
        var trainer = Trainer(config: toyConfig(), runDirectory: dir)
        trainer.log = { _ in }
        let samples = toySamples(count: 64, vocab: 11, seed: 2)
        let before = trainer.validationLoss(model, samples)
        let summary = try #require(try trainer.train(model, train: samples, valid: samples, configHash: "toy"))
        #expect(summary.steps == 12)
        let after = trainer.validationLoss(model, samples)
        #expect(after < 0.5 * before, "validation loss \(before) -> \(after)")
        // the log has one row per step, and validation rows every 3 steps
        let rows = try StepLog.read(TrainLogRow.self, from: dir.appendingPathComponent("train_log.csv"))
        #expect(rows.map(\.step) == Array(1...12))
        #expect(rows.compactMap(\.validLoss).count == 4)
    }

    /// A run stopped after 5 steps and resumed in a new process-like setting (new model
    /// object, new trainer) ends with exactly the parameters of an uninterrupted run.
    @Test func resumeAfterKillEqualsUninterruptedRun() throws {
        let samples = toySamples(count: 40, vocab: 11, seed: 4)
        let straightDir = temporaryDirectory(), resumedDir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: straightDir); try? FileManager.default.removeItem(at: resumedDir) }
        var config = toyConfig()
        config.patience = 1  // early stopping may trigger: it must resume identically too
        config.maxSteps = 15

        let straight = BigramModel(vocab: 11, dim: 8, seed: 7)
        var t1 = Trainer(config: config, runDirectory: straightDir)
        t1.log = { _ in }
        _ = try t1.train(straight, train: samples, valid: Array(samples.prefix(8)), configHash: "h")

        // "killed" after 5 steps: the checkpoint of step 4 is the last one on disk
        var t2 = Trainer(config: config, runDirectory: resumedDir)
        t2.log = { _ in }
        t2.stepLimitThisInvocation = 5
        let first = BigramModel(vocab: 11, dim: 8, seed: 7)
        #expect(try t2.train(first, train: samples, valid: Array(samples.prefix(8)), configHash: "h") == nil)
        let resumedModel = BigramModel(vocab: 11, dim: 8, seed: 99)  // different init: everything must come from the checkpoint
        t2.stepLimitThisInvocation = nil
        _ = try t2.train(resumedModel, train: samples, valid: Array(samples.prefix(8)), configHash: "h")

        for (a, b) in zip(straight.namedParameters, resumedModel.namedParameters) {
            #expect(a.tensor.array == b.tensor.array, "parameter \(a.name) differs after resume")
        }
    }

    @Test func checkpointOfAnotherConfigurationIsRefused() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var t = Trainer(config: toyConfig(), runDirectory: dir)
        t.log = { _ in }
        t.stepLimitThisInvocation = 2
        let samples = toySamples(count: 40, vocab: 11, seed: 4)
        _ = try t.train(BigramModel(vocab: 11, dim: 8, seed: 1), train: samples, valid: samples, configHash: "one")
        #expect(throws: TSRecError.self) {
            try t.train(BigramModel(vocab: 11, dim: 8, seed: 1), train: samples, valid: samples, configHash: "two")
        }
    }

    @Test func truncatedCheckpointGivesAClearError() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let m = BigramModel(vocab: 5, dim: 3, seed: 1)
        let url = dir.appendingPathComponent("c.tsrc")
        let header = Checkpoint.Header(configHash: "x", step: 1, epoch: 0, cursor: 0, epochRNG: SplitMix64(seed: 1),
                                       dropoutRNG: SplitMix64(seed: 2), bestValidLoss: nil, evalsWithoutImprovement: 0,
                                       stopped: false, optimizerStep: 1, tensorNames: [], tensorCounts: [])
        try Checkpoint.save(header, tensors: m.namedParameters.map { ($0.name, .tensor($0.tensor)) }, to: url)
        let data = try Data(contentsOf: url)
        try data.prefix(data.count - 7).write(to: url)
        do {
            _ = try Checkpoint.load(url, tensors: Dictionary(uniqueKeysWithValues: m.namedParameters.map { ($0.name, $0.tensor) }))
            Issue.record("a truncated checkpoint loaded")
        } catch let e as TSRecError {
            #expect(e.description.contains("truncated"))
        }
    }
}

@Suite struct ExperimentConfigTests {
    /// Each method and ablation changes only the fields it names.
    @Test func ablationsChangeOnlyTheirField() throws {
        let base = ExperimentConfig.profile(.quick, dataset: "Industrial_and_Scientific")
        let full = base.applying(.tsrecSFT)
        #expect(try AblationStudy.differences(full.applying(.noSAInit), from: full) == ["sidInit"])
        #expect(try AblationStudy.differences(full.applying(.noTSAlign), from: full) == ["tasks"])
        #expect(try AblationStudy.differences(base.applying(.minionerecSFT), from: full) == ["sidInit", "tasks"])
        // the RL methods: their SFT method plus the RL stage, nothing else
        #expect(try AblationStudy.differences(base.applying(.tsrec), from: full) == ["rl"])
        #expect(try AblationStudy.differences(base.applying(.minionerec), from: base.applying(.minionerecSFT)) == ["rl"])
        #expect(try AblationStudy.differences(base.applying(.tsrec), from: base.applying(.minionerec)) == ["sidInit", "tasks"])
        #expect(full.applying(.noTSAlign).tasks == [.nextItem, .itemAlignment, .fusion])
        #expect(full.tasks.contains(.tsAlign) && full.sidInit == .keywords && full.sidInitLevels == "abc")
        var depth = full
        depth.sidInitLevels = "a"
        #expect(try AblationStudy.differences(depth, from: full) == ["sidInitLevels"])
    }

    @Test func profilesDifferInBudgetNotMethod() {
        let smoke = ExperimentConfig.profile(.smoke, dataset: "x"), quick = ExperimentConfig.profile(.quick, dataset: "x")
        #expect(smoke.tasks == quick.tasks && smoke.sidInit == quick.sidInit && smoke.learningRate == quick.learningRate)
        #expect(quick.backboneLayers == nil && quick.testRows == nil)   // quick: full backbone, full test set
        #expect(ExperimentConfig.profile(.paper, dataset: "x").effectiveBatch == 1024)
    }

    /// Finished runs are found by this hash: a change to it (a new field that encodes by
    /// default, a renamed one) silently orphans every cached run, so it is pinned. If a change
    /// is meant, update the value and say so in the commit.
    @Test func runHashIsStable() throws {
        let quick = ExperimentConfig.profile(.quick, dataset: "Industrial_and_Scientific")
        // Sets encode sorted: the same in every process (Swift seeds Set order per process).
        let json = String(decoding: try JSONEncoder().encode(quick.applying(.tsrecSFT)), as: UTF8.self)
        #expect(json.contains(#""tasks":["nextItem","itemAlignment","fusion","tsAlign"]"#))
        #expect(try JSONDecoder().decode(ExperimentConfig.self, from: Data(json.utf8)) == quick.applying(.tsrecSFT))
        // 784fb858148a since the fidelity pass (mean-resize init, token-mean loss, the authors'
        // prompt format: new fields, new hashes; the pre-fidelity runs hashed 9f7a027cf823).
        #expect(Pipeline(quick.applying(.minionerecSFT), label: "x").trainingHash == "784fb858148a")
        var teacher = quick.applying(.minionerecSFT)
        teacher.keywordSource = .teacher
        #expect(Pipeline(teacher, label: "x").trainingHash != "784fb858148a")   // set fields do count
    }
}

/// Which keywords SA-Init and TS-Align read: the dataset's own file, or the teacher's (cached) output.
@Suite struct TokenSemanticsTests {
    /// Writes a teacher file of placeholder entries where `TeacherKeywords` looks for it.
    static func placeTeacherFile(for dataset: Dataset, paths: Paths) throws -> [KeywordTeacher.Entry] {
        let entries = dataset.sidTokens.map { KeywordTeacher.Entry(token: $0, keywords: ["kw\($0.count)", "x"], description: "about \($0)") }
        try KeywordTeacher.write(entries, to: TeacherKeywords.url(for: dataset, options: .init(), paths: paths))
        return entries
    }

    @Test func datasetFileFirstTeacherWhenAskedOrMissing() throws {
        let env = Paths.fromEnvironment()
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-semantics-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let paths = Paths(cache: env.cache, results: tmp)
        let industrial = try Dataset.load(.industrial, paths: env)
        let official = try industrial.requireKeywords()
        let placed = try Self.placeTeacherFile(for: industrial, paths: paths)

        let auto = try industrial.tokenSemantics(source: nil, paths: paths, log: { _ in })
        #expect(auto.entries == official.entries)
        let taught = try industrial.tokenSemantics(source: .teacher, paths: paths, log: { _ in })
        #expect(taught.entries.map(\.description) == placed.map(\.description))
        let first = industrial.sidTokens[0]
        #expect(taught.count == 560 && taught[first]?.keywords == ["kw\(first.count)", "x"])
        #expect(taught[first]?.keywords != official[first]?.keywords)

        // Office ships no keyword file: nil falls back to the teacher, `.dataset` says what is missing.
        let office = try Dataset.load(.office, paths: env)
        #expect(office.keywords == nil)
        _ = try Self.placeTeacherFile(for: office, paths: paths)
        var lines: [String] = []
        let fallback = try office.tokenSemantics(source: nil, paths: paths, log: { lines.append($0) })
        #expect(fallback.count == office.sidTokens.count)
        #expect(lines.contains { $0.contains("ships no keyword file") })
        #expect(throws: TSRecError.self) { try office.tokenSemantics(source: .dataset, paths: paths, log: { _ in }) }
    }
}

/// Data-parallel training (docs/mpi.md), with the ranks simulated one after the other in this
/// process: each rank's share of a step, weighted from the whole step, must sum to the one-process
/// gradient, and the tempting alternatives (each rank normalising by its own tokens and the ranks
/// averaged, as a plain DDP mean does; a different split of the step) must not, so the check can
/// fail. The `mpirun -np 2` run against one process is `scripts/mpi-equivalence.sh` (`make test`).
@Suite struct DataParallelTests {
    /// Rank r's gradient (flattened over the parameters) and loss for its share of `batches`.
    private func rankGradient(_ batches: [SFTBatch], indices: [Int], weights: [Double]? = nil) throws -> (Double, [Float]) {
        let model = BigramModel(vocab: 13, dim: 5, seed: 4)
        let trainer = Trainer(config: toyConfig(), runDirectory: FileManager.default.temporaryDirectory)
        var loss = 0.0
        if let weights {            // a hand-made weighting, to show the check notices it
            for i in indices {
                let tape = Tape()
                let l = model.loss(tape: tape, batch: batches[i])
                loss += Double(l.item) * weights[i]
                tape.backward(from: l, seed: Float(weights[i]))
            }
        } else {
            loss = try trainer.accumulateGradients(model, batches, averaging: .responseTokens, step: 1, only: indices)
        }
        return (loss, model.namedParameters.flatMap(\.tensor.gradArray))
    }

    private func sumOverRanks(_ parts: [(Double, [Float])]) -> (Double, [Float]) {
        parts.dropFirst().reduce(parts[0]) { acc, p in (acc.0 + p.0, zip(acc.1, p.1).map { $0 + $1 }) }
    }

    /// Worst |a − b| over max(|a|): the gradients' disagreement relative to their scale.
    private func relativeExcess(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) }.max()! / a.map { abs($0) }.max()!
    }

    @Test(arguments: [2, 3, 4]) func ranksSumToTheOneProcessStep(ranks: Int) throws {
        let samples = toySamples(count: 24, vocab: 13, seed: 31)
        // 6 micro-batches of unequal sizes, so response-token counts differ between ranks
        let cuts = [0, 1, 4, 8, 9, 15, 24]
        let batches = (0..<6).map { SFTBatch(Array(samples[cuts[$0]..<cuts[$0 + 1]])) }
        let (oneLoss, one) = try rankGradient(batches, indices: Array(batches.indices))
        let (loss, summed) = sumOverRanks(try (0..<ranks).map { r in
            try rankGradient(batches, indices: SingleProcess.share(of: batches.count, rank: r, size: ranks))
        })
        #expect(abs(loss - oneLoss) <= 1e-6 * abs(oneLoss), "loss \(loss) vs one process \(oneLoss)")
        #expect(relativeExcess(one, summed) <= 1e-5, "worst relative gradient difference \(relativeExcess(one, summed))")

        // wrong weighting: each rank's mean over its own tokens, then the mean over ranks
        let shares = (0..<ranks).map { SingleProcess.share(of: batches.count, rank: $0, size: ranks) }
        let perRank = try shares.map { share -> (Double, [Float]) in
            let n = Double(share.reduce(0) { $0 + batches[$1].targetCount })
            var w = [Double](repeating: 0, count: batches.count)
            for i in share { w[i] = Double(batches[i].targetCount) / n / Double(ranks) }
            return try rankGradient(batches, indices: share, weights: w)
        }
        #expect(relativeExcess(one, sumOverRanks(perRank).1) > 1e-3, "a per-rank mean must not pass for the step's mean")

        // wrong split: rank 0's share taken twice, rank 1's never
        let doubled = try [shares[0], shares[0]].map { try rankGradient(batches, indices: $0) }
        #expect(relativeExcess(one, sumOverRanks(doubled).1) > 1e-3, "another split must not pass")
    }

    @Test func sharesPartitionTheStep() {
        for size in 1...5 {
            for count in 0...11 {
                let all = (0..<size).flatMap { SingleProcess.share(of: count, rank: $0, size: size) }
                #expect(all.sorted() == Array(0..<count))
            }
        }
    }

    @Test func stepWeightsAreTokenShares() {
        let w = Trainer.stepWeights(targetCounts: [3, 1, 4], averaging: .responseTokens)
        let expected: [Double] = [3.0 / 8, 1.0 / 8, 4.0 / 8], halves: [Double] = [0.5, 0.5], zeros: [Double] = [0, 0]
        #expect(w == expected)
        let means = Trainer.stepWeights(targetCounts: [3, 1], averaging: .microBatchMeans)
        #expect(means == halves)
        let none = Trainer.stepWeights(targetCounts: [0, 0], averaging: .responseTokens)
        #expect(none == zeros)
        // random group means: the batches' losses are already weighted sums
        #expect(Trainer.stepWeights(targetCounts: [3, 1], averaging: .randomGroupMeans(size: 8)) == [1, 1])
    }

    @Test func parameterHashSeesOneBit() {
        let a = BigramModel(vocab: 13, dim: 5, seed: 4), b = BigramModel(vocab: 13, dim: 5, seed: 4)
        let h = parameterHash(a.namedParameters.map(\.tensor))
        #expect(h == parameterHash(b.namedParameters.map(\.tensor)))
        b.output.withUnsafeMutableBufferPointer { $0[7] = Float(bitPattern: $0[7].bitPattern ^ 1) }
        #expect(h != parameterHash(b.namedParameters.map(\.tensor)))
        #expect(throws: Never.self) { try SingleProcess().checkSame(h, what: "one rank") }
    }
}

extension DataParallelTests {
    /// Evaluation's rounds: over all ranks and lanes every batch is decoded exactly once, each
    /// rank's share is contiguous and at most `lanes`, and one rank with one lane takes the
    /// batches one at a time in order (the single-process evaluation).
    @Test(arguments: [(1, 1), (1, 2), (2, 1), (2, 2), (3, 2), (2, 3)])
    func evaluationRoundsCoverEveryBatchOnce(ranks: Int, lanes: Int) {
        for count in [0, 1, 5, 6, 7, 12, 13] {
            var seen: [Int] = []
            for round in stride(from: 0, to: count, by: ranks * lanes) {
                for rank in 0 ..< ranks {
                    let mine = Pipeline.batches(ofRound: round, rank: rank, lanes: lanes, count: count)
                    #expect(mine.count <= lanes)
                    seen += mine
                }
            }
            #expect(seen == Array(0 ..< count), "ranks \(ranks) lanes \(lanes) batches \(count)")
        }
        #expect((0 ..< 4).map { Pipeline.batches(ofRound: $0, rank: 0, lanes: 1, count: 4) } == [0 ..< 1, 1 ..< 2, 2 ..< 3, 3 ..< 4])
    }

    /// The row-parallel kernels use at most `OPENBLAS_NUM_THREADS` threads (the threads per rank).
    @Test func kernelThreadsFollowOpenBLASThreads() {
        #expect(Kernels.threadCount(environment: [:], cores: 2) == 2)
        #expect(Kernels.threadCount(environment: ["OPENBLAS_NUM_THREADS": "1"], cores: 2) == 1)
        #expect(Kernels.threadCount(environment: ["OPENBLAS_NUM_THREADS": "4"], cores: 2) == 2)
        #expect(Kernels.threadCount(environment: ["OPENBLAS_NUM_THREADS": "0"], cores: 2) == 2)
        #expect(Kernels.threadCount(environment: [:], cores: 64) == 8)
    }
}
