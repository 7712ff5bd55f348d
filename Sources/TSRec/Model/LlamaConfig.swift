/// The shape of a Llama-family decoder (SmolLM2, Llama 2/3, Qwen2 without biases).
///
/// Read from GGUF metadata (`LlamaConfig(gguf:)` in GGUF+Llama.swift); `truncated(layers:)`
/// keeps only the first N pretrained blocks (an explicit, logged smoke-run option) and `tiny`
/// is a random-init decoder for tests.
public struct LlamaConfig: Codable, Hashable, Sendable {
    /// Number of transformer blocks.
    public var layers: Int
    /// Model width D.
    public var dim: Int
    /// Hidden width F of the SwiGLU feed-forward.
    public var ffnDim: Int
    /// Query heads H.
    public var heads: Int
    /// Key/value heads Hkv (grouped-query attention: H is a multiple of Hkv).
    public var kvHeads: Int
    /// Width of one head Dh (H·Dh need not equal D in general; it does for SmolLM2).
    public var headDim: Int
    /// RoPE base θ: pair i of a head turns by pos · θ^(-2i/Dh).
    public var ropeBase: Float
    /// RMSNorm epsilon.
    public var rmsEps: Float
    /// Vocabulary size V (rows of the token embedding).
    public var vocabSize: Int
    /// Whether the LM head is the token embedding (SmolLM2: yes). Only tied heads are supported.
    public var tiedEmbeddings: Bool
    /// Trained context length, from the file's metadata (nil for a randomly initialised model).
    public var contextLength: Int?

    public init(layers: Int, dim: Int, ffnDim: Int, heads: Int, kvHeads: Int, headDim: Int,
                ropeBase: Float, rmsEps: Float, vocabSize: Int, tiedEmbeddings: Bool = true, contextLength: Int? = nil) {
        self.layers = layers
        self.dim = dim
        self.ffnDim = ffnDim
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.ropeBase = ropeBase
        self.rmsEps = rmsEps
        self.vocabSize = vocabSize
        self.tiedEmbeddings = tiedEmbeddings
        self.contextLength = contextLength
    }

    /// Width of the query projection output, H·Dh.
    public var qDim: Int { heads * headDim }
    /// Width of the key/value projection outputs, Hkv·Dh.
    public var kvDim: Int { kvHeads * headDim }

    /// SmolLM2-135M(-Instruct) as stored in the GGUF (METHOD.md "Backbone"); the loader
    /// checks the file's metadata against what it reads, this value is for docs and benches.
    public static let smolLM2_135M = LlamaConfig(
        layers: 30, dim: 576, ffnDim: 1536, heads: 9, kvHeads: 3, headDim: 64,
        ropeBase: 100_000, rmsEps: 1e-5, vocabSize: 49_152, tiedEmbeddings: true, contextLength: 8_192)

    /// SmolLM2-135M-Instruct's `initializer_range` (its Hugging Face config.json, 1/24 = 1/√576):
    /// the standard deviation transformers' `_init_weights` gives new weights. The GGUF does not
    /// carry it; only `SIDInit.initializerRange` uses it.
    public static let smolLM2InitializerRange: Float = 0.041666666666666664

    /// A 2-layer, d=32 decoder with a 50-token vocabulary (GQA 4/2 heads of 8) for tests.
    public static let tiny = LlamaConfig(
        layers: 2, dim: 32, ffnDim: 64, heads: 4, kvHeads: 2, headDim: 8,
        ropeBase: 10_000, rmsEps: 1e-5, vocabSize: 50, tiedEmbeddings: true)

    /// The same model restricted to its first `layers` blocks (pretrained weights of later
    /// blocks are skipped by the loader, which logs it). For smoke runs only: the output of a
    /// truncated stack is not what the full model computes.
    public func truncated(layers n: Int) -> LlamaConfig {
        precondition(n >= 1 && n <= layers, "truncated(layers: \(n)): must be in 1...\(layers)")
        var c = self
        c.layers = n
        return c
    }

    /// Parameters in weight matrices that a token's forward pass multiplies by (the tied
    /// head counted once): per block 2·D·H·Dh + 2·D·Hkv·Dh + 3·D·F, plus V·D for the head.
    /// 6 × this × tokens is the usual training-FLOP count (forward 2, backward 4).
    public var matmulParameters: Int {
        layers * (2 * dim * qDim + 2 * dim * kvDim + 3 * dim * ffnDim) + vocabSize * dim
    }

    /// All parameters (embedding once, norms included).
    public var parameterCount: Int {
        vocabSize * dim + dim
            + layers * (2 * dim + 2 * dim * qDim + 2 * dim * kvDim + 3 * dim * ffnDim)
    }

    /// What breaks the invariants the model code relies on (empty = none). `validate()` turns the
    /// first into a configuration error; the GGUF reader into an error naming the file.
    func problems() -> [String] {
        var out: [String] = []
        for (name, v) in [("layers", layers), ("dim", dim), ("ffnDim", ffnDim), ("heads", heads), ("kvHeads", kvHeads),
                          ("headDim", headDim), ("vocabSize", vocabSize), ("contextLength", contextLength ?? 1)] where v <= 0 {
            out.append("\(name) = \(v) must be positive")
        }
        if !out.isEmpty { return out }
        if heads % kvHeads != 0 { out.append("heads \(heads) not divisible by kvHeads \(kvHeads)") }
        if headDim % 2 != 0 { out.append("headDim \(headDim) must be even for RoPE") }
        if !(ropeBase.isFinite && ropeBase > 1) { out.append("rope base \(ropeBase) must be finite and > 1") }
        if !(rmsEps.isFinite && rmsEps > 0 && rmsEps < 1) { out.append("rms eps \(rmsEps) must be in (0, 1)") }
        if !tiedEmbeddings { out.append("untied LM heads are not supported (SmolLM2 ties output = token_embd)") }
        return out
    }

    /// Throws the first of `problems()`.
    func validate() throws {
        if let first = problems().first { throw TSRecError(.config(field: "LlamaConfig", reason: first)) }
    }
}
