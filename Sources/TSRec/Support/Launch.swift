#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

/// What every executable of the harness does first.
public enum Launch {
    /// 1. OpenBLAS kernels for this CPU (`BLAS.relaunchWithRecommendedCoreTypeIfNeeded`: may
    ///    re-execute the binary, so it comes before anything else).
    /// 2. Line-buffered standard output: runs of hours are usually logged to a file
    ///    (`… > run.log`), where stdout would otherwise be block-buffered and the log would lag
    ///    by kilobytes (or be lost with the process).
    public static func prepare() {
        BLAS.relaunchWithRecommendedCoreTypeIfNeeded()
        setvbuf(stdout, nil, _IOLBF, 0)
    }
}
