import ArgumentParser
import TSRec

@main
struct TSRecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tsrec",
        abstract: "TS-Rec reproduction harness: data, model, training, evaluation.",
        subcommands: [DataCommand.self]
    )
    func run() throws { print(BLAS.summary) }
}
