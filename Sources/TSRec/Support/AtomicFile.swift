#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Writes that never leave a half-written file behind: write to a sibling temporary file
/// (`.<name>.tmp-<pid>`), flush it to disk, then `rename(2)` over the destination (atomic on one
/// filesystem). On any failure (full disk, unwritable folder, file-size limit) the temporary is
/// removed and the error names the destination and the system's reason; the destination keeps
/// its previous contents. Temporaries of a process killed mid-write are removed by
/// `removeStaleTemporaries(in:)`.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { put in _ = data.withUnsafeBytes { bytes in put(bytes) } }
    }

    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }

    /// The sibling temporary of `url` for this process.
    public static func temporaryURL(for url: URL) -> URL {
        url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
    }

    /// Streams the file's bytes through `body` (which calls `put` once per chunk and returns
    /// false from `put` after a failed write), then flushes and renames it into place.
    public static func write(to url: URL, _ body: (_ put: (UnsafeRawBufferPointer) -> Bool) throws -> Void) throws {
        let dir = url.deletingLastPathComponent()
        try createDirectory(dir)
        let tmp = temporaryURL(for: url)
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw TSRecError(.io(path: url.path, reason: "cannot create \(tmp.lastPathComponent): \(reason)"),
                             hint: "check that \(dir.path) is writable and the disk is not full")
        }
        var failure: Int32 = 0
        let put: (UnsafeRawBufferPointer) -> Bool = { bytes in
            guard failure == 0 else { return false }
            var offset = 0
            while offset < bytes.count {
                let n = posixWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return false
                }
                offset += n
            }
            return true
        }
        do {
            try body(put)
        } catch {
            close(fd)
            unlink(tmp.path)
            throw error
        }
        if failure == 0, fsync(fd) != 0 { failure = errno }
        if close(fd) != 0, failure == 0 { failure = errno }
        if failure == 0, rename(tmp.path, url.path) != 0 { failure = errno }
        guard failure == 0 else {
            unlink(tmp.path)
            throw TSRecError(.io(path: url.path, reason: "cannot write: \(String(cString: strerror(failure)))"),
                             hint: failure == ENOSPC || failure == EFBIG || failure == EDQUOT
                                ? "free disk space (or raise the file-size limit) and run again; the previous file, if any, is untouched"
                                : "check that \(dir.path) is writable; the previous file, if any, is untouched")
        }
    }

    /// Deletes `.<name>.tmp-<pid>` files in `dir` whose process is gone (killed mid-write);
    /// those of live processes, this one included, are left alone.
    public static func removeStaleTemporaries(in dir: URL) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return }
        for name in names where name.hasPrefix(".") {
            guard let r = name.range(of: ".tmp-", options: .backwards),
                  let pid = Int32(name[r.upperBound...]), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                unlink(dir.appendingPathComponent(name).path)
            }
        }
    }

    /// `mkdir -p`, with the system's reason in the error ("Read-only file system", "Not a
    /// directory"), which Foundation's `createDirectory` replaces by a generic sentence.
    public static func createDirectory(_ dir: URL) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue { return }
        let parent = dir.deletingLastPathComponent()
        if parent.path != dir.path { try createDirectory(parent) }
        if mkdir(dir.path, 0o755) != 0 && errno != EEXIST {
            throw TSRecError(.io(path: dir.path, reason: "cannot create directory: \(String(cString: strerror(errno)))"),
                             hint: "check that the folder's parent is a writable folder")
        }
    }

    /// The POSIX reason inside a Foundation error when there is one ("Read-only file system").
    static func systemReason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        return ns.localizedDescription
    }
}

#if canImport(Glibc)
private let posixWrite = Glibc.write
#elseif canImport(Darwin)
private let posixWrite = Darwin.write
#endif
