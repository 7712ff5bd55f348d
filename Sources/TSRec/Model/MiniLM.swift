import Foundation

/// Hyper-parameters of a BERT encoder, from the Hugging Face `config.json`.
public struct MiniLMConfig: Sendable, Hashable, Codable {
    public var vocabSize = 30522
    public var hidden = 384
    public var layers = 6
    public var heads = 12
    public var intermediate = 1536
    public var maxPositions = 512
    public var typeVocabSize = 2
    public var layerNormEps: Float = 1e-12

    /// all-MiniLM-L6-v2 (sentence-transformers): 6 layers, d = 384, 12 heads, FFN 1536.
    public static let allMiniLML6v2 = MiniLMConfig()

    public var headDim: Int { hidden / heads }

    public init() {}

    /// Reads `config.json`; only a post-LayerNorm BERT with exact GELU and absolute positions is supported.
    public init(contentsOf url: URL) throws {
        let data: Data, object: Any
        do { data = try Data(contentsOf: url) } catch {
            throw TSRecError(.io(path: url.path, reason: "cannot read model config: \(AtomicFile.systemReason(error))"))
        }
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw TSRecError(.format(path: url.path, line: 0, field: "", reason: "invalid JSON: \(error.localizedDescription)"),
                             hint: "fetch the model again: tsrec model fetch --minilm")
        }
        guard let d = object as? [String: Any] else {
            throw TSRecError(.format(path: url.path, line: 0, field: "", reason: "expected a JSON object"))
        }
        func int(_ key: String) throws -> Int {
            guard let n = d[key] as? NSNumber, let v = Int(exactly: n.doubleValue), v > 0 else {
                throw TSRecError(.format(path: url.path, line: 0, field: key, reason: "missing or not a positive integer"))
            }
            return v
        }
        vocabSize = try int("vocab_size")
        hidden = try int("hidden_size")
        layers = try int("num_hidden_layers")
        heads = try int("num_attention_heads")
        intermediate = try int("intermediate_size")
        maxPositions = try int("max_position_embeddings")
        typeVocabSize = try int("type_vocab_size")
        layerNormEps = (d["layer_norm_eps"] as? NSNumber)?.floatValue ?? 1e-12
        if let act = d["hidden_act"] as? String, act != "gelu" {
            throw TSRecError(.format(path: url.path, line: 0, field: "hidden_act", reason: "'\(act)' unsupported (exact 'gelu' only)"))
        }
        if let pos = d["position_embedding_type"] as? String, pos != "absolute" {
            throw TSRecError(.format(path: url.path, line: 0, field: "position_embedding_type", reason: "'\(pos)' unsupported"))
        }
        guard hidden % heads == 0 else {
            throw TSRecError(.format(path: url.path, line: 0, field: "num_attention_heads", reason: "\(heads) does not divide hidden_size \(hidden)"))
        }
    }
}

/// A BERT sentence encoder for inference (all-MiniLM-L6-v2; Wang et al. 2020, Reimers &
/// Gurevych 2019): the teacher's text embedder.
///
/// Per layer (post-LayerNorm BERT, non-causal attention over the non-padding tokens):
///
///     a = MHA(x) Wo + bo;   x = LN(x + a);   f = GELU(x W1 + b1) W2 + b2;   x = LN(x + f)
///
/// with embeddings x₀ = LN(word[id] + pos[t] + type[0]). The sentence embedding is the mean of
/// the last hidden states over the real tokens, L2-normalised (the model's Pooling + Normalize
/// modules). Runs on the engine's ops with `Tape(recording: false)` plus its own bidirectional
/// attention below (the engine's `attention` is causal). Checked against sentence-transformers
/// in MiniLMTests (cosine > 0.999).
public final class MiniLM {
    public let config: MiniLMConfig
    public let tokenizer: WordPieceTokenizer
    /// Tokens per sequence, [CLS] and [SEP] included (the model's `max_seq_length`).
    public let maxTokens: Int

    let wordEmbeddings: Tensor       // [V, D]
    let positionEmbeddings: Tensor   // [P, D]
    let tokenType0: [Float]          // [D], row 0 of the token-type table
    let embNormW: Tensor, embNormB: Tensor
    let blocks: [Block]

