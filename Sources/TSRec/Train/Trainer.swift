import Foundation

/// What the trainer needs of a model: named parameters in a fixed order, and the
/// response-only loss of a micro-batch recorded on a tape.
public protocol TrainableModel: AnyObject {
    /// Every trainable tensor, in a fixed order (checkpoints rely on it).
    var namedParameters: [(name: String, tensor: Tensor)] { get }
    /// Mean next-token cross-entropy over the batch's target positions, or their weighted sum
    /// when the batch carries `targetWeights`.
    func loss(tape: Tape, batch: SFTBatch) -> Tensor
}

/// One row of the training log (`train_log.csv`), one per optimizer step.
public struct TrainLogRow: Sendable, Codable {
    public var step: Int
    public var epoch: Int
    public var loss: Double
    public var learningRate: Double
    public var gradNorm: Double
    public var targetTokens: Int
    public var tokens: Int
    /// Wall time of the step, its validation pass included when it ran one.
    public var milliseconds: Double
    /// Validation loss when this step ran an evaluation.
    public var validLoss: Double?
}

/// How a training run ended.
public struct TrainingSummary: Sendable, Codable {
    public var steps: Int
    public var bestValidLoss: Double?
    public var stoppedEarly: Bool
    /// Training wall time summed over the logged steps, so it survives resumes.
    public var wallSeconds: Double
    public var log: [TrainLogRow]
}

/// The SFT loop: micro-batches → loss → backward → clip → AdamW → log; validation loss at a
/// fixed interval with early stopping; a complete checkpoint every few steps.
///
/// Deterministic given the configuration: the data order comes from an RNG forked from the
/// seed and stored per epoch in the checkpoint, so a run killed at any moment and resumed
/// from its last checkpoint ends with the same parameters as an uninterrupted one.
public struct Trainer {
    public let config: ExperimentConfig
    /// The run's folder: `checkpoint.tsrc`, `best.tsrc`, `train_log.csv`, `summary.json`.
    public let runDirectory: URL
    /// Stop (as if killed) after this many optimizer steps in this invocation; for tests.
    public var stepLimitThisInvocation: Int? = nil

    /// RL stage: prompts whose rollouts are decoded together (an execution detail, like
    /// `Pipeline.evalPromptsPerBatch`: not part of the configuration).
    public var rolloutPromptsPerBatch = 8
    /// SFT: run each micro-batch's common prompt template once (`SFTBatch.sharedPrefix`), with the
    /// step's micro-batches grouped by task under `.responseTokens` averaging. The same loss and
    /// gradients up to float rounding, in fewer rows: an execution detail, not part of the
    /// configuration (like `Pipeline.evalSharesPromptPrefix`).
    public var sharesPromptPrefix = true
    public var log: @Sendable (String) -> Void = { print($0) }
    /// The ranks this run is spread over (`SingleProcess`: this process alone). With several,
    /// each rank takes its share of every step's micro-batches, gradients are summed over the
    /// ranks before the update, and rank 0 alone writes and logs (docs/mpi.md).
    public var communicator: any Communicator = SingleProcess()
    /// With several ranks: optimizer steps between checks that the parameters are identical on
    /// every rank (also checked at the start and the end). A check hashes every weight once:
    /// one pass over memory, against a step that multiplies every weight thousands of times.
    public var parameterCheckInterval = 10

    /// The SFT stage's random streams, the seed's first two forks: the per-epoch sample order
    /// (micro-batches) and dropout.
    public static func sftStreams(seed: UInt64) -> (order: SplitMix64, dropout: SplitMix64) {
        var root = SplitMix64(seed: seed)
        let order = root.fork()
        return (order, root.fork())
    }

    public init(config: ExperimentConfig, runDirectory: URL) {
        self.config = config
        self.runDirectory = runDirectory
    }

