// Reproductions/baselines/main.swift — the traditional and generative baselines of the paper's
// Table 2 (GRU4Rec, Caser, SASRec, HSTU, TIGER) plus a popularity floor, trained with tsrec's own
// engine on the same splits and scored with the same metrics as the LLM path.
// Writes results/baselines.csv and results/baselines_vs_reported.{csv,md}; each finished method is
// cached with its predictions under results/runs/<dataset>/baselines/.
import Foundation
import TSRec

Launch.prepare()

Launch.run("baselines") {
    let run = try RunContext(CommandLine.arguments, name: "baselines")
    for (k, v) in run.metadata { say("\(k): \(v)") }      // the run header: profile, seed, commit, BLAS
    let seed = run.seed ?? 42
    var budget = BaselineBudget.of(run.profile)
    if let o = ProcessInfo.processInfo.environment["BASELINES_OBJECTIVE"] {   // softmax (default) | sampledBCE
        guard let objective = Objective(rawValue: o) else { throw TSRecError(.config(field: "BASELINES_OBJECTIVE", reason: "'\(o)'")) }
        budget.settings.objective = objective
    }
    let methods = ProcessInfo.processInfo.environment["BASELINES"].map {
        $0.split(separator: ",").compactMap { BaselineMethod(rawValue: String($0)) }
    } ?? BaselineMethod.allCases
    say("methods: \(methods.map(\.rawValue).joined(separator: ", "))\nbudget: \(budget)")

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

    // MARK: - Train + evaluate each method (rows are written after each one)
    let results = try BaselineSuite.runAll(methods, on: datasets, budget: budget, seed: seed, csv: run.output("baselines.csv"),
                                           metadata: run.metadata + [("budget", budget.description)],
                                           runsDirectory: run.paths.runs)

    // MARK: - Report: measured rows beside the reported ones, and the per-metric comparison
    let reportedURL = ReportedTable.defaultURL()
    let reported = FileManager.default.fileExists(atPath: reportedURL.path) ? try ReportedTable.load(from: reportedURL) : nil
    say("\nours (reported) — " + (reported.map { "reported: \($0.source)" } ?? "reported numbers not found at \(reportedURL.path)"))
    say(BaselineSuite.markdown(results, reported: reported))
    if let reported {
        let comparison = Comparison(reproduced: results.map(\.reproduced), reported: reported)
        try comparison.writeCSV(to: run.output("baselines_vs_reported.csv"), metadata: run.metadata)
        try comparison.writeMarkdown(to: run.output("baselines_vs_reported.md"))
    }
}
