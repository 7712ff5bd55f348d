import Foundation
import Testing
@testable import TSRec

/// The offline keyword teacher: term extraction, c-TF-IDF and the embedding re-rank on hand-worked
/// clusters (with stub encoders), the keyword-file format against Python's `json.dumps`, the
/// agreement metrics, and a small real-MiniLM run (skipped without the model files).
@Suite struct KeywordTeacherTests {
    /// Four items, two levels: a_1 = {0, 1}, a_0 = {2, 3}, b_5 = {0, 2}, b_3 = {1, 3}.
    static let tokens = [["<a_1>", "<b_5>"], ["<a_1>", "<b_3>"], ["<a_0>", "<b_5>"], ["<a_0>", "<b_3>"]]
    static let titles = ["red widget", "red gadget", "blue widget", "blue gizmo"]
    static let descriptions = ["", "", "It is red.", ""]

    static func options(tfidfWeight: Double) -> KeywordTeacher.Options {
        var o = KeywordTeacher.Options()
        o.descriptionWeight = 0.5
        o.tfidfWeight = tfidfWeight
        return o
    }

    @Test func clustersFollowLevelThenFirstAppearance() {
        let c = KeywordTeacher.clusters(tokens: Self.tokens)
        #expect(c.map(\.token) == ["<a_1>", "<a_0>", "<b_5>", "<b_3>"])
        #expect(c.map(\.items) == [[0, 1], [2, 3], [0, 2], [1, 3]])
        #expect(c.map(\.level) == [0, 0, 1, 1])
    }

    @Test func phrasesAndCandidates() {
        let p = KeywordTeacher.phrases("SUPCO SPP6 Relay/Capacitor Hard Start Kit with 500% Increase Starting Torque, 12V men's", maxWords: .max)
        // "/" "%" "," end a phrase, and so do the stop word "with", the model code "spp6", the number
        // "500" and the measurement "12v"; "men's" → "mens"; "3d" stays.
        #expect(p == [["supco"], ["relay"], ["capacitor", "hard", "start", "kit"], ["increase", "starting", "torque"], ["mens"]])
        #expect(KeywordTeacher.phrases("3D printer filament", maxWords: .max, extraStops: ["printer"]) == [["3d"], ["filament"]])
        #expect(KeywordTeacher.phrases("one two three four five six", maxWords: 4) == [])    // all stop words
        #expect(KeywordTeacher.phrases("alpha beta gamma delta", maxWords: 2) == [["alpha", "beta"]])
        let c = KeywordTeacher.candidates([["nitrile", "gloves"], ["glove"]])
        #expect(c.map(\.key) == ["nitrile", "nitrile glove", "glove"])
        #expect(c.map(\.surface) == ["nitrile", "nitrile gloves", "gloves"])   // first surface per key
        for (w, s) in [("switches", "switch"), ("batteries", "battery"), ("glass", "glass"), ("boxes", "box"),
                       ("gloves", "glove"), ("bus", "bus"), ("axis", "axis"), ("gas", "gas"), ("tools", "tool")] {
            #expect(KeywordTeacher.singular(w) == s)
        }
    }

