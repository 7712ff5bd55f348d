import Foundation

/// What constrained decoding may generate: the allowed next tokens after a prefix, and where a
/// sequence ends. A constraint is a finite automaton over tokens with states `Node`:
/// `rootNode` is the empty prefix, `continuations(of:)` the allowed (token, next node) pairs, and
/// `isEnd(_:)` marks finished sequences.
///
/// Contract (what `constrainedBeamSearch` relies on):
/// - an end node has no continuation (the generated set is prefix-free: a sequence stops at its
///   end, which for the authors' formats is EOS);
/// - every path from the root reaches an end node within `maxLength` tokens;
/// - `continuations(of:)` lists distinct tokens in increasing order.
public protocol DecodingConstraint {
    associatedtype Node
    /// The empty prefix.
    var rootNode: Node { get }
    /// Length of the longest sequence (how many tokens a search may generate).
    var maxLength: Int { get }
    /// Allowed next tokens after `node` with the node each leads to, in increasing token order.
    func continuations(of node: Node) -> [(token: Int, node: Node)]
    /// Whether the path to `node` is a finished sequence.
    func isEnd(_ node: Node) -> Bool
    /// The tokens from `node` to an end when there is only one way there (empty at an end), nil
    /// otherwise. The default walks `continuations(of:)`.
    func forcedPath(from node: Node) -> [Int]?
}

extension DecodingConstraint {
    public func forcedPath(from node: Node) -> [Int]? {
        var n = node, path: [Int] = []
        while !isEnd(n) {
            let next = continuations(of: n)
            guard next.count == 1, path.count < maxLength else { return nil }
            path.append(next[0].token)
            n = next[0].node
        }
        return path
    }
}

/// A trie constrains decoding to its stored sequences (SID tries, title tries). Search over it
/// needs no terminal node with children (true of every EOS-terminated trie).
extension PrefixTrie: DecodingConstraint {
    public var rootNode: Int { PrefixTrie.root }
    public var maxLength: Int { depth }
    public func continuations(of node: Int) -> [(token: Int, node: Int)] {
        children(of: node).map { (token: token(of: $0), node: $0) }
    }
    public func isEnd(_ node: Int) -> Bool { isSequenceEnd(node) }
}

/// LC-Rec's decoding constraint: at SID position i any token seen at level i of some catalogue SID
/// (any combination), then a fixed ending (LC-Rec: EOS right after the SID). Sequences that are no
/// item's SID are reachable; `isCatalogue(_:)` tells them apart.
///
/// Nodes are positions 0 ... levels.count + ending.count (the last one is the end).
public struct PositionwiseCodes: DecodingConstraint, Sendable, Hashable {
    /// Allowed tokens per SID position, sorted and distinct: `levels[i]` = { sid[i] : sid in catalogue }.
    public let levels: [[Int]]
    /// Tokens forced after the SID (e.g. `[eos]`).
    public let ending: [Int]
    /// The catalogue's SID token sequences (without the ending).
    public let catalogue: Set<[Int]>

    /// `sids`: the catalogue's SID token sequences, all of one length ≥ 1; `ending` non-empty.
    public init(sids: [[Int]], ending: [Int]) {
        precondition(!ending.isEmpty, "PositionwiseCodes: the ending must be non-empty (it marks the end)")
        let length = sids.first?.count ?? 0
        precondition(length >= 1 && sids.allSatisfy { $0.count == length }, "PositionwiseCodes: SIDs of different or zero lengths")
        precondition(sids.allSatisfy { $0.allSatisfy { $0 >= 0 } } && ending.allSatisfy { $0 >= 0 }, "PositionwiseCodes: negative token")
        levels = (0 ..< length).map { i in Set(sids.map { $0[i] }).sorted() }
        self.ending = ending
        catalogue = Set(sids)
    }

