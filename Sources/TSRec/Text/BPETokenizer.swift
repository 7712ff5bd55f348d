import Foundation
import Synchronization

/// Byte-level BPE (GPT-2 style) as stored in a GGUF: `tokenizer.ggml.tokens` (id -> byte-level
/// string), `tokenizer.ggml.merges` (`"A B"`, rank = index), `tokenizer.ggml.token_type`.
///
/// encode(text):
///  1. whole-token matches first: control / user-defined tokens (SmolLM2 ids 0-16, e.g.
///     `<|im_start|>`) and tokens added with `addTokens`, leftmost-longest, on the raw text;
///  2. the text between them is split by `PreTokenizer` (digits alone, then the GPT-2 pattern);
///  3. each piece's UTF-8 bytes become byte-level symbols and are merged by BPE: repeatedly merge
///     the adjacent pair of lowest merge rank (leftmost on ties) until no pair has a rank
///     (HF `tokenizers` `Word::merge_all` order).
/// Bytes whose single-byte token is missing from the vocabulary are dropped, as HF does (for
/// SmolLM2: a few ASCII controls such as U+0004 and lead bytes of planes 4-16, which real text
/// does not contain), so `decode(encode(s)) == s` holds for all other text.
/// Piece encodings are cached (shared by copies, thread-safe). No BOS is added
/// (`tokenizer.ggml.add_bos_token` is false for SmolLM2).
///
/// Checked against the HF `tokenizers` library on SmolLM2's vocabulary: TokenizerTests
/// (`Fixtures/smollm2_reference.json`) and TokenizerParityTests (every item text of both
/// benchmarks, `Fixtures/smollm2_item_texts.jsonl.xz` from `scripts/tokenizer-fixture.sh`).
public struct BPETokenizer: Sendable {
    /// Id -> token string (byte-level spelling for ordinary tokens, raw text for added ones).
    private(set) var tokens: [String]
    private var idForToken: [String: Int32]
    /// Id -> the bytes the token decodes to.
    private var bytesForID: [[UInt8]]
    /// Ids matched whole in text and decoded verbatim (control, user-defined, added).
    private(set) var wholeTokenIDs: Set<Int>
    /// Control tokens (GGUF token type 3), droppable with `decode(_:skipSpecial:)`.
    public let specialIDs: Set<Int>
    /// Merge (left id, right id) packed as `left << 32 | right` -> rank.
    private let rankForPair: [UInt64: Int32]
    /// Rank -> id of the merged token.
    private let mergedID: [Int32]
    /// Byte -> id of its single-character token, -1 if the vocabulary has none.
    private let idForByte: [Int32]
    private var wholeTokens: ByteTrie
    private let preTokenizer: PreTokenizer
    private let cache = PieceCache()

    /// Size of the vocabulary the tokenizer was built with (49,152 for SmolLM2).
    public let baseVocabSize: Int
    public let bosID: Int?
    public let eosID: Int?
    public let padID: Int?

    /// Current vocabulary size, including tokens added with `addTokens`.
    public var vocabSize: Int { tokens.count }

    /// GGUF token types (llama.cpp `llama_token_type`).
    enum TokenType: Int32 { case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    /// Builds the tokenizer stored in a GGUF (`tokenizer.ggml.model` must be `gpt2`).
    public init(gguf: GGUFFile) throws {
        let path = gguf.url.path
        let model = try gguf.string("tokenizer.ggml.model")
        guard model == "gpt2" else {
            throw TSRecError(.gguf(path: path, reason: "tokenizer.ggml.model is '\(model)', expected 'gpt2' (byte-level BPE)"))
        }
        let pre = gguf.metadata["tokenizer.ggml.pre"]?.stringValue ?? "default"
        let tokens = try gguf.stringArray("tokenizer.ggml.tokens")
        let merges = try gguf.stringArray("tokenizer.ggml.merges")
        let types = gguf.metadata["tokenizer.ggml.token_type"] == nil ? nil : try gguf.intArray("tokenizer.ggml.token_type")
        func optionalID(_ key: String) throws -> Int? { gguf.metadata[key] == nil ? nil : try gguf.int(key) }
        try self.init(tokens: tokens, merges: merges, tokenTypes: types,
                      bosID: try optionalID("tokenizer.ggml.bos_token_id"),
                      eosID: try optionalID("tokenizer.ggml.eos_token_id"),
                      padID: try optionalID("tokenizer.ggml.padding_token_id"),
                      isolateDigits: pre == "smollm", source: path)
    }

