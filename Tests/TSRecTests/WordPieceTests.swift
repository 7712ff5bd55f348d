import Foundation
import Testing
@testable import TSRec

/// The BERT uncased WordPiece tokenizer: hand-worked cases on a toy vocabulary, and the real
/// vocabulary against ids from Hugging Face `tokenizers` (Fixtures/minilm_reference.json,
/// made by Fixtures/minilm_reference.py).
@Suite struct WordPieceTests {
    static let toyVocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "##a", "##ff",
                           "hello", "world", ",", "!", "cafe", "resume", "a", "##b", "ab", "中", "x", "##world"]

    static func toy() throws -> WordPieceTokenizer { try WordPieceTokenizer(vocab: toyVocab) }

    @Test func greedyLongestMatchFirst() throws {
        let t = try Self.toy()
        // "unaffable": "un" (not "u"), then the longest continuation "##aff", then "##able".
        #expect(t.tokenize("unaffable") == ["un", "##aff", "##able"])
        // "ab" is a whole-word piece, so the longest match wins over "a" + "##b".
        #expect(t.tokenize("ab") == ["ab"])
        #expect(t.tokenize("abb") == ["ab", "##b"])
    }

    @Test func uncoverableWordBecomesOneUnknown() throws {
        let t = try Self.toy()
        // "unz": "un" matches, "##z" does not → the whole word is [UNK], not "un" + [UNK].
        #expect(t.tokenize("unz hello") == ["[UNK]", "hello"])
        #expect(t.encode("unz") == [2, 1, 3])
    }

    @Test func lowerCaseAccentsPunctuationAndCJK() throws {
        let t = try Self.toy()
        #expect(t.tokenize("Hello,World!") == ["hello", ",", "world", "!"])
        #expect(t.tokenize("CAFÉ Résumé") == ["cafe", "resume"])
        #expect(t.tokenize("x中x") == ["x", "中", "x"])           // ideographs are split off
        // BEL (Cc) and ZERO WIDTH SPACE (Cf) are dropped, not turned into word breaks.
        #expect(t.tokenize("hello\u{0007}\u{200B}world") == ["hello", "##world"])
        #expect(t.tokenize("\tHELLO\n\r world  ") == ["hello", "world"])
    }

    @Test func longWordIsUnknownAndEncodeTruncates() throws {
        let t = try Self.toy()
        #expect(t.tokenize(String(repeating: "a", count: 101)) == ["[UNK]"])
        #expect(t.tokenize(String(repeating: "a", count: 100)) == ["a"] + Array(repeating: "##a", count: 99))
        let ids = t.encode("hello world hello world", maxLength: 4)
        #expect(ids == [2, 9, 10, 3])                              // [CLS] hello world [SEP]
        #expect(t.encode("") == [2, 3])
    }

    @Test func missingSpecialTokenThrows() {
        #expect(throws: TSRecError.self) { try WordPieceTokenizer(vocab: ["[PAD]", "[CLS]", "[SEP]"]) }
    }

    @Test func realVocabularyMatchesHuggingFaceIds() throws {
        guard let files = MiniLM.Files.locate() else {
            print("WordPieceTests: MiniLM files not found (set TSREC_MINILM_DIR); skipping the reference-id check")
            return
        }
        let t = try WordPieceTokenizer(vocabURL: files.vocab)
        #expect(t.count == 30522)
        let fixture = try MiniLMReference.load()
        #expect(fixture.tokenize.count >= 10)
        for case_ in fixture.tokenize {
            let ids = t.encode(case_.text, maxLength: 256)
            #expect(ids == case_.ids, "text: \(case_.text.prefix(60))")
        }
    }
}

/// Fixtures/minilm_reference.json: reference ids and embeddings from sentence-transformers.
struct MiniLMReference: Decodable {
    struct Tokenized: Decodable { let text: String; let ids: [Int32] }
    struct Embedded: Decodable { let text: String; let ids: [Int32]; let embedding: [Float] }
    let tokenize: [Tokenized]
    let embed: [Embedded]

    static func load() throws -> MiniLMReference {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/minilm_reference.json")
        return try JSONDecoder().decode(MiniLMReference.self, from: Data(contentsOf: url))
    }
}
