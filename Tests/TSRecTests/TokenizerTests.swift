import Foundation
import Testing
@testable import TSRec

// Tokenizer tests: the pre-tokenizer against hand-split strings, BPE against a naive string-based
// reference on a toy vocabulary, and SmolLM2's tokenizer against golden ids and the HF `tokenizers`
// reference (Fixtures/smollm2_reference.json, made by Fixtures/make_smollm2_reference.py).

enum SmolLM2Tokenizer {
    /// Built once per test process from the real GGUF.
    static let built = Result { try BPETokenizer(gguf: try RealGGUF.file()) }
    static func shared() throws -> BPETokenizer { try built.get() }
}

/// Splits `text` with the pre-tokenizer and returns the pieces as strings.
func preTokenize(_ text: String, isolateDigits: Bool = true) -> [String] {
    var text = text
    return text.withUTF8 { u in
        PreTokenizer(isolateDigits: isolateDigits).pieces(u, 0..<u.count).map { String(decoding: UnsafeBufferPointer(rebasing: u[$0]), as: UTF8.self) }
    }
}

/// GPT-2 `bpe()` over strings, the textbook way: merge the lowest-ranked adjacent pair
/// (all its occurrences, left to right) until none is ranked.
func naiveBPE(_ word: [String], ranks: [String: Int]) -> [String] {
    var w = word
    while w.count > 1 {
        var best: (rank: Int, pair: (String, String))?
        for i in 0..<(w.count - 1) {
            if let r = ranks[w[i] + " " + w[i + 1]], r < (best?.rank ?? .max) { best = (r, (w[i], w[i + 1])) }
        }
        guard let (_, (a, b)) = best else { break }
        var merged: [String] = []
        var i = 0
        while i < w.count {
            if i + 1 < w.count && w[i] == a && w[i + 1] == b { merged.append(a + b); i += 2 } else { merged.append(w[i]); i += 1 }
        }
        w = merged
    }
    return w
}

@Suite struct TokenizerTests {
    // MARK: Pre-tokenizer (no vocabulary needed)

    @Test func gpt2PatternSplitsByHand() {
        #expect(preTokenize("Hello, world!") == ["Hello", ",", " world", "!"])
        #expect(preTokenize("don't you're I'M") == ["don", "'t", " you", "'re", " I", "'", "M"])
        #expect(preTokenize("a  b") == ["a", " ", " b"])
        #expect(preTokenize("a   ") == ["a", "   "])
        #expect(preTokenize("x\n \ny") == ["x", "\n ", "\n", "y"])
        #expect(preTokenize("  x") == [" ", " x"])
        #expect(preTokenize("?!  ...") == ["?!", " ", " ..."])
        #expect(preTokenize("café naïve") == ["café", " naïve"])
        #expect(preTokenize("日本語 テキスト") == ["日本語", " テキスト"])
        #expect(preTokenize("") == [])
    }

    @Test func whitespaceRunBeforeAWordKeepsItsLastSpaceForTheWord() {
        // `\s+(?!\S)` backs off one char so " word" keeps its space; a lone "\n" before a letter
        // falls through to `\s+`.
        #expect(preTokenize("a \t b") == ["a", " \t", " b"])
        #expect(preTokenize("\n\nhi") == ["\n", "\n", "hi"])
        // Only U+0020 can prefix a word; other White_Space chars (NBSP, U+3000) stay apart.
        #expect(preTokenize("a\u{A0}\u{3000}b") == ["a", "\u{A0}", "\u{3000}", "b"])
    }

    @Test func digitsAreIsolatedBeforeTheGPT2Pattern() {
        #expect(preTokenize("1234567") == ["1", "2", "3", "4", "5", "6", "7"])
        #expect(preTokenize(" 3") == [" ", "3"])
        #expect(preTokenize("a  3") == ["a", "  ", "3"])
        #expect(preTokenize("x²") == ["x", "²"])  // ² is \p{N} (No)
        #expect(preTokenize(" 3", isolateDigits: false) == [" 3"])
        #expect(preTokenize("1234567", isolateDigits: false) == ["1234567"])
    }

    // MARK: BPE on a toy vocabulary

    /// A toy byte-level vocabulary: all 256 byte symbols plus merges over "abc".
    static func toy() throws -> BPETokenizer {
        var tokens = ["<|endoftext|>", "<|im_start|>"]
        tokens += (0..<256).map { String(ByteLevel.scalarForByte[$0]) }
        let merges = ["a b", "b c", "ab c", "a a", "aa a", "Ġ a", "c c", "cc c", "ab ab", "abab c"]
        for m in merges { tokens.append(m.replacingOccurrences(of: " ", with: "")) }
        return try BPETokenizer(tokens: tokens, merges: merges, tokenTypes: [3, 3] + [Int](repeating: 1, count: tokens.count - 2),
                                bosID: 1, eosID: 0, padID: nil, isolateDigits: true, source: "toy")
    }