    var checkpointURL: URL { runDirectory.appendingPathComponent("checkpoint.tsrc") }
    var bestURL: URL { runDirectory.appendingPathComponent("best.tsrc") }
    var logURL: URL { runDirectory.appendingPathComponent("train_log.csv") }
    var summaryURL: URL { runDirectory.appendingPathComponent("summary.json") }

    /// Optimizer steps for `sampleCount` samples under the configuration's budget.
    public func totalSteps(sampleCount: Int) -> Int {
        let perEpoch = max(1, sampleCount / config.effectiveBatch)
        return min(config.maxSteps ?? Int.max, perEpoch * config.epochs)
    }

    /// The learning rate per step of a run on `sampleCount` samples: warm-up of `warmupSteps`,
    /// or ceil(`warmupRatio` × total steps) when the ratio is set (HF's `warmup_ratio`), at most
    /// the run's steps, ramped by `warmupRule`; then `lrSchedule`'s decay (default linear) to 0
    /// at the last step.
    public func lrSchedule(sampleCount: Int) -> LRSchedule {
        let total = totalSteps(sampleCount: sampleCount)
        let warmup = config.warmupRatio.map { Int(($0 * Double(total)).rounded(.up)) } ?? config.warmupSteps
        return LRSchedule(warmupSteps: min(warmup, total), totalSteps: total, peak: config.learningRate,
                          kind: config.lrSchedule ?? .linear, warmup: config.warmupRule ?? .fromFirstUpdate)
    }

    /// Optimizer steps between validations: `evalInterval`, or ceil(fraction × total steps)
    /// when `evalStepsFraction` is set (HF's `eval_steps < 1`, the authors' schedule).
    public func evalInterval(sampleCount: Int) -> Int {
        guard let f = config.evalStepsFraction else { return max(1, config.evalInterval) }
        return max(1, Int((f * Double(totalSteps(sampleCount: sampleCount))).rounded(.up)))
    }

