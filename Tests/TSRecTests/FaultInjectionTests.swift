import Foundation
import Testing
@testable import TSRec

/// Issue #20 part 4: malformed inputs and failed writes give a clear error (file and line or
/// field), no crash, no partial file under a final name, and an exit status of their own
/// (docs/fault-injection.md). The GGUF, split-CSV and download cases live in GGUFTests,
/// DatasetParsingTests and DownloadTests; here is what those do not cover.
@Suite struct FaultInjectionTests {
    // MARK: - Exit statuses

    @Test func everyErrorKindHasItsExitStatus() {
        let cases: [(TSRecError.Kind, Int32)] = [
            (.usage(argument: "--x", reason: "unknown argument"), 64),
            (.format(path: "f.csv", line: 3, field: "item_sid", reason: "r"), 65),
            (.gguf(path: "m.gguf", reason: "truncated"), 65),
            (.archive(path: "a.tar.gz", reason: "r"), 65),
            (.checkpoint(path: "c.tsrc", reason: "r"), 65),
            (.checksum(path: "x", expected: "a", actual: "b"), 65),
            (.shape(name: "w", expected: [1], got: [2]), 65),
            (.missing(what: "split", path: "p"), 66),
            (.download(url: "u", status: 404, reason: "r"), 69),
            (.numeric("loss is nan"), 70),
            (.io(path: "p", reason: "No space left on device"), 74),
            (.config(field: "layers", reason: "r"), 78),
        ]
        for (kind, status) in cases {
            #expect(TSRecError(kind).exitCode == status, "\(kind)")
            #expect(Launch.exitStatus(for: TSRecError(kind)) == status)
        }
        #expect(Set(cases.map(\.1)).isDisjoint(with: [0, 1]))
        #expect(Launch.exitStatus(for: CocoaError(.fileWriteOutOfSpace)) == ExitStatus.ioError)
        #expect(Launch.exitStatus(for: DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "x"))) == ExitStatus.dataError)
        struct Other: Error {}
        #expect(Launch.exitStatus(for: Other()) == ExitStatus.software)
        #expect(Launch.message(for: TSRecError(.format(path: "f.csv", line: 3, field: "", reason: "bad"))) == "f.csv:3: bad")
    }

    // MARK: - Writes that fail leave nothing behind

