import Foundation

/// One RL prompt as the stage consumes it: prompt ids and the token sequence of its own target
/// (the SID's tokens and what the trie appends after them), compared with each completion.
public struct RLExample: Sendable, Hashable {
    public var prompt: [Int32]
    public var target: [Int]
    public init(prompt: [Int32], target: [Int]) { (self.prompt, self.target) = (prompt, target) }
}

/// Rewards and advantages of one group of completions (the authors' `ranking` reward: exact
/// match plus a rank penalty; group-normalised advantages).
public enum GroupRewards {
    /// Σ_{i<n} 1 / log2(i + 2): the rank term's normaliser for a group of n completions.
    public static func rankNormaliser(_ n: Int) -> Double {
        (0..<n).reduce(0) { $0 + 1 / log2(Double($1 + 2)) }
    }

    /// Per completion, in beam order (best first): 1 when it equals `target`; when the target is
    /// in the group, a miss at rank r (0-based) adds −(1/log2(r + 2)) / Σ_{i<n} 1/log2(i + 2) and
    /// a hit adds 0; when the target is not in the group every completion gets 0.
    public static func rewards(_ completions: [[Int]], target: [Int]) -> [Double] {
        let hit = completions.map { $0 == target }
        guard hit.contains(true) else { return [Double](repeating: 0, count: completions.count) }
        let z = rankNormaliser(completions.count)
        return hit.enumerated().map { r, h in h ? 1 : -(1 / log2(Double(r + 2))) / z }
    }

    /// (R − mean) / (std + ε) with the unbiased standard deviation (n − 1); 0 for a group of one.
    public static func advantages(_ rewards: [Double], epsilon: Double = 1e-4) -> [Double] {
        let n = Double(rewards.count)
        guard rewards.count > 1 else { return rewards.map { _ in 0 } }
        let mean = rewards.reduce(0, +) / n
        let std = (rewards.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)).squareRoot()
        return rewards.map { ($0 - mean) / (std + epsilon) }
    }
}

/// One row of the RL log (`train_log.csv` in the RL folder), one per optimizer step.
public struct RLLogRow: Sendable, Codable, Equatable {
    public var step: Int
    public var epoch: Int
    /// Mean reward over the step's completions.
    public var meanReward: Double
    /// Mean of the exact-match term over the completions (the authors' `rule_reward`).
    public var exactMatch: Double
    /// Fraction of prompts whose target is among their completions.
    public var targetInGroup: Double
    /// Mean k3 over completion tokens (each completion's token mean, then over completions).
    public var kl: Double
    public var loss: Double
    public var learningRate: Double
    public var gradNorm: Double
    /// Wall time of the step, its validation included.
    public var seconds: Double
    /// Validation mean reward and HR@10 when this step validated.
    public var validReward: Double?
    public var validHR10: Double?
}

/// The rollout statistics of a set of prompts (validation).
public struct RLValidation: Sendable, Codable, Equatable {
    public var meanReward: Double
    public var exactMatch: Double
    /// Fraction of prompts whose target is among the first 10 completions.
    public var hr10: Double
}

/// How an RL stage ended.
public struct RLSummary: Sendable, Codable {
    public var steps: Int
    /// Summed step wall times (survives resumes).
    public var wallSeconds: Double
    public var prompts: Int
    /// Validation before the first step (the SFT weights).
    public var startValidation: RLValidation?
    public var log: [RLLogRow]
}

extension Trainer {
    /// The RL stage's last weights (what evaluation uses).
    var policyURL: URL { runDirectory.appendingPathComponent("policy.tsrc") }
    var startValidationURL: URL { runDirectory.appendingPathComponent("start_validation.json") }

    /// The RL stage's random streams, forked from the seed after the SFT stage's two
    /// (`sftStreams`): the title-history draw and the per-epoch prompt order.
    public static func rlStreams(seed: UInt64) -> (sampling: SplitMix64, order: SplitMix64) {
        var root = SplitMix64(seed: seed)
        _ = root.fork(); _ = root.fork()
        let sampling = root.fork()
        return (sampling, root.fork())
    }

