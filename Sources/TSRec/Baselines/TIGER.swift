/// TIGER (Rajput et al., NeurIPS 2023, "Recommender Systems with Generative Retrieval"): an
/// encoder-decoder transformer trained from scratch to generate the next item's semantic ID.
///
///     encoder input:  the history's SID tokens, oldest first (≤ 10 items × 3 tokens), left-padded
///     decoder:        [BOS, t₁, t₂] → [t₁, t₂, t₃] (teacher forcing, cross-entropy on 3 positions)
///     inference:      the LLM path's constrained beam search over the catalogue's SIDs (`TIGERScorer`)
///
/// It uses the benchmark's own SIDs (the same index as the LLM path), so the two generative paths
/// differ only in the model. Blocks are pre-LayerNorm (T5-style): x += Attn(LN(x)); x += FFN(LN(x)),
/// decoder blocks add cross-attention between the two; ReLU FFN; learned absolute positions;
/// untied output head.
///
/// Settings: `Config.paper` is the paper's model (4 + 4 layers, d_model 128, 6 heads × 64, MLP
/// 1024, dropout 0.1); it costs ~12 TFLOP per Industrial epoch (~19× the compact model), hours on
/// two cores, so the `quick` profile uses `Config.compact` (2 + 2 layers, d_model 64, 4 heads × 16,
/// MLP 256, dropout 0.1): ~20 s per epoch, 10 minutes for 30 epochs on this 2-core machine.
/// Both: no hashed user-id token (the paper prepends one), AdamW lr 1e-3 instead of Adafactor with
/// inverse-sqrt decay, learned absolute positions instead of T5's relative bias.
public final class TIGER: Recommender {
    public struct Config: Codable, Sendable, Hashable {
        public var dim = 64
        public var heads = 4
        /// Per-head width; heads × headDim need not equal `dim` (the paper: 6 × 64 with d_model 128).
        public var headDim = 16
        public var ffn = 256
        public var encoderLayers = 2
        public var decoderLayers = 2
        public var dropout: Float = 0.1
        public init() {}

        /// The compact model of the `quick` profile (the defaults).
        public static let compact = Config()
        /// The paper's model (Rajput et al. 2023, §4.1).
        public static var paper: Config {
            var c = Config()
            (c.dim, c.heads, c.headDim, c.ffn, c.encoderLayers, c.decoderLayers) = (128, 6, 64, 1024, 4, 4)
            return c
        }
    }

    struct Attention {
        let ln: (Tensor, Tensor)
        let q: Linear, k: Linear, v: Linear, o: Linear
        var parameters: [Tensor] { [ln.0, ln.1] + q.parameters + k.parameters + v.parameters + o.parameters }
    }
    struct FeedForward {
        let ln: (Tensor, Tensor)
        let w1: Linear, w2: Linear
        var parameters: [Tensor] { [ln.0, ln.1] + w1.parameters + w2.parameters }
    }
    struct EncoderLayer { let attn: Attention; let ffn: FeedForward }
    struct DecoderLayer { let attn: Attention; let cross: Attention; let ffn: FeedForward }

    public let name = "TIGER"
    public let config: Config
    public let vocabulary: SIDVocabulary
    let itemSIDs: [String]
    let embeddings: Tensor            // [V, d], shared by encoder and decoder inputs; row 0 = padding
    let encoderPositions: Tensor      // [10·levels, d]
    let decoderPositions: Tensor      // [levels, d]
    let encoder: [EncoderLayer]
    let decoder: [DecoderLayer]
    let encoderNorm: (Tensor, Tensor), decoderNorm: (Tensor, Tensor)
    let head: Linear                  // [d] → [V], no bias

    public init(data: RecData, config: Config = Config(), rng: inout SplitMix64) {
        self.config = config
        vocabulary = SIDVocabulary(codebookSizes: data.codebookSizes, sidCodes: data.sidCodes)
        itemSIDs = data.itemSIDs
        let (d, V, levels) = (config.dim, vocabulary.size, vocabulary.levels)
        embeddings = Init.embedding(rows: V, dim: d, std: 0.02, rng: &rng)
        encoderPositions = Init.normal([RecData.maxHistory * levels, d], std: 0.02, rng: &rng)
        decoderPositions = Init.normal([levels, d], std: 0.02, rng: &rng)
        func ln() -> (Tensor, Tensor) { (Init.constant([d], 1), Init.constant([d], 0)) }
        let inner = config.heads * config.headDim
        func attention() -> Attention {
            Attention(ln: ln(), q: Linear(d, inner, bias: false, rng: &rng), k: Linear(d, inner, bias: false, rng: &rng),
                      v: Linear(d, inner, bias: false, rng: &rng), o: Linear(inner, d, bias: false, rng: &rng))
        }
        func feedForward() -> FeedForward {
            FeedForward(ln: ln(), w1: Linear(d, config.ffn, rng: &rng), w2: Linear(config.ffn, d, rng: &rng))
        }
        encoder = (0..<config.encoderLayers).map { _ in EncoderLayer(attn: attention(), ffn: feedForward()) }
        decoder = (0..<config.decoderLayers).map { _ in DecoderLayer(attn: attention(), cross: attention(), ffn: feedForward()) }
        encoderNorm = ln()
        decoderNorm = ln()
        head = Linear(d, V, bias: false, rng: &rng)
    }

