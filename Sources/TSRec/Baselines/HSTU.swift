/// HSTU (Zhai et al., ICML 2024, "Actions Speak Louder than Words"), as its reference code builds
/// the sequential-retrieval model:
///
///     x = E[items]·√d + P[positions];  dropout;  zero the padding rows
///     per layer:  U, V, Q, K = split(SiLU(LN(x) W_uvqk))                  (no bias)
///                 A = SiLU(Q Kᵀ + rab) / T, causal, padding keys hidden   (pointwiseAttention)
///                 x = x + W_o(dropout(LN(A V) ⊙ U)) + b_o
///     u = x at the newest position;  score_i = ⟨u/‖u‖, E_i/‖E_i‖⟩ / τ
///
/// LN here has no affine parameters (as in the reference); the relative bias rab has only its
/// position part (the datasets carry no timestamps). Settings: d = 64, 2 layers, 1 head with
/// attention and linear dims 64, dropout 0.2, temperature τ = 0.05 (the reference's
/// L2-normalised dot product). Difference, stated: softmax over the whole catalogue instead of
/// sampled softmax (the sampled loss approximates it; the catalogue is small enough here).
public final class HSTU: SequentialRecommender {
    public struct Config: Codable, Sendable, Hashable {
        public var dim = 64
        public var layers = 2
        public var heads = 1
        public var dropout: Float = 0.2
        public var temperature: Float = 0.05
        public init() {}
    }

    struct Layer {
        let uvqk: Tensor             // [4d, d]: x Wᵀ → [U | V | Q | K]
        let rab: Tensor              // [2T − 1]
        let o: Linear                // [d] → [d]
        var parameters: [Tensor] { [uvqk, rab] + o.parameters }
    }

    public let name = "HSTU"
    public var objective = Objective.softmax
    public let config: Config
    public let itemSIDs: [String]
    let items: Tensor                // [N + 1, d], row 0 = padding
    let positions: Tensor            // [T, d]
    let layers: [Layer]
    let catalogueRows: [Int]
    /// LayerNorm without affine parameters: weight 1, bias 0, never trained.
    let unitWeight: Tensor, zeroBias: Tensor

    public init(itemSIDs: [String], config: Config = Config(), rng: inout SplitMix64) {
        self.config = config
        self.itemSIDs = itemSIDs
        let (d, T) = (config.dim, RecData.maxHistory)
        items = Init.embedding(rows: itemSIDs.count + 1, dim: d, std: 0.02, rng: &rng)
        positions = Init.normal([T, d], std: 0.02, rng: &rng)
        layers = (0..<config.layers).map { _ in
            Layer(uvqk: Init.normal([4 * d, d], std: 0.02, rng: &rng), rab: Init.constant([2 * T - 1], 0), o: Linear(d, d, rng: &rng))
        }
        catalogueRows = Array(1...itemSIDs.count)
        unitWeight = Tensor([Float](repeating: 1, count: d), shape: [d])
        zeroBias = Tensor(zeros: [d])
    }

    public var parameters: [Tensor] { [items, positions] + layers.flatMap(\.parameters) }

    /// Hidden states of every position `[B·T, d]` (the causality test reads all rows).
    func encode(_ batch: HistoryBatch, tape: Tape, training: Bool, rng: inout SplitMix64) -> Tensor {
        let (B, T, d) = (batch.size, batch.length, config.dim)
        let p = training ? config.dropout : 0
        let mask = batch.mask(dim: d)
        let pos = tape.embedding(positions, ids: (0..<B * T).map { Int32($0 % T) })
        var x = tape.add(tape.scale(tape.embedding(items, ids: batch.tokens), by: Float(d).squareRoot()), pos)
        x = tape.mul(tape.dropout(x, p: p, rng: &rng), mask)
        for layer in layers {
            let normed = tape.layerNorm(x, weight: unitWeight, bias: zeroBias, eps: 1e-6)
            let uvqk = tape.silu(tape.matmul(normed, layer.uvqk, transposeB: true))       // [B·T, 4d]
            let u = tape.sliceColumns(uvqk, start: 0, width: d), v = tape.sliceColumns(uvqk, start: d, width: d)
            let q = tape.sliceColumns(uvqk, start: 2 * d, width: d), k = tape.sliceColumns(uvqk, start: 3 * d, width: d)
            let a = tape.pointwiseAttention(q: q, k: k, v: v, rab: layer.rab, batch: B, seq: T, heads: config.heads,
                                            keyValid: batch.valid)
            let gated = tape.mul(tape.layerNorm(a, weight: unitWeight, bias: zeroBias, eps: 1e-6), u)
            x = tape.mul(tape.add(x, layer.o(tape.dropout(gated, p: p, rng: &rng), tape)), mask)
        }
        return x
    }

    public func scores(_ batch: HistoryBatch, tape: Tape, training: Bool, rng: inout SplitMix64) -> Tensor {
        let h = encode(batch, tape: tape, training: training, rng: &rng)
        let user = tape.l2Normalize(tape.gatherRows(h, rows: batch.lastRows))                      // [B, d]
        let catalogue = tape.l2Normalize(tape.gatherRows(items, rows: catalogueRows))            // [N, d]
        return tape.scale(tape.matmul(user, catalogue, transposeB: true), by: 1 / config.temperature)
    }
}
