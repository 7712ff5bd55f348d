/// Caser (Tang & Wang, WSDM 2018): the last L items as an L × d "image", read by
/// horizontal filters (heights 1…L, each spanning the full embedding, ReLU, max-pooled over time:
/// union-level and point-level sequential patterns) and vertical filters (weighted sums of the L
/// rows: skip patterns), then
///
///     z = ReLU(W₁ [o_v ; o_h] + b₁)   (dropout before W₁)
///     u = ReLU(W₂ [z ; P_user] + b₂),  score_i = u · E_i      (tied item embeddings)
///
/// as RecBole's `Caser` builds it (without P_u: u = ReLU(W₂ z + b₂)). Settings (RecBole defaults,
/// close to the paper's): d = 64, n_h = 16 horizontal filters per height, n_v = 4 vertical
/// filters, dropout 0.4, L = 10 (every history here is ≤ 10). Padding steps are zero rows (the embedding output is masked).
/// Differences, stated: softmax cross-entropy over the catalogue (RecBole's CE) instead of the
/// paper's negative sampling; the paper's L2 term on all weights (reg 1e-4 in RecBole, on the
/// convolutions) is not applied (weight decay is the trainer's setting, 0 by default).
/// The user embedding is optional and off by default (see `Config.userEmbedding`); when on, users
/// unseen in train get the zero row 0 of the user table.
public final class Caser: SequentialRecommender {
    public struct Config: Codable, Sendable, Hashable {
        public var dim = 64
        public var horizontalFilters = 16
        public var verticalFilters = 4
        public var dropout: Float = 0.4
        /// Concatenate the user's embedding P_u before the last layer (the paper's model). Off by
        /// default, measured on Industrial (seed 42, quick budget): train users have ≈ 5.2 rows each
        /// and only 60% of test rows come from a train user; with P_u validation HR@10 stalls at
        /// 0.068 after 4 epochs and test HR@10 is 0.072, barely above popularity (0.061); without
        /// it, test HR@10 is 0.098.
        public var userEmbedding = false
        public init() {}
    }

    public let name = "Caser"
    public var objective = Objective.softmax
    public let config: Config
    public let itemSIDs: [String]
    let items: Tensor                 // [N + 1, d], row 0 = padding
    let users: Tensor                 // [U, d], row 0 = unknown user (stays 0: no train row uses it)
    let vertical: Tensor              // [n_v, L]: out_v[b, k, :] = Σ_t vertical[k, t] · E[b, t, :]
    let verticalBias: Tensor          // [n_v]
    let horizontal: [Linear]          // height h: [h·d] → [n_h]
    let fc1: Linear                   // [n_v·d + L·n_h] → [d]
    let fc2: Linear                   // [2d] → [d]
    let catalogueRows: [Int]
    let length = RecData.maxHistory

    public init(itemSIDs: [String], userCount: Int, config: Config = Config(), rng: inout SplitMix64) {
        self.config = config
        self.itemSIDs = itemSIDs
        let (d, L) = (config.dim, RecData.maxHistory)
        items = Init.embedding(rows: itemSIDs.count + 1, dim: d, std: 1 / Float(d), rng: &rng)
        users = Init.embedding(rows: max(userCount, 1), dim: d, std: 1 / Float(d), rng: &rng)
        vertical = Init.uniform([config.verticalFilters, L], bound: 1 / Float(L).squareRoot(), rng: &rng)
        verticalBias = Init.uniform([config.verticalFilters], bound: 1 / Float(L).squareRoot(), rng: &rng)
        horizontal = (1...L).map { h in Linear(h * d, config.horizontalFilters, rng: &rng) }
        fc1 = Linear(config.verticalFilters * d + L * config.horizontalFilters, d, rng: &rng)
        fc2 = Linear(config.userEmbedding ? 2 * d : d, d, rng: &rng)
        catalogueRows = Array(1...itemSIDs.count)
    }

    public var parameters: [Tensor] {
        [items] + (config.userEmbedding ? [users] : []) + [vertical, verticalBias] + horizontal.flatMap(\.parameters)
            + fc1.parameters + fc2.parameters
    }

    public func scores(_ batch: HistoryBatch, tape: Tape, training: Bool, rng: inout SplitMix64) -> Tensor {
        let (B, T, d) = (batch.size, batch.length, config.dim)
        precondition(T == length, "Caser: histories padded to \(T), model built for \(length)")
        let e = tape.reshape(tape.mul(tape.embedding(items, ids: batch.tokens), batch.mask(dim: d)), [B, T, d])
        // Vertical: [B, d, T] · vᵀ → [B·d, n_v] (+ bias), flattened to [B, d·n_v] (no activation, as in RecBole).
        let et = tape.reshape(tape.transposeLastTwo(e), [B * d, T])
        let ov = tape.reshape(tape.addBias(tape.matmul(et, vertical, transposeB: true), verticalBias), [B, d * config.verticalFilters])
        // Horizontal: for each height h, windows [B, T−h+1, h·d] → filters → ReLU → max over time → [B, n_h].
        var features = [ov]
        for (i, conv) in horizontal.enumerated() {
            let h = i + 1
            let w = tape.windows(e, height: h)
            let c = tape.relu(conv(tape.reshape(w, [B * (T - h + 1), h * d]), tape))
            features.append(tape.maxOverTime(tape.reshape(c, [B, T - h + 1, config.horizontalFilters])))
        }
        var x = tape.concatColumns(features)
        if training { x = tape.dropout(x, p: config.dropout, rng: &rng) }
        let z = tape.relu(fc1(x, tape))
        let zu = config.userEmbedding ? tape.concatColumns([z, tape.embedding(users, ids: batch.users)]) : z
        let u = tape.relu(fc2(zu, tape))
        return tape.matmul(u, tape.gatherRows(items, rows: catalogueRows), transposeB: true)
    }
}
