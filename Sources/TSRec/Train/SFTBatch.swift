/// One tokenized training sample: prompt then response; loss on the response only.
public struct SFTSample: Sendable, Hashable {
    /// `[promptLength + responseLength]` token ids.
    public var tokens: [Int32]
    /// How many leading tokens are prompt (no loss on predicting them).
    /// (A whole-sequence loss, BIGRec's, is `promptLength` 1: every token but the first is a target.)
    public var promptLength: Int
    /// The task family, for logs and mixing statistics (`SFTTask.rawValue` or a recipe task's name).
    public var task: String

    public init(tokens: [Int32], promptLength: Int, task: String) {
        precondition(promptLength >= 1 && promptLength < tokens.count, "SFTSample: empty prompt or response")
        self.tokens = tokens
        self.promptLength = promptLength
        self.task = task
    }

    public init(tokens: [Int32], promptLength: Int, task: SFTTask) {
        self.init(tokens: tokens, promptLength: promptLength, task: task.rawValue)
    }

    /// Tokens that carry loss (the response).
    public var responseLength: Int { tokens.count - promptLength }
}

/// A right-padded micro-batch: `[batch, seq]` tokens, next-token targets with `ignoreIndex`
/// everywhere but response positions, and which positions are real.
public struct SFTBatch: Sendable {
    public static let ignoreIndex: Int32 = -100
    public let batch: Int
    public let seq: Int
    /// `[batch * seq]` input ids (padding repeats id 0, never attended to because of the causal mask).
    public let tokens: [Int32]
    /// `[batch * seq]`: target for position t is tokens[t + 1] when t + 1 is in the response.
    public let targets: [Int32]
    /// `[batch * seq]`: false on padding.
    public let valid: [Bool]
    /// Number of positions with a target.
    public let targetCount: Int
    /// How many leading tokens every sample shares with no target among them (the prompt
    /// template), when the batch runs them once (`Llama.loss(…, sharedPrefix:)`); 0: the batch
    /// runs whole. At most the shortest prompt minus one token, since the last prompt position
    /// predicts the first response token.
    public let sharedPrefix: Int
    /// `[batch * seq]` or nil: each target position's weight in a loss that is their weighted
    /// sum, not their mean (`LossAveraging.randomGroupMeans`); 0 where there is no target.
    public let targetWeights: [Float]?

    /// `sharingPrefix`: find the samples' common template (`sharedPrefix`), for a model that
    /// runs it once per batch; false leaves it 0. One sample shares nothing.
    /// `sampleWeights` [batch]: the weight of every target token of each sample (`targetWeights`).
    public init(_ samples: [SFTSample], sharingPrefix: Bool = false, sampleWeights: [Float]? = nil) {
        precondition(!samples.isEmpty, "SFTBatch: no samples")
        precondition(sampleWeights.map { $0.count == samples.count } ?? true, "SFTBatch: \(sampleWeights?.count ?? 0) weights for \(samples.count) samples")
        batch = samples.count
        seq = samples.map(\.tokens.count).max()!
        var tokens = [Int32](repeating: 0, count: batch * seq)
        var targets = [Int32](repeating: Self.ignoreIndex, count: batch * seq)
        var valid = [Bool](repeating: false, count: batch * seq)
        var n = 0
        for (b, s) in samples.enumerated() {
            for t in 0..<s.tokens.count {
                tokens[b * seq + t] = s.tokens[t]
                valid[b * seq + t] = true
                // position t predicts token t+1; only response tokens are targets
                if t + 1 < s.tokens.count, t + 1 >= s.promptLength {
                    targets[b * seq + t] = s.tokens[t + 1]
                    n += 1
                }
            }
        }
        self.tokens = tokens
        self.targets = targets
        self.valid = valid
        self.targetCount = n
        let rowLength = seq
        targetWeights = sampleWeights.map { w in
            targets.indices.map { i in targets[i] == Self.ignoreIndex ? 0 : w[i / rowLength] }
        }
        var common = sharingPrefix && samples.count > 1 ? samples.map(\.promptLength).min()! - 1 : 0
        for s in samples.dropFirst() where common > 0 {
            common = min(common, zip(s.tokens, samples[0].tokens).prefix { $0 == $1 }.count)
        }
        sharedPrefix = common
    }
}

/// Groups samples into micro-batches of similar length so padding wastes little, then
/// shuffles the batch order with the caller's RNG (deterministic given the seed).
///
/// Samples are shuffled, cut into chunks of `bucketSize × microBatch`, each chunk sorted by
/// length and split into micro-batches: lengths within a batch are close, while the epoch
/// still mixes tasks and users.
public func makeMicroBatches(_ samples: [SFTSample], microBatch: Int, bucketBatches: Int = 32,
                             using rng: inout SplitMix64) -> [[SFTSample]] {
    precondition(microBatch > 0)
    let shuffled = samples.shuffled(using: &rng)
    var batches: [[SFTSample]] = []
    let chunk = microBatch * bucketBatches
    for start in stride(from: 0, to: shuffled.count, by: chunk) {
        let bucket = shuffled[start..<min(start + chunk, shuffled.count)].sorted {
            $0.tokens.count != $1.tokens.count ? $0.tokens.count < $1.tokens.count
                : $0.tokens.lexicographicallyPrecedes($1.tokens)
        }
        for s in stride(from: 0, to: bucket.count, by: microBatch) {
            batches.append(Array(bucket[(bucket.startIndex + s)..<min(bucket.startIndex + s + microBatch, bucket.endIndex)]))
        }
    }
    batches.shuffle(using: &rng)
    return batches
}

/// One optimizer step's micro-batches re-formed by task, then length: the same samples in
/// micro-batches of the same sizes, so a token-averaged step (`LossAveraging.responseTokens`)
/// has the same loss and gradient, while most micro-batches now hold one task and so share its
/// whole prompt template (`SFTBatch.sharedPrefix`), not only the preamble common to all tasks.
/// Deterministic: a pure function of the step's samples.
public func groupedByTask(_ batches: [[SFTSample]]) -> [[SFTSample]] {
    groupedByTask(batches, sample: { $0 })
}

/// `groupedByTask` for samples that carry something along (a loss weight): the same order.
public func groupedByTask<Item>(_ batches: [[Item]], sample: (Item) -> SFTSample) -> [[Item]] {
    let sorted = batches.joined().sorted { x, y in
        let (a, b) = (sample(x), sample(y))
        if a.task != b.task { return a.task < b.task }
        if a.tokens.count != b.tokens.count { return a.tokens.count < b.tokens.count }
        if a.promptLength != b.promptLength { return a.promptLength < b.promptLength }
        return a.tokens.lexicographicallyPrecedes(b.tokens)
    }
    var out: [[Item]] = [], start = 0
    for b in batches {
        out.append(Array(sorted[start..<(start + b.count)]))
        start += b.count
    }
    return out
}

/// Padding overhead of a batching: padded positions / all positions.
public func paddingFraction(_ batches: [[SFTSample]]) -> Double {
    var real = 0, total = 0
    for b in batches {
        let len = b.map(\.tokens.count).max() ?? 0
        total += len * b.count
        real += b.reduce(0) { $0 + $1.tokens.count }
    }
    return total == 0 ? 0 : Double(total - real) / Double(total)
}
