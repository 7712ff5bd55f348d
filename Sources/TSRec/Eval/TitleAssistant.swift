import Foundation

/// D3's text-free assistant over a title trie (DecodingMatters `evaluate.py:57-100`,
/// `LogitProcesser.py:100-128`): an ID-based recommender's distribution over the catalogue,
/// turned into a distribution over the allowed next tokens of a title-trie search.
///
/// For one test row, `p[item]` is the recommender's softmax over every catalogue item (D3: its
/// SASRec logits file, softmaxed). A trie node's mass is the sum of `p` over the items whose
/// completion passes through it (items sharing a completion all count, as D3's per-prefix item
/// sets hold every item index). After a node, an allowed token t gets
/// `q(t) = (m(t) + 1e-20) / Σ_u (m(u) + 1e-20)`, u over the allowed tokens, and the search mixes
/// `g · log p_LLM + (1 − g) · log q` (`TokenGuide`). At g = 0 a whole completion's summed
/// `log q` telescopes to `log` of its items' share of the mass: the recommender's own ranking.
public struct TitleAssistant: Sendable {
    /// The title trie and the items behind each completion.
    public let titles: TitleCompletions
    /// The end node of each distinct completion with its items.
    let leaves: [(node: Int, items: [Int])]
    /// Catalogue size (the length of a row's item distribution).
    public let itemCount: Int

    /// D3's floor on a token's mass (`sublogits.sum() + 1e-20`).
    public static let massFloor = 1e-20

    public init(titles: TitleCompletions) {
        self.titles = titles
        leaves = titles.itemsOf.map { (titles.trie.node(for: $0.key)!, $0.value) }.sorted { $0.node < $1.node }
        itemCount = (titles.itemsOf.values.lazy.flatMap { $0 }.max() ?? -1) + 1
    }

    /// `[trie.nodeCount]` mass of every node under the item distribution `p` (`[itemCount]`, one
    /// row's probabilities): each leaf holds its items' probabilities, each node its subtree's.
    public func nodeMasses(_ p: [Float]) -> [Double] {
        precondition(p.count == itemCount, "TitleAssistant: \(p.count) item probabilities for \(itemCount) items")
        let trie = titles.trie
        var mass = [Double](repeating: 0, count: trie.nodeCount)
        for (node, items) in leaves { mass[node] = items.reduce(0) { $0 + Double(p[$1]) } }
        // breadth-first ids: every child's id is above its parent's, so children are summed first
        for n in stride(from: trie.nodeCount - 1, through: 0, by: -1) {
            for c in trie.children(of: n) { mass[n] += mass[c] }
        }
        return mass
    }

    /// `log q` of each continuation (`[continuations.count]`), given a row's `nodeMasses`.
    public static func logProbabilities(_ masses: [Double], _ continuations: [(token: Int, node: Int)]) -> [Double] {
        let m = continuations.map { masses[$0.node] + massFloor }
        let total = m.reduce(0, +)
        return m.map { log($0 / total) }
    }

    /// The guide of a search over `titles.trie` whose prompt k has the item distribution
    /// `probabilities[k]`, mixed with weight `g` (1: the LLM alone).
    public func guide(weight g: Double, probabilities: [[Float]]) -> TokenGuide<Int> {
        let masses = probabilities.map(nodeMasses)
        return TokenGuide(weight: g) { prompt, _, continuations in Self.logProbabilities(masses[prompt], continuations) }
    }
}
