import Foundation

/// What every reproduction starts with: its arguments, paths and a header that records the
/// environment (profile, commit, BLAS kernel and threads), so a results file can be traced.
///
/// Arguments: `--profile smoke|quick|paper` (or `PROFILE=`), `--seed N`, `--seeds A,B,C` (studies
/// over several training seeds), `--datasets A,B`, `--report-only` (or `REPORT_ONLY=1`).
public struct RunContext: Sendable {
    public let name: String
    public let profile: Profile
    public let seed: UInt64?
    /// `--seeds`: the training seeds of a seed study (nil = not given).
    public let seeds: [UInt64]?
    /// Datasets to run (nil = every benchmark whose data is complete).
    public let datasets: [String]?
    public let paths: Paths
    /// Build the tables from finished runs only; never train (`--report-only` or `REPORT_ONLY=1`).
    /// Runs still missing are listed as pending.
    public let reportOnly: Bool

    public init(_ arguments: [String], name: String,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.name = name
        var profile = try environment["PROFILE"].map(Self.parseProfile) ?? .quick
        var seed: UInt64?
        var seeds: [UInt64]?
        var datasets: [String]?
        var reportOnly = ["1", "true", "yes"].contains(environment["REPORT_ONLY"]?.lowercased() ?? "")
        var rest = arguments.dropFirst()[...]
        while let arg = rest.popFirst() {
            func value() throws -> String {
                guard let v = rest.popFirst() else { throw TSRecError(.usage(argument: arg, reason: "needs a value"), hint: "usage: \(name) \(Self.usage)") }
                return v
            }
            switch arg {
            case "--profile": profile = try Self.parseProfile(try value())
            case "--seed":
                let v = try value()
                guard let s = UInt64(v) else { throw TSRecError(.usage(argument: "--seed", reason: "'\(v)' is not a non-negative integer"),
                                                         hint: "usage: \(name) \(Self.usage)") }
                seed = s
            case "--seeds":
                let v = try value()
                let parsed = v.split(separator: ",").map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
                guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil }) else {
                    throw TSRecError(.usage(argument: "--seeds", reason: "'\(v)' is not a comma-separated list of non-negative integers"),
                                     hint: "e.g. --seeds 42,43,44")
                }
                seeds = parsed.map { $0! }
            case "--datasets": datasets = try value().split(separator: ",").map(String.init)
            case "--report-only": reportOnly = true
            case "-h", "--help":
                print("usage: \(name) \(Self.usage)")
                exit(0)
            default:
                throw TSRecError(.usage(argument: arg, reason: "unknown argument"),
                                 hint: "usage: \(name) \(Self.usage)")
            }
        }
        self.profile = profile
        self.seed = seed
        self.seeds = seeds
        self.datasets = datasets
        self.reportOnly = reportOnly
        self.paths = .fromEnvironment(environment)
    }

    static let usage = "[--profile smoke|quick|paper] [--seed N] [--seeds A,B,C] [--datasets A,B] [--report-only]"

    static func parseProfile(_ text: String) throws -> Profile {
        guard let p = Profile(rawValue: text) else {
            throw TSRecError(.usage(argument: "--profile", reason: "'\(text)' is not one of \(Profile.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        return p
    }

    /// The configuration of this run's profile for `dataset`, with `--seed` applied.
    public func config(dataset: String) -> ExperimentConfig {
        var c = ExperimentConfig.profile(profile, dataset: dataset)
        if let seed { c.seed = seed }
        return c
    }

    /// `key: value` lines recorded on top of every CSV this run writes.
    public var metadata: [(key: String, value: String)] {
        [("run", name + (reportOnly ? " (report only)" : "")), ("profile", profile.rawValue), ("seed", seed.map(String.init) ?? "42 (default)"),
         ("commit", Self.gitCommit() ?? "unknown"), ("blas", BLAS.summary),
         ("ranks", communicator.isParallel ? "\(communicator.size) (MPI)" : "1"),
         ("date", ISO8601DateFormatter().string(from: Date()))]
    }

    /// The ranks of this run (`Launch.communicator`: MPI's world under `mpirun`, else one
    /// process). Reproductions report on rank 0 only.
    public var communicator: any Communicator { Launch.communicator }

    /// Prints the header of the run (rank 0 only).
    public func printHeader() {
        guard communicator.isRoot else { return }
        print("== \(name) ==")
        for (k, v) in metadata { print("\(k): \(v)") }
    }

    /// A path under `results/`.
    public func output(_ file: String) -> URL { paths.results.appendingPathComponent(file) }

    /// The checkout's short commit, nil outside a git checkout.
    public static func gitCommit() -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "rev-parse", "--short", "HEAD"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        p.waitUntilExit()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return p.terminationStatus == 0 && !out.isEmpty ? out : nil
    }
}