    /// GRPO from the weights in `policy` (the SFT run's best), under `config.rl`; leaves the last
    /// step's weights in `policy`. Returns nil when stopped by `stepLimitThisInvocation`.
    ///
    /// Per optimizer step: `promptsPerStep` prompts in the epoch's seeded order; for each, the
    /// constrained beam search over `trie` (width `completionsPerPrompt`, every beam kept) gives
    /// the group; rewards and advantages per group; the reference model's log-probabilities (no
    /// graph); the policy's teacher-forced logits with `Tape.policyLoss`, accumulated over
    /// micro-batches of `promptsPerMicroBatch` prompts (mean over a completion's tokens, then over
    /// the step's completions); clip, cosine schedule, AdamW (the SFT trainer's pieces). Every
    /// `refSyncSteps` the reference moves toward the policy. The completions of this trie all end
    /// at their EOS (SID, "\n", EOS), so every token is in the loss.
    ///
    /// Resumable: the checkpoint holds the policy, AdamW's moments, the reference weights, the
    /// step, epoch, prompt cursor and the epoch's RNG state; a resumed stage ends bit-identical
    /// to an uninterrupted one (tested).
    ///
    /// With several ranks (`communicator`), data-parallel: the rollouts' chunks (the batches of
    /// `rolloutPromptsPerBatch` prompts one process decodes together, so every completion is the
    /// one-process completion) and the loss's micro-batches are shared round robin, completions are
    /// gathered on every rank, gradients and the step's loss and KL summed over the ranks before
    /// the update; validation shares its chunks the same way. Rank 0 alone writes and logs;
    /// the weights are compared across ranks at the start, every `parameterCheckInterval` steps and
    /// at the end (docs/mpi.md). Ranks beyond a step's chunks (or micro-batches) wait for the others.
    @discardableResult
    public func reinforce(_ policy: Llama, examples: [RLExample], valid: [RLExample], trie: PrefixTrie,
                          configHash: String) throws -> RLSummary? {
        guard let rl = config.rl else { throw TSRecError(.config(field: "rl", reason: "no RL stage configured")) }
        guard !examples.isEmpty else { throw TSRecError(.config(field: "rl", reason: "no RL prompts")) }
        guard let depth = trie.uniformLength, depth >= 2 else {
            throw TSRecError(.config(field: "rl", reason: "the trie's sequences must share one length ≥ 2"))
        }
        guard rl.promptsPerStep > 0, rl.promptsPerMicroBatch > 0, rl.completionsPerPrompt > 0 else {
            throw TSRecError(.config(field: "rl", reason: "prompts per step, per micro-batch and completions per prompt must be positive"))
        }
        let params = policy.parameters
        let writes = communicator.isRoot
        let log = writes ? self.log : { _ in }
        let total = rl.totalSteps(promptCount: examples.count)
        let schedule = rl.lrSchedule(total: total)
        let validEvery = rl.validationInterval(total: total)
        var optimizer = AdamW(learningRate: rl.learningRate, weightDecay: rl.weightDecay)
        let reference = try policy.copy()
        let refParams = reference.parameters

        // MARK: state: fresh, or from the last checkpoint (the reference weights beside the policy's)
        let fresh = Self.freshHeader(configHash: configHash, epochRNG: Self.rlStreams(seed: config.seed).order)
        var (state, rows): (Checkpoint.Header, [RLLogRow]) =
            try resume("RL", logPrefix: "rl", fresh: fresh, params: params,
                       extra: Dictionary(uniqueKeysWithValues: refParams.map { ("ref." + $0.name, $0.tensor) }),
                       optimizer: &optimizer, totalSteps: total, log: log)

        let G = rl.completionsPerPrompt
        var scorer = LlamaBeamScorer(model: policy, promptCapacity: rl.maxPromptLength, depth: depth, width: G,
                                     maxPrompts: max(1, rolloutPromptsPerBatch))
        var startValidation = try? JSONDecoder().decode(RLValidation.self, from: Data(contentsOf: startValidationURL))
        if communicator.isParallel {        // rank 0's file decides: validation is a collective, so every rank runs it or none
            let bytes = communicator.broadcast(try startValidation.map { Array(try Self.sortedJSON($0)) } ?? [])
            startValidation = bytes.isEmpty ? nil : try JSONDecoder().decode(RLValidation.self, from: Data(bytes))
        }
        try communicator.checkSame(Self.stateHash(params, state), what: "RL weights and prompt position at step \(state.step)")
        if startValidation == nil, !valid.isEmpty {
            let v = try validate(&scorer, valid, trie: trie, width: G)
            if writes { try AtomicFile.write(try Self.sortedJSON(v), to: startValidationURL) }
            log(String(format: "rl: start (SFT weights) validation reward %.4f HR@10 %.4f", v.meanReward, v.hr10))
            startValidation = v
        }

        // MARK: the loop
        var order = EpochOrder(resumingAt: state) { rng in Array(examples.indices).shuffled(using: &rng) }
        var stepsThisInvocation = 0
        let rollouts = (total - state.step) * rl.promptsPerStep * G
        let progress = writes ? ProgressBar(total: rollouts, label: "rl", unit: "rollouts")
            : ProgressBar(total: rollouts, label: "rl", isTTY: false, now: { 0 }, write: { _ in })
        while state.step < total {
            let t0 = Date()
            let batch = (0..<rl.promptsPerStep).map { _ in order.next(&state) }
            var stats = try step(policy: policy, reference: reference, scorer: &scorer, batch: batch.map { examples[$0] },
                                 trie: trie, rl: rl)
            if communicator.isParallel {     // this rank's share of the gradient, loss and KL: summed
                let sums = sumGradientsOverRanks(params.map(\.tensor), with: [stats.loss, stats.kl])
                (stats.loss, stats.kl) = (sums[0], sums[1])
            }
            let (lr, gradNorm) = try optimizerStep(params.map(\.tensor), optimizer: &optimizer, schedule: schedule, step: state.step,
                                                   maxNorm: rl.gradClip, stage: "RL")
            state.step += 1
            stepsThisInvocation += 1
            if state.step % rl.refSyncSteps == 0 { Self.mix(reference: refParams, toward: params, alpha: rl.refSyncAlpha) }
            if state.step % max(1, parameterCheckInterval) == 0 {
                try communicator.checkSame(parameterHash(params.map(\.tensor)), what: "RL weights after step \(state.step)")
            }
            var row = RLLogRow(step: state.step, epoch: state.epoch, meanReward: stats.meanReward, exactMatch: stats.exactMatch,
                               targetInGroup: stats.targetInGroup, kl: stats.kl, loss: stats.loss, learningRate: Double(lr),
                               gradNorm: Double(gradNorm), seconds: 0, validReward: nil, validHR10: nil)
            if !valid.isEmpty && (state.step % validEvery == 0 || state.step == total) {
                let v = try validate(&scorer, valid, trie: trie, width: G)
                (row.validReward, row.validHR10) = (v.meanReward, v.hr10)
            }
            row.seconds = Date().timeIntervalSince(t0)
            rows.append(row)
            progress.note = String(format: "reward %.3f kl %.2e", row.meanReward, row.kl)
            progress.advance(by: rl.promptsPerStep * G)
            log(String(format: "rl step %d/%d reward %.4f exact %.4f in-group %.3f kl %.3e loss %.3e lr %.2e gnorm %.3f %.1fs%@",
                       state.step, total, row.meanReward, row.exactMatch, row.targetInGroup, row.kl, row.loss, lr, gradNorm,
                       row.seconds, row.validReward.map { String(format: " valid reward %.4f HR@10 %.4f", $0, row.validHR10!) } ?? ""))
            if state.step % max(1, rl.checkpointInterval) == 0 || state.step == total {
                state.optimizerStep = optimizer.state.step
                try saveProgress(rows, state, tensors: checkpointSources(params, optimizer)
                                     + refParams.map { ("ref." + $0.name, Checkpoint.Source.tensor($0.tensor)) })
            }
            if let limit = stepLimitThisInvocation, stepsThisInvocation >= limit, state.step < total {
                progress.finish()
                return nil
            }
        }
        progress.finish()

        // MARK: end: the last weights are the result
        if writes { try Checkpoint.save(state, tensors: params.map { ($0.name, .tensor($0.tensor)) }, to: policyURL) }
        try communicator.checkSame(parameterHash(params.map(\.tensor)), what: "RL weights at the end of the stage")
        let summary = RLSummary(steps: state.step, wallSeconds: rows.reduce(0) { $0 + $1.seconds }, prompts: examples.count,
                                startValidation: startValidation, log: rows)
        if writes { try AtomicFile.write(try Self.sortedJSON(summary), to: summaryURL) }
        return summary
    }

