/// How much the ranked lists differ from user to user.
///
/// Accuracy alone cannot tell a model that reads the history from one that has collapsed to a
/// fixed, popularity-like list: the latter still scores (the popularity floor is HR@10 0.0609
/// on Industrial). These counts make a collapse visible: one distinct list means the model
/// ignores its input.
public struct RankingDiversity: Sendable, Hashable {
    /// Test rows summarised.
    public var rows: Int
    /// Distinct top-`k` lists (order matters): 1 = every user gets the same recommendations.
    public var distinctLists: Int
    /// Distinct items ranked first.
    public var distinctTop1: Int
    /// Share of rows whose first item is the most common first item.
    public var topItemShare: Double
    /// Distinct items anywhere in the top `k` (catalogue coverage at `k`).
    public var distinctItems: Int
    /// The cut-off the list counts use.
    public var k: Int

    public init(_ predictions: [Prediction], k: Int = 10) {
        var lists = Set<ArraySlice<String>>(), items = Set<String>(), firsts: [String: Int] = [:]
        for p in predictions {
            let top = p.ranked.prefix(k)
            lists.insert(top)
            items.formUnion(top)
            if let first = top.first { firsts[first, default: 0] += 1 }
        }
        rows = predictions.count
        distinctLists = lists.count
        distinctTop1 = firsts.count
        topItemShare = predictions.isEmpty ? 0 : Double(firsts.values.max() ?? 0) / Double(predictions.count)
        distinctItems = items.count
        self.k = k
    }

    public static let csvHeader = ["rows", "distinct_top10_lists", "distinct_top1_items", "top1_most_common_share", "distinct_items_in_top10"]
    public var csvFields: [String] {
        ["\(rows)", "\(distinctLists)", "\(distinctTop1)", f4(topItemShare), "\(distinctItems)"]
    }
}
