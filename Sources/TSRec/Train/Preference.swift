import Foundation

/// One preference prompt as the stage consumes it: the prompt's ids and its answers' ids, the
/// chosen answer first (each answer as trained: text, suffix, EOS).
public struct PreferenceExample: Sendable, Hashable {
    public var prompt: [Int32]
    /// `[1 + negatives]` answers; `answers[0]` is the chosen one.
    public var answers: [[Int32]]
    public init(prompt: [Int32], answers: [[Int32]]) {
        precondition(answers.count >= 2 && answers.allSatisfy { !$0.isEmpty }, "PreferenceExample: a chosen answer and at least one rejected")
        (self.prompt, self.answers) = (prompt, answers)
    }
}

/// One row of the preference stage's log (`train_log.csv` in its folder), one per optimizer step.
public struct PreferenceLogRow: Sendable, Codable, Equatable {
    public var step: Int
    public var epoch: Int
    /// Mean softmax-DPO loss over the step's prompts (log(1 + negatives) at the start).
    public var loss: Double
    /// Fraction of the step's prompts whose chosen answer has the largest margin Δ.
    public var chosenFirst: Double
    public var learningRate: Double
    public var gradNorm: Double
    /// Wall time of the step, its validation included.
    public var seconds: Double
    /// Validation loss when this step validated.
    public var validLoss: Double?
}

/// How a preference stage ended.
public struct PreferenceSummary: Sendable, Codable {
    public var steps: Int
    /// Summed step wall times (survives resumes).
    public var wallSeconds: Double
    public var examples: Int
    /// Validation loss of the SFT weights (log(1 + negatives): policy = reference) and the best one.
    public var bestValidLoss: Double?
    public var log: [PreferenceLogRow]
}

extension Trainer {
    /// The preference stage's random streams, forked from the seed after the SFT stage's two
    /// and the RL stage's two: the negatives' draw and the per-epoch prompt order.
    public static func preferenceStreams(seed: UInt64) -> (negatives: SplitMix64, order: SplitMix64) {
        var root = SplitMix64(seed: seed)
        for _ in 0..<4 { _ = root.fork() }
        let negatives = root.fork()
        return (negatives, root.fork())
    }

