import COpenBLAS
import Foundation
import Synchronization

/// Independent pieces of work side by side, one core each: evaluation's beam-search batches.
///
/// A batch of 8 prompts × 20 beams makes GEMMs of 160 rows, too few for OpenBLAS's two threads to
/// split without waiting on each other (≈ 12 % of evaluation's time went to that hand-off,
/// docs/performance.md). Two batches on two single-threaded lanes do not wait: evaluation ran
/// ×1.08–1.27 faster on real test rows (×1.23 in `make bench`; ×1.17–1.22 with the same split
/// across processes under `mpirun -np 2`), with identical predictions. A lane's OpenBLAS calls
/// and tsrec's row-parallel kernels run on its own thread only; each lane must touch only its own
/// mutable state (its own KV cache).
enum Lanes {
    /// Lanes worth running in this process: its kernel threads (the cores, capped by
    /// `OPENBLAS_NUM_THREADS`, which is 1 per rank under `mpirun`).
    static var available: Int { Kernels.threads }

    /// `body(lane)` for `lane` in `0..<count`, each on its own thread with one OpenBLAS thread and
    /// one kernel thread; returns the results in lane order. With one lane it runs inline with the
    /// process's threads. OpenBLAS's thread count is 1 while any `run` is under way and restored
    /// when the last one ends (`singleThreadedBLAS`). When lanes throw, the first lane's error in
    /// lane order is rethrown, after every lane has finished.
    static func run<T>(_ count: Int, _ body: (Int) throws -> T) throws -> [T] {
        precondition(count >= 0, "Lanes.run: \(count) lanes")
        if count <= 1 { return try (0 ..< count).map(body) }
        var results = [Result<T, any Error>?](repeating: nil, count: count)
        // Task-local values do not reach concurrentPerform's threads by themselves: every lane gets
        // the caller's product precision and fixed weights, whichever thread runs it.
        let bf16 = Kernels.bf16Matmul, fixed = Kernels.bf16FixedWeights
        withSingleThreadedBLAS {
            results.withUnsafeMutableBufferPointer { out in
                withoutActuallyEscaping(body) { body in
                    // Each lane writes only its own slot; both live until concurrentPerform returns.
                    nonisolated(unsafe) let out = out, body = body
                    DispatchQueue.concurrentPerform(iterations: count) { lane in
                        Kernels.$laneThreads.withValue(1) {
                            Kernels.$bf16Matmul.withValue(bf16) {
                                Kernels.$bf16FixedWeights.withValue(fixed) {
                                    out[lane] = Result { try body(lane) }
                                }
                            }
                        }
                    }
                }
            }
        }
        return try results.map { try $0!.get() }
    }

    /// `body` with OpenBLAS's thread count at 1, restored when the last such region under way
    /// ends: for threads that each run their own products side by side (lanes; ranks simulated
    /// in one process by the tests).
    static func withSingleThreadedBLAS<T>(_ body: () throws -> T) rethrows -> T {
        singleThreadedBLAS.withLock { s in
            if s.users == 0 { s.saved = openblas_get_num_threads(); openblas_set_num_threads(1) }
            s.users += 1
        }
        defer {
            singleThreadedBLAS.withLock { s in
                s.users -= 1
                if s.users == 0 { openblas_set_num_threads(s.saved) }
            }
        }
        return try body()
    }

    /// OpenBLAS's thread count is one setting of the process (0.3.21 has no per-call count): the
    /// `run`s under way (e.g. tests running side by side) and the count to restore when the last
    /// one ends. The lock is the only way to it.
    private static let singleThreadedBLAS = Mutex<(users: Int, saved: Int32)>((0, 0))
}
