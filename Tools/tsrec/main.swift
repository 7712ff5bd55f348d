import ArgumentParser
import TSRec

@main
struct TSRecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tsrec",
        abstract: "TS-Rec reproduction harness: data, model, training, evaluation.",
        subcommands: [DataCommand.self, ModelCommand.self, Tokenize.self, Logits.self, Generate.self, Run.self, Compare.self, Teacher.self]
    )
    func run() throws { print(BLAS.summary) }

    /// Relaunch with the right OpenBLAS kernels first (see `BLAS.relaunchWithRecommendedCoreTypeIfNeeded`).
    static func main() {
        Launch.prepare()
        main(nil)
    }
}
