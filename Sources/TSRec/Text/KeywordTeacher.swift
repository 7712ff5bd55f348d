import Foundation

/// An offline, deterministic stand-in for the TS-Rec authors' teacher LLM: for every SID token,
/// ~20 keywords and a one-sentence description of the token's cluster (all items whose SID has
/// that token at that level), in the format of `semantics/<Name>.description_keywords.json`.
///
/// Method (ours; the paper's teacher is an LLM prompted with the cluster's items):
/// 1. Terms: lower-cased runs of letters/digits from each item's title and the first
///    `descriptionWords` words of its description. Candidates are unigrams and bigrams of
///    adjacent kept words inside one phrase; punctuation other than `-`, stop words, numbers,
///    measurements (`12v`), model codes (`spp6`) and brand words (`uxcell`: see `brandWords`)
///    end a phrase. Singular and plural forms share one key (`switches` ~ `switch`); the
///    cluster's most frequent form is shown.
/// 2. Class-based TF-IDF (Grootendorst 2022, c-TF-IDF, with per-item presence):
///        p_i(t)   = 1 if t is in item i's title, `descriptionWeight` if only in its description, else 0
///        tf(t, c) = Σ_{i∈c} p_i(t) / |c|,   idf(t) = ln(1 + N / Σ_i p_i(t)),   s(t, c) = tf · idf
///    and the `candidatesPerToken` best candidates found in at least `minSupport` items are kept.
/// 3. Re-ranking: r(t, c) = cos(e(t), ē_c) + `tfidfWeight` · s(t, c) / max_t' s(t', c), with e the
///    sentence embedding of the candidate and ē_c the mean title embedding of the cluster; the
///    top `keywordsPerToken` are the keywords.
/// 4. Description, a fixed template: the cluster size, the `exampleTitles` titles closest to ē_c
///    (first `titleWords` words, cut at the first `,` `(` `|` or ` - `) and the first
///    `descriptionKeywords` keywords.
/// Every sort breaks ties by a string or an index, so the same input gives byte-identical output.
public struct KeywordTeacher {
    public struct Options: Sendable, Hashable, Codable {
        public var keywordsPerToken = 20
        public var candidatesPerToken = 60
        public var descriptionWeight = 0.5
        public var descriptionWords = 80
        /// 0: c-TF-IDF only chooses the candidates and the embedding alone ranks them (best of
        /// 0, 0.25, 0.5, 1 on Industrial, see the agreement report).
        public var tfidfWeight = 0.0
        public var exampleTitles = 3
        public var titleWords = 6
        public var descriptionKeywords = 8
        /// Candidates must occur in at least this many items of the cluster (fewer only to fill
        /// up to `keywordsPerToken`), so one item's wording does not define its family.
        public var minSupport = 2
        /// A word is a brand word, dropped everywhere, when at least this share of the items
        /// whose title has it also have it in their brand.
        public var brandShare = 0.5
        public init() {}
    }

    /// One token's semantics: the record of the keyword file.
    public struct Entry: Sendable, Hashable, Codable {
        public var token: String
        public var keywords: [String]
        public var description: String
        public init(token: String, keywords: [String], description: String) {
            (self.token, self.keywords, self.description) = (token, keywords, description)
        }
    }

    /// A token's cluster: the items (ascending ids) whose SID has `token` at `level` (0-based).
    public struct Cluster: Sendable, Hashable {
        public var token: String
        public var level: Int
        public var items: [Int]
    }

    public var options: Options
    public init(options: Options = Options()) { self.options = options }

    /// Clusters of every token, level by level, each level in order of the token's first item
    /// (the order of the authors' file). `tokens[item]` is the item's SID tokens, one per level.
    public static func clusters(tokens: [[String]]) -> [Cluster] {
        let levels = tokens.map(\.count).max() ?? 0
        var out: [Cluster] = []
        for level in 0..<levels {
            var position: [String: Int] = [:]
            var level_: [Cluster] = []
            for (item, sid) in tokens.enumerated() where level < sid.count {
                let t = sid[level]
                if let p = position[t] { level_[p].items.append(item) } else {
                    position[t] = level_.count
                    level_.append(Cluster(token: t, level: level, items: [item]))
                }
            }
            out += level_
        }
        return out
    }

