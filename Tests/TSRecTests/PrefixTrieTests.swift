import Foundation
import Testing
@testable import TSRec

/// Random sequences over small per-position alphabets, so prefixes are shared (like SIDs).
private func randomSequences(count: Int, lengths: ClosedRange<Int>, seed: UInt64) -> [[Int]] {
    var rng = SplitMix64(seed: seed)
    return (0 ..< count).map { _ in
        let n = Int.random(in: lengths, using: &rng)
        return (0 ..< n).map { level in 10 * level + Int.random(in: 0 ..< 4, using: &rng) }
    }
}

/// Brute-force reference for `allowedNext`: the next tokens of every stored sequence extending `prefix`.
private func bruteAllowed(_ sequences: [[Int]], _ prefix: [Int]) -> [Int] {
    Array(Set(sequences.filter { $0.count > prefix.count && $0.starts(with: prefix) }.map { $0[prefix.count] })).sorted()
}

@Test func trieHandExample() {
    let trie = PrefixTrie(sequences: [[5, 1, 3], [6, 0, 0], [5, 1, 2], [5, 2, 2], [5, 1, 2]])
    #expect(trie.count == 4)  // the duplicate [5,1,2] is stored once
    #expect(trie.depth == 3 && trie.uniformLength == 3)
    #expect(trie.nodeCount == 1 + 2 + 3 + 4)  // root, {5,6}, {51,52,60}, leaves
    #expect(trie.allowedNext(after: []) == [5, 6])
    #expect(trie.allowedNext(after: [5]) == [1, 2])
    #expect(trie.allowedNext(after: [5, 1]) == [2, 3])
    #expect(trie.allowedNext(after: [5, 1, 2]) == [])
    #expect(trie.allowedNext(after: [7]) == [])
    #expect(trie.contains([5, 1, 2]) && trie.contains([6, 0, 0]))
    #expect(!trie.contains([5, 1]) && !trie.contains([5, 1, 4]) && !trie.contains([]))
    #expect(trie.allSequences() == [[5, 1, 2], [5, 1, 3], [5, 2, 2], [6, 0, 0]])
    #expect(trie.invariantViolations().isEmpty)
}

@Test func emptyTrie() {
    let trie = PrefixTrie(sequences: [])
    #expect(trie.count == 0 && trie.depth == 0 && trie.uniformLength == nil)
    #expect(trie.allowedNext(after: []) == [])
    #expect(trie.allSequences().isEmpty)
    #expect(trie.invariantViolations().isEmpty)
}

@Test(arguments: [UInt64](0 ..< 8))
func trieMatchesBruteForce(seed: UInt64) {
    // Mixed lengths exercise the generic (non-SID) case: a sequence may be a prefix of another.
    let sequences = randomSequences(count: 60, lengths: 1 ... 4, seed: seed)
    let trie = PrefixTrie(sequences: sequences)
    let unique = Array(Set(sequences)).sorted { $0.lexicographicallyPrecedes($1) }
    #expect(trie.invariantViolations().isEmpty)
    #expect(trie.count == unique.count)
    #expect(trie.allSequences() == unique)
    #expect(trie.depth == unique.map(\.count).max())

    // Every prefix of every sequence, plus random probes (mostly absent).
    var prefixes = Set<[Int]>()
    for s in sequences { for n in 0 ... s.count { prefixes.insert(Array(s.prefix(n))) } }
    prefixes.formUnion(randomSequences(count: 100, lengths: 0 ... 4, seed: seed &+ 1000))
    let set = Set(sequences)
    for p in prefixes {
        #expect(trie.allowedNext(after: p) == bruteAllowed(sequences, p), "prefix \(p)")
        #expect(trie.contains(p) == set.contains(p), "contains \(p)")
        #expect(trie.allowedNext(after: p[...]) == trie.allowedNext(after: p), "slice \(p)")
    }
}

@Test func sidSizedTrie() {
    // Catalogue-sized: 3,670 distinct 3-token SIDs over token ranges like <a_*> 0..<48, <b_*>, <c_*> 256 each.
    var rng = SplitMix64(seed: 42)
    var sids = Set<[Int]>()
    while sids.count < 3670 {
        sids.insert([Int.random(in: 0 ..< 48, using: &rng), 48 + Int.random(in: 0 ..< 256, using: &rng),
                     304 + Int.random(in: 0 ..< 256, using: &rng)])
    }
    let list = Array(sids)
    let t0 = ProcessInfo.processInfo.systemUptime
    let trie = PrefixTrie(sequences: list)
    let t1 = ProcessInfo.processInfo.systemUptime
    #expect(trie.count == 3670 && trie.uniformLength == 3)
    #expect(trie.invariantViolations().isEmpty)
    #expect(Set(trie.allowedNext(after: [])) == Set(list.map { $0[0] }))

    // Lookup speed. Hot path (what beam search does): one child step + child range per token.
    var total = 0
    let t2 = ProcessInfo.processInfo.systemUptime
    for _ in 0 ..< 20 {
        for s in list {
            var n = PrefixTrie.root
            for t in s { n = trie.child(of: n, token: t)!; total += trie.children(of: n).count }
        }
    }
    let t3 = ProcessInfo.processInfo.systemUptime
    // Convenience path: allowedNext from a whole prefix (allocates the result array).
    for s in list { for n in 0 ..< 3 { total += trie.allowedNext(after: s.prefix(n)).count } }
    let t4 = ProcessInfo.processInfo.systemUptime
    #expect(total > 0)
    let steps = Double(20 * 3 * list.count), prefixes = Double(3 * list.count)
    print("PrefixTrie: build \(String(format: "%.1f", (t1 - t0) * 1000)) ms for 3670 SIDs (\(trie.nodeCount) nodes); "
        + "\(String(format: "%.0f", (t3 - t2) * 1e9 / steps)) ns per child step, "
        + "\(String(format: "%.0f", (t4 - t3) * 1e9 / prefixes)) ns per allowedNext(after:)")
}
