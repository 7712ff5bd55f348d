import Foundation
import Testing
@testable import TSRec

/// The scorers here are `PrefixTableScorer`s (Support/) salted for this file.
private let tableSalt: UInt64 = 0xCBF2_9CE4_8422_2325

/// `items` distinct depth-3 sequences over SID-like levels (a: 0..<3, b: 3..<7, c: 7..<12) in a vocab of 16.
private func tinyTrie(items: Int, seed: UInt64) -> PrefixTrie {
    var rng = SplitMix64(seed: seed ^ 0x5151)
    var set = Set<[Int]>()
    while set.count < items {
        set.insert([Int.random(in: 0 ..< 3, using: &rng), Int.random(in: 3 ..< 7, using: &rng), Int.random(in: 7 ..< 12, using: &rng)])
    }
    return PrefixTrie(sequences: Array(set))
}

private func isClose(_ a: Double, _ b: Double, tol: Double = 1e-5) -> Bool { abs(a - b) <= tol * max(1, abs(a), abs(b)) }

@Test(arguments: [UInt64](0 ..< 8))
func fullWidthBeamIsExact(seed: UInt64) throws {
    let trie = tinyTrie(items: 12, seed: seed)
    var scorer = PrefixTableScorer(vocab: 16, seed: seed, salt: tableSalt)
    let exact = trie.allSequences().map { ($0, scorer.logProb($0)) }.sorted { $0.1 > $1.1 }
    for width in [12, 20, 50] {  // as wide as the item set, and wider: all 12 come back, ranked
        let beam = try beamSearch(&scorer, trie: trie, prompt: [1, 2, 3], width: width)
        #expect(beam.map(\.tokens) == exact.map(\.0), "width \(width)")
        #expect(zip(beam, exact).allSatisfy { isClose($0.score, $1.1) })
    }
}

@Test(arguments: [UInt64](0 ..< 8))
func widthOneEqualsGreedy(seed: UInt64) throws {
    let trie = tinyTrie(items: 12, seed: seed)
    var scorer = PrefixTableScorer(vocab: 16, seed: seed &+ 77, salt: tableSalt)
    let beam = try beamSearch(&scorer, trie: trie, prompt: [9], width: 1)
    let greedy = try #require(try greedyDecode(&scorer, trie: trie, prompt: [9]))
    #expect(beam.count == 1)
    #expect(beam[0].tokens == greedy.tokens)
    #expect(beam[0].score == greedy.score)
    #expect(isClose(greedy.score, scorer.logProb(greedy.tokens)))
}

@Test(arguments: [UInt64](0 ..< 4))
func beamStaysInsideTheTrie(seed: UInt64) throws {
    // Tokens 12...15 are never valid; give them a large bonus so an unconstrained search would pick them.
    let trie = tinyTrie(items: 30, seed: seed)
    var scorer = PrefixTableScorer(vocab: 16, seed: seed, salt: tableSalt, bias: [12: 8, 13: 8, 14: 8, 15: 8])
    let beam = try beamSearch(&scorer, trie: trie, prompt: [], width: 5)
    #expect(beam.count == 5)
    #expect(beam.allSatisfy { trie.contains($0.tokens) })
    #expect(Set(beam.map(\.tokens)).count == 5)
    #expect(zip(beam, beam.dropFirst()).allSatisfy { $0.score >= $1.score })
    // Log-softmax is over the full vocabulary: the biased invalid tokens take mass from every valid
    // sequence, so each scores below what the unbiased table gives it (at least 3·log(1 + e^8·…) lower).
    let unbiased = PrefixTableScorer(vocab: 16, seed: seed, salt: tableSalt)
    #expect(beam.allSatisfy { isClose($0.score, scorer.logProb($0.tokens)) && $0.score < unbiased.logProb($0.tokens) - 3 })
    // Batched contract: one start, depth-1 extends, each at most `width` states.
    #expect(scorer.starts == 1 && scorer.extendSizes.count == 2 && scorer.extendSizes.allSatisfy { $0 <= 5 })
}

@Test func tiesBreakByTokenSequence() throws {
    // All-zero logits over a vocabulary of 16: every token has log-prob -log 16, so every sequence
    // scores exactly -3·log 16 and the ranking must be lexicographic.
    struct Flat: BeamScorer {
        mutating func start(prompt: [Int]) throws -> (Int, [Float]) { (0, [Float](repeating: 0, count: 16)) }
        mutating func extend(_ states: [Int], with tokens: [Int]) throws -> [(Int, [Float])] {
            states.map { ($0 + 1, [Float](repeating: 0, count: 16)) }
        }
    }
    let trie = tinyTrie(items: 12, seed: 3)
    var scorer = Flat()
    let beam = try beamSearch(&scorer, trie: trie, prompt: [], width: 5)
    #expect(beam.map(\.tokens) == Array(trie.allSequences().prefix(5)))
    #expect(beam.allSatisfy { isClose($0.score, -3 * log(16.0), tol: 1e-12) })
}

