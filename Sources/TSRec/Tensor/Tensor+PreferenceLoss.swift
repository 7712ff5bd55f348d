import Foundation

/// The softmax-DPO objective of S-DPO (issue #19; the formula of S-DPO's trainer and of the TS-Rec
/// release's `sdpo_trainer.py`, read for the maths, docs/llm-baselines.md), for one chosen answer
/// y_w and negatives y_1 … y_k:
///
///     L = −log σ( −log Σ_j exp(β (Δ_j − Δ_w)) ) = softplus(x),   x = LSE_j β (Δ_j − Δ_w),
///     Δ_s = log π(y_s) − log π_ref(y_s),   log π(y_s) = Σ_{t ∈ y_s} l_t (summed, not averaged),
///
/// with l_t the policy's full-vocabulary log-probability of answer token t. With one negative,
/// x = β (Δ_1 − Δ_w) and L is DPO's −log σ(β (Δ_w − Δ_1)). At the start (π = π_ref) every Δ is 0
/// and L = log(1 + k). Gradients:
///
///     dL/dx = σ(x),   dx/dΔ_j = β p_j (p = softmax_j β (Δ_j − Δ_w)),   dx/dΔ_w = −β,
///
/// and dΔ_s/dl_t = 1 for each token t of y_s; from l_t to the logits as in `policyLoss`.

/// One preference group's place in a batch: its answers are `sequences`, the first the chosen one.
public struct PreferenceGroup: Sendable, Hashable {
    /// Indices of the group's answers in the batch's sequence list; the first is y_w, at least 2.
    public var sequences: Range<Int>
    public init(sequences: Range<Int>) {
        precondition(sequences.count >= 2, "PreferenceGroup: a chosen answer and at least one negative")
        self.sequences = sequences
    }
}

/// What `Tape.softmaxDPOLoss` returns.
public struct PreferenceLoss {
    /// `[1]`: the mean of L over the groups.
    public let loss: Tensor
    /// Δ_s of each sequence (policy minus reference summed log-probability).
    public let margins: [Float]
    /// How many groups rank the chosen answer above every negative (Δ_w > max_j Δ_j).
    public let chosenFirst: Int
}

extension Tape {
    /// Softmax-DPO over a batch of preference groups.
    ///
    /// - logits: `[N, V]`, one row per answer token (the row that predicts it), all answers' tokens.
    /// - targets: the tokens, `[N]`.
    /// - sequenceOfToken: which answer each token belongs to, `[N]`, values in `0..<S`.
    /// - reference: the reference model's summed log-probability of each answer, `[S]`.
    /// - groups: each group's answers (chosen first); every answer in exactly one group.
    /// - beta: β.
    ///
    /// Sums run in Double in row order: deterministic.
    public func softmaxDPOLoss(logits: Tensor, targets: [Int32], sequenceOfToken: [Int], reference: [Float],
                               groups: [PreferenceGroup], beta: Float) -> PreferenceLoss {
        let (N, V) = logits.dims2()
        let S = reference.count
        precondition(targets.count == N && sequenceOfToken.count == N,
                     "softmaxDPOLoss: \(N) rows, \(targets.count) targets, \(sequenceOfToken.count) sequence indices")
        for t in targets { precondition(t >= 0 && Int(t) < V, "softmaxDPOLoss: target \(t) outside vocabulary of \(V)") }
        for s in sequenceOfToken { precondition(s >= 0 && s < S, "softmaxDPOLoss: sequence \(s) outside 0..<\(S)") }
        precondition(groups.map(\.sequences.count).reduce(0, +) == S && groups.allSatisfy { $0.sequences.upperBound <= S },
                     "softmaxDPOLoss: the groups must cover the \(S) answers once each")
        precondition(!groups.isEmpty, "softmaxDPOLoss: no groups")

        let stats = targetLogProbStats(logits: logits, targets: targets)     // [2, N]: logp, lse
        let logp = Array(stats.array.prefix(N))
        var summed = [Double](repeating: 0, count: S)
        for n in 0..<N { summed[sequenceOfToken[n]] += Double(logp[n]) }
        let margin = (0..<S).map { summed[$0] - Double(reference[$0]) }

        // Per group: x = LSE_j β(Δ_j − Δ_w), L = softplus(x); dL/dΔ per answer.
        var total = 0.0, chosenFirst = 0
        var dMargin = [Double](repeating: 0, count: S)
        let b = Double(beta), scale = 1 / Double(groups.count)
        for g in groups {
            let w = g.sequences.lowerBound, negatives = g.sequences.dropFirst()
            let a = negatives.map { b * (margin[$0] - margin[w]) }
            let m = a.max()!
            let sumExp = a.reduce(0) { $0 + Foundation.exp($1 - m) }
            let x = m + Foundation.log(sumExp)
            total += x > 0 ? x + Foundation.log1p(Foundation.exp(-x)) : Foundation.log1p(Foundation.exp(x))   // softplus
            if negatives.allSatisfy({ margin[w] > margin[$0] }) { chosenFirst += 1 }
            let sig = 1 / (1 + Foundation.exp(-x))
            for (j, s) in negatives.enumerated() { dMargin[s] = scale * sig * b * Foundation.exp(a[j] - m) / sumExp }
            dMargin[w] = -scale * sig * b
        }
        let y = Tensor([Float(total * scale)], shape: [1], requiresGrad: needsGrad(logits))
        let result = PreferenceLoss(loss: y, margins: margin.map(Float.init), chosenFirst: chosenFirst)
        guard y.requiresGrad, N > 0 else { return result }
        let coefPerUnit = (0..<N).map { Float(dMargin[sequenceOfToken[$0]]) }
        recordTargetLogProbBackward(loss: y, logits: logits, stats: stats, targets: targets, coefPerUnit: coefPerUnit)
        return result
    }
}