    public var rootNode: Int { 0 }
    public var maxLength: Int { levels.count + ending.count }
    public func continuations(of node: Int) -> [(token: Int, node: Int)] {
        if node < levels.count { return levels[node].map { (token: $0, node: node + 1) } }
        if node < maxLength { return [(token: ending[node - levels.count], node: node + 1)] }
        return []
    }
    public func isEnd(_ node: Int) -> Bool { node == maxLength }

    /// Whether a generated sequence (SID tokens, then the ending) is a catalogue item's SID.
    public func isCatalogue(_ sequence: [Int]) -> Bool {
        sequence.count == maxLength && catalogue.contains(Array(sequence.prefix(levels.count)))
    }

    /// Size of the product of the level sets: how many SIDs the constraint can generate.
    public var reachableCount: Int { levels.reduce(1) { $0 * $1.count } }
}

/// Unconstrained generation (BIGRec): any token of the first `vocabulary` ids at every step; a
/// sequence ends at `eos` (included) or after `maxLength` tokens (Hugging Face's `max_new_tokens`:
/// a hypothesis that reaches the limit is finished as it is).
public struct FreeGeneration: DecodingConstraint, Sendable, Hashable {
    /// How many tokens have been generated, and whether the last one was EOS.
    public struct Position: Sendable, Hashable {
        public var length: Int
        public var ended: Bool
    }
    public let vocabulary: Int
    public let eos: Int
    public let maxLength: Int

    /// `vocabulary`: the ids that may be generated, `0..<vocabulary` (the backbone's own, without
    /// tokens added for other methods); `eos` must be one of them.
    public init(vocabulary: Int, eos: Int, maxLength: Int) {
        precondition(vocabulary > 0 && (0..<vocabulary).contains(eos) && maxLength >= 1,
                     "FreeGeneration: vocabulary \(vocabulary), eos \(eos), maxLength \(maxLength)")
        (self.vocabulary, self.eos, self.maxLength) = (vocabulary, eos, maxLength)
    }

    public var rootNode: Position { Position(length: 0, ended: false) }
    public func continuations(of node: Position) -> [(token: Int, node: Position)] {
        guard !isEnd(node) else { return [] }
        return (0..<vocabulary).map { (token: $0, node: Position(length: node.length + 1, ended: $0 == eos)) }
    }
    public func isEnd(_ node: Position) -> Bool { node.ended || node.length == maxLength }
    /// Every step may choose any token: nothing is forced (and no vocabulary-sized walk is made).
    public func forcedPath(from node: Position) -> [Int]? { isEnd(node) ? [] : nil }
}

/// A second opinion mixed into a constrained search's token scores (D3's text-free assistant,
/// `TitleAssistant`): per prompt, the log-probabilities `log q` it gives the allowed continuations
/// of a node. The search then scores a continuation `weight · log p_LLM + (1 − weight) · log q`
/// (DecodingMatters `LogitProcesser.py:122-128`: `g·(scores − cf) + cf`, the LLM's full-vocabulary
/// log-softmax and the assistant's masses renormalised over the allowed tokens).
///
/// `weight` (D3's `guidance_scale` g) is in [0, 1]: 1 is the LLM alone, exactly the unguided
/// search, 0 the assistant alone. Both terms are ≤ 0 in that range, so a hypothesis's score still
/// only falls as it grows, which the stopping rules rely on. A node with one continuation gets
/// `log q = 0` (its one mass over itself), so a forced path adds `weight · log p` per token.
public struct TokenGuide<Node> {
    public var weight: Double
    /// `[continuations.count]` log-probabilities of `continuations` (the constraint's, in its
    /// order) after `node`, for the prompt at index `prompt` of the search's `prompts`.
    public var logProbabilities: (_ prompt: Int, _ node: Node, _ continuations: [(token: Int, node: Node)]) -> [Double]

    public init(weight: Double,
                logProbabilities: @escaping (_ prompt: Int, _ node: Node, _ continuations: [(token: Int, node: Node)]) -> [Double]) {
        precondition(weight >= 0 && weight <= 1, "TokenGuide: weight \(weight) outside [0, 1]")
        (self.weight, self.logProbabilities) = (weight, logProbabilities)
    }
}

