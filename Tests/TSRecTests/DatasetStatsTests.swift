import Foundation
import Testing
@testable import TSRec

/// Statistics against METHOD.md, missing parts as first-class results, and the registry against
/// the mirror's own SHA256SUMS / CONTENTS.sha256 / UPSTREAM.tsv.
@Suite struct DatasetStatsTests {
    func dataset(_ b: Benchmark) throws -> Dataset? {
        guard let r = DataTestSupport.loaded[b.name] else { print(DataTestSupport.mirrorMissingMessage); return nil }
        return try r.get()
    }

    /// METHOD.md: 3,686 items; 36,259 / 4,532 / 4,533 rows; 48 / 256 / 256 tokens; 3,670
    /// distinct SIDs (16 collisions); ~7,694 users. 53,018 interactions = 45,324 samples +
    /// 7,694 users (every Industrial user's first sample has a one-item history; Python check).
    @Test func industrialMatchesMethod() throws {
        guard let ds = try dataset(.industrial) else { return }
        let s = DatasetStats(ds)
        #expect(s.items == 3_686)
        #expect(s.trainRows == 36_259 && s.validRows == 4_532 && s.testRows == 4_533)
        #expect(s.tokensPerLevel == [48, 256, 256])
        #expect(s.distinctSIDs == 3_670)
        #expect(s.collisions == 16)
        #expect(s.users == 7_694)
        #expect(s.interactions == 53_018)
        #expect(ds.missing.isEmpty)
        #expect(ds.keywords?.count == 560)
        #expect(ds.index.sid(of: 0) == "<a_236><b_231><c_226>")
        #expect(ds.items[1].title == "Stanley TRA708T Sharpshooter 1/2-Inch Leg Length Staples, Steel (1000 Count)")
        // Items 7 and 8 share a SID in the index file (a collision).
        #expect(ds.index.itemsBySID["<a_210><b_231><c_0>"]?.starts(with: [7, 8]) == true)
        let first = try ds.split(.train).rows[0]
        #expect(first.userID == "A22" && first.historyItemIDs == [117] && first.targetItemID == 118)
        #expect(first.targetTitle == "Grizzly G9849 Magnetic Base/Dial Indicator Combo - President's Special")
    }

    /// Office from the mirror: train split and keyword file are missing; loading says exactly
    /// which files and what still works, and asking for them throws a clear error.
    @Test func officeMissingPartsAreFirstClass() throws {
        guard let ds = try dataset(.office) else { return }
        #expect(ds.missing.map(\.part) == [.train, .keywords])
        #expect(ds.missing[0].path.hasSuffix("Office_Products/train/Office_Products_5_2016-10-2018-11.csv"))
        #expect(ds.missing[1].path.hasSuffix("Office_Products/semantics/Office_Products.description_keywords.json"))
        #expect(ds.missing[0].consequence.contains("valid/test evaluation"))
        #expect(ds.summary.contains("missing train"))
        #expect(ds.summary.contains("missing keywords"))
        do {
            _ = try ds.split(.train)
            Issue.record("train must be reported missing")
        } catch let error as TSRecError {
            guard case let .missing(what, path) = error.kind else { Issue.record("\(error)"); return }
            #expect(what == "Office_Products train")
            #expect(path == ds.missing[0].path)
            #expect(error.hint?.contains("upstream") == true)
        }
        #expect(throws: TSRecError.self) { try ds.require(.keywords) }
        #expect(try ds.split(.valid).count == 4_866)
        #expect(try ds.split(.test).count == 4_866)
        let s = DatasetStats(ds)
        #expect(s.items == 3_459 && s.trainRows == nil && s.users == nil && s.interactions == nil)
        #expect(s.tokensPerLevel == [88, 256, 256] && s.distinctSIDs == 3_444 && s.collisions == 15)
        #expect(s.notes.contains("train, keywords missing"))
    }

    /// A benchmark folder without splits still loads; without the index it fails naming the file.
    @Test func partialFolders() throws {
        guard let root = DataTestSupport.unpackedMirror else { print(DataTestSupport.mirrorMissingMessage); return }
        let dir = try DataTestSupport.makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let b = Benchmark.office
        let copy = dir.appendingPathComponent(b.name)
        try FileManager.default.createDirectory(at: copy.appendingPathComponent("index"), withIntermediateDirectories: true)
        for part in [DatasetPart.index, .items] {
            let rel = Benchmark.relativePath(part, name: b.name)
            try FileManager.default.copyItem(at: root.appendingPathComponent(b.name).appendingPathComponent(rel), to: copy.appendingPathComponent(rel))
        }
        let ds = try Dataset.load(b, from: copy)
        #expect(ds.missing.map(\.part) == [.info, .train, .valid, .test, .keywords])
        #expect(ds.splits.isEmpty)
        try FileManager.default.removeItem(at: copy.appendingPathComponent(Benchmark.relativePath(.index, name: b.name)))
        do {
            _ = try Dataset.load(b, from: copy)
            Issue.record("no index must fail")
        } catch let error as TSRecError {
            guard case let .missing(what, path) = error.kind else { Issue.record("\(error)"); return }
            #expect(what == "Office_Products index file")
            #expect(path.hasSuffix("index/Office_Products.index.json"))
        }
        // A never-fetched cache says how to fetch.
        let paths = Paths(cache: dir.appendingPathComponent("cache"), results: dir)
        #expect(throws: TSRecError.self) { try Dataset.load(b, paths: paths) }
    }