@Test func logProbsAndLogitsGiveTheSameRanking() throws {
    let trie = tinyTrie(items: 12, seed: 5)
    var raw = PrefixTableScorer(vocab: 16, seed: 5, salt: tableSalt)
    var normalised = PrefixTableScorer(vocab: 16, seed: 5, salt: tableSalt, returnLogProbs: true)
    let a = try beamSearch(&raw, trie: trie, prompt: [], width: 6)
    let b = try beamSearch(&normalised, trie: trie, prompt: [], width: 6)
    #expect(a.map(\.tokens) == b.map(\.tokens))
    #expect(zip(a, b).allSatisfy { isClose($0.score, $1.score) })
}

@Test func nanLogitsThrow() {
    struct Broken: BeamScorer {
        mutating func start(prompt: [Int]) throws -> (Int, [Float]) { (0, [0, .nan, 0, 0]) }
        mutating func extend(_ states: [Int], with tokens: [Int]) throws -> [(Int, [Float])] { states.map { ($0, [0, 0, 0, 0]) } }
    }
    var scorer = Broken()
    #expect(throws: TSRecError.self) { try beamSearch(&scorer, trie: PrefixTrie(sequences: [[0, 1]]), prompt: [], width: 2) }
}

@Test func beamOverheadAtCatalogueScale() throws {
    // The search's own cost per test row, with a free scorer: SmolLM2 vocabulary (49,152) + 560 SID
    // tokens, 3,670 three-token SIDs, width 20. Checks the result shape; prints the time.
    struct Fixed: BeamScorer {
        let logits: [Float]
        mutating func start(prompt: [Int]) throws -> (Int, [Float]) { (0, logits) }
        mutating func extend(_ states: [Int], with tokens: [Int]) throws -> [(Int, [Float])] {
            zip(states, tokens).map { s, t in (s &* 31 &+ t, logits) }
        }
    }
    var rng = SplitMix64(seed: 7)
    let base = 49_152
    var sids = Set<[Int]>()
    while sids.count < 3670 {
        sids.insert([base + Int.random(in: 0 ..< 48, using: &rng), base + 48 + Int.random(in: 0 ..< 256, using: &rng),
                     base + 304 + Int.random(in: 0 ..< 256, using: &rng)])
    }
    let trie = PrefixTrie(sequences: Array(sids))
    var scorer = Fixed(logits: (0 ..< base + 560).map { _ in rng.nextGaussian() })
    let t0 = ProcessInfo.processInfo.systemUptime
    var beam: [BeamHypothesis] = []
    for _ in 0 ..< 10 { beam = try beamSearch(&scorer, trie: trie, prompt: [1, 2, 3], width: 20) }
    let t1 = ProcessInfo.processInfo.systemUptime
    #expect(beam.count == 20 && beam.allSatisfy { trie.contains($0.tokens) })
    #expect(zip(beam, beam.dropFirst()).allSatisfy { $0.score >= $1.score })
    print("beamSearch overhead (vocab \(base + 560), 3670 SIDs, width 20): \(String(format: "%.2f", (t1 - t0) * 100)) ms per row")
}

/// A scorer whose logits depend on the prompt and the prefix, and that takes `maxPrompts`
/// prompts at once: the state is (prompt, prefix). Records the batch sizes it was given.
private struct PromptTableScorer: BeamScorer {
    typealias State = (prompt: [Int], prefix: [Int])
    let maxPrompts: Int
    var startSizes: [Int] = []
    var extendSizes: [Int] = []

    func logits(_ prompt: [Int], _ prefix: [Int]) -> [Float] {
        PrefixTableScorer(vocab: 16, seed: prompt.reduce(1) { $0 &* 31 &+ UInt64($1) }, salt: tableSalt).logits(prefix)
    }
    mutating func start(prompt: [Int]) throws -> (State, [Float]) { try start(prompts: [prompt])[0] }
    mutating func start(prompts: [[Int]]) throws -> [(State, [Float])] {
        precondition(prompts.count <= maxPrompts)
        startSizes.append(prompts.count)
        return prompts.map { (($0, []), logits($0, [])) }
    }
    mutating func extend(_ states: [State], with tokens: [Int]) throws -> [(State, [Float])] {
        extendSizes.append(states.count)
        return zip(states, tokens).map { s, t in ((s.prompt, s.prefix + [t]), logits(s.prompt, s.prefix + [t])) }
    }
}

