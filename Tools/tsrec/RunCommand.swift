import ArgumentParser
import Foundation
import TSRec

/// One method on one dataset under a profile, with optional overrides of the budget:
/// what a reproduction does for each of its rows, exposed for exploration.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train and evaluate one method (resumes; reuses a finished run with the same configuration).",
        discussion: """
        TS-Rec and MiniOneRec are SFT followed by the RL stage (GRPO), as in the paper; TS-Rec-SFT and \
        MiniOneRec-SFT stop after SFT. Until the RL stage existed, `--method TS-Rec` named the SFT-only run: \
        that run is TS-Rec-SFT now (same configuration, same run folder, nothing retrains), and \
        `--method TS-Rec --sft-only` is the same run. Method names are matched case-insensitively, \
        with `_` or spaces for `-`.
        """)

    @Option(help: "Dataset (Industrial_and_Scientific or Office_Products, or an alias).")
    var dataset = "Industrial_and_Scientific"
    @Option(help: "Method: \(Method.allCases.map(\.rawValue).joined(separator: ", ")) (TS-Rec and MiniOneRec include the RL stage).")
    var method = Method.tsrec.rawValue
    @Option(help: "Profile: smoke, quick or paper.")
    var profile = "quick"
    @Option(help: "Keep only the first N backbone layers.") var layers: Int?
    @Option(help: "Override the number of optimizer steps.") var steps: Int?
    @Option(help: "Override the effective batch (sequences per step).") var batch: Int?
    @Option(help: "Evaluate on the first N test rows.") var testRows: Int?
    @Option(help: "Use the first N train rows.") var trainRows: Int?
    @Option(help: "Beam width.") var beam: Int?
    @Option(help: "Seed.") var seed: UInt64?
    @Option(help: "RL stage: override the number of optimizer steps.") var rlSteps: Int?
    @Option(help: "RL stage: override the prompts per optimizer step.") var rlPrompts: Int?
    @Option(help: "Decoding at evaluation: sid (the catalogue's SID trie), title (D3's title trie), codes (LC-Rec's position-wise codes), grounded (BIGRec's free generation, top-1 grounded on the catalogue's titles); default: the method's. Not part of the training hash: a finished run is re-evaluated.")
    var decoding: String?
    @Option(help: "Length penalty of --decoding title or grounded (Hugging Face's score / length^lp; D3's method script: 0; BIGRec: HF's default 1).")
    var lengthPenalty: Double?
    @Option(help: "Matrix products: fp32 (OpenBLAS, the reference; default) or bf16 (bf16 operands, fp32 accumulation, on oneDNN; opt-in, part of the training hash).")
    var precision: String?
    @Option(help: "Warm-up ramp of every training stage: from-first-update (step s of W at (s+1)/W; the default of quick and smoke) or hugging-face (s/W, the authors' trainers; the default of paper). Part of the training hash.")
    var warmup: String?
    @Option(help: "D3's text-free assistant: each test row's SASRec distribution (SASRec trained as its Table-2 row) mixed into the title-trie search as g·log p_LLM + (1−g)·log q, with 0 ≤ g ≤ 1 (D3's default 1 is the assistant off), or `tune`: g chosen on validation rows (best NDCG@10 over 1, 0.8, …, 0). A labelled evaluation variant, not part of the training hash: a finished run is re-evaluated.")
    var assistantG: String?
    @Option(help: "Validation rows that --assistant-g tune decodes for each g.") var tuneRows = 512
    @Option(help: "Test prompts of a recipe's rows: first (the recipe's test prompt) or every-template (each template of its main task, one predictions file each, the metrics their mean; LC-Rec's scripts, and its default here). Not part of the training hash: a finished run is re-evaluated.")
    var testPrompts: String?
    @Flag(help: "Stop after SFT (the method's SFT-only run, e.g. TS-Rec → TS-Rec-SFT).") var sftOnly = false
    @Flag(help: "Train (or resume) only, the RL stage included; evaluate in a later call.") var trainOnly = false

    func run() throws {
        print(BLAS.summary)
        guard var m = Method.named(method) else {
            throw ValidationError("unknown method '\(method)'; one of \(Method.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let p = Profile(rawValue: profile) else { throw ValidationError("unknown profile '\(profile)'") }
        guard let benchmark = Benchmark.named(dataset) else { throw ValidationError("unknown dataset '\(dataset)'") }
        if sftOnly { m = m.sftStage }
        var config = ExperimentConfig.profile(p, dataset: benchmark.name).applying(m)
        if let rlSteps { config.rl?.maxSteps = rlSteps }
        if let rlPrompts, var rl = config.rl {
            rl.promptsPerStep = rlPrompts
            rl.promptsPerMicroBatch = min(rl.promptsPerMicroBatch, rlPrompts)
            config.rl = rl
        }
        if m.hasRL { print("\(m.rawValue): SFT, then the RL stage (the SFT-only run is \(m.sftStage.rawValue); --sft-only stops there)") }
        if let layers { config.backboneLayers = layers }
        if let steps { config.maxSteps = steps }
        if let batch { config.effectiveBatch = batch; config.microBatch = min(config.microBatch, batch) }
        if let testRows { config.testRows = testRows }
        if let trainRows { config.trainRows = trainRows }
        if let beam { config.beamWidth = beam }
        if let seed { config.seed = seed }
        if let precision {
            guard let p = MatmulPrecision(rawValue: precision) else { throw ValidationError("unknown precision '\(precision)'; fp32 or bf16") }
            config.matmulPrecision = p == .fp32 ? nil : p     // fp32 is the default: the same hash
        }
        if let warmup {
            guard let w = LRSchedule.Warmup(rawValue: warmup) else {
                throw ValidationError("unknown warm-up '\(warmup)'; one of \(LRSchedule.Warmup.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let rule: LRSchedule.Warmup? = w == .fromFirstUpdate ? nil : w   // nil is from-first-update: the same hash
            config.warmupRule = rule
            config.rl?.warmupRule = rule
            config.preference?.warmupRule = rule
        }
        switch decoding {
        case nil: break
        case "sid": config.evaluation = .sidTrie
        case "title": config.evaluation = .titleTrie(lengthPenalty: lengthPenalty ?? 0)
        case "codes": config.evaluation = .positionwiseCodes
        case "grounded": config.evaluation = .bigrec
        case let other?: throw ValidationError("unknown decoding '\(other)'; one of sid, title, codes, grounded")
        }
        if let lengthPenalty {
            switch config.evaluation {
            case .titleTrie: config.evaluation = .titleTrie(lengthPenalty: lengthPenalty)
            case let .grounded(w, t, _): config.evaluation = .grounded(width: w, maxNewTokens: t, lengthPenalty: lengthPenalty)
            default: throw ValidationError("--length-penalty applies to --decoding title or grounded only")
            }
        }
        if let testPrompts {
            guard let mode = TestPrompts(rawValue: testPrompts) else {
                throw ValidationError("unknown test prompts '\(testPrompts)'; one of \(TestPrompts.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            config.testPrompts = mode == .first ? nil : mode          // first is the default: the same files
        }
        if let assistantG {
            guard case .titleTrie = config.evaluation else {
                throw ValidationError("--assistant-g guides the title trie: use it with D3 or S-DPO (or --decoding title)")
            }
            let g: Double
            if assistantG == "tune" {
                g = try Pipeline(config, label: m.rawValue).tunedAssistant(validRows: tuneRows).best
            } else {
                guard let value = Double(assistantG), (0...1).contains(value) else {
                    throw ValidationError("--assistant-g \(assistantG): g is the LLM's weight, a number in [0, 1], or tune")
                }
                g = value
            }
            config.assistant = g == 1 ? nil : DecodingAssistant(model: .sasrec, weight: g)   // g = 1 is the plain search
        }
        let pipeline = Pipeline(config, label: m.rawValue + (config.assistant.map { " (\($0.label))" } ?? "")
                                    + (testPrompts == TestPrompts.first.rawValue && m == .lcrec ? " (template 0)" : ""))
        if trainOnly {
            let summary = try pipeline.trainOnly()
            guard pipeline.communicator.isRoot else { return }
            print("trained: \(summary.steps) steps, best validation loss \(summary.bestValidLoss.map { String(format: "%.4f", $0) } ?? "-")")
            return
        }
        let result = try pipeline.run()
        guard pipeline.communicator.isRoot else { return }     // under mpirun: rank 0 reports
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var r = result
        r.validCurve = []
        print(String(decoding: try encoder.encode(r), as: UTF8.self))
    }
}
