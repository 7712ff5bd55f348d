import Foundation

/// Writes that never leave a half-written file behind: write to a sibling temporary file,
/// flush it, then `rename(2)` over the destination (atomic on one filesystem).
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw TSRecError(.io(path: dir.path, reason: "cannot create directory: \(error.localizedDescription)"))
        }
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: tmp.path, contents: data) else {
            throw TSRecError(.io(path: tmp.path, reason: "cannot create temporary file"),
                             hint: "check that \(dir.path) is writable and the disk is not full")
        }
        if let handle = FileHandle(forUpdatingAtPath: tmp.path) {
            try? handle.synchronize()
            try? handle.close()
        }
        guard rename(tmp.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(tmp.path)
            throw TSRecError(.io(path: url.path, reason: "rename failed: \(reason)"))
        }
    }

    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }
}
