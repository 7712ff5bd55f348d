/// A trie over the catalogue's valid token-id sequences (item SIDs), used to constrain decoding.
///
/// Every SID is a short sequence of token ids (three in TS-Rec: `<a_i><b_j><c_k>`); the trie keeps
/// the length generic. Lookups sit on the hot path of beam search (one per hypothesis per step),
/// so the nodes live in flat arrays laid out breadth-first:
///
/// - node 0 is the root (the empty prefix);
/// - the children of node `n` are the *contiguous* node ids `firstChild[n] ..< firstChild[n] + childCount[n]`;
/// - `edgeToken[c]` is the token on the edge into node `c`, strictly increasing over a child range,
///   so `allowedNext` is a slice copy and `child(of:token:)` is a binary search;
/// - `isTerminal[c]` says that the path to `c` is a whole sequence of the catalogue.
///
/// Built from sorted, de-duplicated sequences: at each level, distinct prefixes appear in sorted
/// order, and those sharing a parent are adjacent, which yields the contiguous layout in one pass
/// per level. Cost: O(total tokens · log n) to build (the sort), O(|prefix| · log branching) per lookup.
///
/// ```swift
/// let trie = PrefixTrie(sequences: [[5, 1, 2], [5, 1, 3], [6, 0, 0]])
/// trie.allowedNext(after: [5])      // [1]
/// trie.allowedNext(after: [5, 1])   // [2, 3]
/// trie.contains([6, 0, 0])          // true
/// ```
public struct PrefixTrie: Sendable, Hashable {
    /// First child's node id, per node (meaningless when `childCount` is 0).
    private var firstChild: [Int] = [0]
    /// Number of children, per node.
    private var childCount: [Int] = [0]
    /// Token on the edge from the parent into this node, per node (root: -1).
    private var edgeToken: [Int] = [-1]
    /// Whether the path root → node is a whole sequence.
    private var isTerminal: [Bool] = [false]
    /// Depth of each node (root 0).
    private var nodeDepth: [Int] = [0]

    /// Number of distinct sequences stored.
    public private(set) var count: Int = 0
    /// Length of the longest sequence (0 when empty).
    public private(set) var depth: Int = 0
    /// The common length of all sequences, or nil when lengths differ (or the trie is empty).
    /// Beam search requires it: with length penalty 0 a shorter sequence would always win.
    public private(set) var uniformLength: Int?

    /// The root's node id: the empty prefix.
    public static let root = 0

    /// Builds the trie; duplicates are stored once (collided SIDs are one sequence).
    /// Token ids must be non-negative (they index a vocabulary).
    public init(sequences: [[Int]]) {
        for s in sequences { precondition(s.allSatisfy { $0 >= 0 }, "PrefixTrie: negative token id in \(s)") }
        var sorted = sequences.sorted { $0.lexicographicallyPrecedes($1) }
        sorted.removeDuplicates()
        count = sorted.count
        depth = sorted.map(\.count).max() ?? 0
        let lengths = Set(sorted.map(\.count))
        uniformLength = lengths.count == 1 && depth > 0 ? depth : nil
        if sorted.first?.isEmpty == true { isTerminal[0] = true }

        // nodeOf[i]: node of sequence i's prefix of length `level` (all start at the root).
        var nodeOf = [Int](repeating: PrefixTrie.root, count: sorted.count)
        for level in 0 ..< depth {
            var previous: (parent: Int, token: Int)? = nil
            for (i, s) in sorted.enumerated() where s.count > level {
                let parent = nodeOf[i], token = s[level]
                if previous?.parent != parent || previous?.token != token {
                    let id = edgeToken.count
                    if childCount[parent] == 0 { firstChild[parent] = id }
                    childCount[parent] += 1
                    firstChild.append(0)
                    childCount.append(0)
                    edgeToken.append(token)
                    isTerminal.append(false)
                    nodeDepth.append(level + 1)
                    previous = (parent, token)
                }
                nodeOf[i] = edgeToken.count - 1
                if s.count == level + 1 { isTerminal[nodeOf[i]] = true }
            }
        }
        checkInvariants()
    }

    /// Total number of nodes, root included.
    public var nodeCount: Int { edgeToken.count }

    // MARK: - Node-level API (hot path: no allocation except where an array is returned)

    /// The node reached by following `prefix` from the root, or nil if no sequence starts with it.
    public func node(for prefix: some Collection<Int>) -> Int? {
        var n = PrefixTrie.root
        for t in prefix {
            guard let c = child(of: n, token: t) else { return nil }
            n = c
        }
        return n
    }

    /// The child of `node` along `token`, or nil (binary search over the sorted child range).
    public func child(of node: Int, token: Int) -> Int? {
        var lo = firstChild[node], hi = lo + childCount[node]
        while lo < hi {
            let mid = (lo + hi) >> 1
            let t = edgeToken[mid]
            if t == token { return mid }
            if t < token { lo = mid + 1 } else { hi = mid }
        }
        return nil
    }

    /// Node ids of the children of `node`, in increasing token order.
    public func children(of node: Int) -> Range<Int> {
        let f = firstChild[node]
        return f ..< f + childCount[node]
    }