/// When a prompt's beam search stops once its pool of finished sequences is full.
public enum BeamStopping: Sendable, Hashable {
    /// When no live hypothesis can still rank above the pool's worst at any remaining length
    /// (exact for every length penalty).
    case exact
    /// Hugging Face's default (`early_stopping=False`): when the step's best candidate (of its
    /// 2·width, ending ones included: `is_done(next_scores.max(), cur_len)`, transformers 4.28
    /// `beam_search.py:289-293`, 4.44 `:307-310`), scored at its length, does not rank above the
    /// pool's worst. The same as `exact` at length penalty 0; with a positive penalty it stops
    /// sooner (BIGRec's free generation, whose `exact` bound would keep every search going to
    /// `max_new_tokens`).
    case huggingFace
}

/// What a hypothesis's length is when the length penalty divides its summed log-probability.
public enum PenalisedLength: Sendable, Hashable {
    /// Its generated tokens, the ending included (transformers 4.44: `generated_len`).
    case generated
    /// Its whole sequence as transformers 4.28 and 4.31 count it: the prompt and the generated
    /// tokens before `eos`, which is never appended to a finished hypothesis (`BeamHypotheses.add`
    /// divides by `hyp.shape[-1]`, 4.28 `beam_search.py:887-891`); the stopping test divides by
    /// the prompt plus every generated token (`cur_len + 1`, `:288-293`). A hypothesis cut at the
    /// token limit counts all its tokens. BIGRec's pins date it to these versions.
    case promptAndGeneratedBeforeEOS(eos: Int)
}

