import Foundation

/// The parts a benchmark folder can hold (MiniOneRec layout under `<Name>/`).
public enum DatasetPart: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    /// `index/<Name>.index.json`: item id -> SID tokens.
    case index
    /// `index/<Name>.item.json`: item id -> title, description, brand, categories.
    case items
    /// `info/<Name>_5_2016-10-2018-11.txt`: `SID<TAB>title<TAB>item id` per item.
    case info
    case train, valid, test
    /// `semantics/<Name>.description_keywords.json`: per SID token, keywords and a description.
    case keywords

    public var description: String { rawValue }
    public static let splits: [DatasetPart] = [.train, .valid, .test]
}

/// One file of a benchmark: where it lives locally and upstream, and how to verify it.
public struct BenchmarkFile: Sendable, Hashable {
    public let part: DatasetPart
    /// Path inside the benchmark folder, e.g. `train/Office_Products_5_2016-10-2018-11.csv`.
    public let relativePath: String
    /// Raw upstream URL; nil when no upstream copy is known.
    public let upstreamURL: URL?
    /// Bytes, when known.
    public let size: Int64?
    public let sha256: String?
    /// `sha1("blob <size>\0" + bytes)` from GitHub's tree listing.
    public let gitBlobSHA1: String?
    /// Whether the offline mirror archive holds this file.
    public let inMirror: Bool

    /// The strongest known checksum: sha256, else the git blob id.
    public var checksum: Checksum? {
        if let sha256 { return .sha256(sha256) }
        if let gitBlobSHA1 { return .gitBlobSHA1(gitBlobSHA1) }
        return nil
    }
}

/// The mirror's archive of one benchmark (`<Name>.tar.gz`, entries `<Name>/<sub>/<file>`).
public struct MirrorArchive: Sendable, Hashable {
    public let fileName: String
    public let sha256: String
    public let size: Int64
}

/// The registry of benchmarks (facts from the mirror's README, UPSTREAM.tsv, SHA256SUMS and
/// CONTENTS.sha256; `BenchmarkRegistryTests` re-reads those files and compares).
///
/// ```swift
/// let b = Benchmark.named("office")!           // or "Office_Products"
/// b.file(.train)?.inMirror                     // false: the mirror lacks Office's train split
/// ```
public struct Benchmark: Sendable, Hashable, CustomStringConvertible {
    /// Folder and file stem, e.g. `Industrial_and_Scientific`.
    public let name: String
    /// Short alias accepted on the command line (`industrial`, `office`).
    public let alias: String
    public let files: [BenchmarkFile]
    public let mirror: MirrorArchive

    public var description: String { name }

    /// The items' category in words, for prompts that name it (the title-generation baselines):
    /// the phrase MiniOneRec maps each dataset name to (`sft.py`'s category table), else the name
    /// with underscores as spaces, lower-cased.
    public var categoryPhrase: String {
        switch name {
        case "Industrial_and_Scientific": "industrial and scientific items"
        case "Office_Products": "office products"
        default: name.replacingOccurrences(of: "_", with: " ").lowercased()
        }
    }

    public func file(_ part: DatasetPart) -> BenchmarkFile? { files.first { $0.part == part } }

    /// Looks up by full name or alias, case-insensitively.
    public static func named(_ text: String) -> Benchmark? {
        all.first { $0.name.lowercased() == text.lowercased() || $0.alias == text.lowercased() }
    }

    public static let all: [Benchmark] = [.industrial, .office]

    /// The MiniOneRec data commit all benchmark files come from.
    static let miniOneRecCommit = "3b210db08c74390c3db4db0209b549d4ddf9c168"
    static let miniOneRecBase = "https://raw.githubusercontent.com/AkaliKong/MiniOneRec/\(miniOneRecCommit)/data/Amazon/"
    /// The TS-Rec release commit that adds the Industrial keyword file.
    static let tsRecKeywordsURL = URL(string: "https://raw.githubusercontent.com/jiaweif3ng/TS-Rec-Review/e2b938db575161666fea7a12ca691383f9010685/data/Amazon/semantics/Industrial_and_Scientific.description_keywords.json")!

    /// Builds the seven entries of one benchmark from (size, blob, sha256) per part; `nil` sha256
    /// or size means unknown, `nil` blob means no upstream copy is known.
    private static func files(name: String, facts: [DatasetPart: (Int64?, String?, String?)], notInMirror: Set<DatasetPart>) -> [BenchmarkFile] {
        DatasetPart.allCases.map { part in
            let rel = relativePath(part, name: name)
            let (size, blob, sha) = facts[part] ?? (nil, nil, nil)
            let url: URL?
            if blob == nil {
                url = nil
            } else if part == .keywords {
                url = tsRecKeywordsURL
            } else {
                url = URL(string: miniOneRecBase + rel)!
            }
            return BenchmarkFile(part: part, relativePath: rel, upstreamURL: url, size: size, sha256: sha,
                                 gitBlobSHA1: blob, inMirror: !notInMirror.contains(part))
        }
    }

    static func relativePath(_ part: DatasetPart, name: String) -> String {
        let splitFile = "\(name)_5_2016-10-2018-11"
        switch part {
        case .index: return "index/\(name).index.json"
        case .items: return "index/\(name).item.json"
        case .info: return "info/\(splitFile).txt"
        case .train, .valid, .test: return "\(part.rawValue)/\(splitFile).csv"
        case .keywords: return "semantics/\(name).description_keywords.json"
        }
    }

