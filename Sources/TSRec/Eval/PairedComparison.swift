import Foundation

/// Two methods evaluated on the same test rows, compared row by row.
///
/// A difference of means from one training run says nothing about whether it would survive
/// another test sample. Because both methods rank the same held-out item for the same user,
/// the per-row differences d_i = m_A(i) − m_B(i) carry the comparison:
/// - a paired bootstrap over rows gives a 95% interval for mean(d) (test-sampling noise only:
///   training-seed noise needs several runs, see README "Quick runs");
/// - an exact two-sided sign test on the rows where the methods differ gives a p-value (for
///   HR@K this is McNemar's exact test on the discordant pairs).
public struct PairedComparison: Sendable, Hashable {
    /// One metric's paired summary, A minus B.
    public struct Metric: Sendable, Hashable {
        public var name: String
        public var meanA: Double
        public var meanB: Double
        /// mean(m_A − m_B) over rows.
        public var difference: Double
        /// Percentile bootstrap interval of `difference` (2.5%, 97.5%).
        public var low: Double
        public var high: Double
        /// Rows where A scores higher / lower than B (ties are not counted).
        public var wins: Int
        public var losses: Int
        /// Exact two-sided sign test of wins vs losses under "no difference" (1 when both are 0).
        public var pValue: Double

        /// `difference / meanB` (nil when B's mean is 0).
        public var relativeDifference: Double? { meanB == 0 ? nil : difference / meanB }
    }

    public var rows: Int
    public var metrics: [Metric]

    /// Compares predictions `a` and `b`, which must cover the same rows in the same order (same
    /// user and target in row i), on the metrics named `HR@K`, `NDCG@K`, `HR-a@K`, `HR-ab@K`.
    /// - Parameters:
    ///   - resamples: bootstrap resamples of the rows. At 2,000 the Monte-Carlo error of each
    ///     interval end is about 0.06 of the difference's standard error
    ///     (√(0.025·0.975/2000) / φ(1.96)).
    ///   - seed: the bootstrap's generator; the same inputs and seed give the same interval.
    ///   - source: where `b` was read from, for the error when a row does not match.
    public init(_ a: [Prediction], _ b: [Prediction], metrics names: [String],
                resamples: Int = 2000, seed: UInt64 = 0, source: String = "predictions") throws {
        try self.init(prompts: [a], [b], metrics: names, resamples: resamples, seed: seed, source: source)
    }

    /// The same for runs whose test rows were asked with several prompts, one predictions file
    /// each (`[prompts][rows]`, a side may have one): a row's score on a side is its mean over
    /// that side's files, so the means are the runs' table values (LC-Rec's mean over prompts)
    /// and the interval pairs each row's mean. A row counts as better or worse by its means.
    public init(prompts a: [[Prediction]], _ b: [[Prediction]], metrics names: [String],
                resamples: Int = 2000, seed: UInt64 = 0, source: String = "predictions") throws {
        precondition(!a.isEmpty && !b.isEmpty, "PairedComparison: a side without predictions")
        let n = a[0].count
        // every file of both runs against the reference's first: `source` names the other run's
        // files; a reference file of other rows is named by its test prompt
        let files = b.map { (file: $0, source: source) } + a.indices.dropFirst().map { (file: a[$0], source: "the reference run, test prompt \($0)") }
        for (file, path) in files {
            guard file.count == n, n > 0 else {
                throw TSRecError(.format(path: path, line: 0, field: "rows",
                                         reason: "\(file.count) rows where the reference run has \(n); a paired comparison needs the same rows"),
                                 hint: "compare runs evaluated on the same test split and row limit")
            }
            try Prediction.checkSameRows(file, as: a[0], referenceName: "the reference run", source: path,
                                         hint: "both runs' prediction files must list the test rows in split order")
        }
        precondition(resamples > 0, "PairedComparison: resamples must be positive")
        let scorers = try names.map { name in
            guard let score = Self.scoring(name) else {
                throw TSRecError(.config(field: "metrics", reason: "unknown metric \(name)"), hint: "use HR@K, NDCG@K, HR-a@K or HR-ab@K")
            }
            return score
        }
        // [metric][row]: each row's mean over the side's files
        func rowMeans(_ files: [[Prediction]], _ score: (Prediction) -> Double) -> [Double] {
            (0..<n).map { i in files.reduce(0) { $0 + score($1[i]) } / Double(files.count) }
        }
        let scoresA = scorers.map { rowMeans(a, $0) }, scoresB = scorers.map { rowMeans(b, $0) }
        let diffs = zip(scoresA, scoresB).map { sa, sb in zip(sa, sb).map { $0 - $1 } }         // [metric][row]

        // Bootstrap: each resample draws n rows with replacement, shared by all metrics (their
        // intervals then describe the same resampled test sets).
        var rng = SplitMix64(seed: seed)
        var resampledMeans = [[Double]](repeating: [], count: names.count)                     // [metric][resample]
        var sums = [Double](repeating: 0, count: names.count)
        for _ in 0..<resamples {
            for m in sums.indices { sums[m] = 0 }
            for _ in 0..<n {
                let row = Int(rng.next() % UInt64(n))
                for m in sums.indices { sums[m] += diffs[m][row] }
            }
            for m in sums.indices { resampledMeans[m].append(sums[m] / Double(n)) }
        }

        rows = n
        metrics = names.indices.map { m in
            let d = diffs[m], sorted = resampledMeans[m].sorted()
            let wins = d.filter { $0 > 0 }.count, losses = d.filter { $0 < 0 }.count
            return Metric(name: names[m], meanA: scoresA[m].reduce(0, +) / Double(n), meanB: scoresB[m].reduce(0, +) / Double(n),
                          difference: d.reduce(0, +) / Double(n),
                          low: Self.percentile(sorted, 0.025), high: Self.percentile(sorted, 0.975),
                          wins: wins, losses: losses, pValue: Self.signTestP(wins, losses))
        }
    }

