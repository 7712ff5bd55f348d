import Foundation

/// The shape of a llama-architecture decoder, read from GGUF metadata (`<arch>.*` keys, where
/// `<arch>` is `general.architecture`) and validated against itself and the token embedding.
///
/// SmolLM2-135M: 30 layers, dim 576, ffn 1536, 9 heads / 3 kv heads of 64, rope base 1e5,
/// rms eps 1e-5, vocab 49,152, context 8,192.
public struct LlamaHyperparameters: Sendable, Hashable, Codable {
    /// Transformer blocks (`block_count`).
    public var layers: Int
    /// Model width C (`embedding_length`).
    public var dim: Int
    /// SwiGLU hidden width (`feed_forward_length`).
    public var ffnDim: Int
    /// Query heads (`attention.head_count`).
    public var heads: Int
    /// Key/value heads, GQA (`attention.head_count_kv`, default `heads`).
    public var kvHeads: Int
    /// Per-head width (`rope.dimension_count`, else `attention.key_length`, else dim / heads).
    public var headDim: Int
    /// RoPE θ base (`rope.freq_base`, default 10000).
    public var ropeBase: Float
    /// RMSNorm ε (`attention.layer_norm_rms_epsilon`).
    public var rmsEps: Float
    /// Rows of the token embedding (`vocab_size`, else the tokenizer's token count).
    public var vocabSize: Int
    /// Trained context length (`context_length`).
    public var contextLength: Int
    /// Whether the LM head reuses `token_embd.weight` (no `output.weight` tensor).
    public var tiedOutput: Bool

    public init(layers: Int, dim: Int, ffnDim: Int, heads: Int, kvHeads: Int, headDim: Int,
                ropeBase: Float, rmsEps: Float, vocabSize: Int, contextLength: Int, tiedOutput: Bool) {
        self.layers = layers
        self.dim = dim
        self.ffnDim = ffnDim
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.ropeBase = ropeBase
        self.rmsEps = rmsEps
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.tiedOutput = tiedOutput
    }

    /// Reads and validates the hyperparameters of a llama-architecture GGUF.
    public init(gguf: GGUFFile) throws {
        let arch = try gguf.string("general.architecture")
        guard arch == "llama" else {
            throw TSRecError(.gguf(path: gguf.url.path, reason: "general.architecture is '\(arch)', expected 'llama'"),
                             hint: "tsrec implements the llama decoder only (SmolLM2)")
        }
        let p = arch + "."
        layers = try gguf.int(p + "block_count")
        dim = try gguf.int(p + "embedding_length")
        ffnDim = try gguf.int(p + "feed_forward_length")
        heads = try gguf.int(p + "attention.head_count")
        kvHeads = gguf.metadata[p + "attention.head_count_kv"] == nil ? heads : try gguf.int(p + "attention.head_count_kv")
        if gguf.metadata[p + "rope.dimension_count"] != nil {
            headDim = try gguf.int(p + "rope.dimension_count")
        } else if gguf.metadata[p + "attention.key_length"] != nil {
            headDim = try gguf.int(p + "attention.key_length")
        } else {
            headDim = heads > 0 ? dim / heads : 0
        }
        ropeBase = gguf.metadata[p + "rope.freq_base"] == nil ? 10_000 : try gguf.float(p + "rope.freq_base")
        rmsEps = try gguf.float(p + "attention.layer_norm_rms_epsilon")
        if gguf.metadata[p + "vocab_size"] != nil {
            vocabSize = try gguf.int(p + "vocab_size")
        } else {
            vocabSize = try gguf.stringArray("tokenizer.ggml.tokens").count
        }
        contextLength = try gguf.int(p + "context_length")
        tiedOutput = gguf.tensors["output.weight"] == nil
        try validate(path: gguf.url.path)
        let embedding = try gguf.tensor("token_embd.weight")
        guard embedding.shape == [vocabSize, dim] else {
            throw TSRecError(.shape(name: "token_embd.weight", expected: [vocabSize, dim], got: embedding.shape))
        }
    }

    /// Checks positivity and the head arithmetic (heads·headDim = dim, heads divisible by kvHeads).
    func validate(path: String) throws {
        func fail(_ reason: String) -> TSRecError {
            TSRecError(.gguf(path: path, reason: "llama hyperparameters: \(reason)"), hint: "the model metadata is inconsistent; re-download or re-convert it")
        }
        for (name, v) in [("layers", layers), ("dim", dim), ("ffnDim", ffnDim), ("heads", heads), ("kvHeads", kvHeads),
                          ("headDim", headDim), ("vocabSize", vocabSize), ("contextLength", contextLength)] where v <= 0 {
            throw fail("\(name) = \(v) must be positive")
        }
        guard heads % kvHeads == 0 else { throw fail("heads \(heads) not divisible by kvHeads \(kvHeads)") }
        guard heads * headDim == dim else { throw fail("heads \(heads) × headDim \(headDim) ≠ dim \(dim)") }
        guard headDim % 2 == 0 else { throw fail("headDim \(headDim) must be even for RoPE") }
        guard ropeBase.isFinite, ropeBase > 1 else { throw fail("rope base \(ropeBase) must be finite and > 1") }
        guard rmsEps.isFinite, rmsEps > 0, rmsEps < 1 else { throw fail("rms eps \(rmsEps) must be in (0, 1)") }
    }
}
