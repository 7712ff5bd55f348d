import Foundation
import Testing
@testable import TSRec

/// Forced continuations: where the constraint leaves a hypothesis one way to its end, the search
/// asks the scorer for that way's log-probabilities in one call (`extend(_:with:forcing:)`)
/// instead of extending token by token. The search must not change: the same hypotheses, the same
/// scores, fewer model calls (each with more rows).

/// The scorers here are `PrefixTableScorer`s (Support/) salted for this file: with `forces`
/// they score forced paths themselves, and `rows` counts the rows each call runs.
private let tableSalt: UInt64 = 0x0F0F_1234_5678_9ABC

/// SID-like sequences (a ∈ 0..<3, b ∈ 3..<7, c ∈ 7..<12) with the "\n" (13) + EOS (15) ending:
/// after c the way is forced, and after a b with a single c in the set, from b on.
private func sidTrie(items: Int, seed: UInt64) -> PrefixTrie {
    var rng = SplitMix64(seed: seed ^ 0xF0)
    var set = Set<[Int]>()
    while set.count < items {
        set.insert([Int.random(in: 0 ..< 3, using: &rng), Int.random(in: 3 ..< 7, using: &rng), Int.random(in: 7 ..< 12, using: &rng), 13, 15])
    }
    return PrefixTrie(sequences: Array(set))
}

@Test func forcedPathFollowsSingleChildrenToTheEnd() {
    let trie = PrefixTrie(sequences: [[1, 2, 3, 9], [1, 2, 4, 9], [5, 6, 7, 9]])
    #expect(trie.forcedPath(from: PrefixTrie.root) == nil)                    // 1 or 5
    #expect(trie.forcedPath(from: trie.node(for: [1])!) == nil)               // 3 or 4 after 1, 2
    #expect(trie.forcedPath(from: trie.node(for: [1, 2, 3])!) == [9])
    #expect(trie.forcedPath(from: trie.node(for: [5])!) == [6, 7, 9])
    #expect(trie.forcedPath(from: trie.node(for: [5, 6, 7, 9])!) == [])        // an end
    // a walk over the constraint API (`continuations(of:)`, `isEnd`) agrees at every node
    func walk(_ start: Int) -> [Int]? {
        var n = start, path: [Int] = []
        while !trie.isEnd(n) {
            let next = trie.continuations(of: n)
            guard next.count == 1 else { return nil }
            path.append(next[0].token)
            n = next[0].node
        }
        return path
    }
    #expect((0 ..< trie.nodeCount).allSatisfy { walk($0) == trie.forcedPath(from: $0) })
    let codes = PositionwiseCodes(sids: [[1, 2, 3], [1, 4, 3]], ending: [9])
    #expect(codes.forcedPath(from: 0) == nil && codes.forcedPath(from: 1) == nil)
    #expect(codes.forcedPath(from: 2) == [3, 9] && codes.forcedPath(from: 4) == [])
    #expect(FreeGeneration(vocabulary: 5, eos: 0, maxLength: 3).forcedPath(from: .init(length: 1, ended: false)) == nil)
}

/// The uniform search (SID tries): bit-identical hypotheses and scores with and without forcing,
/// in fewer calls, and every forced path ends with the trie's ending.
@Test(arguments: [UInt64](0 ..< 8))
func forcingLeavesTheSIDSearchUnchanged(seed: UInt64) throws {
    let trie = sidTrie(items: 10 + Int(seed) * 3, seed: seed)
    let prompts = (0 ..< 3).map { [Int(seed), $0] }
    for width in [1, 4, 40] {
        var plain = PrefixTableScorer(vocab: 16, seed: seed, salt: tableSalt, forces: false)
        var forcing = PrefixTableScorer(vocab: 16, seed: seed, salt: tableSalt, forces: true)
        let expected = try beamSearch(&plain, trie: trie, prompts: prompts, width: width)
        let got = try beamSearch(&forcing, trie: trie, prompts: prompts, width: width)
        #expect(got == expected, "width \(width)")                            // tokens and scores, exactly
        // the ending costs no call of its own (a call per prompt here: maxPrompts is 1); rows are
        // not fewer: a forced path is run whole even when a later step drops its hypothesis
        #expect(forcing.rows.count <= plain.rows.count - prompts.count)
        #expect(forcing.forcedPaths.allSatisfy { $0.suffix(2) == [13, 15] })
    }
}

