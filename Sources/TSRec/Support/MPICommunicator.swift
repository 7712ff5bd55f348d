#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import CMPI
import Foundation

/// Open MPI's world communicator: the processes started by one `mpirun`.
///
/// MPI allows `MPI_Init` once per process, so the world is made once, by `Launch.communicator`
/// (an immutable, lazily initialised value), and passed on from there. Only the main thread calls
/// MPI (OpenBLAS's and the kernels' threads never do), which `MPI_Init`'s default level allows.
/// Sizes above `Int32.max` elements are sent in chunks (MPI counts are `int`).
public struct MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int

    /// Initialises MPI (at most once per process) and registers `MPI_Finalize` at exit, which
    /// `mpirun` expects from a rank that ends normally.
    init() {
        var initialised: Int32 = 0
        MPI_Initialized(&initialised)
        if initialised == 0 {
            MPI_Init(nil, nil)
            atexit {
                var finalised: Int32 = 0
                MPI_Finalized(&finalised)
                if finalised == 0 { MPI_Finalize() }
            }
        }
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(tsrec_mpi_comm_world(), &r)
        MPI_Comm_size(tsrec_mpi_comm_world(), &s)
        (rank, size) = (Int(r), Int(s))
    }

    /// Ends every rank of the job with `status` when MPI is running (a rank that stops on an
    /// error would otherwise leave the others waiting in their next collective forever).
    static func abortIfRunning(status: Int32) {
        var initialised: Int32 = 0, finalised: Int32 = 0
        MPI_Initialized(&initialised)
        MPI_Finalized(&finalised)
        guard initialised != 0, finalised == 0 else { return }
        var s: Int32 = 0
        MPI_Comm_size(tsrec_mpi_comm_world(), &s)
        if s > 1 { MPI_Abort(tsrec_mpi_comm_world(), status) }
    }

    public func sumInPlace(_ values: UnsafeMutableBufferPointer<Float>) {
        guard let base = values.baseAddress else { return }
        var offset = 0
        while offset < values.count {
            let n = min(values.count - offset, Int(Int32.max))
            check(MPI_Allreduce(tsrec_mpi_in_place(), base + offset, Int32(n), tsrec_mpi_float(), tsrec_mpi_sum(),
                                tsrec_mpi_comm_world()), "MPI_Allreduce")
            offset += n
        }
    }

    public func sum(_ values: [Double]) -> [Double] {
        var out = values
        out.withUnsafeMutableBufferPointer { b in
            guard let base = b.baseAddress else { return }
            check(MPI_Allreduce(tsrec_mpi_in_place(), base, Int32(b.count), tsrec_mpi_double(), tsrec_mpi_sum(),
                                tsrec_mpi_comm_world()), "MPI_Allreduce")
        }
        return out
    }

    public func allGather(_ bytes: [UInt8]) -> [[UInt8]] {
        precondition(bytes.count < Int(Int32.max), "allGather: \(bytes.count) bytes is more than one MPI message holds")
        var mine = Int64(bytes.count)
        var counts = [Int64](repeating: 0, count: size)
        counts.withUnsafeMutableBufferPointer { c in
            check(MPI_Allgather(&mine, 1, tsrec_mpi_int64(), c.baseAddress, 1, tsrec_mpi_int64(), tsrec_mpi_comm_world()),
                  "MPI_Allgather")
        }
        let total = counts.reduce(0, +)
        precondition(total < Int64(Int32.max), "allGather: \(total) bytes in all is more than one MPI message holds")
        var displacements = [Int32](repeating: 0, count: size)
        for i in 1..<max(1, size) { displacements[i] = displacements[i - 1] + Int32(counts[i - 1]) }
        let counts32 = counts.map { Int32($0) }
        var all = [UInt8](repeating: 0, count: Int(total))
        bytes.withUnsafeBufferPointer { src in
            all.withUnsafeMutableBufferPointer { dst in
                counts32.withUnsafeBufferPointer { c in
                    displacements.withUnsafeBufferPointer { d in
                        check(MPI_Allgatherv(src.baseAddress, Int32(bytes.count), tsrec_mpi_byte(), dst.baseAddress, c.baseAddress,
                                             d.baseAddress, tsrec_mpi_byte(), tsrec_mpi_comm_world()), "MPI_Allgatherv")
                    }
                }
            }
        }
        return (0..<size).map { r in Array(all[Int(displacements[r]) ..< Int(displacements[r]) + Int(counts32[r])]) }
    }

    public func broadcast(_ bytes: [UInt8]) -> [UInt8] {
        var count = Int64(bytes.count)
        check(MPI_Bcast(&count, 1, tsrec_mpi_int64(), 0, tsrec_mpi_comm_world()), "MPI_Bcast")
        precondition(count < Int64(Int32.max), "broadcast: \(count) bytes is more than one MPI message holds")
        var out = rank == 0 ? bytes : [UInt8](repeating: 0, count: Int(count))
        out.withUnsafeMutableBufferPointer { b in
            check(MPI_Bcast(b.baseAddress, Int32(count), tsrec_mpi_byte(), 0, tsrec_mpi_comm_world()), "MPI_Bcast")
        }
        return out
    }

    public func barrier() { check(MPI_Barrier(tsrec_mpi_comm_world()), "MPI_Barrier") }

    /// MPI's default error handler aborts the job before returning an error; this is the
    /// backstop should one be installed that returns.
    private func check(_ code: Int32, _ call: String) {
        precondition(code == 0, "\(call) failed with MPI error \(code) on rank \(rank) of \(size)")
    }
}

extension Launch {
    /// The processes of this run: MPI's world when an MPI launcher started this process (Open MPI's
    /// `mpirun` sets `OMPI_COMM_WORLD_SIZE`; PMIx launchers such as Slurm's `srun --mpi=pmix` set
    /// `PMIX_RANK`), else `SingleProcess`, without initialising MPI. Made once per process (MPI's
    /// own rule), on first use.
    public static let communicator: any Communicator = {
        let env = ProcessInfo.processInfo.environment
        guard env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil else { return SingleProcess() }
        return MPICommunicator()
    }()
}
