import Foundation

/// BERT's uncased WordPiece tokenizer (Devlin et al. 2019; Hugging Face `BertTokenizer` with
/// `do_lower_case=True`, `tokenize_chinese_chars=True`), as used by all-MiniLM-L6-v2.
///
/// Pipeline, all on Unicode scalars:
/// 1. clean: drop NUL, U+FFFD and control/format characters (categories C*, except tab, LF, CR),
///    map whitespace (tab, LF, CR, space, category Zs) to a space;
/// 2. put spaces around CJK ideographs;
/// 3. lower-case, then strip accents (NFD, drop non-spacing marks Mn);
/// 4. split on whitespace, then split off every punctuation character (ASCII 33–47, 58–64,
///    91–96, 123–126, or any Unicode category P*) as its own word;
/// 5. each word → greedy longest-match-first pieces from the vocabulary, continuation pieces
///    prefixed `##`; a word longer than 100 scalars, or one that cannot be covered, is `[UNK]`.
/// `encode` adds `[CLS]` … `[SEP]` and truncates to `maxLength` ids (256 for the sentence model).
/// Checked against the `tokenizers` reference ids in WordPieceTests (fixture from
/// Tests/TSRecTests/Fixtures/minilm_reference.py).
public struct WordPieceTokenizer: Sendable {
    /// Vocabulary line number (0-based) → piece, and its inverse.
    public let vocab: [String]
    let ids: [String: Int32]
    public let clsId: Int32, sepId: Int32, padId: Int32, unkId: Int32
    static let maxWordScalars = 100

    /// Builds the tokenizer from the vocabulary, one piece per entry, id = position.
    public init(vocab: [String]) throws {
        self.vocab = vocab
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(vocab.count)
        for (i, piece) in vocab.enumerated() where ids[piece] == nil { ids[piece] = Int32(i) }
        self.ids = ids
        func special(_ s: String) throws -> Int32 {
            guard let id = ids[s] else {
                throw TSRecError(.format(path: "vocab.txt", line: 0, field: s, reason: "special token missing from vocabulary"),
                                 hint: "use the BERT uncased vocab.txt shipped with the model")
            }
            return id
        }
        clsId = try special("[CLS]")
        sepId = try special("[SEP]")
        padId = try special("[PAD]")
        unkId = try special("[UNK]")
    }

    /// Reads `vocab.txt` (one piece per line, line n has id n − 1).
    public init(vocabURL url: URL) throws {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw TSRecError(.io(path: url.path, reason: "cannot read vocabulary: \(error.localizedDescription)"))
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
        if lines.last == "" { lines.removeLast() }
        do { try self.init(vocab: lines) } catch let e as TSRecError {
            throw TSRecError(.format(path: url.path, line: 0, field: "", reason: e.description))
        }
    }

    public var count: Int { vocab.count }

    /// Token ids `[CLS] pieces… [SEP]`, at most `maxLength` (pieces beyond are cut).
    public func encode(_ text: String, maxLength: Int = 256) -> [Int32] {
        precondition(maxLength >= 2, "encode: maxLength must leave room for [CLS] and [SEP]")
        var out: [Int32] = [clsId]
        for word in basicTokenize(text) {
            for id in wordPieceIds(word) {
                if out.count == maxLength - 1 { out.append(sepId); return out }
                out.append(id)
            }
        }
        out.append(sepId)
        return out
    }

    /// The pieces of `text` as strings (no [CLS]/[SEP]), e.g. "Unaffable!" → ["una", "##ffa", "##ble", "!"].
    public func tokenize(_ text: String) -> [String] {
        basicTokenize(text).flatMap { wordPieceIds($0).map { vocab[Int($0)] } }
    }

    // MARK: - Basic tokenizer (steps 1–4)

    /// Words after cleaning, lower-casing, accent stripping and punctuation splitting.
    func basicTokenize(_ text: String) -> [[Unicode.Scalar]] {
        var cleaned = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            let v = s.value
            if v == 0 || v == 0xFFFD || Self.isControl(s) { continue }
            if Self.isWhitespace(s) { cleaned.append(" ") }
            else if Self.isCJK(v) { cleaned.append(" "); cleaned.append(s); cleaned.append(" ") }
            else { cleaned.append(s) }
        }
        // Lower-case, then NFD and drop non-spacing marks.
        let lowered = String(cleaned).lowercased().decomposedStringWithCanonicalMapping
        var words: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        func flush() { if !current.isEmpty { words.append(current); current.removeAll(keepingCapacity: true) } }
        for s in lowered.unicodeScalars {
            if s.properties.generalCategory == .nonspacingMark { continue }
            if Self.isWhitespace(s) { flush() }
            else if Self.isPunctuation(s) { flush(); words.append([s]) }
            else { current.append(s) }
        }
        flush()
        return words
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        switch s {
        case " ", "\t", "\n", "\r": return true
        default: return s.properties.generalCategory == .spaceSeparator
        }
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        switch s {
        case "\t", "\n", "\r": return false
        default:
            switch s.properties.generalCategory {
            case .control, .format, .unassigned, .privateUse, .surrogate: return true
            default: return false
            }
        }
    }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    /// The CJK Unified Ideographs blocks BERT isolates (not Hangul, Hiragana or Katakana).
    static func isCJK(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }

    // MARK: - WordPiece (step 5)

    /// Greedy longest-match-first pieces of one word; `[UNK]` alone if any part has no match.
    func wordPieceIds(_ word: [Unicode.Scalar]) -> [Int32] {
        if word.count > Self.maxWordScalars { return [unkId] }
        var pieces: [Int32] = []
        var start = 0
        while start < word.count {
            var end = word.count
            var found: Int32?
            while start < end {
                var piece = start > 0 ? "##" : ""
                piece.unicodeScalars.append(contentsOf: word[start..<end])
                if let id = ids[piece] { found = id; break }
                end -= 1
            }
            guard let id = found else { return [unkId] }
            pieces.append(id)
            start = end
        }
        return pieces
    }
}