    @Test func statsTables() throws {
        let full = DatasetStatsTests.sample(users: 7_694, train: 36_259, notes: "")
        let partial = DatasetStatsTests.sample(users: nil, train: nil, notes: "train, keywords missing")
        let csv = DatasetStats.csv([full, partial])
        #expect(csv == """
            dataset,users,items,interactions,train_rows,valid_rows,test_rows,sid_tokens_per_level,sid_tokens_total,distinct_sids,collisions,notes
            X,7694,3686,53018,36259,4532,4533,48/256/256,560,3670,16,
            X,,3686,,,4532,4533,48/256/256,560,3670,16,"train, keywords missing"

            """)
        let md = DatasetStats.markdown([full, partial])
        #expect(md.contains("| X | 7,694 | 3,686 | 53,018 | 36,259 | 4,532 | 4,533 | 48/256/256 | 560 | 3,670 | 16 |  |"))
        #expect(md.contains("| X | n/a | 3,686 | n/a | n/a | 4,532 | 4,533 |"))
    }

    static func sample(users: Int?, train: Int?, notes: String) -> DatasetStats {
        var s = DatasetStats(Dataset(benchmark: .industrial, directory: URL(fileURLWithPath: "/"),
                                     index: ItemIndex(tokens: [["<a_1>"]]), items: [], info: nil, splits: [:], keywords: nil, missing: []))
        s.dataset = "X"
        s.users = users
        s.items = 3_686
        s.interactions = users == nil ? nil : 53_018
        s.trainRows = train
        s.validRows = 4_532
        s.testRows = 4_533
        s.tokensPerLevel = [48, 256, 256]
        s.distinctSIDs = 3_670
        s.collisions = 16
        s.notes = notes
        return s
    }

    /// Loading the whole Industrial benchmark (30 MB, 45k rows) stays within a few seconds.
    @Test func industrialLoadTime() throws {
        guard let root = DataTestSupport.unpackedMirror else { print(DataTestSupport.mirrorMissingMessage); return }
        let start = Date()
        let ds = try Dataset.load(.industrial, from: root.appendingPathComponent(Benchmark.industrial.name))
        let seconds = Date().timeIntervalSince(start)
        print("Industrial_and_Scientific loaded in \(String(format: "%.2f", seconds)) s")
        #expect(ds.splits.count == 3)
        if TimingFloors.apply { #expect(seconds < 10) }
    }

    // MARK: - Registry vs the mirror's own lists

    @Test func registryMatchesMirrorLists() throws {
        guard let mirror = DataTestSupport.mirror else { print(DataTestSupport.mirrorMissingMessage); return }
        func lines(_ name: String) throws -> [[String]] {
            try String(contentsOf: mirror.appendingPathComponent(name), encoding: .utf8).split(separator: "\n")
                .map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) }
        }
        for row in try lines("SHA256SUMS") {
            let b = try #require(Benchmark.all.first { $0.mirror.fileName == row[1] })
            #expect(b.mirror.sha256 == row[0])
            #expect(Downloader.fileSize(mirror.appendingPathComponent(row[1])) == b.mirror.size)
        }
        var inContents = Set<String>()
        for row in try lines("CONTENTS.sha256") {
            let name = String(row[1].split(separator: "/")[0])
            let b = try #require(Benchmark.named(name))
            let rel = row[1].split(separator: "/").dropFirst().joined(separator: "/")
            let f = try #require(b.files.first { $0.relativePath == rel })
            #expect(f.sha256 == row[0] && f.inMirror, "\(row[1])")
            inContents.insert(row[1])
        }
        #expect(inContents.count == Benchmark.all.flatMap { b in b.files.filter(\.inMirror).map { "\(b.name)/\($0.relativePath)" } }.count)
        for row in try lines("UPSTREAM.tsv").dropFirst() {
            // data/Amazon/<sub>/<file>  size  blob  sha256
            let rel = row[0].split(separator: "/").dropFirst(2).joined(separator: "/")
            let f = try #require(Benchmark.all.flatMap(\.files).first { $0.relativePath == rel }, "\(row[0])")
            #expect(f.size.map(String.init) ?? "unknown" == row[1], "\(rel)")
            #expect(f.gitBlobSHA1 == row[2], "\(rel)")
            #expect(f.sha256 ?? "unknown" == row[3], "\(rel)")
            #expect(f.upstreamURL?.absoluteString.hasSuffix(row[0]) == true, "\(rel)")
        }
        #expect(Benchmark.office.file(.train)?.checksum == .gitBlobSHA1("a9b4781fc41c41358981df034662d3cf3ccb6f90"))
        #expect(Benchmark.office.file(.keywords)?.upstreamURL == nil)
        #expect(Benchmark.named("OFFICE") == .office && Benchmark.named("Industrial_and_Scientific") == .industrial)
    }

    /// The git blob ids of UPSTREAM.tsv hold for the unpacked files (independent of sha256).
    @Test func gitBlobIDsOfUnpackedFiles() throws {
        guard let root = DataTestSupport.unpackedMirror else { print(DataTestSupport.mirrorMissingMessage); return }
        for f in Benchmark.office.files where f.inMirror {
            let url = root.appendingPathComponent(Benchmark.office.name).appendingPathComponent(f.relativePath)
            #expect(try SHA1.gitBlobID(fileAt: url) == f.gitBlobSHA1, "\(f.relativePath)")
        }
    }
}
