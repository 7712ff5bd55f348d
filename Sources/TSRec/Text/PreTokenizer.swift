/// Splits text into the pieces that BPE then encodes one by one, as a hand-written scanner over
/// Unicode scalars (exact and allocation-light, unlike a general regex engine).
///
/// SmolLM2's pre-tokenizer (HF `tokenizer.json`: `Sequence[Digits(individual_digits: true),
/// ByteLevel(add_prefix_space: false, use_regex: true)]`; llama.cpp pre-type `smollm`) is:
///  1. every number character (`\p{N}`) becomes a piece of its own;
///  2. each run between them is split by the GPT-2 pattern, first matching alternative wins:
///     `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
///     (`\s` = Unicode White_Space, `\p{L}` = letters, `\p{N}` = numbers; contractions are
///     case-sensitive; the optional prefix is U+0020 only).
/// Each run of step 2 is matched on its own, as HF applies every step of a Sequence to each
/// piece of the step before: the look-ahead `(?!\S)` sees the run's end, not the digit after it,
/// so "a  3" is "a", "  ", "3" (ids 81, 256, 35), never "a", " ", " ", "3".
/// The classes follow the reference's Unicode versions, not Swift's (see `classifyByProperties`);
/// TokenizerParityTests checks all 1,112,064 scalars against it.
/// No space is prepended to the text.
struct PreTokenizer: Sendable {
    /// Step 1 above (on for SmolLM2; off gives plain GPT-2).
    var isolateDigits: Bool

    enum Class: UInt8 { case letter, number, whitespace, other }

    /// The class of one scalar, as the reference (HF `tokenizers` 0.23) sees it: ASCII by switch,
    /// the rest of the BMP from a table built once, astral scalars from Unicode properties.
    @inline(__always)
    static func classify(_ v: UInt32) -> Class {
        if v < 0x80 {
            switch v {
            case 0x41...0x5A, 0x61...0x7A: return .letter
            case 0x30...0x39: return .number
            case 0x09...0x0D, 0x20: return .whitespace
            default: return .other
            }
        }
        if v < 0x1_0000 { return bmpClasses[Int(v)] }
        return classifyByProperties(v)
    }

    /// `classify` for the BMP (surrogate slots hold `.other`).
    static let bmpClasses: [Class] = (0..<UInt32(0x1_0000)).map { classifyByProperties($0) }

    /// Unicode versions of the reference's character tables. HF's pre-tokenizer asks two
    /// engines: `Digits` uses Rust's `char::is_numeric` (Unicode 17.0 in tokenizers 0.23.3), the
    /// ByteLevel regex uses Oniguruma's `\p{L}` (Unicode 16.0). Swift 6.3's own tables are
    /// Unicode 17.0, so the 4,644 letters new in 17.0 (U+088F, U+A7CE, Sidetic, …) would be
    /// letters here but "other" there — and the class decides where pieces end (`\u{88F}'ll` is
    /// one "other" run then "ll" for HF, not a letter then the contraction `'ll`). Capping each
    /// class at its engine's version keeps tsrec on the reference whatever Swift's tables are.
    static let letterUnicodeVersion = (major: 16, minor: 0)
    static let numberUnicodeVersion = (major: 17, minor: 0)

