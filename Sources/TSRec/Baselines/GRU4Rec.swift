/// GRU4Rec (Hidasi et al., ICLR 2016), in the form sequential-recommendation toolkits train it
/// (RecBole `GRU4Rec`): item embedding → dropout → one GRU layer → the last hidden state →
/// a dense layer back to embedding size → dot product with every item embedding (tied weights),
/// trained with softmax cross-entropy over the catalogue.
///
/// Settings (RecBole defaults): embedding 64, hidden 128, one layer, dropout 0.3 on the input
/// embeddings. Embeddings are N(0, 0.02²), GRU and dense weights PyTorch's U(±1/√fan-in).
public final class GRU4Rec: SequentialRecommender {
    public struct Config: Codable, Sendable, Hashable {
        public var embedding = 64
        public var hidden = 128
        public var dropout: Float = 0.3
        public init() {}
    }

    public let name = "GRU4Rec"
    public var objective = Objective.softmax
    public let config: Config
    public let itemSIDs: [String]
    /// `[items + 1, E]`, row 0 = padding (never read: padded steps are skipped by the cell).
    let items: Tensor
    let inputProjection: Linear    // x Wᵢᵀ + bᵢ: [E] → [3H], gates r | z | n
    let hiddenProjection: Linear   // h Wₕᵀ + bₕ: [H] → [3H]
    let dense: Linear              // [H] → [E]
    /// Rows 1…N of `items`: the output embedding of every item, in id order.
    let catalogueRows: [Int]

    public init(itemSIDs: [String], config: Config = Config(), rng: inout SplitMix64) {
        self.config = config
        self.itemSIDs = itemSIDs
        let (E, H) = (config.embedding, config.hidden)
        items = Init.embedding(rows: itemSIDs.count + 1, dim: E, std: 0.02, rng: &rng)
        inputProjection = Linear(E, 3 * H, rng: &rng)
        hiddenProjection = Linear(H, 3 * H, rng: &rng)
        dense = Linear(H, E, rng: &rng)
        catalogueRows = Array(1...itemSIDs.count)
    }

    public var parameters: [Tensor] { [items] + inputProjection.parameters + hiddenProjection.parameters + dense.parameters }

    public func scores(_ batch: HistoryBatch, tape: Tape, training: Bool, rng: inout SplitMix64) -> Tensor {
        let (B, T, H) = (batch.size, batch.length, config.hidden)
        var x = tape.embedding(items, ids: batch.tokens)                              // [B·T, E]
        if training { x = tape.dropout(x, p: config.dropout, rng: &rng) }
        let gi = inputProjection(x, tape)                                             // [B·T, 3H]
        var h = Tensor(zeros: [B, H])
        for t in 0..<T {
            let rows = (0..<B).map { $0 * T + t }
            let active = rows.map { batch.valid[$0] }
            guard active.contains(true) else { continue }                            // all padding so far
            h = tape.gruCell(gi: tape.gatherRows(gi, rows: rows), gh: hiddenProjection(h, tape), h: h, active: active)
        }
        let user = dense(h, tape)                                                     // [B, E]
        return tape.matmul(user, tape.gatherRows(items, rows: catalogueRows), transposeB: true)   // [B, N]
    }
}
