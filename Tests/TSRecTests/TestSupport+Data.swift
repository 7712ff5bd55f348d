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