/// Constrained beam search with Hugging Face's beam semantics, for constraints whose sequences
/// may differ in length (title tries) as well as uniform ones (SID tries, position-wise codes).
///
/// Per prompt, at each step:
/// 1. every (live hypothesis, allowed token) pair is scored by its summed log-probability
///    `Σ log softmax(logits)[token]` (full-vocabulary softmax, as `beamSearch`), and the best
///    `2·width` pairs are ranked (ties: the lexicographically smaller token sequence first);
/// 2. a pair that reaches an end node joins the finished pool only when its rank is below `width`;
///    the pool keeps the `width` best finished sequences by `sum / length^lengthPenalty`, where
///    length = generated tokens, ending included (ties: lexicographically smaller first; a newcomer
///    must rank strictly above the pool's worst), or as `penalisedLength` says (BIGRec: the prompt
///    too, the ending not);
/// 3. the other pairs, in rank order, form the next live beam, up to `width`;
/// 4. the prompt is done when no live hypothesis remains, or when the pool is full and no live
///    hypothesis can rank above its worst: a live sum s can at best reach
///    max(s/(n+1)^lp, s/maxLength^lp) over the remaining lengths (log-probs only decrease), so the
///    stop is exact for every length penalty (`.exact`). Hugging Face's default test
///    (`.huggingFace`) scores the step's best candidate, ending or not, at its current length:
///    the same at length penalty 0, D3's setting.
///
/// Returns the finished pool, best first, with `score` = the summed log-probability (at length
/// penalty 0 the order is by `score`). At width ≥ the number of sequences every sequence comes back,
/// ranked exactly. On a uniform-length constraint with length penalty 0 every sequence ends at the
/// last step and the pool is that step's top `width`: `beamSearch` over a SID trie is this search.
///
/// The scorer sees up to `scorer.maxPrompts` prompts at a time and all their live hypotheses in one
/// `extend` (at most `width` per prompt, at most `maxLength - 1` extends); prompts whose search is
/// done drop out of the batch. Results are in the order of `prompts`.
///
/// With a `guide`, every step's score is its mixture with the guide's (`TokenGuide`), and
/// `score` the summed mixture; at weight 1 the search is the unguided one, bit for bit.
public func constrainedBeamSearch<S: BeamScorer, C: DecodingConstraint>(
    _ scorer: inout S, constraint: C, prompts: [[Int]], width: Int = 20, lengthPenalty: Double = 0,
    stopping: BeamStopping = .exact, penalisedLength: PenalisedLength = .generated, guide: TokenGuide<C.Node>? = nil
) throws -> [[BeamHypothesis]] {
    precondition(width >= 1, "constrainedBeamSearch: width \(width) < 1")
    precondition(scorer.maxPrompts >= 1, "constrainedBeamSearch: scorer.maxPrompts \(scorer.maxPrompts) < 1")
    precondition(lengthPenalty.isFinite, "constrainedBeamSearch: length penalty \(lengthPenalty)")
    precondition(penalisedLength == .generated || stopping == .huggingFace || lengthPenalty == 0,
                 "constrainedBeamSearch: the exact stopping bound counts generated tokens only")
    let guide = guide?.weight == 1 ? nil : guide      // weight 1: the LLM alone, the unguided search exactly
    let maxLength = constraint.maxLength
    guard maxLength > 0, !constraint.continuations(of: constraint.rootNode).isEmpty else { return prompts.map { _ in [] } }
    var results: [[BeamHypothesis]] = []
    results.reserveCapacity(prompts.count)
    for chunkStart in stride(from: 0, to: prompts.count, by: scorer.maxPrompts) {
        let chunk = Array(prompts[chunkStart ..< min(chunkStart + scorer.maxPrompts, prompts.count)])
        let started = try scorer.start(prompts: chunk)
        precondition(started.count == chunk.count, "BeamScorer.start returned \(started.count) results for \(chunk.count) prompts")
        let vocab = started[0].1.count
        var beams = started.map { [VariableHypothesis(node: constraint.rootNode, score: 0, tokens: [], state: $0.0, logits: $0.1, pending: [])] }
        var pools = chunk.map { FinishedPool(width: width, lengthPenalty: lengthPenalty, promptLength: $0.count, penalisedLength: penalisedLength) }

        for step in 0 ..< maxLength {
            // Selection per prompt: next live beams (parent index in the old beam, token, node, score).
            var next = [[(parent: Int, token: Int, node: C.Node, score: Double)]](repeating: [], count: chunk.count)
            for p in chunk.indices where !beams[p].isEmpty {
                let ranked = try rankCandidates(beams[p], constraint: constraint, vocab: vocab, limit: 2 * width, step: step,
                                                guide: guide, prompt: chunkStart + p)
                for (rank, c) in ranked.enumerated() {
                    if constraint.isEnd(c.node) {
                        precondition(constraint.continuations(of: c.node).isEmpty,
                                     "constrainedBeamSearch: an end node has continuations (the constraint must be prefix-free)")
                        if rank < width { pools[p].offer(BeamHypothesis(tokens: beams[p][c.parent].tokens + [c.token], score: c.score)) }
                    } else {
                        next[p].append((c.parent, c.token, c.node, c.score))
                        if next[p].count == width { break }
                    }
                }
                // exact: only a live hypothesis can still grow; Hugging Face: the step's best candidate
                let best = stopping == .huggingFace ? ranked.first?.score : next[p].first?.score
                if pools[p].isFull, let best, !pools[p].canImprove(bestLiveScore: best, length: step + 1, maxLength: maxLength, stopping: stopping) {
                    next[p] = []
                }
            }
            guard next.contains(where: { !$0.isEmpty }) else { break }
            precondition(step < maxLength - 1, "constrainedBeamSearch: a live hypothesis at the maximum length (every path must end)")
            // One extend for the live hypotheses of every prompt: none for a child of a hypothesis on
            // a forced path (its log-probabilities are known); once every live child of a prompt has
            // one way to its end (no later step can drop any of them, only the early stop), those
            // ways are scored in the same call (when the scorer can).
            var states: [S.State] = [], tokens: [Int] = [], forcing: [[Int]] = []
            for p in chunk.indices {
                let paths = next[p].map { c in beams[p][c.parent].pending.isEmpty ? constraint.forcedPath(from: c.node) : [] }
                let forces = scorer.scoresForcedContinuations && paths.allSatisfy { $0 != nil }
                for (c, path) in zip(next[p], paths) where beams[p][c.parent].pending.isEmpty {
                    states.append(beams[p][c.parent].state!)
                    tokens.append(c.token)
                    forcing.append(forces ? path! : [])
                }
            }
            let extended = states.isEmpty ? [] : try scorer.extend(states, with: tokens, forcing: forcing)
            precondition(extended.count == states.count, "BeamScorer.extend returned \(extended.count) results for \(states.count) states")
            var k = 0
            for p in chunk.indices {
                beams[p] = next[p].map { c in
                    let parent = beams[p][c.parent], path = parent.tokens + [c.token]
                    if !parent.pending.isEmpty {
                        return VariableHypothesis(node: c.node, score: c.score, tokens: path, state: nil, logits: [],
                                                  pending: parent.pending.dropFirst())
                    }
                    defer { k += 1 }
                    return VariableHypothesis(node: c.node, score: c.score, tokens: path, extended[k], forcing: forcing[k])
                }
            }
        }
        results.append(contentsOf: pools.map(\.ranked))
    }
    return results
}

