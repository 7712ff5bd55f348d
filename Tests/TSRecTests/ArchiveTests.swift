import CArchive
import Foundation
import Testing
@testable import TSRec

/// Archives are built by the test itself with libarchive's writer, so hostile entries
/// (absolute paths, `..`, escaping links) can be produced exactly.
@Suite struct ArchiveTests {
    enum Format { case tarGz, zip, rawGz }
    enum Item {
        case file(String, String)
        case dir(String)
        case symlink(String, String)
        case hardlink(String, String)
        case fifo(String)
    }

    static func write(_ items: [Item], format: Format, to url: URL) throws {
        let a = archive_write_new()!
        defer { archive_write_free(a) }
        switch format {
        case .tarGz: archive_write_add_filter_gzip(a); archive_write_set_format_pax_restricted(a)
        case .zip: archive_write_set_format_zip(a)
        case .rawGz: archive_write_add_filter_gzip(a); archive_write_set_format_raw(a)
        }
        guard archive_write_open_filename(a, url.path) == ARCHIVE_OK else {
            throw TSRecError(.io(path: url.path, reason: String(cString: archive_error_string(a))))
        }
        for item in items {
            let e = archive_entry_new()!
            defer { archive_entry_free(e) }
            var body = Data()
            switch item {
            case let .file(path, text):
                body = Data(text.utf8)
                archive_entry_set_pathname(e, path); archive_entry_set_filetype(e, 0o100000)
                archive_entry_set_perm(e, 0o644); archive_entry_set_size(e, la_int64_t(body.count))
            case let .dir(path):
                archive_entry_set_pathname(e, path); archive_entry_set_filetype(e, 0o040000); archive_entry_set_perm(e, 0o755)
            case let .symlink(path, target):
                archive_entry_set_pathname(e, path); archive_entry_set_filetype(e, 0o120000)
                archive_entry_set_symlink(e, target); archive_entry_set_perm(e, 0o777)
            case let .hardlink(path, target):
                archive_entry_set_pathname(e, path); archive_entry_set_filetype(e, 0o100000)
                archive_entry_set_hardlink(e, target); archive_entry_set_size(e, 0); archive_entry_set_perm(e, 0o644)
            case let .fifo(path):
                archive_entry_set_pathname(e, path); archive_entry_set_filetype(e, 0o010000); archive_entry_set_perm(e, 0o644)
            }
            guard archive_write_header(a, e) == ARCHIVE_OK else {
                throw TSRecError(.io(path: url.path, reason: String(cString: archive_error_string(a))))
            }
            if !body.isEmpty { _ = body.withUnsafeBytes { archive_write_data(a, $0.baseAddress, $0.count) } }
        }
        archive_write_close(a)
    }

    func read(_ url: URL) throws -> String { try String(contentsOf: url, encoding: .utf8) }

