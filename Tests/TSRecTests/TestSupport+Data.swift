import Foundation
@testable import TSRec

/// Shared helpers for the data-layer tests (mirror location, unique temp folders).
enum DataTestSupport {
    /// The package root (…/Tests/TSRecTests/ThisFile.swift → three levels up).
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The offline mirror of the benchmark archives: `$TSREC_MIRROR`, else `../shared/data/amazon18`
    /// beside the package root. `nil` (tests skip with a message) when neither holds the archives.
    static var mirror: URL? {
        var candidates: [URL] = []
        if let m = ProcessInfo.processInfo.environment["TSREC_MIRROR"], !m.isEmpty, !m.contains("://") {
            candidates.append(URL(fileURLWithPath: m))
        }
        candidates.append(packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/amazon18"))
        return candidates.first {
            FileManager.default.fileExists(atPath: $0.appendingPathComponent("SHA256SUMS").path)
        }
    }

    static let mirrorMissingMessage =
        "benchmark mirror not found (set TSREC_MIRROR or place shared/data/amazon18 beside the package); test skipped"

    /// A fresh, unique temporary folder; the caller removes it.
    static func makeTempDir(_ tag: String = #function) throws -> URL {
        let clean = tag.filter { $0.isLetter || $0.isNumber }
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("tsrec-test-\(clean)-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

extension DataTestSupport {
    /// Both mirror archives unpacked once per test process into a private temp folder
    /// (removed at exit); nil without the mirror.
    static let unpackedMirror: URL? = {
        guard let mirror else { return nil }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-test-mirror-\(getpid())-\(UUID().uuidString.prefix(8))")
        do {
            for b in Benchmark.all { try Archive.extract(mirror.appendingPathComponent(b.mirror.fileName), to: dir) }
        } catch {
            print("cannot unpack the mirror: \(error)")
            return nil
        }
        UnpackedMirrorCleanup.path = dir.path
        atexit { if let p = UnpackedMirrorCleanup.path { try? FileManager.default.removeItem(atPath: p) } }
        return dir
    }()

    /// Each benchmark loaded once per test process (loading is what several suites check).
    static let loaded: [String: Result<Dataset, Error>] = {
        guard let root = unpackedMirror else { return [:] }
        var out: [String: Result<Dataset, Error>] = [:]
        for b in Benchmark.all {
            out[b.name] = Result { try Dataset.load(b, from: root.appendingPathComponent(b.name)) }
        }
        return out
    }()
}

enum UnpackedMirrorCleanup {
    nonisolated(unsafe) static var path: String?
}