    @Test func heapBPEEqualsNaiveBPEOnRandomWords() throws {
        let t = try Self.toy()
        let merges = ["a b", "b c", "ab c", "a a", "aa a", "Ġ a", "c c", "cc c", "ab ab", "abab c"]
        let ranks = Dictionary(uniqueKeysWithValues: merges.enumerated().map { ($1, $0) })
        var rng = SplitMix64(seed: 3)
        for trial in 0..<500 {
            let n = 1 + Int(rng.next() % (trial < 450 ? 12 : 300))
            let word = (0..<n).map { _ in ["a", "b", "c", "Ġ"][Int(rng.next() % 4)] }
            let expected = naiveBPE(word, ranks: ranks)
            let got = t.bpe(Array(word.joined().replacingOccurrences(of: "Ġ", with: " ").utf8)).map { t.token(for: Int($0)) }
            #expect(got == expected, "word \(word.joined())")
            if got != expected { break }
        }
    }

    @Test func toyEncodeDecodeAndAddedTokens() throws {
        var t = try Self.toy()
        #expect(t.encode("abc").map { t.token(for: $0) } == ["abc"])
        #expect(t.encode("aaaa").map { t.token(for: $0) } == ["aa", "aa"])  // (a,a) rank 3 beats (aa,a) rank 4
        #expect(t.encode("aaa").map { t.token(for: $0) } == ["aaa"])
        #expect(t.encode("<|im_start|>abab").map { t.token(for: $0) } == ["<|im_start|>", "abab"])
        let base = t.vocabSize
        #expect(t.addTokens(["<a_1>", "<a_12>", "abc", "<a_1>"]) == [base, base + 1, t.id(for: "abc")!, base])
        #expect(t.vocabSize == base + 2)
        // Leftmost-longest: "<a_12>" wins over "<a_1>" at the same position.
        #expect(t.encode("x<a_12><a_1>") == [t.id(for: "x")!, base + 1, base])
        #expect(t.decode(t.encode("x<a_12> abc<a_1>")) == "x<a_12> abc<a_1>")
        #expect(t.decode([0, 1], skipSpecial: true) == "")
    }