    public static let industrial = Benchmark(
        name: "Industrial_and_Scientific", alias: "industrial",
        files: files(name: "Industrial_and_Scientific", facts: [
            .index: (152_189, "58d4cfc25fec4b8d362600675b576927ed982747", "53f1aefbe8b8aa774326c122606c6525300c5a325e7b78817739d465aeb335f8"),
            .items: (3_008_778, "f93d3f2746c1be07086770a00f5e8cfc1d03d1fb", "937600c7a03652f55864a1d12d6e9fe8ca3e24ecc4e255a88216b25c5f949496"),
            .info: (374_118, "1e26e1339c89c4cafe40e85443627f7cdeb4d2d5", "bdc51fd9636e361db095c84de4e2650b3dd9606812c92e7a01f3b77c5c1a84f7"),
            .train: (19_277_597, "c35e3af957d20844b5475973db71c24f769c54ef", "da5f2af4f5047e18023dd4792f65a48bd7c8eab90447dd682fb48ca255d25f8c"),
            .valid: (2_915_875, "bfb8211bd85d1c0f20f7e6764bd114ca27e75053", "12bbb02bced0bd754a8b4e0f9ca4086416e30d12b0b73a2c95e7b195dd67385a"),
            .test: (3_105_687, "ed3707f99446c2d09216431c209e123f929966af", "973dd1db4fd549f3f2b40a0f039dbae157ebb92c716197cc246401e4e82c3a46"),
            .keywords: (634_262, "e8af211ccfdabe1483e319bbf50e512ac0611467", "0085864e4b66834601a7fd674393c505cb01243ce046c1f94a1323ae9781ca27"),
        ], notInMirror: []),
        mirror: MirrorArchive(fileName: "Industrial_and_Scientific.tar.gz",
                              sha256: "da9ddb5352ebe4fe6811b95c2dad5ab0599e46d4f2e89a0551eb13774a9b85af", size: 7_348_863))

    public static let office = Benchmark(
        name: "Office_Products", alias: "office",
        files: files(name: "Office_Products", facts: [
            .index: (142_839, "a1a0317d0b22c7f916682eb26449a4d47ca92f61", "f599d2b858beb5a2f660d6253896746c25a65f3a7d0c2f3ae6fd4ec2091eebc8"),
            .items: (2_570_582, "64a625cf6c28d7c07221abfb42c0551cc8c72436", "398cb2bb7868bedf2ed8ed6b24d25e172f21b7022554d1f8ea52200478494c1c"),
            .info: (361_392, "df8bbd4e2c66ad70a8f3ff727781880e5b7f10bd", "7e8bae0a051a377713364b9e669590f86feb869fc269157c64b2189c0f4bcfa4"),
            // Size and sha256 unknown: a downloaded copy is verified by its git blob id.
            .train: (nil, "a9b4781fc41c41358981df034662d3cf3ccb6f90", nil),
            .valid: (3_038_060, "7414627f0c8257e0731a8f2b08a8c82d6ccdfa18", "a7d8f049ae425f413def22687cebcd172c65833633ff76dd3d90a83bca98234f"),
            .test: (3_310_265, "0e999901eed118aabd0f63292e3424e58ca93683", "c1967034e197a7837a8962f2556efaabc12eb5bb84e1fdc79cd0accbce71add5"),
            // No keyword file is known for Office anywhere (UPSTREAM.tsv lists none).
        ], notInMirror: [.train, .keywords]),
        mirror: MirrorArchive(fileName: "Office_Products.tar.gz",
                              sha256: "7c93e9abd57ab186e3bc77ea1240e5e57fc0a07b7238fcdb30b79900042175bc", size: 2_337_684))

    /// Why a part may be absent, and what still works without it (used in messages).
    func absenceExplanation(_ part: DatasetPart) -> (reason: String, consequence: String) {
        let f = file(part)
        var reason: String
        if f?.upstreamURL == nil {
            reason = "no upstream copy is known and the offline mirror does not have it"
        } else if f?.inMirror == false {
            reason = "not in the offline mirror; `tsrec data fetch \(name)` without a mirror downloads it from upstream on a networked machine"
        } else {
            reason = "not fetched yet or deleted; run `tsrec data fetch \(name)`"
        }
        if part == .keywords && name == Benchmark.office.name {
            reason = "the TS-Rec release publishes keywords only for Industrial_and_Scientific; " + reason
        }
        let consequence: String
        switch part {
        case .train:
            consequence = "no SFT training rows for this benchmark; item alignment data, valid/test evaluation and statistics on valid/test still work"
        case .valid:
            consequence = "no validation loss / early stopping on this benchmark; training and test evaluation still work"
        case .test:
            consequence = "no test evaluation on this benchmark; training and validation still work"
        case .keywords:
            consequence = "TS-Align samples and SA-Init keyword initialisation are unavailable; MiniOneRec-style SFT and evaluation still work"
        case .info:
            consequence = "none for training or evaluation (titles come from the item file); the info cross-check is skipped"
        case .index, .items:
            consequence = "nothing works without it"
        }
        return (reason, consequence)
    }
}
