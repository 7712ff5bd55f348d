// Reproductions/seeds/main.swift: does TS-Rec's gain over MiniOneRec-SFT survive another seed?
//
// table2 trains each method once (seed 42). A paired comparison on the test rows says how sure
// that one pair of models is; it says nothing about how much a different data order and SID
// initialisation would change the difference. Here both methods train for every seed in
// `--seeds` (default 42,43,44; seed 42 reuses table2's runs) on Industrial, and the difference
// is reported per seed and over seeds.
import TSRec

Launch.prepare()

Launch.run("seeds") {
    let context = try RunContext(CommandLine.arguments, name: "seeds")
    context.printHeader()

    // MARK: - The two arms: full TS-Rec and the MiniOneRec-SFT path, one configuration each
    let dataset = context.datasets?.first ?? Benchmark.industrial.name
    let base = context.config(dataset: dataset)
    let study = SeedStudy(name: "seeds", context: context,
                          method: .init(Method.tsrecSFT.rawValue, base.applying(.tsrecSFT)),
                          baseline: .init(Method.minionerecSFT.rawValue, base.applying(.minionerecSFT)),
                          seeds: context.seeds ?? [42, 43, 44])

    // MARK: - Train, evaluate, report (per run, per seed, over seeds; CSV + figure)
    try study.run()
}