    /// Statistics of one RL step (its gradient is left in the policy's parameters). With several
    /// ranks the rewards' statistics are the whole step's (every rank has every completion);
    /// `loss` and `kl` are this rank's share, which the caller sums over the ranks.
    struct RLStepStats { var meanReward, exactMatch, targetInGroup, kl, loss: Double }

    /// Rollouts, rewards and advantages for `batch`, then the policy-gradient backward over
    /// micro-batches of prompts. Every group must have the same size (the trie's sequence count
    /// when it holds fewer than the beam width).
    func step(policy: Llama, reference: Llama, scorer: inout LlamaBeamScorer, batch: [RLExample], trie: PrefixTrie,
              rl: RLConfig) throws -> RLStepStats {
        // policy and reference change only after the step: bf16 copies made once for it
        try BF16Matmul.withFixedWeights((policy.parameters + reference.parameters).map(\.tensor)) {
            try stepWithFixedWeights(policy: policy, reference: reference, scorer: &scorer, batch: batch, trie: trie, rl: rl)
        }
    }

    private func stepWithFixedWeights(policy: Llama, reference: Llama, scorer: inout LlamaBeamScorer, batch: [RLExample],
                                      trie: PrefixTrie, rl: RLConfig) throws -> RLStepStats {
        let completions = try rollouts(&scorer, trie: trie, prompts: batch.map { $0.prompt.map(Int.init) },
                                       width: rl.completionsPerPrompt)
        let G = completions[0].count
        precondition(G > 0 && completions.allSatisfy { $0.count == G }, "reinforce: groups of unequal size")
        let rewards = zip(completions, batch).map { GroupRewards.rewards($0, target: $1.target) }
        let advantages = rewards.map { GroupRewards.advantages($0) }
        let L = completions[0][0].count, C = batch.count * G
        let weight = 1 / Float(L * C)
        var loss = 0.0, klSum = 0.0
        let starts = Array(stride(from: 0, to: batch.count, by: rl.promptsPerMicroBatch))
        for start in communicator.share(of: starts.count).map({ starts[$0] }) {       // this rank's micro-batches
            let part = start..<min(start + rl.promptsPerMicroBatch, batch.count)
            let prompts = part.map { batch[$0].prompt }
            let tokens = part.flatMap { p in completions[p].map { $0.map(Int32.init) } }
            let adv = part.flatMap { p in advantages[p].flatMap { a in [Float](repeating: Float(a), count: L) } }
            let refOut = reference.completionLogits(tape: Tape(recording: false), prompts: prompts, completions: tokens)
            let refLogp = Tape.targetLogProbs(logits: refOut.logits, targets: refOut.targets)
            let tape = Tape()
            let out = policy.completionLogits(tape: tape, prompts: prompts, completions: tokens)
            let pl = tape.policyLoss(logits: out.logits, targets: out.targets, advantages: adv, reference: refLogp,
                                     weights: [Float](repeating: weight, count: out.targets.count), beta: rl.beta)
            guard pl.loss.item.isFinite else { throw TSRecError(.numeric("RL loss is \(pl.loss.item)"), hint: "lower the RL learning rate") }
            loss += Double(pl.loss.item)
            klSum += pl.k3.reduce(0) { $0 + Double($1) }
            tape.backward(from: pl.loss)
        }
        let allRewards = rewards.joined()
        return RLStepStats(meanReward: allRewards.reduce(0, +) / Double(C),
                           exactMatch: Double(zip(completions, batch).reduce(0) { n, g in n + g.0.filter { $0 == g.1.target }.count }) / Double(C),
                           targetInGroup: Double(zip(completions, batch).filter { $0.0.contains($0.1.target) }.count) / Double(batch.count),
                           kl: klSum / Double(L * C), loss: loss)
    }

