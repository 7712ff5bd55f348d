/// The preference stage after SFT (S-DPO, issue #19): softmax-DPO over one chosen and several
/// rejected answers per prompt, against a frozen copy of the SFT weights (S-DPO's
/// `softmax_dpo.sh` / `softmax_dpo.py`, read for the facts: docs/llm-baselines.md §6). Defaults
/// are the authors' values; `profile(_:)` shrinks the budget for `quick` and `smoke`.
///
/// Every field changes the stage's weights, so all enter its hash (folder `<SFT run>/pref-<hash>/`).
public struct PreferenceConfig: Codable, Sendable, Hashable, StageBudget {
    // MARK: Loss
    /// β of the softmax-DPO loss (the script passes 1; the code's default is 0.1).
    public var beta: Float = 1
    /// Rejected answers per prompt, drawn uniformly without replacement, once, from the
    /// catalogue's distinct titles other than the target's and the history's.
    public var negatives: Int = 3
    /// Rows with a shorter history stay out of the stage's train and validation examples:
    /// S-DPO's data loader keeps rows with at least 3 history items (`sample_data/lastfm_data.py:81`,
    /// session 24's audit). nil: every row. (The test rows are every method's.)
    public var minHistory: Int? = 3
    /// Longer prompts keep their last tokens (the authors' max prompt length, 512).
    public var maxPromptLength: Int = 512

    // MARK: Optimisation (paged AdamW 32-bit in the original: the same update)
    /// Prompts per optimizer step (4 × GA 8 × 4 processes = 128).
    public var promptsPerStep: Int = 128
    /// Prompts per forward/backward; the step's gradient accumulates over them.
    public var promptsPerMicroBatch: Int = 1
    public var epochs: Int = 3
    /// Upper bound on optimizer steps (nil = `epochs` worth).
    public var maxSteps: Int? = nil
    public var learningRate: Float = 1e-5
    /// Warm-up steps = ceil(ratio × total steps), then cosine decay to 0.
    public var warmupRatio: Double = 0.05
    /// Where the warm-up ramp starts. nil (absent from the JSON, so earlier stages hash as
    /// before): `.fromFirstUpdate`; `paper` sets HF's `.huggingFace` (S-DPO's trainer).
    public var warmupRule: LRSchedule.Warmup? = nil
    public var weightDecay: Float = 0
    public var gradClip: Float = 0.3

    // MARK: Validation (keeps the best weights: `load_best_model_at_end` on the validation loss)
    /// Validation rows scored for the validation loss (nil = all; the original keeps 2,000).
    public var validRows: Int? = 2000
    /// Validation every N optimizer steps, or every ceil(fraction × total) when the fraction is set.
    public var evalInterval: Int = 10
    public var evalStepsFraction: Double? = 0.1
    /// Checkpoint every N optimizer steps.
    public var checkpointInterval: Int = 5

    public init() {}

    /// Whether a row enters the stage's examples (`minHistory`).
    public func admits(_ row: SplitRow) -> Bool { row.historyItemIDs.count >= (minHistory ?? 0) }

    /// The stage's budget per profile; the loss and schedule are the same in all.
    public static func profile(_ profile: Profile) -> PreferenceConfig {
        var c = PreferenceConfig()
        switch profile {
        case .smoke:
            c.promptsPerStep = 2
            c.maxSteps = 3
            c.validRows = 8
            c.evalStepsFraction = nil
            c.evalInterval = 2
            c.checkpointInterval = 2
        case .quick:
            // A small budget in the spirit of the RL stage's, validated on the first 128 validation
            // rows; set before measuring. Measured (session 31, README S-DPO row): 29 s a step, the
            // validation loss best after step 30 and above the start from step 60 on.
            c.promptsPerStep = 8
            c.maxSteps = 120
            c.validRows = 128
            c.evalStepsFraction = nil
            c.evalInterval = 30
            c.checkpointInterval = 10
        case .paper:
            c.warmupRule = .huggingFace
        }
        return c
    }
}
