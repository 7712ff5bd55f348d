import Foundation

/// Incremental next-token scorer with a per-hypothesis cache (the KV cache in the LLM).
///
/// Contract (what `beamSearch` and `greedyDecode` rely on):
/// - The returned vectors are **raw logits over the full vocabulary**, shape `[vocab]`. The search applies
///   log-softmax over the whole vector itself, then keeps only the tokens the trie allows. Returning
///   log-probabilities instead is equally correct, since log-softmax is idempotent.
///   Every vector must have the same length, larger than every token id in the trie.
/// - `extend` is batched over beams: `states[i]` is extended by `tokens[i]`, and the result `i` is
///   the state after that token plus the logits of the token that follows. **A state may appear more
///   than once in one call** (a hypothesis forked into several children), so each entry must be
///   extended independently (value semantics, or copy the cache before appending). After the call the
///   search never passes the old states again, so their storage may be recycled.
/// - The search calls `start` once and `extend` exactly `depth - 1` times (no logits are needed after
///   the last token), each with at most `width` states.
/// - Several prompts (`maxPrompts > 1`): `start(prompts:)` consumes them together and `extend` then
///   receives the states of all of their hypotheses in one call, so a scorer can batch across prompts.
///   A scorer that cannot keeps the default `maxPrompts == 1`.
/// - Forced continuations (`scoresForcedContinuations`): where the constraint leaves a hypothesis
///   one path to its end (the "\n" + EOS after a SID, the rest of a title once its prefix is unique),
///   the search asks for that path's log-probabilities in the same `extend(_:with:forcing:)` call
///   instead of one `extend` per token, so a model can run the whole path as one batch of rows. The
///   search is the same; only where the log-probabilities are computed changes.
public protocol BeamScorer {
    /// One hypothesis' cache, e.g. a KV-cache handle.
    associatedtype State
    /// Consumes the prompt; returns the state after it and the logits `[vocab]` of the next token.
    mutating func start(prompt: [Int]) throws -> (State, [Float])
    /// How many prompts `start(prompts:)` accepts at once.
    var maxPrompts: Int { get }
    /// Consumes up to `maxPrompts` prompts; returns one (state, logits) per prompt, in order.
    mutating func start(prompts: [[Int]]) throws -> [(State, [Float])]
    /// Extends each given state by one token; returns new states and next-token logits, one per input.
    mutating func extend(_ states: [State], with tokens: [Int]) throws -> [(State, [Float])]
    /// Whether `extend(_:with:forcing:)` scores forced continuations itself. Default false: the
    /// search then never forces and extends token by token.
    var scoresForcedContinuations: Bool { get }
    /// `extend`, where state i may also carry the tokens that must follow `tokens[i]`, `forcing[i]`
    /// (empty: none). For those the result is `.forced(lp)` with `lp[j]` = log softmax of the
    /// logits after `tokens[i]` and `forcing[i][..<j]`, at `forcing[i][j]` (the search's own
    /// formula: the logit minus `logSumExp` of the row); the state is not needed again. The others
    /// are `.live` as from `extend`.
    mutating func extend(_ states: [State], with tokens: [Int], forcing: [[Int]]) throws -> [BeamExtension<State>]
}

/// One state's result of `BeamScorer.extend(_:with:forcing:)`.
public enum BeamExtension<State> {
    /// The state after the token and the next token's logits `[vocab]`.
    case live(State, [Float])
    /// The log-probabilities of the forced tokens, in order.
    case forced([Double])
}

extension BeamScorer {
    public var maxPrompts: Int { 1 }

    public var scoresForcedContinuations: Bool { false }

    public mutating func extend(_ states: [State], with tokens: [Int], forcing: [[Int]]) throws -> [BeamExtension<State>] {
        precondition(forcing.allSatisfy(\.isEmpty), "BeamScorer: forced continuations for a scorer that does not score them")
        return try extend(states, with: tokens).map { .live($0.0, $0.1) }
    }

    public mutating func start(prompts: [[Int]]) throws -> [(State, [Float])] {
        precondition(prompts.count == 1, "BeamScorer: \(prompts.count) prompts for a scorer that takes one at a time")
        return [try start(prompt: prompts[0])]
    }
}

/// One finished hypothesis: a whole sequence of the trie and its total log-probability
/// `score = Σ_t log softmax(logits_t)[token_t]` (length penalty 0).
public struct BeamHypothesis: Sendable, Hashable, Codable {
    public var tokens: [Int]
    public var score: Double

