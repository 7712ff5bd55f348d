/// SASRec (Kang & McAuley, ICDM 2018), following the authors' reference implementation:
///
///     x = E[items]·√d + P[positions];  dropout;  zero the padding rows
///     per block:  Q = LN₁(x);  x = Q + MHA(Q, x, x) (causal, padding keys hidden)
///                 x = LN₂(x);  x = x + FFN(x);  zero the padding rows
///     u = LN_final(x) at the newest position;  score_i = u · E_i  (tied item embeddings)
///
/// FFN = Linear(d, d) → ReLU → dropout → Linear(d, d) → dropout (the paper's point-wise FFN).
/// Settings (paper): 2 blocks, 1 head, dropout 0.5 (its sparse Amazon setting), d = 64 here
/// (the paper's 50, rounded to the other baselines' width), learned absolute positions over the
/// 10 left-padded slots. Differences from the paper, stated: softmax cross-entropy over the whole
/// catalogue instead of binary cross-entropy with one sampled negative (RecBole's default and the
/// stronger choice), loss on the newest position only (each train row is one next-item target),
/// and no dropout inside the attention weights (the engine's attention has none).
public final class SASRec: SequentialRecommender {
    public struct Config: Codable, Sendable, Hashable {
        public var dim = 64
        public var blocks = 2
        public var heads = 1
        public var dropout: Float = 0.5
        public init() {}
    }

    struct Block {
        let ln1: (Tensor, Tensor), ln2: (Tensor, Tensor)
        let q: Linear, k: Linear, v: Linear, o: Linear
        let ff1: Linear, ff2: Linear
        var parameters: [Tensor] {
            [ln1.0, ln1.1, ln2.0, ln2.1] + q.parameters + k.parameters + v.parameters + o.parameters
                + ff1.parameters + ff2.parameters
        }
    }

    public let name = "SASRec"
    public var objective = Objective.softmax
    public let config: Config
    public let itemSIDs: [String]
    let items: Tensor          // [N + 1, d], row 0 = padding
    let positions: Tensor      // [T, d]
    let blocks: [Block]
    let lnFinal: (Tensor, Tensor)
    let catalogueRows: [Int]

    public init(itemSIDs: [String], config: Config = Config(), rng: inout SplitMix64) {
        self.config = config
        self.itemSIDs = itemSIDs
        let d = config.dim
        items = Init.embedding(rows: itemSIDs.count + 1, dim: d, std: 0.02, rng: &rng)
        positions = Init.normal([RecData.maxHistory, d], std: 0.02, rng: &rng)
        func ln() -> (Tensor, Tensor) { (Init.constant([d], 1), Init.constant([d], 0)) }
        blocks = (0..<config.blocks).map { _ in
            Block(ln1: ln(), ln2: ln(), q: Linear(d, d, rng: &rng), k: Linear(d, d, rng: &rng), v: Linear(d, d, rng: &rng),
                  o: Linear(d, d, rng: &rng), ff1: Linear(d, d, rng: &rng), ff2: Linear(d, d, rng: &rng))
        }
        lnFinal = ln()
        catalogueRows = Array(1...itemSIDs.count)
    }

    public var parameters: [Tensor] { [items, positions] + blocks.flatMap(\.parameters) + [lnFinal.0, lnFinal.1] }

    /// The hidden state of every position after the final norm: `[B·T, d]` (the causality test reads all rows).
    func encode(_ batch: HistoryBatch, tape: Tape, training: Bool, rng: inout SplitMix64) -> Tensor {
        let (B, T, d) = (batch.size, batch.length, config.dim)
        let p = training ? config.dropout : 0
        let mask = batch.mask(dim: d)
        let pos = tape.reshape(tape.embedding(positions, ids: (0..<B * T).map { Int32($0 % T) }), [B * T, d])
        var x = tape.add(tape.scale(tape.embedding(items, ids: batch.tokens), by: Float(d).squareRoot()), pos)
        x = tape.mul(tape.dropout(x, p: p, rng: &rng), mask)
        for blk in blocks {
            let q = tape.layerNorm(x, weight: blk.ln1.0, bias: blk.ln1.1, eps: 1e-8)
            let a = tape.attention(q: blk.q(q, tape), k: blk.k(x, tape), v: blk.v(x, tape), batch: B, seq: T,
                                   heads: config.heads, kvHeads: config.heads, keyValid: batch.valid)
            x = tape.add(q, blk.o(a, tape))
            x = tape.layerNorm(x, weight: blk.ln2.0, bias: blk.ln2.1, eps: 1e-8)
            var f = tape.dropout(tape.relu(blk.ff1(x, tape)), p: p, rng: &rng)
            f = tape.dropout(blk.ff2(f, tape), p: p, rng: &rng)
            x = tape.mul(tape.add(x, f), mask)
        }
        return tape.layerNorm(x, weight: lnFinal.0, bias: lnFinal.1, eps: 1e-8)
    }

    public func scores(_ batch: HistoryBatch, tape: Tape, training: Bool, rng: inout SplitMix64) -> Tensor {
        let h = encode(batch, tape: tape, training: training, rng: &rng)
        let user = tape.gatherRows(h, rows: batch.lastRows)                                  // [B, d]
        return tape.matmul(user, tape.gatherRows(items, rows: catalogueRows), transposeB: true)
    }
}
