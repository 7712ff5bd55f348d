// Reproductions/table2/main.swift: the TS-Rec paper's main table.
//
// For every benchmark whose data is complete: the popularity floor, the baselines (GRU4Rec,
// Caser, SASRec, HSTU, TIGER), and four LLM rows trained and evaluated under one profile
// (`--profile`, default quick): MiniOneRec-SFT (tasks 1-3, default SID initialisation), MiniOneRec
// (MiniOneRec-SFT + the RL stage), TS-Rec-SFT (SA-Init + TS-Align) and TS-Rec (TS-Rec-SFT + the
// RL stage). Each RL row starts from its SFT row's run (the same folder). Then the LLM baselines
// built so far as configurations of the same pipeline (issue #19): D3 (title generation over a
// title trie) and S-DPO (D3's SFT run + the softmax-DPO preference stage). Then the comparison
// with the reported numbers available offline (MiniOneRec's; the TS-Rec rows of the paper are
// not among them and stay "unknown"), paired comparisons on the test rows (TS-Rec against every
// row, each RL row against its SFT start, TS-Rec-SFT against MiniOneRec-SFT), every run on the
// repeat-purchase test rows and on the others, and the RL figure.
import Foundation
import TSRec

Launch.prepare()

Launch.run("table2") {
    let context = try RunContext(CommandLine.arguments, name: "table2")
    context.printHeader()

    // MARK: - Datasets: run the complete ones, say why the others are skipped
    // (`--report-only`: no training; the table holds the finished runs, the others are "pending")
    var results: [RunResult] = []
    var skipped: [(dataset: String, reason: String)] = []
    var pending: [(dataset: String, method: String, detail: String)] = []
    var testRows: [String: [SplitRow]] = [:]          // for the repeat-purchase breakdown
    // Under mpirun (`make table2 MPI=N`) the LLM rows run on every rank (data-parallel training,
    // sharded evaluation); the popularity floor, the baselines and the report on rank 0 alone.
    let root = context.communicator.isRoot
    for benchmark in Benchmark.all where context.datasets?.contains(benchmark.name) ?? true {
        let dataset = try Dataset.load(benchmark, paths: context.paths)
        if let reason = dataset.reasonCannotTrain {
            skipped.append((benchmark.name, reason))
            if root { print("skip \(benchmark.name): \(reason)") }
            continue
        }

        testRows[benchmark.name] = try dataset.split(.test).rows

        // MARK: Popularity floor (most popular train targets)
        if root { results.append(try .popularity(dataset, context.config(dataset: benchmark.name), runsDirectory: context.paths.runs)) }

        // MARK: Traditional and generative baselines, same splits and metrics (Baselines/)
        let recData = try RecData(dataset)
        let budget = BaselineBudget.of(context.profile), seed = context.seed ?? 42
        for method in BaselineMethod.allCases where method != .popularity && root {
            guard let b = try BaselineSuite.result(method, data: recData, budget: budget, seed: seed,
                                                   runsDirectory: context.paths.runs,
                                                   recordsDirectory: context.paths.records?.appendingPathComponent(context.profile.rawValue).appendingPathComponent("runs"),
                                                   reportOnly: context.reportOnly) else {
                pending.append((benchmark.name, method.rawValue, "make baselines"))
                continue
            }
            results.append(RunResult(b, profile: context.profile))
        }

        // MARK: MiniOneRec-SFT, MiniOneRec, TS-Rec-SFT, TS-Rec, D3, S-DPO, BIGRec, LC-Rec: one configuration each
        // (MiniOneRec and TS-Rec are the SFT runs followed by the RL stage; S-DPO is D3's SFT
        // run followed by the preference stage)
        for method in [Method.minionerecSFT, .minionerec, .tsrecSFT, .tsrec, .d3, .sdpo, .bigrec, .lcrec] {
            let pipeline = Pipeline(context.config(dataset: benchmark.name).applying(method), label: method.rawValue,
                                    paths: context.paths)
            guard let r = try pipeline.result(reportOnly: context.reportOnly) else {
                pending.append((benchmark.name, method.rawValue, "run \(pipeline.resultHash)"))
                continue
            }
            results.append(r)
        }

        // MARK: D3 with its SASRec assistant: a labelled variant, once g is tuned on validation rows
        // (`tsrec run --method D3 --assistant-g tune`; D3's scripts run with the assistant off)
        let d3 = Pipeline(context.config(dataset: benchmark.name).applying(.d3), label: Method.d3.rawValue, paths: context.paths)
        if root, let g = try d3.tunedAssistantWeight() {
            if g == 1 {
                print("D3's assistant: g = 1 chosen on validation rows (the assistant off): no separate row")
            } else {
                var config = d3.config
                config.assistant = DecodingAssistant(weight: g)
                let variant = Pipeline(config, label: "D3 (\(config.assistant!.label))", paths: context.paths)
                if let r = try variant.finishedResult() { results.append(r) } else {
                    pending.append((benchmark.name, variant.label, "tsrec run --method D3 --assistant-g \(g)"))
                }
            }
        }
    }

    // MARK: - Report: table, comparison with reported numbers, figure
    guard root else { return }
    var report = ResultsReport(name: "table2", results: results, skipped: skipped, context: context)
    let pendingRows = pending.map { report.pendingResult(dataset: $0.dataset, method: $0.method, detail: $0.detail) }
    report.pending = pendingRows          // their rows stay in the comparison, reproduced cells empty
    // every run again on the test rows whose target is in the history (repeat purchases) and the others
    report.byHistory = testRows.reduce(into: [:]) { $0[$1.key] = HistoryReport(dataset: $1.key, results: results, testRows: $1.value) }
    try report.write()
    print(report.markdown)
}
