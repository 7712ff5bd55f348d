#if canImport(Glibc)
@preconcurrency import Glibc
@preconcurrency import CMalloc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif
import Foundation

/// What every executable of the harness does first, and how it ends on an error.
public enum Launch {
    /// 1. OpenBLAS kernels for this CPU, and OpenMP threads that sleep between oneDNN's products
    ///    (`BLAS.relaunchWithRecommendedCoreTypeIfNeeded`: may re-execute the binary, so it comes
    ///    before anything else).
    /// 2. Line-buffered standard output: runs of hours are usually logged to a file
    ///    (`… > run.log`), where stdout would otherwise be block-buffered and the log would lag
    ///    by kilobytes (or be lost with the process).
    /// 3. SIGXFSZ ignored: past a file-size limit (`ulimit -f`) a write then fails with EFBIG
    ///    and is reported like a full disk (`AtomicFile`), instead of the signal killing the
    ///    process mid-write.
    /// 4. With `TSREC_MALLOC=keep`, freed memory stays with the process (`keepFreedMemory`).
    public static func prepare() {
        BLAS.relaunchWithRecommendedCoreTypeIfNeeded()
        setvbuf(stdout, nil, _IOLBF, 0)
        signal(SIGXFSZ, SIG_IGN)
        keepFreedMemory()
    }

    /// glibc serves every block above its mmap threshold (128 KB, rising up to 32 MB) with its
    /// own `mmap` and unmaps it on `free`, so each step's activations, gradients and logits land
    /// on fresh pages that the kernel must zero-fill. `TSREC_MALLOC=keep` turns mmap and
    /// trimming off, so freed blocks are reused from the heap. Opt-in, because the effect
    /// depends on the machine (docs/performance.md, session 19): +4.5 % training tokens/s and
    /// +5 % evaluation rows/s on one host, −13 % training tokens/s on another; peak memory after
    /// the bench's training steps +0.15 GiB on both.
    static func keepFreedMemory(environment: [String: String] = ProcessInfo.processInfo.environment) {
        #if canImport(Glibc)
        guard environment["TSREC_MALLOC"] == "keep" else { return }
        _ = mallopt(M_MMAP_MAX, 0)
        _ = mallopt(M_TRIM_THRESHOLD, Int32.max)
        #endif
    }

    /// Runs a reproduction's body. An error ends the process with `<program>: error: <message>`
    /// on standard error and the error's exit status (`exitStatus(for:)`), instead of the
    /// runtime's crash report for an error thrown at top level.
    public static func run(_ program: String, _ body: () throws -> Void) {
        do {
            try body()
        } catch {
            fail(error, program: program)
        }
    }

    /// Prints `message(for:)` to standard error and exits with `exitStatus(for:)`; under `mpirun`
    /// it ends every rank (`MPI_Abort`), which would otherwise wait for this one forever.
    public static func fail(_ error: Error, program: String) -> Never {
        fflush(stdout)
        FileHandle.standardError.write(Data("\(program): error: \(message(for: error))\n".utf8))
        MPICommunicator.abortIfRunning(status: exitStatus(for: error))
        exit(exitStatus(for: error))
    }

    /// The exit status of an error: `TSRecError.exitCode`; a Foundation file error is an I/O
    /// error (74), a JSON decoding error bad data (65), anything else an internal failure (70).
    public static func exitStatus(for error: Error) -> Int32 {
        switch error {
        case let e as TSRecError: return e.exitCode
        case let e as CocoaError where e.isFileError: return ExitStatus.ioError
        case is DecodingError: return ExitStatus.dataError
        default: return ExitStatus.software
        }
    }

    /// The one-paragraph message shown for an error (a TSRecError's description, with its hint).
    public static func message(for error: Error) -> String {
        switch error {
        case let e as TSRecError: return e.description
        case let e as CocoaError:
            let path = (e.userInfo[NSFilePathErrorKey] as? String) ?? e.url?.path
            return (path.map { "\($0): " } ?? "") + e.localizedDescription
        case let e as DecodingError: return "malformed JSON: field '\(decodingField(e))': \(decodingReason(e))"
        default: return "\(error)"
        }
    }
}