    /// Keywords and descriptions for every token of `tokens`.
    ///
    /// - Parameters:
    ///   - tokens: `[items][levels]` SID tokens per item.
    ///   - titles, descriptions: `[items]` plain text (descriptions may be empty).
    ///   - embed: a sentence encoder returning L2-normalised vectors in input order
    ///     (`MiniLM.embed`); called twice (titles, then all candidate phrases).
    public func generate(tokens: [[String]], titles: [String], descriptions: [String], brands: [String]? = nil,
                         embed: ([String]) throws -> [[Float]]) rethrows -> [Entry] {
        precondition(tokens.count == titles.count && titles.count == descriptions.count && (brands?.count ?? titles.count) == titles.count,
                     "KeywordTeacher: \(tokens.count) SIDs, \(titles.count) titles, \(descriptions.count) descriptions, \(brands?.count ?? -1) brands")
        let o = options
        let clusters = Self.clusters(tokens: tokens)
        let brandWords = brands.map { Self.brandWords(titles: titles, brands: $0, share: o.brandShare) } ?? []
        // Per item: key -> presence weight, and key -> surface forms seen.
        var presence: [[String: Double]] = []
        var surfaces: [[String: String]] = []
        var df: [String: Double] = [:]
        for i in titles.indices {
            var p: [String: Double] = [:]
            var s: [String: String] = [:]
            for (key, surface) in Self.candidates(Self.phrases(descriptions[i], maxWords: o.descriptionWords, extraStops: brandWords)) {
                p[key] = o.descriptionWeight
                s[key] = s[key] ?? surface
            }
            for (key, surface) in Self.candidates(Self.phrases(titles[i], maxWords: .max, extraStops: brandWords)) {
                p[key] = 1
                s[key] = surface                               // the title's form wins
            }
            for (k, w) in p { df[k, default: 0] += w }
            presence.append(p)
            surfaces.append(s)
        }
        let n = Double(titles.count)

        // c-TF-IDF candidates per cluster.
        var clusterCandidates: [[(key: String, surface: String, score: Double)]] = []
        for c in clusters {
            var tf: [String: Double] = [:]
            var forms: [String: [String: Int]] = [:]
            for i in c.items {
                for (k, w) in presence[i] { tf[k, default: 0] += w }
                for (k, s) in surfaces[i] { forms[k, default: [:]][s, default: 0] += 1 }
            }
            let size = Double(c.items.count)
            var scored = tf.map { k, t in (key: k, surface: Self.mostFrequent(forms[k]!), score: t / size * log(1 + n / df[k]!)) }
            scored.sort { $0.score != $1.score ? $0.score > $1.score : $0.key < $1.key }
            // Supported candidates first; the rest only to fill up to the keyword count.
            let support = { (k: String) in forms[k]!.values.reduce(0, +) }
            var picked = scored.filter { support($0.key) >= o.minSupport }.prefix(o.candidatesPerToken)
            if picked.count < o.keywordsPerToken {
                picked += scored.filter { support($0.key) < o.minSupport }.prefix(o.keywordsPerToken - picked.count)
            }
            clusterCandidates.append(Array(picked))
        }

        // Embeddings: titles once; every distinct candidate phrase once (sorted, so the batching is fixed).
        let titleVectors = try embed(titles)
        let phrases = Array(Set(clusterCandidates.joined().map(\.surface))).sorted()
        let phraseVectors = try embed(phrases)
        var phraseIndex: [String: Int] = [:]
        for (i, p) in phrases.enumerated() { phraseIndex[p] = i }

        var entries: [Entry] = []
        for (c, candidates) in zip(clusters, clusterCandidates) {
            let centroid = Self.meanDirection(c.items.map { titleVectors[$0] })
            let top = candidates.map(\.score).max() ?? 1
            var ranked = candidates.map { cand in
                (surface: cand.surface,
                 score: Double(Self.dot(phraseVectors[phraseIndex[cand.surface]!], centroid)) + o.tfidfWeight * cand.score / max(top, 1e-12))
            }
            ranked.sort { $0.score != $1.score ? $0.score > $1.score : $0.surface < $1.surface }
            var keywords: [String] = []
            for r in ranked where keywords.count < o.keywordsPerToken && !keywords.contains(r.surface) { keywords.append(r.surface) }

            let central = c.items.map { (item: $0, cos: Self.dot(titleVectors[$0], centroid)) }
                .sorted { $0.cos != $1.cos ? $0.cos > $1.cos : $0.item < $1.item }
            var examples: [String] = []
            for x in central where examples.count < o.exampleTitles {
                let short = Self.shortTitle(titles[x.item], words: o.titleWords, drop: brandWords)
                if !short.isEmpty && !examples.contains(short) { examples.append(short) }
            }
            entries.append(Entry(token: c.token, keywords: keywords,
                                 description: Self.describe(size: c.items.count, examples: examples,
                                                            keywords: Array(keywords.prefix(o.descriptionKeywords)))))
        }
        return entries
    }

