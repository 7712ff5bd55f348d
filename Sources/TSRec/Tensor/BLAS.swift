import COpenBLAS

/// What OpenBLAS is running with: the kernel it chose (or was told to use by
/// `OPENBLAS_CORETYPE`), its build configuration and thread count. Printed at the start of
/// every run because a wrong kernel silently costs 6x in speed.
public enum BLAS {
    public static var coreName: String { String(cString: openblas_get_corename()) }
    public static var config: String { String(cString: openblas_get_config()) }
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// One line for logs: `OpenBLAS core=SkylakeX threads=2 (OPENBLAS_CORETYPE=SkylakeX,
    /// OMP_WAIT_POLICY=passive)`; the second is oneDNN's OpenMP (the bf16 products).
    public static var summary: String {
        let environment = ProcessInfo.processInfo.environment
        let settings = ["OPENBLAS_CORETYPE", "OMP_WAIT_POLICY"].map { name in environment[name].map { "\(name)=\($0)" } ?? "\(name) unset" }
        return "OpenBLAS core=\(coreName) threads=\(threads) (\(settings.joined(separator: ", ")))"
    }
}

import Foundation

extension BLAS {
    /// The OpenBLAS core type this CPU should use, from its feature flags (the same rule as
    /// `scripts/openblas-coretype.sh`): AVX-512 (F and BW) → SkylakeX, AVX2 → Haswell, else nil.
    public static func recommendedCoreType(cpuinfo: String? = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) -> String? {
        guard let line = cpuinfo?.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        let flags = Set(line.split(separator: " ").map(String.init))
        if flags.contains("avx512f") && flags.contains("avx512bw") { return "SkylakeX" }
        if flags.contains("avx2") { return "Haswell" }
        return nil
    }

    /// The SIMD width class of an OpenBLAS core name: 3 AVX-512, 2 AVX2, 1 AVX, 0 older;
    /// nil for a name this table does not know (then it is never second-guessed).
    static func vectorClass(_ core: String) -> Int? {
        switch core.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": 3
        case "haswell", "zen", "skylake", "excavator": 2
        case "sandybridge", "bulldozer", "piledriver", "steamroller": 1
        case "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "barcelona", "opteron", "katmai", "northwood": 0
        default: nil
        }
    }

    /// The core type a process should run with, and why, given the environment and the CPU:
    /// 1. `TSREC_OPENBLAS_CORETYPE`, when set, is used as it is (your explicit choice);
    /// 2. else an `OPENBLAS_CORETYPE` already in the environment is kept, unless it names a
    ///    narrower kernel than this CPU runs (e.g. Haswell on an AVX-512 CPU, which some
    ///    machines export for every program): then the recommended one replaces it, with a note;
    /// 3. else the recommended one (`recommendedCoreType`), or nil to let OpenBLAS decide.
    public static func chosenCoreType(environment: [String: String], recommended: String?) -> (core: String?, note: String?) {
        if let forced = environment["TSREC_OPENBLAS_CORETYPE"], !forced.isEmpty { return (forced, nil) }
        guard let set = environment["OPENBLAS_CORETYPE"], !set.isEmpty else { return (recommended, nil) }
        if let recommended, let have = vectorClass(set), let best = vectorClass(recommended), have < best {
            return (recommended, "OPENBLAS_CORETYPE=\(set) from the environment is narrower than this CPU's \(recommended) kernels: "
                    + "using \(recommended) (set TSREC_OPENBLAS_CORETYPE=\(set) to keep \(set))")
        }
        return (set, nil)
    }

    /// Makes sure OpenBLAS runs with the right kernels even when a binary is started by hand.
    ///
    /// OpenBLAS reads `OPENBLAS_CORETYPE` once, when the library loads, which is before any
    /// Swift code runs. So when `chosenCoreType` differs from the variable, set it and
    /// re-execute the same binary with the same arguments (once: the child sees the variable
    /// and chooses the same). Call first thing in `main`.
    ///
    /// The same relaunch sets `OMP_WAIT_POLICY=passive` when the environment does not set it
    /// (`ompWaitPolicy`), which libgomp also reads only when it loads.
    public static func relaunchWithRecommendedCoreTypeIfNeeded() {
        let environment = ProcessInfo.processInfo.environment
        let (chosen, note) = chosenCoreType(environment: environment, recommended: recommendedCoreType())
        var changes: [(String, String)] = []
        if let core = chosen, core != environment["OPENBLAS_CORETYPE"] { changes.append(("OPENBLAS_CORETYPE", core)) }
        if let policy = ompWaitPolicy(environment: environment) {
            // marked as tsrec's, so programs it starts (the PyTorch peer) can get the user's environment back
            changes += [("OMP_WAIT_POLICY", policy), (ompWaitPolicyMarker, policy)]
        }
        guard !changes.isEmpty else { return }
        if let note { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        for (name, value) in changes { setenv(name, value, 1) }
        let args = CommandLine.arguments
        var cArgs = args.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &cArgs)
        // execv returns only on failure: carry on with the libraries' own choices.
        let settings = changes.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
        FileHandle.standardError.write(Data("warning: could not relaunch with \(settings); kernels may be slow\n".utf8))
    }

    /// `passive` when `OMP_WAIT_POLICY` is unset, else nil (a value already set is kept).
    ///
    /// oneDNN (the bf16 products, `BF16Matmul`) runs on libgomp, whose threads by default spin
    /// after each product waiting for the next, on the cores tsrec's own kernels and OpenBLAS's
    /// threads need between products: `perf` of a bf16 training step on the real quick samples
    /// found half its samples in libgomp's spinning and the scheduler. Passive, measured in one
    /// run each (session 22, queue paused): that step ×1.11 → ×1.38 of fp32, the bench step ×1.51 →
    /// ×1.64; fp32 runs use no OpenMP (Debian's OpenBLAS is the pthreads build).
    public static func ompWaitPolicy(environment: [String: String]) -> String? {
        environment["OMP_WAIT_POLICY"] == nil ? "passive" : nil
    }

    /// Set beside `OMP_WAIT_POLICY` when tsrec set it (not the user).
    public static let ompWaitPolicyMarker = "TSREC_SET_OMP_WAIT_POLICY"

    /// `environment` without what tsrec's launch added to it: the environment the user started
    /// tsrec with, for a program tsrec starts that is no part of it (the PyTorch peer).
    public static func userEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        guard let policy = environment[ompWaitPolicyMarker] else { return environment }
        var user = environment
        user[ompWaitPolicyMarker] = nil
        if user["OMP_WAIT_POLICY"] == policy { user["OMP_WAIT_POLICY"] = nil }
        return user
    }
}
