import Dispatch
import Foundation

/// The pointer-level kernels behind every `Tape` op, llm.c style: each op's forward kernel sits
/// next to its backward kernel in the op's `Tensor+<Op>.swift` file. They take raw
/// `UnsafeMutablePointer<Float>` buffers and sizes, allocate nothing per element, and know
/// nothing about the tape, so the inference path (KV-cache decoding) calls the forward kernels
/// directly. Backward kernels *accumulate* (`+=`) into gradient buffers.
///
/// This file holds the shared helpers: row parallelism, a vectorizable `exp`, and reductions.
enum Kernels {}

// MARK: - Parallelism

extension Kernels {
    /// Worker threads for `parallelChunks` (the target machine has 2 cores). BLAS calls are
    /// synchronous, so these loops never run at the same time as OpenBLAS's own threads.
    /// `OPENBLAS_NUM_THREADS`, when set, caps them too: it is the threads per rank under `mpirun`
    /// (docs/mpi.md), and 2 ranks × 2 kernel threads on 2 cores would contend.
    static let threads = threadCount(environment: ProcessInfo.processInfo.environment,
                                     cores: ProcessInfo.processInfo.activeProcessorCount)

    /// The threads `parallelChunks` may use on this thread when set: 1 inside `Lanes.run`, whose
    /// lanes each take one core. Scoped (`$laneThreads.withValue`), not a process setting.
    @TaskLocal static var laneThreads: Int?

    /// When set, `sgemm` rounds both operands to bfloat16 and multiplies on oneDNN
    /// (`MatmulPrecision.bf16`); nil: fp32 on OpenBLAS. Scoped to a stage
    /// (`BF16Matmul.scope`), not a process setting.
    @TaskLocal static var bf16Matmul: BF16Matmul?

    /// The weights held fixed in the current region of a bf16 scope, with their bf16 copies
    /// (`BF16Matmul.withFixedWeights`); nil: every product rounds both operands.
    @TaskLocal static var bf16FixedWeights: BF16FixedWeights?

    static func threadCount(environment: [String: String], cores: Int) -> Int {
        let cap = environment["OPENBLAS_NUM_THREADS"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil } ?? cores
        return max(1, min(cores, cap, 8))
    }

    /// Runs `body` on contiguous pieces of `0..<n` (one piece per thread), or inline when the
    /// total work (`n · costPerItem` element-operations) is too small to pay for a thread hop.
    ///
    /// Deterministic by construction: every item (row) is processed by exactly one call of
    /// `body`, which must only write that item's outputs, so results do not depend on the split.
    /// Cross-item reductions (e.g. a weight gradient summed over rows) must be done outside.
    @inline(__always)
    static func parallelChunks(_ n: Int, costPerItem: Int, _ body: (Range<Int>) -> Void) {
        let pieces = min(laneThreads ?? threads, n)
        if pieces <= 1 || n * max(costPerItem, 1) < 1 << 16 { body(0..<n); return }
        withoutActuallyEscaping(body) { body in
            // The pieces write disjoint rows; the closure is only called during this call.
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: pieces) { t in
                body((n * t / pieces)..<(n * (t + 1) / pieces))
            }
        }
    }
}

// MARK: - Scalar math

extension Kernels {
    /// `exp(x)` in Float32, branch-free (Cephes `expf` polynomial, Moshier 1984) so that loops
    /// over it auto-vectorize, unlike calls into libm. Relative error < 2e-7 on [-87, 88]
    /// (checked against Double `exp` in GradientCheckTests); inputs are clamped to
    /// [-87.3, 88.3], so very negative inputs give ~1e-38 instead of 0 and nothing overflows.
    @inline(__always) static func exp(_ x0: Float) -> Float {
        var x = x0 < -87.3 ? -87.3 : x0
        x = x > 88.3 ? 88.3 : x
        // x = n·ln2 + r with n = round(x / ln2): adding 1.5·2²³ rounds to an integer in the low
        // mantissa bits, read back below as the exponent n without a float→int conversion.
        let t = x * 1.442_695_040_888_963_4 + 12_582_912.0
        let n = t - 12_582_912.0
        x = x - n * 0.693_359_375 + n * 2.121_944_4e-4     // ln2 split in two for exactness
        let z = x * x
        var y: Float = 1.987_569_150_0e-4
        y = y * x + 1.398_199_950_7e-3
        y = y * x + 8.333_451_907_3e-3
        y = y * x + 4.166_579_589_4e-2
        y = y * x + 1.666_666_545_9e-1
        y = y * x + 5.000_000_120_1e-1
        y = y * z + x + 1
        let nBits = t.bitPattern &- 0x4B40_0000           // n as a two's-complement integer
        return y * Float(bitPattern: (nBits &+ 127) &<< 23)  // · 2ⁿ
    }

