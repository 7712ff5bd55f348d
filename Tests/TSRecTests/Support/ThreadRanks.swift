import Foundation
@testable import TSRec

/// Ranks simulated in one process: `ThreadRanks.run(size) { communicator in … }` runs the body
/// once per rank, each on its own thread (one OpenBLAS thread, one kernel thread, as a rank of
/// `mpirun -np size` with `OPENBLAS_NUM_THREADS=1`), with a `Communicator` whose collectives
/// meet in memory. So a data-parallel stage can be compared with the one-process stage inside
/// `swift test`; `scripts/mpi-equivalence.sh` runs the real `mpirun`.
///
/// Sums add the ranks' values in rank order. `dropsOtherRanks` makes `sumInPlace` (the
/// gradients' all-reduce) keep each rank's own values, a broken all-reduce, so a test can show
/// that its check notices one; `sum` stays correct, so the ranks still agree on which
/// collectives follow.
enum ThreadRanks {
    /// Runs `body(communicator)` on `size` threads; returns the results in rank order, or rethrows
    /// the first rank's error (in rank order) after every rank has ended.
    static func run<T>(_ size: Int, dropsOtherRanks: Bool = false, _ body: @escaping @Sendable (any Communicator) throws -> T) throws -> [T] {
        let world = World(size: size, dropsOtherRanks: dropsOtherRanks)
        let results = Results<T>(count: size)
        let done = DispatchGroup()
        Lanes.withSingleThreadedBLAS {
            for rank in 0 ..< size {
                done.enter()
                // Threads, not a dispatch pool: a rank blocks in its collectives until every other
                // rank arrives, so all of them must run at once whatever the number of cores.
                let thread = Thread {
                    let outcome = Kernels.$laneThreads.withValue(1) { Result { try body(Member(world: world, rank: rank)) } }
                    results.set(rank, outcome)
                    done.leave()
                }
                thread.stackSize = 8 << 20
                thread.start()
            }
            done.wait()
        }
        return try results.values.map { try $0!.get() }
    }

    private final class Results<T>: @unchecked Sendable {
        // @unchecked: the slots are reached only under `lock` (writing one element of a shared
        // array from several threads is a race on the array itself: ThreadSanitizer reports it).
        private let lock = NSLock()
        private var slots: [Result<T, any Error>?]
        init(count: Int) { slots = Array(repeating: nil, count: count) }
        func set(_ rank: Int, _ r: Result<T, any Error>) { lock.withLock { slots[rank] = r } }
        var values: [Result<T, any Error>?] { lock.withLock { slots } }
    }

    /// The meeting point: every collective is one `exchange` of each rank's contribution.
    final class World: @unchecked Sendable {
        // @unchecked: every field is read and written under `condition`.
        let size: Int
        let dropsOtherRanks: Bool
        private let condition = NSCondition()
        private var slots: [Any?]
        private var arrived = 0, left = 0
        private var draining = false

        init(size: Int, dropsOtherRanks: Bool) {
            precondition(size >= 1)
            (self.size, self.dropsOtherRanks) = (size, dropsOtherRanks)
            slots = Array(repeating: nil, count: size)
        }

        /// Every rank's `value`, in rank order, once every rank has called it; then the slots are
        /// free for the next exchange (a rank that comes back early waits for the others to leave).
        func exchange<V>(_ rank: Int, _ value: V) -> [V] {
            condition.lock()
            defer { condition.unlock() }
            while draining { condition.wait() }
            slots[rank] = value
            arrived += 1
            if arrived == size {
                draining = true
                condition.broadcast()
            } else {
                while !draining { condition.wait() }
            }
            let all = slots.map { $0 as! V }
            left += 1
            if left == size {
                (arrived, left, draining) = (0, 0, false)
                slots = Array(repeating: nil, count: size)
                condition.broadcast()
            }
            return all
        }
    }

    struct Member: Communicator {
        let world: World
        let rank: Int
        var size: Int { world.size }

        func sumInPlace(_ values: UnsafeMutableBufferPointer<Float>) {
            let all = world.exchange(rank, Array(values))
            guard !world.dropsOtherRanks else { return }
            for i in values.indices { values[i] = all.dropFirst().reduce(all[0][i]) { $0 + $1[i] } }
        }

        func sum(_ values: [Double]) -> [Double] {
            let all = world.exchange(rank, values)
            return values.indices.map { i in all.dropFirst().reduce(all[0][i]) { $0 + $1[i] } }
        }

        func allGather(_ bytes: [UInt8]) -> [[UInt8]] { world.exchange(rank, bytes) }
        func broadcast(_ bytes: [UInt8]) -> [UInt8] { world.exchange(rank, bytes)[0] }
        func barrier() { _ = world.exchange(rank, 0) }
    }
}
