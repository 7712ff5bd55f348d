import Foundation

extension LlamaConfig {
    /// Reads the decoder shape from a llama-architecture GGUF (`<arch>.*` metadata keys, where
    /// `<arch>` is `general.architecture`) and validates it against itself and the token
    /// embedding; every error names the file.
    ///
    /// SmolLM2-135M: 30 layers, dim 576, ffn 1536, 9 heads / 3 kv heads of 64, rope base 1e5,
    /// rms eps 1e-5, vocab 49,152, context 8,192, tied output.
    public init(gguf: GGUFFile) throws {
        let path = gguf.url.path
        let arch = try gguf.string("general.architecture")
        guard arch == "llama" else {
            throw TSRecError(.gguf(path: path, reason: "general.architecture is '\(arch)', expected 'llama'"),
                             hint: "tsrec implements the llama decoder only (SmolLM2)")
        }
        let p = arch + "."
        func has(_ key: String) -> Bool { gguf.metadata[p + key] != nil }
        let dim = try gguf.int(p + "embedding_length"), heads = try gguf.int(p + "attention.head_count")
        // Per-head width: `rope.dimension_count`, else `attention.key_length`, else dim / heads.
        let headDim = has("rope.dimension_count") ? try gguf.int(p + "rope.dimension_count")
            : has("attention.key_length") ? try gguf.int(p + "attention.key_length") : (heads > 0 ? dim / heads : 0)
        self.init(layers: try gguf.int(p + "block_count"), dim: dim, ffnDim: try gguf.int(p + "feed_forward_length"),
                  heads: heads, kvHeads: has("attention.head_count_kv") ? try gguf.int(p + "attention.head_count_kv") : heads,
                  headDim: headDim, ropeBase: has("rope.freq_base") ? try gguf.float(p + "rope.freq_base") : 10_000,
                  rmsEps: try gguf.float(p + "attention.layer_norm_rms_epsilon"),
                  vocabSize: has("vocab_size") ? try gguf.int(p + "vocab_size") : try gguf.stringArray("tokenizer.ggml.tokens").count,
                  tiedEmbeddings: gguf.tensors["output.weight"] == nil, contextLength: try gguf.int(p + "context_length"))
        var problems = self.problems()
        if problems.isEmpty && heads * headDim != dim { problems.append("heads \(heads) × headDim \(headDim) ≠ dim \(dim)") }
        if let first = problems.first {
            throw TSRecError(.gguf(path: path, reason: "llama hyperparameters: \(first)"),
                             hint: "the model metadata is inconsistent; re-download or re-convert it")
        }
        let embedding = try gguf.tensor("token_embd.weight")
        guard embedding.shape == [vocabSize, dim] else {
            throw TSRecError(.shape(name: "token_embd.weight", expected: [vocabSize, dim], got: embedding.shape))
        }
    }
}
