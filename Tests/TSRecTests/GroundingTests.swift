import Foundation
import Testing
@testable import TSRec

/// BIGRec's grounding (issue #19): an exact title ranks its item first, padding does not leak
/// into the embeddings, and the normalisation strips what BIGRec strips.
@Suite struct GroundingTests {
    /// 12 titles of 1–6 tokens; title 7 repeats title 2, title 9 is empty.
    static func titles() -> [[Int32]] {
        var rng = SplitMix64(seed: 21)
        var t = (0..<12).map { _ in (0..<(1 + Int(rng.next() % 6))).map { _ in Int32(rng.next() % UInt64(LlamaConfig.tiny.vocabSize)) } }
        t[7] = t[2]
        t[9] = []
        return t
    }

    @Test func anExactTitleRanksItsItemFirst() throws {
        let model = try LlamaFixtures.tinyModel()
        let titles = Self.titles()
        let grounding = TitleGrounding(model: model, titles: titles, batch: 5)
        #expect(grounding.itemCount == 12)
        for (i, t) in titles.enumerated() where !t.isEmpty {
            let query = TitleGrounding.embed(model: model, [t])
            let ranked = grounding.rank(query)
            #expect(ranked.count == 12 && Set(ranked).count == 12)
            // a repeated title ties at distance 0: the lower item index first
            let expected = titles.firstIndex(of: t)!
            #expect(ranked[0] == expected, "title \(i): first \(ranked[0]), expected \(expected)")
        }
    }

    /// Each title's embedding is the last hidden state of its own forward pass: batching with
    /// right padding changes nothing.
    @Test func embeddingsDoNotDependOnBatching() throws {
        let model = try LlamaFixtures.tinyModel()
        let titles = Self.titles()
        let batched = TitleGrounding(model: model, titles: titles, batch: 12).embeddings
        let single = TitleGrounding(model: model, titles: titles, batch: 1).embeddings
        #expect(maxAbsDiff(batched, single) < 1e-5)
        // and the last row of a plain forward pass
        let t = titles[4], tape = Tape(recording: false)
        let h = model.forward(tape: tape, tokens: t, batch: 1, seq: t.count).array
        let D = model.config.dim
        #expect(maxAbsDiff(Array(h[((t.count - 1) * D)...]), Array(single[(4 * D)..<(5 * D)])) < 1e-5)
    }

    @Test func rankIsByDistanceThenIndex() throws {
        let model = try LlamaFixtures.tinyModel()
        let g = TitleGrounding(model: model, titles: Self.titles())
        var rng = SplitMix64(seed: 3)
        let q = (0..<g.dim).map { _ in Float(rng.next() % 1000) / 500 - 1 }
        let ranked = g.rank(q)
        func d(_ i: Int) -> Float { (0..<g.dim).reduce(0) { $0 + pow(g.embeddings[i * g.dim + $1] - q[$1], 2) } }
        for (a, b) in zip(ranked, ranked.dropFirst()) { #expect(d(a) < d(b) || (d(a) == d(b) && a < b)) }
    }

    /// Titles: spaces, then quotes, at both ends; generated text: quotes only (BIGRec's two strips).
    @Test func normalisationIsBIGRecs() {
        #expect(TitleGrounding.normaliseTitle(" \"Digital Caliper 6\"\" ") == "Digital Caliper 6")
        #expect(TitleGrounding.normaliseTitle("\" Caliper \"") == " Caliper ")       // quotes stripped after spaces
        #expect(TitleGrounding.normaliseTitle("Tape \"Pro\" Roll") == "Tape \"Pro\" Roll")
        #expect(TitleGrounding.normaliseGenerated(" \"Caliper\"") == " \"Caliper")
        #expect(TitleGrounding.normaliseGenerated("\"\"") == "")
    }
}