@Test(arguments: [1, 3, 8])
func severalPromptsAtOnceEqualOneAtATime(maxPrompts: Int) throws {
    let trie = tinyTrie(items: 20, seed: 9)
    let prompts = (0 ..< 7).map { [$0, 2 * $0 + 1] }
    var single = PromptTableScorer(maxPrompts: 1)
    let expected = try prompts.map { try beamSearch(&single, trie: trie, prompt: $0, width: 4) }
    var batched = PromptTableScorer(maxPrompts: maxPrompts)
    let got = try beamSearch(&batched, trie: trie, prompts: prompts, width: 4)
    #expect(got.map { $0.map(\.tokens) } == expected.map { $0.map(\.tokens) })
    #expect(zip(got, expected).allSatisfy { zip($0, $1).allSatisfy { $0.score == $1.score } })
    // Different prompts rank differently (otherwise the check above could not tell them apart).
    #expect(Set(expected.map { $0.map(\.tokens) }).count > 1)
    // Prompts are started in chunks of maxPrompts, and each extend carries a whole chunk's
    // hypotheses: 3 per prompt after the first step (the trie's first level has 3 tokens), then 4.
    let chunks = stride(from: 0, to: prompts.count, by: maxPrompts).map { min(maxPrompts, prompts.count - $0) }
    #expect(batched.startSizes == chunks)
    #expect(batched.extendSizes == chunks.flatMap { [$0 * 3, $0 * 4] })
}

/// The authors' trie continues after the SID with "\n" and EOS, so a beam's score sums their
/// log-probabilities too: at full width the search returns the SIDs ranked by the log-probability
/// of SID + "\n" + EOS (exhaustively checked), and over a few tables that ranking differs from the
/// SID-only one (the two forced tokens are not a constant).
@Test func theForcedSuffixCountsInTheScore() throws {
    let newline = 13, eos = 15
    var reordered = 0
    for seed in UInt64(0) ..< 6 {
        let sids = tinyTrie(items: 12, seed: seed).allSequences()
        let trie = PrefixTrie(sequences: sids.map { $0 + [newline, eos] })
        #expect(trie.uniformLength == 5)
        var scorer = PrefixTableScorer(vocab: 16, seed: seed, salt: tableSalt)
        let exact = sids.map { ($0, scorer.logProb($0 + [newline, eos])) }.sorted { $0.1 > $1.1 }
        let beam = try beamSearch(&scorer, trie: trie, prompt: [1], width: 12)
        #expect(beam.map { Array($0.tokens.prefix(3)) } == exact.map(\.0))
        #expect(beam.allSatisfy { $0.tokens.suffix(2) == [newline, eos] })
        #expect(zip(beam, exact).allSatisfy { isClose($0.score, $1.1) })
        let sidOnly = sids.sorted { scorer.logProb($0) > scorer.logProb($1) }
        if sidOnly != exact.map(\.0) { reordered += 1 }
    }
    #expect(reordered > 0)
}

/// The normaliser every hypothesis pays for, against log Σ exp computed in Double with libm's
/// `exp`: rows of the vocabulary's size (not a multiple of the 1,024-wide blocks or of 8 lanes),
/// logits spread like a real LM head's, with -inf entries; relative error within a few ulps of
/// Float. A NaN or +inf logit is named in the error, and an all -inf row is refused.
@Test func logSumExpMatchesADoublePrecisionReference() throws {
    var rng = SplitMix64(seed: 7)
    for n in [1, 7, 8, 1_023, 1_025, 49_152 + 560] {
        var x = (0 ..< n).map { _ in Float(6 * rng.nextGaussian()) }
        if n > 8 { x[3] = -.infinity; x[n - 1] = -.infinity }
        let m = Double(x.max()!)
        let reference = m + Foundation.log(x.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) })
        let got = try logSumExp(x, step: 0)
        #expect(abs(got - reference) <= 4e-7 * max(1, abs(reference)), "n = \(n): \(got) vs \(reference)")
    }
    var broken = [Float](repeating: 0, count: 100)
    broken[42] = .infinity
    #expect { try logSumExp(broken, step: 3) } throws: { "\($0)".contains("inf among 100 logits") }
    broken[42] = .nan
    #expect { try logSumExp(broken, step: 3) } throws: { "\($0)".contains("nan among 100 logits") }
    #expect { try logSumExp([Float](repeating: -.infinity, count: 5), step: 3) } throws: { "\($0)".contains("all 5 logits are -inf") }
}
