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