    struct Block {
        let wqkv: Tensor, bqkv: [Float]       // [3D, D], [3D]: query, key, value stacked
        let wo: Tensor, bo: [Float]           // [D, D], [D]
        let norm1W: Tensor, norm1B: Tensor    // [D]
        let w1: Tensor, b1: [Float]           // [F, D], [F]
        let w2: Tensor, b2: [Float]           // [D, F], [D]
        let norm2W: Tensor, norm2B: Tensor    // [D]
    }

    /// The three files of a model.
    public struct Files: Sendable, Hashable {
        public var weights: URL, vocab: URL, config: URL

        public init(weights: URL, vocab: URL, config: URL) { (self.weights, self.vocab, self.config) = (weights, vocab, config) }

        /// A Hugging Face folder: `model.safetensors`, `vocab.txt`, `config.json`.
        public init(directory: URL) {
            self.init(weights: directory.appendingPathComponent("model.safetensors"),
                      vocab: directory.appendingPathComponent("vocab.txt"),
                      config: directory.appendingPathComponent("config.json"))
        }

        /// The project's model store: `<models>/all-MiniLM-L6-v2.{safetensors,vocab.txt,config.json}`.
        public init(store models: URL) {
            self.init(weights: models.appendingPathComponent("all-MiniLM-L6-v2.safetensors"),
                      vocab: models.appendingPathComponent("all-MiniLM-L6-v2.vocab.txt"),
                      config: models.appendingPathComponent("all-MiniLM-L6-v2.config.json"))
        }

        public var exist: Bool { [weights, vocab, config].allSatisfy { FileManager.default.fileExists(atPath: $0.path) } }

        /// `$TSREC_MINILM_DIR` (a Hugging Face folder) if set, else the model store under
        /// `Paths.fromEnvironment().models`; nil when the files are not there.
        public static func locate(_ env: [String: String] = ProcessInfo.processInfo.environment) -> Files? {
            if let dir = env["TSREC_MINILM_DIR"], !dir.isEmpty {
                let f = Files(directory: URL(fileURLWithPath: dir))
                return f.exist ? f : nil
            }
            let f = Files(store: Paths.fromEnvironment(env).models)
            return f.exist ? f : nil
        }
    }

    /// Names the loader ignores: position ids are implicit and the pooler is not used for
    /// mean-pooled sentence embeddings. Any other unused tensor is an error.
    static let ignoredTensors: Set<String> = ["embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"]

    public convenience init(files: Files, maxTokens: Int = 256) throws {
        let config = try MiniLMConfig(contentsOf: files.config)
        let tokenizer = try WordPieceTokenizer(vocabURL: files.vocab)
        let weights = try Safetensors(contentsOf: files.weights)
        try self.init(config: config, tokenizer: tokenizer, weights: weights, maxTokens: maxTokens)
    }