    /// Each prompt's completions (token sequences, best first), in the order of `prompts`: the
    /// constrained beam search in chunks of `scorer.maxPrompts` prompts (the chunks `beamSearch`
    /// makes in one process, so the completions are the same), chunk c on rank c mod size, then
    /// gathered on every rank.
    func rollouts(_ scorer: inout LlamaBeamScorer, trie: PrefixTrie, prompts: [[Int]], width: Int) throws -> [[[Int]]] {
        let comm = communicator
        guard comm.isParallel else { return try beamSearch(&scorer, trie: trie, prompts: prompts, width: width).map { $0.map(\.tokens) } }
        let size = max(1, scorer.maxPrompts)
        let chunks = stride(from: 0, to: prompts.count, by: size).map { Array(prompts[$0 ..< min($0 + size, prompts.count)]) }
        var mine: [[[[Int]]]] = []                                    // [this rank's chunks][prompt][completion][token]
        for c in comm.share(of: chunks.count) {
            mine.append(try beamSearch(&scorer, trie: trie, prompts: chunks[c], width: width).map { $0.map(\.tokens) })
        }
        let byRank = try comm.allGather(Array(JSONEncoder().encode(mine))).map {
            try JSONDecoder().decode([[[[Int]]]].self, from: Data($0))
        }
        return chunks.indices.flatMap { c in byRank[c % comm.size][c / comm.size] }
    }

