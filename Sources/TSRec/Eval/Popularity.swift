/// Most-popular-items baseline: every user gets the same list, the items most often seen as a
/// train target. A sanity floor for HR/NDCG (any trained model should beat it).
///
/// Items are ranked by train-target count (descending), ties by item id (ascending), then mapped to
/// their SID strings. Items whose SIDs collide map to one string, which is kept once, at its best
/// item's rank, so the list holds distinct SIDs (a hit is a SID-string match anyway).
/// Takes plain arrays so it does not depend on the dataset types.
public struct PopularityBaseline: Sendable {
    /// Distinct SID strings, most popular first.
    public let ranking: [String]

    /// - Parameters:
    ///   - trainItems: the target item id of every train row.
    ///   - trainSIDs: the target item's SID string of the same rows (`trainSIDs[i]` is `trainItems[i]`'s SID).
    public init<ID: Hashable & Comparable>(trainItems: [ID], trainSIDs: [String]) {
        precondition(trainItems.count == trainSIDs.count,
                     "PopularityBaseline: \(trainItems.count) items but \(trainSIDs.count) SIDs")
        var counts: [ID: Int] = [:]
        var sidOf: [ID: String] = [:]
        for (item, sid) in zip(trainItems, trainSIDs) {
            counts[item, default: 0] += 1
            if let known = sidOf.updateValue(sid, forKey: item) {
                precondition(known == sid, "PopularityBaseline: item \(item) has SIDs \(known) and \(sid)")
            }
        }
        let items = counts.keys.sorted { a, b in
            counts[a]! != counts[b]! ? counts[a]! > counts[b]! : a < b
        }
        var seen = Set<String>()
        ranking = items.compactMap { item in
            let sid = sidOf[item]!
            return seen.insert(sid).inserted ? sid : nil
        }
    }

    /// The top `k` SID strings (fewer when the train split has fewer distinct targets).
    public func top(_ k: Int) -> [String] { Array(ranking.prefix(k)) }

    /// One prediction per test row, each ranking the same `k` most popular SIDs.
    /// - Parameter rows: (user, target SID string) of every test row.
    public func predictions(for rows: [(user: String, target: String)], k: Int = 20) -> [Prediction] {
        let list = top(k)
        return rows.map { Prediction(user: $0.user, target: $0.target, ranked: list) }
    }
}