    static func classifyByProperties(_ v: UInt32) -> Class {
        guard let s = Unicode.Scalar(v) else { return .other }
        let p = s.properties
        if p.isWhitespace { return .whitespace }  // White_Space, = Oniguruma's \s (stable since 6.3)
        let limit: (major: Int, minor: Int)
        let cls: Class
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            (cls, limit) = (.letter, letterUnicodeVersion)
        case .decimalNumber, .letterNumber, .otherNumber:
            (cls, limit) = (.number, numberUnicodeVersion)
        default:
            return .other
        }
        guard let age = p.age, (age.major, age.minor) <= limit else { return .other }
        return cls
    }

    /// The pieces of `utf8[range]` (valid UTF-8) as byte ranges, in order, covering it exactly.
    func pieces(_ utf8: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> [Range<Int>] {
        var result: [Range<Int>] = []
        result.reserveCapacity(range.count / 4 + 1)
        forEachPiece(utf8, range) { result.append($0) }
        return result
    }

    /// Calls `body` with each piece of `u[range]` (valid UTF-8), in order: one pass over the
    /// bytes that decodes each scalar as it goes and allocates nothing. A digit piece (when
    /// `isolateDigits`) also ends the GPT-2 run before it, as the end of the text does.
    @inline(__always)
    func forEachPiece(_ u: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ body: (Range<Int>) -> Void) {
        let end = range.upperBound
        var p = range.lowerBound
        while p < end {
            let (v0, n0) = Self.decodeScalar(u, p, end)
            let c0 = Self.classify(v0)
            if isolateDigits && c0 == .number {
                body(p..<p + n0)
                p += n0
                continue
            }
            // 's 't 're 've 'm 'll 'd (case-sensitive; the letters are ASCII, so bytes suffice)
            if v0 == 0x27 && p + 1 < end {
                var n = 0
                switch u[p + 1] {
                case 0x73, 0x74, 0x6D, 0x64: n = 2  // s t m d
                case 0x72, 0x76: if p + 2 < end && u[p + 2] == 0x65 { n = 3 }  // re ve
                case 0x6C: if p + 2 < end && u[p + 2] == 0x6C { n = 3 }  // ll
                default: break
                }
                if n > 0 {
                    body(p..<p + n)
                    p += n
                    continue
                }
            }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional U+0020, then a run of one
            // class (a space before whitespace, a digit piece or the end falls to `\s` below).
            var q = p + n0
            var cls = c0
            if v0 == 0x20 && q < end {
                let (v1, n1) = Self.decodeScalar(u, q, end)
                let c1 = Self.classify(v1)
                if c1 != .whitespace && !(isolateDigits && c1 == .number) {
                    cls = c1
                    q += n1
                }
            }
            if cls != .whitespace {
                while q < end {
                    let (v, n) = Self.decodeScalar(u, q, end)
                    guard Self.classify(v) == cls else { break }
                    q += n
                }
                body(p..<q)
                p = q
                continue
            }
            // `\s+(?!\S)`: the whitespace run, less its last char when a non-space follows; `\s+`
            // when that leaves nothing (one whitespace char before a non-space). A digit piece
            // after the run counts as the end: the look-ahead never sees past its own run.
            var last = p
            var count = 1
            var reachesEnd = true
            while q < end {
                let (v, n) = Self.decodeScalar(u, q, end)
                let c = Self.classify(v)
                if c != .whitespace {
                    reachesEnd = isolateDigits && c == .number
                    break
                }
                last = q
                q += n
                count += 1
            }
            let stop = reachesEnd || count == 1 ? q : last
            body(p..<stop)
            p = stop
        }
    }

    /// The scalar starting at byte `i` and its length in bytes (input is valid UTF-8).
    @inline(__always)
    static func decodeScalar(_ u: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> (UInt32, Int) {
        let b0 = UInt32(u[i])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xE0, i + 1 < end { return ((b0 & 0x1F) << 6 | UInt32(u[i + 1] & 0x3F), 2) }
        if b0 < 0xF0, i + 2 < end {
            return ((b0 & 0x0F) << 12 | UInt32(u[i + 1] & 0x3F) << 6 | UInt32(u[i + 2] & 0x3F), 3)
        }
        if i + 3 < end {
            return ((b0 & 0x07) << 18 | UInt32(u[i + 1] & 0x3F) << 12 | UInt32(u[i + 2] & 0x3F) << 6
                    | UInt32(u[i + 3] & 0x3F), 4)
        }
        return (0xFFFD, 1)  // unreachable for valid UTF-8
    }
}
