import COpenBLAS

/// What OpenBLAS is running with: the kernel it chose (or was told to use by
/// `OPENBLAS_CORETYPE`), its build configuration and thread count. Printed at the start of
/// every run because a wrong kernel silently costs 6x in speed.
public enum BLAS {
    public static var coreName: String { String(cString: openblas_get_corename()) }
    public static var config: String { String(cString: openblas_get_config()) }
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// One line for logs: `OpenBLAS core=SkylakeX threads=2 (OPENBLAS_CORETYPE=SkylakeX)`.
    public static var summary: String {
        let env = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].map { "OPENBLAS_CORETYPE=\($0)" }
            ?? "OPENBLAS_CORETYPE unset"
        return "OpenBLAS core=\(coreName) threads=\(threads) (\(env))"
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

    /// Makes sure OpenBLAS runs with the right kernels even when a binary is started by hand.
    ///
    /// OpenBLAS reads `OPENBLAS_CORETYPE` once, when the library loads, which is before any
    /// Swift code runs. So when the variable is unset and this CPU has a recommended core type,
    /// set it and re-execute the same binary with the same arguments (once: the child sees
    /// the variable). A value the user set is never touched. Call first thing in `main`.
    public static func relaunchWithRecommendedCoreTypeIfNeeded() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              let core = recommendedCoreType() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        let args = CommandLine.arguments
        var cArgs = args.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &cArgs)
        // execv returns only on failure: carry on with the kernels OpenBLAS chose.
        FileHandle.standardError.write(Data("warning: could not relaunch with OPENBLAS_CORETYPE=\(core); kernels may be slow\n".utf8))
    }
}