    /// c-TF-IDF by hand (N = 4, description weight 0.5, constant embeddings so only s(t, c) ranks):
    /// df: red 2.5, widget 2, blue 2, gadget/gizmo/bigrams 1.
    /// a_1: red 1·ln(1+4/2.5) = 0.956; gadget, "red gadget", "red widget" ½·ln 5 = 0.805; widget ½·ln 3 = 0.549.
    /// a_0: blue ln 3 = 1.099; gizmo, "blue gizmo", "blue widget" 0.805; widget 0.549; red ¼·ln 2.6 = 0.239.
    @Test func classTFIDFRanksByHand() {
        let teacher = KeywordTeacher(options: Self.options(tfidfWeight: 1))
        let entries = teacher.generate(tokens: Self.tokens, titles: Self.titles, descriptions: Self.descriptions) { $0.map { _ in [1, 0] } }
        #expect(entries.map(\.token) == ["<a_1>", "<a_0>", "<b_5>", "<b_3>"])
        #expect(entries[0].keywords == ["red", "gadget", "red gadget", "red widget", "widget"])
        #expect(entries[1].keywords == ["blue", "blue gizmo", "blue widget", "gizmo", "widget", "red"])
        #expect(entries[0].description
            == "A group of 2 products such as red widget and red gadget, centred on red, gadget, red gadget, red widget and widget.")
        var few = Self.options(tfidfWeight: 1)
        few.keywordsPerToken = 2
        few.exampleTitles = 1
        let short = KeywordTeacher(options: few).generate(tokens: Self.tokens, titles: Self.titles, descriptions: Self.descriptions) { $0.map { _ in [1, 0] } }
        #expect(short[1].keywords == ["blue", "blue gizmo"])
        #expect(short[1].description == "A group of 2 products such as blue widget, centred on blue and blue gizmo.")
    }

    @Test func shortTitles() {
        #expect(KeywordTeacher.shortTitle("Uxcell a12081400ux0277 5 x Momentary SPST Push Button Switch, Red", words: 6, drop: ["uxcell"])
            == "Momentary SPST Push Button Switch")
        #expect(KeywordTeacher.shortTitle("DEWALT DBN18125 Heavy Duty 18 Gauge Brad Nails - 1-1/4 in", words: 4, drop: ["dewalt"])
            == "Heavy Duty Gauge Brad")
        #expect(KeywordTeacher.shortTitle("Glass Pasteur Pipettes (9 inch) for Labs", words: 6) == "Glass Pasteur Pipettes")
        #expect(KeywordTeacher.shortTitle("Cobalt Drill Bit Set for Stainless Steel", words: 5) == "Cobalt Drill Bit Set")
    }

    @Test func minimumSupportAndBrandWords() {
        // Cluster a_1 = items 0-2; six "Acme clamp" items in a_2 make "clamp" common (N = 9).
        let tokens = [["<a_1>"], ["<a_1>"], ["<a_1>"]] + Array(repeating: ["<a_2>"], count: 6)
        let titles = ["Acme zorbix clamp", "Acme bar clamp", "Bessey bar clamp"] + Array(repeating: "Acme clamp", count: 6)
        let brands = ["ACME", "Acme Tools", "Bessey"] + Array(repeating: "acme", count: 6)
        let none = Array(repeating: "", count: 9)
        var o = Self.options(tfidfWeight: 1)
        o.keywordsPerToken = 3
        let stub: ([String]) -> [[Float]] = { $0.map { _ in [1, 0] } }
        // "acme": 8 of 8 titles with it have it in the brand; "bessey": 1 of 1.
        #expect(KeywordTeacher.brandWords(titles: titles, brands: brands, share: 0.5) == ["acme", "bessey"])
        // s(t, a_1): bar, "bar clamp" ⅔·ln 5.5 = 1.137; zorbix, "zorbix clamp" ⅓·ln 10 = 0.768 (one item);
        // clamp 1·ln 2 = 0.693. With minSupport 2 the one-item "zorbix" is not a candidate.
        let e = KeywordTeacher(options: o).generate(tokens: tokens, titles: titles, descriptions: none, brands: brands, embed: stub)
        #expect(e[0].keywords == ["bar", "bar clamp", "clamp"])
        o.minSupport = 1
        let loose = KeywordTeacher(options: o).generate(tokens: tokens, titles: titles, descriptions: none, brands: brands, embed: stub)
        #expect(loose[0].keywords == ["bar", "bar clamp", "zorbix"])
        let noBrands = KeywordTeacher(options: o).generate(tokens: tokens, titles: titles, descriptions: none, embed: stub)
        #expect(noBrands[0].keywords.contains { $0.contains("acme") })
    }

    /// Stub encoder: text with "blue" → (1, 0), "widget" → (0.8, 0.6), "gizmo" → (0.6, 0.8), else (0, 1).
    /// In a_0 both titles contain "blue", so the centroid is (1, 0) and cos = 1, .8, .6, 0.
    static func stub(_ texts: [String]) -> [[Float]] {
        texts.map { t in t.contains("blue") ? [1, 0] : t.contains("widget") ? [0.8, 0.6] : t.contains("gizmo") ? [0.6, 0.8] : [0, 1] }
    }

    @Test func embeddingReRankAndBlend() {
        // Cosine only: widget (.8) now beats gizmo (.6), red (0) stays last.
        let cosOnly = KeywordTeacher(options: Self.options(tfidfWeight: 0))
            .generate(tokens: Self.tokens, titles: Self.titles, descriptions: Self.descriptions, embed: Self.stub)
        #expect(cosOnly[1].keywords == ["blue", "blue gizmo", "blue widget", "widget", "gizmo", "red"])
        // Blend with weight 1: widget .8 + .549/1.099 = 1.300 < gizmo .6 + .805/1.099 = 1.332.
        let blend = KeywordTeacher(options: Self.options(tfidfWeight: 1))
            .generate(tokens: Self.tokens, titles: Self.titles, descriptions: Self.descriptions, embed: Self.stub)
        #expect(blend[1].keywords == ["blue", "blue gizmo", "blue widget", "gizmo", "widget", "red"])
    }

    @Test func keywordFileMatchesPythonJSONDump() throws {
        let entries = [KeywordTeacher.Entry(token: "<a_1>", keywords: ["x", "café"], description: "say \"hi\"\n\u{e9}😀\u{7f}\\ /"),
                       KeywordTeacher.Entry(token: "<b_2>", keywords: [], description: "")]
        // python3 -c 'import json; print(json.dumps([...], indent=2, sort_keys=True))'
        let python = #"""
        [
          {
            "description": "say \"hi\"\n\u00e9\ud83d\ude00\u007f\\ /",
            "keywords": [
              "x",
              "caf\u00e9"
            ],
            "token": "<a_1>"
          },
          {
            "description": "",
            "keywords": [],
            "token": "<b_2>"
          }
        ]
        """#
        #expect(KeywordTeacher.json(entries) == python)
        #expect(KeywordTeacher.json([]) == "[]")
        let back = try JSONDecoder().decode([KeywordTeacher.Entry].self, from: Data(KeywordTeacher.json(entries).utf8))
        #expect(back == entries)
    }

    @Test func agreementMetrics() throws {
        let m = KeywordAgreement.matches(official: ["Electrical Components", "switches", "voltage ratings", "relay"],
                                         ours: ["switches", "electrical", "components", "voltage rating", "relays"])
        #expect(m.0 == 0.25)          // only "switches" verbatim
        #expect(m.1 == 0.5)           // + "electrical components" (both words present)
        #expect(m.2 == 1.0)           // + "voltage ratings", "relay" via singulars
        let official = [KeywordTeacher.Entry(token: "<a_1>", keywords: ["red", "widget"], description: "red things"),
                        KeywordTeacher.Entry(token: "<a_2>", keywords: ["blue"], description: "blue things"),
                        KeywordTeacher.Entry(token: "<b_1>", keywords: ["gizmo"], description: "gadgets"),
                        KeywordTeacher.Entry(token: "<b_9>", keywords: ["none"], description: "absent from ours")]
        let ours = Array(official.prefix(3)) + [KeywordTeacher.Entry(token: "<b_2>", keywords: ["red"], description: "x")]
        let rows = try KeywordAgreement.compare(ours: ours, official: official, clusterSizes: ["<a_1>": 7], embed: Self.stub)
        #expect(rows.map(\.token) == ["<a_1>", "<a_2>", "<b_1>"])
        #expect(rows.allSatisfy { $0.exact == 1 && $0.lenient == 1 && $0.descriptionCosine == 1 })
        #expect(rows[0].baselineToken == "<a_2>" && rows[1].baselineToken == "<a_1>")   // the only other a-token
        #expect(rows[0].baselineExact == 0 && rows[1].baselineExact == 0)
        #expect(rows[2].baselineToken == "<b_1>")                                         // no other shared b-token
        #expect(rows[0].clusterSize == 7 && rows[0].officialCount == 2)
        let csv = KeywordAgreement.csv(rows).split(separator: "\n")
        #expect(csv.count == 1 + 3 + 3)                                                    // header, rows, MEAN, MEAN_a, MEAN_b
        #expect(csv[4].hasPrefix("MEAN,,,3,1.0000,1.0000,1.0000,1.0000,,0.3333,"))
        #expect(throws: TSRecError.self) { try KeywordAgreement.compare(ours: [], official: official, embed: Self.stub) }
    }

    /// Three obvious product families through the real encoder: each cluster's top keywords name
    /// its family, and a second run is byte-identical.
    @Test func realEncoderFindsFamilyWords() throws {
        guard let files = MiniLM.Files.locate() else {
            print("KeywordTeacherTests: MiniLM files not found (set TSREC_MINILM_DIR); skipping the real-encoder check")
            return
        }
        let model = try MiniLM(files: files)
        let titles = ["Nitrile Exam Gloves Powder Free Large", "Disposable Nitrile Gloves, Blue, Medium",
                      "Latex Free Nitrile Gloves 100 Count", "Cobalt Drill Bit Set for Stainless Steel",
                      "Titanium Drill Bit Set 29 Piece", "Step Drill Bit High Speed Steel",
                      "Plastic Transfer Pipettes 3 ml Graduated", "Glass Pasteur Pipettes 9 inch",
                      "Adjustable Volume Micro Pipette 100-1000 uL"]
        let descriptions = ["Ambidextrous exam gloves for medical use.", "", "Textured fingertips for grip.",
                            "Drills hardened steel.", "", "Cuts holes in sheet metal.", "", "Borosilicate glass.", ""]
        let tokens = (0..<9).map { ["<a_\($0 / 3)>", "<b_\($0 % 3)>"] }
        let teacher = KeywordTeacher()
        let run = { teacher.generate(tokens: tokens, titles: titles, descriptions: descriptions) { model.embed($0) } }
        let entries = run()
        for (e, family) in zip(entries.prefix(3), ["glove", "drill", "pipette"]) {
            print("KeywordTeacherTests: \(e.token) \(e.keywords.prefix(5)) | \(e.description)")
            #expect(e.keywords.prefix(3).contains { $0.contains(family) }, "\(e.token): \(e.keywords)")
            let others = ["glove", "drill", "pipette"].filter { $0 != family }
            #expect(!e.keywords.contains { k in others.contains { k.contains($0) } }, "\(e.token): \(e.keywords)")
        }
        #expect(KeywordTeacher.json(run()) == KeywordTeacher.json(entries))
    }
}

/// The full Industrial run (not a unit test: about a minute). Runs only with
/// `TSREC_TEACHER_AGREEMENT_OUT=<dir>`; writes `<dir>/Industrial_and_Scientific.teacher_keywords.json`
/// and `<dir>/Industrial_and_Scientific.agreement.csv`, and prints the summary and timings.
@Suite struct KeywordTeacherIndustrialRun {
    @Test func industrialAgreement() throws {
        guard let out = ProcessInfo.processInfo.environment["TSREC_TEACHER_AGREEMENT_OUT"], !out.isEmpty else { return }
        guard let files = MiniLM.Files.locate() else { Issue.record("MiniLM files not found"); return }
        guard let root = DataTestSupport.unpackedMirror else { Issue.record("\(DataTestSupport.mirrorMissingMessage)"); return }
        let dataset = try Dataset.load(Benchmark.named("Industrial_and_Scientific")!, from: root.appendingPathComponent("Industrial_and_Scientific"))
        let model = try MiniLM(files: files)
        let clock = ContinuousClock()
        var titleVectors: [[Float]] = []
        let titleTime = clock.measure { titleVectors = model.embed(dataset.items.map(\.title)) }
        print("industrial: embedded \(titleVectors.count) titles in \(titleTime)")
        var entries: [KeywordTeacher.Entry] = []
        let teacherTime = clock.measure { entries = KeywordTeacher().generate(for: dataset, encoder: model) }
        print("industrial: teacher made \(entries.count) entries in \(teacherTime)")
        let dir = URL(fileURLWithPath: out)
        try KeywordTeacher.write(entries, to: dir.appendingPathComponent("Industrial_and_Scientific.teacher_keywords.json"))
        let rows = try KeywordAgreement.compare(ours: entries, dataset: dataset, encoder: model)
        let csv = KeywordAgreement.csv(rows)
        try AtomicFile.write(csv, to: dir.appendingPathComponent("Industrial_and_Scientific.agreement.csv"))
        print(csv.split(separator: "\n").filter { $0.hasPrefix("MEAN") || $0.hasPrefix("token,") }.joined(separator: "\n"))
    }
}
