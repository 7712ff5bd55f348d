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
/// No space is prepended to the text.
struct PreTokenizer: Sendable {
    /// Step 1 above (on for SmolLM2; off gives plain GPT-2).
    var isolateDigits: Bool

    enum Class: UInt8 { case letter, number, whitespace, other }

    /// The class of one scalar: ASCII by table, the rest from Unicode properties.
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
        guard let s = Unicode.Scalar(v) else { return .other }
        let p = s.properties
        if p.isWhitespace { return .whitespace }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// The pieces of `utf8[range]` (valid UTF-8) as byte ranges, in order, covering it exactly.
    func pieces(_ utf8: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> [Range<Int>] {
        // Decode once: scalar values, their classes, and byte offsets (offsets[n] = range end).
        var values: [UInt32] = []
        var classes: [Class] = []
        var offsets: [Int] = []
        values.reserveCapacity(range.count)
        classes.reserveCapacity(range.count)
        offsets.reserveCapacity(range.count + 1)
        var i = range.lowerBound
        while i < range.upperBound {
            let (v, len) = Self.decodeScalar(utf8, i, range.upperBound)
            values.append(v)
            classes.append(Self.classify(v))
            offsets.append(i)
            i += len
        }
        offsets.append(range.upperBound)

        var result: [Range<Int>] = []
        result.reserveCapacity(values.count / 3 + 1)
        let n = values.count
        var start = 0
        while start < n {
            if isolateDigits && classes[start] == .number {
                result.append(offsets[start]..<offsets[start + 1])
                start += 1
                continue
            }
            var end = start
            while end < n && !(isolateDigits && classes[end] == .number) { end += 1 }
            var p = start
            while p < end {
                let q = Self.gpt2Match(values, classes, p, end)
                result.append(offsets[p]..<offsets[q])
                p = q
            }
            start = end
        }
        return result
    }

    /// End (exclusive scalar index) of the GPT-2 pattern's match starting at `i` within `[i, end)`.
    static func gpt2Match(_ v: [UInt32], _ c: [Class], _ i: Int, _ end: Int) -> Int {
        let apostrophe: UInt32 = 0x27, space: UInt32 = 0x20
        // 's 't 're 've 'm 'll 'd
        if v[i] == apostrophe && i + 1 < end {
            switch v[i + 1] {
            case 0x73, 0x74, 0x6D, 0x64: return i + 2  // s t m d
            case 0x72, 0x76:  // r v -> 're 've
                if i + 2 < end && v[i + 2] == 0x65 { return i + 3 }
            case 0x6C:  // l -> 'll
                if i + 2 < end && v[i + 2] == 0x6C { return i + 3 }
            default: break
            }
        }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: optional U+0020, then a run of one class.
        let j = (v[i] == space && i + 1 < end) ? i + 1 : i
        let cls = c[j]
        if cls != .whitespace {
            var k = j + 1
            while k < end && c[k] == cls { k += 1 }
            return k
        }
        // `\s+(?!\S)`: the whitespace run, minus its last char if a non-space follows; `\s+` when
        // that leaves nothing (a single whitespace char before a non-space).
        var k = i + 1
        while k < end && c[k] == .whitespace { k += 1 }
        if k == end || k - i == 1 { return k }
        return k - 1
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
