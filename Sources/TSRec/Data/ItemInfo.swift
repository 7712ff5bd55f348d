import Foundation

/// One item's text from `index/<Name>.item.json`.
///
/// `description` is stored upstream as a Python-list literal string (`"['first', 'second']"`);
/// `descriptionParts` is that list parsed. A few upstream strings are not valid literals (an
/// unescaped `'` inside `'…'`, e.g. Industrial item 2239 "LulzBot's"): for those the text between
/// the outer brackets and quotes is kept as one part and `descriptionIsLiteral` is false.
/// An empty description gives no parts.
public struct ItemInfo: Sendable, Hashable {
    public let title: String
    public let description: String
    public let descriptionParts: [String]
    public let descriptionIsLiteral: Bool
    public let brand: String
    public let categories: String

    /// The description parts joined by a space: the text a sentence encoder sees.
    public var descriptionText: String { descriptionParts.joined(separator: " ") }

    public init(title: String, description: String, brand: String = "", categories: String = "") {
        self.title = title
        self.description = description
        self.brand = brand
        self.categories = categories
        let trimmed = description.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty {
            descriptionParts = []
            descriptionIsLiteral = true
        } else if let parts = try? PythonLiteral.stringList(trimmed) {
            descriptionParts = parts
            descriptionIsLiteral = true
        } else {
            descriptionParts = [Self.lenientInner(trimmed)]
            descriptionIsLiteral = false
        }
    }

    /// `['…']` / `["…"]` -> `…`; anything else unchanged.
    static func lenientInner(_ s: String) -> String {
        var t = Substring(s)
        if t.hasPrefix("[") { t = t.dropFirst() }
        if t.hasSuffix("]") { t = t.dropLast() }
        if let q = t.first, q == "'" || q == "\"", t.count >= 2, t.last == q { t = t.dropFirst().dropLast() }
        return String(t)
    }

    /// Parses the item file; ids must be `0..<expectedCount` (the index's item count).
    static func load(from url: URL, expectedCount: Int) throws -> [ItemInfo] {
        guard let dict = try readJSON(url) as? [String: Any] else {
            throw TSRecError(.format(path: url.path, line: 0, field: "", reason: "expected a JSON object of item id -> item"))
        }
        guard dict.count == expectedCount else {
            throw TSRecError(.format(path: url.path, line: 0, field: "",
                                     reason: "has \(dict.count) items, the index has \(expectedCount)"),
                             hint: "index and item files come from different versions; fetch the dataset again")
        }
        var items = [ItemInfo?](repeating: nil, count: expectedCount)
        for (key, value) in dict {
            // `String(id) == key`: "01" beside "1" would leave an item without an entry.
            guard let id = Int(key), String(id) == key, id >= 0, id < expectedCount else {
                throw TSRecError(.format(path: url.path, line: 0, field: key, reason: "item id is not one of the integers 0..<\(expectedCount)"))
            }
            guard let fields = value as? [String: Any] else {
                throw TSRecError(.format(path: url.path, line: 0, field: key, reason: "expected an object with title, description, brand, categories"))
            }
            func text(_ name: String, required: Bool) throws -> String {
                switch fields[name] {
                case let s as String: return s
                case nil where !required, is NSNull where !required: return ""
                default:
                    throw TSRecError(.format(path: url.path, line: 0, field: "\(key).\(name)",
                                             reason: fields[name] == nil ? "missing" : "expected a string"))
                }
            }
            items[id] = ItemInfo(title: try text("title", required: true), description: try text("description", required: false),
                                 brand: try text("brand", required: false), categories: try text("categories", required: false))
        }
        return try items.enumerated().map { id, item in
            guard let item else { throw TSRecError(.format(path: url.path, line: 0, field: "\(id)", reason: "item \(id) has no entry")) }
            return item
        }
    }
}

/// One line of `info/*.txt`: `SID<TAB>title<TAB>item id`.
public struct InfoLine: Sendable, Hashable {
    public let sid: String
    public let title: String
    public let itemID: Int

    /// Parses the file and checks each line against the index and item titles.
    static func load(from url: URL, index: ItemIndex, items: [ItemInfo]) throws -> [InfoLine] {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw TSRecError(.io(path: url.path, reason: "cannot read as UTF-8: \(error.localizedDescription)"))
        }
        var out: [InfoLine] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = n + 1
            let row = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if row.isEmpty { continue }
            let cols = row.split(separator: "\t", omittingEmptySubsequences: false)
            guard cols.count == 3 else {
                throw TSRecError(.format(path: url.path, line: line, field: "", reason: "expected 3 tab-separated columns (SID, title, item id), found \(cols.count)"))
            }
            guard let id = Int(cols[2]), id >= 0, id < index.count else {
                throw TSRecError(.format(path: url.path, line: line, field: "item id", reason: "'\(cols[2])' is not an item id in 0..<\(index.count)"))
            }
            let sid = String(cols[0])
            guard sid == index.sid(of: id) else {
                throw TSRecError(.format(path: url.path, line: line, field: "SID", reason: "'\(sid)' differs from the index's '\(index.sid(of: id))' for item \(id)"))
            }
            guard String(cols[1]) == items[id].title else {
                throw TSRecError(.format(path: url.path, line: line, field: "title", reason: "differs from the item file's title of item \(id)"))
            }
            out.append(InfoLine(sid: sid, title: String(cols[1]), itemID: id))
        }
        return out
    }
}