    @Test func extractsTarGzZipAndRawGz() throws {
        let dir = try DataTestSupport.makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let items: [Item] = [.dir("pkg/"), .file("pkg/a.txt", "alpha"), .file("./pkg/sub/b.txt", "beta ü"),
                             .symlink("pkg/link", "sub/b.txt"), .hardlink("pkg/hard", "pkg/a.txt")]
        for (format, name) in [(Format.tarGz, "x.tar.gz"), (.zip, "x.zip")] {
            let archive = dir.appendingPathComponent(name)
            try Self.write(format == .zip ? items.filter { if case .hardlink = $0 { false } else { true } } : items,
                           format: format, to: archive)
            let out = dir.appendingPathComponent("out-\(name)")
            let files = try Archive.extract(archive, to: out)
            #expect(try read(out.appendingPathComponent("pkg/a.txt")) == "alpha")
            #expect(try read(out.appendingPathComponent("pkg/sub/b.txt")) == "beta ü")
            #expect(try read(out.appendingPathComponent("pkg/link")) == "beta ü")
            #expect(files.map(\.lastPathComponent).starts(with: ["a.txt", "b.txt"]))
            if format == .tarGz { #expect(try read(out.appendingPathComponent("pkg/hard")) == "alpha") }
            // No staging folder is left behind.
            #expect(try FileManager.default.contentsOfDirectory(atPath: out.path) == ["pkg"])
            #expect(try Archive.readEntry(archive, path: "pkg/sub/b.txt") == Data("beta ü".utf8))
            #expect(throws: TSRecError.self) { try Archive.readEntry(archive, path: "pkg/none") }
        }
        let gz = dir.appendingPathComponent("notes.txt.gz")
        try Self.write([.file("data", "just one file\n")], format: .rawGz, to: gz)
        let files = try Archive.extract(gz, to: dir.appendingPathComponent("raw"))
        #expect(files.map(\.lastPathComponent) == ["notes.txt"])
        #expect(try read(files[0]) == "just one file\n")
    }

    @Test func onlyFilterAndExtractEntry() throws {
        let dir = try DataTestSupport.makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let archive = dir.appendingPathComponent("w.zip")
        try Self.write([.file("m/model.gguf", "GGUF…"), .file("m/README", "r")], format: .zip, to: archive)
        let files = try Archive.extract(archive, to: dir.appendingPathComponent("o"), only: { $0.hasSuffix(".gguf") })
        #expect(files.map(\.lastPathComponent) == ["model.gguf"])
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("o/m/README").path))
        let single = dir.appendingPathComponent("single/model.gguf")
        try Archive.extractEntry(archive, path: "m/model.gguf", to: single)
        #expect(try read(single) == "GGUF…")
    }

    /// Re-extracting replaces the previous tree as a whole (stale files vanish).
    @Test func replacesPreviousTree() throws {
        let dir = try DataTestSupport.makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let one = dir.appendingPathComponent("1.tar.gz"), two = dir.appendingPathComponent("2.tar.gz")
        try Self.write([.file("d/old.txt", "old")], format: .tarGz, to: one)
        try Self.write([.file("d/new.txt", "new")], format: .tarGz, to: two)
        let out = dir.appendingPathComponent("out")
        try Archive.extract(one, to: out)
        try Archive.extract(two, to: out)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("d").path) == ["new.txt"])
    }

    /// Every hostile entry is refused with an error naming the entry, and nothing lands
    /// outside (or inside) the destination.
    @Test(arguments: [
        ("absolute", [Item.file("/tmp/tsrec-evil.txt", "x")], "absolute path"),
        ("dotdot", [Item.file("ok/../../evil.txt", "x")], "contains '..'"),
        ("dotdot-first", [Item.file("../evil.txt", "x")], "contains '..'"),
        ("symlink-abs", [Item.symlink("ln", "/etc")], "absolute path '/etc'"),
        ("symlink-out", [Item.dir("a/"), Item.symlink("a/ln", "../../outside")], "outside the target folder"),
        ("through-link", [Item.symlink("up", "."), Item.dir("d/"), Item.symlink("d/s", ".."), Item.file("d/s/x.txt", "x")],
         "goes through the symbolic link"),
        ("hardlink-out", [Item.hardlink("h", "../../etc/passwd")], "contains '..'"),
        ("hardlink-unknown", [Item.hardlink("h", "nothere.txt")], "not an earlier file"),
        ("fifo", [Item.fifo("pipe")], "FIFO"),
    ] as [(String, [Item], String)])
    func refusesHostileEntries(name: String, items: [Item], message: String) throws {
        let dir = try DataTestSupport.makeTempDir("hostile\(name)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let archive = dir.appendingPathComponent("\(name).tar.gz")
        try Self.write([.file("good.txt", "fine")] + items, format: .tarGz, to: archive)
        let out = dir.appendingPathComponent("out")
        do {
            try Archive.extract(archive, to: out)
            Issue.record("\(name): extraction should have been refused")
        } catch let error as TSRecError {
            guard case .archive = error.kind else { Issue.record("wrong kind: \(error)"); return }
            #expect(error.description.contains(message), "\(error)")
            #expect(error.description.contains(archive.path))
        }
        // Refusal happens before anything is moved into place.
        #expect((try? FileManager.default.contentsOfDirectory(atPath: out.path)) ?? [] == [])
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("evil.txt").path))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/tsrec-evil.txt"))
    }

    @Test func corruptArchiveIsAnError() throws {
        let dir = try DataTestSupport.makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let archive = dir.appendingPathComponent("t.tar.gz")
        try Self.write((0..<50).map { .file("f\($0).txt", String(repeating: "payload \($0) ", count: 2000)) }, format: .tarGz, to: archive)
        let bytes = try Data(contentsOf: archive)
        try bytes.prefix(bytes.count / 2).write(to: archive)
        #expect(throws: TSRecError.self) { try Archive.extract(archive, to: dir.appendingPathComponent("out")) }
        #expect((try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("out").path)) ?? [] == [])
    }

    /// The mirror's Office archive unpacks to exactly the files CONTENTS.sha256 lists, with those digests.
    @Test func mirrorArchiveContents() throws {
        guard let mirror = DataTestSupport.mirror else { print(DataTestSupport.mirrorMissingMessage); return }
        let dir = try DataTestSupport.makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = try Archive.extract(mirror.appendingPathComponent("Office_Products.tar.gz"), to: dir)
        let listed = try String(contentsOf: mirror.appendingPathComponent("CONTENTS.sha256"), encoding: .utf8)
            .split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
            .filter { $0.count == 2 && $0[1].hasPrefix("Office_Products/") }
        #expect(files.count == listed.count)
        for entry in listed {
            #expect(try SHA256.hash(fileAt: dir.appendingPathComponent(String(entry[1]))) == String(entry[0]), "\(entry[1])")
        }
    }
}