    public init(tokens: [Int], score: Double) {
        self.tokens = tokens
        self.score = score
    }
}

/// Constrained beam search: the `width` best whole sequences of `trie` after `prompt`, best first.
///
/// At each of the `trie.uniformLength` steps, every (hypothesis, allowed next token) pair is scored by
/// its summed log-probability and the top `width` pairs are kept; ties go to the lexicographically
/// smaller token sequence. Tie-breaking is free here: trie nodes at one depth are numbered in
/// lexicographic order of their prefixes, so comparing child node ids compares sequences.
/// When the trie holds fewer than `width` sequences, all of them are returned (ranked).
/// A pure function of (scorer, trie, prompt, width): no state survives between calls.
/// Matches MiniOneRec's constrained beam search with length penalty 0 (checked against exhaustive
/// ranking on tiny tries in BeamSearchTests).
public func beamSearch<S: BeamScorer>(
    _ scorer: inout S, trie: PrefixTrie, prompt: [Int], width: Int = 20
) throws -> [BeamHypothesis] {
    try beamSearch(&scorer, trie: trie, prompts: [prompt], width: width)[0]
}

/// `beamSearch(_:trie:prompt:width:)` for several prompts: each prompt's result is exactly what the
/// single-prompt search returns (selection never mixes prompts), but the scorer sees up to
/// `scorer.maxPrompts` prompts at a time and all of their hypotheses in each `extend`, so a model
/// runs its projections as larger GEMMs. Results are in the order of `prompts`.
public func beamSearch<S: BeamScorer>(
    _ scorer: inout S, trie: PrefixTrie, prompts: [[Int]], width: Int = 20
) throws -> [[BeamHypothesis]] {
    precondition(width >= 1, "beamSearch: width \(width) < 1")
    precondition(scorer.maxPrompts >= 1, "beamSearch: scorer.maxPrompts \(scorer.maxPrompts) < 1")
    guard trie.count > 0 else { return prompts.map { _ in [] } }
    guard let length = trie.uniformLength else {
        preconditionFailure("beamSearch: trie sequences have different lengths (max \(trie.depth))")
    }
    var results: [[BeamHypothesis]] = []
    results.reserveCapacity(prompts.count)
    for chunkStart in stride(from: 0, to: prompts.count, by: scorer.maxPrompts) {
        let chunk = Array(prompts[chunkStart ..< min(chunkStart + scorer.maxPrompts, prompts.count)])
        let started = try scorer.start(prompts: chunk)
        precondition(started.count == chunk.count, "BeamScorer.start returned \(started.count) results for \(chunk.count) prompts")
        let vocab = started[0].1.count
        // Per prompt: its live beam, and per step the kept candidates' parents and tokens.
        var beams = started.map { [LiveHypothesis(node: PrefixTrie.root, score: 0, state: $0.0, logits: $0.1, pending: [])] }
        var parentOf = [[[Int]]](repeating: [], count: chunk.count)
        var tokensOf = [[[Int]]](repeating: [], count: chunk.count)

        for step in 0 ..< length {
            var kept: [[BeamCandidate]] = []
            for p in chunk.indices {
                let k = try topCandidates(beams[p], trie: trie, vocab: vocab, width: width, step: step)
                parentOf[p].append(k.map(\.parent))
                tokensOf[p].append(k.map { trie.token(of: $0.child) })
                kept.append(k)
            }
            if step == length - 1 {
                for p in chunk.indices {
                    results.append(kept[p].enumerated().map { i, c in
                        BeamHypothesis(tokens: tracePath(i, parentOf: parentOf[p], tokensOf: tokensOf[p]), score: c.score)
                    })
                }
                break
            }
            // One extend for the kept hypotheses of every prompt, prompt by prompt: a child of a
            // hypothesis on a forced path needs none (its log-probabilities are known), and once
            // every kept child of a prompt has one way to its end (no later step can drop any of
            // them), those ways are scored in the same call.
            var states: [S.State] = [], tokens: [Int] = [], forcing: [[Int]] = []
            for p in chunk.indices {
                let paths = kept[p].map { c in beams[p][c.parent].pending.isEmpty ? trie.forcedPath(from: c.child) : [] }
                let forces = scorer.scoresForcedContinuations && paths.allSatisfy { $0 != nil }
                for (c, path) in zip(kept[p], paths) where beams[p][c.parent].pending.isEmpty {
                    states.append(beams[p][c.parent].state!)
                    tokens.append(trie.token(of: c.child))
                    forcing.append(forces ? path! : [])
                }
            }
            let extended = states.isEmpty ? [] : try scorer.extend(states, with: tokens, forcing: forcing)
            precondition(extended.count == states.count, "BeamScorer.extend returned \(extended.count) results for \(states.count) states")
            var next = 0
            for p in chunk.indices {
                beams[p] = kept[p].map { c in
                    let parent = beams[p][c.parent]
                    if !parent.pending.isEmpty {
                        return LiveHypothesis(node: c.child, score: c.score, state: nil, logits: [], pending: parent.pending.dropFirst())
                    }
                    defer { next += 1 }
                    return LiveHypothesis(node: c.child, score: c.score, extended[next], forcing: forcing[next])
                }
            }
        }
    }
    return results
}

