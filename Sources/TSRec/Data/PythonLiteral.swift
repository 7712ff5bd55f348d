import Foundation

/// Python list literals as the MiniOneRec CSVs and item files store them: `repr()` of a
/// `list[str]` or `list[int]`, e.g. `['Gorilla Tape, 1.88" x 35 yd', "Mover's Dolly"]`.
///
/// Python picks the quote per element: `'…'` normally, `"…"` when the text holds `'` but no `"`;
/// a text with both keeps `'…'` and escapes the inner `\'`. Parsing follows `ast.literal_eval`
/// for this subset (escapes `\\ \' \" \a \b \f \n \r \t \v \ooo \xhh \uXXXX \UXXXXXXXX`,
/// backslash-newline, unknown escapes kept verbatim, trailing comma allowed); `repr` follows
/// CPython's `str.__repr__`, so `parse(repr(x)) == x` for every list of strings.
enum PythonLiteral {
    struct ParseError: Error, CustomStringConvertible {
        /// 0-based byte offset into the literal.
        var offset: Int
        var reason: String
        var description: String { "\(reason) at character \(offset + 1)" }
    }

    static func stringList(_ text: String) throws(ParseError) -> [String] {
        var bytes = Array(text.utf8)
        return try bytes.withUnsafeMutableBufferPointer { buf throws(ParseError) in
            var p = Parser(bytes: UnsafeBufferPointer(buf))
            return try p.list { p throws(ParseError) in try p.string() }
        }
    }

    static func intList(_ text: String) throws(ParseError) -> [Int] {
        var bytes = Array(text.utf8)
        return try bytes.withUnsafeMutableBufferPointer { buf throws(ParseError) in
            var p = Parser(bytes: UnsafeBufferPointer(buf))
            return try p.list { p throws(ParseError) in try p.integer() }
        }
    }

    /// Byte-level recursive-descent parser over one literal.
    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var i = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        func fail(_ reason: String) -> ParseError { ParseError(offset: i, reason: reason) }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
        }

        /// `[` elem (`,` elem)* `,`? `]`, then only whitespace.
        mutating func list<T>(_ element: (inout Parser) throws(ParseError) -> T) throws(ParseError) -> [T] {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "[") else { throw fail("expected '['") }
            i += 1
            var out: [T] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
                i += 1
            } else {
                while true {
                    skipSpace()
                    out.append(try element(&self))
                    skipSpace()
                    guard i < bytes.count else { throw fail("unterminated list (missing ']')") }
                    if bytes[i] == UInt8(ascii: ",") {
                        i += 1
                        skipSpace()
                        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; break }
                        continue
                    }
                    if bytes[i] == UInt8(ascii: "]") { i += 1; break }
                    throw fail("expected ',' or ']' after list element")
                }
            }
            skipSpace()
            guard i == bytes.count else { throw fail("unexpected text after ']'") }
            return out
        }

        mutating func integer() throws(ParseError) -> Int {
            var negative = false
            if i < bytes.count, bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
            let start = i
            var value = 0
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(Int(bytes[i] - 0x30))
                guard !o1, !o2 else { throw fail("integer too large") }
                value = s
                i += 1
            }
            guard i > start else { throw fail("expected an integer") }
            return negative ? -value : value
        }

        /// One `'…'` or `"…"` literal with Python escape rules.
        mutating func string() throws(ParseError) -> String {
            guard i < bytes.count, bytes[i] == UInt8(ascii: "'") || bytes[i] == UInt8(ascii: "\"") else {
                throw fail("expected a quoted string")
            }
            let quote = bytes[i]
            i += 1
            var out: [UInt8] = []
            var runStart = i
            while true {
                guard i < bytes.count else { throw fail("unterminated string (missing closing quote)") }
                let c = bytes[i]
                if c == quote {
                    out.append(contentsOf: bytes[runStart..<i])
                    i += 1
                    return String(decoding: out, as: UTF8.self)
                }
                if c == 0x0A { throw fail("line break inside a string literal") }
                if c != UInt8(ascii: "\\") { i += 1; continue }
                out.append(contentsOf: bytes[runStart..<i])
                i += 1
                guard i < bytes.count else { throw fail("backslash at end of text") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): out.append(e)
                case UInt8(ascii: "a"): out.append(0x07)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "v"): out.append(0x0B)
                case 0x0A: break    // backslash-newline: line continuation
                case UInt8(ascii: "0")...UInt8(ascii: "7"):
                    var v = UInt32(e - 0x30)
                    var n = 1
                    while n < 3, i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x37 {
                        v = v * 8 + UInt32(bytes[i] - 0x30)
                        i += 1
                        n += 1
                    }
                    try appendScalar(v, to: &out)
                case UInt8(ascii: "x"): try appendScalar(try hex(2), to: &out)
                case UInt8(ascii: "u"): try appendScalar(try hex(4), to: &out)
                case UInt8(ascii: "U"): try appendScalar(try hex(8), to: &out)
                case UInt8(ascii: "N"): throw fail("\\N{...} escapes are not supported")
                default:
                    out.append(UInt8(ascii: "\\"))   // Python keeps unknown escapes verbatim
                    out.append(e)
                }
                runStart = i
            }
        }

        mutating func hex(_ digits: Int) throws(ParseError) -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<digits {
                guard i < bytes.count else { throw fail("truncated \\x/\\u/\\U escape") }
                let c = bytes[i]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw fail("invalid hex digit in escape")
                }
                v = v * 16 + d
                i += 1
            }
            return v
        }

        func appendScalar(_ v: UInt32, to out: inout [UInt8]) throws(ParseError) {
            guard let scalar = Unicode.Scalar(v) else { throw fail("escape \\u{\(String(v, radix: 16))} is not a Unicode scalar") }
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
        }
    }

    // MARK: - repr (CPython's str.__repr__)

    /// `repr(s)` as CPython prints it.
    static func repr(_ s: String) -> String {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default:
                if Character(scalar) == quote {
                    out += "\\" + String(quote)
                } else if isPrintable(scalar) {
                    out.unicodeScalars.append(scalar)
                } else if scalar.value < 0x100 {
                    out += "\\x" + pad(String(scalar.value, radix: 16), 2)
                } else if scalar.value < 0x10000 {
                    out += "\\u" + pad(String(scalar.value, radix: 16), 4)
                } else {
                    out += "\\U" + pad(String(scalar.value, radix: 16), 8)
                }
            }
        }
        out.append(quote)
        return out
    }

    /// `repr(list_of_str)`: `['a', "b'c"]`.
    static func repr(_ list: [String]) -> String { "[" + list.map { repr($0) }.joined(separator: ", ") + "]" }

    /// `repr(list_of_int)`: `[1, 2]`.
    static func repr(_ list: [Int]) -> String { "[" + list.map(String.init).joined(separator: ", ") + "]" }

    private static func pad(_ s: String, _ n: Int) -> String { String(repeating: "0", count: max(0, n - s.count)) + s }

    /// Python's `str.isprintable` per character: everything except categories Cc, Cf, Cs, Co,
    /// Cn, Zl, Zp and Zs other than the ASCII space.
    static func isPrintable(_ s: Unicode.Scalar) -> Bool {
        if s == " " { return true }
        if s.value < 0x7F { return s.value >= 0x20 }
        switch s.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned,
             .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }
}