    /// erf(x) in Float32 without libm calls (vectorizable): erfc(|x|) by the Chebyshev-fitted
    /// formula of Numerical Recipes §6.2 (`erfcc`, fractional error < 1.2e-7), so
    /// |erf(x) − erf_exact(x)| < 3e-7 everywhere (checked in GradientCheckTests).
    @inline(__always) static func erf(_ x: Float) -> Float {
        let z = x < 0 ? -x : x
        let t = 1 / (1 + 0.5 * z)
        var p: Float = 0.170_872_77
        p = p * t - 0.822_152_23
        p = p * t + 1.488_515_87
        p = p * t - 1.135_203_98
        p = p * t + 0.278_868_07
        p = p * t - 0.186_288_06
        p = p * t + 0.096_784_18
        p = p * t + 0.374_091_96
        p = p * t + 1.000_023_68
        p = p * t - 1.265_512_23
        let erfc = t * exp(-z * z + p)
        return x < 0 ? erfc - 1 : 1 - erfc
    }

    /// The logistic function σ(x) = 1 / (1 + e^(−x)).
    @inline(__always) static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }
}

// MARK: - Reductions over one row

extension Kernels {
    /// Σ a[i]·b[i] over `n` floats, 16 lanes (the lanes' order is fixed, so it is deterministic).
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD16<Float>()
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var i = 0
        while i + 16 <= n {
            acc += ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
                * rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
            i += 16
        }
        var s = acc.sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// Σ a[i] over `n` floats, 16 lanes.
    @inline(__always)
    static func rowSum(_ a: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD16<Float>()
        let ra = UnsafeRawPointer(a)
        var i = 0
        while i + 16 <= n { acc += ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self); i += 16 }
        var s = acc.sum()
        while i < n { s += a[i]; i += 1 }
        return s
    }

    /// max a[i] over `n ≥ 1` floats (eight independent accumulators, so it pipelines).
    @inline(__always)
    static func rowMax(_ a: UnsafePointer<Float>, _ n: Int) -> Float {
        var m0 = -Float.infinity, m1 = m0, m2 = m0, m3 = m0, m4 = m0, m5 = m0, m6 = m0, m7 = m0
        var i = 0
        while i + 8 <= n {
            m0 = a[i] > m0 ? a[i] : m0; m1 = a[i + 1] > m1 ? a[i + 1] : m1
            m2 = a[i + 2] > m2 ? a[i + 2] : m2; m3 = a[i + 3] > m3 ? a[i + 3] : m3
            m4 = a[i + 4] > m4 ? a[i + 4] : m4; m5 = a[i + 5] > m5 ? a[i + 5] : m5
            m6 = a[i + 6] > m6 ? a[i + 6] : m6; m7 = a[i + 7] > m7 ? a[i + 7] : m7
            i += 8
        }
        var m = Swift.max(Swift.max(Swift.max(m0, m1), Swift.max(m2, m3)), Swift.max(Swift.max(m4, m5), Swift.max(m6, m7)))
        while i < n { m = a[i] > m ? a[i] : m; i += 1 }
        return m
    }

    /// Σ a[i]² over a long buffer: Float lanes per 4096-element block, blocks summed in Double
    /// (used for global gradient norms over ~10⁸ elements).
    static func sumOfSquaresDouble(_ a: UnsafePointer<Float>, _ n: Int) -> Double {
        var total: Double = 0
        var start = 0
        while start < n {
            let len = min(4096, n - start)
            total += Double(dot(a + start, a + start, len))
            start += len
        }
        return total
    }
}
