import Foundation
/// What the baseline trainer and evaluator need from a model, and the pieces the models share
/// (left-padded history batches, linear layers, initialisers).

/// Any baseline: a loss to minimise and a ranked SID list per sample.
public protocol Recommender: AnyObject {
    /// Row label in result tables (`GRU4Rec`, `SASRec`, …), also the reported table's method name.
    var name: String { get }
    /// Every trainable tensor, in a fixed order (the optimizer's moment slots follow it).
    var parameters: [Tensor] { get }
    /// Mean training loss of one mini-batch, recorded on `tape`. `training` switches dropout.
    func loss(_ samples: [RecSample], tape: Tape, training: Bool, rng: inout SplitMix64) throws -> Tensor
    /// For each sample, up to `k` distinct SID strings, best first.
    func recommend(_ samples: [RecSample], k: Int) throws -> [[String]]
}

/// An ID-based sequential recommender: scores every catalogue item from the history, so the loss is
/// a softmax cross-entropy over the whole catalogue and ranking is full-catalogue scoring.
public protocol SequentialRecommender: Recommender {
    /// `itemSIDs[item]`, for mapping ranked items to SID strings.
    var itemSIDs: [String] { get }
    /// The training loss (`.softmax` unless an experiment asks otherwise).
    var objective: Objective { get set }
    /// Next-item logits `[B, itemCount]` for a batch of histories.
    func scores(_ batch: HistoryBatch, tape: Tape, training: Bool, rng: inout SplitMix64) -> Tensor
}

/// The training loss of an ID-based model.
public enum Objective: String, Codable, Sendable, Hashable, CaseIterable {
    /// Cross-entropy of the target under a softmax over the whole catalogue (RecBole's `CE`).
    case softmax
    /// Binary cross-entropy on the target's logit (label 1) and one uniformly drawn other item's
    /// (label 0) per row, averaged over the 2B logits: the SASRec paper's loss, and the default of
    /// the D3-style baseline scripts of LLM-recommendation papers.
    case sampledBCE
}

extension SequentialRecommender {
    /// The mean loss of one batch under `objective`. `.sampledBCE` draws its negatives from `rng`
    /// (also at validation, so the validation loss is a sample too).
    public func loss(_ samples: [RecSample], tape: Tape, training: Bool, rng: inout SplitMix64) throws -> Tensor {
        let batch = HistoryBatch(samples)
        let logits = scores(batch, tape: tape, training: training, rng: &rng)
        switch objective {
        case .softmax:
            return tape.crossEntropy(logits: logits, targets: batch.targets)
        case .sampledBCE:
            let n = itemSIDs.count
            precondition(n >= 2, "sampledBCE needs at least two items")
            var rows: [Int] = [], labels: [Float] = []
            for (b, t) in batch.targets.enumerated() {
                var negative = Int(rng.next() % UInt64(n - 1))
                if negative >= Int(t) { negative += 1 }                // uniform over the other n − 1 items
                rows += [b * n + Int(t), b * n + negative]
                labels += [1, 0]
            }
            let picked = tape.gatherRows(tape.reshape(logits, [batch.size * n, 1]), rows: rows)
            return tape.binaryCrossEntropy(logits: picked, labels: labels)
        }
    }

    /// Full-catalogue ranking (see `CatalogueRanking.topSIDs`), in chunks of 512 samples.
    public func recommend(_ samples: [RecSample], k: Int) throws -> [[String]] {
        var out: [[String]] = []
        out.reserveCapacity(samples.count)
        try forEachScoreRow(samples) { row in
            out.append(try CatalogueRanking.topSIDs(row.baseAddress!, count: row.count, itemSIDs: itemSIDs, k: k))
        }
        return out
    }

    /// `[samples.count][itemCount]` softmax of each sample's catalogue scores, in item order (what
    /// D3's text-free assistant reads: its SASRec logits file, softmaxed; `TitleAssistant`).
    public func catalogueProbabilities(_ samples: [RecSample]) -> [[Float]] {
        var out: [[Float]] = []
        out.reserveCapacity(samples.count)
        forEachScoreRow(samples) { row in
            let top = Double(row.max() ?? 0)
            let e = row.map { exp(Double($0) - top) }
            let z = e.reduce(0, +)
            out.append(e.map { Float($0 / z) })
        }
        return out
    }

