import CDNNL
import Synchronization

/// How the engine's matrix products round their operands.
public enum MatmulPrecision: String, Codable, Sendable, Hashable, CaseIterable {
    /// fp32 operands through OpenBLAS: the reference path, and every run's default.
    case fp32
    /// Both operands rounded to bfloat16 (to nearest, ties to even), products accumulated and
    /// written in fp32, on oneDNN's matmul (its AVX-512 BF16 kernels where the CPU has them):
    /// the rounding of a bf16 autocast matmul, with fp32 outputs. Opt-in.
    case bf16
}

/// Matrix products with bfloat16 operands and fp32 accumulation, on oneDNN's matmul primitive
/// (Debian's libdnnl-dev). `sgemm` hands its products of at least `smallestProduct`
/// multiply-adds here inside `scope`, which a stage opens for its own work, so nothing outside it
/// changes precision.
///
/// Each call rounds `alpha·a` and `b` into contiguous bf16 copies in their stored layouts (`a`
/// as `[m, k]`, or `[k, m]` when transposed; `b` as `[k, n]`, or `[n, k]` when transposed, the
/// layout of a linear layer's weight; the buffers are kept between calls), then runs the
/// primitive for that shape, created once and kept (`primitives`, keyed by shape and `beta`),
/// with `beta · c` added by a sum post-op. The copies cost one pass over both operands per call;
/// oneDNN's bf16 kernels run 1.9–2.6× OpenBLAS's fp32 sgemm on the SmolLM2 shapes of this
/// project's AVX-512 BF16 host, a training step ×1.5 (docs/performance.md, session 21).
public final class BF16Matmul: @unchecked Sendable {
    // @unchecked: the engine and the primitives are oneDNN objects; the cache is behind a Mutex,
    // the operand buffers and execution behind another (`executing`); a stream is made per call.
    private let engine: dnnl_engine_t
    private let primitives = Mutex<[Shape: dnnl_primitive_t]>([:])
    /// One product at a time, with the bf16 copies of its operands in buffers kept for the next
    /// (grown to the largest product so far; no allocation, no page faults, per call). One at a
    /// time also because oneDNN's default build shares scratchpad memory: the same primitive run
    /// from two lanes at once computed NaNs (a smoke run's evaluation). Each product already uses
    /// every core through oneDNN's own threads.
    private let executing = Mutex<Operands>(Operands())

    /// Buffers of fixed-weight copies whose region has ended, by length, for the next region
    /// (the RL stage opens one a step): the copies are rewritten, not allocated and page-faulted
    /// again (a fresh 270 MB a step cost a bench training step ~10 %, session 22). They stay until
    /// this engine ends.
    private let spareCopies = Mutex<[Int: [[UInt16]]]>([:])

    /// A buffer of `count` bf16 values to overwrite whole: a spare one, or new and uninitialised.
    fileprivate func copyBuffer(count: Int) -> [UInt16] {
        if let spare = spareCopies.withLock({ $0[count]?.popLast() }) { return spare }
        return [UInt16](unsafeUninitializedCapacity: count) { _, initialised in initialised = count }
    }

    /// Takes back the copies of a region that ended.
    fileprivate func keepSpare(_ buffers: [[UInt16]]) {
        spareCopies.withLock { spare in for b in buffers where !b.isEmpty { spare[b.count, default: []].append(b) } }
    }

    struct Operands {
        var a: [UInt16] = [], b: [UInt16] = []
    }

    /// Products of fewer multiply-adds stay fp32 on OpenBLAS. By default 2²¹: attention's
    /// per-head products (64 × 64 × 64 = 2¹⁸ at the bench's training shape) are thousands of calls
    /// a step, and each call here pays for its copies and a oneDNN dispatch; every weight product
    /// of a training step or a decode batch (≥ 20 rows × 576 × 576 ≈ 2²³) is above it.
    public let smallestProduct: Int

    /// Whether `withFixedWeights` keeps bf16 copies of the fixed weights (default); false rounds
    /// every product's operands afresh, the same numbers slower (tested), for comparisons.
    public let keepsWeightCopies: Bool

    struct Shape: Hashable {
        var m, n, k: Int
        var transA, transB: Bool
        var ldc: Int
        var beta: UInt32   // bit pattern
    }

    /// A CPU engine; throws when oneDNN cannot make one.
    public init(smallestProduct: Int = 1 << 21, keepsWeightCopies: Bool = true) throws {
        self.smallestProduct = smallestProduct
        self.keepsWeightCopies = keepsWeightCopies
        var engine: dnnl_engine_t?
        try Self.check(dnnl_engine_create(&engine, dnnl_cpu, 0), "creating a CPU engine")
        self.engine = engine!
    }

