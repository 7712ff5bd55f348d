import Foundation

/// Finds a finished run's test predictions from what a researcher has at hand: a predictions
/// file, a run folder, or a run's configuration hash (the folder name under
/// `results/runs/<dataset>/`, as printed by every run and written in every results CSV).
///
/// Used by `tsrec compare`, which pairs any two runs on the same test rows.
public enum RunLocator {
    /// The predictions files `argument` names, one per test prompt (one for most runs). A file
    /// names itself alone. A folder must hold one evaluation (a run evaluated at one beam width
    /// and row count): one `predictions-*.jsonl`, or with several test prompts (LC-Rec's mean
    /// over its templates) that file and its `-prompt<k>-` siblings, every k from 1 up; a hash
    /// is looked up in every dataset folder under `runs`.
    public static func predictions(_ argument: String, runs: URL) throws -> [URL] {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: argument, isDirectory: &isDirectory) {
            let url = URL(fileURLWithPath: argument)
            return isDirectory.boolValue ? try predictions(inRunFolder: url) : [url]
        }
        let datasets = (try? fm.contentsOfDirectory(atPath: runs.path)) ?? []
        let folders = datasets.sorted().map { runs.appendingPathComponent($0).appendingPathComponent(argument) }
            .filter { fm.fileExists(atPath: $0.path) }
        guard let folder = folders.first else {
            throw TSRecError(.missing(what: "run '\(argument)'", path: runs.path),
                             hint: "pass a predictions file, a run folder, or the configuration hash of a finished run "
                                 + "(a folder name under \(runs.path)/<dataset>/; set TSREC_RESULTS to the results folder used)")
        }
        guard folders.count == 1 else {
            throw TSRecError(.config(field: "run", reason: "'\(argument)' names a run on several datasets: \(folders.map(\.path))"),
                             hint: "pass the run folder instead of the hash")
        }
        return try predictions(inRunFolder: folder)
    }

    static func predictions(inRunFolder folder: URL) throws -> [URL] {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .filter { $0.hasPrefix("predictions-") && $0.hasSuffix(".jsonl") }
        guard !files.isEmpty else {
            throw TSRecError(.missing(what: "test predictions (predictions-*.jsonl)", path: folder.path),
                             hint: "the run has not been evaluated yet: run it to the end (it resumes), then compare")
        }
        // one evaluation: the same name once its test prompt's tag is taken out
        let tagged = files.map { name in (name: name, prompt: testPrompt(of: name)) }
        guard Set(tagged.map(\.prompt.base)).count == 1 else {
            throw TSRecError(.config(field: "run", reason: "\(folder.path) holds several evaluations: \(files.sorted().joined(separator: ", "))"),
                             hint: "pass one of the files instead of the folder")
        }
        let ordered = tagged.sorted { $0.prompt.index < $1.prompt.index }
        guard ordered.map(\.prompt.index) == Array(0..<ordered.count) else {
            throw TSRecError(.config(field: "run", reason: "\(folder.path) holds test prompts \(ordered.map(\.prompt.index)) of one evaluation, not 0 to \(ordered.count - 1)"),
                             hint: "the evaluation has not finished: run it to the end (it resumes), or pass one of the files")
        }
        return ordered.map { folder.appendingPathComponent($0.name) }
    }

    /// A predictions file name's test prompt (`-prompt<k>-` before the beam width, 0 without
    /// one; `Pipeline.predictionsURL`) and the name without that tag.
    static func testPrompt(of name: String) -> (index: Int, base: String) {
        let parts = name.split(separator: "-", omittingEmptySubsequences: false)
        guard let i = parts.firstIndex(where: { $0.hasPrefix("prompt") && Int($0.dropFirst("prompt".count)) != nil }) else { return (0, name) }
        var rest = parts
        rest.remove(at: i)
        return (Int(parts[i].dropFirst("prompt".count))!, rest.joined(separator: "-"))
    }
}

extension RunLocator {
    /// The dataset folder a predictions file sits in (`runs/<dataset>/…`), else nil.
    public static func dataset(of predictions: URL, runs: URL) -> String? {
        let root = runs.standardizedFileURL.pathComponents, path = predictions.standardizedFileURL.pathComponents
        guard path.count > root.count + 1, Array(path.prefix(root.count)) == root else { return nil }
        return path[root.count]
    }
}

extension RunLocator {
    /// The dataset a predictions file was made on: its folder under `runs` (`dataset(of:runs:)`),
    /// else the `dataset` field of the `config.json` beside it or in the folder above (an RL or
    /// preference stage sits inside its SFT run's folder; committed records keep both files).
    public static func datasetName(of predictions: URL, runs: URL) -> String? {
        if let name = dataset(of: predictions, runs: runs) { return name }
        let folder = predictions.deletingLastPathComponent()
        for dir in [folder, folder.deletingLastPathComponent()] {
            guard let data = try? Data(contentsOf: dir.appendingPathComponent("config.json")),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let name = object["dataset"] as? String else { continue }
            return name
        }
        return nil
    }
}
