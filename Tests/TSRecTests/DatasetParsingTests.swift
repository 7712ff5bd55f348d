import Foundation
import Testing
@testable import TSRec

/// Parsers pinned to Python: hand-written literal cases, a CSV Python's `csv` wrote with tricky
/// titles (Fixtures/tricky-titles.csv), and digests of every row of the five split files in the
/// mirror as Python's `csv` + `ast.literal_eval` read them (Fixtures/make_data_fixtures.py).
@Suite struct DatasetParsingTests {
    // MARK: - Python literals

    @Test func pythonStringLists() throws {
        #expect(try PythonLiteral.stringList("[]") == [])
        #expect(try PythonLiteral.stringList("['a']") == ["a"])
        #expect(try PythonLiteral.stringList(" [ 'a' , \"b\" , ] ") == ["a", "b"])
        #expect(try PythonLiteral.stringList(#"["Mover's Dolly", 'Tape 3" x 180\' Gaffer']"#) == ["Mover's Dolly", "Tape 3\" x 180' Gaffer"])
        #expect(try PythonLiteral.stringList(#"['a\\b', 'c\nd\te', '\x41\u00e9\U0001F600', '\101\0']"#)
            == ["a\\b", "c\nd\te", "Aé😀", "A\u{0}"])
        // Unknown escapes stay verbatim (Python: '\d' == '\\d'); \a \b \f \v map to controls.
        #expect(try PythonLiteral.stringList(#"['\d\q', '\a\b\f\v']"#) == ["\\d\\q", "\u{7}\u{8}\u{C}\u{B}"])
        #expect(try PythonLiteral.stringList("['caf\u{e9} \u{65e5}\u{672c}']") == ["café 日本"])
        #expect(try PythonLiteral.intList("[130, 130]") == [130, 130])
        #expect(try PythonLiteral.intList("[7]") == [7])
        #expect(try PythonLiteral.intList("[ ]") == [])
    }

    @Test(arguments: [
        ("['a'", "unterminated list"),
        ("['a' 'b']", "expected ',' or ']'"),
        ("['it's']", "expected ',' or ']'"),
        ("['abc]", "unterminated string"),
        ("'a'", "expected '['"),
        ("['a'] x", "unexpected text"),
        ("['\\x4']", "invalid hex digit"),
        ("[1, two]", "expected an integer"),
    ])
    func pythonLiteralErrors(text: String, message: String) {
        let parse: () throws -> Void = text.contains("two") ? { _ = try PythonLiteral.intList(text) } : { _ = try PythonLiteral.stringList(text) }
        do {
            try parse()
            Issue.record("'\(text)' should not parse")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    /// CPython `repr` outputs, typed in from a Python 3.11 session.
    @Test func pythonRepr() {
        #expect(PythonLiteral.repr("plain") == "'plain'")
        #expect(PythonLiteral.repr("Mover's") == "\"Mover's\"")
        #expect(PythonLiteral.repr("a'b\"c") == #"'a\'b"c'"#)
        #expect(PythonLiteral.repr("back\\slash") == #"'back\\slash'"#)
        #expect(PythonLiteral.repr("t\tn\nr\r") == #"'t\tn\nr\r'"#)
        #expect(PythonLiteral.repr("\u{7}\u{a0}\u{200b}\u{e000}") == #"'\x07\xa0\u200b\ue000'"#)
        #expect(PythonLiteral.repr("é 日本 😀") == "'é 日本 😀'")
        #expect(PythonLiteral.repr(["a", "b'c"]) == #"['a', "b'c"]"#)
        #expect(PythonLiteral.repr([1, 22]) == "[1, 22]")
    }

    // MARK: - CSV

    @Test func csvQuotingLikePython() throws {
        let text = "h1,h2,h3\r\n\"a, b\",\"say \"\"hi\"\"\",plain\n\"multi\nline\",x\"y,\"q\"tail\n\nlast,,\n"
        let records = try CSVReader.records(Data(text.utf8), path: "t.csv")
        #expect(records.map(\.fields) == [["h1", "h2", "h3"], ["a, b", "say \"hi\"", "plain"],
                                          ["multi\nline", "x\"y", "qtail"], ["last", "", ""]])
        #expect(records.map(\.line) == [1, 2, 3, 6])
    }

    @Test func csvUnclosedQuoteNamesFileAndLine() {
        do {
            _ = try CSVReader.records(Data("a,b\n1,2\n3,\"open\n4,5\n".utf8), path: "bad.csv")
            Issue.record("unclosed quote must fail")
        } catch let error as TSRecError {
            #expect(error.kind == .format(path: "bad.csv", line: 3, field: "column 2", reason: "quoted field is never closed (unbalanced '\"')"))
        } catch {
            Issue.record("\(error)")
        }
    }

    // MARK: - Tricky titles (fixture written by Python's csv module)

    /// Same list as in make_data_fixtures.py.
    static let tricky = [
        "Plain title", "Comma, separated, title", "Tape 1.88\" x 35 yd", "Mover's Dolly", "Both ' and \" quotes",
        "Back\\slash and \\' fake escape", "Café crème — 日本語 😀", "Tab\there and new\nline",
        "Bell\u{7} NBSP\u{a0} ZWSP\u{200b} private\u{e000}", "", "'", "\"", "[not a list], 'quoted'",
    ]

    static func fixture(_ name: String) throws -> URL {
        guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil) else {
            throw TSRecError(.missing(what: "test fixture", path: name))
        }
        return url
    }

    @Test func trickyTitlesFromPythonAndRoundTrip() throws {
        let url = try Self.fixture("tricky-titles.csv")
        let split = try Split.load(.test, from: url, index: nil)
        #expect(split.rows.map(\.targetTitle) == Self.tricky)
        for (k, row) in split.rows.enumerated() {
            let expectedHistory = Array(Self.tricky[max(0, k - 3)...k])
            #expect(row.historyTitles == expectedHistory, "row \(k)")
            #expect(row.historyItemIDs == Array(0..<expectedHistory.count))
            #expect(row.targetSID == "<a_\(k)><b_\(k)><c_\(k)>")
        }
        // Writing the rows back gives Python's bytes exactly, and parsing that gives the rows.
        let written = Split.csvHeader + split.rows.map(Split.csvLine).joined()
        #expect(written == (try String(contentsOf: url, encoding: .utf8)))
        let again = try Split.parse(CSVReader.records(Data(written.utf8), path: "mem"), path: "mem", index: nil)
        #expect(again == split.rows)
    }

    /// Random titles over an alphabet of troublemakers survive write -> parse unchanged.
    @Test func randomTitlesRoundTrip() throws {
        var rng = SplitMix64(seed: 2024)
        let alphabet: [String] = ["a", "Z", " ", ",", "'", "\"", "\\", "\n", "\r\n", "\t", "é", "—", "日", "😀", "[", "]", "\u{7}", "\u{a0}", "x'y", "\\'", "\"\""]
        var rows: [SplitRow] = []
        for u in 0..<200 {
            func title() -> String { (0..<Int(rng.next() % 12)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }.joined() }
            let n = 1 + Int(rng.next() % 10)
            rows.append(SplitRow(userID: "A\(u)", historyItemIDs: (0..<n).map { _ in Int(rng.next() % 3000) },
                                 historySIDs: (0..<n).map { "<a_\($0)><b_1><c_2>" }, historyTitles: (0..<n).map { _ in title() },
                                 targetItemID: u, targetSID: "<a_1><b_2><c_3>", targetTitle: title()))
        }
        let text = Split.csvHeader + rows.map(Split.csvLine).joined()
        let parsed = try Split.parse(CSVReader.records(Data(text.utf8), path: "mem"), path: "mem", index: nil)
        #expect(parsed == rows)
    }

    // MARK: - Validation errors name file, line and field

    static let tinyIndex = ItemIndex(tokens: [["<a_1>", "<b_1>", "<c_1>"], ["<a_2>", "<b_2>", "<c_2>"], ["<a_2>", "<b_2>", "<c_3>"]])

    @Test(arguments: [
        ("U,\"['t']\",t,[0],1,['<a_1><b_1><c_1>'],<a_2><b_2><c_2>", "", ""),
        ("U,\"['t']\",t,[0],7,['<a_1><b_1><c_1>'],<a_2><b_2><c_2>", "item_id", "outside 0..<3"),
        ("U,\"['t']\",t,[-1],1,['<a_1><b_1><c_1>'],<a_2><b_2><c_2>", "history_item_id", "outside"),
        ("U,\"['t']\",t,[0],1,['<a_9><b_1><c_1>'],<a_2><b_2><c_2>", "history_item_sid", "does not exist in the index"),
        ("U,\"['t']\",t,[0],1,['<a_1><b_1><c_1>'],<a_2><b_2><c_3>", "item_sid", "is not item 1's SID"),
        ("U,\"['t', 'u']\",t,[0],1,['<a_1><b_1><c_1>'],<a_2><b_2><c_2>", "history_item_title", "2 titles for 1"),
        ("U,\"['t']\",t,\"[0, 1]\",1,['<a_1><b_1><c_1>'],<a_2><b_2><c_2>", "history_item_sid", "1 SIDs for 2"),
        ("U,\"['t']\",t,[0],1,['<a_1><b_1><c_1>'],<a_2><b_2><c_2>,extra", "", "has 8 fields, the header has 7"),
        ("U,\"['t\",t,[0],1,['<a_1><b_1><c_1>'],<a_2><b_2><c_2>", "history_item_title", "unterminated string"),
        ("U,\"['t']\",t,[0],x,['<a_1><b_1><c_1>'],<a_2><b_2><c_2>", "item_id", "not an integer"),
        ("U,\"[" + Array(repeating: "'t'", count: 11).joined(separator: ", ") + "]\",t,\"[" + Array(repeating: "0", count: 11).joined(separator: ", ")
            + "]\",1,\"[" + Array(repeating: "'<a_1><b_1><c_1>'", count: 11).joined(separator: ", ") + "]\",<a_2><b_2><c_2>", "history_item_id", "at most 10"),
        ("U,[],t,[],1,[],<a_2><b_2><c_2>", "history_item_id", "empty history"),
    ])
    func malformedRows(row: String, field: String, message: String) throws {
        let text = Split.csvHeader + "A,\"['t']\",t,[0],1,['<a_1><b_1><c_1>'],<a_2><b_2><c_2>\n" + row + "\n"
        let dir = try DataTestSupport.makeTempDir("malformed")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("split.csv")
        try Data(text.utf8).write(to: file)
        if message.isEmpty {
            #expect(try Split.load(.valid, from: file, index: Self.tinyIndex).rows.count == 2)
            return
        }
        do {
            _ = try Split.load(.valid, from: file, index: Self.tinyIndex)
            Issue.record("row should be refused: \(row)")
        } catch let error as TSRecError {
            guard case let .format(path, line, f, reason) = error.kind else { Issue.record("\(error)"); return }
            #expect(path == file.path)
            #expect(line == 3)
            #expect(f == field)
            #expect(reason.contains(message), "\(reason)")
            #expect(error.description.hasPrefix("\(file.path):3"))
        }
    }

    // MARK: - Every row of the real split files

    struct Digests: Decodable {
        struct SplitDigest: Decodable { let rows: Int; let sha256: String }
        struct ItemsDigest: Decodable { let count: Int; let sha256: String; let notLiteral: [Int] }
        let splits: [String: SplitDigest]
        let items: [String: ItemsDigest]
    }

    static func digest(_ rows: [SplitRow]) -> String {
        let us = "\u{1F}", rs = "\u{1E}"
        var h = SHA256()
        for r in rows {
            let line = [r.userID, r.historyTitles.joined(separator: rs), r.targetTitle,
                        r.historyItemIDs.map(String.init).joined(separator: rs), String(r.targetItemID),
                        r.historySIDs.joined(separator: rs), r.targetSID].joined(separator: us) + "\n"
            h.update(Data(line.utf8))
        }
        return h.finalize()
    }

    /// All five split files in the mirror (Office valid/test included) parse, validate against
    /// their index, and equal Python's reading row for row (digest of every field).
    @Test func everySplitRowMatchesPython() throws {
        guard let root = DataTestSupport.unpackedMirror else { print(DataTestSupport.mirrorMissingMessage); return }
        let expected = try JSONDecoder().decode(Digests.self, from: Data(contentsOf: Self.fixture("amazon18-parse-digests.json")))
        var checked = 0
        for b in Benchmark.all {
            let dir = root.appendingPathComponent(b.name)
            let index = try ItemIndex.load(from: dir.appendingPathComponent(Benchmark.relativePath(.index, name: b.name)))
            for part in DatasetPart.splits {
                let file = dir.appendingPathComponent(Benchmark.relativePath(part, name: b.name))
                guard let want = expected.splits["\(b.name)/\(part)"] else {
                    #expect(!FileManager.default.fileExists(atPath: file.path), "\(b.name) \(part) exists but has no reference digest")
                    continue
                }
                let split = try Split.load(part, from: file, index: index)
                #expect(split.count == want.rows, "\(b.name) \(part)")
                #expect(Self.digest(split.rows) == want.sha256, "\(b.name) \(part)")
                #expect(split.rows.allSatisfy { $0.historyItemIDs.count <= 10 })
                checked += 1
            }
        }
        #expect(checked == 5)
    }

    /// Item files: titles and parsed descriptions equal Python's; the upstream descriptions that
    /// are not valid Python literals are exactly the ones Python rejects.
    @Test func itemFilesMatchPython() throws {
        guard let root = DataTestSupport.unpackedMirror else { print(DataTestSupport.mirrorMissingMessage); return }
        let expected = try JSONDecoder().decode(Digests.self, from: Data(contentsOf: Self.fixture("amazon18-parse-digests.json")))
        for b in Benchmark.all {
            let dir = root.appendingPathComponent(b.name)
            let index = try ItemIndex.load(from: dir.appendingPathComponent(Benchmark.relativePath(.index, name: b.name)))
            let items = try ItemInfo.load(from: dir.appendingPathComponent(Benchmark.relativePath(.items, name: b.name)), expectedCount: index.count)
            let want = expected.items[b.name]!
            #expect(items.count == want.count)
            var h = SHA256()
            for item in items {
                h.update(Data((item.title + "\u{1F}" + item.descriptionParts.joined(separator: "\u{1E}") + "\n").utf8))
            }
            #expect(h.finalize() == want.sha256, "\(b.name)")
            #expect(items.indices.filter { !items[$0].descriptionIsLiteral } == want.notLiteral)
            // The info file agrees with index and titles (checked while loading).
            let info = try InfoLine.load(from: dir.appendingPathComponent(Benchmark.relativePath(.info, name: b.name)), index: index, items: items)
            #expect(info.count == index.count)
        }
    }

    @Test func industrialKeywords() throws {
        guard let root = DataTestSupport.unpackedMirror else { print(DataTestSupport.mirrorMissingMessage); return }
        let dir = root.appendingPathComponent(Benchmark.industrial.name)
        let index = try ItemIndex.load(from: dir.appendingPathComponent(Benchmark.relativePath(.index, name: Benchmark.industrial.name)))
        let kw = try Keywords.load(from: dir.appendingPathComponent(Benchmark.relativePath(.keywords, name: Benchmark.industrial.name)), index: index)
        #expect(kw.count == 560)
        let first = try #require(kw["<a_236>"])
        #expect(first.keywords.prefix(3) == ["switches", "relays", "capacitors"])
        #expect(first.description.hasPrefix("This product family comprises electrical and electronic components"))
        #expect(kw.entries.first?.token == "<a_236>")
        // A keyword file for another SID build is refused, naming the token.
        let other = ItemIndex(tokens: [["<a_0>", "<b_0>", "<c_0>"]])
        #expect(throws: TSRecError.self) {
            try Keywords.load(from: dir.appendingPathComponent(Benchmark.relativePath(.keywords, name: Benchmark.industrial.name)), index: other)
        }
    }

    @Test func sidTokens() {
        #expect(SID.tokens("<a_236><b_231><c_226>") == ["<a_236>", "<b_231>", "<c_226>"])
        #expect(SID.tokens("<a_1><b_2") == nil)
        #expect(SID.tokens("") == nil)
        #expect(SID.isToken("<a_0>") && !SID.isToken("<a_>") && !SID.isToken("<_1>") && !SID.isToken("<A_1>"))
    }
}
