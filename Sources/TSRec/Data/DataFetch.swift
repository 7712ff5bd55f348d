import Foundation

/// Where benchmark files come from.
public enum DataSource: Sendable, Hashable, CustomStringConvertible {
    /// A local folder holding `<Name>.tar.gz` (the offline mirror): archives are copied.
    case mirrorDirectory(URL)
    /// An HTTP(S) folder holding `<Name>.tar.gz`: archives are downloaded.
    case mirrorURL(URL)
    /// The per-file upstream URLs of the registry. `base`, when set, replaces their
    /// `https://raw.githubusercontent.com` prefix (a proxy, or the loopback server in tests).
    case upstream(base: URL?)

    public var description: String {
        switch self {
        case let .mirrorDirectory(u): "mirror folder \(u.path)"
        case let .mirrorURL(u): "mirror \(u.absoluteString)"
        case let .upstream(base): base.map { "upstream via \($0.absoluteString)" } ?? "upstream (raw.githubusercontent.com)"
        }
    }

    static let upstreamHost = "https://raw.githubusercontent.com"

    /// `--mirror` if given, else `$TSREC_MIRROR`, else upstream. A value with `://` (other than
    /// `file://`) is a URL; anything else must be an existing folder.
    public static func resolve(mirror option: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                               upstreamBase: String? = nil) throws -> DataSource {
        let value = option ?? environment["TSREC_MIRROR"].flatMap { $0.isEmpty ? nil : $0 }
        guard let value else { return .upstream(base: upstreamBase.flatMap { URL(string: $0) }) }
        if value.contains("://") && !value.hasPrefix("file://") {
            guard let url = URL(string: value), url.scheme == "http" || url.scheme == "https" else {
                throw TSRecError(.config(field: "mirror", reason: "'\(value)' is neither a folder nor an http(s) URL"))
            }
            return .mirrorURL(url)
        }
        let path = value.hasPrefix("file://") ? URL(string: value)!.path : value
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            throw TSRecError(.config(field: "mirror", reason: "folder '\(path)' does not exist"),
                             hint: "point --mirror / TSREC_MIRROR at the folder holding the <Name>.tar.gz archives (e.g. ../shared/data/amazon18)")
        }
        return .mirrorDirectory(URL(fileURLWithPath: path).standardizedFileURL)
    }
}

/// Fills `Paths.datasets/<Name>/` with a verified copy of a benchmark.
///
/// - Mirror: the archive is copied or downloaded to `datasets/archives/` (sha256-checked, see
///   `Downloader`), unpacked into a private staging folder (`Archive`), every file is checked
///   against the registry's sha256, a marker `.tsrec-complete` listing the files and their
///   checksums is written, and only then is the folder renamed to `datasets/<Name>`.
/// - Upstream: each file is downloaded into `datasets/.download-<Name>/` (resumable across
///   runs, each verified by sha256 or git blob id), then marked and renamed the same way.
///
/// A folder with a marker whose files all still verify is left alone ("already present"), so
/// `make data` is cheap to repeat; anything else is fetched again.
public struct DataFetcher: Sendable {
    public var paths: Paths
    public var downloader: Downloader

    public static let offlineHint = "offline? set TSREC_MIRROR (or --mirror) to the folder holding the benchmark archives, e.g. ../shared/data/amazon18"

    public init(paths: Paths, downloader: Downloader = Downloader()) {
        self.paths = paths
        var d = downloader
        if d.hint == nil { d.hint = Self.offlineHint }
        self.downloader = d
    }

    public struct Report: Sendable {
        public let benchmark: Benchmark
        public let source: String
        public let directory: URL
        public let alreadyPresent: Bool
        /// Relative paths installed.
        public let files: [String]
        public let missing: [MissingPart]

        public var summary: String {
            var text = "\(benchmark.name): \(alreadyPresent ? "already present and verified" : "fetched from \(source)") -> \(directory.path)"
            text += "\n  \(files.count) file(s) verified"
            for m in missing { text += "\n  missing \(m.description)" }
            return text
        }
    }

    static let markerName = ".tsrec-complete"

    public func directory(for benchmark: Benchmark) -> URL { Dataset.directory(for: benchmark, paths: paths) }

    /// The files this source can provide for the benchmark.
    func expectedFiles(_ b: Benchmark, _ source: DataSource) -> [BenchmarkFile] {
        switch source {
        case .mirrorDirectory, .mirrorURL: b.files.filter(\.inMirror)
        case .upstream: b.files.filter { $0.upstreamURL != nil && $0.checksum != nil }
        }
    }

    public func fetch(_ b: Benchmark, from source: DataSource) async throws -> Report {
        let expected = expectedFiles(b, source)
        if let installed = try installedFiles(b), Set(expected.map(\.relativePath)).isSubset(of: installed) {
            return report(b, source, alreadyPresent: true, files: installed.sorted())
        }
        try FileManager.default.createDirectory(at: paths.datasets, withIntermediateDirectories: true)
        switch source {
        case let .mirrorDirectory(folder):
            try await installFromArchive(b, source: folder.appendingPathComponent(b.mirror.fileName), expected: expected, sourceName: source.description)
        case let .mirrorURL(base):
            try await installFromArchive(b, source: base.appendingPathComponent(b.mirror.fileName), expected: expected, sourceName: source.description)
        case let .upstream(base):
            try await installFromUpstream(b, base: base, expected: expected, sourceName: source.description)
        }
        return report(b, source, alreadyPresent: false, files: expected.map(\.relativePath).sorted())
    }

