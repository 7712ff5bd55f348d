import Foundation

/// The statistics table of `tsrec data stats` (compare METHOD.md: Industrial has 3,686 items,
/// 36,259 / 4,532 / 4,533 rows, 48 / 256 / 256 tokens per level, 3,670 distinct SIDs).
///
/// A value is nil ("n/a") when it cannot be computed from what is on disk: users and
/// interactions need every split (a user's sequence is the first sample's history plus every
/// sample's target, in split order train -> valid -> test), row counts need their split.
public struct DatasetStats: Sendable, Hashable {
    public var dataset: String
    public var users: Int?
    public var items: Int
    /// Sum over users of the reconstructed sequence length.
    public var interactions: Int?
    public var trainRows: Int?
    public var validRows: Int?
    public var testRows: Int?
    /// Distinct tokens at each SID level, `[levels]`.
    public var tokensPerLevel: [Int]
    public var distinctSIDs: Int
    /// `items - distinctSIDs`: items whose SID an earlier item already has.
    public var collisions: Int
    /// Missing parts, e.g. "train, keywords missing".
    public var notes: String

    public init(_ ds: Dataset) {
        dataset = ds.benchmark.name
        items = ds.index.count
        trainRows = ds.splits[.train]?.count
        validRows = ds.splits[.valid]?.count
        testRows = ds.splits[.test]?.count
        tokensPerLevel = ds.index.tokensPerLevel.map(\.count)
        distinctSIDs = ds.index.distinctSIDCount
        collisions = ds.index.collisions
        let missingParts = ds.missing.map(\.part.rawValue)
        notes = missingParts.isEmpty ? "" : missingParts.joined(separator: ", ") + " missing"
        if DatasetPart.splits.allSatisfy({ ds.splits[$0] != nil }) {
            let (u, n) = Self.usersAndInteractions(DatasetPart.splits.map { ds.splits[$0]! })
            users = u
            interactions = n
        } else {
            users = nil
            interactions = nil
            notes += (notes.isEmpty ? "" : "; ") + "users/interactions need all three splits"
        }
    }

    /// Users and the total length of their reconstructed sequences: for each user, the first
    /// sample's history plus one target per sample.
    static func usersAndInteractions(_ splits: [Split]) -> (users: Int, interactions: Int) {
        var firstHistory: [String: Int] = [:]
        var samples: [String: Int] = [:]
        for split in splits {
            for row in split.rows {
                if firstHistory[row.userID] == nil { firstHistory[row.userID] = row.historyItemIDs.count }
                samples[row.userID, default: 0] += 1
            }
        }
        let interactions = firstHistory.values.reduce(0, +) + samples.values.reduce(0, +)
        return (firstHistory.count, interactions)
    }

    static let columns = ["dataset", "users", "items", "interactions", "train_rows", "valid_rows", "test_rows",
                          "sid_tokens_per_level", "sid_tokens_total", "distinct_sids", "collisions", "notes"]

    var fields: [String] {
        func v(_ x: Int?) -> String { x.map(String.init) ?? "" }
        return [dataset, v(users), v(items), v(interactions), v(trainRows), v(validRows), v(testRows),
                tokensPerLevel.map(String.init).joined(separator: "/"), String(tokensPerLevel.reduce(0, +)),
                String(distinctSIDs), String(collisions), notes]
    }

    /// CSV with a header; unknown values are empty fields.
    public static func csv(_ rows: [DatasetStats]) -> String {
        CSVReader.line(columns) + rows.map { CSVReader.line($0.fields) }.joined()
    }

    /// A markdown table; unknown values print as "n/a", numbers with thousands separators.
    public static func markdown(_ rows: [DatasetStats]) -> String {
        func pretty(_ s: String, _ column: String) -> String {
            if s.isEmpty && column != "notes" { return "n/a" }
            guard let n = Int(s) else { return s }
            var out = "", digits = Array(String(n))
            while digits.count > 3 {
                out = "," + String(digits.suffix(3)) + out
                digits.removeLast(3)
            }
            return String(digits) + out
        }
        var text = "| " + columns.joined(separator: " | ") + " |\n"
        text += "|" + columns.map { $0 == "dataset" || $0 == "notes" ? "---|" : "---:|" }.joined() + "\n"
        for row in rows {
            text += "| " + zip(row.fields, columns).map { pretty($0, $1).replacingOccurrences(of: "|", with: "\\|") }
                .joined(separator: " | ") + " |\n"
        }
        return text
    }
}