/// The best `limit` (hypothesis, allowed token) pairs of one prompt's beam, best first; ties go to
/// the lexicographically smaller sequence (all live hypotheses have the same length, so: smaller
/// parent sequence, then smaller token). With a `guide`, a pair scores the mixture of the LLM's
/// log-probability and the guide's for prompt `prompt`.
private func rankCandidates<State, C: DecodingConstraint>(
    _ beam: [VariableHypothesis<State, C.Node>], constraint: C, vocab: Int, limit: Int, step: Int,
    guide: TokenGuide<C.Node>? = nil, prompt: Int = 0
) throws -> [(parent: Int, token: Int, node: C.Node, score: Double)] {
    // lexicographic rank of each live hypothesis' tokens
    let order = beam.indices.sorted { beam[$0].tokens.lexicographicallyPrecedes(beam[$1].tokens) }
    var lexRank = [Int](repeating: 0, count: beam.count)
    for (r, b) in order.enumerated() { lexRank[b] = r }
    // The best `limit` in the order below, kept sorted while scanning: the same result as sorting
    // all candidates and taking a prefix (the order is total), without sorting a whole
    // vocabulary's worth of them per hypothesis (free generation).
    func precedes(_ x: (parent: Int, token: Int, node: C.Node, score: Double), _ y: (parent: Int, token: Int, node: C.Node, score: Double)) -> Bool {
        if x.score != y.score { return x.score > y.score }
        if x.parent != y.parent { return lexRank[x.parent] < lexRank[y.parent] }
        return x.token < y.token
    }
    var best: [(parent: Int, token: Int, node: C.Node, score: Double)] = []
    best.reserveCapacity(limit + 1)
    func offer(_ c: (parent: Int, token: Int, node: C.Node, score: Double)) {
        if best.count == limit, !precedes(c, best[limit - 1]) { return }
        best.insert(c, at: best.firstIndex { precedes(c, $0) } ?? best.count)
        if best.count > limit { best.removeLast() }
    }
    for (b, hyp) in beam.enumerated() {
        if let lp = hyp.pending.first {                 // on a forced path: its one continuation
            let only = constraint.continuations(of: hyp.node)
            precondition(only.count == 1, "constrainedBeamSearch: a forced path branches")
            // a guide's one mass over itself: log q = 0
            offer((parent: b, token: only[0].token, node: only[0].node, score: hyp.score + (guide.map { $0.weight * lp } ?? lp)))
            continue
        }
        try checkVocab(hyp.logits.count, vocab, step: step)
        let lse = try logSumExp(hyp.logits, step: step)
        let allowed = constraint.continuations(of: hyp.node)
        // the guide's log q per allowed token (nil: the LLM alone)
        let mix: (weight: Double, logQ: [Double])? = guide.map { g in
            let q = g.logProbabilities(prompt, hyp.node, allowed)
            precondition(q.count == allowed.count, "TokenGuide: \(q.count) log-probabilities for \(allowed.count) continuations")
            return (g.weight, q)
        }
        for (i, (t, node)) in allowed.enumerated() {
            precondition(t >= 0 && t < vocab, "constrainedBeamSearch: token \(t) outside the scorer's vocabulary \(vocab)")
            let logP = Double(hyp.logits[t]) - lse
            let step = mix.map { $0.weight * logP + (1 - $0.weight) * $0.logQ[i] } ?? logP
            offer((parent: b, token: t, node: node, score: hyp.score + step))
        }
    }
    return best
}

