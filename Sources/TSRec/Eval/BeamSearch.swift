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

/// Constrained beam search over a SID trie: the `width` best whole sequences of `trie` after
/// `prompt`, best first.
///
/// At each of the `trie.uniformLength` steps, every (hypothesis, allowed next token) pair is scored by
/// its summed log-probability and the top `width` pairs are kept; ties go to the lexicographically
/// smaller token sequence. When the trie holds fewer than `width` sequences, all of them are
/// returned (ranked). A pure function of (scorer, trie, prompt, width): no state survives between calls.
/// Matches MiniOneRec's constrained beam search with length penalty 0 (checked against exhaustive
/// ranking on tiny tries in BeamSearchTests).
///
/// This is `constrainedBeamSearch` at length penalty 0 on a uniform-length constraint (every
/// sequence ends at the last step, so the finished pool is the last step's top `width`): one search
/// serves SID tries, title tries and free generation.
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
    guard trie.count == 0 || trie.uniformLength != nil else {
        preconditionFailure("beamSearch: trie sequences have different lengths (max \(trie.depth)); use constrainedBeamSearch")
    }
    return try constrainedBeamSearch(&scorer, constraint: trie, prompts: prompts, width: width)
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

func checkVocab(_ got: Int, _ expected: Int, step: Int) throws {
    guard got == expected, got > 0 else {
        throw TSRecError(.shape(name: "BeamScorer logits at step \(step)", expected: [expected], got: [got]),
                         hint: "the scorer must return one logit per vocabulary entry at every step")
    }
}