    /// Token on the edge into `node` (the last token of its prefix; -1 for the root).
    public func token(of node: Int) -> Int { edgeToken[node] }

    /// Whether the path to `node` is a whole sequence.
    public func isSequenceEnd(_ node: Int) -> Bool { isTerminal[node] }

    /// Length of the prefix that leads to `node`.
    public func depth(of node: Int) -> Int { nodeDepth[node] }

    /// The tokens from `node` to the sequence end below it when there is only one way there (every
    /// node on the way has one child): what a search must generate after `node` (for a SID trie
    /// with "\n" + EOS, those two after the last code; for a title trie, the rest of a title once
    /// its prefix is unique). Empty when `node` ends a sequence, nil when the way branches.
    public func forcedPath(from node: Int) -> [Int]? {
        var n = node, path: [Int] = []
        while !isTerminal[n] {
            guard childCount[n] == 1 else { return nil }
            n = firstChild[n]
            path.append(edgeToken[n])
        }
        return path
    }

    // MARK: - Sequence-level API

    /// Tokens that may follow `prefix`, sorted ascending; empty if `prefix` is not a prefix of any sequence
    /// (or is already a whole sequence with no longer continuation).
    public func allowedNext(after prefix: some Collection<Int>) -> [Int] {
        guard let n = node(for: prefix) else { return [] }
        return Array(edgeToken[children(of: n)])
    }

    /// Whether `sequence` is one of the stored sequences (not merely a prefix of one).
    public func contains(_ sequence: some Collection<Int>) -> Bool {
        guard let n = node(for: sequence) else { return false }
        return isTerminal[n]
    }

    /// Every stored sequence, in lexicographic order.
    public func allSequences() -> [[Int]] {
        var out: [[Int]] = []
        out.reserveCapacity(count)
        var path: [Int] = []
        func visit(_ n: Int) {
            if isTerminal[n] { out.append(path) }
            for c in children(of: n) {
                path.append(edgeToken[c])
                visit(c)
                path.removeLast()
            }
        }
        visit(PrefixTrie.root)
        return out
    }
}

// MARK: - Invariants

extension PrefixTrie {
    /// Structural problems, empty when the trie is well formed. Always compiled, so release-mode tests can
    /// call it; `checkInvariants()` turns it into a trap under `TSREC_CHECKS`.
    func invariantViolations() -> [String] {
        var problems: [String] = []
        let n = edgeToken.count
        if firstChild.count != n || childCount.count != n || isTerminal.count != n || nodeDepth.count != n {
            return ["array lengths differ: \(n) nodes"]
        }
        var parentCount = [Int](repeating: 0, count: n)
        var terminals = 0
        var expectedNextChild = 1  // BFS layout: child ranges tile 1 ..< n in parent order
        for id in 0 ..< n {
            if isTerminal[id] { terminals += 1 }
            if childCount[id] == 0 {
                if !isTerminal[id] && id != 0 { problems.append("node \(id): leaf that is not a sequence end") }
                continue
            }
            let r = children(of: id)
            if r.lowerBound != expectedNextChild { problems.append("node \(id): children start at \(r.lowerBound), expected \(expectedNextChild)") }
            expectedNextChild = r.upperBound
            if r.upperBound > n { problems.append("node \(id): children \(r) out of bounds"); continue }
            for c in r {
                if c <= id { problems.append("node \(id): child \(c) not after parent") }
                parentCount[c] += 1
                if nodeDepth[c] != nodeDepth[id] + 1 { problems.append("node \(c): depth \(nodeDepth[c]) under parent depth \(nodeDepth[id])") }
                if edgeToken[c] < 0 { problems.append("node \(c): negative token") }
                if c > r.lowerBound && edgeToken[c - 1] >= edgeToken[c] { problems.append("node \(c): tokens not strictly increasing") }
            }
        }
        if n > 1 && expectedNextChild != n { problems.append("child ranges end at \(expectedNextChild), expected \(n)") }
        for id in 1 ..< max(n, 1) where parentCount[id] != 1 { problems.append("node \(id): \(parentCount[id]) parents") }
        if terminals != count { problems.append("\(terminals) terminal nodes but count \(count)") }
        if (nodeDepth.max() ?? 0) != depth { problems.append("max node depth \(nodeDepth.max() ?? 0) != depth \(depth)") }
        return problems
    }

    /// Traps on a malformed trie when built with `TSREC_CHECKS` (debug); free otherwise.
    @inline(__always)
    func checkInvariants() {
        #if TSREC_CHECKS
        let problems = invariantViolations()
        precondition(problems.isEmpty, "PrefixTrie invariants: \(problems.prefix(5).joined(separator: "; "))")
        #endif
    }
}

private extension Array where Element == [Int] {
    /// Removes adjacent duplicates (the array must be sorted).
    mutating func removeDuplicates() {
        guard count > 1 else { return }
        var w = 1
        for r in 1 ..< count where self[r] != self[w - 1] {
            self[w] = self[r]
            w += 1
        }
        removeLast(count - w)
    }
}
