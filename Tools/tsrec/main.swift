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
    ///
    /// Exit statuses: a wrong command line (ArgumentParser's parse errors, `ValidationError`)
    /// exits 64 with the usage text, as ArgumentParser does; every other error of a command
    /// (bad data 65, missing input 66, I/O 74, ...: `TSRecError.exitCode`) exits with its own
    /// status and its message only (`Launch.fail`), so a corrupt file never reads as a typo.
    /// ArgumentParser's own requests and errors that reach `run()` (its internal `CommandError`:
    /// `tsrec --help` and `tsrec run --help` are parsed into its help command, whose `run()` throws
    /// the help request) are its to print: help text on stdout and status 0.
    static func isArgumentParserError(_ error: Error) -> Bool {
        String(reflecting: type(of: error)).hasPrefix("ArgumentParser.")
    }

    static func main() {
        Launch.prepare()
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            try command.run()
        } catch let error as TSRecError where error.exitCode == ExitStatus.usage {
            exit(withError: ValidationError(error.description))
        } catch where error is ValidationError || error is CleanExit || error is ExitCode || isArgumentParserError(error) {
            exit(withError: error)
        } catch {
            Launch.fail(error, program: "tsrec")
        }
    }
}