    // MARK: - Description template

    /// "A group of 14 products such as A, B and C, centred on k1, k2, … and k8."
    static func describe(size: Int, examples: [String], keywords: [String]) -> String {
        var s = size == 1 ? "A single product" : "A group of \(size) products"
        if !examples.isEmpty { s += (size == 1 ? ": " : " such as ") + Self.list(examples) }
        if !keywords.isEmpty { s += ", centred on " + Self.list(keywords) }
        return s + "."
    }

    /// "a", "a and b", "a, b and c".
    static func list(_ xs: [String]) -> String {
        xs.count <= 1 ? (xs.first ?? "") : xs.dropLast().joined(separator: ", ") + " and " + xs.last!
    }

    /// The first `words` words of a title, cut before ` - `, `,`, `(`, `[`, `|` or `;`.
    /// Words whose letters and digits are a brand word, a number, a measurement or a model code
    /// (see `isKept`) are left out, so "Uxcell a1208 5 x Momentary SPST Switch" → "Momentary SPST Switch".
    static func shortTitle(_ title: String, words: Int, drop: Set<String> = []) -> String {
        var head = Substring(title)
        for sep in [" - ", ",", "(", "[", "|", ";"] {
            if let r = head.range(of: sep) { head = head[..<r.lowerBound] }
        }
        let kept = head.split(whereSeparator: { $0.isWhitespace }).filter { w in
            let core = String(String.UnicodeScalarView(w.lowercased().unicodeScalars.filter {
                $0.properties.isAlphabetic || ("0"..."9").contains($0)
            }))
            if core.isEmpty || drop.contains(core) { return false }
            if core.unicodeScalars.count == 1 { return core != "x" && core.unicodeScalars.first!.properties.isAlphabetic }
            return (isKept(core) && !listingFiller.contains(core)) || functionWords.contains(core)
        }
        var out = Array(kept.prefix(words))
        while let last = out.last, stopWords.contains(last.lowercased()) { out.removeLast() }   // no dangling "for"
        return out.joined(separator: " ")
    }

    // MARK: - Terms

    /// Lower-cased phrases of kept words: a phrase ends at punctuation (except `-` and `'`) and
    /// at every word that is not kept (stop words, `extraStops`, numbers, measurements, model codes).
    /// Reads at most `maxWords` words.
    static func phrases(_ text: String, maxWords: Int, extraStops: Set<String> = []) -> [[String]] {
        var out: [[String]] = []
        var phrase: [String] = []
        var word = String.UnicodeScalarView()
        var seen = 0
        func endWord() {
            guard !word.isEmpty else { return }
            let w = String(word)
            word.removeAll()
            seen += 1
            if isKept(w) && !stopWords.contains(w) && !extraStops.contains(w) { phrase.append(w) } else { endPhrase() }
        }
        func endPhrase() { if !phrase.isEmpty { out.append(phrase); phrase.removeAll() } }
        for s in text.lowercased().unicodeScalars {
            if seen >= maxWords { break }
            if s.properties.isAlphabetic || ("0"..."9").contains(s) {
                word.append(s)
            } else if s == "'" || s == "\u{2019}" {
                continue                                  // "men's" -> "mens"
            } else {
                endWord()
                if !(s == " " || s == "-" || s == "\t" || s == "\n") { endPhrase() }
            }
        }
        endWord()
        endPhrase()
        return out
    }

    /// Unigrams and adjacent bigrams of the phrases as (key, surface): the key joins the
    /// singular forms, the surface the words as written. Each key once per text (first surface).
    static func candidates(_ phrases: [[String]]) -> [(key: String, surface: String)] {
        var seen = Set<String>()
        var out: [(key: String, surface: String)] = []
        func add(_ words: ArraySlice<String>) {
            let key = words.map(singular).joined(separator: " ")
            if seen.insert(key).inserted { out.append((key, words.joined(separator: " "))) }
        }
        for p in phrases {
            for i in p.indices {
                add(p[i...i])
                if i + 1 < p.count, p[i] != p[i + 1] { add(p[i...(i + 1)]) }
            }
        }
        return out
    }

