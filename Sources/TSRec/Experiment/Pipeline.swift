import Foundation

/// One method's result on one dataset: what a row of a results table holds.
public struct RunResult: Codable, Sendable {
    public var dataset: String
    public var method: String
    public var profile: String
    public var configHash: String
    public var metrics: MetricRow
    public var trainSteps: Int
    public var bestValidLoss: Double?
    public var trainSeconds: Double
    public var evalSeconds: Double
    /// Validation loss per evaluated step, for convergence figures.
    public var validCurve: [ValidPoint]
    /// The test predictions behind `metrics` (nil when they were not kept), for paired comparisons;
    /// with several test prompts, the first prompt's.
    public var predictionsPath: String? = nil
    /// Every test prompt's predictions in template order, when the rows were asked with several
    /// (`TestPrompts.everyTemplate`; nil with one, and absent from the JSON then): `metrics` is
    /// their mean, and paired reports pair each row's mean over them.
    public var promptPredictionsPaths: [String]? = nil
    /// RL stage (nil for SFT-only runs): optimizer steps, summed step wall time, validation of the
    /// SFT weights before the first step, and one point per step for the RL figure.
    public var rlSteps: Int? = nil
    public var rlSeconds: Double? = nil
    public var rlStart: RLValidation? = nil
    public var rlCurve: [RLPoint]? = nil

    public struct ValidPoint: Codable, Sendable { public var step: Int; public var loss: Double }

    /// The files behind `metrics`: every test prompt's, else `predictionsPath` alone (empty when
    /// no predictions were kept). Read them with `PredictionsFile.read(prompts:)`.
    public var allPredictionsPaths: [String] { promptPredictionsPaths ?? predictionsPath.map { [$0] } ?? [] }

    /// One RL step: mean reward and KL of its rollouts, and the validation values when it validated.
    public struct RLPoint: Codable, Sendable {
        public var step: Int
        public var meanReward: Double
        public var kl: Double
        public var validReward: Double?
        public var validHR10: Double?
    }
}

/// prepare → train → (RL) → evaluate for one configuration, skipping every stage whose outputs exist.
///
/// Stages and their outputs (under `results/runs/<dataset>/<hash>/`):
/// 1. data and model (cached downloads), SID tokens added with the configured initialisation;
/// 2. SFT (`checkpoint.tsrc`, `best.tsrc`, `train_log.csv`, `summary.json`), resumable;
/// 3. with `config.rl`, the RL stage from the best SFT weights, in `rl-<rl hash>/` inside the SFT
///    folder (`checkpoint.tsrc`, `policy.tsrc`, `train_log.csv`, `start_validation.json`,
///    `summary.json`), resumable; an RL method shares its SFT run with its SFT-only method;
/// 4. constrained beam search over the test rows (`predictions-*.jsonl`, in the RL folder for an
///    RL method) and metrics.
public struct Pipeline {
    /// Fixed for a pipeline but for evaluation settings outside every hash (`withAssistant`).
    public internal(set) var config: ExperimentConfig
    public let paths: Paths
    /// Short name of the run for folders and logs (e.g. the method's name).
    public let label: String
    public var log: @Sendable (String) -> Void = { print($0) }
    /// Test prompts decoded together in the beam search (an execution detail: results do not
    /// depend on it, so it is not part of the configuration or its hash); nil: `evalBatching`'s
    /// default.
    public var evalPromptsPerBatch: Int?
    /// Compute the keys and values of the prompt tokens every test row begins with once (the
    /// template; `SharedPrefix`) rather than once per row. An execution detail like
    /// `evalPromptsPerBatch`: rankings are the same up to float rounding (tested); off only to
    /// measure what it saves (tsrec-bench).
    public var evalSharesPromptPrefix = true
    /// Decode each forced path (the "\n" + EOS after a SID, the rest of a title once its prefix is
    /// unique) as one batch of rows when the search reaches it, instead of token by token
    /// (`BeamScorer.scoresForcedContinuations`). An execution detail: the same search, scores equal
    /// up to float rounding (tested); off only to measure what it saves (tsrec-bench).
    public var evalForcesPaths = true
    /// Batches of test prompts decoded side by side, each on its own core with one OpenBLAS thread
    /// (`Lanes`); default: one per core. An execution detail: every batch is the same as with one
    /// lane, so predictions are identical byte for byte (tested); 1 runs one batch at a time with
    /// all of OpenBLAS's threads (to measure the difference). nil: `evalBatching`'s default.
    public var evalLanes: Int?

    /// Prompts per batch and lanes of the evaluation: those set, else 8 prompts and one lane per
    /// core with fp32 products, or one batch of 16 at a time with bf16 products, whose oneDNN
    /// products take turns, so lanes only wait for each other (`make bench`, session 22, 96 real
    /// test rows: 7.70 rows/s against 6.55 for 8 prompts in two lanes).
    public var evalBatching: (prompts: Int, lanes: Int) {
        let bf16 = Kernels.bf16Matmul != nil
        return (max(1, evalPromptsPerBatch ?? (bf16 ? 16 : 8)), max(1, evalLanes ?? (bf16 ? 1 : Lanes.available)))
    }
    /// The ranks this run is spread over: training takes a share of every step per rank and
    /// evaluation a share of the test rows (docs/mpi.md); rank 0 alone writes files and logs.
    /// Not part of the configuration or its hash: losses agree with one process's within fp32
    /// rounding and predictions are identical (`scripts/mpi-equivalence.sh`, in `make test`).
    public let communicator: any Communicator

    /// `communicator` defaults to this process's (`Launch.communicator`: MPI's world under
    /// `mpirun`, else one process).
    public init(_ config: ExperimentConfig, label: String, paths: Paths = .fromEnvironment(),
                communicator: any Communicator = Launch.communicator) {
        self.config = config
        self.label = label
        self.paths = paths
        self.communicator = communicator
        if !communicator.isRoot { log = { _ in } }
    }

    /// Hash of everything that changes the SFT weights (not the evaluation budget, not the RL stage).
    public var trainingHash: String {
        var c = config
        c.testRows = nil
        c.beamWidth = 0
        c.rl = nil
        c.preference = nil
        c.evaluation = nil   // decoding does not change the weights (validation follows the tasks or recipe)
        c.assistant = nil
        c.testPrompts = nil
        return Self.hash(c)
    }

    /// Hash of the RL stage's configuration (nil without one): the RL folder is `rl-<hash>` in the SFT run's.
    public var rlHash: String? { config.rl.map(Self.hash) }

    /// Hash of the preference stage's configuration (nil without one): its folder is `pref-<hash>`.
    public var preferenceHash: String? { config.preference.map(Self.hash) }

    /// The results-table hash: the SFT hash, then `/rl-<hash>` for an RL method or
    /// `/pref-<hash>` for a preference method.
    public var resultHash: String {
        trainingHash + (rlHash.map { "/rl-\($0)" } ?? "") + (preferenceHash.map { "/pref-\($0)" } ?? "")
    }