    /// Builds a tokenizer from its parts. `tokenTypes[i]` follows GGUF (3 control, 4 user-defined
    /// are matched whole); nil means all normal. `source` names the origin in errors.
    init(tokens: [String], merges: [String], tokenTypes: [Int]?, bosID: Int?, eosID: Int?, padID: Int?,
         isolateDigits: Bool, source: String) throws {
        func fail(_ reason: String) -> TSRecError {
            TSRecError(.gguf(path: source, reason: "tokenizer: \(reason)"), hint: "the tokenizer metadata is corrupt; re-download the model")
        }
        guard !tokens.isEmpty, tokens.count < Int(Int32.max) else { throw fail("vocabulary has \(tokens.count) tokens") }
        if let tokenTypes, tokenTypes.count != tokens.count {
            throw fail("token_type has \(tokenTypes.count) entries for \(tokens.count) tokens")
        }
        for (name, id) in [("bos", bosID), ("eos", eosID), ("pad", padID)] {
            if let id, !(0..<tokens.count).contains(id) { throw fail("\(name) id \(id) is outside the vocabulary") }
        }
        self.tokens = tokens
        baseVocabSize = tokens.count
        self.bosID = bosID
        self.eosID = eosID
        self.padID = padID
        preTokenizer = PreTokenizer(isolateDigits: isolateDigits)

        var idForToken: [String: Int32] = [:]
        idForToken.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where idForToken[t] == nil { idForToken[t] = Int32(i) }
        self.idForToken = idForToken

        var whole = Set<Int>(), special = Set<Int>()
        var trie = ByteTrie()
        var bytesForID: [[UInt8]] = []
        bytesForID.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() {
            let type = tokenTypes.map { TokenType(rawValue: Int32(clamping: $0[i])) ?? .normal } ?? .normal
            if type == .control || type == .userDefined {
                whole.insert(i)
                if type == .control { special.insert(i) }
                if !t.isEmpty { trie.insert(Array(t.utf8), id: Int32(i)) }
                bytesForID.append(Array(t.utf8))
            } else {
                // Tokens outside the byte map (none in SmolLM2) decode to their UTF-8 text.
                bytesForID.append(ByteLevel.decode(t) ?? Array(t.utf8))
            }
        }
        wholeTokenIDs = whole
        specialIDs = special
        wholeTokens = trie
        self.bytesForID = bytesForID

        // SmolLM2 has no token for 21 bytes (0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, 0xC0, 0xC1, 0xF1,
        // 0xF2, 0xF5-0xFF); like HF `tokenizers` (BPE without unk), such bytes are dropped.
        let idForByte = (0..<256).map { idForToken[String(ByteLevel.scalarForByte[$0])] ?? -1 }
        guard idForByte.filter({ $0 >= 0 }).count >= 128 else {
            throw fail("only \(idForByte.filter { $0 >= 0 }.count) of 256 byte tokens present; not a byte-level vocabulary")
        }
        self.idForByte = idForByte

        var rankForPair: [UInt64: Int32] = [:]
        rankForPair.reserveCapacity(merges.count)
        var mergedID: [Int32] = []
        mergedID.reserveCapacity(merges.count)
        for (rank, m) in merges.enumerated() {
            let parts = m.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, let a = idForToken[String(parts[0])], let b = idForToken[String(parts[1])],
                  let ab = idForToken[String(parts[0]) + String(parts[1])] else {
                throw fail("merge \(rank) '\(m)' is not two vocabulary tokens whose concatenation is a token")
            }
            let key = UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))
            if rankForPair[key] == nil {  // a repeated pair keeps its first (lowest) rank
                rankForPair[key] = Int32(rank)
            }
            mergedID.append(ab)
        }
        self.rankForPair = rankForPair
        self.mergedID = mergedID
    }

    // MARK: - Vocabulary

    /// Adds tokens matched whole in text (e.g. the 560 SID tokens `<a_12>`), appending new ids
    /// after the current vocabulary; a string already in the vocabulary keeps its id and becomes
    /// whole-matched. Returns the id of each string, in order.
    public mutating func addTokens(_ strings: [String]) -> [Int] {
        strings.map { s in
            precondition(!s.isEmpty, "addTokens: empty token")
            let id: Int
            if let existing = idForToken[s] {
                id = Int(existing)
            } else {
                id = tokens.count
                tokens.append(s)
                idForToken[s] = Int32(id)
                bytesForID.append(Array(s.utf8))
            }
            if !wholeTokenIDs.contains(id) {
                wholeTokenIDs.insert(id)
                bytesForID[id] = Array(s.utf8)
                wholeTokens.insert(Array(s.utf8), id: Int32(id))
            }
            return id
        }
    }

    /// The vocabulary string of `id` (byte-level spelling, e.g. `"Ġ3"`).
    public func token(for id: Int) -> String {
        precondition((0..<tokens.count).contains(id), "token(for:): id \(id) outside vocabulary of \(tokens.count)")
        return tokens[id]
    }

    /// The id of a vocabulary string (byte-level spelling, or an added/special token), if any.
    public func id(for token: String) -> Int? { idForToken[token].map(Int.init) }

    // MARK: - Encode / decode

    /// Token ids of `text` (no BOS/EOS added).
    public func encode(_ text: String) -> [Int] {
        var text = text
        return text.withUTF8 { encode(utf8: $0) }
    }

    private func encode(utf8 u: UnsafeBufferPointer<UInt8>) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(u.count / 3 + 4)
        var segmentStart = 0
        var i = 0
        while i < u.count {
            if wholeTokens.startsWith(u[i]), case let (id, end)? = wholeTokens.longestMatch(u, at: i) {
                encodeSegment(u, segmentStart..<i, into: &ids)
                ids.append(Int(id))
                i = end
                segmentStart = end
            } else {
                i += 1
            }
        }
        encodeSegment(u, segmentStart..<u.count, into: &ids)
        return ids
    }

    private func encodeSegment(_ u: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into ids: inout [Int]) {
        guard !range.isEmpty else { return }
        preTokenizer.forEachPiece(u, range) { piece in
            if piece.count == 1 {  // one byte: its own token (or nothing, as in bpe())
                let id = idForByte[Int(u[piece.lowerBound])]
                if id >= 0 { ids.append(Int(id)) }
                return
            }
            let bytes = UnsafeBufferPointer(rebasing: u[piece])
            if let hit = cache.get(bytes) {
                for id in hit { ids.append(Int(id)) }
            } else {
                let key = Array(bytes)
                let merged = bpe(key)
                cache.put(key, merged)
                for id in merged { ids.append(Int(id)) }
            }
        }
    }

    /// BPE of one piece: start from one symbol per byte, then apply merges lowest rank first,
    /// leftmost first on ties. A min-heap of (rank, left position) with lazy invalidation keeps
    /// long pieces O(n log n); symbols form a doubly linked list over the byte positions.
    func bpe(_ bytes: [UInt8]) -> [Int32] {
        var id: [Int32] = []
        id.reserveCapacity(bytes.count)
        for b in bytes where idForByte[Int(b)] >= 0 { id.append(idForByte[Int(b)]) }  // drop bytes without a token
        let n = id.count
        if n < 2 { return id }
        var next = Array(1...n)        // n = none
        var prev = Array(-1..<(n - 1))  // -1 = none
        var alive = [Bool](repeating: true, count: n)
        var heap = MinHeap()
        func rank(_ a: Int32, _ b: Int32) -> Int32? { rankForPair[UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))] }
        for p in 0..<(n - 1) {
            if let r = rank(id[p], id[p + 1]) { heap.push(UInt64(r) << 32 | UInt64(p)) }
        }
        while let top = heap.pop() {
            let r = Int32(top >> 32), p = Int(top & 0xFFFF_FFFF)
            let q = next[p]
            // Stale entry: left symbol merged away, no right neighbour, or the pair changed.
            guard alive[p], q < n, rank(id[p], id[q]) == r else { continue }
            id[p] = mergedID[Int(r)]
            alive[q] = false
            next[p] = next[q]
            if next[q] < n { prev[next[q]] = p }
            if prev[p] >= 0, let r2 = rank(id[prev[p]], id[p]) { heap.push(UInt64(r2) << 32 | UInt64(prev[p])) }
            if next[p] < n, let r2 = rank(id[p], id[next[p]]) { heap.push(UInt64(r2) << 32 | UInt64(p)) }
        }
        var out: [Int32] = []
        var p = 0
        while p < n { out.append(id[p]); p = next[p] }
        return out
    }

    /// The text of `ids`: byte-level tokens are mapped back to bytes, whole tokens are copied
    /// verbatim, and the bytes are decoded as UTF-8 (invalid sequences, e.g. a cut multi-byte
    /// character, become U+FFFD). `skipSpecial` drops control tokens (`<|im_end|>`, ...).
    public func decode(_ ids: [Int], skipSpecial: Bool = false) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids {
            precondition((0..<bytesForID.count).contains(id), "decode: id \(id) outside vocabulary of \(bytesForID.count)")
            if skipSpecial && specialIDs.contains(id) { continue }
            bytes.append(contentsOf: bytesForID[id])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

// MARK: - Helpers

/// A trie over UTF-8 bytes for leftmost-longest whole-token matching.
struct ByteTrie: Sendable {
    private var children: [[UInt8: Int32]] = [[:]]
    private var terminal: [Int32] = [-1]
    /// First bytes of any token, for a cheap rejection test at each text position.
    private var firstByte = [Bool](repeating: false, count: 256)

    mutating func insert(_ bytes: [UInt8], id: Int32) {
        guard let first = bytes.first else { return }
        firstByte[Int(first)] = true
        var node = 0
        for b in bytes {
            if let c = children[node][b] {
                node = Int(c)
            } else {
                children.append([:])
                terminal.append(-1)
                children[node][b] = Int32(children.count - 1)
                node = children.count - 1
            }
        }
        terminal[node] = id
    }

    @inline(__always) func startsWith(_ b: UInt8) -> Bool { firstByte[Int(b)] }

    /// The longest token starting at byte `i`: its id and the byte index just past it.
    func longestMatch(_ u: UnsafeBufferPointer<UInt8>, at i: Int) -> (Int32, Int)? {
        var node = 0, j = i
        var best: (Int32, Int)?
        while j < u.count, let c = children[node][u[j]] {
            node = Int(c)
            j += 1
            if terminal[node] >= 0 { best = (terminal[node], j) }
        }
        return best
    }
}

/// Binary min-heap of packed `(rank << 32 | position)` keys.
struct MinHeap {
    private var a: [UInt64] = []

    mutating func push(_ x: UInt64) {
        a.append(x)
        var i = a.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if a[parent] <= a[i] { break }
            a.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let top = a.first else { return nil }
        let last = a.removeLast()
        if !a.isEmpty {
            a[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < a.count && a[l] < a[m] { m = l }
                if r < a.count && a[r] < a[m] { m = r }
                if m == i { break }
                a.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}

/// Piece bytes -> BPE ids, shared by all copies of a tokenizer (merges never change, so adding
/// tokens does not invalidate it). Cleared when it grows past `capacity` entries.
/// Pieces of up to 15 bytes (nearly all) are keyed by value, two words built from the bytes in
/// place, so a hit allocates nothing; longer ones by their byte array.
final class PieceCache: Sendable {
    struct ShortKey: Hashable { var low: UInt64, high: UInt64 }
    private struct Tables {
        var short: [ShortKey: [Int32]] = [:]
        var long: [[UInt8]: [Int32]] = [:]
    }
    private let tables = Mutex(Tables())
    let capacity = 200_000

    /// The bytes packed little-endian into 15 bytes, the length in the top byte; nil if longer.
    @inline(__always)
    static func shortKey(_ b: UnsafeBufferPointer<UInt8>) -> ShortKey? {
        guard b.count <= 15 else { return nil }
        var low: UInt64 = 0, high = UInt64(b.count) << 56
        for i in 0..<min(b.count, 8) { low |= UInt64(b[i]) << (8 * UInt64(i)) }
        if b.count > 8 { for i in 8..<b.count { high |= UInt64(b[i]) << (8 * UInt64(i - 8)) } }
        return ShortKey(low: low, high: high)
    }

    func get(_ bytes: UnsafeBufferPointer<UInt8>) -> [Int32]? {
        if let k = Self.shortKey(bytes) { return tables.withLock { $0.short[k] } }
        let key = Array(bytes)
        return tables.withLock { $0.long[key] }
    }

    func put(_ key: [UInt8], _ value: [Int32]) {
        let short = key.withUnsafeBufferPointer { Self.shortKey($0) }
        tables.withLock {
            if $0.short.count + $0.long.count >= capacity {
                $0.short.removeAll(keepingCapacity: true)
                $0.long.removeAll(keepingCapacity: true)
            }
            if let short { $0.short[short] = value } else { $0.long[key] = value }
        }
    }
}
