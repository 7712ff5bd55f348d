import Foundation
import Testing
@testable import TSRec

// SmolLM2's tokenizer against HF `tokenizers` on every item text of both benchmarks
// (Fixtures/smollm2_item_texts.jsonl.xz, made by scripts/tokenizer-fixture.sh; the tests never
// run Python), plus pinned cases for each kind of divergence found on the way.

/// The fixture: one header line, then `{"kind", "text", "ids"}` per unique text.
struct ItemTextFixture: Sendable {
    struct Header: Decodable, Sendable { let unique_texts: Int; let texts_not_round_tripping_in_reference: Int; let tokenizers_version: String }
    struct Case: Decodable, Sendable { let kind: String; let text: String; let ids: [Int] }
    let header: Header
    let cases: [Case]

    static let loaded = Result { try load() }

    static func load() throws -> ItemTextFixture {
        let url = try #require(Bundle.module.url(forResource: "smollm2_item_texts.jsonl", withExtension: "xz", subdirectory: "Fixtures"))
        let data = try Archive.readEntry(url, path: "smollm2_item_texts.jsonl")
        var lines = data.split(separator: UInt8(ascii: "\n"))
        let decoder = JSONDecoder()
        let header = try decoder.decode(Header.self, from: Data(lines.removeFirst()))
        let cases = try lines.map { try decoder.decode(Case.self, from: Data($0)) }
        return ItemTextFixture(header: header, cases: cases)
    }
}

/// The reference pre-tokenizer's class of every code point (Fixtures/smollm2_pretokenizer_classes.json).
struct PreTokenizerClassFixture: Decodable {
    let tokenizers_version: String
    let ranges: [[JSONScalar]]
    enum JSONScalar: Decodable {
        case int(Int), string(String)
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let i = try? c.decode(Int.self) { self = .int(i) } else { self = .string(try c.decode(String.self)) }
        }
    }

    /// Class per code point (surrogates included as `.other`; they are never scalars).
    func table() throws -> [PreTokenizer.Class] {
        var t = [PreTokenizer.Class](repeating: .other, count: 0x110000)
        for r in ranges {
            guard r.count == 3, case let .int(lo) = r[0], case let .int(hi) = r[1], case let .string(name) = r[2] else {
                throw TSRecError(.format(path: "smollm2_pretokenizer_classes.json", line: 0, field: "ranges", reason: "bad range \(r)"))
            }
            let cls: PreTokenizer.Class = switch name { case "letter": .letter; case "number": .number; case "whitespace": .whitespace; default: .other }
            for v in lo...hi { t[v] = cls }
        }
        return t
    }

    static func load() throws -> PreTokenizerClassFixture {
        let url = try #require(Bundle.module.url(forResource: "smollm2_pretokenizer_classes", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(Self.self, from: Data(contentsOf: url))
    }
}

@Suite struct TokenizerParityTests {
    /// `\p{L}`, `\p{N}` and `\s` as the reference engine sees them, for all 1,112,064 scalars.
    @Test func everyCodePointHasTheReferenceClass() throws {
        let expected = try PreTokenizerClassFixture.load().table()
        var wrong: [String] = []
        var count = 0
        for v in 0..<UInt32(0x110000) where !(0xD800..<0xE000).contains(v) {
            let got = PreTokenizer.classify(v)
            if got != expected[Int(v)] {
                count += 1
                if wrong.count < 12 {
                    let s = Unicode.Scalar(v)!
                    wrong.append("U+\(String(v, radix: 16, uppercase: true)) \(s.properties.name ?? "") (\(s.properties.generalCategory), Unicode \(s.properties.age.map { "\($0.major).\($0.minor)" } ?? "-")): tsrec \(got), HF \(expected[Int(v)])")
                }
            }
        }
        #expect(count == 0, "\(count) code points classed differently, e.g.\n\(wrong.joined(separator: "\n"))")
    }

