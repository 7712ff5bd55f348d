import Foundation

/// Where the per-SID-token keywords and descriptions come from (SA-Init reads the keywords,
/// TS-Align the descriptions).
public enum KeywordSource: String, Codable, Sendable, Hashable, CaseIterable {
    /// The dataset's own `semantics/*.description_keywords.json` (the authors' teacher LLM).
    /// Only Industrial ships one.
    case dataset
    /// tsrec's offline teacher (`KeywordTeacher`: c-TF-IDF candidates ranked by MiniLM),
    /// generated once per dataset and teacher options and cached under `results/teacher/`.
    case teacher
}

extension Dataset {
    /// The token semantics a configuration asks for: `source`, or when nil the dataset's own
    /// file if it ships one, else the teacher (Office).
    public func tokenSemantics(source: KeywordSource?, paths: Paths,
                               log: (String) -> Void = { print($0) }) throws -> Keywords {
        switch source ?? (keywords != nil ? .dataset : .teacher) {
        case .dataset:
            return try requireKeywords()
        case .teacher:
            if source == nil { log("  \(benchmark.name) ships no keyword file: using tsrec's keyword teacher") }
            return KeywordTeacher.keywords(try TeacherKeywords.entries(for: self, paths: paths, log: log))
        }
    }
}

/// The teacher's output for a dataset, generated once and then read back.
public enum TeacherKeywords {
    /// `results/teacher/<dataset>-<hash of the options>.keywords.json`.
    public static func url(for dataset: Dataset, options: KeywordTeacher.Options, paths: Paths) -> URL {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let key = (try? encoder.encode(options)) ?? Data()
        return paths.results.appendingPathComponent("teacher")
            .appendingPathComponent("\(dataset.benchmark.name)-\(SHA256.hash(key).prefix(12)).keywords.json")
    }

    /// Keywords and a description for every SID token of `dataset` (fetches MiniLM if needed).
    public static func entries(for dataset: Dataset, options: KeywordTeacher.Options = .init(), paths: Paths,
                               log: (String) -> Void = { print($0) }) throws -> [KeywordTeacher.Entry] {
        let file = url(for: dataset, options: options, paths: paths)
        if FileManager.default.fileExists(atPath: file.path) {
            let cached = try Keywords.load(from: file, index: dataset.index)
            log("  keyword teacher: read \(cached.count) tokens from \(file.path)")
            return cached.entries.map { KeywordTeacher.Entry(token: $0.token, keywords: $0.keywords, description: $0.description) }
        }
        _ = try ModelStore(paths: paths).ensure(.miniLM, log: log)
        let encoder = try MiniLM(files: MiniLM.Files(store: paths.models))
        let started = Date()
        let entries = KeywordTeacher(options: options).generate(for: dataset, encoder: encoder)
        try KeywordTeacher.write(entries, to: file)
        log(String(format: "  keyword teacher: %d tokens in %.0f s, written to %@", entries.count,
                   Date().timeIntervalSince(started), file.path))
        return entries
    }
}