/// A live hypothesis of the variable-length search: constraint node, summed log-prob, generated
/// tokens, and either its cache and next-token logits `[vocab]` or, on a forced path, the
/// log-probabilities of the path's tokens still ahead (`pending`; no state or logits).
private struct VariableHypothesis<State, Node> {
    var node: Node
    var score: Double
    var tokens: [Int]
    var state: State?
    var logits: [Float]
    var pending: ArraySlice<Double>

    init(node: Node, score: Double, tokens: [Int], state: State?, logits: [Float], pending: ArraySlice<Double>) {
        (self.node, self.score, self.tokens, self.state, self.logits, self.pending) = (node, score, tokens, state, logits, pending)
    }

    /// The hypothesis after a scorer's `extension` of it, which was asked to score `forcing`.
    init(node: Node, score: Double, tokens: [Int], _ extension: BeamExtension<State>, forcing: [Int]) {
        switch `extension` {
        case let .live(state, logits):
            precondition(forcing.isEmpty, "BeamScorer.extend returned a live state for a forced continuation")
            self.init(node: node, score: score, tokens: tokens, state: state, logits: logits, pending: [])
        case let .forced(logProbs):
            precondition(!forcing.isEmpty && logProbs.count == forcing.count,
                         "BeamScorer.extend returned \(logProbs.count) log-probabilities for \(forcing.count) forced tokens")
            self.init(node: node, score: score, tokens: tokens, state: nil, logits: [], pending: logProbs[...])
        }
    }
}

/// The finished hypotheses of one prompt: at most `width`, kept best first by
/// (`score / length^lengthPenalty` descending, tokens lexicographically ascending), the length
/// as `penalisedLength` counts it.
struct FinishedPool {
    let width: Int
    let lengthPenalty: Double
    /// The prompt's tokens (counted by `.promptAndGeneratedBeforeEOS` only).
    let promptLength: Int
    let penalisedLength: PenalisedLength
    private(set) var ranked: [BeamHypothesis] = []

    init(width: Int, lengthPenalty: Double, promptLength: Int = 0, penalisedLength: PenalisedLength = .generated) {
        (self.width, self.lengthPenalty) = (width, lengthPenalty)
        (self.promptLength, self.penalisedLength) = (promptLength, penalisedLength)
    }

    /// The length that divides a finished hypothesis's score.
    func length(of h: BeamHypothesis) -> Int {
        switch penalisedLength {
        case .generated: h.tokens.count
        case let .promptAndGeneratedBeforeEOS(eos): promptLength + h.tokens.count - (h.tokens.last == eos ? 1 : 0)
        }
    }

    /// The length that divides the stopping test's score after `generated` tokens.
    func currentLength(generated: Int) -> Int { penalisedLength == .generated ? generated : promptLength + generated }

    var isFull: Bool { ranked.count >= width }

    /// The ranking score of a summed log-prob over `length` tokens.
    func normalised(_ score: Double, length: Int) -> Double {
        lengthPenalty == 0 ? score : score / pow(Double(length), lengthPenalty)
    }

