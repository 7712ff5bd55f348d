import Foundation

/// Four decimals: how every metric and cosine cell of the harness's CSV and markdown tables is written,
/// so the same number reads the same in every file.
func f4(_ x: Double) -> String { String(format: "%.4f", x) }

/// A row type `CSV.write` can render: fixed column names, one cell per column, in the same order.
public protocol CSVRow {
    static var csvHeader: [String] { get }
    var csvFields: [String] { get }
}

/// A parsed CSV file: the `# key: value` lines above the header, the header, and the data rows.
public struct CSVTable: Sendable {
    public var metadata: [(key: String, value: String)]
    public var header: [String]
    public var rows: [[String]]
    /// Where the table came from, for error messages.
    public var source: String

    /// The cells of column `name`, top to bottom.
    public func column(_ name: String) throws -> [String] {
        guard let j = header.firstIndex(of: name) else {
            throw TSRecError(.format(path: source, line: 0, field: name, reason: "no such column (have \(header))"))
        }
        return rows.map { $0[j] }
    }

    /// Column `name` as numbers; empty cells become nil, anything else unparseable throws with its line.
    /// `firstDataLine` numbering assumes one physical line per record (true for numeric tables).
    public func numericColumn(_ name: String) throws -> [Double?] {
        let cells = try column(name)
        let firstDataLine = metadata.count + 2
        return try cells.enumerated().map { i, cell in
            let t = cell.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { return nil }
            guard let v = Double(t) else {
                throw TSRecError(.format(path: source, line: firstDataLine + i, field: name, reason: "not a number: '\(cell)'"))
            }
            return v
        }
    }

    /// The value of metadata line `# key: value`, if present.
    public func metadataValue(_ key: String) -> String? {
        metadata.first { $0.key == key }?.value
    }
}

/// CSV in RFC 4180 style (comma separator, `"` quoting with `""` escapes, LF line ends) with optional
/// `# key: value` metadata lines on top. gnuplot skips `#` lines, so the files plot directly.
public enum CSV {
    /// A cell for an optional number: empty when nil, else Swift's shortest round-trip form.
    public static func cell(_ x: Double?) -> String { x.map { "\($0)" } ?? "" }

    /// Quotes a field when it holds a comma, quote, CR/LF, starts with `#` (would read as metadata),
    /// or has leading/trailing spaces (readers disagree on trimming).
    public static func quote(_ field: String) -> String {
        let needs = field.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }
            || field.hasPrefix("#") || field.hasPrefix(" ") || field.hasSuffix(" ")
        guard needs else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// The file text. Metadata keys and values are single-line: newlines are replaced by spaces.
    public static func render(header: [String], rows: [[String]], metadata: [(key: String, value: String)] = []) -> String {
        var out = ""
        func oneLine(_ s: String) -> String { s.replacingOccurrences(of: "\r\n", with: " ").replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ") }
        for (k, v) in metadata { out += "# \(oneLine(k)): \(oneLine(v))\n" }
        out += header.map(quote).joined(separator: ",") + "\n"
        for (i, r) in rows.enumerated() {
            precondition(r.count == header.count, "CSV.render: row \(i) has \(r.count) cells, header has \(header.count)")
            out += r.map(quote).joined(separator: ",") + "\n"
        }
        return out
    }

    /// Writes the table atomically (temporary file + rename).
    public static func write(header: [String], rows: [[String]], to url: URL, metadata: [(key: String, value: String)] = []) throws {
        try AtomicFile.write(render(header: header, rows: rows, metadata: metadata), to: url)
    }

    /// Writes typed rows atomically.
    public static func write<R: CSVRow>(_ rows: [R], to url: URL, metadata: [(key: String, value: String)] = []) throws {
        try write(header: R.csvHeader, rows: rows.map(\.csvFields), to: url, metadata: metadata)
    }

    public static func read(from url: URL) throws -> CSVTable {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw TSRecError(.io(path: url.path, reason: "cannot read CSV: \(error.localizedDescription)"))
        }
        return try parse(text, source: url.path)
    }

    /// Parses CSV text: leading `#` lines are metadata (`# key: value`; a line without `: ` is a key with
    /// an empty value), the next record is the header, every following record must have as many cells.
    public static func parse(_ text: String, source: String = "<text>") throws -> CSVTable {
        var metadata: [(key: String, value: String)] = []
        var lines = text[...]
        var lineNo = 1
        // Metadata: whole physical lines starting with '#', before the header.
        while lines.first == "#" {
            let end = lines.firstIndex(where: { $0 == "\n" || $0 == "\r\n" }) ?? lines.endIndex
            var body = lines[lines.index(after: lines.startIndex) ..< end]
            if body.first == " " { body = body.dropFirst() }
            if let r = body.range(of: ": ") {
                metadata.append((String(body[..<r.lowerBound]), String(body[r.upperBound...])))
            } else {
                metadata.append((String(body.hasSuffix(":") ? body.dropLast() : body), ""))
            }
            lines = end == lines.endIndex ? lines[end...] : lines[lines.index(after: end)...]
            lineNo += 1
        }
        var records = try records(lines, source: source, firstLine: lineNo)
        guard !records.isEmpty else {
            throw TSRecError(.format(path: source, line: lineNo, field: "", reason: "no header row"))
        }
        let header = records.removeFirst().cells
        for r in records where r.cells.count != header.count {
            throw TSRecError(.format(path: source, line: r.line, field: "",
                                     reason: "\(r.cells.count) cells, header has \(header.count)"),
                             hint: "quote fields that contain commas")
        }
        return CSVTable(metadata: metadata, header: header, rows: records.map(\.cells), source: source)
    }

    /// Splits text into records of cells, honouring quotes; records the 1-based line each starts on.
    private static func records(_ text: Substring, source: String, firstLine: Int) throws -> [(line: Int, cells: [String])] {
        var out: [(line: Int, cells: [String])] = []
        var cells: [String] = [], field = "", inQuotes = false, wasQuoted = false
        var line = firstLine, recordLine = firstLine, quoteLine = firstLine
        var it = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func endRecord() {
            cells.append(field)
            if !(cells.count == 1 && cells[0].isEmpty && !wasQuoted) { out.append((recordLine, cells)) }
            cells = []; field = ""; wasQuoted = false
        }
        while let c = pending ?? it.next() {
            pending = nil
            if inQuotes {
                if c == "\"" {
                    if let n = it.next() {
                        if n == "\"" { field.unicodeScalars.append("\"") } else { inQuotes = false; pending = n }
                    } else { inQuotes = false }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"" where field.isEmpty && !wasQuoted:
                inQuotes = true; wasQuoted = true; quoteLine = line
            case "\"":
                throw TSRecError(.format(path: source, line: line, field: "", reason: "stray quote inside an unquoted field"))
            case ",":
                cells.append(field); field = ""; wasQuoted = false
            case "\r":
                break  // CRLF: the LF ends the record
            case "\n":
                endRecord(); line += 1; recordLine = line
            default:
                if wasQuoted {
                    throw TSRecError(.format(path: source, line: line, field: "", reason: "text after a closing quote"))
                }
                field.unicodeScalars.append(c)
            }
        }
        if inQuotes {
            throw TSRecError(.format(path: source, line: quoteLine, field: "", reason: "unterminated quoted field"))
        }
        if !field.isEmpty || !cells.isEmpty || wasQuoted { endRecord() }
        return out
    }
}