    /// Whether a word is a content word: two or more characters, at least one letter, not a
    /// number with a unit (`12v`, `500ml`, `3mm`) and not a model code (a digit in a word of more
    /// than three characters: `spp6`, `dbn18125`; `3d`, `co2`, `n95` stay).
    static func isKept(_ w: String) -> Bool {
        let scalars = w.unicodeScalars
        guard scalars.count >= 2, scalars.contains(where: { $0.properties.isAlphabetic }) else { return false }
        if scalars.count > 3 && scalars.contains(where: { ("0"..."9").contains($0) }) { return false }
        if let first = w.unicodeScalars.first, ("0"..."9").contains(first) {
            let unit = String(w.unicodeScalars.drop(while: { ("0"..."9").contains($0) }))
            if units.contains(unit) { return false }
        }
        return true
    }

    /// A crude English singular for grouping keys: -ies → -y, -sses/-xes/-ches/-shes → drop "es",
    /// -s → drop (not -ss, -us, -is, or words of three letters or fewer).
    static func singular(_ w: String) -> String {
        guard w.count > 3, w.hasSuffix("s") else { return w }
        if w.hasSuffix("ies") && w.count > 4 { return String(w.dropLast(3)) + "y" }
        for suffix in ["sses", "xes", "ches", "shes"] where w.hasSuffix(suffix) { return String(w.dropLast(2)) }
        if w.hasSuffix("ss") || w.hasSuffix("us") || w.hasSuffix("is") { return w }
        return String(w.dropLast())
    }

    /// Words that name brands rather than products: a title word w is one when, of the items
    /// whose title has w, at least `share` also have w in their brand (`uxcell`, `dewalt`).
    static func brandWords(titles: [String], brands: [String], share: Double) -> Set<String> {
        var inTitle: [String: Int] = [:], inBoth: [String: Int] = [:]
        for (title, brand) in zip(titles, brands) {
            let b = Set(phrases(brand, maxWords: .max).joined())
            for w in Set(phrases(title, maxWords: .max).joined()) {
                inTitle[w, default: 0] += 1
                if b.contains(w) { inBoth[w, default: 0] += 1 }
            }
        }
        return Set(inBoth.filter { w, c in Double(c) >= share * Double(inTitle[w]!) }.keys)
    }

    /// The most frequent key of a count table; ties: shorter, then lexicographically first.
    static func mostFrequent(_ counts: [String: Int]) -> String {
        counts.min { a, b in
            a.value != b.value ? a.value > b.value : (a.key.count != b.key.count ? a.key.count < b.key.count : a.key < b.key)
        }!.key
    }

    // MARK: - Vectors

    static func dot(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "dot: \(a.count) vs \(b.count)")
        var s: Float = 0
        for i in a.indices { s += a[i] * b[i] }
        return s
    }

    /// The normalised mean of vectors (zero if they cancel).
    static func meanDirection(_ vs: [[Float]]) -> [Float] {
        guard let d = vs.first?.count else { return [] }
        var m = [Float](repeating: 0, count: d)
        for v in vs { for j in 0..<d { m[j] += v[j] } }
        return MiniLM.normalized(m)
    }

    // MARK: - Word lists

    /// Stop words: English function words plus words of product listings that name no property
    /// of a product family ("pack", "new", "pcs").
    static let stopWords: Set<String> = functionWords.union(listingFiller)

    /// English function words (a standard list).
    static let functionWords: Set<String> = [
        "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as", "at",
        "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did",
        "do", "does", "doing", "down", "during", "each", "either", "etc", "even", "ever", "every", "few", "for",
        "from", "further", "get", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him",
        "himself", "his", "how", "however", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "may",
        "me", "might", "more", "most", "much", "must", "my", "myself", "no", "nor", "not", "now", "of", "off", "on",
        "once", "one", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "per", "same", "shall",
        "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then",
        "there", "these", "they", "this", "those", "through", "thus", "to", "too", "under", "until", "up", "upon",
        "us", "use", "used", "uses", "using", "very", "via", "was", "we", "well", "were", "what", "when", "where",
        "whether", "which", "while", "who", "whom", "why", "will", "with", "within", "without", "would", "yet",
        "you", "your", "yours", "yourself", "yourselves", "two", "three", "four", "five", "six", "ten",
    ]

    /// Words of product listings that name no property of a product family, and bare units.
    static let listingFiller: Set<String> = [
        "pack", "packs", "pcs", "pc", "pk", "pkg", "count", "ct", "qty", "lot", "new", "brand", "item", "items",
        "product", "products", "quality", "high", "great", "best", "amazon", "com", "www", "http", "https",
        "inch", "inches", "ft", "feet", "foot", "mm", "cm", "oz", "lb", "lbs", "ml", "kg", "gallon", "gal", "quart",
        "size", "sizes", "approx", "approximately", "ideal", "perfect", "make", "makes", "made", "easy", "easily",
        "ounce", "ounces", "include", "includes", "included", "including", "seller", "sellers", "color", "colors",
        "ul", "mah", "psi", "awg", "rpm", "vac", "vdc", "gpm", "cfm", "hz", "khz", "mhz", "ghz", "ohm", "mg",
    ]

    /// Units whose number-prefixed forms are measurements, not keywords.
    static let units: Set<String> = [
        "v", "vac", "vdc", "a", "ma", "w", "kw", "hz", "khz", "mhz", "ghz", "mm", "cm", "m", "km", "in", "inch",
        "ft", "mil", "um", "nm", "g", "mg", "kg", "lb", "lbs", "oz", "ml", "l", "gal", "psi", "bar", "pcs", "pc",
        "pk", "pack", "ct", "x", "mah", "rpm", "db", "gpm", "cfm", "awg", "ga", "f", "c", "k", "s", "th", "st", "ul",
        "nd", "rd", "ohm", "kohm", "uf", "pf", "nf", "ah", "mp", "gb", "tb", "mb", "kb", "mw", "cc", "qt",
    ]
}