    /// Each text as a debug string with both id lists and their token spellings.
    static func describe(_ t: BPETokenizer, _ c: ItemTextFixture.Case, got: [Int]) -> String {
        let first = (0..<min(got.count, c.ids.count)).first { got[$0] != c.ids[$0] } ?? min(got.count, c.ids.count)
        func window(_ ids: [Int]) -> String {
            let lo = max(0, first - 3), hi = min(ids.count, first + 6)
            return "[\(lo > 0 ? "… " : "")" + ids[lo..<hi].map { "\($0) \(t.token(for: $0).debugDescription)" }.joined(separator: ", ")
                + (hi < ids.count ? " …]" : "]")
        }
        let text = c.text.count > 300 ? String(c.text.prefix(300)) + "…" : c.text
        return "\(c.kind) \(text.debugDescription)\n  first difference at token \(first)\n  tsrec: \(window(got))\n  HF:    \(window(c.ids))"
            + (c.ids.count < 40 ? "\n  tsrec ids: \(got)\n  HF ids:    \(c.ids)" : "")
    }

    @Test(.enabled(if: RealGGUF.exists, RealGGUF.skipMessage))
    func everyItemTextMatchesHFTokenizers() throws {
        let t = try SmolLM2Tokenizer.shared()
        let fixture = try ItemTextFixture.loaded.get()
        #expect(fixture.cases.count == fixture.header.unique_texts)
        #expect(fixture.cases.count > 20_000)
        var mismatches: [String] = []
        var mismatchCount = 0
        var byKind: [String: Int] = [:]
        for c in fixture.cases {
            let got = t.encode(c.text)
            if got != c.ids {
                mismatchCount += 1
                byKind[c.kind, default: 0] += 1
                if mismatches.count < 10 { mismatches.append(Self.describe(t, c, got: got)) }
            }
        }
        print("tokenizer parity: \(fixture.cases.count - mismatchCount) of \(fixture.cases.count) item texts identical to HF tokenizers"
              + (mismatchCount == 0 ? "" : "; mismatches by kind \(byKind)"))
        #expect(mismatchCount == 0, "\(mismatchCount) of \(fixture.cases.count) texts differ; first ones:\n\(mismatches.joined(separator: "\n"))")
    }

    @Test(.enabled(if: RealGGUF.exists, RealGGUF.skipMessage))
    func everyItemTextRoundTrips() throws {
        let t = try SmolLM2Tokenizer.shared()
        let fixture = try ItemTextFixture.loaded.get()
        #expect(fixture.header.texts_not_round_tripping_in_reference == 0)
        var failures: [String] = []
        for c in fixture.cases {
            // The reference ids decode to the text too (the fixture is self-consistent)...
            if t.decode(c.ids) != c.text { failures.append("reference ids: \(c.text.prefix(200).debugDescription)") }
            // ...and so do tsrec's own.
            if t.decode(t.encode(c.text)) != c.text { failures.append("tsrec: \(c.text.prefix(200).debugDescription)") }
        }
        #expect(failures.isEmpty, "\(failures.count) round-trip failures: \(failures.prefix(10).joined(separator: "\n"))")
    }

