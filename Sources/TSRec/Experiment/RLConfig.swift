/// The RL stage's recipe and budget: GRPO from the SFT run's best weights, as the authors run it
/// (TS-Rec release `train/rl.py`, `scripts/rl.sh` and MiniOneRec's GRPO trainer, read for the
/// facts; see docs/fidelity.md). Defaults are the authors' values; `profile(_:)` shrinks the
/// budget for `quick` and `smoke`.
///
/// Every field changes the RL weights, so all of them enter the RL stage's hash (its folder is
/// `<SFT run>/rl-<hash>/`). How many prompts are decoded or differentiated together is an
/// execution detail of `Trainer.reinforce`, except `promptsPerMicroBatch`, which sets the
/// summation order of the gradient.
public struct RLConfig: Codable, Sendable, Hashable {
    // MARK: Prompts
    /// Train rows sampled (without replacement, seeded) for the title-history prompts (authors: 10,000).
    public var titleHistoryRows: Int = 10_000
    /// Longer prompts keep their last tokens (the authors' trainer cuts prompts from the left at 512).
    public var maxPromptLength: Int = 512

    // MARK: Rollouts and reward
    /// Completions per prompt: constrained beam search of this width, every beam returned.
    public var completionsPerPrompt: Int = 16
    /// Weight of the k3 KL estimate to the reference model.
    public var beta: Float = 1e-3
    /// Every this many optimizer steps the reference moves toward the policy:
    /// ref ← α·π + (1 − α)·ref (trl's `SyncRefModelCallback` defaults: 512, α = 0.6).
    public var refSyncSteps: Int = 512
    public var refSyncAlpha: Float = 0.6

    // MARK: Optimisation
    /// Prompts per optimizer step (each with `completionsPerPrompt` completions); authors 64.
    public var promptsPerStep: Int = 64
    /// Prompts per forward/backward; the step's gradient accumulates over them. One prompt (with
    /// its completions) per pass: no prompt padding, the cheapest on a CPU.
    public var promptsPerMicroBatch: Int = 1
    public var epochs: Int = 2
    /// Upper bound on optimizer steps (nil = `epochs` worth).
    public var maxSteps: Int? = nil
    public var learningRate: Float = 1e-5
    /// Warm-up steps = ceil(ratio × total steps), then cosine decay to 0.
    public var warmupRatio: Double = 0.03
    /// Where the warm-up ramp starts. nil (absent from the JSON, so earlier stages hash as
    /// before): `.fromFirstUpdate`; `paper` sets trl's (HF's) `.huggingFace`.
    public var warmupRule: LRSchedule.Warmup? = nil
    public var weightDecay: Float = 0
    public var gradClip: Float = 0.3

    // MARK: Monitoring (logged; never selects weights: evaluation uses the last step's)
    /// Validation rows rolled out for the validation reward and HR@10 (nil = all).
    public var validRows: Int? = 256
    /// Validation every N optimizer steps, or every ceil(fraction × total) when the fraction is set.
    public var evalInterval: Int = 10
    public var evalStepsFraction: Double? = nil
    /// Checkpoint every N optimizer steps.
    public var checkpointInterval: Int = 5

    public init() {}

    /// The RL budget of a profile; the recipe (rewards, KL, schedule, reference sync) is the same in all.
    public static func profile(_ profile: Profile) -> RLConfig {
        var c = RLConfig()
        switch profile {
        case .smoke:
            c.promptsPerStep = 2
            c.maxSteps = 3
            c.validRows = 8
            c.evalInterval = 2
            c.checkpointInterval = 2
        case .quick:
            // Measured on the 2-core machine (README, "RL stage"): see there for the step time.
            c.promptsPerStep = 4
            c.maxSteps = 240
            c.validRows = 128
            c.evalInterval = 40
            c.checkpointInterval = 10
        case .paper:
            // The authors' run: all validation rows every ~10% of the run (their eval_steps 0.0999);
            // trl's warm-up (step 0 at rate 0).
            c.validRows = nil
            c.evalStepsFraction = 0.0999
            c.warmupRule = .huggingFace
        }
        return c
    }
}

extension RLConfig: StageBudget {}

/// The budget of a stage after SFT (the RL stage, the preference stage): prompts per step,
/// epochs, warm-up ratio and validation interval, read the way HF's trainer reads them.
public protocol StageBudget {
    var promptsPerStep: Int { get }
    var epochs: Int { get }
    var maxSteps: Int? { get }
    var learningRate: Float { get }
    var warmupRatio: Double { get }
    var warmupRule: LRSchedule.Warmup? { get }
    var evalInterval: Int { get }
    var evalStepsFraction: Double? { get }
}

extension StageBudget {
    /// Optimizer steps for `promptCount` prompts: `epochs` passes of whole steps, at most `maxSteps`.
    public func totalSteps(promptCount: Int) -> Int {
        let perEpoch = max(1, promptCount / max(1, promptsPerStep))
        return min(maxSteps ?? .max, perEpoch * epochs)
    }

    /// HF's warm-up for a ratio: ceil(ratio × total).
    public func warmupSteps(total: Int) -> Int { min(total, Int((warmupRatio * Double(total)).rounded(.up))) }

    /// The stage's rate per step over `total` steps: warm-up, then cosine decay to 0.
    public func lrSchedule(total: Int) -> LRSchedule {
        LRSchedule(warmupSteps: warmupSteps(total: total), totalSteps: total, peak: learningRate, kind: .cosine,
                   warmup: warmupRule ?? .fromFirstUpdate)
    }

    /// Steps between validations.
    public func validationInterval(total: Int) -> Int {
        guard let f = evalStepsFraction else { return max(1, evalInterval) }
        return max(1, Int((f * Double(total)).rounded(.up)))
    }
}