    private func report(_ b: Benchmark, _ source: DataSource, alreadyPresent: Bool, files: [String]) -> Report {
        let dir = directory(for: b)
        let missing = b.files.filter { !files.contains($0.relativePath) }.map { f in
            let (reason, consequence) = b.absenceExplanation(f.part)
            return MissingPart(part: f.part, path: dir.appendingPathComponent(f.relativePath).path, reason: reason, consequence: consequence)
        }
        return Report(benchmark: b, source: source.description, directory: dir, alreadyPresent: alreadyPresent, files: files, missing: missing)
    }

    /// Relative paths recorded by the marker, if the marker exists and every listed file still
    /// matches its checksum; nil otherwise (never fetched, interrupted, or modified).
    public func installedFiles(_ b: Benchmark) throws -> Set<String>? {
        let dir = directory(for: b)
        let marker = dir.appendingPathComponent(Self.markerName)
        guard let text = try? String(contentsOf: marker, encoding: .utf8) else { return nil }
        var files = Set<String>()
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            let (kind, rel) = (String(parts[0]), String(parts[1]))
            let checksum: Checksum
            if kind.hasPrefix("sha256:") {
                checksum = .sha256(String(kind.dropFirst(7)))
            } else if kind.hasPrefix("git-blob-sha1:") {
                checksum = .gitBlobSHA1(String(kind.dropFirst(14)))
            } else {
                return nil
            }
            let file = dir.appendingPathComponent(rel)
            guard FileManager.default.fileExists(atPath: file.path), try checksum.matches(fileAt: file) else { return nil }
            files.insert(rel)
        }
        return files
    }

    private func installFromArchive(_ b: Benchmark, source: URL, expected: [BenchmarkFile], sourceName: String) async throws {
        let archive = paths.datasets.appendingPathComponent("archives").appendingPathComponent(b.mirror.fileName)
        try await downloader.fetch(source, to: archive, checksum: .sha256(b.mirror.sha256), size: b.mirror.size)
        let staging = paths.datasets.appendingPathComponent(".unpack-\(b.name)-\(getpid())-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: staging) }
        let wanted = Set(expected.map { "\(b.name)/\($0.relativePath)" })
        try Archive.extract(archive, to: staging, only: { wanted.contains($0) })
        let root = staging.appendingPathComponent(b.name)
        for f in expected {
            let file = root.appendingPathComponent(f.relativePath)
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw TSRecError(.archive(path: archive.path, reason: "lacks \(b.name)/\(f.relativePath)"),
                                 hint: "the archive is not the one the registry describes; delete it and fetch again")
            }
            if let checksum = f.checksum, !(try checksum.matches(fileAt: file)) {
                throw TSRecError(.checksum(path: "\(archive.path): \(b.name)/\(f.relativePath)", expected: checksum.description,
                                           actual: try checksum.actual(fileAt: file)),
                                 hint: "the archive holds a different version of this file; delete \(archive.path) and fetch again")
            }
        }
        try writeMarker(in: root, files: expected, source: sourceName)
        try moveIntoPlace(root, directory(for: b))
    }

    private func installFromUpstream(_ b: Benchmark, base: URL?, expected: [BenchmarkFile], sourceName: String) async throws {
        let staging = paths.datasets.appendingPathComponent(".download-\(b.name)")
        for f in expected {
            var url = f.upstreamURL!
            if let base, url.absoluteString.hasPrefix(DataSource.upstreamHost) {
                let rest = url.absoluteString.dropFirst(DataSource.upstreamHost.count)
                url = URL(string: base.absoluteString.trimmingSuffix("/") + rest)!
            }
            try await downloader.fetch(url, to: staging.appendingPathComponent(f.relativePath), checksum: f.checksum!,
                                       size: f.size, label: "\(b.name)/\(f.relativePath)")
        }
        try writeMarker(in: staging, files: expected, source: sourceName)
        try moveIntoPlace(staging, directory(for: b))
    }

    private func writeMarker(in dir: URL, files: [BenchmarkFile], source: String) throws {
        var text = "# tsrec dataset folder, complete and verified; fetched from \(source)\n"
        for f in files { text += "\(f.checksum!.description) \(f.relativePath)\n" }
        try AtomicFile.write(text, to: dir.appendingPathComponent(Self.markerName))
    }

    /// Renames `src` onto `dest`, moving an existing `dest` aside first and deleting it after.
    private func moveIntoPlace(_ src: URL, _ dest: URL) throws {
        let fm = FileManager.default
        var old: URL?
        if fm.fileExists(atPath: dest.path) {
            let aside = dest.deletingLastPathComponent().appendingPathComponent(".old-\(dest.lastPathComponent)-\(getpid())-\(UUID().uuidString.prefix(8))")
            guard rename(dest.path, aside.path) == 0 else {
                throw TSRecError(.io(path: dest.path, reason: "cannot move the previous copy aside: \(String(cString: strerror(errno)))"))
            }
            old = aside
        }
        guard rename(src.path, dest.path) == 0 else {
            throw TSRecError(.io(path: dest.path, reason: "cannot move the verified folder into place: \(String(cString: strerror(errno)))"))
        }
        if let old { try? fm.removeItem(at: old) }
    }
}

fileprivate extension String {
    func trimmingSuffix(_ s: String) -> String { hasSuffix(s) ? String(dropLast(s.count)) : self }
}
