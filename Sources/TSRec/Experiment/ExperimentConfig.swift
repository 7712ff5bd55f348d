/// The one configuration of a training + evaluation run. An ablation is a value of this type,
/// never a fork of the code: `ExperimentConfig.profile(.quick, dataset:).applying(.noSAInit)`.
///
/// Paper defaults (upstream recipe, METHOD.md) are the `paper` profile; `quick` and `smoke`
/// shrink the budget and say so in every output through `profile` and the run hash.
public struct ExperimentConfig: Codable, Sendable, Hashable {
    /// Benchmark name, e.g. `Industrial_and_Scientific`.
    public var dataset: String
    /// Which budget this is (recorded in every output row).
    public var profile: Profile
    /// Root seed; every random stream is forked from it in a fixed order.
    public var seed: UInt64 = 42

    // MARK: Backbone
    /// Keep only the first N pretrained layers (nil = all 30). Logged; smoke runs use it.
    public var backboneLayers: Int? = nil

    // MARK: Data budget
    /// Use only the first N train rows (nil = all). The first N in time order, so still a real prefix.
    public var trainRows: Int? = nil
    /// Evaluate on the first N test rows (nil = all).
    public var testRows: Int? = nil
    /// Validation rows used for the validation loss (nil = all).
    public var validRows: Int? = 512

    // MARK: Tasks (METHOD.md "Training tasks")
    @SortedOnEncode public var tasks: Set<SFTTask> = [.nextItem, .itemAlignment, .fusion]
    /// A recipe written as templates (the LLM baselines, `SFTRecipe`): when set, it replaces
    /// `tasks`, which must then be empty, and validation follows its main task. nil (absent from
    /// the JSON): the built-in tasks, so earlier configurations hash as before.
    public var recipe: SFTRecipe? = nil

    // MARK: SID token initialisation (SA-Init when `.keywords`)
    public var sidInit: SIDInit = .meanResize
    /// Levels whose tokens get `sidInit` (the others keep the framework's `.meanResize`): "a", "ab" or "abc".
    public var sidInitLevels: String = "abc"
    /// Standard deviation of `.random` rows, as a multiple of the pretrained rows' mean RMS entry.
    public var randomInitScale: Float = 1
    /// Keywords and descriptions for SA-Init and TS-Align. nil: the dataset's own file when it
    /// ships one, else tsrec's teacher. (Optional so that configurations that leave it unset
    /// encode, and hash, exactly as before the field existed.)
    public var keywordSource: KeywordSource? = nil

    // MARK: Optimisation (upstream: AdamW, lr 3e-4, 20 warm-up steps, linear decay)
    public var learningRate: Float = 3e-4
    public var warmupSteps: Int = 20
    /// Warm-up as a fraction of the run's optimizer steps: ceil(ratio × total steps), as HF reads
    /// `warmup_ratio` (LC-Rec's `paper` schedule); replaces `warmupSteps` when set. nil (absent
    /// from the JSON): `warmupSteps`, so earlier configurations hash as before.
    public var warmupRatio: Double? = nil
    /// The decay after warm-up (`Trainer.lrSchedule`). nil (absent from the JSON, so earlier
    /// configurations hash as before): `.linear`, the upstream recipe.
    public var lrSchedule: LRSchedule.Kind? = nil
    /// Where the warm-up ramp starts (`LRSchedule.Warmup`). nil (absent from the JSON, so
    /// earlier configurations hash as before): `.fromFirstUpdate`, the rule of every committed
    /// `quick` run; `paper` sets `.huggingFace`, the authors' trainers' rule.
    public var warmupRule: LRSchedule.Warmup? = nil
    public var weightDecay: Float = 0
    public var gradClip: Float = 1
    /// Sequences per optimizer step (upstream 1024).
    public var effectiveBatch: Int = 1024
    /// Sequences per forward/backward (gradient accumulation fills `effectiveBatch`).
    public var microBatch: Int = 16
    /// Upper bound on optimizer steps (nil = `epochs` worth).
    public var maxSteps: Int? = nil
    public var epochs: Int = 10
    /// Validation loss every N optimizer steps; early stop after `patience` evaluations without improvement.
    public var evalInterval: Int = 10
    public var patience: Int = 3
    public var maxLength: Int = 512
    /// Validation every ceil(fraction × total optimizer steps) instead of `evalInterval`: the
    /// authors pass HF `eval_steps=0.05`, a ratio of the whole run's steps (`paper`).
    public var evalStepsFraction: Double? = nil
    /// How the token losses of one optimizer step are averaged.
    public var lossAveraging: LossAveraging = .responseTokens
    /// Prompt format, answer endings and sample sets (the authors' by default).
    public var promptFormat: PromptFormat = .alpaca
    /// Checkpoint every N optimizer steps.
    public var checkpointInterval: Int = 5
    /// Precision of the matrix products in every stage of the run (nil: fp32 on OpenBLAS, the
    /// reference; absent from the JSON when nil, so earlier configurations hash as before).
    /// `.bf16`: both operands rounded to bfloat16 on oneDNN (`BF16Matmul`), opt-in; part of the
    /// training hash, since it changes the weights.
    public var matmulPrecision: MatmulPrecision? = nil