/// The `width` best (hypothesis, allowed token) pairs of one prompt's beam, best first; ties go
/// to the smaller child node (the lexicographically smaller sequence).
private func topCandidates<State>(_ beam: [LiveHypothesis<State>], trie: PrefixTrie, vocab: Int, width: Int,
                                  step: Int) throws -> [BeamCandidate] {
    var candidates: [BeamCandidate] = []
    for (b, hyp) in beam.enumerated() {
        if let lp = hyp.pending.first {                 // on a forced path: its one child
            let only = trie.children(of: hyp.node)
            precondition(only.count == 1, "beamSearch: a forced path branches")
            candidates.append(BeamCandidate(score: hyp.score + lp, parent: b, child: only.lowerBound))
            continue
        }
        try checkVocab(hyp.logits.count, vocab, step: step)
        let lse = try logSumExp(hyp.logits, step: step)
        for c in trie.children(of: hyp.node) {
            let t = trie.token(of: c)
            precondition(t < vocab, "beamSearch: trie token \(t) outside the scorer's vocabulary \(vocab)")
            candidates.append(BeamCandidate(score: hyp.score + (Double(hyp.logits[t]) - lse), parent: b, child: c))
        }
    }
    candidates.sort { $0.score != $1.score ? $0.score > $1.score : $0.child < $1.child }
    return Array(candidates.prefix(width))
}

/// Greedy constrained decoding: at each step the allowed token with the largest logit (ties: smaller
/// token). Equals `beamSearch(width: 1)`; kept separate as the reference for that equivalence.
/// Returns nil when the trie is empty.
public func greedyDecode<S: BeamScorer>(_ scorer: inout S, trie: PrefixTrie, prompt: [Int]) throws -> BeamHypothesis? {
    guard trie.count > 0 else { return nil }
    guard let length = trie.uniformLength else {
        preconditionFailure("greedyDecode: trie sequences have different lengths (max \(trie.depth))")
    }
    var (state, logits) = try scorer.start(prompt: prompt)
    let vocab = logits.count
    var node = PrefixTrie.root, tokens: [Int] = [], score = 0.0
    for step in 0 ..< length {
        try checkVocab(logits.count, vocab, step: step)
        var best = -1
        for c in trie.children(of: node) where best < 0 || logits[trie.token(of: c)] > logits[trie.token(of: best)] {
            best = c
        }
        let t = trie.token(of: best)
        score += Double(logits[t]) - (try logSumExp(logits, step: step))
        tokens.append(t)
        node = best
        if step < length - 1 {
            let next = try scorer.extend([state], with: [t])
            precondition(next.count == 1, "BeamScorer.extend returned \(next.count) results for 1 state")
            (state, logits) = next[0]
        }
    }
    return BeamHypothesis(tokens: tokens, score: score)
}

// MARK: - Helpers

/// A hypothesis still being extended: its trie node, summed log-prob, and either its cache and
/// next-token logits `[vocab]`, or (on a forced path) the log-probabilities of the path's tokens
/// still ahead, `pending` (no state or logits: the path needs no more model calls).
private struct LiveHypothesis<State> {
    var node: Int
    var score: Double
    var state: State?
    var logits: [Float]
    var pending: ArraySlice<Double>

    init(node: Int, score: Double, state: State?, logits: [Float], pending: ArraySlice<Double>) {
        (self.node, self.score, self.state, self.logits, self.pending) = (node, score, state, logits, pending)
    }

