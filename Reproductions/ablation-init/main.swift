// Reproductions/ablation-init/main.swift: how the SID tokens' embeddings start.
//
// Part 1: keywords (SA-Init) vs the framework's default (mean resizing: N(μ, 1e-9·Σ), what
// MiniOneRec and TS-Rec w/o SA-Init start from) vs independent Gaussian rows (tsrec's pre-fidelity
// default, which the authors never use) vs the exact vocabulary mean vs cluster titles, all levels.
// Part 2: SA-Init depth: keywords for level a only, a+b, or all three levels (the other levels
// keep the mean-resized rows).
// Everything else is the full TS-Rec configuration.
import TSRec

Launch.prepare()

Launch.run("ablation-init") {
    let context = try RunContext(CommandLine.arguments, name: "ablation-init")
    context.printHeader()

    // MARK: - Variants: the initialisation, then the depth
    let dataset = context.datasets?.first ?? Benchmark.industrial.name
    let tsrec = context.config(dataset: dataset).applying(.tsrecSFT)
    func variant(_ mode: SIDInit, levels: String = "abc") -> AblationStudy.Variant {
        var c = tsrec
        c.sidInit = mode
        c.sidInitLevels = levels
        return .init("init=\(mode.rawValue) levels=\(levels)", c)
    }
    let study = AblationStudy(name: "ablation-init", context: context, variants: [
        variant(.keywords), variant(.meanResize), variant(.random), variant(.vocabMean), variant(.titles),
        variant(.keywords, levels: "a"), variant(.keywords, levels: "ab"),
    ])

    // MARK: - Before training: how alike do the SID rows start?
    // Per level, the mean cosine between the level's rows (1: the tokens start indistinguishable)
    // and to the mean pretrained row (the direction all real tokens share). No run needed.
    try study.writeInitialGeometry()

    // MARK: - Train, evaluate, report (CSV + figures)
    try study.run()
}