    // MARK: Evaluation
    public var beamWidth: Int = 20
    /// What the search decodes and how hypotheses become ranked SIDs (nil = `.sidTrie`, the
    /// catalogue's SIDs; absent from the JSON when nil, so older configurations hash as before).
    public var evaluation: EvaluationMode? = nil
    /// D3's text-free assistant mixed into the title-trie search (nil: off, D3's shipped setting;
    /// absent from the JSON when nil, and never part of the training hash: an evaluation of a
    /// finished run). A labelled variant: `D3 (+SASRec, g=…)`.
    public var assistant: DecodingAssistant? = nil
    /// Which prompts the test rows are asked with (nil: one, the recipe's test prompt or the
    /// evaluation wording). `.everyTemplate`: each of the recipe's main-task templates in turn,
    /// one predictions file each, and every metric the mean over them, as LC-Rec's test script
    /// reports it (`--test_prompt_ids all` in run_test.sh; test.py:53-149). Evaluation only:
    /// absent from the JSON when nil, never part of the training hash.
    public var testPrompts: TestPrompts? = nil

    // MARK: RL stage (GRPO after SFT)
    /// nil: SFT only. Set: the RL stage runs from the SFT run's best weights, in its own folder
    /// under the SFT run's, and evaluation uses the RL weights. (Optional and absent from the
    /// JSON when nil, so the SFT-only configurations hash exactly as before the field existed;
    /// the SFT run's hash never includes it, so an RL method shares its SFT run.)
    public var rl: RLConfig? = nil
    /// nil: none. Set: the preference stage (S-DPO's softmax-DPO) runs from the SFT run's best
    /// weights, like `rl` (absent from the JSON when nil; never part of the SFT run's hash).
    public var preference: PreferenceConfig? = nil

    public init(dataset: String, profile: Profile) {
        self.dataset = dataset
        self.profile = profile
    }
}

/// Named budgets. `paper` is the upstream recipe as far as this backbone allows.
public enum Profile: String, Codable, Sendable, Hashable, CaseIterable {
    /// A slice of the data and a truncated backbone: the end-to-end test in CI (minutes).
    case smoke
    /// The default of `make table2`: the full test set, a training budget for a 2-core machine.
    case quick
    /// The upstream recipe (effective batch 1024, up to 10 epochs, early stopping): days on a CPU.
    case paper
}

/// How the token losses of one optimizer step (all its micro-batches) become one number.
/// Encoded as its name ("response-tokens", "micro-batch-means", "random-group-means-8").
public enum LossAveraging: Codable, Sendable, Hashable {
    /// Mean over every response token of the step, as HF Trainer does under gradient
    /// accumulation (`num_items_in_batch`): a token weighs the same in a short or a long sample.
    case responseTokens
    /// Mean of the micro-batches' own token means (tsrec before the fidelity pass): samples in
    /// micro-batches with few response tokens (4-token SID answers) weigh more. Over tsrec's
    /// length-bucketed micro-batches every sequence weighs about the same.
    case microBatchMeans
    /// The step's sequences cut at random into groups of `size`, each group's token mean
    /// weighing 1/G: what HF Trainer before 4.46 computes for a random sampler with
    /// `per_device_train_batch_size` = `size` under gradient accumulation (LC-Rec). The groups
    /// are loss groups only: the compute micro-batches stay length-bucketed, each token carries
    /// its group's weight (`Trainer.sampleWeights`), so the gradient is the same.
    case randomGroupMeans(size: Int)

    public var name: String {
        switch self {
        case .responseTokens: "response-tokens"
        case .microBatchMeans: "micro-batch-means"
        case .randomGroupMeans(let size): "random-group-means-\(size)"
        }
    }

