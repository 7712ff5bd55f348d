/// Full-catalogue ranking for ID-based models, in the LLM path's terms.
///
/// Items are ranked by score (descending), ties by item id (ascending); each item is mapped to its
/// SID string; a SID already listed (a collision: two items, one SID) is skipped, so the list holds
/// distinct SIDs, each at its best item's rank. A hit is then an exact SID-string match, exactly as
/// for generated SIDs, so a collided item counts for its partner as it does in the LLM path.
public enum CatalogueRanking {
    /// The first `k` distinct SIDs of the ranking of `scores[0..<count]` (fewer if the catalogue
    /// has fewer). Selects with a bounded candidate list instead of sorting the catalogue:
    /// O(count · m) worst case for m candidates, O(count) typically; m doubles until k distinct
    /// SIDs are found. Throws on a NaN score (a broken model must not produce a silent ranking).
    public static func topSIDs(_ scores: UnsafePointer<Float>, count n: Int, itemSIDs: [String], k: Int) throws -> [String] {
        precondition(itemSIDs.count == n, "topSIDs: \(itemSIDs.count) SIDs for \(n) scores")
        for i in 0..<n where scores[i].isNaN {
            throw TSRecError(.numeric("NaN score for item \(i) of \(n)"), hint: "the model diverged; lower the learning rate")
        }
        var m = min(n, k + 8)
        while true {
            let items = topItems(scores, count: n, m: m)
            var seen = Set<String>(), out: [String] = []
            for i in items where seen.insert(itemSIDs[i]).inserted {
                out.append(itemSIDs[i])
                if out.count == k { return out }
            }
            if m == n { return out }
            m = min(n, 2 * m)
        }
    }

    /// The `m` best item ids, best first, under (score descending, id ascending).
    static func topItems(_ scores: UnsafePointer<Float>, count n: Int, m: Int) -> [Int] {
        guard m > 0 else { return [] }
        // `best` is kept sorted; a candidate enters only if it beats the current m-th.
        var best: [Int] = []
        best.reserveCapacity(m + 1)
        @inline(__always) func better(_ a: Int, _ b: Int) -> Bool { scores[a] != scores[b] ? scores[a] > scores[b] : a < b }
        for i in 0..<n {
            if best.count == m && !better(i, best[m - 1]) { continue }
            var lo = 0, hi = best.count                  // first position whose item is worse than i
            while lo < hi {
                let mid = (lo + hi) >> 1
                if better(best[mid], i) { lo = mid + 1 } else { hi = mid }
            }
            best.insert(i, at: lo)
            if best.count > m { best.removeLast() }
        }
        return best
    }
}
