import Foundation

/// A part of a benchmark that is not on disk, why, and what still works without it.
public struct MissingPart: Sendable, Hashable, CustomStringConvertible {
    public let part: DatasetPart
    /// Where the file was expected.
    public let path: String
    public let reason: String
    public let consequence: String

    public var description: String { "\(part) (\(path)): \(reason). Effect: \(consequence)" }
}

/// Everything tsrec reads about one benchmark, typed and validated.
///
/// Index and item file are required (loading throws without them). Info, splits and keywords
/// may be missing: they are listed in `missing` with the reason and the consequence, and code
/// that needs one calls `require(_:)` / `split(_:)`, which throw a `.missing` error naming the
/// file and saying what to do. Office_Products from the offline mirror has no train split and
/// no keyword file; everything else still loads.
///
/// ```swift
/// let ds = try Dataset.load(.industrial, paths: .fromEnvironment())
/// ds.index.sid(of: 0)                 // "<a_236><b_231><c_226>"
/// try ds.split(.train).rows.count     // 36259
/// ```
public struct Dataset: Sendable {
    public let benchmark: Benchmark
    public let directory: URL
    public let index: ItemIndex
    /// `items[id]`.
    public let items: [ItemInfo]
    public let info: [InfoLine]?
    public let splits: [DatasetPart: Split]
    public let keywords: Keywords?
    public let missing: [MissingPart]

    /// The split, or a `.missing` error that says why it is absent and what still works.
    public func split(_ part: DatasetPart) throws -> Split {
        precondition(DatasetPart.splits.contains(part), "split(_:) takes .train, .valid or .test")
        try require(part)
        return splits[part]!
    }

    /// Throws a clear `.missing` error when `part` is not available.
    public func require(_ part: DatasetPart) throws {
        guard let m = missing.first(where: { $0.part == part }) else { return }
        throw TSRecError(.missing(what: "\(benchmark.name) \(part)", path: m.path),
                         hint: "\(m.reason). Without it: \(m.consequence)")
    }

    public func has(_ part: DatasetPart) -> Bool { !missing.contains { $0.part == part } }

    /// Default location: `Paths.datasets/<Name>/`.
    public static func directory(for benchmark: Benchmark, paths: Paths) -> URL {
        paths.datasets.appendingPathComponent(benchmark.name)
    }

    /// Loads from the cache folder `tsrec data fetch` fills.
    public static func load(_ benchmark: Benchmark, paths: Paths) throws -> Dataset {
        let dir = directory(for: benchmark, paths: paths)
        guard FileManager.default.fileExists(atPath: dir.path) else {
            throw TSRecError(.missing(what: "dataset \(benchmark.name)", path: dir.path),
                             hint: "run `tsrec data fetch \(benchmark.name)` (with TSREC_MIRROR or --mirror pointing at the archives when offline)")
        }
        return try load(benchmark, from: dir)
    }

    /// Loads a benchmark folder (`index/`, `info/`, `train/`, `valid/`, `test/`, `semantics/`).
    /// The three splits are parsed concurrently.
    public static func load(_ benchmark: Benchmark, from dir: URL) throws -> Dataset {
        let fm = FileManager.default
        func url(_ part: DatasetPart) -> URL { dir.appendingPathComponent(Benchmark.relativePath(part, name: benchmark.name)) }
        var missing: [MissingPart] = []
        for part in DatasetPart.allCases where !fm.fileExists(atPath: url(part).path) {
            let (reason, consequence) = benchmark.absenceExplanation(part)
            missing.append(MissingPart(part: part, path: url(part).path, reason: reason, consequence: consequence))
        }
        for required in [DatasetPart.index, .items] {
            if let m = missing.first(where: { $0.part == required }) {
                throw TSRecError(.missing(what: "\(benchmark.name) \(required) file", path: m.path),
                                 hint: "\(m.reason). Nothing can run without it")
            }
        }
        let index = try ItemIndex.load(from: url(.index))
        let items = try ItemInfo.load(from: url(.items), expectedCount: index.count)
        let info = missing.contains { $0.part == .info } ? nil : try InfoLine.load(from: url(.info), index: index, items: items)
        let keywords = missing.contains { $0.part == .keywords } ? nil : try Keywords.load(from: url(.keywords), index: index)

        let present = DatasetPart.splits.filter { part in !missing.contains { $0.part == part } }
        let splitURLs = present.map(url)
        let results = ConcurrentResults<Split>(count: present.count)
        DispatchQueue.concurrentPerform(iterations: present.count) { k in
            results.set(k, Result { try Split.load(present[k], from: splitURLs[k], index: index) })
        }
        var splits: [DatasetPart: Split] = [:]
        for (k, part) in present.enumerated() { splits[part] = try results.get(k) }
        return Dataset(benchmark: benchmark, directory: dir, index: index, items: items, info: info,
                       splits: splits, keywords: keywords, missing: missing)
    }

    /// A few lines for logs: what loaded, what is missing and what that means.
    public var summary: String {
        var loaded = ["index (\(index.count) items, \(index.distinctSIDCount) distinct SIDs)", "items"]
        if info != nil { loaded.append("info") }
        for part in DatasetPart.splits { if let s = splits[part] { loaded.append("\(part) (\(s.count) rows)") } }
        if let keywords { loaded.append("keywords (\(keywords.count) tokens)") }
        var text = "\(benchmark.name): loaded " + loaded.joined(separator: ", ")
        let malformed = items.filter { !$0.descriptionIsLiteral }.count
        if malformed > 0 {
            text += "\n  note: \(malformed) item description(s) are not valid Python literals upstream; kept as one text each"
        }
        for m in missing { text += "\n  missing \(m.description)" }
        return text
    }
}

/// Result slots filled from `concurrentPerform` workers (each index written once).
final class ConcurrentResults<T>: @unchecked Sendable {
    private var slots: [Result<T, Error>?]
    private let lock = NSLock()

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ i: Int, _ r: Result<T, Error>) {
        lock.lock()
        slots[i] = r
        lock.unlock()
    }

    func get(_ i: Int) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        return try slots[i]!.get()
    }
}