/// The variable-length search (title tries, position-wise codes): the same, with early stopping
/// and a length penalty in play.
@Test(arguments: [UInt64](0 ..< 8))
func forcingLeavesTheConstrainedSearchUnchanged(seed: UInt64) throws {
    var rng = SplitMix64(seed: seed ^ 0x7171)
    var titles = Set<[Int]>()
    while titles.count < 14 {
        titles.insert((0 ..< Int.random(in: 1 ... 6, using: &rng)).map { _ in Int.random(in: 3 ..< 9, using: &rng) } + [2])
    }
    let trie = PrefixTrie(sequences: Array(titles))
    let codes = PositionwiseCodes(sids: sidTrie(items: 8, seed: seed).allSequences().map { Array($0.prefix(3)) }, ending: [13, 15])
    for (width, penalty) in [(1, 0.0), (3, 0.0), (3, 1.0), (20, 0.0)] {
        var plain = PrefixTableScorer(vocab: 16, seed: seed, salt: tableSalt, forces: false)
        var forcing = PrefixTableScorer(vocab: 16, seed: seed, salt: tableSalt, forces: true)
        let prompts = [[1], [2, 3]]
        #expect(try constrainedBeamSearch(&forcing, constraint: trie, prompts: prompts, width: width, lengthPenalty: penalty)
                == constrainedBeamSearch(&plain, constraint: trie, prompts: prompts, width: width, lengthPenalty: penalty),
                "titles, width \(width), length penalty \(penalty)")
        #expect(forcing.rows.count <= plain.rows.count)
        #expect(try constrainedBeamSearch(&forcing, constraint: codes, prompts: prompts, width: width)
                == constrainedBeamSearch(&plain, constraint: codes, prompts: prompts, width: width), "codes, width \(width)")
    }
}

/// The model side: several tokens per beam in one `decodeHidden(sequences:)` give each token the
/// hidden state of the full forward pass of its own sequence, with beams of different lengths
/// in one batch (the cache keeps the shortest).
@Test func multiTokenDecodeMatchesTheFullForward() throws {
    let m = try LlamaFixtures.tinyModel(seed: 31, std: 0.3)
    let prompts: [[Int32]] = [[5, 11, 2, 40, 7], [3, 9]]
    let cache = m.makeCache(promptCapacity: 6, maxNewTokens: 5, maxBeams: 6, maxPrompts: 2)
    _ = m.prefill(prompts: prompts, cache: cache)
    cache.select(parents: [0, 1, 0])
    _ = m.decode([4, 8, 12], cache: cache)                                   // one ordinary step first
    var seqs = [prompts[0] + [4], prompts[1] + [8], prompts[0] + [12]]
    cache.select(parents: [2, 0, 1, 1])
    seqs = [2, 0, 1, 1].map { seqs[$0] }
    let tails: [[Int32]] = [[6, 30, 2], [1], [44, 44], [17, 3, 3, 9]]
    let logits = m.logits(tape: Tape(recording: false), hidden: m.decodeHidden(sequences: tails, cache: cache))
    #expect(logits.shape == [10, 50])
    var row = 0, worst: Float = 0
    for (b, tail) in tails.enumerated() {
        let full = LlamaFixtures.fullLogits(m, seqs[b] + tail)
        for j in tail.indices {
            worst = max(worst, maxAbsDiff(LlamaFixtures.row(logits, row), LlamaFixtures.row(full, seqs[b].count + j)))
            row += 1
        }
    }
    #expect(worst < 1e-4, "worst |multi-token decode - full| = \(worst)")
    #expect(cache.suffixLength == 2)                                           // 1 + the shortest tail
}

/// `LlamaBeamScorer` scores forced paths in the decode batch; against the same scorer extending
/// token by token it returns the same rankings on a SID trie with "\n" + EOS and on a title trie.
@Test func llamaForcedPathsKeepRankings() throws {
    /// The pipeline's scorer with forcing turned off.
    struct TokenByToken: BeamScorer {
        var inner: LlamaBeamScorer
        var maxPrompts: Int { inner.maxPrompts }
        mutating func start(prompt: [Int]) throws -> (Int, [Float]) { try inner.start(prompt: prompt) }
        mutating func start(prompts: [[Int]]) throws -> [(Int, [Float])] { try inner.start(prompts: prompts) }
        mutating func extend(_ states: [Int], with tokens: [Int]) throws -> [(Int, [Float])] { try inner.extend(states, with: tokens) }
    }
    let m = try LlamaFixtures.tinyModel(seed: 23, std: 0.4)
    let sids = Set((0 ..< 30).map { [10 + $0 % 4, 20 + ($0 / 4) % 5, 30 + $0 % 7, 13, 2] })
    let sidTrie = PrefixTrie(sequences: sids.sorted { $0.lexicographicallyPrecedes($1) })
    let titleTrie = PrefixTrie(sequences: [[14, 15, 16, 17, 2], [14, 15, 18, 2], [19, 20, 21, 22, 23, 24, 2], [25, 2], [26, 27, 2]])
    let prompts: [[Int]] = [[1, 2, 3], [4, 5, 6, 7, 8], [9]]
    for (trie, width) in [(sidTrie, 6), (sidTrie, 30), (titleTrie, 3), (titleTrie, 5)] {
        var forced = LlamaBeamScorer(model: m, promptCapacity: 6, depth: trie.depth, width: width, maxPrompts: 2)
        var plain = TokenByToken(inner: LlamaBeamScorer(model: m, promptCapacity: 6, depth: trie.depth, width: width, maxPrompts: 2))
        let got = try constrainedBeamSearch(&forced, constraint: trie, prompts: prompts, width: width)
        let expected = try constrainedBeamSearch(&plain, constraint: trie, prompts: prompts, width: width)
        #expect(got.map { $0.map(\.tokens) } == expected.map { $0.map(\.tokens) }, "width \(width)")
        let worst = zip(got, expected).flatMap { zip($0, $1).map { abs($0.score - $1.score) } }.max() ?? 1
        #expect(worst < 1e-4, "width \(width): score difference \(worst)")
    }
}