    /// The hypothesis after a scorer's `extension` of it, which was asked to score `forcing`.
    init(node: Int, score: Double, _ extension: BeamExtension<State>, forcing: [Int]) {
        switch `extension` {
        case let .live(state, logits):
            precondition(forcing.isEmpty, "BeamScorer.extend returned a live state for a forced continuation")
            self.init(node: node, score: score, state: state, logits: logits, pending: [])
        case let .forced(logProbs):
            precondition(!forcing.isEmpty && logProbs.count == forcing.count,
                         "BeamScorer.extend returned \(logProbs.count) log-probabilities for \(forcing.count) forced tokens")
            self.init(node: node, score: score, state: nil, logits: [], pending: logProbs[...])
        }
    }
}
/// One (hypothesis, allowed token) pair: `child` is the trie node reached, `parent` the index in the beam.
private struct BeamCandidate { var score: Double; var parent: Int; var child: Int }

/// log Σ_v exp(x_v) over the full vocabulary `[vocab]`: max-subtracted, exp in Float, summed in Double.
/// Throws on NaN/+inf, or when every logit is -inf (no distribution to normalise).
func logSumExp(_ x: [Float], step: Int) throws -> Double {
    try x.withUnsafeBufferPointer { try logSumExp($0, step: step) }
}

/// `logSumExp` of a row in place (a scorer's logits buffer, not copied out). Every hypothesis of
/// every step normalises a full-vocabulary row (beam 20 × 8 prompts: 7.9 M exponentials a step),
/// so the row runs through the vectorisable `Kernels.exp` in blocks of 1,024, each block summed
/// in eight Double lanes; the order of the additions is fixed, so the result is deterministic.
/// A NaN or +inf logit makes the sum NaN: only then is the row scanned for the offender.
func logSumExp(_ x: UnsafeBufferPointer<Float>, step: Int) throws -> Double {
    guard let base = x.baseAddress, !x.isEmpty else {
        throw TSRecError(.numeric("beam step \(step): scorer returned no logits"))
    }
    let n = x.count, block = 1024
    let m = Kernels.rowMax(base, n)                                  // NaNs do not count here
    guard m > -.infinity else {
        throw x.contains(where: \.isNaN) ? badLogit(x, step: step) : TSRecError(.numeric("beam step \(step): all \(n) logits are -inf"))
    }
    let sum: Double = withUnsafeTemporaryAllocation(of: Float.self, capacity: block) { e in
        let e = e.baseAddress!
        var lanes = SIMD8<Double>()
        var start = 0
        while start < n {
            let len = min(block, n - start), row = base + start
            for j in 0..<len { e[j] = Kernels.exp(row[j] - m) }       // [len], vectorised
            var j = 0
            while j + 8 <= len {
                lanes += SIMD8<Double>(UnsafeRawPointer(e + j).loadUnaligned(as: SIMD8<Float>.self))
                j += 8
            }
            while j < len { lanes[0] += Double(e[j]); j += 1 }
            start += len
        }
        return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
    }
    guard sum.isFinite, m < .infinity else { throw badLogit(x, step: step) }   // a NaN or +inf logit
    return Double(m) + log(sum)
}

/// The error for a row holding a NaN or +inf logit, naming the first.
private func badLogit(_ x: UnsafeBufferPointer<Float>, step: Int) -> TSRecError {
    let bad = x.first { $0.isNaN || $0 == .infinity }.map { "\($0)" } ?? "a non-finite sum"
    return TSRecError(.numeric("beam step \(step): scorer returned \(bad) among \(x.count) logits"),
                      hint: "check the model's forward pass (weights loaded? overflow?)")
}

private func checkVocab(_ got: Int, _ expected: Int, step: Int) throws {
    guard got == expected, got > 0 else {
        throw TSRecError(.shape(name: "BeamScorer logits at step \(step)", expected: [expected], got: [got]),
                         hint: "the scorer must return one logit per vocabulary entry at every step")
    }
}

/// Tokens of kept hypothesis `i` at the last step, following parent links back to the root.
private func tracePath(_ i: Int, parentOf: [[Int]], tokensOf: [[Int]]) -> [Int] {
    var out = [Int](repeating: 0, count: tokensOf.count)
    var j = i
    for step in stride(from: tokensOf.count - 1, through: 0, by: -1) {
        out[step] = tokensOf[step][j]
        j = parentOf[step][j]
    }
    return out
}