    /// First 12 hex digits of the SHA-256 of the value's JSON with sorted keys.
    static func hash<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data()
        return String(SHA256.hash(data).prefix(12))
    }

    /// `results/runs/<dataset>/<hash>/`: keyed by the configuration alone, so the same
    /// configuration reached from two reproductions (e.g. TS-Rec in table2 and the keyword
    /// variant of ablation-init) trains once.
    public var runDirectory: URL {
        paths.runs.appendingPathComponent(config.dataset).appendingPathComponent(trainingHash)
    }

    /// `<root>/rl-<rl hash>/` (nil without an RL stage); `root` is the run folder or its record.
    func rlFolder(under root: URL) -> URL? { rlHash.map { root.appendingPathComponent("rl-\($0)") } }

    /// `<root>/pref-<preference hash>/` (nil without a preference stage).
    func preferenceFolder(under root: URL) -> URL? { preferenceHash.map { root.appendingPathComponent("pref-\($0)") } }

    /// The folder of the stage after SFT (RL or preference) under `root`, else `root`: where the
    /// test predictions go.
    func evaluationFolder(under root: URL) -> URL { rlFolder(under: root) ?? preferenceFolder(under: root) ?? root }

    /// `<run folder>/rl-<rl hash>/` (nil without an RL stage).
    public var rlDirectory: URL? { rlFolder(under: runDirectory) }

    /// `<run folder>/pref-<preference hash>/` (nil without a preference stage).
    public var preferenceDirectory: URL? { preferenceFolder(under: runDirectory) }

    /// Where the test predictions go: the folder of the stage after SFT (RL or preference), else the run folder.
    var evaluationDirectory: URL { evaluationFolder(under: runDirectory) }

    /// What training and evaluation share: the data, the backbone with its SID tokens, the prompts.
    struct Prepared {
        var dataset: Dataset
        var model: Llama
        var builder: SFTSampleBuilder
        /// SID token strings; token `i` has id `firstNewID + i`.
        var sidTokens: [String]
        var firstNewID: Int
        /// Token keywords and descriptions, when SA-Init or TS-Align needs them.
        var semantics: Keywords?
    }

    /// Train (or load the finished run), run the RL stage when configured, and evaluate.
    public func run() throws -> RunResult {
        try atConfiguredPrecision {
            let prepared = try prepare()
            let summary = try train(prepared)
            let rl = try reinforce(prepared)
            let preference = try prefer(prepared)
            return try evaluate(prepared, summary: summary, rl: rl, preference: preference)
        }
    }

    /// `body` with every matrix product at `config.matmulPrecision` (nil or fp32: OpenBLAS).
    func atConfiguredPrecision<T>(_ body: () throws -> T) throws -> T {
        guard config.matmulPrecision == .bf16 else { return try body() }
        log("  matrix products: bf16 operands, fp32 accumulation (oneDNN)")
        return try BF16Matmul().scope(body)
    }

    /// `run()`; with `reportOnly`, only `finishedResult()` (nil: not finished yet, never trains).
    public func result(reportOnly: Bool) throws -> RunResult? {
        reportOnly ? try finishedResult() : try run()
    }

    /// The result of this configuration if it has been trained and evaluated already (nil
    /// otherwise); loads no model, only the dataset and the cached summaries and predictions.
    /// The run folder under `results/` comes first; without a finished run there, the committed
    /// record (`recordDirectory`), so a fresh clone reports the runs its repository holds.
    /// A missing stage summary means pending; one that exists but cannot be read or decoded
    /// throws (`finishedSummary`), since a damaged result must not pass for a run to train.
    public func finishedResult() throws -> RunResult? {
        guard let benchmark = Benchmark.named(config.dataset) else { return nil }
        let roots = [(runDirectory, true)] + (recordDirectory.map { [($0, false)] } ?? [])
        // every stage finished, per root (a pending row loads no dataset)
        let finished = try roots.compactMap { root, needsWeights -> (URL, TrainingSummary, RLSummary?, PreferenceSummary?)? in
            guard let summary = try finishedTraining(root: root, needsWeights: needsWeights) else { return nil }
            let rl = try finishedRL(root: root, needsWeights: needsWeights)
            if config.rl != nil && rl == nil { return nil }
            let preference = try finishedPreference(root: root, needsWeights: needsWeights)
            if config.preference != nil && preference == nil { return nil }
            return (root, summary, rl, preference)
        }
        guard !finished.isEmpty else { return nil }
        let dataset = try Dataset.load(benchmark, paths: paths)
        let test = try dataset.split(.test).rows.prefix(config.testRows ?? .max)
        for (root, summary, rl, preference) in finished {
            let urls = try predictionsURLs(testRows: test.count, root: root)
            // a missing file: not (wholly) evaluated here; a file that does not read back whole is
            // damage, not a pending row
            guard urls.allSatisfy({ FileManager.default.fileExists(atPath: $0.path) }) else { continue }
            let files = try urls.map { url in
                let predictions = try PredictionsFile.read(from: url)
                guard predictions.count == test.count else {
                    throw TSRecError(.format(path: url.path, line: predictions.count + 1, field: "",
                                             reason: "\(predictions.count) predictions for \(test.count) test rows"),
                                     hint: "restore the file from git if it is a committed record, else delete it to evaluate again")
                }
                return EvaluatedPrompt(url: url, predictions: predictions, seconds: nil)
            }
            return try result(summary: summary, rl: rl, preference: preference, files: files, catalogue: Set(dataset.index.sids))
        }
        return nil
    }

    /// `<records>/<profile>/runs/<SFT hash>/`: the committed record of this run, laid out as its
    /// run folder but without weights (`scripts/record-run.sh` copies one; `Paths.records`).
    public var recordDirectory: URL? {
        paths.records?.appendingPathComponent(config.profile.rawValue).appendingPathComponent("runs").appendingPathComponent(trainingHash)
    }

    /// A stage's summary under `folder` when the stage has finished: its `summary.json`, and when
    /// `needsWeights` (a live run folder, not a record) its final weights `weights`.
    ///
    /// nil (pending) when `summary.json` is missing, or when the weights are needed and missing.
    /// A `summary.json` that exists but cannot be read or decoded throws, naming the file: the
    /// trainer writes it atomically at the end of a stage, so a damaged one is never a stage
    /// under way, and taking it for one would re-train a finished run or drop a committed record
    /// from the tables without a word.
    private func finishedSummary<S: Decodable>(_ type: S.Type, folder: URL, weights: (Trainer) -> URL, needsWeights: Bool) throws -> S? {
        let trainer = Trainer(config: config, runDirectory: folder)
        let url = trainer.summaryURL
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        // what to do about a damaged file: a record is restored from git, a live stage re-runs
        let hint = needsWeights
            ? "delete \(folder.path) to re-run this stage (stage folders inside it go with it)"
            : "restore the file from git (git checkout -- \(url.path)), or delete \(folder.path) to drop the record"
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TSRecError(.io(path: url.path, reason: "cannot read the stage summary: \(error.localizedDescription)"), hint: hint)
        }
        let summary: S
        do { summary = try JSONDecoder().decode(S.self, from: data) } catch {
            throw TSRecError(.format(path: url.path, line: 0, field: decodingField(error),
                                     reason: "not a \(S.self) (summary.json of a finished stage): \(decodingReason(error))"),
                             hint: hint)
        }
        guard !needsWeights || FileManager.default.fileExists(atPath: weights(trainer).path) else { return nil }
        return summary
    }

    /// The summary of a finished training run under `root` (default: the run folder; its
    /// `summary.json` and `best.tsrc` both exist), else nil; throws when `summary.json` exists
    /// but cannot be read or decoded.
    func finishedTraining(root: URL? = nil, needsWeights: Bool = true) throws -> TrainingSummary? {
        try finishedSummary(TrainingSummary.self, folder: root ?? runDirectory, weights: \.bestURL, needsWeights: needsWeights)
    }

    /// The summary of a finished RL stage (its `summary.json` and `policy.tsrc` both exist); nil
    /// without one or when it has not finished; throws on a damaged `summary.json`.
    func finishedRL(root: URL? = nil, needsWeights: Bool = true) throws -> RLSummary? {
        try rlFolder(under: root ?? runDirectory).flatMap {
            try finishedSummary(RLSummary.self, folder: $0, weights: \.policyURL, needsWeights: needsWeights)
        }
    }

    /// The summary of a finished preference stage (its `summary.json` and `policy.tsrc` both
    /// exist); nil without one or when it has not finished; throws on a damaged `summary.json`.
    func finishedPreference(root: URL? = nil, needsWeights: Bool = true) throws -> PreferenceSummary? {
        try preferenceFolder(under: root ?? runDirectory).flatMap {
            try finishedSummary(PreferenceSummary.self, folder: $0, weights: \.policyURL, needsWeights: needsWeights)
        }
    }

    /// `predictions-beam<W>-n<rows>.jsonl` in the run folder (the RL folder for an RL method), or
    /// in the same place under `root`; test prompt `prompt` > 0 (`testPromptCount`) adds
    /// `prompt<k>-` before the beam width, so the first prompt's file is the one-prompt file.
    func predictionsURL(testRows: Int, root: URL? = nil, prompt: Int = 0) -> URL {
        evaluationFolder(under: root ?? runDirectory).appendingPathComponent("predictions-\(config.evaluation.map { "\($0.fileTag)-" } ?? "")"
            + "\(config.assistant.map { "\($0.fileTag)-" } ?? "")\(prompt > 0 ? "prompt\(prompt)-" : "")beam\(config.beamWidth)-n\(testRows).jsonl")
    }

    /// One predictions file per test prompt (`testPromptCount`), in template order.
    func predictionsURLs(testRows: Int, root: URL? = nil) throws -> [URL] {
        (0 ..< (try testPromptCount())).map { predictionsURL(testRows: testRows, root: root, prompt: $0) }
    }

    /// How many prompts each test row is asked with (`ExperimentConfig.testPrompts`): 1, or
    /// with `.everyTemplate` the number of the recipe's main-task templates.
    func testPromptCount() throws -> Int {
        guard config.testPrompts == .everyTemplate else { return 1 }
        guard let recipe = config.recipe else {
            throw TSRecError(.config(field: "testPrompts", reason: "every-template asks with a recipe's templates; this configuration has no recipe"),
                             hint: "leave testPrompts unset: the built-in tasks have one evaluation prompt")
        }
        return try recipe.testPrompts(.everyTemplate).count
    }

    /// Train only (or confirm a finished run), the RL stage included: lets a long queue of runs
    /// train first and evaluate later, with whatever evaluation code is current then. Returns
    /// the SFT summary.
    @discardableResult
    public func trainOnly() throws -> TrainingSummary {
        try atConfiguredPrecision {
            let p = try prepare()
            let summary = try train(p)
            try reinforce(p)
            try prefer(p)
            return summary
        }
    }

    func prepare() throws -> Prepared {
        log("run \(label): \(config.dataset), profile \(config.profile.rawValue), hash \(resultHash)")
        log("  folder \(runDirectory.path)")
        if communicator.isParallel { log("  \(communicator.size) ranks (MPI), \(BLAS.summary)") }
        guard communicator.isRoot else { return try assemble() }      // rank 0 alone writes
        do {
            try AtomicFile.createDirectory(runDirectory)
        } catch let error as TSRecError {
            throw TSRecError(error.kind, hint: "set TSREC_RESULTS to a writable folder (now \(paths.results.path))")
        }
        AtomicFile.removeStaleTemporaries(in: runDirectory)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        var sft = config
        sft.rl = nil                                  // the SFT run's own configuration (the RL folder keeps its part)
        sft.assistant = nil                           // a labelled evaluation variant: its predictions file names it
        try AtomicFile.write(try encoder.encode(sft), to: runDirectory.appendingPathComponent("config.json"))
        return try assemble()
    }

    /// The stages before training, without touching the run folder: data, backbone, SID tokens.
    func assemble() throws -> Prepared {
        // MARK: - Data
        guard let benchmark = Benchmark.named(config.dataset) else {
            throw TSRecError(.config(field: "dataset", reason: "unknown benchmark '\(config.dataset)'"),
                             hint: "one of \(Benchmark.all.map(\.name).joined(separator: ", "))")
        }
        let dataset = try Dataset.load(benchmark, paths: paths)

        // MARK: - Backbone, tokenizer and SID tokens
        let gguf = try GGUFFile(contentsOf: try ModelStore(paths: paths).smolLM2())
        var tokenizer = try BPETokenizer(gguf: gguf)
        let model = try Llama.load(gguf: gguf, layers: config.backboneLayers)
        let sidTokens = dataset.sidTokens
        let firstNewID = tokenizer.vocabSize
        let newIDs = tokenizer.addTokens(sidTokens)
        precondition(newIDs.first == firstNewID, "SID tokens must follow the base vocabulary")
        let needsSemantics = config.sidInit == .keywords || config.tasks.contains(.tsAlign)
        let semantics = needsSemantics ? try dataset.tokenSemantics(source: config.keywordSource, paths: paths, log: log) : nil
        let rows = try SIDInitialiser(config: config, dataset: dataset, tokenizer: tokenizer, embedding: model.tokenEmbedding,
                                      baseVocab: firstNewID, semantics: semantics).rows(for: sidTokens, log: log)
        model.addTokens(count: sidTokens.count, initialRows: rows)
        log("  \(sidTokens.count) SID tokens added (init \(config.sidInit.rawValue), levels \(config.sidInitLevels))")
        let builder = try SFTSampleBuilder(tokenizer: tokenizer, maxLength: config.maxLength, format: config.promptFormat)
        return Prepared(dataset: dataset, model: model, builder: builder, sidTokens: sidTokens, firstNewID: firstNewID,
                        semantics: semantics)
    }

    /// How the SID rows start before any training, per level, beside the pretrained rows.
    public struct InitialGeometry {
        /// One entry per SID level, in order `a`, `b`, `c`.
        public var levels: [(level: String, geometry: EmbeddingGeometry)]
        /// The backbone's own rows: the scale to read the others against (they share a common direction).
        public var pretrained: EmbeddingGeometry
    }

    /// See `EmbeddingGeometry`; the reference direction is the mean of the pretrained rows.
    /// Loads the data and the backbone, writes nothing.
    public func initialSIDGeometry() throws -> InitialGeometry {
        let p = try assemble()
        let dim = p.model.tokenEmbedding.shape[1]
        return p.model.tokenEmbedding.withUnsafeBufferPointer { table in     // [V, dim]
            let vocabMean = SIDEmbeddingInit(table: UnsafeBufferPointer(rebasing: table[0..<(p.firstNewID * dim)]),
                                             vocab: p.firstNewID, dim: dim).vocabularyMean()
            let levels = Prompt.levelNames.enumerated().map { level, name in
                let ids = p.sidTokens.indices.filter { SID.level(of: p.sidTokens[$0]) == level }.map { p.firstNewID + $0 }
                var rows: [Float] = []
                rows.reserveCapacity(ids.count * dim)
                for id in ids { rows += table[(id * dim)..<((id + 1) * dim)] }
                let g = rows.withUnsafeBufferPointer { EmbeddingGeometry(rows: $0, count: ids.count, dim: dim, reference: vocabMean) }
                return (level: name, geometry: g)
            }
            return InitialGeometry(levels: levels,
                                   pretrained: EmbeddingGeometry(rows: table, count: p.firstNewID, dim: dim, reference: vocabMean))
        }
    }

    /// Training, cached by configuration hash and resumable; leaves the best weights in the model.
    func train(_ p: Prepared) throws -> TrainingSummary {
        var trainer = Trainer(config: config, runDirectory: runDirectory)
        trainer.communicator = communicator
        if !communicator.isRoot { trainer.log = { _ in } }
        if let s = try finishedTraining() {
            _ = try Checkpoint.load(trainer.bestURL, tensors: Dictionary(uniqueKeysWithValues: p.model.namedParameters.map { ($0.name, $0.tensor) }))
            log("  training: finished earlier (\(s.steps) steps), best weights loaded")
            return s
        }
        let (samples, dropped, valid) = try trainingSamples(p)
        // task families in order of first appearance
        var byTask: [(String, Int)] = []
        for s in samples {
            if let i = byTask.firstIndex(where: { $0.0 == s.task }) { byTask[i].1 += 1 } else { byTask.append((s.task, 1)) }
        }
        log("  samples: " + byTask.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
            + (dropped > 0 ? " (\(dropped) longer than \(config.maxLength) tokens dropped)" : "")
            + "; \(trainer.totalSteps(sampleCount: samples.count)) steps of \(config.effectiveBatch)")
        guard let s = try trainer.train(p.model, train: samples, valid: valid, configHash: trainingHash) else {
            throw TSRecError(.config(field: "stepLimit", reason: "stopped before the end"))
        }
        return s
    }

    /// The SFT stage's training samples (with how many were dropped as too long) and its
    /// validation samples, from the configuration's recipe or built-in tasks.
    func trainingSamples(_ p: Prepared) throws -> (train: [SFTSample], dropped: Int, valid: [SFTSample]) {
        let validRows = Array(try p.dataset.split(.valid).rows.prefix(config.validRows ?? .max))
        if let recipe = config.recipe {
            guard config.tasks.isEmpty else {
                throw TSRecError(.config(field: "tasks", reason: "recipe \(recipe.name) replaces the built-in tasks"),
                                 hint: "set tasks to [] when a recipe is set")
            }
            let (samples, dropped) = try p.builder.trainingSamples(p.dataset, recipe: recipe, trainRows: config.trainRows, seed: config.seed)
            return (samples, dropped, try p.builder.validationSamples(validRows, recipe: recipe, category: p.dataset.benchmark.categoryPhrase,
                                                                    seed: config.seed))
        }
        let (samples, dropped) = try p.builder.trainingSamples(p.dataset, tasks: config.tasks, trainRows: config.trainRows,
                                                               semantics: p.semantics)
        return (samples, dropped, p.builder.nextItemSamples(validRows))
    }

    /// The RL stage (nil without one): loads the finished stage's weights, or runs (resumes) it
    /// from the best SFT weights in `p.model`; leaves the RL weights in `p.model`.
    @discardableResult
    func reinforce(_ p: Prepared) throws -> RLSummary? {
        guard let rl = config.rl, let dir = rlDirectory, let hash = rlHash else { return nil }
        var trainer = Trainer(config: config, runDirectory: dir)
        trainer.log = log
        trainer.communicator = communicator
        if let n = evalPromptsPerBatch { trainer.rolloutPromptsPerBatch = n }   // else the trainer's default
        if let s = try finishedRL() {
            _ = try Checkpoint.load(trainer.policyURL, tensors: Dictionary(uniqueKeysWithValues: p.model.parameters.map { ($0.name, $0.tensor) }))
            log("  RL: finished earlier (\(s.steps) steps), weights loaded")
            return s
        }
        guard config.promptFormat == .alpaca else {
            throw TSRecError(.config(field: "rl", reason: "the RL stage follows the authors' recipe and needs promptFormat alpaca"))
        }
        if communicator.isRoot {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try AtomicFile.write(try encoder.encode(rl), to: dir.appendingPathComponent("config.json"))
        }
        log("  RL stage: folder \(dir.path)")
        var sampling = Trainer.rlStreams(seed: config.seed).sampling
        let (prompts, truncated) = try p.builder.rlPrompts(p.dataset, trainRows: config.trainRows, rl: rl, using: &sampling)
        let decoding = Self.decodingTrie(builder: p.builder, dataset: p.dataset, tokens: p.sidTokens, firstID: p.firstNewID)
        let examples = prompts.map { RLExample(prompt: $0.tokens, target: decoding.sequenceOf[$0.target]!) }
        let valid = try p.dataset.split(.valid).rows.prefix(rl.validRows ?? .max).map { row in
            RLExample(prompt: p.builder.rlPromptIDs(.nextItem(history: row.historySIDs), maxLength: rl.maxPromptLength).ids,
                      target: decoding.sequenceOf[row.targetSID]!)
        }
        let bySource = Dictionary(grouping: prompts, by: \.source).mapValues(\.count)
        log("  RL prompts: " + RLPrompt.Source.allCases.map { "\($0.rawValue) \(bySource[$0] ?? 0)" }.joined(separator: ", ")
            + " (\(truncated) cut to \(rl.maxPromptLength) tokens); \(rl.totalSteps(promptCount: prompts.count)) steps of "
            + "\(rl.promptsPerStep) prompts × \(rl.completionsPerPrompt); validation on \(valid.count) rows")
        guard let s = try trainer.reinforce(p.model, examples: examples, valid: valid, trie: decoding.trie, configHash: hash) else {
            throw TSRecError(.config(field: "stepLimit", reason: "RL stage stopped before the end"))
        }
        return s
    }

    /// The preference stage (nil without one): loads the finished stage's weights, or runs
    /// (resumes) it from the best SFT weights in `p.model`; leaves its weights in `p.model`.
    /// Examples: the recipe's main prompt over the train rows, the row's answer chosen, rejected
    /// answers drawn once from the stage's own stream; validation on the first `validRows`
    /// validation rows with negatives from a stream forked after the train set's.
    @discardableResult
    func prefer(_ p: Prepared) throws -> PreferenceSummary? {
        guard let pref = config.preference, let dir = preferenceDirectory, let hash = preferenceHash else { return nil }
        guard config.rl == nil else {
            throw TSRecError(.config(field: "preference", reason: "a run has either an RL stage or a preference stage, not both"))
        }
        guard let recipe = config.recipe else {
            throw TSRecError(.config(field: "preference", reason: "the preference stage needs a title recipe (S-DPO starts from D3's SFT run)"),
                             hint: "set recipe, e.g. SFTRecipe.d3")
        }
        var trainer = Trainer(config: config, runDirectory: dir)
        trainer.log = log
        trainer.communicator = communicator
        if let s = try finishedPreference() {
            _ = try Checkpoint.load(trainer.policyURL, tensors: Dictionary(uniqueKeysWithValues: p.model.parameters.map { ($0.name, $0.tensor) }))
            log("  preference: finished earlier (\(s.steps) steps), weights loaded")
            return s
        }
        if communicator.isRoot {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try AtomicFile.write(try encoder.encode(pref), to: dir.appendingPathComponent("config.json"))
        }
        log("  preference stage: folder \(dir.path)")
        var negatives = Trainer.preferenceStreams(seed: config.seed).negatives
        // S-DPO's rows: at least `minHistory` history items (after the train-row budget, as SFT reads it)
        let train = try p.dataset.split(.train).rows
        let examples = try p.builder.preferenceExamples((config.trainRows.map { Array(train.prefix($0)) } ?? train).filter(pref.admits), dataset: p.dataset,
                                                        recipe: recipe, negatives: pref.negatives, maxPromptLength: pref.maxPromptLength,
                                                        using: &negatives)
        var validStream = negatives.fork()
        let valid = try p.builder.preferenceExamples(Array(try p.dataset.split(.valid).rows.filter(pref.admits).prefix(pref.validRows ?? .max)), dataset: p.dataset,
                                                     recipe: recipe, negatives: pref.negatives, maxPromptLength: pref.maxPromptLength,
                                                     using: &validStream)
        log("  preference examples: \(examples.count) (1 chosen + \(pref.negatives) rejected each; rows with ≥ \(pref.minHistory ?? 0) history items); "
            + "\(pref.totalSteps(promptCount: examples.count)) steps of \(pref.promptsPerStep) prompts; validation on \(valid.count) rows")
        guard let s = try trainer.prefer(p.model, examples: examples, valid: valid, configHash: hash) else {
            throw TSRecError(.config(field: "stepLimit", reason: "preference stage stopped before the end"))
        }
        return s
    }

    /// The trie constrained decoding follows (each SID's tokens, then, in the authors' format,
    /// "\n" and EOS), with each SID's sequence and back.
    static func decodingTrie(builder: SFTSampleBuilder, dataset: Dataset, tokens: [String], firstID: Int)
        -> (trie: PrefixTrie, sequenceOf: [String: [Int]], sidOf: [[Int]: String]) {
        let idOf = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, firstID + $0) })
        let sids = Set(dataset.index.sids).sorted()
        let sequences = sids.map { builder.decodedSequence(sid: SID.tokens($0)!.map { idOf[$0]! }) }
        return (PrefixTrie(sequences: sequences), Dictionary(uniqueKeysWithValues: zip(sids, sequences)),
                Dictionary(uniqueKeysWithValues: zip(sequences, sids)))
    }

    /// Constrained beam search over the test rows (predictions cached per beam width, row count
    /// and test prompt), then metrics: with several test prompts, the mean over them.
    func evaluate(_ p: Prepared, summary: TrainingSummary, rl: RLSummary? = nil, preference: PreferenceSummary? = nil) throws -> RunResult {
        let test = Array(try p.dataset.split(.test).rows.prefix(config.testRows ?? .max))
        let urls = try predictionsURLs(testRows: test.count)
        let catalogue = Set(p.dataset.index.sids)
        let files = try urls.enumerated().map { k, url in
            if urls.count > 1 { log("  evaluation: test prompt \(k + 1) of \(urls.count) (template \(k) of the main task)") }
            let (predictions, seconds) = try cachedPredictions(p, rows: test, at: url, prompt: k)
            return EvaluatedPrompt(url: url, predictions: predictions, seconds: seconds)
        }
        let result = try result(summary: summary, rl: rl, preference: preference, files: files, catalogue: catalogue)
        if files.count > 1 {
            // what LC-Rec's test prints beside the mean: each prompt's own result
            let each = files.map { MetricRow.evaluate($0.predictions, catalogue: catalogue) }
            for (k, m) in each.enumerated() {
                log(String(format: "  %@, template %d: HR@10 %.4f NDCG@10 %.4f", label, k, m.hr10, m.ndcg10))
            }
            if communicator.isRoot {
                let table = try writeTestPromptTable(files, each: each, mean: result.metrics)
                log("  evaluation: each template's metrics in \(table.lastPathComponent)")
            }
        }
        log(String(format: "  %@: HR@10 %.4f NDCG@10 %.4f (%d test rows%@)", label, result.metrics.hr10, result.metrics.ndcg10, test.count,
                   files.count > 1 ? ", mean over \(files.count) test prompts" : ""))
        return result
    }

    /// `test-prompts-<tags>.csv` beside the first prompt's predictions (its name, `test-prompts-`
    /// for `predictions-`): one line per test prompt with its metrics, then their `mean` (the
    /// row's values), `min` and `max`, as LC-Rec's test.py reports `all_prompt_results`,
    /// `mean_results`, `min_results` and `max_results`. `each` holds every file's metrics in
    /// order, `mean` the row's (`MetricRow.evaluate(promptFiles:)`). Returns where it was written.
    @discardableResult
    func writeTestPromptTable(_ files: [EvaluatedPrompt], each: [MetricRow], mean: MetricRow) throws -> URL {
        precondition(each.count == files.count, "writeTestPromptTable: one metric row per file")
        let names = MetricRow.metricNames
        func values(_ m: MetricRow) -> [Double] { names.map { m.value(named: $0)! } + [m.invalidRate] }
        let columns = each.map(values)                                                   // [prompt][metric]
        let extreme = { (pick: ([Double]) -> Double) in columns[0].indices.map { j in pick(columns.map { $0[j] }) } }
        let rows = columns.enumerated().map { ["\($0.offset)", files[$0.offset].url.lastPathComponent] + $0.element.map(CSV.cell) }
            + [("mean", values(mean)), ("min", extreme { $0.min()! }), ("max", extreme { $0.max()! })].map { [$0.0, ""] + $0.1.map(CSV.cell) }
        let first = files[0].url
        let url = first.deletingLastPathComponent().appendingPathComponent(
            "test-prompts-" + first.deletingPathExtension().lastPathComponent.dropFirst("predictions-".count) + ".csv")
        try CSV.write(header: ["prompt", "predictions"] + names + ["invalid_rate"], rows: rows, to: url,
                      metadata: [("run", resultHash), ("method", label), ("test rows", "\(mean.rows)"),
                                 ("mean", "over the \(files.count) test prompts of each prompt's mean (LC-Rec's test.py)")])
        return url
    }

    /// One test prompt's predictions file: where it is, its rows, and the seconds its decoding
    /// took when it was decoded in this call (nil: read back beside the file).
    struct EvaluatedPrompt {
        var url: URL
        var predictions: [Prediction]
        var seconds: Double?
    }

    /// The predictions of `rows` at `url`: read back when a finished file holds them all, else
    /// decoded (resuming a killed evaluation from its journal, `<url>.partial`) and written with
    /// the seconds every piece took (`<url>.seconds`). Returns the seconds only when decoded here.
    func cachedPredictions(_ p: Prepared, rows: [SplitRow], at url: URL, prompt: Int = 0,
                           assistantDistributions: (() throws -> [[Float]])? = nil) throws -> (predictions: [Prediction], seconds: Double?) {
        let journal = PredictionJournal(url: url.appendingPathExtension("partial"))   // a killed evaluation's rows
        let evalStart = Date()
        let cached: [Prediction]?
        do {
            cached = FileManager.default.fileExists(atPath: url.path) ? try PredictionsFile.read(from: url) : nil
        } catch {
            log("  evaluation: \(url.lastPathComponent) does not read back (\(error)): evaluating again")
            cached = nil
        }
        if let cached, cached.count == rows.count {
            if communicator.isRoot { journal.remove() }   // killed before its removal
            log("  evaluation: predictions found, metrics recomputed")
            return (cached, nil)
        }
        // a killed run's rows come back from its journal with the seconds they took
        let earlier = journal.spentSeconds()
        let spent = { earlier + Date().timeIntervalSince(evalStart) }
        let predictions = try evaluate(model: p.model, builder: p.builder, dataset: p.dataset, tokens: p.sidTokens,
                                       firstID: p.firstNewID, rows: rows, prompt: prompt, output: url, spent: spent,
                                       assistantDistributions: assistantDistributions)
        let seconds = spent()                // every piece of a resumed evaluation, `<predictions>.seconds`
        if communicator.isRoot {
            try PredictionsFile.writeSeconds(seconds, of: url)
            try PredictionsFile.write(predictions, to: url)
            journal.remove()
        }
        communicator.barrier()               // the next stage of any rank may read these files
        return (predictions, seconds)
    }

    /// A table row from a finished run's predictions, one file per test prompt (their rows
    /// checked to be the same): with several, every metric is the mean over the prompts of each
    /// prompt's mean, as LC-Rec's test reports it, and the evaluation time their sum. A file's
    /// seconds nil = read back beside it (0 if absent). An RL row's training time is SFT + RL; its
    /// SFT validation curve is left to the SFT-only row (the same run).
    func result(summary: TrainingSummary, rl: RLSummary? = nil, preference: PreferenceSummary? = nil, files: [EvaluatedPrompt],
                catalogue: Set<String>) throws -> RunResult {
        precondition(!files.isEmpty, "result: no predictions")
        for f in files.dropFirst() {
            try Prediction.checkSameRows(f.predictions, as: files[0].predictions, referenceName: files[0].url.lastPathComponent, source: f.url.path,
                                         hint: "every test prompt's file lists the same test rows in split order: delete the file to evaluate it again")
        }
        let seconds = files.reduce(0) { $0 + ($1.seconds ?? PredictionsFile.readSeconds(of: $1.url) ?? 0) }
        var r = RunResult(dataset: config.dataset, method: label, profile: config.profile.rawValue,
                          configHash: resultHash, metrics: MetricRow.evaluate(promptFiles: files.map(\.predictions), catalogue: catalogue),
                          trainSteps: summary.steps, bestValidLoss: summary.bestValidLoss,
                          trainSeconds: summary.wallSeconds + (rl?.wallSeconds ?? 0) + (preference?.wallSeconds ?? 0),
                          evalSeconds: seconds,
                          validCurve: rl != nil || preference != nil ? [] : summary.log.compactMap { r in r.validLoss.map { .init(step: r.step, loss: $0) } },
                          predictionsPath: files[0].url.path)
        if files.count > 1 { r.promptPredictionsPaths = files.map(\.url.path) }
        if let rl {
            r.rlSteps = rl.steps
            r.rlSeconds = rl.wallSeconds
            r.rlStart = rl.startValidation
            r.rlCurve = rl.log.map { .init(step: $0.step, meanReward: $0.meanReward, kl: $0.kl, validReward: $0.validReward,
                                           validHR10: $0.validHR10) }
        }
        return r
    }

    /// Ranked SIDs for every row: beam search constrained to the catalogue's SIDs.
    ///
    /// Rows run `evalPromptsPerBatch` prompts at a time, grouped by prompt length (less padding in
    /// the batched prefill); each batch is appended to a journal beside `output`, so a killed
    /// evaluation resumes at the rows it had not finished, with `spent()` (the evaluation's
    /// seconds so far, earlier calls' included) recorded beside it. Returns predictions in row order.
    ///
    /// With several lanes (`evalLanes`) and ranks, a round takes the next lanes × ranks batches,
    /// rank r decoding those at r·lanes ..< (r+1)·lanes of the round, one per lane. The batches
    /// are the one-process batches (same rows, same order), so each row's beam is the
    /// one-process beam; after each round the predictions are gathered on every rank and rank 0
    /// appends them to the journal (which it alone reads, and broadcasts, on resume).
    func evaluate(model: Llama, builder: SFTSampleBuilder, dataset: Dataset, tokens: [String], firstID: Int,
                  rows: [SplitRow], prompt: Int = 0, output: URL, spent: (() -> Double)? = nil,
                  assistantDistributions: (() throws -> [[Float]])? = nil) throws -> [Prediction] {
        if let recipe = config.recipe {
            // what a recipe's main task answers decides which decodings can read it
            let sidModes = config.evaluation == nil || config.evaluation == .sidTrie || config.evaluation == .positionwiseCodes
            if recipe.answersWithSID && config.evaluation != .positionwiseCodes {
                throw TSRecError(.config(field: "evaluation", reason: "recipe \(recipe.name) answers with bare SIDs: decode it with position-wise codes"),
                                 hint: "--decoding codes (Method LC-Rec sets it)")
            }
            if !recipe.answersWithSID && sidModes {
                throw TSRecError(.config(field: "evaluation", reason: "recipe \(recipe.name) answers with titles: evaluate it with the title trie or grounding"),
                                 hint: "--decoding title or grounded (Methods D3, S-DPO and BIGRec set them)")
            }
        }
        let comm = communicator
        // the weights every rank decodes with must be the same
        try comm.checkSame(parameterHash(model.parameters.map(\.tensor)), what: "weights before evaluation")
        let prompts = try testPrompts(rows: rows, builder: builder, dataset: dataset, prompt: prompt)
        let decoding = try decoding(builder: builder, dataset: dataset, tokens: tokens, firstID: firstID, rows: rows,
                                    assistantDistributions: assistantDistributions)

        let journal = PredictionJournal(url: output.appendingPathExtension("partial"))
        let loaded = comm.isParallel ? try Self.decodeRows(comm.broadcast(comm.isRoot ? try Self.encodeRows(journal.load()) : []))
                                     : journal.load()
        var done = loaded.filter { $0.key < rows.count }
        if !done.isEmpty { log("  evaluation: resuming, \(done.count) of \(rows.count) rows found in \(journal.url.lastPathComponent)") }
        let todo = rows.indices.filter { done[$0] == nil }.sorted { (prompts[$0].count, $0) < (prompts[$1].count, $1) }

        let (batch, lanes) = evalBatching
        // Title histories can exceed the training cut (long titles): the cache takes the longest
        // prompt whole rather than cutting a test row's prompt (SID prompts stay under maxLength).
        let capacity = max(config.maxLength, prompts.map(\.count).max() ?? 0)
        // the template text every prompt begins with runs once, not once per prompt
        let shared = evalSharesPromptPrefix ? SharedPrefix.commonTokens(of: prompts) : []
        if !shared.isEmpty { log("  evaluation: the first \(shared.count) prompt tokens are common to every row: computed once") }
        // one scorer (KV cache) per lane; the model's weights are only read
        if lanes > 1 { log("  evaluation: \(lanes) batches of \(batch) prompts side by side (one core each)") }
        var scorers = (0 ..< lanes).map { _ in
            var scorer = LlamaBeamScorer(model: model, promptCapacity: capacity, depth: decoding.depth,
                                         width: decoding.width, maxPrompts: batch, sharedPrefix: shared)
            scorer.forcesPaths = evalForcesPaths
            return scorer
        }
        let progress = comm.isRoot ? ProgressBar(total: todo.count, label: "beam search")
            : ProgressBar(total: todo.count, label: "beam search", isTTY: false, now: { 0 }, write: { _ in })
        // Users with the same history have the same prompt and so the same ranking: each distinct
        // prompt is decoded once (its first row), and its other rows take that ranking.
        // (With an assistant, the item histories too: items sharing a title give one prompt.)
        var firstRowOf: [[Int]: Int] = [:], sameAs: [Int: [Int]] = [:], distinct: [Int] = []
        for i in todo {
            let key = config.assistant == nil ? prompts[i] : prompts[i] + [-1] + rows[i].historyItemIDs
            if let first = firstRowOf[key] { sameAs[first, default: []].append(i) } else { firstRowOf[key] = i; distinct.append(i) }
        }
        if distinct.count < todo.count { log("  evaluation: \(todo.count - distinct.count) rows repeat an earlier row's prompt: decoded once") }
        let chunks = stride(from: 0, to: distinct.count, by: batch).map { Array(distinct[$0 ..< min($0 + batch, distinct.count)]) }
        // the weights are only read: bf16 copies (if any) made once for the whole evaluation
        try BF16Matmul.withFixedWeights(model.parameters.map(\.tensor)) {
            for round in stride(from: 0, to: chunks.count, by: comm.size * lanes) {
                var made: [Int: Prediction] = [:]
                let mine = Array(chunks[Self.batches(ofRound: round, rank: comm.rank, lanes: lanes, count: chunks.count)])
                let ranked = try scorers.withUnsafeMutableBufferPointer { scorers in      // lane k: scorers[k] alone
                    try Lanes.run(mine.count) { k in try decoding.search(&scorers[k], mine[k].map { prompts[$0] }, mine[k]) }
                }
                for (chunk, ranked) in zip(mine, ranked) {
                    for (i, decoded) in zip(chunk, ranked) {
                        for j in [i] + sameAs[i, default: []] {
                            made[j] = decoded.prediction(for: rows[j], dataset: dataset, limit: config.beamWidth)
                        }
                    }
                }
                if comm.isParallel {
                    made = try comm.allGather(Self.encodeRows(made)).reduce(into: [:]) { all, bytes in
                        all.merge(try Self.decodeRows(bytes)) { a, _ in a }
                    }
                }
                if comm.isRoot {
                    try journal.append(made.sorted { $0.key < $1.key }.map { (row: $0.key, prediction: $0.value) })
                    if let spent { try journal.recordSeconds(spent()) }
                }
                for (row, prediction) in made { done[row] = prediction }
                progress.advance(by: made.count)
            }
        }
        progress.finish()
        return rows.indices.map { done[$0]! }
    }

    /// The batches rank `rank` decodes, one per lane, in the evaluation round that starts at batch
    /// `round` (rounds of ranks × lanes batches; the last may be short): `[≤ lanes]` indices.
    static func batches(ofRound round: Int, rank: Int, lanes: Int, count: Int) -> Range<Int> {
        let first = min(round + rank * lanes, count)
        return first ..< min(first + lanes, count)
    }

    /// `[rows.count][items]`: each evaluated row's distribution over the catalogue under the
    /// assistant's ID-based model, trained as its Table-2 row (same profile budget and seed;
    /// `BaselineSuite.distributions`). `rows` must be the first rows of the test split or of the
    /// validation split (`tunedAssistant`). Under mpirun rank 0 alone trains the ID model and
    /// every rank receives its distributions, so all ranks decode with one model.
    func assistantDistributions(_ a: DecodingAssistant, dataset: Dataset, rows: [SplitRow]) throws -> [[Float]] {
        let mine = communicator.isRoot ? try assistantDistributionsHere(a, dataset: dataset, rows: rows) : []
        guard communicator.isParallel else { return mine }
        let bytes = communicator.broadcast(mine.flatMap { $0 }.withUnsafeBytes { Array($0) })
        var flat = [Float](repeating: 0, count: bytes.count / MemoryLayout<Float>.stride)
        flat.withUnsafeMutableBytes { $0.copyBytes(from: bytes) }
        let items = dataset.index.count
        precondition(flat.count == rows.count * items, "assistant: \(flat.count) floats received for \(rows.count) rows of \(items) items")
        return (0 ..< rows.count).map { Array(flat[$0 * items ..< ($0 + 1) * items]) }
    }

    /// `assistantDistributions` computed in this process.
    func assistantDistributionsHere(_ a: DecodingAssistant, dataset: Dataset, rows: [SplitRow]) throws -> [[Float]] {
        let data = try RecData(dataset)
        let budget = BaselineBudget.of(config.profile)
        let cut = data.prefix(train: budget.trainRows, valid: budget.validRows, test: budget.testRows)
        func isPrefix(of samples: [RecSample]) -> Bool {
            samples.count >= rows.count && zip(rows, samples).allSatisfy { $0.userID == $1.userID && $0.targetItemID == $1.target }
        }
        let split: KeyPath<RecData, [RecSample]>
        if isPrefix(of: cut.test) { split = \.test } else if isPrefix(of: cut.valid) { split = \.valid } else {
            throw TSRecError(.config(field: "assistant", reason: "the \(rows.count) evaluated rows are not the first rows of the test or validation split within the baselines' \(config.profile.rawValue) budget"),
                             hint: "evaluate at most \(cut.test.count) test rows (--test-rows) and tune on at most \(cut.valid.count) validation rows (--tune-rows)")
        }
        let records = paths.records?.appendingPathComponent(config.profile.rawValue).appendingPathComponent("runs")
        return Array(try BaselineSuite.distributions(a.model, of: split, data: data, budget: budget, seed: config.seed,
                                                     runsDirectory: paths.runs, recordsDirectory: records, log: log).prefix(rows.count))
    }

    /// How the test rows are decoded (`config.evaluation`): the search over one batch of prompts,
    /// giving each prompt's ranked SIDs, and what the cache must hold for it.
    struct Decoding {
        /// Tokens a search generates at most.
        var depth: Int
        /// Live beams per prompt.
        var width: Int
        /// (scorer, a batch's prompts, their indices in the evaluated rows) → each prompt's ranking.
        var search: (inout LlamaBeamScorer, _ prompts: [[Int]], _ rows: [Int]) throws -> [Decoded]
    }

    /// One prompt's ranking, and the text it generated when the mode grounds one (BIGRec).
    struct Decoded {
        enum Ranking {
            /// Ranked SIDs (the SID trie, position-wise codes).
            case sids([String])
            /// Per rank the catalogue items it names (a title's items; BIGRec: one item each),
            /// which become each row's SIDs by the title-level hit rule (`titleLevelSIDs`).
            case titles([[Int]])
        }
        var ranking: Ranking
        var generated: String? = nil

        /// The prediction `row` is scored on: its ranked SIDs (at most `limit` for title rankings,
        /// with their title misses).
        func prediction(for row: SplitRow, dataset: Dataset, limit: Int) -> Prediction {
            let (sids, misses): ([String], [Int]) = switch ranking {
            case let .sids(sids): (sids, [])
            case let .titles(ranks): Pipeline.titleLevelSIDs(ranks, row: row, dataset: dataset, limit: limit)
            }
            return Prediction(user: row.userID, target: row.targetSID, ranked: sids, generated: generated,
                              titleMisses: misses.isEmpty ? nil : misses)
        }
    }

    /// The decoding of `config.evaluation` (default: the SID trie) for this dataset and vocabulary,
    /// over `rows` (what an assistant needs per row; empty: `depth` and `width` only, no search).
    /// `assistantDistributions`: gives the rows' distributions when the caller holds them (they
    /// are asked for only when rows remain to decode); nil: computed here.
    func decoding(builder: SFTSampleBuilder, dataset: Dataset, tokens: [String], firstID: Int, rows: [SplitRow] = [],
                  assistantDistributions: (() throws -> [[Float]])? = nil) throws -> Decoding {
        if config.assistant != nil { try checkAssistantDecoding() }
        // The trie holds what decoding must generate: each SID's tokens, then (the authors' format)
        // "\n" and EOS, whose log-probabilities enter the beam scores too.
        let (trie, _, sidOf) = Self.decodingTrie(builder: builder, dataset: dataset, tokens: tokens, firstID: firstID)
        // The other modes (issue #19): their constraint, and how a beam becomes ranked SIDs.
        let mode = config.evaluation ?? .sidTrie
        var search: (inout LlamaBeamScorer, [[Int]], [Int]) throws -> [Decoded] = { scorer, chunk, _ in
            try beamSearch(&scorer, trie: trie, prompts: chunk, width: config.beamWidth).map { Decoded(ranking: .sids($0.map { sidOf[$0.tokens]! })) }
        }
        var depth = trie.uniformLength ?? 3
        var width = config.beamWidth           // beams per prompt the cache must hold
        switch mode {
        case .sidTrie: break
        case let .titleTrie(lengthPenalty):
            guard let recipe = config.recipe else {
                throw TSRecError(.config(field: "evaluation", reason: "the title trie needs a title recipe (its prompt and answer)"),
                                 hint: "set recipe, e.g. SFTRecipe.d3 (Method D3)")
            }
            let titles = try TitleCompletions(completions: dataset.items.prefix(dataset.index.count).map {
                try builder.titleCompletion($0.title, recipe: recipe).map(Int.init)
            })
            depth = titles.trie.maxLength
            log("  evaluation: title trie, \(titles.count) distinct completions of \(dataset.index.count) items, up to \(depth) tokens, length penalty \(lengthPenalty)")
            // D3's assistant: each row's distribution over the items from the ID-based model
            var guided: (assistant: TitleAssistant, weight: Double, distributions: [[Float]])?
            if let a = config.assistant, !rows.isEmpty {
                let distributions = try assistantDistributions?() ?? self.assistantDistributions(a, dataset: dataset, rows: rows)
                precondition(distributions.count == rows.count, "assistant: \(distributions.count) distributions for \(rows.count) rows")
                guided = (TitleAssistant(titles: titles), a.weight, distributions)
                log("  evaluation: \(a.model.rawValue)'s distributions mixed in with weight g = \(a.weight) on the LLM (D3's text-free assistant)")
            }
            search = { scorer, chunk, chunkRows in
                try constrainedBeamSearch(&scorer, constraint: titles.trie, prompts: chunk, width: config.beamWidth, lengthPenalty: lengthPenalty,
                                          guide: guided.map { g in g.assistant.guide(weight: g.weight, probabilities: chunkRows.map { g.distributions[$0] }) })
                    .map { hyps in Decoded(ranking: .titles(titles.rankedGroups(hyps))) }
            }
        case let .grounded(beams, maxNewTokens, lengthPenalty):
            guard config.recipe != nil else {
                throw TSRecError(.config(field: "evaluation", reason: "grounding needs a title recipe (its prompt)"),
                                 hint: "set recipe, e.g. SFTRecipe.bigrec() (Method BIGRec)")
            }
            // BIGRec embeds with the backbone as pretrained, not the fine-tuned weights (docs/llm-baselines.md §2.3).
            let gguf = try GGUFFile(contentsOf: try ModelStore(paths: paths).smolLM2())
            let pretrained = try Llama.load(gguf: gguf, layers: config.backboneLayers)
            // BIGRec's tokenizer throughout: the backbone's, without the SID tokens. Generation is
            // confined to ids below them, and a generated "<a_12>" spelled in ordinary pieces stays
            // ordinary ids the pretrained model has when it is encoded again to be embedded.
            let plain = try BPETokenizer(gguf: gguf)
            let items = Array(dataset.items.prefix(dataset.index.count))
            let grounding = TitleGrounding(model: pretrained, titles: items.map {
                plain.encode(TitleGrounding.normaliseTitle($0.title)).map(Int32.init)
            })
            let generation = FreeGeneration(vocabulary: firstID, eos: Int(builder.endToken), maxLength: maxNewTokens)
            depth = maxNewTokens
            log("  evaluation: free generation (\(beams) beams, ≤ \(maxNewTokens) tokens, length penalty \(lengthPenalty) over prompt + answer), "
                + "top-1 grounded on \(grounding.itemCount) item titles with the pretrained backbone")
            search = { scorer, chunk, _ in
                // lengths as BIGRec's transformers (4.28-4.31) count them: the prompt too, EOS not
                try constrainedBeamSearch(&scorer, constraint: generation, prompts: chunk, width: beams, lengthPenalty: lengthPenalty,
                                          stopping: .huggingFace, penalisedLength: .promptAndGeneratedBeforeEOS(eos: generation.eos)).map { hyps in
                    let text = Self.generatedText(hyps.first?.tokens ?? [], eos: generation.eos, tokenizer: plain)
                    let query = TitleGrounding.embed(model: pretrained, [plain.encode(TitleGrounding.normaliseGenerated(text)).map(Int32.init)])
                    return Decoded(ranking: .titles(grounding.rank(query).prefix(config.beamWidth).map { [$0] }), generated: text)
                }
            }
            width = beams
        case .positionwiseCodes:
            let idOf = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, firstID + $0) })
            let sids = Set(dataset.index.sids).sorted().map { SID.tokens($0)!.map { idOf[$0]! } }
            // what follows a SID in training: the built-in tasks' "\n" + EOS, a recipe's EOS (LC-Rec)
            let trained = config.recipe == nil ? builder.decodedSequence(sid: []) : []
            let ending = trained.isEmpty ? [Int(builder.endToken)] : trained
            let codes = PositionwiseCodes(sids: sids, ending: ending)
            depth = codes.maxLength
            log("  evaluation: position-wise codes, \(codes.reachableCount) reachable SIDs for \(codes.catalogue.count) catalogue SIDs")
            search = { scorer, chunk, _ in
                try constrainedBeamSearch(&scorer, constraint: codes, prompts: chunk, width: config.beamWidth).map { hyps in
                    Decoded(ranking: .sids(hyps.map { h in h.tokens.prefix(codes.levels.count).map { tokens[$0 - firstID] }.joined() }))
                }
            }
        }
        return Decoding(depth: depth, width: width, search: search)
    }

    /// The test rows' prompt token ids: the evaluation wording of the next-item question, or a
    /// recipe's test prompt `prompt` (`SFTRecipe.testPrompts`: its main task's first template
    /// unless it names one, or with `.everyTemplate` template `prompt`; every decoding mode).
    func testPrompts(rows: [SplitRow], builder: SFTSampleBuilder, dataset: Dataset, prompt: Int = 0) throws -> [[Int]] {
        if let recipe = config.recipe {
            let templates = try recipe.testPrompts(config.testPrompts)
            precondition(templates.indices.contains(prompt), "testPrompts: prompt \(prompt) of \(templates.count)")
            let category = dataset.benchmark.categoryPhrase
            return try rows.map { try builder.promptIDs(templates[prompt], values: recipe.values($0, category: category)).map(Int.init) }
        }
        precondition(prompt == 0, "testPrompts: the evaluation wording is one prompt")
        let query: ([String]) -> Prompt = { config.promptFormat == .alpaca ? .nextItemQuery(history: $0) : .nextItem(history: $0) }
        return rows.map { builder.promptIDs(query($0.historySIDs)).map(Int.init) }
    }

    /// A generated sequence as text: up to its first EOS, special tokens skipped (what BIGRec's
    /// `batch_decode(skip_special_tokens=True)` keeps after the response header; the prompt is not
    /// part of the sequence here).
    static func generatedText(_ tokens: [Int], eos: Int, tokenizer: BPETokenizer) -> String {
        tokenizer.decode(Array(tokens.prefix { $0 != eos }), skipSpecial: true)
    }

    /// A title row's ranking as the SIDs `row` is scored on, by the originals' title-level hit
    /// rule (D3 `code/calc.py`: a generated title hits when it is the target's title, each beam one
    /// rank; BIGRec `data/*/evaluate.py`: the best rank of an item with the target's title, each
    /// item one rank): a rank whose items have the target's title stands for the target's SID,
    /// any other for its first item's SID. So a title shared by several items takes one rank,
    /// never several (tsrec expanded it into its items' SIDs until session 25), and hits for each
    /// of them. A rank of another title whose SID is the target's (items of different titles that
    /// share a SID) is listed in `misses`: the title decides, never the SID (session 27). At most
    /// `limit` ranks.
    static func titleLevelSIDs(_ ranks: [[Int]], row: SplitRow, dataset: Dataset, limit: Int) -> (sids: [String], misses: [Int]) {
        let title = dataset.items[row.targetItemID].title
        var sids: [String] = [], misses: [Int] = []
        for (rank, items) in ranks.prefix(limit).enumerated() {
            if dataset.items[items[0]].title == title {
                sids.append(row.targetSID)
            } else {
                let sid = dataset.index.sid(of: items[0])
                if sid == row.targetSID { misses.append(rank) }
                sids.append(sid)
            }
        }
        return (sids, misses)
    }

    /// Row-indexed predictions as bytes for the ranks' exchange (JSON of `[row, prediction]` pairs).
    static func encodeRows(_ rows: [Int: Prediction]) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(rows.sorted { $0.key < $1.key }.map { RowPrediction(row: $0.key, prediction: $0.value) }))
    }

    static func decodeRows(_ bytes: [UInt8]) throws -> [Int: Prediction] {
        let pairs = try JSONDecoder().decode([RowPrediction].self, from: Data(bytes))
        return Dictionary(pairs.map { ($0.row, $0.prediction) }, uniquingKeysWith: { a, _ in a })
    }

    struct RowPrediction: Codable { var row: Int; var prediction: Prediction }
}
