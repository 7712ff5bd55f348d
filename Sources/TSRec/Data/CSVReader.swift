import Foundation

/// RFC 4180 CSV, read the way Python's `csv` module (dialect "excel", which pandas follows)
/// reads it: `,` separates, `"` quotes, `""` inside quotes is one `"`, quoted fields may hold
/// separators and line breaks, records end at `\n`, `\r\n` or `\r`. Like Python (non-strict),
/// a quote in the middle of an unquoted field and text after a closing quote are kept
/// literally. Written by hand because Foundation has no CSV reader and the split files mix
/// CSV quoting with Python list literals (`"['a, b', ""c""]"`).
struct CSVReader {
    /// One record: its fields and the 1-based physical line on which it starts.
    struct Record {
        var fields: [String]
        var line: Int
    }

    /// Parses a whole file's bytes. Empty lines are skipped (as Python's `csv` does).
    static func records(_ data: Data, path: String) throws -> [Record] {
        try data.withUnsafeBytes { raw in
            try records(raw.bindMemory(to: UInt8.self), path: path)
        }
    }

    static func records(_ bytes: UnsafeBufferPointer<UInt8>, path: String) throws -> [Record] {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), lf: UInt8 = 0x0A, cr: UInt8 = 0x0D
        var out: [Record] = []
        var i = 0, line = 1
        let n = bytes.count
        // Skip a UTF-8 byte-order mark.
        if n >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { i = 3 }
        var field: [UInt8] = []
        field.reserveCapacity(4096)
        while i < n {
            // Start of a record.
            if bytes[i] == lf { i += 1; line += 1; continue }
            if bytes[i] == cr { i += 1; if i < n, bytes[i] == lf { i += 1 }; line += 1; continue }
            let startLine = line
            var fields: [String] = []
            var endOfRecord = false
            while !endOfRecord {
                field.removeAll(keepingCapacity: true)
                if i < n, bytes[i] == quote {
                    // Quoted field.
                    i += 1
                    var closed = false
                    while i < n {
                        let c = bytes[i]
                        if c == quote {
                            if i + 1 < n, bytes[i + 1] == quote {
                                field.append(quote)
                                i += 2
                                continue
                            }
                            i += 1
                            closed = true
                            break
                        }
                        if c == lf { line += 1 } else if c == cr, !(i + 1 < n && bytes[i + 1] == lf) { line += 1 }
                        field.append(c)
                        i += 1
                    }
                    if !closed {
                        throw TSRecError(.format(path: path, line: startLine, field: "column \(fields.count + 1)",
                                                 reason: "quoted field is never closed (unbalanced '\"')"),
                                         hint: "the file is truncated or not valid CSV; fetch the dataset again")
                    }
                }
                // Unquoted part (or text after a closing quote, kept literally).
                let runStart = i
                while i < n {
                    let c = bytes[i]
                    if c == comma || c == lf || c == cr { break }
                    i += 1
                }
                if i > runStart { field.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
                fields.append(String(decoding: field, as: UTF8.self))
                if i >= n {
                    endOfRecord = true
                } else if bytes[i] == comma {
                    i += 1
                    if i >= n { fields.append(""); endOfRecord = true }
                } else {
                    if bytes[i] == cr { i += 1; if i < n, bytes[i] == lf { i += 1 } } else { i += 1 }
                    line += 1
                    endOfRecord = true
                }
            }
            out.append(Record(fields: fields, line: startLine))
        }
        return out
    }

    // MARK: - Writing (for round-trip tests and exports)

    /// One field, quoted only when needed (Python `csv.QUOTE_MINIMAL`).
    static func field(_ s: String) -> String {
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }

    /// One record terminated by `\n`.
    static func line(_ fields: [String]) -> String { fields.map(field).joined(separator: ",") + "\n" }
}