    public init(name: String) throws {
        let groups = "random-group-means-"
        if name == Self.responseTokens.name {
            self = .responseTokens
        } else if name == Self.microBatchMeans.name {
            self = .microBatchMeans
        } else if name.hasPrefix(groups), let size = Int(name.dropFirst(groups.count)), size > 0 {
            self = .randomGroupMeans(size: size)
        } else {
            throw TSRecError(.config(field: "lossAveraging", reason: "\"\(name)\" is not response-tokens, micro-batch-means or \(groups)N (N > 0)"),
                             hint: "fix the field in the run's config.json")
        }
    }

    public init(from decoder: any Decoder) throws { try self.init(name: try String(from: decoder)) }

    public func encode(to encoder: any Encoder) throws { try name.encode(to: encoder) }
}

/// The SFT task families of METHOD.md.
public enum SFTTask: String, Codable, Sendable, Hashable, CaseIterable, Comparable {
    case nextItem, itemAlignment, fusion, tsAlign
    public static func < (a: Self, b: Self) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
}

/// How evaluation decodes (docs/llm-baselines.md §8.4). Every mode ranks SID strings, so the
/// metrics are the same code for every row.
public enum EvaluationMode: Codable, Sendable, Hashable {
    /// The catalogue's SIDs (+ "\n" + EOS) in a trie: TS-Rec, MiniOneRec (the default).
    case sidTrie
    /// D3, S-DPO: each item's training answer (quoted title, "\n", EOS) in a trie of variable depth,
    /// Hugging Face beam semantics with this length penalty (D3's method script: 0). Each beam is
    /// one rank, a hit when its title is the target's (D3's `calc.py`; `Pipeline.titleLevelSIDs`).
    case titleTrie(lengthPenalty: Double)
    /// LC-Rec: per SID position any code seen at that level, then the trained ending. Generated
    /// SIDs that are no item's stay in the ranking (they occupy a rank and never hit).
    case positionwiseCodes
    /// BIGRec: unconstrained beam search (`width` beams, at most `maxNewTokens` tokens, this
    /// length penalty over the prompt and the answer before EOS as transformers 4.28-4.31 count
    /// them, Hugging Face's stopping rule) over the backbone's own vocabulary; the top-1
    /// text is grounded: embedded with the **pretrained** backbone like every catalogue title, and
    /// all items ranked by L2 distance (`TitleGrounding`), each item one rank, a hit when its title
    /// is the target's (BIGRec's `evaluate.py`).
    case grounded(width: Int, maxNewTokens: Int, lengthPenalty: Double)

    /// BIGRec's inference script: 4 beams, 128 new tokens, HF's default length penalty 1.
    public static let bigrec = EvaluationMode.grounded(width: 4, maxNewTokens: 128, lengthPenalty: 1)

    /// The label in file names (predictions of different modes never share a file).
    var fileTag: String {
        switch self {
        case .sidTrie: "sid"
        // "titlehits2": title-level hits (session 25) that a shared SID cannot turn into a hit (session 27)
        case let .titleTrie(lp): "title-lp\(lp)-titlehits2"
        case .positionwiseCodes: "codes"
        case let .grounded(w, t, lp): "grounded-w\(w)-t\(t)-lp\(lp)-prompt-titlehits2"   // lengths count the prompt
        }
    }
}

/// How many prompts each test row is asked with (`ExperimentConfig.testPrompts`).
public enum TestPrompts: String, Codable, Sendable, Hashable, CaseIterable {
    /// The recipe's test prompt (its main task's first template unless it names one).
    case first
    /// Every template of the recipe's main task, one predictions file each; a row's metric is
    /// its mean over them (LC-Rec's `test.py`: the mean over prompts of each prompt's mean).
    case everyTemplate = "every-template"
}

/// D3's text-free assistant (DecodingMatters `evaluate.py:38, 93-100`, `LogitProcesser.py:100-128`):
/// an ID-based model's distribution over the catalogue for each test row, trained as its Table-2
/// row is (`BaselineSuite.testDistributions`), mixed into the title-trie search as
/// `g · log p_LLM + (1 − g) · log q` (`TitleAssistant`, `TokenGuide`). D3's default g = 1 is the
/// assistant off, and its scripts set no other value: any g here is tsrec's choice, stated in the
/// row's label.
public struct DecodingAssistant: Codable, Sendable, Hashable {
    /// The ID-based model (D3: SASRec).
    public var model: BaselineMethod
    /// g, D3's `guidance_scale`: the LLM's weight, in [0, 1] (1: the assistant off).
    public var weight: Double

