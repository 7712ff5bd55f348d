import Foundation

/// How a baseline is trained: mini-batch AdamW over shuffled train samples, one validation per
/// epoch, early stopping with patience, and the best epoch's weights restored at the end
/// (the LLM path's recipe: validation-based early stopping, patience 3, seed 42).
public struct TrainSettings: Codable, Sendable, Hashable {
    public var batchSize = 256
    public var learningRate: Float = 1e-3
    /// Decoupled weight decay on matrices (rank ≥ 2).
    public var weightDecay: Float = 0
    public var maxEpochs = 30
    /// Stop after this many validations without improvement.
    public var patience = 3
    /// Global gradient-norm clip (nil = none).
    public var gradClip: Float? = 5
    /// Validate on the first N valid samples (nil = all).
    public var validRows: Int? = nil
    /// What early stopping watches.
    public var monitor: Monitor = .hr10
    /// The loss of the ID-based models (TIGER always uses its decoder cross-entropy).
    public var objective: Objective = .softmax

    public enum Monitor: String, Codable, Sendable, Hashable {
        /// Validation HR@10 (higher is better; ties go to the earlier epoch).
        case hr10
        /// Validation NDCG@10.
        case ndcg10
        /// Mean validation loss without dropout (lower is better).
        case loss
    }

    public init() {}
}

/// One epoch's log line.
public struct EpochLog: Sendable, Hashable {
    public var epoch: Int
    public var trainLoss: Double
    /// The monitored validation value (HR@10, NDCG@10 or loss).
    public var valid: Double
    public var seconds: Double
}

/// What a training run did.
public struct TrainOutcome: Sendable {
    public var epochs: [EpochLog]
    /// 1-based epoch whose weights were kept.
    public var bestEpoch: Int
    public var bestValid: Double
    public var seconds: Double
}

public enum BaselineTrainer {
    /// Trains `model` in place and leaves it at its best validation epoch.
    ///
    /// Each epoch shuffles the train samples with `rng` (forked once per run for the order and once
    /// for dropout, in that order), takes `batchSize` samples per AdamW step (last batch smaller),
    /// then validates. A NaN or infinite loss throws.
    public static func train(_ model: some Recommender, data: RecData, settings s: TrainSettings,
                             rng: inout SplitMix64, log: (String) -> Void = say) throws -> TrainOutcome {
        precondition(!data.train.isEmpty && !data.valid.isEmpty, "train: empty train or valid split")
        var orderRNG = rng.fork(), dropoutRNG = rng.fork()
        let params = model.parameters
        var opt = AdamW(learningRate: s.learningRate, weightDecay: s.weightDecay)
        let valid = s.validRows.map { Array(data.valid.prefix($0)) } ?? data.valid
        var best = (epoch: 0, value: 0.0, weights: params.map(\.array))
        var epochs: [EpochLog] = []
        let start = Date()
        var sinceBest = 0
        for epoch in 1...max(s.maxEpochs, 1) {
            let t0 = Date()
            let order = Array(data.train.indices).shuffled(using: &orderRNG)
            var lossSum = 0.0, batches = 0
            var i = 0
            while i < order.count {
                let samples = order[i..<min(i + s.batchSize, order.count)].map { data.train[$0] }
                let tape = Tape()
                let loss = try model.loss(samples, tape: tape, training: true, rng: &dropoutRNG)
                guard loss.item.isFinite else {
                    throw TSRecError(.numeric("\(model.name): loss \(loss.item) at epoch \(epoch), batch \(batches)"),
                                     hint: "lower the learning rate or enable gradient clipping")
                }
                for p in params { p.zeroGrad() }
                tape.backward(from: loss)
                if let clip = s.gradClip { _ = clipGradNorm(params, maxNorm: clip) }
                opt.step(params)
                lossSum += Double(loss.item)
                batches += 1
                i += s.batchSize
            }
            let value = try validate(model, valid, data: data, monitor: s.monitor)
            let improved = epoch == 1 || (s.monitor == .loss ? value < best.value : value > best.value)
            if improved {
                best = (epoch, value, params.map(\.array))
                sinceBest = 0
            } else {
                sinceBest += 1
            }
            let row = EpochLog(epoch: epoch, trainLoss: lossSum / Double(max(batches, 1)), valid: value,
                               seconds: Date().timeIntervalSince(t0))
            epochs.append(row)
            log("\(model.name) epoch \(epoch) loss \(f4(row.trainLoss)) valid_\(s.monitor.rawValue) \(f4(value))"
                + " s \(String(format: "%.1f", row.seconds))\(improved ? " *" : "")")
            if sinceBest >= s.patience { break }
        }
        for (p, w) in zip(params, best.weights) { p.copy(from: w) }
        return TrainOutcome(epochs: epochs, bestEpoch: best.epoch, bestValid: best.value, seconds: Date().timeIntervalSince(start))
    }

    /// The monitored validation value of the model as it is now.
    static func validate(_ model: some Recommender, _ samples: [RecSample], data: RecData,
                         monitor: TrainSettings.Monitor) throws -> Double {
        switch monitor {
        case .hr10, .ndcg10:
            let row = MetricRow.evaluate(try predictions(model, samples, data: data, k: 10), catalogue: data.catalogue)
            return monitor == .hr10 ? row.hr10 : row.ndcg10
        case .loss:
            var total = 0.0, n = 0, noDropout = SplitMix64(seed: 0)
            var i = 0
            while i < samples.count {
                let chunk = Array(samples[i..<min(i + 512, samples.count)])
                let l = try model.loss(chunk, tape: Tape(recording: false), training: false, rng: &noDropout)
                total += Double(l.item) * Double(chunk.count)
                n += chunk.count
                i += chunk.count
            }
            return total / Double(max(n, 1))
        }
    }

    /// One `Prediction` per sample: its user, its target item's SID and the model's top-`k` SIDs.
    public static func predictions(_ model: some Recommender, _ samples: [RecSample], data: RecData, k: Int = 20) throws -> [Prediction] {
        let ranked = try model.recommend(samples, k: k)
        return zip(samples, ranked).map { s, r in Prediction(user: s.userID, target: data.itemSIDs[s.target], ranked: r) }
    }
}

/// Writes one line to standard output unbuffered, so logs of long runs show up in files as they happen
/// (`print` is block-buffered when stdout is not a terminal).
public func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