    /// Loads every tensor through one name map, checking shapes; missing or unexpected tensors throw.
    init(config c: MiniLMConfig, tokenizer: WordPieceTokenizer, weights st: Safetensors, maxTokens: Int = 256) throws {
        guard tokenizer.count == c.vocabSize else {
            throw TSRecError(.config(field: "vocab_size", reason: "config says \(c.vocabSize), vocab.txt has \(tokenizer.count) entries"))
        }
        precondition(maxTokens >= 2 && maxTokens <= c.maxPositions, "MiniLM: maxTokens \(maxTokens) outside 2...\(c.maxPositions)")
        self.config = c
        self.tokenizer = tokenizer
        self.maxTokens = maxTokens
        var unused = Set(st.tensors.keys).subtracting(Self.ignoredTensors)
        let D = c.hidden, F = c.intermediate
        func load(_ name: String, _ shape: [Int]) throws -> Tensor {
            unused.remove(name)
            return try st.tensor(name, shape: shape)
        }
        wordEmbeddings = try load("embeddings.word_embeddings.weight", [c.vocabSize, D])
        positionEmbeddings = try load("embeddings.position_embeddings.weight", [c.maxPositions, D])
        tokenType0 = Array(try load("embeddings.token_type_embeddings.weight", [c.typeVocabSize, D]).array.prefix(D))
        embNormW = try load("embeddings.LayerNorm.weight", [D])
        embNormB = try load("embeddings.LayerNorm.bias", [D])
        var blocks: [Block] = []
        for l in 0..<c.layers {
            let p = "encoder.layer.\(l)."
            let wq = try load(p + "attention.self.query.weight", [D, D]), bq = try load(p + "attention.self.query.bias", [D])
            let wk = try load(p + "attention.self.key.weight", [D, D]), bk = try load(p + "attention.self.key.bias", [D])
            let wv = try load(p + "attention.self.value.weight", [D, D]), bv = try load(p + "attention.self.value.bias", [D])
            blocks.append(Block(
                wqkv: Tensor(wq.array + wk.array + wv.array, shape: [3 * D, D]),
                bqkv: bq.array + bk.array + bv.array,
                wo: try load(p + "attention.output.dense.weight", [D, D]),
                bo: try load(p + "attention.output.dense.bias", [D]).array,
                norm1W: try load(p + "attention.output.LayerNorm.weight", [D]),
                norm1B: try load(p + "attention.output.LayerNorm.bias", [D]),
                w1: try load(p + "intermediate.dense.weight", [F, D]),
                b1: try load(p + "intermediate.dense.bias", [F]).array,
                w2: try load(p + "output.dense.weight", [D, F]),
                b2: try load(p + "output.dense.bias", [D]).array,
                norm2W: try load(p + "output.LayerNorm.weight", [D]),
                norm2B: try load(p + "output.LayerNorm.bias", [D])))
        }
        self.blocks = blocks
        guard unused.isEmpty else {
            throw TSRecError(.format(path: st.path, line: 0, field: "", reason: "unexpected tensors: \(unused.sorted().prefix(5))"),
                             hint: "not a BERT encoder checkpoint in the layout MiniLM expects")
        }
    }

    // MARK: - Forward

    /// Last hidden states of a padded batch: `ids` are `B` sequences of at most `maxTokens` ids;
    /// returns `[B·T, D]` with `T` the longest length (rows of padding positions are meaningless).
    func hiddenStates(_ ids: [[Int32]]) -> (states: Tensor, seq: Int) {
        let B = ids.count, T = ids.map(\.count).max() ?? 0, D = config.hidden
        precondition(B > 0 && T > 0 && T <= maxTokens, "hiddenStates: \(B) sequences, longest \(T) (max \(maxTokens))")
        let tape = Tape(recording: false)
        var flat = [Int32](repeating: tokenizer.padId, count: B * T)
        var valid = [Bool](repeating: false, count: B * T)
        for (b, seq) in ids.enumerated() {
            for (t, id) in seq.enumerated() { flat[b * T + t] = id; valid[b * T + t] = true }
        }
        let positions = (0..<(B * T)).map { Int32($0 % T) }
        var x = tape.add(tape.embedding(wordEmbeddings, ids: flat), tape.embedding(positionEmbeddings, ids: positions))
        Self.addRowBias(x, tokenType0)
        x = tape.layerNorm(x, weight: embNormW, bias: embNormB, eps: config.layerNormEps)
        for blk in blocks {
            let qkv = linear(tape, x, blk.wqkv, blk.bqkv)                      // [B·T, 3D]
            let ctx = Tensor(zeros: [B * T, D])
            valid.withUnsafeBufferPointer { v in
                withPointers(ctx, qkv) { ctx, qkv in
                    Self.bidirectionalAttention(out: ctx, qkv: qkv, keyValid: v.baseAddress!,
                                                batch: B, seq: T, heads: config.heads, headDim: config.headDim)
                }
            }
            let a = linear(tape, ctx, blk.wo, blk.bo)
            x = tape.layerNorm(tape.add(x, a), weight: blk.norm1W, bias: blk.norm1B, eps: config.layerNormEps)
            let h = tape.gelu(linear(tape, x, blk.w1, blk.b1))                 // [B·T, F]
            let f = linear(tape, h, blk.w2, blk.b2)
            x = tape.layerNorm(tape.add(x, f), weight: blk.norm2W, bias: blk.norm2B, eps: config.layerNormEps)
        }
        return (x, T)
    }

    /// `x Wᵀ + b`: x [N, in], w [out, in], b [out] → [N, out].
    private func linear(_ tape: Tape, _ x: Tensor, _ w: Tensor, _ b: [Float]) -> Tensor {
        let y = tape.matmul(x, w, transposeB: true)
        Self.addRowBias(y, b)
        return y
    }