    /// Softmax-DPO from the weights in `policy` (the SFT run's best), under `config.preference`;
    /// leaves the best validation weights in `policy` (the original's `load_best_model_at_end`;
    /// the last weights when `valid` is empty). Returns nil when stopped by `stepLimitThisInvocation`.
    ///
    /// Per optimizer step: `promptsPerStep` examples in the epoch's seeded order; per micro-batch
    /// of `promptsPerMicroBatch` prompts, the reference's summed answer log-probabilities (no
    /// graph; the validation rows' computed once for the stage, the reference being frozen),
    /// then the policy's teacher-forced logits of all answers (`completionLogits`, right
    /// padding for unequal lengths) into `Tape.softmaxDPOLoss`, weighted so that the step's loss
    /// is the mean over its prompts; clip, cosine schedule with warm-up, AdamW. The reference is
    /// the SFT weights, frozen for the whole stage (never synced).
    ///
    /// Resumable: the checkpoint holds the policy, AdamW's moments, the step, epoch, cursor and
    /// the epoch's RNG state; the reference is rebuilt from `policy` as passed in (the SFT
    /// weights), so a resumed stage ends bit-identical to an uninterrupted one (tested).
    ///
    /// Data-parallel under mpirun (docs/mpi.md): every rank builds the same steps, runs its share
    /// of each step's micro-batches (`preferencePass`) and receives the summed gradient; clipping
    /// and AdamW then run identically everywhere, and the weights are compared across ranks at
    /// the start, every `parameterCheckInterval` steps and at the end.
    @discardableResult
    public func prefer(_ policy: Llama, examples: [PreferenceExample], valid: [PreferenceExample],
                       configHash: String) throws -> PreferenceSummary? {
        guard let pref = config.preference else { throw TSRecError(.config(field: "preference", reason: "no preference stage configured")) }
        guard !examples.isEmpty else { throw TSRecError(.config(field: "preference", reason: "no preference examples")) }
        guard pref.promptsPerStep > 0, pref.promptsPerMicroBatch > 0 else {
            throw TSRecError(.config(field: "preference", reason: "prompts per step and per micro-batch must be positive"))
        }
        let params = policy.parameters
        let writes = communicator.isRoot
        let log = writes ? self.log : { _ in }
        let reference = try policy.copy()                  // before any checkpoint is loaded: the SFT weights
        let total = pref.totalSteps(promptCount: examples.count)
        let schedule = pref.lrSchedule(total: total)
        let validEvery = pref.validationInterval(total: total)
        var optimizer = AdamW(learningRate: pref.learningRate, weightDecay: pref.weightDecay)

        // MARK: state: fresh, or from the last checkpoint
        let fresh = Self.freshHeader(configHash: configHash, epochRNG: Self.preferenceStreams(seed: config.seed).order)
        var (state, rows): (Checkpoint.Header, [PreferenceLogRow]) =
            try resume("preference", logPrefix: "preference", fresh: fresh, params: params, optimizer: &optimizer,
                       totalSteps: total, log: log)

        try communicator.checkSame(Self.stateHash(params, state), what: "preference weights and prompt position at step \(state.step)")

        // MARK: the loop
        var order = EpochOrder(resumingAt: state) { rng in Array(examples.indices).shuffled(using: &rng) }
        var stepsThisInvocation = 0
        var validReference: [Int: [Float]]?             // this rank's validation micro-batches: the reference's sums
        let progress = writes ? ProgressBar(total: (total - state.step) * pref.promptsPerStep, label: "preference", unit: "prompts")
            : ProgressBar(total: 1, label: "preference", isTTY: false, now: { 0 }, write: { _ in })
        while state.step < total {
            let t0 = Date()
            let batch = (0..<pref.promptsPerStep).map { _ in examples[order.next(&state)] }
            let stats = try preferencePass(policy: policy, reference: reference, batch, pref: pref, backward: true)
            let (lr, gradNorm) = try optimizerStep(params.map(\.tensor), optimizer: &optimizer, schedule: schedule, step: state.step,
                                                   maxNorm: pref.gradClip, stage: "preference")
            state.step += 1
            stepsThisInvocation += 1
            if state.step % max(1, parameterCheckInterval) == 0 {
                try communicator.checkSame(parameterHash(params.map(\.tensor)), what: "preference weights after step \(state.step)")
            }
            var row = PreferenceLogRow(step: state.step, epoch: state.epoch, loss: stats.loss, chosenFirst: stats.chosenFirst,
                                       learningRate: Double(lr), gradNorm: Double(gradNorm), seconds: 0, validLoss: nil)
            if !valid.isEmpty && (state.step % validEvery == 0 || state.step == total) {
                // the frozen reference's side of the validation rows is the same at every validation
                if validReference == nil { validReference = referenceSums(reference, valid, pref: pref) }
                let v = try preferencePass(policy: policy, reference: reference, valid, pref: pref, backward: false,
                                           referenceSums: validReference).loss
                row.validLoss = v
                if v < (state.bestValidLoss ?? .infinity) {
                    state.bestValidLoss = v
                    if writes { try Checkpoint.save(state, tensors: params.map { ($0.name, .tensor($0.tensor)) }, to: bestURL) }
                }
            }
            row.seconds = Date().timeIntervalSince(t0)
            rows.append(row)
            progress.note = String(format: "loss %.3f chosen-first %.2f", row.loss, row.chosenFirst)
            progress.advance(by: pref.promptsPerStep)
            log(String(format: "preference step %d/%d loss %.4f chosen-first %.3f lr %.2e gnorm %.3f %.1fs%@",
                       state.step, total, row.loss, row.chosenFirst, lr, gradNorm, row.seconds,
                       row.validLoss.map { String(format: " val %.4f", $0) } ?? ""))
            if state.step % max(1, pref.checkpointInterval) == 0 || state.step == total {
                state.optimizerStep = optimizer.state.step
                try saveProgress(rows, state, tensors: checkpointSources(params, optimizer))
            }
            if let limit = stepLimitThisInvocation, stepsThisInvocation >= limit, state.step < total {
                progress.finish()
                return nil
            }
        }
        progress.finish()

        // MARK: end: the best validation weights are the result
        communicator.barrier()
        if FileManager.default.fileExists(atPath: bestURL.path) {
            _ = try Checkpoint.load(bestURL, tensors: Dictionary(uniqueKeysWithValues: params.map { ($0.name, $0.tensor) }))
        }
        if writes { try Checkpoint.save(state, tensors: params.map { ($0.name, .tensor($0.tensor)) }, to: policyURL) }
        try communicator.checkSame(parameterHash(params.map(\.tensor)), what: "preference weights at the end of the stage")
        let summary = PreferenceSummary(steps: state.step, wallSeconds: rows.reduce(0) { $0 + $1.seconds }, examples: examples.count,
                                        bestValidLoss: state.bestValidLoss, log: rows)
        if writes { try AtomicFile.write(try Self.sortedJSON(summary), to: summaryURL) }
        return summary
    }