    deinit {
        primitives.withLock { cache in for p in cache.values { dnnl_primitive_destroy(p) } }
        dnnl_engine_destroy(engine)
    }

    /// Runs `body` with every `sgemm` of this task (and the tasks it starts) on this object: bf16
    /// products for the scope, fp32 again after it.
    public func scope<T>(_ body: () throws -> T) rethrows -> T {
        try Kernels.$bf16Matmul.withValue(self, operation: body)
    }

    /// `c[m, n] = beta · c + bf16(alpha · op(a)) · bf16(op(b))`, row-major, fp32 accumulation;
    /// the arguments mean what they mean for `sgemm`.
    func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
              a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
              beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let shape = Shape(m: m, n: n, k: k, transA: transA, transB: transB, ldc: ldc, beta: beta.bitPattern)
        let primitive: dnnl_primitive_t
        do { primitive = try self.primitive(shape) } catch { fatalError("\(error)") }
        var stream: dnnl_stream_t?
        Self.mustSucceed(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "creating a stream")
        defer { dnnl_stream_destroy(stream) }
        let (bRows, bCols) = transB ? (n, k) : (k, n)
        let fixed = Kernels.bf16FixedWeights
        executing.withLock { operands in
            if operands.a.count < m * k { operands.a = [UInt16](repeating: 0, count: m * k) }
            operands.a.withUnsafeMutableBufferPointer { pa in
                // both operands as stored, contiguous, in bf16; the descriptors say which is transposed
                BF16.round(rows: transA ? k : m, cols: transA ? m : k, from: a, ld: lda, scale: alpha, into: pa)
                // b: a fixed weight's copy (made at its first product in the region), or rounded now
                Self.withRounded(b, rows: bRows, cols: bCols, ld: ldb, fixed: fixed, buffer: &operands.b) { pb in
                    var (src, weights, dst) = Self.descriptors(shape)
                    var memories: [dnnl_memory_t?] = [nil, nil, nil]
                    Self.mustSucceed(dnnl_memory_create(&memories[0], &src, engine, pa.baseAddress), "wrapping a")
                    // oneDNN's handle is a mutable pointer; a matmul only reads its weights
                    Self.mustSucceed(dnnl_memory_create(&memories[1], &weights, engine, UnsafeMutableRawPointer(mutating: pb.baseAddress)),
                                     "wrapping b")
                    Self.mustSucceed(dnnl_memory_create(&memories[2], &dst, engine, c), "wrapping c")
                    defer { for memory in memories { dnnl_memory_destroy(memory) } }
                    let args = [dnnl_exec_arg_t(arg: Self.argSource, memory: memories[0]),
                                dnnl_exec_arg_t(arg: Self.argWeights, memory: memories[1]),
                                dnnl_exec_arg_t(arg: Self.argDestination, memory: memories[2])]
                    Self.mustSucceed(dnnl_primitive_execute(primitive, stream, Int32(args.count), args), "running the matmul")
                    Self.mustSucceed(dnnl_stream_wait(stream), "waiting for the matmul")
                }
            }
        }
    }

    /// `body` with `b` `[rows, cols]` (rows `ld` apart) in bf16, contiguous: the copy `fixed`
    /// keeps when `b` is one of its weights whole, else rounded into `buffer` now.
    private static func withRounded(_ b: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int, fixed: BF16FixedWeights?,
                                    buffer: inout [UInt16], _ body: (UnsafeBufferPointer<UInt16>) -> Void) {
        if let fixed, fixed.withCopy(of: b, rows: rows, cols: cols, ld: ld, body) { return }
        if buffer.count < rows * cols { buffer = [UInt16](repeating: 0, count: rows * cols) }
        buffer.withUnsafeMutableBufferPointer { pb in
            BF16.round(rows: rows, cols: cols, from: b, ld: ld, scale: 1, into: pb)
            body(UnsafeBufferPointer(pb))
        }
    }

    /// Runs `body` with `weights` held fixed: inside a bf16 scope, each weight is rounded to
    /// bf16 once, at its first product, and that copy serves every product of the region that
    /// reads the weight whole (forward `x·Wᵀ` and backward `dY·W` alike), instead of a rounding per
    /// product. The caller promises that nothing writes to `weights` during `body` (never around
    /// an update). It pays where decoding reads every weight at each of many small products: the
    /// evaluation, the RL stage's steps (rollouts) and validations. The SFT step is no region: its
    /// products have ~1,000+ rows, and copies kept for a step were no faster there (session 22,
    /// docs/performance.md) but cost 270 MB. Outside a bf16 scope (fp32), or with
    /// `keepsWeightCopies` off, just `body`. Lanes inherit the region.
    public static func withFixedWeights<T>(_ weights: [Tensor], _ body: () throws -> T) rethrows -> T {
        guard let engine = Kernels.bf16Matmul, engine.keepsWeightCopies else { return try body() }
        return try Kernels.$bf16FixedWeights.withValue(BF16FixedWeights(weights, engine: engine), operation: body)
    }

    /// The implementation oneDNN picked for a product of this shape (e.g. `brg:avx512_core_bf16`).
    public func implementation(m: Int, n: Int, k: Int, transB: Bool) throws -> String {
        let pd = try primitiveDescriptor(Shape(m: m, n: n, k: k, transA: false, transB: transB, ldc: n, beta: Float(0).bitPattern))
        defer { dnnl_primitive_desc_destroy(pd) }
        var info: UnsafePointer<CChar>?
        try Self.check(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info), "querying the implementation")
        return info.map { String(cString: $0) } ?? "?"
    }

    // MARK: - oneDNN objects

    // DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST (dnnl_types.h)
    private static let argSource: Int32 = 1, argWeights: Int32 = 33, argDestination: Int32 = 17

    private func primitive(_ shape: Shape) throws -> dnnl_primitive_t {
        try primitives.withLock { cache in
            if let p = cache[shape] { return p }
            let pd = try primitiveDescriptor(shape)
            defer { dnnl_primitive_desc_destroy(pd) }
            var p: dnnl_primitive_t?
            try Self.check(dnnl_primitive_create(&p, pd), "creating a matmul primitive")
            cache[shape] = p!
            return p!
        }
    }

    /// src bf16 `[m, k]` (stored `[k, m]` when transposed), weights bf16 `[k, n]` (stored `[n, k]`
    /// when transposed), dst fp32 `[m, n]` with row stride `ldc`. A transposed src runs within
    /// 8 % of a plain one (measured, session 21), so it is not transposed in the copy.
    private static func descriptors(_ s: Shape) -> (dnnl_memory_desc_t, dnnl_memory_desc_t, dnnl_memory_desc_t) {
        func desc(_ dims: [Int], _ strides: [Int], _ type: dnnl_data_type_t) -> dnnl_memory_desc_t {
            var d = dnnl_memory_desc_t()
            mustSucceed(dnnl_memory_desc_init_by_strides(&d, 2, dims.map(Int64.init), type, strides.map(Int64.init)), "describing \(dims)")
            return d
        }
        return (desc([s.m, s.k], s.transA ? [1, s.m] : [s.k, 1], dnnl_bf16),
                desc([s.k, s.n], s.transB ? [1, s.k] : [s.n, 1], dnnl_bf16),
                desc([s.m, s.n], [s.ldc, 1], dnnl_f32))
    }

    /// The matmul of `shape` on this engine, with `beta · dst` added when `beta` is not 0.
    private func primitiveDescriptor(_ shape: Shape) throws -> dnnl_primitive_desc_t {
        let beta = Float(bitPattern: shape.beta)
        var (src, weights, dst) = Self.descriptors(shape)
        var op = dnnl_matmul_desc_t()
        try Self.check(dnnl_matmul_desc_init(&op, &src, &weights, nil, &dst), "describing a matmul")
        var attr: dnnl_primitive_attr_t?
        try Self.check(dnnl_primitive_attr_create(&attr), "creating attributes")
        defer { dnnl_primitive_attr_destroy(attr) }
        if beta != 0 {   // dst = product + beta · dst
            var postOps: dnnl_post_ops_t?
            try Self.check(dnnl_post_ops_create(&postOps), "creating post-ops")
            defer { dnnl_post_ops_destroy(postOps) }
            try Self.check(dnnl_post_ops_append_sum(postOps, beta), "adding the sum post-op")
            try Self.check(dnnl_primitive_attr_set_post_ops(attr, postOps), "setting post-ops")
        }
        var pd: dnnl_primitive_desc_t?
        try Self.check(withUnsafePointer(to: &op) { dnnl_primitive_desc_create(&pd, $0, attr, engine, nil) }, "creating a matmul descriptor")
        return pd!
    }

    private static func check(_ status: dnnl_status_t, _ what: String) throws {
        guard status == dnnl_success else {
            throw TSRecError(.config(field: "matmulPrecision", reason: "oneDNN failed \(what) (status \(status.rawValue))"),
                             hint: "use matmulPrecision fp32 (the reference path), or check libdnnl-dev (scripts/setup.sh installs it)")
        }
    }

    private static func mustSucceed(_ status: dnnl_status_t, _ what: String) {
        do { try check(status, what) } catch { fatalError("\(error)") }
    }
}