// MARK: - Keyword file

extension KeywordTeacher {
    /// The entries as the authors' file lays them out (Python `json.dump(indent=2,
    /// sort_keys=True)`: keys sorted, two-space indent, non-ASCII as `\uXXXX`, no final newline).
    public static func json(_ entries: [Entry]) -> String {
        var s = "["
        for (i, e) in entries.enumerated() {
            s += i == 0 ? "\n" : ",\n"
            s += "  {\n    \"description\": \(quoted(e.description)),\n    \"keywords\": "
            if e.keywords.isEmpty { s += "[]" } else {
                s += "[\n" + e.keywords.map { "      " + quoted($0) }.joined(separator: ",\n") + "\n    ]"
            }
            s += ",\n    \"token\": \(quoted(e.token))\n  }"
        }
        return s + (entries.isEmpty ? "]" : "\n]")
    }

    /// Writes `json(entries)` atomically.
    public static func write(_ entries: [Entry], to url: URL) throws {
        try AtomicFile.write(json(entries), to: url)
    }

    /// A JSON string literal with Python's `ensure_ascii` escaping.
    static func quoted(_ text: String) -> String {
        var s = "\""
        for u in text.utf16 {
            switch u {
            case 0x22: s += "\\\""
            case 0x5C: s += "\\\\"
            case 0x0A: s += "\\n"
            case 0x0D: s += "\\r"
            case 0x09: s += "\\t"
            case 0x08: s += "\\b"
            case 0x0C: s += "\\f"
            case 0x20..<0x7F: s.unicodeScalars.append(Unicode.Scalar(u)!)
            default: s += String(format: "\\u%04x", u)
            }
        }
        return s + "\""
    }
}

// MARK: - Datasets

extension KeywordTeacher {
    /// Keywords for every SID token of a loaded dataset (titles and parsed descriptions).
    public func generate(for dataset: Dataset, encoder: MiniLM) -> [Entry] {
        generate(tokens: dataset.index.tokens, titles: dataset.items.map(\.title),
                 descriptions: dataset.items.map(\.descriptionText), brands: dataset.items.map(\.brand)) { encoder.embed($0) }
    }

    /// The entries as the data layer's `Keywords` (what SA-Init and TS-Align read).
    public static func keywords(_ entries: [Entry]) -> Keywords {
        Keywords(entries: entries.map { Keywords.Entry(token: $0.token, keywords: $0.keywords, description: $0.description) })
    }
}

extension KeywordAgreement {
    /// Agreement of `ours` with the dataset's own keyword file (Industrial only); throws when
    /// the dataset has none (Office).
    public static func compare(ours: [KeywordTeacher.Entry], dataset: Dataset, encoder: MiniLM, seed: UInt64 = 42) throws -> [Row] {
        guard let official = dataset.keywords else {
            throw TSRecError(.missing(what: "\(dataset.benchmark.name) keyword file (semantics/*.description_keywords.json)",
                                      path: dataset.directory.path),
                             hint: "only Industrial_and_Scientific ships the authors' keywords; there is nothing to compare with")
        }
        var sizes: [String: Int] = [:]
        for sid in dataset.index.tokens { for t in sid { sizes[t, default: 0] += 1 } }
        return try compare(ours: ours,
                           official: official.entries.map { KeywordTeacher.Entry(token: $0.token, keywords: $0.keywords, description: $0.description) },
                           clusterSizes: sizes, seed: seed) { encoder.embed($0) }
    }
}
