// Reproductions/ablation-no-sainit/main.swift: TS-Rec with and without SA-Init.
//
// The only change is the SID tokens' initial embedding rows: keyword means (SA-Init) versus
// the default initialisation. TS-Align stays on in both.
import TSRec

Launch.prepare()

Launch.run("ablation-no-sainit") {
    let context = try RunContext(CommandLine.arguments, name: "ablation-no-sainit")
    context.printHeader()

    // MARK: - Variants: one configuration each
    let dataset = context.datasets?.first ?? Benchmark.industrial.name
    let base = context.config(dataset: dataset)
    let study = AblationStudy(name: "ablation-no-sainit", context: context, variants: [
        .init(Method.tsrecSFT.rawValue, base.applying(.tsrecSFT)),
        .init(Method.noSAInit.rawValue, base.applying(.noSAInit)),
    ])

    // MARK: - Train, evaluate, report (CSV + figures)
    try study.run()
}
