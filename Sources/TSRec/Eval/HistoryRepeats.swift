import Foundation

/// The test rows split by whether the target is already in the user's history (a repeat
/// purchase) or new to them: where a model's hits come from.
///
/// A model that recommends the user's last item scores on the repeat rows alone; on Industrial
/// 215 of the 4,533 test targets repeat a history item by SID, and both BIGRec and TS-Rec hit
/// most of them at rank 1 (docs/results-quick.md, *BIGRec*). `tsrec compare --by-history` pairs
/// two runs on each part.
///
/// ```swift
/// let parts = try HistoryRepeats(rows: testRows, predictions: a, source: "a.jsonl")
/// parts.repeated.count                         // rows whose target SID is in the history
/// parts.select(parts.new, from: a)             // a's predictions on the other rows
/// ```
public struct HistoryRepeats: Sendable, Hashable {
    /// Row indices whose target SID is among the history's SIDs, in row order.
    public var repeated: [Int]
    /// The other row indices, in row order.
    public var new: [Int]

    public init(rows: [SplitRow]) {
        repeated = []; new = []
        for (i, row) in rows.enumerated() {
            if row.historySIDs.contains(row.targetSID) { repeated.append(i) } else { new.append(i) }
        }
    }

    /// The split of the rows `predictions` were made for: the first `predictions.count` of
    /// `rows` (a run evaluated on a row limit covers a prefix), checked row by row.
    /// - Parameter source: the predictions' file, named in the error when a row does not match.
    public init(rows: [SplitRow], predictions: [Prediction], source: String) throws {
        guard predictions.count <= rows.count else {
            throw TSRecError(.format(path: source, line: rows.count + 1, field: "rows",
                                     reason: "\(predictions.count) predictions for a test split of \(rows.count) rows"),
                             hint: "pass the dataset the run was evaluated on (--dataset)")
        }
        let split = rows.prefix(predictions.count).map { Prediction(user: $0.userID, target: $0.targetSID, ranked: []) }
        try Prediction.checkSameRows(predictions, as: split, referenceName: "the test split", source: source,
                                     hint: "pass the dataset the run was evaluated on (--dataset); predictions list the test rows in split order")
        self.init(rows: Array(rows.prefix(predictions.count)))
    }

    /// `predictions` at `indices` (one of the two parts).
    public func select(_ indices: [Int], from predictions: [Prediction]) -> [Prediction] { indices.map { predictions[$0] } }

    /// How often a run ranks first an item the user already has, over `indices` (a part, or
    /// every row): rows whose top-1 SID is one of their history's SIDs, and rows whose top-1 is
    /// the history's last SID. A ranker that recommends the last item scores on the repeat rows
    /// alone; on the new rows such a top-1 is always a miss. `rows` and `predictions` cover the
    /// same rows in the same order (`init(rows:predictions:source:)` checks it).
    public static func topOneInHistory(rows: [SplitRow], predictions: [Prediction], at indices: [Int])
        -> (inHistory: Int, last: Int) {
        var inHistory = 0, last = 0
        for i in indices {
            guard let top = predictions[i].ranked.first else { continue }
            if rows[i].historySIDs.contains(top) { inHistory += 1 }
            if rows[i].historySIDs.last == top { last += 1 }
        }
        return (inHistory, last)
    }
}