    /// Tokenization speed on the fixture's texts: a fresh tokenizer (empty piece cache) and the
    /// pre-tokenizer alone. Printed for the record; the bound only catches a gross regression.
    @Test(.enabled(if: RealGGUF.exists, RealGGUF.skipMessage))
    func itemTextThroughput() throws {
        let fixture = try ItemTextFixture.loaded.get()
        let texts = fixture.cases.map(\.text)
        let bytes = texts.reduce(0) { $0 + $1.utf8.count }
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
        func report(_ label: String, _ body: () -> Int) -> Double {
            let start = ContinuousClock.now
            let n = body()
            let s = seconds(start.duration(to: .now))
            print(String(format: "tokenizer speed, %@: %d texts, %.1f MB, %d pieces/tokens in %.3f s = %.1f MB/s",
                         label, texts.count, Double(bytes) / 1e6, n, s, Double(bytes) / 1e6 / s))
            return Double(bytes) / 1e6 / s
        }
        let start = ContinuousClock.now
        let tableSize = PreTokenizer.bmpClasses.count  // built once per process, on first use
        print(String(format: "tokenizer speed: BMP class table (%d entries) built in %.1f ms", tableSize, seconds(start.duration(to: .now)) * 1e3))
        let pre = PreTokenizer(isolateDigits: true)
        _ = report("pre-tokenizer only") {
            var n = 0
            for var s in texts { n += s.withUTF8 { pre.pieces($0, 0..<$0.count).count } }
            return n
        }
        let t = try BPETokenizer(gguf: try RealGGUF.file())  // own piece cache, cold
        let cold = report("encode, cold cache") { texts.reduce(0) { $0 + t.encode($1).count } }
        _ = report("encode, warm cache") { texts.reduce(0) { $0 + t.encode($1).count } }
        #expect(cold > 1)
    }

    // MARK: Pinned cases (ids from HF tokenizers with SmolLM2's pre-tokenizer; pin.py-style probes)

    /// Digits(individual_digits) runs first and ByteLevel's regex then sees each stretch between
    /// digits on its own, so `\s+(?!\S)` takes a whole space run before a digit.
    @Test(.enabled(if: RealGGUF.exists, RealGGUF.skipMessage))
    func pinnedRunsEndAtDigitPieces() throws {
        let t = try SmolLM2Tokenizer.shared()
        // "ĠĠ" (256), not "Ġ", "Ġ" (216, 216): the latter is what transformers' GGUF loader gives,
        // having dropped the Digits step; it is not SmolLM2's tokenizer.
        #expect(t.encode("Super Glue  20-Gram") == [22959, 44987, 256, 34, 32, 29, 43889])
        #expect(t.encode("a  3") == [81, 256, 35])
        #expect(t.encode("Size:  1/4\"") == [12554, 42, 256, 33, 31, 36, 18])
        #expect(t.encode(" \u{11DE0}") == [216, 187, 235, 132, 250])  // a lone space before a digit piece
    }

    /// Every `\p{N}` character (Nd, Nl, No; Rust's `char::is_numeric`) is a piece of its own.
    @Test(.enabled(if: RealGGUF.exists, RealGGUF.skipMessage))
    func pinnedNonASCIINumbers() throws {
        let t = try SmolLM2Tokenizer.shared()
        #expect(t.encode("¼ inch") == [28151, 10714])
        #expect(t.encode("1¼\"") == [33, 28151, 18])
        #expect(t.encode("½-Inch") == [16738, 29, 788, 322])
        #expect(t.encode("2½'") == [34, 16738, 23])
        #expect(t.encode("٣٤٥") == [164, 113, 164, 114, 164, 115])
        #expect(t.encode("\u{11DE0}a") == [187, 235, 132, 250, 81])  // Tolong Siki digit zero (Unicode 17.0)
    }

    /// Letters new in Unicode 17.0 are not `\p{L}` for the reference's Oniguruma (Unicode 16.0),
    /// so they join a run of "other" characters (here with the apostrophe: no `'ll` contraction).
    @Test(.enabled(if: RealGGUF.exists, RealGGUF.skipMessage))
    func pinnedLettersOfTheReferenceUnicodeVersion() throws {
        let t = try SmolLM2Tokenizer.shared()
        #expect(preTokenize("\u{88F}'ll") == ["\u{88F}'", "ll"])
        #expect(t.encode("\u{88F}'ll") == [171, 112, 233, 23, 764])
        #expect(t.encode("a\u{10940}b") == [81, 187, 234, 115, 218, 82])
        #expect(t.encode("x\u{A7CE}y's") == [104, 181, 249, 232, 105, 506])
        // Unicode 16.0 letters are letters.
        #expect(t.encode("\u{1C89}a") == [172, 127, 227, 81])
        #expect(t.encode(" \u{1C89}a") == [15822, 127, 227, 81])
        #expect(t.encode("\u{105C0}'d") == [187, 234, 241, 218, 6737])
    }