    /// Whether `a` ranks above `b`.
    func precedes(_ a: BeamHypothesis, _ b: BeamHypothesis) -> Bool {
        let x = normalised(a.score, length: length(of: a)), y = normalised(b.score, length: length(of: b))
        return x != y ? x > y : a.tokens.lexicographicallyPrecedes(b.tokens)
    }

    /// Adds `h` when the pool has room or `h` ranks above its worst (which it then replaces).
    mutating func offer(_ h: BeamHypothesis) {
        if isFull {
            guard precedes(h, ranked[ranked.count - 1]) else { return }
            ranked.removeLast()
        }
        let at = ranked.firstIndex { precedes(h, $0) } ?? ranked.count
        ranked.insert(h, at: at)
    }

    /// Whether a live hypothesis with summed log-prob `bestLiveScore` after `length` tokens could
    /// still finish at or above the pool's worst (ties continue: the lexicographic order might favour it).
    /// With `.huggingFace` stopping the score (the step's best candidate's) counts at its
    /// current `length` instead, and a tie stops (`is_done`: done when worst ≥ it), as it does
    /// whenever that candidate is an ending that just joined the pool as its worst.
    func canImprove(bestLiveScore s: Double, length: Int, maxLength: Int, stopping: BeamStopping = .exact) -> Bool {
        guard isFull else { return true }
        guard length < maxLength else { return false }
        let worst = ranked[ranked.count - 1]
        let floor = normalised(worst.score, length: self.length(of: worst))
        switch stopping {
        case .huggingFace: return normalised(s, length: currentLength(generated: length)) > floor
        case .exact: return max(normalised(s, length: length + 1), normalised(s, length: maxLength)) >= floor
        }
    }
}

// MARK: - Catalogue titles as decoding targets

/// The catalogue's items as generated text (D3, S-DPO): each item's completion, the exact tokens the
/// model is trained to produce for it (D3: the quoted title, "\n", EOS), stored in a trie of variable
/// depth, with the items behind each distinct completion.
///
/// Items whose completions are identical (duplicate titles, or titles the tokenizer maps to the same
/// ids) share one trie leaf, one score and one rank: `rankedGroups` gives each ranked leaf's items in
/// increasing item index (the catalogue's order), and the title-level hit rule scores a rank as a
/// hit when its title is the target's (`Pipeline.titleLevelSIDs`, docs/llm-baselines.md §10).
public struct TitleCompletions: Sendable {
    /// One sequence per distinct completion.
    public let trie: PrefixTrie
    /// Item indices per distinct completion, ascending.
    public let itemsOf: [[Int]: [Int]]

    /// `completions[i]` is item i's completion. Throws when a completion is empty or a proper prefix
    /// of another (the search would have to end inside a title: end completions with EOS).
    public init(completions: [[Int]]) throws {
        var items: [[Int]: [Int]] = [:]
        for (i, c) in completions.enumerated() {
            guard !c.isEmpty else { throw TSRecError(.config(field: "titles", reason: "item \(i) has an empty completion")) }
            items[c, default: []].append(i)   // ascending: i increases
        }
        let trie = PrefixTrie(sequences: Array(items.keys))
        for s in items.keys {
            if let n = trie.node(for: s), !trie.children(of: n).isEmpty {
                throw TSRecError(.config(field: "titles", reason: "completion \(s) of item \(items[s]![0]) is a prefix of another"),
                                 hint: "end every completion with the same terminator (EOS)")
            }
        }
        self.trie = trie
        itemsOf = items
    }

    /// Number of distinct completions (trie sequences).
    public var count: Int { trie.count }

    /// The items behind each ranked hypothesis, in rank order (ascending index within a leaf).
    /// Every hypothesis must be a completion of the catalogue.
    public func rankedGroups(_ hypotheses: [BeamHypothesis]) -> [[Int]] {
        hypotheses.map { h in
            guard let items = itemsOf[h.tokens] else { preconditionFailure("TitleCompletions: \(h.tokens) is no catalogue completion") }
            return items
        }
    }
}
