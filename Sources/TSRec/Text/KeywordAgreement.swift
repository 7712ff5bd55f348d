import Foundation

/// How well generated token semantics agree with a reference keyword file (on Industrial: our
/// `KeywordTeacher` vs the TS-Rec authors' teacher LLM), per token and on average, next to a
/// chance baseline.
///
/// Per token t with official keywords K (|K| ≈ 20) and ours O:
/// - `exact`   = |{k ∈ K : norm(k) ∈ norm(O)}| / |K|, norm = lower-cased words joined by one space;
/// - `lenient` = |{k ∈ K : words(k) ⊆ ⋃ words(O)}| / |K| (every word of k appears in some keyword of ours);
/// - `lemma`   = as `lenient` with words reduced to their singular (`KeywordTeacher.singular`);
/// - `descriptionCosine` = cos(e(our description), e(official description)) with the sentence encoder.
/// The baseline scores the official entry of t against *our* entry of a random other token of
/// the same level (drawn with `SplitMix64(seed:)`), i.e. the agreement expected by chance.
public enum KeywordAgreement {
    public struct Row: Sendable, Hashable {
        public var token: String
        public var level: String
        public var clusterSize: Int
        public var officialCount: Int
        public var exact: Double, lenient: Double, lemma: Double, descriptionCosine: Double
        public var baselineToken: String
        public var baselineExact: Double, baselineLenient: Double, baselineLemma: Double, baselineDescriptionCosine: Double
    }

    /// Rows for every token present in both files, in the official file's order.
    /// - Parameters:
    ///   - clusterSizes: items per token (0 where unknown), only reported.
    ///   - embed: L2-normalised sentence embeddings, in input order (`MiniLM.embed`).
    public static func compare(ours: [KeywordTeacher.Entry], official: [KeywordTeacher.Entry],
                               clusterSizes: [String: Int] = [:], seed: UInt64 = 42,
                               embed: ([String]) throws -> [[Float]]) throws -> [Row] {
        var byToken: [String: KeywordTeacher.Entry] = [:]
        for e in ours { byToken[e.token] = e }
        let shared = official.filter { byToken[$0.token] != nil }
        guard !shared.isEmpty else {
            throw TSRecError(.config(field: "keywords", reason: "the two keyword sets share no token"),
                             hint: "compare files made for the same dataset and SID index")
        }
        let mine = shared.map { byToken[$0.token]! }
        let vectors = try embed(mine.map(\.description) + shared.map(\.description))
        let n = shared.count
        // Baseline partner: a random other token of the same level.
        var rng = SplitMix64(seed: seed)
        var byLevel: [String: [Int]] = [:]
        for (i, e) in shared.enumerated() { byLevel[level(of: e.token), default: []].append(i) }
        var rows: [Row] = []
        for (i, off) in shared.enumerated() {
            let others = byLevel[level(of: off.token)]!.filter { $0 != i }
            let j = others.isEmpty ? i : others[Int(rng.next() % UInt64(others.count))]
            let (e, l, m) = matches(official: off.keywords, ours: mine[i].keywords)
            let (be, bl, bm) = matches(official: off.keywords, ours: mine[j].keywords)
            rows.append(Row(token: off.token, level: level(of: off.token), clusterSize: clusterSizes[off.token] ?? 0,
                            officialCount: off.keywords.count, exact: e, lenient: l, lemma: m,
                            descriptionCosine: Double(KeywordTeacher.dot(vectors[i], vectors[n + i])),
                            baselineToken: mine[j].token, baselineExact: be, baselineLenient: bl, baselineLemma: bm,
                            baselineDescriptionCosine: Double(KeywordTeacher.dot(vectors[j], vectors[n + i]))))
        }
        return rows
    }

    /// Shares of the official keywords matched (exact, lenient, lemma); zeros for an empty list.
    static func matches(official: [String], ours: [String]) -> (Double, Double, Double) {
        guard !official.isEmpty else { return (0, 0, 0) }
        let ourPhrases = Set(ours.map { words($0).joined(separator: " ") })
        let ourWords = Set(ours.flatMap(words))
        let ourLemmas = Set(ourWords.map(KeywordTeacher.singular))
        var e = 0, l = 0, m = 0
        for k in official {
            let w = words(k)
            guard !w.isEmpty else { continue }
            if ourPhrases.contains(w.joined(separator: " ")) { e += 1 }
            if w.allSatisfy(ourWords.contains) { l += 1 }
            if w.map(KeywordTeacher.singular).allSatisfy(ourLemmas.contains) { m += 1 }
        }
        let c = Double(official.count)
        return (Double(e) / c, Double(l) / c, Double(m) / c)
    }

    /// Lower-cased runs of letters and digits.
    static func words(_ s: String) -> [String] {
        s.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
    }

    /// "a" for `<a_17>`.
    static func level(of token: String) -> String {
        guard token.hasPrefix("<"), let u = token.firstIndex(of: "_") else { return "" }
        return String(token[token.index(after: token.startIndex)..<u])
    }

    /// Mean of each column over `rows`.
    public struct Summary: Sendable, Hashable {
        public var tokens: Int
        public var exact, lenient, lemma, descriptionCosine: Double
        public var baselineExact, baselineLenient, baselineLemma, baselineDescriptionCosine: Double
    }

    public static func summary(_ rows: [Row]) -> Summary {
        let c = Double(max(rows.count, 1))
        func mean(_ f: (Row) -> Double) -> Double { rows.reduce(0) { $0 + f($1) } / c }
        return Summary(tokens: rows.count, exact: mean(\.exact), lenient: mean(\.lenient), lemma: mean(\.lemma),
                       descriptionCosine: mean(\.descriptionCosine), baselineExact: mean(\.baselineExact),
                       baselineLenient: mean(\.baselineLenient), baselineLemma: mean(\.baselineLemma),
                       baselineDescriptionCosine: mean(\.baselineDescriptionCosine))
    }

    /// CSV: one row per token, then summary rows `MEAN` (all tokens) and `MEAN_<level>` per level,
    /// whose `official_keywords` column holds the number of tokens averaged.
    public static func csv(_ rows: [Row]) -> String {
        var lines = ["token,level,cluster_size,official_keywords,exact,lenient,lemma,description_cosine,"
            + "baseline_token,baseline_exact,baseline_lenient,baseline_lemma,baseline_description_cosine"]
        for r in rows {
            lines.append([r.token, r.level, "\(r.clusterSize)", "\(r.officialCount)", f4(r.exact), f4(r.lenient), f4(r.lemma),
                          f4(r.descriptionCosine), r.baselineToken, f4(r.baselineExact), f4(r.baselineLenient),
                          f4(r.baselineLemma), f4(r.baselineDescriptionCosine)].joined(separator: ","))
        }
        var groups: [(String, [Row])] = [("MEAN", rows)]
        for level in Array(Set(rows.map(\.level))).sorted() { groups.append(("MEAN_\(level)", rows.filter { $0.level == level })) }
        for (name, g) in groups {
            let s = summary(g)
            lines.append([name, "", "", "\(s.tokens)", f4(s.exact), f4(s.lenient), f4(s.lemma), f4(s.descriptionCosine), "",
                          f4(s.baselineExact), f4(s.baselineLenient), f4(s.baselineLemma), f4(s.baselineDescriptionCosine)]
                .joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