    /// Trains `model` (resuming from a checkpoint when there is one) and leaves the best
    /// validation weights in it. Returns nil when stopped by `stepLimitThisInvocation`.
    @discardableResult
    public func train(_ model: some TrainableModel, train samples: [SFTSample], valid: [SFTSample],
                      configHash: String) throws -> TrainingSummary? {
        let params = model.namedParameters
        let comm = communicator, writes = comm.isRoot
        let log = writes ? self.log : { _ in }
        guard config.microBatch > 0, config.effectiveBatch % config.microBatch == 0 else {
            throw TSRecError(.config(field: "effectiveBatch", reason: "\(config.effectiveBatch) is not a multiple of microBatch \(config.microBatch)"))
        }
        guard !samples.isEmpty else { throw TSRecError(.config(field: "trainRows", reason: "no training samples")) }
        let accumulation = config.effectiveBatch / config.microBatch
        let total = totalSteps(sampleCount: samples.count)
        let evalEvery = evalInterval(sampleCount: samples.count)
        if config.warmupRatio == nil && config.warmupSteps > total {
            log("train: warm-up of \(config.warmupSteps) steps cut to the \(total) steps of this run")
        }
        let schedule = lrSchedule(sampleCount: samples.count)
        var optimizer = AdamW(learningRate: config.learningRate, weightDecay: config.weightDecay)

        // MARK: state: fresh, or from the last checkpoint
        let streams = Self.sftStreams(seed: config.seed)
        let fresh = Self.freshHeader(configHash: configHash, epochRNG: streams.order, dropoutRNG: streams.dropout)
        // Checkpoints of a killed run, half written. Rank 0 only: on another node a rank would take
        // rank 0's live temporaries for a dead process's (pids are per node).
        if writes { AtomicFile.removeStaleTemporaries(in: runDirectory) }
        var (state, rows): (Checkpoint.Header, [TrainLogRow]) =
            try resume("SFT", logPrefix: "train", fresh: fresh, params: params, optimizer: &optimizer, totalSteps: total, log: log)

        // Every rank must start from the same weights and place in the data (a resumed run reads
        // rank 0's checkpoint: the results folder must be shared).
        try comm.checkSame(Self.stateHash(params, state), what: "parameters and data position at step \(state.step)")

        // MARK: the loop
        let started = Date()
        var stepsThisInvocation = 0
        var batches = EpochOrder(resumingAt: state) { rng in makeMicroBatches(samples, microBatch: self.config.microBatch, using: &rng) }
        let firstStep = state.step
        while state.step < total && !state.stopped {
            let t0 = Date()
            // The step's micro-batches first: their response-token total weighs each one.
            let stepSamples = (0..<accumulation).map { _ in batches.next(&state) }
            let stepBatches = makeStepBatches(stepSamples, step: state.step + 1)
            // This rank's share of the step (all of it in one process); the weights come from the
            // whole step, so the summed gradient is the one-process gradient.
            let mine = comm.share(of: stepBatches.count)
            var loss = try accumulateGradients(model, stepBatches, averaging: config.lossAveraging, step: state.step + 1,
                                               only: mine)
            let targets = stepBatches.reduce(0) { $0 + $1.targetCount }
            let tokens = stepBatches.reduce(0) { $0 + $1.batch * $1.seq }
            let tensors = params.map(\.tensor)
            // With several ranks: ms waiting for the slowest rank, then ms of the all-reduce itself
            // (a barrier first separates the two; it costs microseconds against the step).
            var sync: (wait: Double, reduce: Double)?
            if comm.isParallel {
                let w0 = Date()
                comm.barrier()
                let r0 = Date()
                defer { sync = (r0.timeIntervalSince(w0) * 1000, Date().timeIntervalSince(r0) * 1000) }
                loss = try sumOverRanks(tensors, loss: loss, localTargets: mine.reduce(0) { $0 + stepBatches[$1].targetCount },
                                        expectedTargets: targets, step: state.step + 1)
            }
            let (lr, gradNorm) = try optimizerStep(tensors, optimizer: &optimizer, schedule: schedule, step: state.step,
                                                   maxNorm: config.gradClip, stage: "SFT")
            state.step += 1
            stepsThisInvocation += 1
            var row = TrainLogRow(step: state.step, epoch: state.epoch, loss: loss,
                                  learningRate: Double(lr), gradNorm: Double(gradNorm), targetTokens: targets,
                                  tokens: tokens, milliseconds: Date().timeIntervalSince(t0) * 1000, validLoss: nil)

            let stepSeconds = row.milliseconds / 1000
            if state.step % evalEvery == 0 || state.step == total {
                let v = validationLoss(model, valid)
                row.validLoss = v
                if v < (state.bestValidLoss ?? .infinity) {
                    state.bestValidLoss = v
                    state.evalsWithoutImprovement = 0
                    if writes { try Checkpoint.save(state, tensors: params.map { ($0.name, .tensor($0.tensor)) }, to: bestURL) }
                } else {
                    state.evalsWithoutImprovement += 1
                    if state.evalsWithoutImprovement >= config.patience {
                        state.stopped = true
                        log("train: early stop at step \(state.step) (\(config.patience) evaluations without improvement)")
                    }
                }
            }
            row.milliseconds = Date().timeIntervalSince(t0) * 1000  // the step's wall time, validation included
            rows.append(row)
            // One line per step (logs are data; the same row goes to train_log.csv), with an ETA.
            let elapsed = Date().timeIntervalSince(started)
            let eta = elapsed / Double(state.step - firstStep) * Double(total - state.step)
            log(String(format: "step %d/%d loss %.4f lr %.2e gnorm %.2f tok/s %.0f ms %.0f%@%@ eta %@",
                       state.step, total, row.loss, lr, gradNorm, Double(tokens) / stepSeconds,
                       row.milliseconds, sync.map { String(format: " wait-ms %.0f allreduce-ms %.0f", $0.wait, $0.reduce) } ?? "",
                       row.validLoss.map { String(format: " val %.4f", $0) } ?? "",
                       formatDuration(eta)))
            if comm.isParallel && (state.step % max(1, parameterCheckInterval) == 0 || state.step == total) {
                try comm.checkSame(Self.stateHash(params, state), what: "parameters after step \(state.step)")
            }
            if state.step % config.checkpointInterval == 0 || state.step == total || state.stopped {
                state.optimizerStep = optimizer.state.step
                try saveProgress(rows, state, tensors: checkpointSources(params, optimizer))
            }
            if let limit = stepLimitThisInvocation, stepsThisInvocation >= limit, state.step < total, !state.stopped {
                return nil
            }
        }

        // MARK: end: keep the best validation weights
        comm.barrier()                                           // rank 0 has renamed its last best.tsrc into place
        if FileManager.default.fileExists(atPath: bestURL.path) {
            _ = try Checkpoint.load(bestURL, tensors: Dictionary(uniqueKeysWithValues: params.map { ($0.name, $0.tensor) }))
        }
        try comm.checkSame(parameterHash(params.map(\.tensor)), what: "best weights read back from \(bestURL.lastPathComponent)")
        let summary = TrainingSummary(steps: state.step, bestValidLoss: state.bestValidLoss, stoppedEarly: state.stopped,
                                      wallSeconds: rows.reduce(0) { $0 + $1.milliseconds } / 1000, log: rows)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]                 // stable key order, like every JSON file written
        if writes { try AtomicFile.write(try encoder.encode(summary), to: summaryURL) }
        return summary
    }

    /// Sums the step's gradients and loss over the ranks (`only:` shares), in place: afterwards
    /// every rank holds the one-process gradient of the whole step. Also checks that the ranks
    /// agree on the step's response-token count (they build the same batches from the seed).
    ///
    /// A parameter that received no gradient on any rank keeps none (AdamW then skips it, as in
    /// one process); one that received a gradient on some rank gets a zero buffer on the others.
    func sumOverRanks(_ tensors: [Tensor], loss: Double, localTargets: Int, expectedTargets: Int, step: Int) throws -> Double {
        let sums = sumGradientsOverRanks(tensors, with: [loss, Double(localTargets)])
        guard Int(sums[1]) == expectedTargets else {
            throw TSRecError(.numeric("ranks disagree on step \(step): \(Int(sums[1])) response tokens summed, \(expectedTargets) expected"),
                             hint: "every rank must run the same build on the same data and configuration")
        }
        return sums[0]
    }

    /// Sums every parameter's gradient over the ranks in place (the SFT and RL steps), and
    /// `values` with them: returns their sums. A parameter without a gradient on every rank keeps
    /// none; one with a gradient on some rank gets a zero buffer on the others first.
    func sumGradientsOverRanks(_ tensors: [Tensor], with values: [Double]) -> [Double] {
        let comm = communicator
        let sums = comm.sum(tensors.map { $0.hasGrad ? 1 : 0 } + values)             // [P + values]
        for (t, flag) in zip(tensors, sums) where flag > 0 {
            t.withUnsafeMutableGradBuffer { comm.sumInPlace($0) }             // allocates a zero buffer where missing
        }
        return Array(sums[tensors.count...])
    }

    /// `parameterHash` of the weights mixed with the step and the data cursor.
    static func stateHash(_ params: [(name: String, tensor: Tensor)], _ state: Checkpoint.Header) -> UInt64 {
        (parameterHash(params.map(\.tensor)) &* 0x100_0000_01b3 ^ UInt64(state.step)) &* 0x100_0000_01b3
            ^ UInt64(state.cursor) ^ UInt64(state.epoch) << 32
    }

    /// Backward over one optimizer step's micro-batches, leaving the step's gradient in the
    /// parameters; returns the step's loss under `averaging`.
    ///
    /// `.responseTokens`: each micro-batch's mean loss is seeded with its share of the step's
    /// response tokens (n_i / N), so the gradient is that of the mean over all N tokens, as HF
    /// Trainer computes it under gradient accumulation; the same samples in one micro-batch give
    /// the same gradient (tested). `.microBatchMeans`: every micro-batch weighs 1/k.
    ///
    /// `only`: the indices of `stepBatches` this rank runs (nil: all of them); their weights
    /// still come from the whole step, so the ranks' gradients and losses sum to the step's
    /// (`Communicator.share`, `sumOverRanks`).
    func accumulateGradients(_ model: some TrainableModel, _ stepBatches: [SFTBatch], averaging: LossAveraging,
                             step: Int, only: [Int]? = nil) throws -> Double {
        let weights = Self.stepWeights(targetCounts: stepBatches.map(\.targetCount), averaging: averaging)
        var loss = 0.0
        for i in only ?? Array(stepBatches.indices) {
            let (batch, weight) = (stepBatches[i], weights[i])
            let tape = Tape()
            let l = model.loss(tape: tape, batch: batch)
            guard l.item.isFinite else {
                throw TSRecError(.numeric("loss is \(l.item) at step \(step)"), hint: "lower the learning rate or check the data")
            }
            loss += Double(l.item) * weight
            tape.backward(from: l, seed: Float(weight))
        }
        return loss
    }

    /// Each micro-batch's weight in its step's loss, from the whole step (never from one rank's
    /// share): `.responseTokens` n_i / Σn, `.microBatchMeans` 1 / k, `.randomGroupMeans` 1
    /// (its batches' losses are already the weighted sums of `makeStepBatches`).
    static func stepWeights(targetCounts: [Int], averaging: LossAveraging) -> [Double] {
        let total = targetCounts.reduce(0, +)
        return targetCounts.map { n in
            switch averaging {
            case .responseTokens: total == 0 ? 0 : Double(n) / Double(total)
            case .microBatchMeans: 1 / Double(targetCounts.count)
            case .randomGroupMeans: 1
            }
        }
    }

    /// One optimizer step's micro-batches. Under token averaging they may be re-formed freely:
    /// grouped by task, each shares a longer template, which then runs once per micro-batch.
    /// Under `.randomGroupMeans(size:)` every sample's tokens carry its loss group's weight
    /// (`lossGroups`, `groupWeights`), which travels with the sample when the batches are
    /// re-formed, so the step's loss is the mean of the groups' token means whatever the batches.
    func makeStepBatches(_ stepSamples: [[SFTSample]], step: Int) -> [SFTBatch] {
        let sharing = sharesPromptPrefix
        switch config.lossAveraging {
        case .responseTokens:
            return (sharing ? groupedByTask(stepSamples) : stepSamples).map { SFTBatch($0, sharingPrefix: sharing) }
        case .microBatchMeans:
            return stepSamples.map { SFTBatch($0, sharingPrefix: sharing) }
        case .randomGroupMeans(let size):
            let flat = Array(stepSamples.joined())
            let weights = Self.groupWeights(responseLengths: flat.map(\.responseLength),
                                            groups: Self.lossGroups(count: flat.count, size: size, seed: config.seed, step: step))
            var next = 0
            var weighted = stepSamples.map { batch in
                batch.map { sample in defer { next += 1 }; return (sample: sample, weight: weights[next]) }
            }
            if sharing { weighted = groupedByTask(weighted, sample: \.sample) }
            return weighted.map { SFTBatch($0.map(\.sample), sharingPrefix: sharing, sampleWeights: $0.map(\.weight)) }
        }
    }

    /// The step's `count` samples (indices in step order) cut into random groups of `size`, the
    /// last one shorter when `size` does not divide `count`: HF's random sampler feeding
    /// micro-batches of `size`. Drawn from (seed, step) alone, so a resumed run and every rank
    /// draw the same groups.
    static func lossGroups(count: Int, size: Int, seed: UInt64, step: Int) -> [[Int]] {
        precondition(size > 0, "lossGroups: group size \(size)")
        var rng = SplitMix64(seed: seed ^ 0x6c6f_7373_6772_6f75 ^ UInt64(step) &* 0x9e37_79b9_7f4a_7c15)
        let order = Array(0..<count).shuffled(using: &rng)
        return stride(from: 0, to: count, by: size).map { Array(order[$0..<min($0 + size, count)]) }
    }

    /// Per-sample token weights that make Σ_t w_t loss_t the mean over the G groups of each
    /// group's token mean: w_s = 1 / (G · n_g) for sample s in group g of n_g response tokens.
    /// The weights of a step's tokens sum to 1.
    static func groupWeights(responseLengths: [Int], groups: [[Int]]) -> [Float] {
        var w = [Float](repeating: 0, count: responseLengths.count)
        for g in groups {
            let n = g.reduce(0) { $0 + responseLengths[$1] }
            for i in g { w[i] = n == 0 ? 0 : Float(1 / (Double(groups.count) * Double(n))) }
        }
        return w
    }

    /// Mean response-only loss over `samples` (no graph is recorded); with several ranks each
    /// takes its share of the micro-batches and the sums are added over the ranks.
    public func validationLoss(_ model: some TrainableModel, _ samples: [SFTSample]) -> Double {
        guard !samples.isEmpty else { return .nan }
        let tape = Tape(recording: false)
        var weighted = 0.0, count = 0
        let ordered = samples.sorted { $0.tokens.count < $1.tokens.count }
        let starts = Array(stride(from: 0, to: ordered.count, by: config.microBatch))
        for start in communicator.share(of: starts.count).map({ starts[$0] }) {
            let batch = SFTBatch(Array(ordered[start..<min(start + config.microBatch, ordered.count)]), sharingPrefix: sharesPromptPrefix)
            weighted += Double(model.loss(tape: tape, batch: batch).item) * Double(batch.targetCount)
            count += batch.targetCount
        }
        let sums = communicator.sum([weighted, Double(count)])            // identity in one process
        return sums[0] / max(sums[1], 1)
    }

    /// Parameters then optimizer moments, in a fixed order (the SFT and RL checkpoints).
    func checkpointSources(_ params: [(name: String, tensor: Tensor)], _ optimizer: AdamW)
        -> [(String, Checkpoint.Source)] {
        var out = params.map { ($0.name, Checkpoint.Source.tensor($0.tensor)) }
        let st = optimizer.state
        for (i, p) in params.enumerated() where i < st.m.count {
            out.append(("adam.m." + p.name, .array(st.m[i])))
            out.append(("adam.v." + p.name, .array(st.v[i])))
        }
        return out
    }
}

/// `1h02m`, `3m05s`, `42s`.
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, s % 3600 / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}

extension TrainLogRow: StepLogRow {
    static let csvHeader = ["step", "epoch", "loss", "lr", "grad_norm", "target_tokens", "tokens", "ms", "valid_loss"]
    static let logName = "training"

    var csvFields: [String] {
        ["\(step)", "\(epoch)", "\(loss)", "\(learningRate)", "\(gradNorm)", "\(targetTokens)", "\(tokens)",
         String(format: "%.1f", milliseconds), CSV.cell(validLoss)]
    }

    init?(csvFields f: [String]) {
        guard let step = Int(f[0]), let epoch = Int(f[1]), let loss = Double(f[2]), let lr = Double(f[3]), let g = Double(f[4]),
              let tt = Int(f[5]), let tok = Int(f[6]), let ms = Double(f[7]) else { return nil }
        self.init(step: step, epoch: epoch, loss: loss, learningRate: lr, gradNorm: g, targetTokens: tt, tokens: tok,
                  milliseconds: ms, validLoss: Double(f[8]))
    }
}
