import Foundation

/// One sample of a split CSV: a user's last <= 10 items (oldest first) and the next item.
///
/// Columns upstream: `user_id, history_item_title, item_title, history_item_id, item_id,
/// history_item_sid, item_sid`; the three `history_*` columns are Python-repr lists of equal
/// length. Samples are sliding windows over each user's time-ordered sequence, and the three
/// splits are one global 8:1:1 cut by target time (METHOD.md).
public struct SplitRow: Sendable, Hashable {
    public var userID: String
    public var historyItemIDs: [Int]
    public var historySIDs: [String]
    public var historyTitles: [String]
    public var targetItemID: Int
    public var targetSID: String
    public var targetTitle: String

    public init(userID: String, historyItemIDs: [Int], historySIDs: [String], historyTitles: [String],
                targetItemID: Int, targetSID: String, targetTitle: String) {
        self.userID = userID
        self.historyItemIDs = historyItemIDs
        self.historySIDs = historySIDs
        self.historyTitles = historyTitles
        self.targetItemID = targetItemID
        self.targetSID = targetSID
        self.targetTitle = targetTitle
    }
}

/// One split file, parsed and validated.
public struct Split: Sendable {
    public let part: DatasetPart
    public let file: URL
    public let rows: [SplitRow]

    public var count: Int { rows.count }

    /// Upstream column order.
    static let columns = ["user_id", "history_item_title", "item_title", "history_item_id", "item_id",
                          "history_item_sid", "item_sid"]
    /// The longest history MiniOneRec keeps.
    public static let maxHistory = 10

    /// Parses `file` and checks every row against `index`:
    /// item ids in `0..<index.count`, 1...10 history items, the three history lists of equal
    /// length, and every SID equal to the index's SID of that item (so every SID exists in the
    /// index). Errors name the file, the line (1-based, header = 1) and the column.
    static func load(_ part: DatasetPart, from file: URL, index: ItemIndex?) throws -> Split {
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            throw TSRecError(.io(path: file.path, reason: "cannot read: \(error.localizedDescription)"))
        }
        let records = try CSVReader.records(data, path: file.path)
        return Split(part: part, file: file, rows: try parse(records, path: file.path, index: index))
    }

    static func parse(_ records: [CSVReader.Record], path: String, index: ItemIndex?) throws -> [SplitRow] {
        guard let header = records.first else {
            throw TSRecError(.format(path: path, line: 1, field: "", reason: "empty file (no header)"),
                             hint: "the file is truncated; fetch the dataset again")
        }
        var col: [String: Int] = [:]
        for (i, name) in header.fields.enumerated() { col[name] = i }
        let missing = columns.filter { col[$0] == nil }
        guard missing.isEmpty else {
            throw TSRecError(.format(path: path, line: 1, field: missing.joined(separator: ", "),
                                     reason: "missing column(s); header is '\(header.fields.joined(separator: ","))'"))
        }
        let (cUser, cHT, cT, cHI, cI, cHS, cS) = (col["user_id"]!, col["history_item_title"]!, col["item_title"]!,
                                                   col["history_item_id"]!, col["item_id"]!, col["history_item_sid"]!, col["item_sid"]!)
        var rows: [SplitRow] = []
        rows.reserveCapacity(records.count - 1)
        for record in records.dropFirst() {
            let f = record.fields, line = record.line
            func fail(_ field: String, _ reason: String) -> TSRecError {
                TSRecError(.format(path: path, line: line, field: field, reason: reason))
            }
            guard f.count == header.fields.count else {
                throw fail("", "has \(f.count) fields, the header has \(header.fields.count)")
            }
            let historyTitles: [String], historyIDs: [Int], historySIDs: [String]
            do { historyTitles = try PythonLiteral.stringList(f[cHT]) } catch { throw fail("history_item_title", "not a Python list of strings: \(error)") }
            do { historyIDs = try PythonLiteral.intList(f[cHI]) } catch { throw fail("history_item_id", "not a Python list of integers: \(error)") }
            do { historySIDs = try PythonLiteral.stringList(f[cHS]) } catch { throw fail("history_item_sid", "not a Python list of strings: \(error)") }
            guard let target = Int(f[cI]) else { throw fail("item_id", "'\(f[cI])' is not an integer") }
            let row = SplitRow(userID: f[cUser], historyItemIDs: historyIDs, historySIDs: historySIDs, historyTitles: historyTitles,
                               targetItemID: target, targetSID: f[cS], targetTitle: f[cT])
            try validate(row, index: index, fail: fail)
            rows.append(row)
        }
        return rows
    }

    static func validate(_ row: SplitRow, index: ItemIndex?, fail: (String, String) -> TSRecError) throws {
        let n = row.historyItemIDs.count
        guard n >= 1 else { throw fail("history_item_id", "empty history") }
        guard n <= maxHistory else { throw fail("history_item_id", "history has \(n) items, at most \(maxHistory) allowed") }
        guard row.historySIDs.count == n else {
            throw fail("history_item_sid", "has \(row.historySIDs.count) SIDs for \(n) history items")
        }
        guard row.historyTitles.count == n else {
            throw fail("history_item_title", "has \(row.historyTitles.count) titles for \(n) history items")
        }
        guard !row.userID.isEmpty else { throw fail("user_id", "empty") }
        guard let index else { return }
        func check(_ id: Int, _ sid: String, idField: String, sidField: String) throws {
            guard id >= 0, id < index.count else { throw fail(idField, "item id \(id) is outside 0..<\(index.count)") }
            guard sid == index.sids[id] else {
                if index.itemsBySID[sid] == nil {
                    throw fail(sidField, "SID '\(sid)' does not exist in the index")
                }
                throw fail(sidField, "SID '\(sid)' is not item \(id)'s SID '\(index.sids[id])'")
            }
        }
        for k in 0..<n {
            try check(row.historyItemIDs[k], row.historySIDs[k], idField: "history_item_id", sidField: "history_item_sid")
        }
        try check(row.targetItemID, row.targetSID, idField: "item_id", sidField: "item_sid")
    }

    /// The row as upstream writes it (Python reprs inside CSV quoting), for round-trip tests and exports.
    static func csvLine(_ row: SplitRow) -> String {
        CSVReader.line([row.userID, PythonLiteral.repr(row.historyTitles), row.targetTitle, PythonLiteral.repr(row.historyItemIDs),
                        String(row.targetItemID), PythonLiteral.repr(row.historySIDs), row.targetSID])
    }

    static var csvHeader: String { columns.joined(separator: ",") + "\n" }
}
