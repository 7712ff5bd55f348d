// Reproductions/ablation-no-tsalign/main.swift: TS-Rec with and without TS-Align.
//
// The only change is whether the 2-per-token alignment samples (token -> description,
// description -> token) are mixed into training. SA-Init stays on in both.
import TSRec

Launch.prepare()

Launch.run("ablation-no-tsalign") {
    let context = try RunContext(CommandLine.arguments, name: "ablation-no-tsalign")
    context.printHeader()

    // MARK: - Variants: one configuration each
    let dataset = context.datasets?.first ?? Benchmark.industrial.name
    let base = context.config(dataset: dataset)
    let study = AblationStudy(name: "ablation-no-tsalign", context: context, variants: [
        .init(Method.tsrecSFT.rawValue, base.applying(.tsrecSFT)),
        .init(Method.noTSAlign.rawValue, base.applying(.noTSAlign)),
    ])

    // MARK: - Train, evaluate, report (CSV + figures)
    try study.run()
}