/// The bf16 copies of weights that stay fixed for a region (`BF16Matmul.withFixedWeights`).
///
/// A product's `b` is recognised as a weight by its address and extent: the region keeps every
/// weight alive, so no other buffer can have a weight's address while the region lasts, and only
/// a product that reads the weight whole (`rows · cols` equal to its count, rows contiguous) uses
/// the copy. The copies are valid for the region only; their buffers go back to the engine.
final class BF16FixedWeights: @unchecked Sendable {
    // @unchecked: `weights` are only read (and kept alive); `copies` is behind a Mutex.
    private let weights: [Tensor]
    private let engine: BF16Matmul
    /// A weight's first value's address (an identity, never dereferenced) → its index in `weights`.
    private let slots: [Int: Int]
    /// `weights[i]` in bf16 once a product has used it (empty until then); roundings made.
    private let copies: Mutex<(values: [[UInt16]], made: Int)>

    init(_ tensors: [Tensor], engine: BF16Matmul) {
        var slots: [Int: Int] = [:], kept: [Tensor] = []
        for t in tensors where t.count > 0 {
            let address = t.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress) }
            if slots[address] == nil { slots[address] = kept.count; kept.append(t) }   // tied weights once
        }
        (self.weights, self.slots, self.engine) = (kept, slots, engine)
        copies = Mutex(([[UInt16]](repeating: [], count: kept.count), 0))
    }

    deinit { engine.keepSpare(copies.withLock { $0.values }) }

    /// How many weights have been rounded in this region so far.
    var roundings: Int { copies.withLock { $0.made } }

    /// Runs `body` on the bf16 copy of the weight that starts at `b` and is `[rows, cols]` whole,
    /// rounding it first if this is its first product; false (and `body` not run) when `b` is no
    /// such weight.
    func withCopy(of b: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int,
                  _ body: (UnsafeBufferPointer<UInt16>) -> Void) -> Bool {
        guard let i = slots[Int(bitPattern: b)], ld == cols, rows * cols == weights[i].count else { return false }
        copies.withLock { copies in
            if copies.values[i].isEmpty {
                copies.values[i] = engine.copyBuffer(count: rows * cols)   // every value written next
                copies.values[i].withUnsafeMutableBufferPointer { out in
                    weights[i].withUnsafeBufferPointer { w in
                        BF16.round(rows: rows, cols: cols, from: w.baseAddress!, ld: cols, scale: 1, into: out)
                    }
                }
                copies.made += 1
            }
            copies.values[i].withUnsafeBufferPointer(body)
        }
        return true
    }
}

