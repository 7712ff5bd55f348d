import Foundation

/// One evaluated test row: the user, the held-out item's SID string and the ranked SID strings
/// produced for it (best first; typically the beam, 20 entries).
public struct Prediction: Codable, Sendable, Hashable {
    public var user: String
    public var target: String
    public var ranked: [String]
    /// The text a generating row produced before its ranking (BIGRec's top-1, grounded on the
    /// catalogue): a diagnostic, absent from the file for the other rows.
    public var generated: String?
    /// 0-based ranks that carry the target's SID but are misses (absent from the file when none):
    /// a title row's rank whose item shares the target's SID under a different title (4 of the
    /// Industrial catalogue's SIDs are shared so), since the title rows hit by title, as the
    /// originals do (`Pipeline.titleLevelSIDs`). The rank keeps its item's SID, a valid one.
    public var titleMisses: [Int]?

    public init(user: String, target: String, ranked: [String], generated: String? = nil, titleMisses: [Int]? = nil) {
        self.user = user
        self.target = target
        self.ranked = ranked
        self.generated = generated
        self.titleMisses = titleMisses
    }

    /// 0-based rank of the first exact SID-string match with `target` that is not a title miss, or
    /// nil when there is none. Exact string match means an item whose SID collides with another's
    /// counts as a hit for both on the SID rows.
    public var hitRank: Int? {
        guard let misses = titleMisses, !misses.isEmpty else { return ranked.firstIndex(of: target) }
        return ranked.indices.first { ranked[$0] == target && !misses.contains($0) }
    }

    /// Throws a `.format` error naming `source` and the first row (1-based) of `rows` whose user
    /// or target is not `reference`'s (described as `referenceName`): paired metrics and splits
    /// of the test rows need the same rows in the same order. Rows past the shorter list are not
    /// compared.
    static func checkSameRows(_ rows: [Prediction], as reference: [Prediction], referenceName: String,
                              source: String, hint: String) throws {
        guard let i = rows.indices.prefix(reference.count).first(where: { rows[$0].user != reference[$0].user || rows[$0].target != reference[$0].target })
        else { return }
        throw TSRecError(.format(path: source, line: i + 1, field: "user",
                                 reason: "user \(rows[i].user) target \(rows[i].target), but \(referenceName) has user \(reference[i].user) target \(reference[i].target)"),
                         hint: hint)
    }
}

/// HR@K: 1 if the first hit's 0-based rank is below K, else 0 (one held-out item per row).
/// Checked by hand on MetricsTests cases.
public func hitRatio(rank: Int?, k: Int) -> Double {
    guard let rank, rank < k else { return 0 }
    return 1
}

/// NDCG@K for one held-out item: 1/log2(rank+2) if the 0-based rank is below K, else 0 (ideal DCG is 1).
/// Same definition as RecBole's `NDCG` and MiniOneRec's `calc.py` for a single relevant item.
public func ndcg(rank: Int?, k: Int) -> Double {
    guard let rank, rank < k else { return 0 }
    return 1 / log2(Double(rank) + 2)
}

/// Averaged metrics over a set of predictions: HR@K and NDCG@K for K in {1, 3, 5, 10, 20}, plus the
/// invalid generations (ranked strings that are not in the catalogue), counted as their own metric.
public struct MetricRow: Codable, Sendable, Hashable {
    /// The cut-offs reported by every row, in column order.
    public static let cutoffs = [1, 3, 5, 10, 20]

    /// Number of predictions averaged over.
    public var rows: Int
    public var hr1: Double, hr3: Double, hr5: Double, hr10: Double, hr20: Double
    public var ndcg1: Double, ndcg3: Double, ndcg5: Double, ndcg10: Double, ndcg20: Double
    /// Ranked strings that are not SIDs of the catalogue, summed over rows.
    public var invalid: Int
    /// `invalid` divided by the number of ranked strings over all rows (0 when there are none).
    public var invalidRate: Double

    public init(rows: Int, hr: [Double], ndcg: [Double], invalid: Int, invalidRate: Double) {
        precondition(hr.count == 5 && ndcg.count == 5, "MetricRow: need 5 values per metric (K = \(Self.cutoffs))")
        self.rows = rows
        (hr1, hr3, hr5, hr10, hr20) = (hr[0], hr[1], hr[2], hr[3], hr[4])
        (ndcg1, ndcg3, ndcg5, ndcg10, ndcg20) = (ndcg[0], ndcg[1], ndcg[2], ndcg[3], ndcg[4])
        self.invalid = invalid
        self.invalidRate = invalidRate
    }

    /// HR@K for K in `cutoffs`, else nil.
    public func hr(at k: Int) -> Double? {
        switch k { case 1: hr1; case 3: hr3; case 5: hr5; case 10: hr10; case 20: hr20; default: nil }
    }

    /// NDCG@K for K in `cutoffs`, else nil.
    public func ndcg(at k: Int) -> Double? {
        switch k { case 1: ndcg1; case 3: ndcg3; case 5: ndcg5; case 10: ndcg10; case 20: ndcg20; default: nil }
    }

