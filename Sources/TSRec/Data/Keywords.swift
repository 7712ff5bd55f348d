import Foundation

/// Per-SID-token semantics from `semantics/<Name>.description_keywords.json`: the TS-Rec
/// authors' teacher LLM read each token's cluster (all items with that token at that level)
/// and wrote ~20 keywords and a one-paragraph description. SA-Init embeds the keywords;
/// TS-Align trains token <-> description.
public struct Keywords: Sendable {
    public struct Entry: Sendable, Hashable {
        public let token: String
        public let keywords: [String]
        public let description: String
    }

    /// Entries in file order.
    public let entries: [Entry]
    private let byToken: [String: Int]

    public init(entries: [Entry]) {
        self.entries = entries
        var map: [String: Int] = [:]
        for (i, e) in entries.enumerated() { map[e.token] = i }
        byToken = map
    }

    public subscript(token: String) -> Entry? { byToken[token].map { entries[$0] } }
    public var count: Int { entries.count }

    /// Parses the file: a JSON array of `{token, keywords, description}`. With an index, every
    /// token the index uses must have exactly one entry and no entry may name another token.
    static func load(from url: URL, index: ItemIndex?) throws -> Keywords {
        guard let array = try readJSON(url) as? [Any] else {
            throw TSRecError(.format(path: url.path, line: 0, field: "", reason: "expected a JSON array of {token, keywords, description}"))
        }
        var entries: [Entry] = []
        var seen = Set<String>()
        for (i, element) in array.enumerated() {
            let field = "[\(i)]"
            guard let object = element as? [String: Any] else {
                throw TSRecError(.format(path: url.path, line: 0, field: field, reason: "expected an object"))
            }
            guard let token = object["token"] as? String, SID.isToken(token) else {
                throw TSRecError(.format(path: url.path, line: 0, field: field + ".token", reason: "missing or not a SID token"))
            }
            guard let keywords = object["keywords"] as? [String], !keywords.isEmpty else {
                throw TSRecError(.format(path: url.path, line: 0, field: field + ".keywords", reason: "missing or not a non-empty list of strings"))
            }
            guard let description = object["description"] as? String else {
                throw TSRecError(.format(path: url.path, line: 0, field: field + ".description", reason: "missing or not a string"))
            }
            guard seen.insert(token).inserted else {
                throw TSRecError(.format(path: url.path, line: 0, field: field + ".token", reason: "token \(token) appears twice"))
            }
            entries.append(Entry(token: token, keywords: keywords, description: description))
        }
        if let index {
            let used = index.allTokens
            if let extra = seen.subtracting(used).sorted().first {
                throw TSRecError(.format(path: url.path, line: 0, field: "token", reason: "\(extra) is not used by any item in the index"),
                                 hint: "keyword file and index come from different SID builds")
            }
            let missing = used.subtracting(seen).sorted()
            if !missing.isEmpty {
                throw TSRecError(.format(path: url.path, line: 0, field: "token",
                                         reason: "\(missing.count) index token(s) have no entry, e.g. \(missing.prefix(3).joined(separator: ", "))"),
                                 hint: "keyword file and index come from different SID builds")
            }
        }
        return Keywords(entries: entries)
    }
}
