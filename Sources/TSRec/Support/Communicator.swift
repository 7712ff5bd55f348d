import Foundation

/// The processes one run is spread over, and the few collective operations data-parallel
/// training and sharded evaluation need (docs/mpi.md).
///
/// `SingleProcess` (rank 0 of 1, every operation the identity) is the default everywhere, so the
/// one-process path runs exactly as before; `MPICommunicator` is Open MPI's world under `mpirun`
/// (`Communicator.launched()` picks it). Every rank calls the collectives in the same order with
/// the same sizes (MPI's rule); a rank that fails aborts the whole job (`Launch.fail`).
public protocol Communicator: Sendable {
    /// This process's index, 0 ..< size; rank 0 alone writes files and logs.
    var rank: Int { get }
    var size: Int { get }
    /// Element-wise sum over the ranks, in place: every rank ends with the same sums.
    func sumInPlace(_ values: UnsafeMutableBufferPointer<Float>)
    /// Element-wise sum over the ranks (every rank passes the same count).
    func sum(_ values: [Double]) -> [Double]
    /// Every rank's bytes, in rank order, on every rank (counts may differ).
    func allGather(_ bytes: [UInt8]) -> [[UInt8]]
    /// Rank 0's bytes on every rank (other ranks' arguments are ignored).
    func broadcast(_ bytes: [UInt8]) -> [UInt8]
    /// Waits until every rank has called it (e.g. before reading a file rank 0 has just written).
    func barrier()
}

extension Communicator {
    /// Whether this process writes the run's files and logs.
    public var isRoot: Bool { rank == 0 }
    public var isParallel: Bool { size > 1 }

    /// The items of `0 ..< count` this rank takes: i where i mod size = rank (round robin, so
    /// neighbouring micro-batches, which have similar lengths, land on different ranks).
    public func share(of count: Int) -> [Int] { Self.share(of: count, rank: rank, size: size) }

    static func share(of count: Int, rank: Int, size: Int) -> [Int] {
        precondition(size > 0 && (0..<size).contains(rank), "share: rank \(rank) of \(size)")
        return Array(stride(from: rank, to: count, by: size))
    }

    /// Throws unless every rank passes the same `hash` (e.g. `parameterHash` of the weights):
    /// data-parallel training keeps the parameters identical on every rank, and a rank that
    /// drifted (another build, another BLAS, a checkpoint another rank did not see) must stop
    /// the run rather than silently average diverged models. The hash is only computed with
    /// several ranks (one pass over every weight otherwise wasted in a single process).
    public func checkSame(_ hash: @autoclosure () -> UInt64, what: String) throws {
        guard isParallel else { return }
        let all = allGather(withUnsafeBytes(of: hash().littleEndian) { Array($0) }).map { bytes in
            bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        }
        guard Set(all).count == 1 else {
            throw TSRecError(.numeric("\(what) differ between ranks (hashes by rank: \(all.map { String($0, radix: 16) }.joined(separator: " ")))"),
                             hint: "every rank must run the same build and see the same results folder (a shared filesystem); "
                                 + "resume under the same number of ranks")
        }
    }
}

/// One process: rank 0 of 1; every collective returns its input.
public struct SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func sumInPlace(_ values: UnsafeMutableBufferPointer<Float>) {}
    public func sum(_ values: [Double]) -> [Double] { values }
    public func allGather(_ bytes: [UInt8]) -> [[UInt8]] { [bytes] }
    public func broadcast(_ bytes: [UInt8]) -> [UInt8] { bytes }
    public func barrier() {}
}

extension Communicator where Self == SingleProcess {
    public static var single: SingleProcess { SingleProcess() }
}

/// A cheap fingerprint of parameter values (FNV-1a over the float bit patterns, 4 lanes), for
/// `Communicator.checkSame`: any bit that differs changes it; not a cryptographic hash.
public func parameterHash(_ tensors: [Tensor]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for t in tensors {
        t.withUnsafeBufferPointer { v in
            // 4 independent lanes, so the loop is not one long chain of dependent multiplies.
            var lanes: (UInt64, UInt64, UInt64, UInt64) = (h, h ^ 1, h ^ 2, h ^ 3)
            let prime: UInt64 = 0x100_0000_01b3
            var i = 0
            while i + 4 <= v.count {
                lanes.0 = (lanes.0 ^ UInt64(v[i].bitPattern)) &* prime
                lanes.1 = (lanes.1 ^ UInt64(v[i + 1].bitPattern)) &* prime
                lanes.2 = (lanes.2 ^ UInt64(v[i + 2].bitPattern)) &* prime
                lanes.3 = (lanes.3 ^ UInt64(v[i + 3].bitPattern)) &* prime
                i += 4
            }
            while i < v.count { lanes.0 = (lanes.0 ^ UInt64(v[i].bitPattern)) &* prime; i += 1 }
            h = ((lanes.0 &* 31 ^ lanes.1) &* 31 ^ lanes.2) &* 31 ^ lanes.3 ^ UInt64(v.count)
        }
    }
    return h
}