    /// A metric by its reported name, `HR@K` or `NDCG@K` (case-insensitive), else nil.
    public func value(named name: String) -> Double? {
        let parts = name.uppercased().split(separator: "@")
        guard parts.count == 2, let k = Int(parts[1]) else { return nil }
        switch parts[0] {
        case "HR": return hr(at: k)
        case "NDCG": return ndcg(at: k)
        default: return nil
        }
    }

    /// Metric names in column order: `HR@1 … HR@20, NDCG@1 … NDCG@20`.
    public static var metricNames: [String] { cutoffs.map { "HR@\($0)" } + cutoffs.map { "NDCG@\($0)" } }

    /// Evaluates ranked predictions against their targets.
    ///
    /// One pass over the rows: each row's first-hit rank r adds 1 to HR@K and 1/log2(r+2) to NDCG@K
    /// for every K > r (RecBole-style cumulative cut-offs); sums are divided by the row count.
    /// - Parameter catalogue: every valid SID string; ranked strings outside it count as invalid.
    public static func evaluate(_ predictions: [Prediction], catalogue: Set<String>) -> MetricRow {
        precondition(!predictions.isEmpty, "MetricRow.evaluate: no predictions")
        var hr = [Double](repeating: 0, count: cutoffs.count)
        var nd = [Double](repeating: 0, count: cutoffs.count)
        var invalid = 0, ranked = 0
        for p in predictions {
            ranked += p.ranked.count
            for s in p.ranked where !catalogue.contains(s) { invalid += 1 }
            guard let r = p.hitRank else { continue }
            let gain = 1 / log2(Double(r) + 2)
            for (i, k) in cutoffs.enumerated() where r < k {
                hr[i] += 1
                nd[i] += gain
            }
        }
        let n = Double(predictions.count)
        return MetricRow(rows: predictions.count, hr: hr.map { $0 / n }, ndcg: nd.map { $0 / n },
                         invalid: invalid, invalidRate: ranked == 0 ? 0 : Double(invalid) / Double(ranked))
    }

    /// The same test rows asked with several prompts, one predictions file each (LC-Rec's test):
    /// every HR and NDCG is the mean over the files of each file's mean, `rows` the rows of one
    /// file, `invalid` and `invalidRate` over the ranked strings of all files. Since every file
    /// holds the same rows, the mean of means is the mean over all files' rows together.
    public static func evaluate(promptFiles: [[Prediction]], catalogue: Set<String>) -> MetricRow {
        precondition(!promptFiles.isEmpty && promptFiles.allSatisfy { $0.count == promptFiles[0].count },
                     "MetricRow.evaluate: prompt files of unequal row counts \(promptFiles.map(\.count))")
        guard promptFiles.count > 1 else { return evaluate(promptFiles[0], catalogue: catalogue) }
        var row = evaluate(Array(promptFiles.joined()), catalogue: catalogue)
        row.rows = promptFiles[0].count
        return row
    }
}

/// Predictions on disk: one JSON object per line (`{"ranked":[…],"target":"…","user":"…"}`),
/// written atomically so an interrupted evaluation never leaves a truncated file.
public enum PredictionsFile {
    public static func write(_ predictions: [Prediction], to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for p in predictions {
            data.append(try encoder.encode(p))
            data.append(0x0A)
        }
        try AtomicFile.write(data, to: url)
    }

    /// `<file>.seconds` beside a predictions file (or its journal): the evaluation's wall seconds,
    /// so a table built later from cached predictions still reports them.
    public static func secondsURL(of url: URL) -> URL { url.appendingPathExtension("seconds") }

    public static func writeSeconds(_ seconds: Double, of url: URL) throws {
        try AtomicFile.write("\(seconds)\n", to: secondsURL(of: url))   // round-trips exactly
    }

    /// The seconds beside `url`; nil when there are none.
    public static func readSeconds(of url: URL) -> Double? {
        (try? String(contentsOf: secondsURL(of: url), encoding: .utf8)).flatMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Reads the predictions files of one run's test prompts (`RunResult.allPredictionsPaths`):
    /// `[prompts][rows]`; every file after the first must list its rows (users and targets, in
    /// order, as many), else the error names the file and row.
    public static func read(prompts paths: [String]) throws -> [[Prediction]] {
        let files = try paths.map { try read(from: URL(fileURLWithPath: $0)) }
        for (path, file) in zip(paths, files).dropFirst() {
            guard file.count == files[0].count else {
                throw TSRecError(.format(path: path, line: 0, field: "rows", reason: "\(file.count) rows where \(paths[0]) has \(files[0].count)"),
                                 hint: "every test prompt's file holds the same test rows: delete the short file to evaluate it again")
            }
            try Prediction.checkSameRows(file, as: files[0], referenceName: URL(fileURLWithPath: paths[0]).lastPathComponent, source: path,
                                         hint: "every test prompt's file lists the same test rows in split order")
        }
        return files
    }

    /// Reads a predictions file; blank lines are skipped, a malformed line throws with its 1-based number.
    public static func read(from url: URL) throws -> [Prediction] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TSRecError(.io(path: url.path, reason: "cannot read predictions: \(error.localizedDescription)"),
                             hint: "run the evaluation stage to produce it")
        }
        let decoder = JSONDecoder()
        var out: [Prediction] = []
        for (i, line) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            do {
                out.append(try decoder.decode(Prediction.self, from: Data(line)))
            } catch {
                throw TSRecError(.format(path: url.path, line: i + 1, field: decodingField(error),
                                         reason: "not a prediction: \(decodingReason(error))"),
                                 hint: "each line must be {\"user\": …, \"target\": …, \"ranked\": [...]}; delete the file to re-run evaluation")
            }
        }
        return out
    }
}