    @Test func constructionRejectsBrokenVocabularies() throws {
        let bytes = (0..<256).map { String(ByteLevel.scalarForByte[$0]) }
        #expect(throws: TSRecError.self) {
            _ = try BPETokenizer(tokens: Array(bytes.prefix(100)), merges: [], tokenTypes: nil, bosID: nil, eosID: nil, padID: nil, isolateDigits: false, source: "t")
        }
        #expect(throws: TSRecError.self) {
            _ = try BPETokenizer(tokens: bytes, merges: ["a b"], tokenTypes: nil, bosID: nil, eosID: nil, padID: nil, isolateDigits: false, source: "t")
        }
        #expect(throws: TSRecError.self) {
            _ = try BPETokenizer(tokens: bytes, merges: [], tokenTypes: [1], bosID: nil, eosID: nil, padID: nil, isolateDigits: false, source: "t")
        }
    }

    @Test func byteLevelMapIsABijection() {
        #expect(Set(ByteLevel.scalarForByte).count == 256)
        #expect(ByteLevel.scalarForByte[0x20] == "Ġ" && ByteLevel.scalarForByte[0x0A] == "Ċ" && ByteLevel.scalarForByte[0x41] == "A")
        let all = (0...255).map { UInt8($0) }
        #expect(ByteLevel.decode(ByteLevel.encode(all)) == all)
    }

    // MARK: SmolLM2

    @Test(.enabled(if: RealGGUF.exists, RealGGUF.skipMessage))
    func smolLM2Golden() throws {
        let t = try SmolLM2Tokenizer.shared()
        #expect(t.vocabSize == 49152 && t.baseVocabSize == 49152)
        #expect(t.bosID == 1 && t.eosID == 2 && t.specialIDs == Set(0...16))
        #expect(t.encode("The capital of France is") == [504, 3575, 282, 4649, 314])
        let digits = t.encode("1234567")
        #expect(digits.count == 7 && digits.map { t.token(for: $0) } == ["1", "2", "3", "4", "5", "6", "7"])
        #expect(t.encode(" 3").map { t.token(for: $0) } == ["Ġ", "3"])
        let chat = t.encode("<|im_start|>user\nhi<|im_end|>")
        #expect(chat.first == 1 && chat.last == 2 && chat.filter { $0 <= 16 } == [1, 2])
        #expect(t.decode(chat) == "<|im_start|>user\nhi<|im_end|>")
        #expect(t.decode(chat, skipSpecial: true) == "user\nhi")
        #expect(t.id(for: "<|im_end|>") == 2 && t.token(for: 0) == "<|endoftext|>" && t.id(for: "ĠParis") == 7042)
    }

    @Test(.enabled(if: RealGGUF.exists, RealGGUF.skipMessage))
    func smolLM2AddedSIDTokens() throws {
        var t = try SmolLM2Tokenizer.shared()
        let before = t.encode("<a_1><b_2><c_3>")
        #expect(before.count > 3)
        let ids = t.addTokens(["<a_1>", "<b_2>", "<c_3>"])
        #expect(ids == [49152, 49153, 49154] && t.vocabSize == 49155)
        #expect(t.encode("<a_1><b_2><c_3>") == ids)
        #expect(t.encode("Next: <a_1><b_2><c_3><|im_end|>").suffix(4) == ids + [2])
        #expect(t.token(for: 49153) == "<b_2>" && t.id(for: "<c_3>") == 49154)
        // The shared original is untouched (value semantics).
        #expect(try SmolLM2Tokenizer.shared().vocabSize == 49152)
    }

    @Test(.enabled(if: RealGGUF.exists, RealGGUF.skipMessage))
    func smolLM2MatchesHFTokenizers() throws {
        var t = try SmolLM2Tokenizer.shared()
        let reference = try ReferenceFixture.load()
        #expect(reference.cases.count >= 25)
        for c in reference.cases {
            #expect(t.encode(c.text) == c.ids, "\(c.text.debugDescription)")
        }
        #expect(t.addTokens(reference.added_tokens) == reference.added_token_ids)
        for c in reference.cases {
            #expect(t.encode(c.text) == c.ids_with_added, "with added tokens: \(c.text.debugDescription)")
        }
    }

    @Test(.enabled(if: RealGGUF.exists, RealGGUF.skipMessage))
    func smolLM2DecodeInvertsEncode() throws {
        var t = try SmolLM2Tokenizer.shared()
        _ = t.addTokens(["<a_1>", "<b_2>", "<c_3>"])
        let strings = [
            "", " ", "   ", "\n", "\t\n \r\n", "naïve café — “quotes” ‘single’ \"double\" 'x'",
            "emoji 🎉🚀 👨‍👩‍👧 🇫🇷", "日本語のテキスト", "multiple     spaces", "trailing  ", "  leading",
            "<|im_start|>user\nhi<|im_end|>", "<a_1><b_2><c_3>", "a<a_1 b>", "\u{0}\u{1}\u{7F}\u{85}\u{A0}\u{AD}",
            "math x² ½ ①", String(repeating: "ab", count: 2000),
        ]
        for s in strings { #expect(t.decode(t.encode(s)) == s, "\(s.debugDescription)") }
        var rng = SplitMix64(seed: 5)
        let alphabet = Array("aZ 0 9\n\t'’é日🎉<|>_-.,!?") + ["<a_1>", "<|im_end|>"].map { Character($0) }
        for _ in 0..<200 {
            let s = String((0..<Int(rng.next() % 40)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
            #expect(t.decode(t.encode(s)) == s, "\(s.debugDescription)")
        }
    }

    @Test(.enabled(if: RealGGUF.exists, RealGGUF.skipMessage))
    func smolLM2EncodingThroughput() throws {
        var t = try SmolLM2Tokenizer.shared()
        _ = t.addTokens((0..<256).flatMap { ["<a_\($0)>", "<b_\($0)>", "<c_\($0)>"] })
        // Prompts shaped like the SFT data: a history of SIDs and titles.
        var rng = SplitMix64(seed: 9)
        let words = ["Scotch", "Tape", "Pack", "of", "12", "Clear", "Industrial", "Gloves", "Nitrile", "Large", "3M", "Safety", "Glasses"]
        let prompts = (0..<2000).map { _ in
            "<|im_start|>user\nThe user has interacted with: " + (0..<10).map { _ in
                "<a_\(rng.next() % 48)><b_\(rng.next() % 256)><c_\(rng.next() % 256)> " + (0..<6).map { _ in words[Int(rng.next() % UInt64(words.count))] }.joined(separator: " ")
            }.joined(separator: ", ") + ". Predict the next item.<|im_end|>\n<|im_start|>assistant\n"
        }
        let start = ContinuousClock.now
        var tokens = 0
        for p in prompts { tokens += t.encode(p).count }
        let elapsed = start.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        print("tokenizer: \(prompts.count) prompts, \(tokens) tokens in \(elapsed) (\(Int(Double(prompts.count) / seconds)) prompts/s)")
        #expect(Double(prompts.count) / seconds > 1000)
    }
}
