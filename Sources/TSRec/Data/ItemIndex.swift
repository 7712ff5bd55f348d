import Foundation

/// Item id -> semantic ID tokens, from `index/<Name>.index.json`
/// (`{"0": ["<a_236>", "<b_231>", "<c_226>"], ...}`).
///
/// Item ids are dense (`0..<count`); every item has the same number of levels (3 here). The
/// SID string is the tokens concatenated (`<a_236><b_231><c_226>`), the form the split CSVs use.
/// Different items may share a SID (a "collision"; 16 on Industrial).
public struct ItemIndex: Sendable {
    /// `tokens[item]`: one token per level.
    public let tokens: [[String]]
    /// `sids[item]`: the tokens joined.
    public let sids: [String]
    /// SID -> items carrying it (ascending ids; more than one on a collision).
    public let itemsBySID: [String: [Int]]

    public var count: Int { tokens.count }
    public var levels: Int { tokens.first?.count ?? 0 }

    public init(tokens: [[String]]) {
        self.tokens = tokens
        sids = tokens.map { $0.joined() }
        var bySID: [String: [Int]] = [:]
        for (item, sid) in sids.enumerated() { bySID[sid, default: []].append(item) }
        itemsBySID = bySID
    }

    public func sid(of item: Int) -> String { sids[item] }

    public var distinctSIDCount: Int { itemsBySID.count }
    /// Items whose SID an earlier item already has: `count - distinctSIDCount`.
    public var collisions: Int { count - distinctSIDCount }

    /// Distinct tokens used at each level, `[levels]`.
    public var tokensPerLevel: [Set<String>] {
        (0..<levels).map { level in Set(tokens.map { $0[level] }) }
    }

    /// Every token used at any level.
    public var allTokens: Set<String> { Set(tokens.joined()) }

    /// Parses and checks the file: keys are the ids `0..<n` without gaps, every value is a list
    /// of `levels` tokens of the form `<x_N>`.
    static func load(from url: URL) throws -> ItemIndex {
        let object = try readJSON(url)
        guard let dict = object as? [String: Any] else {
            throw TSRecError(.format(path: url.path, line: 0, field: "", reason: "expected a JSON object of item id -> token list"))
        }
        var tokens = [[String]](repeating: [], count: dict.count)
        var levels: Int?
        for (key, value) in dict {
            // `String(id) == key`: "01" and "1" would both be item 1 and leave a gap.
            guard let id = Int(key), String(id) == key, id >= 0, id < dict.count else {
                throw TSRecError(.format(path: url.path, line: 0, field: key,
                                         reason: "item ids must be the integers 0..<\(dict.count) (the item count), each written once"))
            }
            guard let list = value as? [String], !list.isEmpty else {
                throw TSRecError(.format(path: url.path, line: 0, field: key, reason: "expected a non-empty list of token strings"))
            }
            if let levels, list.count != levels {
                throw TSRecError(.format(path: url.path, line: 0, field: key, reason: "has \(list.count) tokens, other items have \(levels)"))
            }
            levels = list.count
            for token in list where !SID.isToken(token) {
                throw TSRecError(.format(path: url.path, line: 0, field: key, reason: "'\(token)' is not a SID token like <a_12>"))
            }
            tokens[id] = list
        }
        return ItemIndex(tokens: tokens)
    }
}

/// SID strings and tokens.
public enum SID {
    /// `<a_236><b_231><c_226>` -> `["<a_236>", "<b_231>", "<c_226>"]`; nil if malformed.
    public static func tokens(_ sid: String) -> [String]? {
        var out: [String] = []
        var rest = Substring(sid)
        while !rest.isEmpty {
            guard rest.first == "<", let end = rest.firstIndex(of: ">") else { return nil }
            let token = String(rest[...end])
            guard isToken(token) else { return nil }
            out.append(token)
            rest = rest[rest.index(after: end)...]
        }
        return out.isEmpty ? nil : out
    }

    /// `<letters_digits>`.
    public static func isToken(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count >= 5, u.first == UInt8(ascii: "<"), u.last == UInt8(ascii: ">"),
              let underscore = u.firstIndex(of: UInt8(ascii: "_")), underscore > 1, underscore < u.count - 2 else { return false }
        return u[1..<underscore].allSatisfy { (0x61...0x7A).contains($0) }
            && u[(underscore + 1)..<(u.count - 1)].allSatisfy { (0x30...0x39).contains($0) }
    }
}

/// Reads a JSON file with errors that name the file.
func readJSON(_ url: URL) throws -> Any {
    let data: Data
    do {
        data = try Data(contentsOf: url)
    } catch {
        throw TSRecError(.io(path: url.path, reason: "cannot read: \(error.localizedDescription)"))
    }
    do {
        return try JSONSerialization.jsonObject(with: data)
    } catch {
        throw TSRecError(.format(path: url.path, line: 0, field: "", reason: "invalid JSON: \(error.localizedDescription)"),
                         hint: "the file is truncated or corrupt; fetch the dataset again")
    }
}