    public var parameters: [Tensor] {
        var all: [Tensor] = [embeddings, encoderPositions, decoderPositions]
        for layer in encoder { all += layer.attn.parameters + layer.ffn.parameters }
        for layer in decoder { all += layer.attn.parameters + layer.cross.parameters + layer.ffn.parameters }
        all += [encoderNorm.0, encoderNorm.1, decoderNorm.0, decoderNorm.1]
        return all + head.parameters
    }

    // MARK: - Encoder

    /// Left-padded encoder input of a batch of prompts (SID token ids): `[B·S]` ids (0 = padding)
    /// and validity, S = 10·levels, so a history's newest item always sits in the last slots.
    func encoderInput(_ prompts: [[Int]]) -> (tokens: [Int32], valid: [Bool], length: Int) {
        let S = RecData.maxHistory * vocabulary.levels
        var tokens = [Int32](repeating: 0, count: prompts.count * S), valid = [Bool](repeating: false, count: prompts.count * S)
        for (b, prompt) in prompts.enumerated() {
            precondition(!prompt.isEmpty && prompt.count <= S, "TIGER: prompt of \(prompt.count) tokens (1...\(S))")
            for (t, id) in prompt.enumerated() {
                tokens[b * S + S - prompt.count + t] = Int32(id)
                valid[b * S + S - prompt.count + t] = true
            }
        }
        return (tokens, valid, S)
    }

    /// Encoder states `[B·S, d]` (bidirectional self-attention over the valid positions).
    func encode(tokens: [Int32], valid: [Bool], batch B: Int, length S: Int, tape: Tape, training: Bool,
                rng: inout SplitMix64) -> Tensor {
        let p = training ? config.dropout : 0
        let pos = tape.embedding(encoderPositions, ids: (0..<B * S).map { Int32($0 % S) })
        var x = tape.dropout(tape.add(tape.embedding(embeddings, ids: tokens), pos), p: p, rng: &rng)
        for layer in encoder {
            let h = tape.layerNorm(x, weight: layer.attn.ln.0, bias: layer.attn.ln.1, eps: 1e-6)
            let a = tape.crossAttention(q: layer.attn.q(h, tape), k: layer.attn.k(h, tape), v: layer.attn.v(h, tape), batch: B,
                                        queryLength: S, keyLength: S, heads: config.heads, keyValid: valid)
            x = tape.add(x, tape.dropout(layer.attn.o(a, tape), p: p, rng: &rng))
            x = tape.add(x, feedForward(layer.ffn, x, tape: tape, p: p, rng: &rng))
        }
        return tape.layerNorm(x, weight: encoderNorm.0, bias: encoderNorm.1, eps: 1e-6)
    }

    func feedForward(_ f: FeedForward, _ x: Tensor, tape: Tape, p: Float, rng: inout SplitMix64) -> Tensor {
        let h = tape.layerNorm(x, weight: f.ln.0, bias: f.ln.1, eps: 1e-6)
        let inner = tape.dropout(tape.relu(f.w1(h, tape)), p: p, rng: &rng)
        return tape.dropout(f.w2(inner, tape), p: p, rng: &rng)
    }

    // MARK: - Decoder

    /// Cross-attention keys and values of every decoder layer for encoder states `memory [B·S, d]`.
    func crossKeysValues(_ memory: Tensor, tape: Tape) -> [(k: Tensor, v: Tensor)] {
        decoder.map { ($0.cross.k(memory, tape), $0.cross.v(memory, tape)) }
    }