/// The JSON key a decoding error points at, if any.
func decodingField(_ error: Error) -> String {
    guard let e = error as? DecodingError else { return "" }
    switch e {
    case let .keyNotFound(key, _): return key.stringValue
    case let .typeMismatch(_, c), let .valueNotFound(_, c), let .dataCorrupted(c):
        return c.codingPath.map(\.stringValue).joined(separator: ".")
    @unknown default: return ""
    }
}

/// A one-line reason for a decoding error.
func decodingReason(_ error: Error) -> String {
    guard let e = error as? DecodingError else { return "\(error)" }
    switch e {
    case let .keyNotFound(key, _): return "missing key '\(key.stringValue)'"
    case let .typeMismatch(t, c): return "expected \(t): \(c.debugDescription)"
    case let .valueNotFound(t, c): return "missing \(t): \(c.debugDescription)"
    case let .dataCorrupted(c): return c.debugDescription
    @unknown default: return "\(error)"
    }
}

extension MetricRow: CSVRow {
    /// `rows, HR@1 … HR@20, NDCG@1 … NDCG@20, invalid, invalid_rate`; prepend label columns to compose.
    public static var csvHeader: [String] { ["rows"] + metricNames + ["invalid", "invalid_rate"] }
    public var csvFields: [String] {
        ["\(rows)"] + Self.metricNames.map { CSV.cell(value(named: $0)) } + ["\(invalid)", CSV.cell(invalidRate)]
    }
}

/// Append-only record of the predictions made so far (`<predictions>.partial`), so an evaluation
/// killed at any moment resumes at the rows it had not finished. One JSON line per row,
/// `{"row": i, "prediction": {...}}`; a torn last line (killed mid-write) is ignored.
public struct PredictionJournal {
    public let url: URL

    public init(url: URL) { self.url = url }

    struct Entry: Codable { var row: Int; var prediction: Prediction }

    /// The rows recorded so far (row index → prediction); empty when there is no journal.
    public func load() -> [Int: Prediction] {
        guard let data = try? Data(contentsOf: url) else { return [:] }
        let decoder = JSONDecoder()
        var out: [Int: Prediction] = [:]
        for line in data.split(separator: 0x0A) {
            guard let e = try? decoder.decode(Entry.self, from: Data(line)) else { continue }
            out[e.row] = e.prediction
        }
        return out
    }

    /// Appends rows and flushes them to disk before returning.
    public func append(_ entries: [(row: Int, prediction: Prediction)]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for e in entries {
            data.append(try encoder.encode(Entry(row: e.row, prediction: e.prediction)))
            data.append(0x0A)
        }
        if !FileManager.default.fileExists(atPath: url.path) {
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw TSRecError(.io(path: url.path, reason: "cannot create the predictions journal"))
            }
        }
        do {
            let handle = try FileHandle(forUpdating: url)
            defer { try? handle.close() }
            let end = try handle.seekToEnd()
            if end > 0 {  // after a torn last line, start on a fresh one
                try handle.seek(toOffset: end - 1)
                if try handle.read(upToCount: 1) != Data([0x0A]) { data.insert(0x0A, at: 0) }
                try handle.seekToEnd()
            }
            try handle.write(contentsOf: data)
            try handle.synchronize()
        } catch {
            throw TSRecError(.io(path: url.path, reason: "cannot append predictions: \(error.localizedDescription)"))
        }
    }

    /// Beside the journal: the evaluation seconds its rows took, summed over every call that
    /// appended to it, so an evaluation resumed across sessions reports its whole time.
    public var secondsURL: URL { PredictionsFile.secondsURL(of: url) }

    /// The seconds recorded with the rows so far; 0 without a journal (or one written before
    /// the seconds were kept).
    public func spentSeconds() -> Double {
        guard FileManager.default.fileExists(atPath: url.path) else { return 0 }
        return PredictionsFile.readSeconds(of: url) ?? 0
    }

    /// Records the seconds the journal's rows have taken so far (after an `append`).
    public func recordSeconds(_ seconds: Double) throws { try PredictionsFile.writeSeconds(seconds, of: url) }

    public func remove() {
        try? FileManager.default.removeItem(at: url)
        try? FileManager.default.removeItem(at: secondsURL)
    }
}