    /// Rollouts over `examples` with the current policy: mean reward, exact-match rate and HR@10
    /// (`rollouts`: with several ranks each decodes its share of the chunks, and every rank sums
    /// over all of them in one process's order).
    func validate(_ scorer: inout LlamaBeamScorer, _ examples: [RLExample], trie: PrefixTrie, width: Int) throws -> RLValidation {
        let groups = try BF16Matmul.withFixedWeights(scorer.model.parameters.map(\.tensor)) {
            try rollouts(&scorer, trie: trie, prompts: examples.map { $0.prompt.map(Int.init) }, width: width)
        }
        var reward = 0.0, exact = 0.0, hits = 0, completions = 0
        for (tokens, example) in zip(groups, examples) {
            reward += GroupRewards.rewards(tokens, target: example.target).reduce(0, +)
            exact += Double(tokens.filter { $0 == example.target }.count)
            if tokens.prefix(10).contains(example.target) { hits += 1 }
            completions += tokens.count
        }
        return RLValidation(meanReward: reward / Double(max(completions, 1)), exactMatch: exact / Double(max(completions, 1)),
                            hr10: Double(hits) / Double(max(examples.count, 1)))
    }

    /// ref ← α·π + (1 − α)·ref, parameter by parameter (trl's reference sync).
    static func mix(reference: [(name: String, tensor: Tensor)], toward policy: [(name: String, tensor: Tensor)], alpha: Float) {
        for (r, p) in zip(reference, policy) {
            precondition(r.name == p.name && r.tensor.count == p.tensor.count, "mix: \(r.name) vs \(p.name)")
            p.tensor.withUnsafeBufferPointer { src in
                r.tensor.withUnsafeMutableBufferPointer { dst in
                    for i in dst.indices { dst[i] = alpha * src[i] + (1 - alpha) * dst[i] }
                }
            }
        }
    }

    static func sortedJSON<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(value)
    }
}

extension RLLogRow: StepLogRow {
    static let csvHeader = ["step", "epoch", "mean_reward", "exact_match", "target_in_group", "kl", "loss", "lr", "grad_norm",
                            "seconds", "valid_reward", "valid_hr10"]
    static let logName = "RL"

    var csvFields: [String] {
        ["\(step)", "\(epoch)", "\(meanReward)", "\(exactMatch)", "\(targetInGroup)", "\(kl)", "\(loss)", "\(learningRate)",
         "\(gradNorm)", "\(seconds)", CSV.cell(validReward), CSV.cell(validHR10)]
    }

    init?(csvFields f: [String]) {
        let d = f.map { Double($0) }
        guard let step = Int(f[0]), let epoch = Int(f[1]), let reward = d[2], let exact = d[3], let inGroup = d[4], let kl = d[5],
              let loss = d[6], let lr = d[7], let g = d[8], let s = d[9] else { return nil }
        self.init(step: step, epoch: epoch, meanReward: reward, exactMatch: exact, targetInGroup: inGroup, kl: kl, loss: loss,
                  learningRate: lr, gradNorm: g, seconds: s, validReward: d[10], validHR10: d[11])
    }
}