    /// y[n, :] += b for every row, in place (inference only: no graph edge).
    static func addRowBias(_ y: Tensor, _ b: [Float]) {
        let n = b.count, rows = y.count / max(n, 1)
        precondition(rows * n == y.count, "addRowBias: \(y.shape) vs [\(n)]")
        b.withUnsafeBufferPointer { bias in
            y.withPointer { p in for r in 0..<rows { let row = p + r * n; for j in 0..<n { row[j] += bias[j] } } }
        }
    }

    /// Non-causal multi-head attention for the encoder:
    ///   out[b, i, h] = Σ_j softmax_j(q_i · k_j / √Dh) v_j over the keys j of sequence b with keyValid,
    /// qkv: [B·T, 3·H·Dh] (query | key | value per row), out: [B·T, H·Dh]. Each (b, h, i) row is
    /// computed by one thread start to finish, so the result does not depend on the split.
    static func bidirectionalAttention(out: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
                                       keyValid: UnsafePointer<Bool>, batch B: Int, seq T: Int, heads H: Int, headDim Dh: Int) {
        let D = H * Dh, ld = 3 * D, scale = 1 / Float(Dh).squareRoot()
        Kernels.parallelChunks(B * H, costPerItem: 4 * T * T * Dh) { range in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: T)
            defer { scores.deallocate() }
            for bh in range {
                let b = bh / H, h = bh % H
                let base = b * T
                for i in 0..<T {
                    let q = qkv + (base + i) * ld + h * Dh
                    var m = -Float.infinity
                    for j in 0..<T where keyValid[base + j] {
                        let s = Kernels.dot(q, qkv + (base + j) * ld + D + h * Dh, Dh) * scale
                        scores[j] = s
                        m = s > m ? s : m
                    }
                    let o = out + (base + i) * D + h * Dh
                    guard m > -Float.infinity else { continue }            // no valid key: output 0
                    var total: Float = 0
                    for j in 0..<T where keyValid[base + j] {
                        let e = Kernels.exp(scores[j] - m)
                        scores[j] = e
                        total += e
                    }
                    let inv = 1 / total
                    for j in 0..<T where keyValid[base + j] {
                        let p = scores[j] * inv, v = qkv + (base + j) * ld + 2 * D + h * Dh
                        for c in 0..<Dh { o[c] += p * v[c] }
                    }
                }
            }
        }
    }

    // MARK: - Sentence embeddings

    /// L2-normalised mean-pooled embeddings `[texts.count][D]`, in input order.
    ///
    /// Texts are tokenized, sorted by length (ties by position, so the batching is a function of
    /// the input and the output is reproducible) and run in batches of at most `tokenBudget`
    /// padded tokens, so short titles are not padded to the longest description.
    public func embed(_ texts: [String], tokenBudget: Int = 4096) -> [[Float]] {
        embed(ids: texts.map { tokenizer.encode($0, maxLength: maxTokens) }, tokenBudget: tokenBudget)
    }

    /// As `embed(_:)`, from token ids (each `[CLS] … [SEP]`, at most `maxTokens`).
    func embed(ids all: [[Int32]], tokenBudget: Int = 4096) -> [[Float]] {
        let D = config.hidden
        var result = [[Float]](repeating: [], count: all.count)
        let order = all.indices.sorted { (all[$0].count, $0) < (all[$1].count, $1) }
        var start = 0
        while start < order.count {
            var end = start + 1      // lengths ascend, so the last one added sets the padded length
            while end < order.count, (end + 1 - start) * all[order[end]].count <= tokenBudget { end += 1 }
            let batch = order[start..<end].map { all[$0] }
            let (h, T) = hiddenStates(batch)
            for (b, item) in order[start..<end].enumerated() {
                var v = [Float](repeating: 0, count: D)
                let n = batch[b].count
                h.withPointer { h in                   // [B·T, D]
                    for t in 0..<n {
                        let row = h + (b * T + t) * D
                        for j in 0..<D { v[j] += row[j] }
                    }
                }
                result[item] = Self.normalized(v.map { $0 / Float(n) })
            }
            start = end
        }
        return result
    }

    /// v / ‖v‖₂ (the zero vector stays zero).
    static func normalized(_ v: [Float]) -> [Float] {
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? v.map { $0 / norm } : v
    }
}
