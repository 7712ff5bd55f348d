import Foundation

/// What the trainer needs of a model: named parameters in a fixed order, and the
/// response-only loss of a micro-batch recorded on a tape.
public protocol TrainableModel: AnyObject {
    /// Every trainable tensor, in a fixed order (checkpoints rely on it).
    var namedParameters: [(name: String, tensor: Tensor)] { get }
    /// Mean next-token cross-entropy over the batch's target positions.
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
    public var log: @Sendable (String) -> Void = { print($0) }

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
        guard config.microBatch > 0, config.effectiveBatch % config.microBatch == 0 else {
            throw TSRecError(.config(field: "effectiveBatch", reason: "\(config.effectiveBatch) is not a multiple of microBatch \(config.microBatch)"))
        }
        guard !samples.isEmpty else { throw TSRecError(.config(field: "trainRows", reason: "no training samples")) }
        let accumulation = config.effectiveBatch / config.microBatch
        let total = totalSteps(sampleCount: samples.count)
        let evalEvery = evalInterval(sampleCount: samples.count)
        if config.warmupSteps > total { log("train: warm-up of \(config.warmupSteps) steps cut to the \(total) steps of this run") }
        let schedule = LRSchedule(warmupSteps: min(config.warmupSteps, total), totalSteps: total,
                                  peak: config.learningRate, kind: .linear)
        var optimizer = AdamW(learningRate: config.learningRate, weightDecay: config.weightDecay)

        // MARK: state: fresh, or from the last checkpoint
        var root = SplitMix64(seed: config.seed)
        var state = Checkpoint.Header(configHash: configHash, step: 0, epoch: 0, cursor: 0,
                                      epochRNG: root.fork(), dropoutRNG: root.fork(),
                                      bestValidLoss: nil, evalsWithoutImprovement: 0, stopped: false,
                                      optimizerStep: 0, tensorNames: [], tensorCounts: [])
        var rows: [TrainLogRow] = []
        AtomicFile.removeStaleTemporaries(in: runDirectory)     // checkpoints of a killed run, half written
        if FileManager.default.fileExists(atPath: checkpointURL.path) {
            let (found, _) = try Checkpoint.readHeader(checkpointURL)
            guard found.configHash == configHash else {
                throw TSRecError(.checkpoint(path: checkpointURL.path, reason: "belongs to configuration \(found.configHash), not \(configHash)"),
                                 hint: "delete \(runDirectory.path) to start this configuration afresh")
            }
            let (header, arrays) = try Checkpoint.load(checkpointURL, tensors: Dictionary(uniqueKeysWithValues: params.map { ($0.name, $0.tensor) }))
            state = header
            optimizer.restore(AdamW.State(step: header.optimizerStep,
                                          m: params.map { arrays["adam.m." + $0.name] ?? [] },
                                          v: params.map { arrays["adam.v." + $0.name] ?? [] }))
            rows = (try? TrainLogCSV.read(logURL))?.filter { $0.step <= state.step } ?? []
            log("train: resumed from \(checkpointURL.lastPathComponent) at step \(state.step)/\(total)")
        }

        // MARK: the loop
        let started = Date()
        var stepsThisInvocation = 0
        var epochRNG = state.epochRNG
        var batches = makeMicroBatches(samples, microBatch: config.microBatch, using: &epochRNG)
        let firstStep = state.step
        while state.step < total && !state.stopped {
            let t0 = Date()
            // The step's micro-batches first: their response-token total weighs each one.
            var stepBatches: [SFTBatch] = []
            for _ in 0..<accumulation {
                if state.cursor == batches.count {  // next epoch: its order comes from the RNG state after this one
                    state.epoch += 1
                    state.cursor = 0
                    state.epochRNG = epochRNG
                    batches = makeMicroBatches(samples, microBatch: config.microBatch, using: &epochRNG)
                }
                stepBatches.append(SFTBatch(batches[state.cursor]))
                state.cursor += 1
            }
            let loss = try accumulateGradients(model, stepBatches, averaging: config.lossAveraging, step: state.step + 1)
            let targets = stepBatches.reduce(0) { $0 + $1.targetCount }
            let tokens = stepBatches.reduce(0) { $0 + $1.batch * $1.seq }
            let tensors = params.map(\.tensor)
            let gradNorm = clipGradNorm(tensors, maxNorm: config.gradClip)
            let lr = schedule.lr(at: state.step)
            optimizer.step(tensors, learningRate: lr)
            for t in tensors { t.zeroGrad() }
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
                    try Checkpoint.save(state, tensors: params.map { ($0.name, .tensor($0.tensor)) }, to: bestURL)
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
            log(String(format: "step %d/%d loss %.4f lr %.2e gnorm %.2f tok/s %.0f ms %.0f%@ eta %@",
                       state.step, total, row.loss, lr, gradNorm, Double(tokens) / stepSeconds,
                       row.milliseconds, row.validLoss.map { String(format: " val %.4f", $0) } ?? "",
                       formatDuration(eta)))
            if state.step % config.checkpointInterval == 0 || state.step == total || state.stopped {
                // The log first: a run killed between the two writes then resumes from the previous
                // checkpoint and drops the log's extra rows (`step <= state.step`); the other order
                // would lose the log rows since the previous checkpoint for good.
                try TrainLogCSV.write(rows, to: logURL)
                state.optimizerStep = optimizer.state.step
                try Checkpoint.save(state, tensors: checkpointSources(params, optimizer), to: checkpointURL)
            }
            if let limit = stepLimitThisInvocation, stepsThisInvocation >= limit, state.step < total, !state.stopped {
                return nil
            }
        }