    /// The per-row score of a metric: `HR@K`, `NDCG@K`, or the diagnostics `HR-a@K` / `HR-ab@K`
    /// (1 if one of the top K SIDs starts with the target's level-a token / level-a and -b
    /// tokens: is the coarse part of the item right even when the item is not?).
    static func scoring(_ name: String) -> ((Prediction) -> Double)? {
        let parts = name.uppercased().split(separator: "@")
        guard parts.count == 2, let k = Int(parts[1]), k > 0 else { return nil }
        switch parts[0] {
        case "HR": return { hitRatio(rank: $0.hitRank, k: k) }
        case "NDCG": return { ndcg(rank: $0.hitRank, k: k) }
        case "HR-A": return { prefixHit($0, levels: 1, k: k) }
        case "HR-AB": return { prefixHit($0, levels: 2, k: k) }
        default: return nil
        }
    }

    /// 1 if one of the top `k` ranked SIDs shares its first `levels` tokens with the target.
    static func prefixHit(_ p: Prediction, levels: Int, k: Int) -> Double {
        let target = sidTokens(p.target).prefix(levels)
        return p.ranked.prefix(k).contains { sidTokens($0).prefix(levels).elementsEqual(target) } ? 1 : 0
    }

    /// `<a_12><b_200><c_7>` → `["<a_12", "<b_200", "<c_7"]` (split at each `>`; enough to compare levels).
    static func sidTokens(_ sid: String) -> [Substring] {
        sid.split(separator: ">", omittingEmptySubsequences: true).map { $0 }
    }

    /// Linear-interpolated percentile of sorted values (q in [0, 1]).
    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let x = q * Double(sorted.count - 1)
        let i = Int(x.rounded(.down)), j = min(i + 1, sorted.count - 1)
        return sorted[i] + (x - Double(i)) * (sorted[j] - sorted[i])
    }

    /// Exact two-sided sign test: 2·P(X ≤ min(w, l)) for X ~ Binomial(w + l, 1/2), capped at 1.
    /// Summed in log space (lgamma), exact enough for the few thousand rows of a test split.
    public static func signTestP(_ wins: Int, _ losses: Int) -> Double {
        let n = wins + losses
        guard n > 0 else { return 1 }
        let k = min(wins, losses)
        let logHalfN = Double(n) * log(0.5)
        var tail = 0.0
        for i in 0...k {
            tail += exp(lgamma(Double(n + 1)) - lgamma(Double(i + 1)) - lgamma(Double(n - i + 1)) + logHalfN)
        }
        return min(1, 2 * tail)
    }
}