    /// A write that fails half-way (the body throws, as a full disk would make it) leaves the
    /// previous file as it was and no temporary.
    @Test func failedAtomicWriteKeepsThePreviousFile() throws {
        let dir = try DataTestSupport.makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("table.csv")
        try AtomicFile.write("old\n", to: url)
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try AtomicFile.write(to: url) { put in
                _ = "new, half".utf8CString.withUnsafeBytes { put($0) }
                throw Boom()
            }
        }
        #expect(try String(contentsOf: url, encoding: .utf8) == "old\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["table.csv"])
    }

    /// An unwritable destination (its folder is a regular file: what an unwritable results
    /// folder looks like to a process running as root) is an I/O error naming the path.
    @Test func unwritableFolderIsAnIOErrorNamingThePath() throws {
        let dir = try DataTestSupport.makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("results")
        try Data("not a folder".utf8).write(to: file)
        for attempt in [
            { try AtomicFile.write("x", to: file.appendingPathComponent("runs/t.csv")) },
            { try Checkpoint.save(.init(configHash: "h", step: 0, epoch: 0, cursor: 0, epochRNG: SplitMix64(seed: 1), dropoutRNG: SplitMix64(seed: 2),
                                        bestValidLoss: nil, evalsWithoutImprovement: 0, stopped: false, optimizerStep: 0,
                                        tensorNames: [], tensorCounts: []),
                                  tensors: [("w", .array([1, 2, 3]))], to: file.appendingPathComponent("c.tsrc")) },
        ] as [() throws -> Void] {
            do {
                try attempt()
                Issue.record("write under a regular file succeeded")
            } catch let error as TSRecError {
                #expect(error.exitCode == ExitStatus.ioError, "\(error)")
                #expect(error.description.contains(file.path), "\(error)")
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["results"])
    }

    /// `.<name>.tmp-<pid>` of a process that is gone (killed mid-write) are removed; those of a
    /// live process (this one) are not.
    @Test func staleTemporariesOfDeadProcessesAreRemoved() throws {
        let dir = try DataTestSupport.makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let names = [".checkpoint.tsrc.tmp-99999999", ".best.tsrc.tmp-\(getpid())", "checkpoint.tsrc", ".notes.tmp-x"]
        for n in names { try Data("x".utf8).write(to: dir.appendingPathComponent(n)) }
        AtomicFile.removeStaleTemporaries(in: dir)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == Set(names.dropFirst()))
    }

    // MARK: - JSON inputs with wrong types name the file and field

    static let index = #"{"0": ["<a_1>", "<b_1>", "<c_1>"], "1": ["<a_2>", "<b_2>", "<c_2>"]}"#
    static let items = #"{"0": {"title": "t0"}, "1": {"title": "t1", "description": "d"}}"#

    @Test(arguments: [
        // (file, text, field, reason fragment)
        ("index", #"["<a_1>"]"#, "", "expected a JSON object"),
        ("index", #"{"0": "<a_1><b_1><c_1>"}"#, "0", "non-empty list of token strings"),
        ("index", #"{"0": [1, 2, 3]}"#, "0", "non-empty list of token strings"),
        ("index", #"{"0": ["<a_1>", "<b_1>"], "1": ["<a_1>", "<b_1>", "<c_1>"]}"#, "*", "tokens, other items have"),
        ("index", #"{"0": ["a_1"]}"#, "0", "is not a SID token"),
        ("index", #"{"x": ["<a_1>"]}"#, "x", "integers 0..<1"),
        ("index", #"{"01": ["<a_1>"], "1": ["<a_1>"]}"#, "01", "each written once"),
        ("index", #"{"0": ["<a_1>"]"#, "", "invalid JSON"),
        ("items", #"{"0": "t0", "1": {"title": "t1"}}"#, "0", "expected an object"),
        ("items", #"{"0": {"title": 7}, "1": {"title": "t1"}}"#, "0.title", "expected a string"),
        ("items", #"{"0": {"description": "d"}, "1": {"title": "t1"}}"#, "0.title", "missing"),
        ("items", #"{"0": {"title": "t0", "brand": ["b"]}, "1": {"title": "t1"}}"#, "0.brand", "expected a string"),
        ("items", #"{"00": {"title": "t0"}, "1": {"title": "t1"}}"#, "00", "not one of the integers"),
        ("items", #"{"0": {"title": "t0"}}"#, "", "has 1 items, the index has 2"),
        ("keywords", #"{"token": "<a_1>"}"#, "", "expected a JSON array"),
        ("keywords", #"[{"token": 1, "keywords": ["k"], "description": "d"}]"#, "[0].token", "missing or not a SID token"),
        ("keywords", #"[{"token": "<a_1>", "keywords": "k", "description": "d"}]"#, "[0].keywords", "non-empty list of strings"),
        ("keywords", #"[{"token": "<a_1>", "keywords": ["k"], "description": null}]"#, "[0].description", "not a string"),
        ("keywords", #"[7]"#, "[0]", "expected an object"),
        ("minilm-config", #"{"vocab_size": "30522"}"#, "vocab_size", "not a positive integer"),
        ("minilm-config", #"{"vocab_size": 30522.5}"#, "vocab_size", "not a positive integer"),
        ("minilm-config", #"{"vocab_size": 30522"#, "", "invalid JSON"),
    ])
    func jsonWithWrongTypes(file: String, text: String, field: String, reason: String) throws {
        let dir = try DataTestSupport.makeTempDir("json\(file)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("\(file).json")
        try Data(text.utf8).write(to: url)
        do {
            switch file {
            case "index": _ = try ItemIndex.load(from: url)
            case "items": _ = try ItemInfo.load(from: url, expectedCount: 2)
            case "keywords": _ = try Keywords.load(from: url, index: nil)
            default: _ = try MiniLMConfig(contentsOf: url)
            }
            Issue.record("\(file): accepted \(text)")
        } catch let error as TSRecError {
            guard case let .format(path, _, f, r) = error.kind else { Issue.record("\(error)"); return }
            #expect(path == url.path)
            #expect(f == field || field == "*", "\(error)")     // "*": either key (dictionary order)
            #expect(r.contains(reason), "\(error)")
            #expect(error.exitCode == ExitStatus.dataError)
        }
    }

    /// The reference files above load (so each case fails for its own reason).
    @Test func wellFormedJSONLoads() throws {
        let dir = try DataTestSupport.makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let i = dir.appendingPathComponent("i.json"), t = dir.appendingPathComponent("t.json")
        try Data(Self.index.utf8).write(to: i)
        try Data(Self.items.utf8).write(to: t)
        #expect(try ItemIndex.load(from: i).count == 2)
        #expect(try ItemInfo.load(from: t, expectedCount: 2).map(\.title) == ["t0", "t1"])
    }

    // MARK: - CSV: an oversized row

    /// A record of 8 MB (one huge title) parses; the same with its quote never closed is
    /// refused at the line it starts on, quickly, without a crash.
    @Test func oversizedRowParsesOrIsRefusedAtItsLine() throws {
        let big = String(repeating: "x", count: 8 << 20)
        let good = Split.csvHeader + "A,\"['t']\",\(big),[0],1,['<a_1><b_1><c_1>'],<a_2><b_2><c_2>\n"
        let rows = try Split.parse(CSVReader.records(Data(good.utf8), path: "mem"), path: "mem", index: nil)
        #expect(rows.first?.targetTitle.count == big.count)
        let torn = Split.csvHeader + "A,\"['t']\",t,[0],1,['<a_1><b_1><c_1>'],<a_2><b_2><c_2>\nB,\"['t']\",\"\(big)\n"
        #expect(throws: TSRecError.self) { _ = try CSVReader.records(Data(torn.utf8), path: "split.csv") }
        do { _ = try CSVReader.records(Data(torn.utf8), path: "split.csv") } catch let e as TSRecError {
            #expect(e.description.hasPrefix("split.csv:3: field 'column 3'"), "\(e)")
        }
    }

    // MARK: - Archives: corrupt (not only truncated) tar.gz, truncated and corrupt wheels

    /// Bytes flipped in the compressed stream (same length), or the file cut short: every
    /// reader refuses with an archive error naming the file, and leaves no output and no part.
    @Test(arguments: ["tar.gz", "whl"], ["truncated", "flipped"])
    func corruptArchivesAreRefused(format: String, damage: String) throws {
        let dir = try DataTestSupport.makeTempDir("archive\(format)\(damage)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let archive = dir.appendingPathComponent("a.\(format)")
        var rng = SplitMix64(seed: 7)
        let letters = Array("abcdefgh")
        let payload = String((0..<200_000).map { _ in letters[Int(rng.next() % 8)] })
        try ArchiveTests.write([.file("pkg/model.gguf", payload), .file("pkg/other.txt", "x")],
                               format: format == "whl" ? .zip : .tarGz, to: archive)
        var bytes = try Data(contentsOf: archive)
        if damage == "truncated" {
            bytes = bytes.prefix(bytes.count * 2 / 3)
        } else {
            for k in 0..<16 { bytes[bytes.count / 3 + k * 97] ^= 0x5A }
        }
        try bytes.write(to: archive)
        let out = dir.appendingPathComponent("out"), file = dir.appendingPathComponent("models/model.gguf")
        for attempt in [{ _ = try Archive.extract(archive, to: out) },
                        { try Archive.extractEntry(archive, path: "pkg/model.gguf", to: file) }] as [() throws -> Void] {
            do {
                try attempt()
                Issue.record("\(format) \(damage): accepted")
            } catch let error as TSRecError {
                #expect(error.description.contains(archive.path), "\(error)")
                #expect(error.exitCode == ExitStatus.dataError, "\(error)")
            }
        }
        #expect((try? FileManager.default.contentsOfDirectory(atPath: out.path)) ?? [] == [])
        #expect((try? FileManager.default.contentsOfDirectory(atPath: file.deletingLastPathComponent().path)) ?? [] == [])
    }

    /// A missing archive, and one libarchive cannot even open (random bytes), are errors, not a
    /// crash (the reader's handle was freed twice when opening failed).
    @Test func missingOrUnopenableArchiveIsAnError() throws {
        let dir = try DataTestSupport.makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("gone.tar.gz"), junk = dir.appendingPathComponent("junk.whl")
        var rng = SplitMix64(seed: 3)
        try Data((0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) }).write(to: junk)
        for url in [missing, junk] {
            for attempt in [{ _ = try Archive.extract(url, to: dir.appendingPathComponent("out")) },
                            { try Archive.extractEntry(url, path: "x", to: dir.appendingPathComponent("m/x")) },
                            { _ = try Archive.entries(url) }] as [() throws -> Void] {
                do {
                    try attempt()
                    Issue.record("\(url.lastPathComponent): accepted")
                } catch let error as TSRecError {
                    #expect(error.description.contains(url.path), "\(error)")
                }
            }
        }
    }

    // MARK: - The executables: exit status and message

    /// A built executable next to the test bundle (`swift build --build-tests` builds them all).
    static func executable(_ name: String) -> URL? {
        let runner = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        let bin = runner.deletingLastPathComponent().appendingPathComponent(name)
        return FileManager.default.isExecutableFile(atPath: bin.path) ? bin : nil
    }

    struct Outcome { var status: Int32; var stdout: String; var stderr: String }

    /// The sanitizer settings of `make sanitize` (suppressions, report files), passed on to the
    /// child processes these tests start: without them a child under ASan reports the runtime's
    /// known leaks on stderr and LeakSanitizer replaces the exit status the test checks.
    static var sanitizerEnvironment: [String: String] {
        ProcessInfo.processInfo.environment.filter { ["ASAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS", "TSREC_SANITIZER"].contains($0.key) }
    }

    /// Runs `program arguments` (through `sh -c` when `shell` is given, e.g. a ulimit first).
    static func run(_ bin: URL, _ arguments: [String], environment: [String: String], shell: String? = nil) throws -> Outcome {
        let p = Process()
        if let shell {
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", shell + "; exec \"$0\" \"$@\"", bin.path] + arguments
        } else {
            p.executableURL = bin
            p.arguments = arguments
        }
        p.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { a, _ in a }
            .merging(sanitizerEnvironment) { a, _ in a }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationReason == .exit, "killed by a signal: \(String(decoding: e, as: UTF8.self))")
        return Outcome(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// A tiny Industrial_and_Scientific folder in a temporary cache: 3 items, 2 rows per split.
    static func tinyCache(in dir: URL, testRow: String) throws -> URL {
        let cache = dir.appendingPathComponent("cache")
        let name = Benchmark.industrial.name
        let root = cache.appendingPathComponent("datasets").appendingPathComponent(name)
        func put(_ part: DatasetPart, _ text: String) throws {
            let url = root.appendingPathComponent(Benchmark.relativePath(part, name: name))
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        try put(.index, #"{"0": ["<a_1>", "<b_1>", "<c_1>"], "1": ["<a_2>", "<b_2>", "<c_2>"], "2": ["<a_2>", "<b_2>", "<c_3>"]}"#)
        try put(.items, #"{"0": {"title": "t"}, "1": {"title": "u"}, "2": {"title": "v"}}"#)
        let row = "A,\"['t']\",u,[0],1,['<a_1><b_1><c_1>'],<a_2><b_2><c_2>\n"
        for part in [DatasetPart.train, .valid] { try put(part, Split.csvHeader + row + row) }
        try put(.test, Split.csvHeader + row + testRow + "\n")
        return cache
    }

    /// The new user's case: a corrupt cached CSV row. `tsrec data stats` and `tsrec run` exit
    /// 65 (EX_DATAERR) with the file:line and no usage text; table2 too, instead of a crash report.
    @Test func corruptCachedCSVRowExitsWithDataError() throws {
        guard let tsrec = Self.executable("tsrec"), let table2 = Self.executable("table2") else {
            print("executables not built next to the tests; test skipped"); return
        }
        let dir = try DataTestSupport.makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = try Self.tinyCache(in: dir, testRow: "B,\"['t']\",u,[0],1,['<a_9><b_1><c_1>'],<a_2><b_2><c_2>")
        let env = ["TSREC_CACHE": cache.path, "TSREC_RESULTS": dir.appendingPathComponent("results").path]
        let csv = cache.appendingPathComponent("datasets/\(Benchmark.industrial.name)/"
                                               + Benchmark.relativePath(.test, name: Benchmark.industrial.name)).path
        for (bin, args) in [(tsrec, ["data", "stats", "industrial"]),
                            (tsrec, ["run", "--dataset", "industrial", "--profile", "smoke"]),
                            (table2, ["--profile", "smoke", "--datasets", Benchmark.industrial.name])] {
            let r = try Self.run(bin, args, environment: env)
            #expect(r.status == ExitStatus.dataError, "\(args): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains("\(csv):3: field 'history_item_sid'"), "\(r.stderr)")
            #expect(!r.stderr.lowercased().contains("usage"), "\(r.stderr)")
        }
    }

    /// A launched binary runs with OMP_WAIT_POLICY=passive (it relaunches itself, since libgomp
    /// reads the variable when it loads), or with the value the environment already has.
    @Test func launchSetsOpenMPWaitPolicyUnlessSet() throws {
        guard let tsrec = Self.executable("tsrec") else { print("executables not built next to the tests; test skipped"); return }
        let dir = try DataTestSupport.makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["TSREC_CACHE": dir.path, "TSREC_RESULTS": dir.path]
        for (set, expected) in [(nil, "OMP_WAIT_POLICY=passive"), ("active", "OMP_WAIT_POLICY=active")] {
            let r = try Self.run(tsrec, ["run", "--method", "NoSuchMethod"], environment: env.merging(set.map { ["OMP_WAIT_POLICY": $0] } ?? [:]) { a, _ in a })
            #expect(r.stdout.split(separator: "\n").first?.contains(expected) == true, "\(r.stdout)")
            #expect(r.status == ExitStatus.usage, "\(r.status) \(r.stderr)")
        }
    }

    /// Real command-line mistakes keep 64 and the usage text.
    @Test func commandLineMistakesExit64WithUsage() throws {
        guard let tsrec = Self.executable("tsrec"), let table2 = Self.executable("table2") else {
            print("executables not built next to the tests; test skipped"); return
        }
        let dir = try DataTestSupport.makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["TSREC_CACHE": dir.path, "TSREC_RESULTS": dir.path]
        for (bin, args) in [(tsrec, ["run", "--method", "Nope"]), (tsrec, ["data", "stats", "atlantis"]),
                            (tsrec, ["--no-such-flag"]), (table2, ["--bogus"]), (table2, ["--seed", "minus-one"])] {
            let r = try Self.run(bin, args, environment: env)
            #expect(r.status == ExitStatus.usage, "\(args): \(r.status) \(r.stderr)")
            #expect(r.stderr.lowercased().contains("usage"), "\(args): \(r.stderr)")
        }
    }

    /// Help requests print the usage on stdout and exit 0 (session 11: `tsrec --help` and
    /// `tsrec run --help` ended with "error: CommandError(...)" and status 70).
    @Test func helpRequestsPrintUsageAndExit0() throws {
        guard let tsrec = Self.executable("tsrec"), let table2 = Self.executable("table2") else {
            print("executables not built next to the tests; test skipped"); return
        }
        let dir = try DataTestSupport.makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["TSREC_CACHE": dir.path, "TSREC_RESULTS": dir.path]
        for (bin, args, expected) in [(tsrec, ["--help"], "SUBCOMMANDS"), (tsrec, ["run", "--help"], "--method"),
                                      (tsrec, ["help", "run"], "--method"), (tsrec, ["data", "fetch", "--help"], "USAGE"),
                                      (table2, ["--help"], "usage")] {
            let r = try Self.run(bin, args, environment: env)
            #expect(r.status == 0, "\(args): \(r.status) \(r.stderr)")
            #expect(r.stdout.contains(expected), "\(args): \(r.stdout)")
            #expect(!r.stderr.contains("error"), "\(args): \(r.stderr)")
        }
    }

    /// Results that cannot be written: a folder that is a file (74, path named), a file-size
    /// limit of zero (`ulimit -f 0`: EFBIG like a full disk, 74, not a SIGXFSZ death), and a
    /// predictions file with a wrong-typed line (65 at its line). Nothing lands under the final name.
    @Test func unwritableOrFullResultsAndBadPredictions() throws {
        guard let tsrec = Self.executable("tsrec") else { print("tsrec not built next to the tests; test skipped"); return }
        let dir = try DataTestSupport.makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = dir.appendingPathComponent("p.jsonl")
        try PredictionsFile.write((0..<3).map { Prediction(user: "u\($0)", target: "<a_1><b_1><c_\($0)>", ranked: ["<a_1><b_1><c_1>"]) }, to: p)
        let env = ["TSREC_CACHE": dir.path, "TSREC_RESULTS": dir.path]

        let blocker = dir.appendingPathComponent("blocker")
        try Data().write(to: blocker)
        let r1 = try Self.run(tsrec, ["compare", p.path, p.path, "--csv", blocker.appendingPathComponent("c.csv").path], environment: env)
        #expect(r1.status == ExitStatus.ioError, "\(r1.stderr)")
        #expect(r1.stderr.contains(blocker.path), "\(r1.stderr)")

        let out = dir.appendingPathComponent("c.csv")
        let r2 = try Self.run(tsrec, ["compare", p.path, p.path, "--csv", out.path], environment: env, shell: "ulimit -f 0")
        #expect(r2.status == ExitStatus.ioError, "\(r2.stderr)")
        #expect(r2.stderr.contains("\(out.path): cannot write: File too large"), "\(r2.stderr)")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == ["p.jsonl", "blocker"])

        let bad = dir.appendingPathComponent("bad.jsonl")
        try Data((try String(contentsOf: p, encoding: .utf8) + #"{"user": "v", "target": 5, "ranked": []}"# + "\n").utf8).write(to: bad)
        let r3 = try Self.run(tsrec, ["compare", bad.path, p.path], environment: env)
        #expect(r3.status == ExitStatus.dataError, "\(r3.stderr)")
        #expect(r3.stderr.contains("\(bad.path):4: field 'target'"), "\(r3.stderr)")
        #expect(!r3.stderr.lowercased().contains("usage"), "\(r3.stderr)")

        let r4 = try Self.run(tsrec, ["run", "--profile", "smoke"],
                              environment: ["TSREC_CACHE": dir.path, "TSREC_RESULTS": blocker.path])
        #expect(r4.status == ExitStatus.ioError, "\(r4.stderr)")
        #expect(r4.stderr.contains("\(blocker.path)/runs: cannot create directory: Not a directory"), "\(r4.stderr)")
    }
}