    public init(model: BaselineMethod = .sasrec, weight: Double) {
        (self.model, self.weight) = (model, weight)
    }

    /// The row label's suffix and the predictions file's tag.
    public var label: String { "+\(model.rawValue), g=\(weight)" }
    var fileTag: String { "\(model.rawValue.lowercased())-g\(weight)" }
}

/// How the embedding rows of new SID tokens start.
public enum SIDInit: String, Codable, Sendable, Hashable, CaseIterable {
    /// The framework's default in the authors' code: `resize_token_embeddings` with mean
    /// resizing, N(μ, 1e-9·Σ) of the pretrained rows (`MeanResizing`). MiniOneRec's start, and
    /// TS-Rec's without SA-Init.
    case meanResize = "mean-resize"
    /// What `resize_token_embeddings` gives new rows under transformers before 4.46: every
    /// entry N(0, initializer_range²) (`SIDEmbeddingInit.initializerRangeRow`; SmolLM2's
    /// initializer_range is 1/24). LC-Rec's start (its code predates `mean_resizing`).
    case initializerRange = "initializer-range"
    /// Independent Gaussian rows scaled to the pretrained rows' RMS entry (an ablation variant:
    /// the authors never use it; tsrec's MiniOneRec-SFT used it before the fidelity pass).
    case random
    /// The mean of all pretrained rows.
    case vocabMean = "vocab-mean"
    /// SA-Init: mean of the keyword tokens' rows, rescaled to the mean row norm.
    case keywords
    /// Mean over the title tokens of the token's cluster, rescaled likewise.
    case titles
}

extension ExperimentConfig {
    /// The configuration of a profile, before any method or ablation is applied.
    public static func profile(_ profile: Profile, dataset: String) -> ExperimentConfig {
        var c = ExperimentConfig(dataset: dataset, profile: profile)
        switch profile {
        case .smoke:
            c.backboneLayers = 2
            c.trainRows = 256
            c.validRows = 32
            c.testRows = 48
            c.effectiveBatch = 16
            c.microBatch = 8
            c.maxSteps = 6
            c.warmupSteps = 2
            c.evalInterval = 3
            c.checkpointInterval = 2
            c.beamWidth = 5
        case .quick:
            // METHOD.md "Scale on a CPU": 60 steps at effective batch 256 (~1 M tokens) already
            // separate MiniOneRec-SFT from TS-Rec; warm-up and lr as upstream.
            c.effectiveBatch = 256
            c.microBatch = 16
            c.maxSteps = 60
            c.validRows = 256
            c.evalInterval = 10
            c.checkpointInterval = 2
        case .paper:
            // The authors' schedule: all validation rows, every ceil(5%) of the run's steps;
            // HF's warm-up (step 0 at rate 0).
            c.validRows = nil
            c.evalStepsFraction = 0.05
            c.warmupRule = .huggingFace
        }
        return c
    }
}