        // MARK: end: keep the best validation weights
        if FileManager.default.fileExists(atPath: bestURL.path) {
            _ = try Checkpoint.load(bestURL, tensors: Dictionary(uniqueKeysWithValues: params.map { ($0.name, $0.tensor) }))
        }
        let summary = TrainingSummary(steps: state.step, bestValidLoss: state.bestValidLoss, stoppedEarly: state.stopped,
                                      wallSeconds: rows.reduce(0) { $0 + $1.milliseconds } / 1000, log: rows)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]                 // stable key order, like every JSON file written
        try AtomicFile.write(try encoder.encode(summary), to: summaryURL)
        return summary
    }

    /// Backward over one optimizer step's micro-batches, leaving the step's gradient in the
    /// parameters; returns the step's loss under `averaging`.
    ///
    /// `.responseTokens`: each micro-batch's mean loss is seeded with its share of the step's
    /// response tokens (n_i / N), so the gradient is that of the mean over all N tokens, as HF
    /// Trainer computes it under gradient accumulation; the same samples in one micro-batch give
    /// the same gradient (tested). `.microBatchMeans`: every micro-batch weighs 1/k.
    func accumulateGradients(_ model: some TrainableModel, _ stepBatches: [SFTBatch], averaging: LossAveraging,
                             step: Int) throws -> Double {
        let total = stepBatches.reduce(0) { $0 + $1.targetCount }
        var loss = 0.0
        for batch in stepBatches {
            let weight = switch averaging {
            case .responseTokens: total == 0 ? 0 : Double(batch.targetCount) / Double(total)
            case .microBatchMeans: 1 / Double(stepBatches.count)
            }
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

    /// Mean response-only loss over `samples` (no graph is recorded).
    public func validationLoss(_ model: some TrainableModel, _ samples: [SFTSample]) -> Double {
        guard !samples.isEmpty else { return .nan }
        let tape = Tape(recording: false)
        var weighted = 0.0, count = 0
        let ordered = samples.sorted { $0.tokens.count < $1.tokens.count }
        for start in stride(from: 0, to: ordered.count, by: config.microBatch) {
            let batch = SFTBatch(Array(ordered[start..<min(start + config.microBatch, ordered.count)]))
            weighted += Double(model.loss(tape: tape, batch: batch).item) * Double(batch.targetCount)
            count += batch.targetCount
        }
        return weighted / Double(max(count, 1))
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

/// The training log as CSV (one row per optimizer step), read back on resume; written and
/// parsed by the project's `CSV` (Report/CSV.swift).
enum TrainLogCSV {
    static let header = ["step", "epoch", "loss", "lr", "grad_norm", "target_tokens", "tokens", "ms", "valid_loss"]

    static func write(_ rows: [TrainLogRow], to url: URL) throws {
        try CSV.write(header: header, rows: rows.map { r in
            ["\(r.step)", "\(r.epoch)", "\(r.loss)", "\(r.learningRate)", "\(r.gradNorm)", "\(r.targetTokens)",
             "\(r.tokens)", String(format: "%.1f", r.milliseconds), CSV.cell(r.validLoss)]
        }, to: url)
    }

    static func read(_ url: URL) throws -> [TrainLogRow] {
        let table = try CSV.read(from: url)
        guard table.header == header else {
            throw TSRecError(.format(path: url.path, line: 1, field: "", reason: "unexpected training-log header \(table.header)"))
        }
        return try table.rows.enumerated().map { i, f in
            guard f.count == header.count, let step = Int(f[0]), let epoch = Int(f[1]), let loss = Double(f[2]),
                  let lr = Double(f[3]), let g = Double(f[4]), let tt = Int(f[5]), let tok = Int(f[6]), let ms = Double(f[7])
            else { throw TSRecError(.format(path: url.path, line: i + 2, field: "", reason: "malformed training-log row")) }
            return TrainLogRow(step: step, epoch: epoch, loss: loss, learningRate: lr, gradNorm: g, targetTokens: tt,
                               tokens: tok, milliseconds: ms, validLoss: Double(f[8]))
        }
    }
}
