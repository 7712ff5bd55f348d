// Reproductions/baselines/main.swift — the traditional and generative baselines of the paper's
// Table 2 (GRU4Rec, Caser, SASRec, HSTU, TIGER) plus a popularity floor, trained with tsrec's own
// engine on the same splits and scored with the same metrics as the LLM path.
// Writes results/baselines.csv, results/baselines_vs_reported.{csv,md} and per-method predictions.
import Foundation
import TSRec

let run = try RunContext(CommandLine.arguments, name: "baselines")
for (k, v) in run.metadata { say("\(k): \(v)") }      // the run header: profile, seed, commit, BLAS
let seed = run.seed ?? 42
let budget = BaselineBudget.of(run.profile)
let methods = ProcessInfo.processInfo.environment["BASELINES"].map {
    $0.split(separator: ",").compactMap { BaselineMethod(rawValue: String($0)) }
} ?? BaselineMethod.allCases
say("methods: \(methods.map(\.rawValue).joined(separator: ", ")); budget: \(budget)")

// MARK: - Data: every benchmark with a train split (Office's is not available offline)
var datasets: [RecData] = []
for benchmark in Benchmark.all where run.datasets?.contains(benchmark.name) ?? true {
    do {
        let data = try RecData(try Dataset.load(benchmark, paths: run.paths))
        say("\(data.name): \(data.itemCount) items, train/valid/test \(data.train.count)/\(data.valid.count)/\(data.test.count)")
        datasets.append(data)
    } catch {
        say("skipping \(benchmark.name): \(error)")
    }
}

// MARK: - Train + evaluate each method
var results: [BaselineResult] = []
for data in datasets {
    for method in methods {
        let predictions = run.output("baselines/\(data.name)/\(method.rawValue).predictions.jsonl")
        results.append(try BaselineSuite.run(method, data: data, budget: budget, seed: seed, predictionsURL: predictions))
        try CSV.write(results, to: run.output("baselines.csv"), metadata: run.metadata)   // after each row: partial runs keep their rows
    }
}

// MARK: - Report: measured rows, then the comparison with the reported numbers
say("\n| dataset | method | HR@3 | NDCG@3 | HR@5 | NDCG@5 | HR@10 | NDCG@10 | wall s |\n|---|---|---:|---:|---:|---:|---:|---:|---:|")
for r in results {
    let m = r.metrics
    say("| \(r.dataset) | \(r.method) | " + [m.hr3, m.ndcg3, m.hr5, m.ndcg5, m.hr10, m.ndcg10].map { String(format: "%.4f", $0) }.joined(separator: " | ")
          + " | \(String(format: "%.0f", r.wallSeconds)) |")
}
let reportedURL = BaselineSuite.reportedURL()
if let reported = try? ReportedTable.load(from: reportedURL) {
    let comparison = Comparison(reproduced: results.map(\.reproduced), reported: reported)
    try comparison.writeCSV(to: run.output("baselines_vs_reported.csv"), metadata: run.metadata)
    try comparison.writeMarkdown(to: run.output("baselines_vs_reported.md"))
    say("\n" + comparison.markdown)
} else {
    say("reported numbers not found at \(reportedURL.path); comparison skipped")
}