/// The methods and ablations of the paper's tables, each a change to one configuration.
///
/// The raw value is the row's name in every table. `TS-Rec` and `MiniOneRec` are the paper's
/// rows: SFT then the RL stage. Before the RL stage existed (issue #18) `TS-Rec` named the
/// SFT-only run, which is `TS-Rec-SFT` now: the same configuration, so the same run folder.
public enum Method: String, Codable, Sendable, Hashable, CaseIterable {
    /// MiniOneRec-style SFT: tasks 1-3, the framework's default SID initialisation (mean resizing).
    case minionerecSFT = "MiniOneRec-SFT"
    /// MiniOneRec: MiniOneRec-SFT, then the RL stage (the authors' GRPO recipe).
    case minionerec = "MiniOneRec"
    /// TS-Rec's SFT stage alone: SA-Init (keywords, all levels) + TS-Align.
    case tsrecSFT = "TS-Rec-SFT"
    /// TS-Rec: TS-Rec-SFT, then the RL stage.
    case tsrec = "TS-Rec"
    /// TS-Rec-SFT without SA-Init: the SID rows keep the framework's default (mean resizing).
    case noSAInit = "TS-Rec w/o SA-Init"
    /// TS-Rec-SFT without TS-Align.
    case noTSAlign = "TS-Rec w/o TS-Align"
    /// D3 (issue #19): its recipe (`SFTRecipe.d3`: quoted-title history → quoted title + "\n" +
    /// EOS, response-only loss), the title trie at evaluation with length penalty 0 (its method
    /// script) and 10 beams (its evaluation script). No SID task: the SID rows of the vocabulary
    /// are added (mean resizing) but never trained or generated.
    case d3 = "D3"
    /// S-DPO (issue #19): D3's SFT run (the same configuration, so the same run), then the
    /// preference stage (softmax-DPO, β 1, 3 rejected titles per prompt; `PreferenceConfig`),
    /// evaluated with D3's title trie. Full-catalogue ranking instead of the original's
    /// 20-candidate prompt: tsrec's choice (README, *Deviations*).
    case sdpo = "S-DPO"
    /// BIGRec (issue #19): its recipe (`SFTRecipe.bigrec`: quoted-title history → quoted title +
    /// EOS, loss on the whole sequence, all train rows), evaluated by free generation and
    /// grounding with the pretrained backbone (`EvaluationMode.bigrec`). No SID task: the SID rows
    /// are added (mean resizing) but never trained or generated.
    case bigrec = "BIGRec"
    /// LC-Rec (issue #19): its recipe (`SFTRecipe.lcrec`: next SID, item ↔ SID, fusion; several
    /// templates per task), decoded with position-wise codes (`.positionwiseCodes`: invalid SIDs
    /// can be generated, ranked, and never hit). At `paper`, LC-Rec's own schedule (lr, cosine
    /// decay, warm-up ratio, weight decay, epochs, batch, validation once per epoch without early
    /// stopping); `quick` and `smoke` keep the shared budget.
    case lcrec = "LC-Rec"

    /// The method named `name`: its raw value, matched case-insensitively and with `_` or spaces
    /// accepted for `-` (`ts-rec-sft`, `TS_Rec_SFT`).
    public static func named(_ name: String) -> Method? {
        if let m = Method(rawValue: name) { return m }
        func key(_ s: String) -> String { s.lowercased().replacingOccurrences(of: "_", with: "-").replacingOccurrences(of: " ", with: "-") }
        return allCases.first { key($0.rawValue) == key(name) }
    }

    /// Whether the method ends with the RL stage.
    public var hasRL: Bool { self == .minionerec || self == .tsrec }

    /// The method's SFT stage alone (itself when it has no RL stage).
    public var sftStage: Method {
        switch self {
        case .minionerec: .minionerecSFT
        case .tsrec: .tsrecSFT
        case .sdpo: .d3
        default: self
        }
    }
}

