import ArgumentParser
import Foundation
import TSRec

/// `tsrec teacher`: tsrec's offline keyword teacher for one dataset, and (when the dataset ships
/// the authors' keywords) how well the two agree, as a CSV.
struct Teacher: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate per-SID-token keywords and descriptions with tsrec's teacher; compare with the authors' file.")

    @Option(help: "Dataset (Industrial_and_Scientific or Office_Products, or an alias).")
    var dataset = "Industrial_and_Scientific"
    @Option(help: "Seed of the agreement baseline (our keywords of a random other token of the same level).")
    var seed: UInt64 = 42

    func run() throws {
        guard let benchmark = Benchmark.named(dataset) else { throw ValidationError("unknown dataset '\(dataset)'") }
        let paths = Paths.fromEnvironment()
        let data = try Dataset.load(benchmark, paths: paths)
        let entries = try TeacherKeywords.entries(for: data, paths: paths)
        print("keywords: \(TeacherKeywords.url(for: data, options: .init(), paths: paths).path)")
        guard data.keywords != nil else {
            print("agreement: \(benchmark.name) ships no keyword file of the authors; nothing to compare with")
            return
        }
        let encoder = try MiniLM(files: MiniLM.Files(store: paths.models))
        let rows = try KeywordAgreement.compare(ours: entries, dataset: data, encoder: encoder, seed: seed)
        let csv = paths.results.appendingPathComponent("teacher").appendingPathComponent("\(benchmark.name).agreement.csv")
        try AtomicFile.write(KeywordAgreement.csv(rows), to: csv)
        let s = KeywordAgreement.summary(rows)
        print("agreement: \(csv.path) (\(s.tokens) tokens; baseline = our keywords of a random other token of the same level)")
        print(String(format: "  official keywords recovered, exact   %.3f  (baseline %.3f)", s.exact, s.baselineExact))
        print(String(format: "  official keywords recovered, lenient %.3f  (baseline %.3f)", s.lenient, s.baselineLenient))
        print(String(format: "  official keywords recovered, lemma   %.3f  (baseline %.3f)", s.lemma, s.baselineLemma))
        print(String(format: "  description cosine (MiniLM)          %.3f  (baseline %.3f)", s.descriptionCosine, s.baselineDescriptionCosine))
    }
}
