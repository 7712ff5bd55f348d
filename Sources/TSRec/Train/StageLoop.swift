import Foundation

// The pieces every training stage (SFT, RL, preference) shares: where it is in its data, how it
// resumes, how it takes an optimizer step and how it saves its progress. Each stage keeps its own
// loop body (what a step computes); these keep the bookkeeping identical across the three, so a
// resumed stage of any kind ends bit-identical to an uninterrupted one for the same reasons.

/// One row of a stage's `train_log.csv` (one per optimizer step): its columns, and the row read
/// back on resume.
protocol StepLogRow: Sendable {
    static var csvHeader: [String] { get }
    /// The log's name in error messages ("training", "RL", "preference").
    static var logName: String { get }
    var step: Int { get }
    var csvFields: [String] { get }
    /// nil when a field does not parse (the reader names the line).
    init?(csvFields f: [String])
}

/// A stage's log as CSV, written and parsed by the project's `CSV` (Report/CSV.swift).
enum StepLog {
    static func write<Row: StepLogRow>(_ rows: [Row], to url: URL) throws {
        try CSV.write(header: Row.csvHeader, rows: rows.map(\.csvFields), to: url)
    }

    static func read<Row: StepLogRow>(_ type: Row.Type, from url: URL) throws -> [Row] {
        let table = try CSV.read(from: url)
        guard table.header == Row.csvHeader else {
            throw TSRecError(.format(path: url.path, line: 1, field: "", reason: "unexpected \(Row.logName)-log header \(table.header)"),
                             hint: "expected \(Row.csvHeader.joined(separator: ","))")
        }
        return try table.rows.enumerated().map { i, f in
            guard f.count == Row.csvHeader.count, let row = Row(csvFields: f) else {
                throw TSRecError(.format(path: url.path, line: i + 2, field: "", reason: "malformed \(Row.logName)-log row"))
            }
            return row
        }
    }
}

/// A stage's pass over its data, epoch by epoch: the order of one epoch is dealt from the RNG
/// state the checkpoint header records for it, so a resumed stage deals the same orders.
struct EpochOrder<Element> {
    private var items: [Element]
    private var rng: SplitMix64
    private let deal: (inout SplitMix64) -> [Element]

    /// The order of the epoch `state` is in (`state.epochRNG` is that epoch's RNG state).
    init(resumingAt state: Checkpoint.Header, deal: @escaping (inout SplitMix64) -> [Element]) {
        rng = state.epochRNG
        items = deal(&rng)
        self.deal = deal
    }

    /// The element at `state.cursor`, advancing it; at an epoch's end the next epoch's order,
    /// dealt from the RNG state after this one (recorded in `state`).
    mutating func next(_ state: inout Checkpoint.Header) -> Element {
        if state.cursor == items.count {
            state.epoch += 1
            state.cursor = 0
            state.epochRNG = rng
            items = deal(&rng)
        }
        defer { state.cursor += 1 }
        return items[state.cursor]
    }
}

extension Trainer {
    /// The header of a stage that starts afresh: step 0 of epoch 0 in `epochRNG`'s order.
    static func freshHeader(configHash: String, epochRNG: SplitMix64, dropoutRNG: SplitMix64 = SplitMix64(seed: 0)) -> Checkpoint.Header {
        Checkpoint.Header(configHash: configHash, step: 0, epoch: 0, cursor: 0, epochRNG: epochRNG, dropoutRNG: dropoutRNG,
                          bestValidLoss: nil, evalsWithoutImprovement: 0, stopped: false,
                          optimizerStep: 0, tensorNames: [], tensorCounts: [])
    }

    /// `fresh`, or the state of this run folder's last checkpoint when there is one: loads the
    /// parameters, the `extra` tensors saved beside them (the RL reference), AdamW's moments, and
    /// the log rows up to the checkpoint's step. A checkpoint of another configuration is an error.
    /// `stage` names the stage in errors ("SFT", "RL", "preference"), `logPrefix` in the log.
    func resume<Row: StepLogRow>(_ stage: String, logPrefix: String, fresh: Checkpoint.Header, params: [(name: String, tensor: Tensor)],
                                 extra: [String: Tensor] = [:], optimizer: inout AdamW, totalSteps: Int,
                                 log: (String) -> Void) throws -> (state: Checkpoint.Header, rows: [Row]) {
        guard FileManager.default.fileExists(atPath: checkpointURL.path) else { return (fresh, []) }
        let (found, _) = try Checkpoint.readHeader(checkpointURL)
        guard found.configHash == fresh.configHash else {
            throw TSRecError(.checkpoint(path: checkpointURL.path, reason: "belongs to \(stage) configuration \(found.configHash), not \(fresh.configHash)"),
                             hint: "delete \(runDirectory.path) to start this stage afresh")
        }
        var tensors = Dictionary(uniqueKeysWithValues: params.map { ($0.name, $0.tensor) })
        tensors.merge(extra) { _, new in new }
        let (header, arrays) = try Checkpoint.load(checkpointURL, tensors: tensors)
        optimizer.restore(AdamW.State(step: header.optimizerStep,
                                      m: params.map { arrays["adam.m." + $0.name] ?? [] },
                                      v: params.map { arrays["adam.v." + $0.name] ?? [] }))
        let rows = (try? StepLog.read(Row.self, from: logURL))?.filter { $0.step <= header.step } ?? []
        log("\(logPrefix): resumed from \(checkpointURL.lastPathComponent) at step \(header.step)/\(totalSteps)")
        return (header, rows)
    }

    /// One optimizer step over the gradients left in `tensors`: clip their global norm to
    /// `maxNorm`, AdamW at the schedule's rate for `step` (0-based), zero the gradients. A
    /// non-finite norm stops the stage before it can reach the weights.
    func optimizerStep(_ tensors: [Tensor], optimizer: inout AdamW, schedule: LRSchedule, step: Int, maxNorm: Float,
                       stage: String) throws -> (learningRate: Float, gradNorm: Float) {
        let gradNorm = clipGradNorm(tensors, maxNorm: maxNorm)
        guard gradNorm.isFinite else {
            throw TSRecError(.numeric("\(stage) gradient norm is \(gradNorm) at step \(step + 1)"), hint: "lower the \(stage) learning rate")
        }
        let lr = schedule.lr(at: step)
        optimizer.step(tensors, learningRate: lr)
        for t in tensors { t.zeroGrad() }
        return (lr, gradNorm)
    }

    /// Saves the log, then the checkpoint (rank 0 only). In this order a run killed between the
    /// two writes resumes from the previous checkpoint and drops the log's extra rows
    /// (`step <= state.step`); the other order would lose the rows since the previous checkpoint.
    func saveProgress<Row: StepLogRow>(_ rows: [Row], _ state: Checkpoint.Header,
                                       tensors: [(String, Checkpoint.Source)]) throws {
        guard communicator.isRoot else { return }
        try StepLog.write(rows, to: logURL)
        try Checkpoint.save(state, tensors: tensors, to: checkpointURL)
    }
}
