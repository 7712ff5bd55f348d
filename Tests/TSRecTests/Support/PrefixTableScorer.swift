import Foundation
@testable import TSRec

/// A toy `BeamScorer` for the decoding tests: the logits after a prefix are a fixed function of
/// (seed, salt, prefix), so the same prefix scores the same whatever path reached it. The state is
/// the decoded prefix (the prompt is ignored). Each test file passes its own `salt`, so its tables
/// are its own. Records how a search calls it.
struct PrefixTableScorer: BeamScorer {
    typealias State = [Int]
    let vocab: Int
    let seed: UInt64
    let salt: UInt64
    /// Extra logit added to some tokens (e.g. to make tokens outside a trie very attractive).
    var bias: [Int: Float] = [:]
    /// Return log-softmax instead of raw logits (a search must not care).
    var returnLogProbs = false
    /// Score forced continuations itself (the default scorers' formula, row by row).
    var forces = false

    /// Calls of `start`.
    var starts = 0
    /// Per `extend` call: the states passed.
    var extendSizes: [Int] = []
    /// Per `extend` call: the rows a model would run (one per token fed, a forced path's tokens each).
    var rows: [Int] = []
    /// Every forced continuation asked for, in order.
    var forcedPaths: [[Int]] = []

    init(vocab: Int, seed: UInt64, salt: UInt64, bias: [Int: Float] = [:], returnLogProbs: Bool = false, forces: Bool = false) {
        (self.vocab, self.seed, self.salt, self.bias, self.returnLogProbs, self.forces) = (vocab, seed, salt, bias, returnLogProbs, forces)
    }

    /// The logits `[vocab]` after `prefix`: N(0, 2²) draws seeded by an FNV-style hash of the prefix.
    func logits(_ prefix: [Int]) -> [Float] {
        var h: UInt64 = seed &* 0x9E37_79B9_7F4A_7C15 ^ salt
        for t in prefix { h = (h ^ UInt64(t + 1)) &* 0x0000_0100_0000_01B3 }
        var rng = SplitMix64(seed: h)
        var x = (0 ..< vocab).map { _ in 2 * rng.nextGaussian() }
        for (t, b) in bias { x[t] += b }
        if returnLogProbs {
            let m = x.max()!, lse = m + log(x.reduce(0) { $0 + exp($1 - m) })
            x = x.map { $0 - lse }
        }
        return x
    }

    /// Independent reference: Σ_t log softmax(logits(prefix_t))[token_t], all in Double.
    func logProb(_ sequence: [Int]) -> Double {
        sequence.indices.reduce(0.0) { total, i in
            let x = logits(Array(sequence[..<i])).map(Double.init)
            let m = x.max()!
            return total + x[sequence[i]] - (m + log(x.reduce(0) { $0 + exp($1 - m) }))
        }
    }

    mutating func start(prompt: [Int]) throws -> ([Int], [Float]) {
        starts += 1
        return ([], logits([]))
    }

    mutating func extend(_ states: [[Int]], with tokens: [Int]) throws -> [([Int], [Float])] {
        extendSizes.append(states.count)
        rows.append(states.count)
        return zip(states, tokens).map { s, t in (s + [t], logits(s + [t])) }
    }

    var scoresForcedContinuations: Bool { forces }

    mutating func extend(_ states: [[Int]], with tokens: [Int], forcing: [[Int]]) throws -> [BeamExtension<[Int]>] {
        precondition(forces || forcing.allSatisfy(\.isEmpty))
        extendSizes.append(states.count)
        rows.append(zip(tokens, forcing).map { max(1, $1.count) }.reduce(0, +))
        forcedPaths += forcing.filter { !$0.isEmpty }
        return try zip(zip(states, tokens), forcing).map { st, path in
            var prefix = st.0 + [st.1]
            if path.isEmpty { return .live(prefix, logits(prefix)) }
            var lp: [Double] = []
            for t in path {
                let x = logits(prefix)
                lp.append(Double(x[t]) - (try logSumExp(x, step: 0)))
                prefix.append(t)
            }
            return .forced(lp)
        }
    }
}