    /// Next-token logits `[B·L, V]` for decoder inputs `tokens [B·L]` (BOS first), attending to
    /// `kv` (per layer `[B·S, d]`) under `memoryValid [B·S]`.
    func decode(tokens: [Int32], batch B: Int, length L: Int, kv: [(k: Tensor, v: Tensor)], memoryValid: [Bool],
                memoryLength S: Int, tape: Tape, training: Bool, rng: inout SplitMix64) -> Tensor {
        let p = training ? config.dropout : 0
        let pos = tape.embedding(decoderPositions, ids: (0..<B * L).map { Int32($0 % L) })
        var x = tape.dropout(tape.add(tape.embedding(embeddings, ids: tokens), pos), p: p, rng: &rng)
        for (layer, (k, v)) in zip(decoder, kv) {
            var h = tape.layerNorm(x, weight: layer.attn.ln.0, bias: layer.attn.ln.1, eps: 1e-6)
            let a = tape.crossAttention(q: layer.attn.q(h, tape), k: layer.attn.k(h, tape), v: layer.attn.v(h, tape), batch: B,
                                        queryLength: L, keyLength: L, heads: config.heads, causal: true)
            x = tape.add(x, tape.dropout(layer.attn.o(a, tape), p: p, rng: &rng))
            h = tape.layerNorm(x, weight: layer.cross.ln.0, bias: layer.cross.ln.1, eps: 1e-6)
            let c = tape.crossAttention(q: layer.cross.q(h, tape), k: k, v: v, batch: B, queryLength: L, keyLength: S,
                                        heads: config.heads, keyValid: memoryValid)
            x = tape.add(x, tape.dropout(layer.cross.o(c, tape), p: p, rng: &rng))
            x = tape.add(x, feedForward(layer.ffn, x, tape: tape, p: p, rng: &rng))
        }
        return head(tape.layerNorm(x, weight: decoderNorm.0, bias: decoderNorm.1, eps: 1e-6), tape)
    }

    // MARK: - Recommender

    /// Teacher-forced cross-entropy of the target's SID tokens (mean over the B·levels positions).
    public func loss(_ samples: [RecSample], tape: Tape, training: Bool, rng: inout SplitMix64) throws -> Tensor {
        let B = samples.count, L = vocabulary.levels
        let enc = encoderInput(samples.map { vocabulary.prompt(history: $0.history) })
        let memory = encode(tokens: enc.tokens, valid: enc.valid, batch: B, length: enc.length, tape: tape, training: training, rng: &rng)
        var input: [Int32] = [], targets: [Int32] = []
        for s in samples {
            let sid = vocabulary.tokens(item: s.target)
            input += [Int32(SIDVocabulary.bos)] + sid.dropLast().map { Int32($0) }
            targets += sid.map { Int32($0) }
        }
        let logits = decode(tokens: input, batch: B, length: L, kv: crossKeysValues(memory, tape: tape), memoryValid: enc.valid,
                            memoryLength: enc.length, tape: tape, training: training, rng: &rng)
        return tape.crossEntropy(logits: logits, targets: targets)
    }

    /// Width of the constrained beam search (the LLM path's 20); a search returns at most this many SIDs.
    public var beamWidth = 20

    /// Constrained beam search of width max(k, `beamWidth`) per sample, mapped back to SID strings.
    public func recommend(_ samples: [RecSample], k: Int) throws -> [[String]] {
        try recommend(samples, k: k, beamWidth: beamWidth)
    }

    public func recommend(_ samples: [RecSample], k: Int, beamWidth: Int) throws -> [[String]] {
        var scorer = TIGERScorer(model: self)
        return try samples.map { s in
            let beams = try beamSearch(&scorer, trie: vocabulary.trie, prompt: vocabulary.prompt(history: s.history),
                                       width: max(k, beamWidth))
            return beams.prefix(k).map { vocabulary.sidString($0.tokens) }
        }
    }
}

/// TIGER's token space: 0 = padding, 1 = BOS, then each level's codes in their own range
/// (level l, code c → 2 + Σ_{l' < l} size_{l'} + c), so one table embeds all levels and the
/// decoder's output layer scores every level's tokens. The trie holds every item's SID tokens.
public struct SIDVocabulary: Sendable {
    public static let padding = 0, bos = 1
    public let codebookSizes: [Int]
    public let offsets: [Int]
    public let size: Int
    public let trie: PrefixTrie
    let sidCodes: [[Int]]

    public var levels: Int { codebookSizes.count }

    public init(codebookSizes: [Int], sidCodes: [[Int]]) {
        self.codebookSizes = codebookSizes
        var offsets: [Int] = [], next = 2
        for s in codebookSizes { offsets.append(next); next += s }
        (self.offsets, self.size, self.sidCodes) = (offsets, next, sidCodes)
        trie = PrefixTrie(sequences: sidCodes.map { codes in codes.enumerated().map { offsets[$0.offset] + $0.element } })
    }

    /// The token ids of an item's SID, one per level.
    public func tokens(item: Int) -> [Int] { sidCodes[item].enumerated().map { offsets[$0.offset] + $0.element } }

    /// The encoder prompt of a history: its items' SID tokens, oldest first.
    public func prompt(history: [Int]) -> [Int] { history.suffix(RecData.maxHistory).flatMap(tokens(item:)) }

    /// Token ids back to the SID string (`<a_i><b_j><c_k>`).
    public func sidString(_ tokens: [Int]) -> String {
        RecData.sidString(tokens.enumerated().map { $0.element - offsets[$0.offset] })
    }
}