    /// `\s` is White_Space (NBSP, thin space, ideographic space, ...), but only U+0020 prefixes a
    /// word; combining marks are not letters; contractions are case-sensitive.
    @Test(.enabled(if: RealGGUF.exists, RealGGUF.skipMessage))
    func pinnedWhitespaceMarksAndContractions() throws {
        let t = try SmolLM2Tokenizer.shared()
        #expect(t.encode("a\u{A0} b") == [81, 15442, 278])
        #expect(t.encode("a \u{A0}b") == [81, 216, 15442, 82])
        #expect(t.encode("7\u{2009}mm") == [39, 321, 227, 6799])
        #expect(t.encode("a\u{3000} b") == [81, 12109, 218, 278])
        #expect(t.encode("x\n \ny") == [104, 3805, 198, 105])
        #expect(t.encode("x \n y") == [104, 3717, 329])
        #expect(t.encode("e\u{301}t\u{E9}") == [85, 151, 219, 100, 2756])
        #expect(t.encode("I'M") == [57, 23, 61])
        #expect(t.encode("'S's") == [23, 67, 506])
    }

    // MARK: The one-pass scanner against a plain transcription of the pattern

    /// The pattern applied the obvious way (decode everything, then match alternative by
    /// alternative on each stretch between digits), with the same character classes.
    static func plainPieces(_ text: String, isolateDigits: Bool = true) -> [String] {
        let scalars = Array(text.unicodeScalars)
        let cls = scalars.map { PreTokenizer.classify($0.value) }
        var out: [String] = []
        func emit(_ a: Int, _ b: Int) { var s = String.UnicodeScalarView(); s.append(contentsOf: scalars[a..<b]); out.append(String(s)) }
        var start = 0
        while start < scalars.count {
            if isolateDigits && cls[start] == .number { emit(start, start + 1); start += 1; continue }
            var end = start
            while end < scalars.count && !(isolateDigits && cls[end] == .number) { end += 1 }
            var i = start
            while i < end {
                let rest = String(String.UnicodeScalarView(scalars[i..<end]))
                if let c = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].first(where: { rest.unicodeScalars.starts(with: $0.unicodeScalars) }) {
                    emit(i, i + c.unicodeScalars.count); i += c.unicodeScalars.count; continue
                }
                let j = scalars[i] == " " && i + 1 < end ? i + 1 : i
                if cls[j] != .whitespace {
                    var k = j + 1
                    while k < end && cls[k] == cls[j] { k += 1 }
                    emit(i, k); i = k; continue
                }
                var k = i
                while k < end && cls[k] == .whitespace { k += 1 }
                let stop = k == end || k - i == 1 ? k : k - 1
                emit(i, stop); i = stop
            }
            start = end
        }
        return out
    }

    @Test func onePassScannerEqualsPlainTranscription() {
        let alphabet: [String] = ["a", "Z", "s", "t", "l", "e", "r", "v", "d", "m", "'", "’", "0", "7", "¼", "\u{11DE0}", " ", " ", "  ",
                                  "\t", "\n", "\r", "\u{A0}", "\u{3000}", "\u{85}", "!", "-", "\"", "é", "e\u{301}", "日", "🎉",
                                  "\u{88F}", "\u{1C89}", "\u{200B}", "<", "|"]
        var rng = SplitMix64(seed: 11)
        for trial in 0..<20_000 {
            let n = Int(rng.next() % 24)
            let text = (0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }.joined()
            for isolate in [true, false] {
                let got = preTokenize(text, isolateDigits: isolate), want = Self.plainPieces(text, isolateDigits: isolate)
                #expect(got == want, "trial \(trial), isolateDigits \(isolate): \(text.debugDescription)")
                if got != want { return }
            }
        }
    }
}