    /// Each sample's scores over the catalogue (`[itemCount]`), in sample order, computed 512
    /// samples at a time with dropout off; `row` is valid only inside `body`.
    func forEachScoreRow(_ samples: [RecSample], _ body: (_ row: UnsafeBufferPointer<Float>) throws -> Void) rethrows {
        var noDropout = SplitMix64(seed: 0)            // unused: dropout is off at evaluation
        let n = itemSIDs.count
        for start in stride(from: 0, to: samples.count, by: 512) {
            let chunk = Array(samples[start..<min(start + 512, samples.count)])
            let s = scores(HistoryBatch(chunk), tape: Tape(recording: false), training: false, rng: &noDropout)
            precondition(s.shape == [chunk.count, n], "\(name).scores: shape \(s.shape), expected [\(chunk.count), \(n)]")
            try s.withUnsafeBufferPointer { s in       // [chunk, n] scores
                for b in 0..<chunk.count { try body(UnsafeBufferPointer(rebasing: s[b * n ..< (b + 1) * n])) }
            }
        }
    }
}

/// A batch of histories, left-padded to `length` so the newest item sits at t = length − 1
/// (the original SASRec layout; GRU and attention models read the last position).
public struct HistoryBatch: Sendable {
    public let size: Int
    public let length: Int
    /// `[size·length]` item id + 1, 0 on padding.
    public let tokens: [Int32]
    /// `[size·length]` false on padding.
    public let valid: [Bool]
    /// `[size]` dense user indices (0 = unknown).
    public let users: [Int32]
    /// `[size]` target item ids.
    public let targets: [Int32]

    public init(_ samples: [RecSample], length: Int = RecData.maxHistory) {
        precondition(!samples.isEmpty, "HistoryBatch: no samples")
        var tokens = [Int32](repeating: 0, count: samples.count * length)
        var valid = [Bool](repeating: false, count: samples.count * length)
        for (b, s) in samples.enumerated() {
            let h = s.history.suffix(length), pad = length - h.count
            for (t, item) in h.enumerated() {
                tokens[b * length + pad + t] = Int32(item + 1)
                valid[b * length + pad + t] = true
            }
        }
        (self.size, self.length, self.tokens, self.valid) = (samples.count, length, tokens, valid)
        users = samples.map { Int32($0.user) }
        targets = samples.map { Int32($0.target) }
    }

    /// `[size·length]` rows of the flattened `[B·T, D]` activations holding each sample's newest item.
    public var lastRows: [Int] { (0..<size).map { $0 * length + length - 1 } }

    /// `[size·length, 1]`-broadcastable mask as a `[size·length, dim]` tensor of 0/1.
    func mask(dim: Int) -> Tensor {
        let m = Tensor(zeros: [size * length, dim])
        m.withUnsafeMutableBufferPointer { m in
            for r in 0..<size * length where valid[r] { for j in 0..<dim { m[r * dim + j] = 1 } }
        }
        return m
    }
}

/// A dense layer `y = x Wᵀ + b`, `W [out, in]` (PyTorch layout).
public struct Linear {
    public let weight: Tensor
    public let bias: Tensor?

    /// PyTorch's default initialisation: W, b ~ U(−1/√in, 1/√in).
    public init(_ input: Int, _ output: Int, bias: Bool = true, rng: inout SplitMix64) {
        let bound = 1 / Float(input).squareRoot()
        weight = Init.uniform([output, input], bound: bound, rng: &rng)
        self.bias = bias ? Init.uniform([output], bound: bound, rng: &rng) : nil
    }

    /// x: [..., in] → [..., out].
    public func callAsFunction(_ x: Tensor, _ tape: Tape) -> Tensor {
        let y = tape.matmul(x, weight, transposeB: true)
        return bias.map { tape.addBias(y, $0) } ?? y
    }

    public var parameters: [Tensor] { [weight] + (bias.map { [$0] } ?? []) }
}

/// Parameter initialisers (every draw from the caller's generator).
public enum Init {
    /// U(−bound, bound) entries.
    public static func uniform(_ shape: [Int], bound: Float, rng: inout SplitMix64) -> Tensor {
        let t = Tensor(zeros: shape, requiresGrad: true)
        t.withUnsafeMutableBufferPointer { t in for i in t.indices { t[i] = (2 * rng.nextUniformFloat() - 1) * bound } }
        return t
    }

    /// N(0, std²) entries.
    public static func normal(_ shape: [Int], std: Float, rng: inout SplitMix64) -> Tensor {
        Tensor.randn(shape, std: std, requiresGrad: true, using: &rng)
    }

    /// An embedding table `[rows, dim]` ~ N(0, std²) whose row 0 (padding) is zero.
    public static func embedding(rows: Int, dim: Int, std: Float, rng: inout SplitMix64) -> Tensor {
        let t = normal([rows, dim], std: std, rng: &rng)
        t.withUnsafeMutableBufferPointer { t in for j in 0..<dim { t[j] = 0 } }
        return t
    }

    public static func constant(_ shape: [Int], _ value: Float) -> Tensor {
        let t = Tensor(zeros: shape, requiresGrad: true)
        t.withUnsafeMutableBufferPointer { $0.update(repeating: value) }
        return t
    }
}