    /// The softmax-DPO loss of `batch` (mean over its prompts) and the fraction whose chosen
    /// answer ranks first; with `backward`, the gradient of that mean is left in the policy.
    ///
    /// With several ranks each runs the micro-batches `communicator.share` gives it, weighted
    /// from the whole batch, and the loss, the count and the gradient are summed over the ranks:
    /// every rank returns (and holds) the one-process values, up to the order of float sums.
    ///
    /// `referenceSums`: the reference's answer log-probabilities of this rank's micro-batches when
    /// computed already (`referenceSums(_:_:pref:)`; the validation rows', once per stage), else
    /// computed here.
    func preferencePass(policy: Llama, reference: Llama, _ batch: [PreferenceExample], pref: PreferenceConfig,
                        backward: Bool, referenceSums cached: [Int: [Float]]? = nil) throws -> (loss: Double, chosenFirst: Double) {
        var loss = 0.0, first = 0
        for range in microBatches(of: batch.count, pref: pref) {
            let part = batch[range]
            // completionLogits wants the same number of answers per prompt
            let G = part.first!.answers.count
            precondition(part.allSatisfy { $0.answers.count == G }, "preference: unequal answer counts in a micro-batch")
            let groups = (0 ..< part.count).map { PreferenceGroup(sequences: ($0 * G)..<(($0 + 1) * G)) }
            let (prompts, answers) = Self.inputs(part, pref: pref)
            let refSums = cached?[range.lowerBound] ?? Self.referenceSums(reference, prompts: prompts, answers: answers)
            let tape = Tape(recording: backward)
            let out = policy.completionLogits(tape: tape, prompts: prompts, completions: answers)
            let pl = tape.softmaxDPOLoss(logits: out.logits, targets: out.targets, sequenceOfToken: out.completionOfRow,
                                         reference: refSums, groups: groups, beta: pref.beta)
            guard pl.loss.item.isFinite else { throw TSRecError(.numeric("preference loss is \(pl.loss.item)"), hint: "lower its learning rate") }
            let share = Double(part.count) / Double(batch.count)           // the step's loss is the mean over its prompts
            loss += Double(pl.loss.item) * share
            first += pl.chosenFirst
            if backward { tape.backward(from: pl.loss, seed: Float(share)) }
        }
        if communicator.isParallel {       // each rank's share of the loss, the count and the gradient: summed
            let sums = backward ? sumGradientsOverRanks(policy.parameters.map(\.tensor), with: [loss, Double(first)])
                                : communicator.sum([loss, Double(first)])
            (loss, first) = (sums[0], Int(sums[1].rounded()))
        }
        return (loss, Double(first) / Double(batch.count))
    }

    /// This rank's micro-batches of a batch of `count` prompts (`promptsPerMicroBatch` each,
    /// round robin over the ranks).
    func microBatches(of count: Int, pref: PreferenceConfig) -> [Range<Int>] {
        let starts = Array(stride(from: 0, to: count, by: pref.promptsPerMicroBatch))
        return communicator.share(of: starts.count).map { starts[$0] ..< min(starts[$0] + pref.promptsPerMicroBatch, count) }
    }

    /// `referenceSums` of each of this rank's micro-batches of `batch`, keyed by its first index.
    func referenceSums(_ reference: Llama, _ batch: [PreferenceExample], pref: PreferenceConfig) -> [Int: [Float]] {
        Dictionary(uniqueKeysWithValues: microBatches(of: batch.count, pref: pref).map {
            let (prompts, answers) = Self.inputs(batch[$0], pref: pref)
            return ($0.lowerBound, Self.referenceSums(reference, prompts: prompts, answers: answers))
        })
    }

    /// `[prompts × answers per prompt]`: the frozen reference's summed log-probability of each
    /// answer (no graph), `answers` grouped by prompt as `completionLogits` takes them.
    static func referenceSums(_ reference: Llama, prompts: [[Int32]], answers: [[Int32]]) -> [Float] {
        let out = reference.completionLogits(tape: Tape(recording: false), prompts: prompts, completions: answers)
        var sums = [Double](repeating: 0, count: answers.count)
        for (l, s) in zip(Tape.targetLogProbs(logits: out.logits, targets: out.targets), out.completionOfRow) { sums[s] += Double(l) }
        return sums.map(Float.init)
    }

    /// A micro-batch as the stage scores it: each prompt's last `maxPromptLength` tokens, and
    /// every answer, grouped by prompt (`completionLogits`' order).
    static func inputs(_ part: ArraySlice<PreferenceExample>, pref: PreferenceConfig) -> (prompts: [[Int32]], answers: [[Int32]]) {
        (part.map { Array($0.prompt.suffix(pref.maxPromptLength)) }, part.flatMap(\.answers))
    }
}

extension PreferenceLogRow: StepLogRow {
    static let csvHeader = ["step", "epoch", "loss", "chosen_first", "lr", "grad_norm", "seconds", "valid_loss"]
    static let logName = "preference"

    var csvFields: [String] {
        ["\(step)", "\(epoch)", "\(loss)", "\(chosenFirst)", "\(learningRate)", "\(gradNorm)", "\(seconds)", CSV.cell(validLoss)]
    }

    init?(csvFields f: [String]) {
        let d = f.map { Double($0) }
        guard let step = Int(f[0]), let epoch = Int(f[1]), let loss = d[2], let first = d[3], let lr = d[4], let g = d[5],
              let s = d[6] else { return nil }
        self.init(step: step, epoch: epoch, loss: loss, chosenFirst: first, learningRate: lr, gradNorm: g, seconds: s,
                  validLoss: d[7])
    }
}