/// fp32 → bfloat16 rounding.
enum BF16 {
    /// The bfloat16 bits nearest to `x` (ties to even; NaN stays NaN). Branch-free, so loops
    /// over it vectorise.
    @inline(__always)
    static func bits(_ x: Float) -> UInt16 {
        let u = x.bitPattern
        let rounded = (u &+ 0x7FFF &+ ((u &>> 16) & 1)) &>> 16
        let isNaN = (u & 0x7FFF_FFFF) > 0x7F80_0000
        return UInt16(truncatingIfNeeded: isNaN ? (u &>> 16) | 0x0040 : rounded)
    }

    /// The float a bfloat16 bit pattern stands for.
    @inline(__always)
    static func value(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    /// `out[i·cols + j] = bits(scale · x[i, j])` for the `[rows, cols]` matrix at `from`, whose rows
    /// are `ld` apart, split over the kernel threads. (`scale · x` is exact when `scale` is 1.)
    static func round(rows: Int, cols: Int, from x: UnsafePointer<Float>, ld: Int, scale: Float,
                      into out: UnsafeMutableBufferPointer<UInt16>) {
        precondition(out.count >= rows * cols)
        nonisolated(unsafe) let out = out.baseAddress!, x = x   // each chunk writes its own rows
        Kernels.parallelChunks(rows, costPerItem: cols) { range in
            for i in range {
                let src = x + i * ld, dst = out + i * cols
                for j in 0 ..< cols { dst[j] = bits(scale * src[j]) }
            }
        }
    }
}