extension ExperimentConfig {
    /// This configuration with a method's switches set; nothing else changes. The RL methods set
    /// `rl` to the profile's RL budget (`RLConfig.profile`), S-DPO `preference` likewise.
    public func applying(_ method: Method) -> ExperimentConfig {
        var c = self
        switch method {
        case .minionerecSFT:
            c.sidInit = .meanResize
            c.tasks.remove(.tsAlign)
        case .tsrecSFT:
            c.sidInit = .keywords
            c.sidInitLevels = "abc"
            c.tasks.insert(.tsAlign)
        case .minionerec, .tsrec:
            c = c.applying(method.sftStage)
            c.rl = RLConfig.profile(c.profile)
        case .noSAInit:
            c = c.applying(.tsrecSFT)
            c.sidInit = .meanResize
        case .noTSAlign:
            c = c.applying(.tsrecSFT)
            c.tasks.remove(.tsAlign)
        case .d3:
            c.sidInit = .meanResize
            c.tasks = []
            c.recipe = .d3
            c.evaluation = .titleTrie(lengthPenalty: 0)
            // D3's loss averaging: HF Trainer, micro-batches of 4 without group_by_length
            // (code/train.py:60-67, 135-150; run.sh: 8 processes), before transformers 4.46 the mean
            // of the 32 micro-batches' token means of a 128-sequence step: random groups of 4.
            c.lossAveraging = .randomGroupMeans(size: 4)
            // D3's evaluation keeps 10 beams and returns all 10 (DecodingMatters evaluate.py,
            // `num_beams=10`, `num_return_sequences=num_beams`); Table 2 reads @3, @5 and @10.
            // Evaluation only: the SFT run's hash is the same.
            c.beamWidth = min(c.beamWidth, 10)
            if c.profile == .paper {
                // D3's schedule (DecodingMatters code/train.py:60-63, 138, 144-156; docs/llm-baselines.md
                // §8): 128 sequences per step, 3 epochs, lr 3e-4 after 20 warm-up steps, linear decay
                // (HF's default); validation on every validation row once per epoch, the best kept,
                // early stop after 1 validation without improvement. `quick` and `smoke` keep the
                // LLM rows' shared budget. S-DPO's SFT stage is this run.
                c.effectiveBatch = 128
                c.epochs = 3
                c.evalStepsFraction = 1 / Double(c.epochs)
                c.patience = 1
            }
        case .sdpo:
            c = c.applying(.d3)
            c.preference = PreferenceConfig.profile(c.profile)
        case .lcrec:
            // LC-Rec's finetune.py (Nov 2023, torch 1.13.1) resizes under transformers < 4.46:
            // new rows N(0, initializer_range²), not mean-resized (docs/llm-baselines.md §13)
            c.sidInit = .initializerRange
            c.tasks = []
            c.recipe = .lcrec
            c.evaluation = .positionwiseCodes
            // LC-Rec's test asks every row with each of its seqrec templates and reports the mean
            // (run_test.sh: --test_prompt_ids all; test.py:53-149). Evaluation only.
            c.testPrompts = .everyTemplate
            // LC-Rec's loss averaging: HF Trainer (no group_by_length, so a random sampler) with 8
            // sequences per device (run.sh:14), before transformers 4.46 the mean of each
            // micro-batch's own token mean (docs/llm-baselines.md §8.11): random groups of 8.
            // The token mean of the whole step would give the next-SID task ≈ 6 % of the
            // gradient instead of ≈ 14 % (audit, session 24), and every profile trains as LC-Rec does.
            c.lossAveraging = .randomGroupMeans(size: 8)
            if c.profile == .paper {
                // LC-Rec's schedule (RUCAIBox/LC-Rec e6f1b3b3; docs/llm-baselines.md §3.3, §8.11):
                // run.sh passes lr 5e-5, 4 epochs, weight decay 0.01 and 8 sequences per device ×
                // accumulation 2 × 8 processes = 128 per step (run.sh:9, 14-18); a cosine decay with
                // warm-up ratio 0.01 are the parser defaults it keeps (utils.py:80-81). `quick` and
                // `smoke` keep the LLM rows' shared budget.
                c.learningRate = 5e-5
                c.lrSchedule = .cosine
                c.warmupRatio = 0.01
                c.weightDecay = 0.01
                c.epochs = 4
                c.effectiveBatch = 128
                // validation once per epoch, the best validation loss kept, no early stopping
                // (run.sh:19; finetune.py:64-97: load_best_model_at_end, no stopping callback): of
                // 4 validations the first always improves, so patience 4 never stops the run
                c.evalStepsFraction = 1 / Double(c.epochs)
                c.patience = c.epochs
            }
        case .bigrec:
            c.sidInit = .meanResize
            c.tasks = []
            c.recipe = .bigrec()
            // BIGRec's loss averaging: micro-batches of 4 under --group_by_length (train.py:232-258),
            // each its own token mean (transformers 4.28-4.45, the versions its pins date it to),
            // so every sequence weighs about the same; tsrec's length-bucketed micro-batches of 16
            // averaged with equal weights give that (docs/llm-baselines.md §8.10).
            c.lossAveraging = .microBatchMeans
            // smoke: 16 new tokens, since a barely trained 2-layer model rarely emits EOS and every
            // search would run to BIGRec's 128
            c.evaluation = c.profile == .smoke ? .grounded(width: 4, maxNewTokens: 16, lengthPenalty: 1) : .bigrec
        }
        return c
    }
}

/// A set that encodes as a sorted array. Swift's `Set` encodes in its hash order, which is
/// seeded per process, so two processes would write the same configuration as different JSON
/// and find different run hashes (no cache hit, no resume). Sorted, equal sets encode equally.
@propertyWrapper
public struct SortedOnEncode<Element: Hashable & Comparable & Codable & Sendable>: Codable, Hashable, Sendable {
    public var wrappedValue: Set<Element>

    public init(wrappedValue: Set<Element>) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws { wrappedValue = Set(try [Element](from: decoder)) }

    public func encode(to encoder: any Encoder) throws { try wrappedValue.sorted().encode(to: encoder) }
}
