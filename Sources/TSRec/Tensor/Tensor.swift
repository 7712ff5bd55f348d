/// A dense, contiguous, row-major Float32 array with a shape: the value type of the engine.
///
/// `Tensor` is a reference type on purpose: it is a node of the autograd graph (the `Tape`
/// captures it), its buffer is 64-byte aligned memory that BLAS reads and writes in place,
/// and a parameter is updated in place by the optimizer. Shapes are written `[rows, cols]`,
/// `[batch, seq, dim]`, ... and are checked at op boundaries with `precondition`.
///
/// Gradients: the gradient buffer is allocated (zeroed) on first use and *accumulated* into
/// (`+=`), so micro-batches add up until `zeroGrad()`; this is what gradient accumulation relies on.
///
/// Values and gradient are reached only through scoped access (`withUnsafeBufferPointer`,
/// `withUnsafeMutableGradBuffer`, …) or by copying out (`array`, `item`), never by a pointer
/// that could outlive the tensor.
public final class Tensor {
    public let shape: [Int]
    public let count: Int
    /// The values, `count` floats. Shared with tensors made by `Tape.reshape`. Reached only
    /// through the scoped `with…` functions below, which keep this tensor alive while they run.
    let storage: Storage
    /// Whether gradients flow into this tensor (parameters, and results of ops on them).
    public let requiresGrad: Bool
    /// Gradient buffer, same shape; nil until something is accumulated.
    private(set) var gradStorage: Storage?

    /// Owned, aligned float memory. Its address never leaves this file except as the argument
    /// of a closure that runs while the storage is kept alive (`withPointer`).
    final class Storage {
        fileprivate let base: UnsafeMutablePointer<Float>
        let count: Int
        init(count: Int, zeroed: Bool) {
            let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
            base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
            self.count = count
            if zeroed { base.initialize(repeating: 0, count: count) }
        }
        deinit { UnsafeMutableRawPointer(base).deallocate() }

        /// Runs `body` with the first of the `count` floats; the storage outlives the call.
        @inline(__always)
        func withPointer<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
            try withExtendedLifetime(self) { try body(base) }
        }

        /// Copies `n` floats of `src` starting at `srcOffset` to this storage at `offset`
        /// (bounds-checked; e.g. rows of keys into a KV cache).
        @inline(__always)
        func update(at offset: Int, from src: Storage, at srcOffset: Int, count n: Int) {
            precondition(n >= 0 && offset >= 0 && srcOffset >= 0 && offset + n <= count && srcOffset + n <= src.count,
                         "Storage.update: \(n) floats from \(srcOffset) of \(src.count) to \(offset) of \(count)")
            withPointer { dst in src.withPointer { s in (dst + offset).update(from: s + srcOffset, count: n) } }
        }
    }

    /// Zeros of the given shape.
    public init(zeros shape: [Int], requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.storage = Storage(count: count, zeroed: true)
        self.requiresGrad = requiresGrad
    }

    /// Uninitialised memory, for op outputs that are fully overwritten.
    init(uninitialized shape: [Int], requiresGrad: Bool) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.storage = Storage(count: count, zeroed: false)
        self.requiresGrad = requiresGrad
    }

    /// A new node viewing the same values with another shape (same element count).
    init(sharing other: Tensor, shape: [Int], requiresGrad: Bool) {
        precondition(shape.reduce(1, *) == other.count, "reshape \(other.shape) -> \(shape): element count differs")
        self.shape = shape
        self.count = other.count
        self.storage = other.storage
        self.requiresGrad = requiresGrad
    }

    /// A tensor holding `values` (copied) with the given shape.
    public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false) {
        precondition(values.count == shape.reduce(1, *), "Tensor: \(values.count) values for shape \(shape)")
        self.init(uninitialized: shape, requiresGrad: requiresGrad)
        withUnsafeMutableBufferPointer { dst in _ = dst.update(from: values) }
    }

    /// Normal(0, std²) entries drawn from `rng`.
    public static func randn(_ shape: [Int], std: Float = 1, requiresGrad: Bool = false,
                             using rng: inout SplitMix64) -> Tensor {
        let t = Tensor(uninitialized: shape, requiresGrad: requiresGrad)
        t.withPointer { p in for i in 0..<t.count { p[i] = rng.nextGaussian() * std } }
        return t
    }

    // MARK: - Access
    //
    // Memory safety by construction: the values and the gradient are reached only inside a
    // closure (standard-library style, `withUnsafe…Buffer…`), during which this tensor is kept
    // alive, or copied out (`array`, `gradArray`, `item`). A buffer must not escape its closure.
    // (An escaping accessor let `Array(model.prefill(…).data)` read freed memory: issue #20.)

    /// Runs `body` over the `count` values (read-only).
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withPointer { try body(UnsafeBufferPointer(start: $0, count: count)) }
    }

    /// Runs `body` over the `count` values, which it may change in place.
    public func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withPointer { try body(UnsafeMutableBufferPointer(start: $0, count: count)) }
    }

    /// Runs `body` over the gradient (read-only; zeros if nothing has been accumulated, which
    /// allocates it).
    public func withUnsafeGradBuffer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try withGradPointer { try body(UnsafeBufferPointer(start: $0, count: count)) }
    }

    /// Runs `body` over the gradient, allocating it (zeroed) on first use; writes accumulate
    /// like an op's backward pass would.
    public func withUnsafeMutableGradBuffer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try withGradPointer { try body(UnsafeMutableBufferPointer(start: $0, count: count)) }
    }

    /// A copy of the values.
    public var array: [Float] { withUnsafeBufferPointer { Array($0) } }
    public var rank: Int { shape.count }

    /// A copy of the gradient (zeros if nothing has been accumulated; allocates nothing).
    public var gradArray: [Float] {
        guard let g = gradStorage else { return [Float](repeating: 0, count: count) }
        return g.withPointer { Array(UnsafeBufferPointer(start: $0, count: count)) }
    }

    /// Whether a gradient buffer is allocated (something was accumulated, or it was asked for).
    public var hasGrad: Bool { gradStorage != nil }

    /// Forgets the gradient (a later accumulation starts from zero again).
    public func zeroGrad() {
        gradStorage?.withPointer { $0.update(repeating: 0, count: count) }
    }

    /// Drops the gradient buffer to free its memory.
    public func releaseGrad() { gradStorage = nil }

    /// The single value of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item: tensor of shape \(shape) has \(count) elements")
        return withPointer { $0[0] }
    }

    /// (rows, cols) of a rank-2 tensor; traps otherwise.
    public func dims2() -> (Int, Int) {
        precondition(rank == 2, "expected rank 2, got shape \(shape)")
        return (shape[0], shape[1])
    }

    /// (B, T, C) of a rank-3 tensor; traps otherwise.
    public func dims3() -> (Int, Int, Int) {
        precondition(rank == 3, "expected rank 3, got shape \(shape)")
        return (shape[0], shape[1], shape[2])
    }

    /// Copies values from another tensor of the same count (no graph edge).
    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy: \(other.shape) into \(shape)")
        withPointers(self, other) { dst, src in dst.update(from: src, count: count) }
    }

    /// Copies `values` (exactly `count` of them) into this tensor (no graph edge).
    public func copy(from values: [Float]) {
        precondition(values.count == count, "copy: \(values.count) values into \(shape)")
        withUnsafeMutableBufferPointer { dst in _ = dst.update(from: values) }
    }
}

// MARK: - Scoped pointers for the kernels (internal)

extension Tensor {
    /// Runs `body` with the first value; the tensor is kept alive until it returns.
    @inline(__always)
    func withPointer<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try storage.withPointer(body) }
    }

    /// Runs `body` with the gradient buffer, allocated (zeroed) on first use; ops accumulate into it.
    @inline(__always)
    func withGradPointer<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let g: Storage
        if let existing = gradStorage { g = existing } else { g = Storage(count: count, zeroed: true); gradStorage = g }
        return try withExtendedLifetime(self) { try g.withPointer(body) }
    }

    /// The gradient pointer for an op's input: allocated if this tensor `requiresGrad`, else nil
    /// (the backward kernels skip a nil gradient).
    @inline(__always)
    func withGradPointerIfRequired<R>(_ body: (UnsafeMutablePointer<Float>?) throws -> R) rethrows -> R {
        if requiresGrad { return try withGradPointer { try body($0) } }
        return try body(nil)
    }

    /// Runs `body` with the gradient accumulated into this tensor so far, if any (an op's output
    /// whose consumers sent no gradient has none, and its backward step has nothing to do).
    @inline(__always) @discardableResult
    func withAccumulatedGrad<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R? {
        guard let g = gradStorage else { return nil }
        return try withExtendedLifetime(self) { try g.withPointer(body) }
    }
}

typealias FloatPointer = UnsafeMutablePointer<Float>

/// The values of several tensors at once, for kernels that read and write many: every tensor is
/// kept alive while `body` runs. (Pointers never outlive the closure; `out` may alias an input.)
@inline(__always)
func withPointers<R>(_ a: Tensor, _ b: Tensor, _ body: (FloatPointer, FloatPointer) throws -> R) rethrows -> R {
    try a.withPointer { pa in try b.withPointer { pb in try body(pa, pb) } }
}

@inline(__always)
func withPointers<R>(_ a: Tensor, _ b: Tensor, _ c: Tensor,
                     _ body: (FloatPointer, FloatPointer, FloatPointer) throws -> R) rethrows -> R {
    try withPointers(a, b) { pa, pb in try c.withPointer { pc in try body(pa, pb, pc) } }
}

@inline(__always)
func withPointers<R>(_ a: Tensor, _ b: Tensor, _ c: Tensor, _ d: Tensor,
                     _ body: (FloatPointer, FloatPointer, FloatPointer, FloatPointer) throws -> R) rethrows -> R {
    try withPointers(a, b, c) { pa, pb, pc in try d.withPointer { pd in try body(pa, pb, pc, pd) } }
}

@inline(__always)
func withPointers<R>(_ a: Tensor, _ b: Tensor, _ c: Tensor, _ d: Tensor, _ e: Tensor,
                     _ body: (FloatPointer, FloatPointer, FloatPointer, FloatPointer, FloatPointer) throws -> R) rethrows -> R {
    try withPointers(a, b, c, d) { pa, pb, pc, pd in try e.withPointer { pe in try body(pa, pb, pc, pd, pe) } }
}

@inline(__always)
func withPointers<R>(_ a: Tensor, _ b: Tensor, _ c: Tensor, _ d: Tensor, _ e: Tensor, _ f: Tensor,
                     _ body: (FloatPointer, FloatPointer, FloatPointer, FloatPointer, FloatPointer, FloatPointer) throws -> R) rethrows -> R {
    try withPointers(a, b, c, d, e) { pa, pb, pc, pd, pe in try f.withPointer { pf in try body(pa, pb, pc, pd, pe, pf) } }
}

/// An optional tensor's values (nil when there is no tensor), e.g. statistics kept only for training.
@inline(__always)
func withOptionalPointer<R>(_ t: Tensor?, _ body: (FloatPointer?) throws -> R) rethrows -> R {
    guard let t else { return try body(nil) }
    return try t.withPointer { try body($0) }
}

/// The gradients of an op's inputs for its backward kernel: each allocated if that input
/// `requiresGrad`, else nil.
@inline(__always)
func withGradPointersIfRequired<R>(_ a: Tensor, _ b: Tensor,
                                   _ body: (FloatPointer?, FloatPointer?) throws -> R) rethrows -> R {
    try a.withGradPointerIfRequired { ga in try b.withGradPointerIfRequired { gb in try body(ga, gb) } }
}

@inline(__always)
func withGradPointersIfRequired<R>(_ a: Tensor, _ b: Tensor, _ c: Tensor,
                                   _ body: (FloatPointer?, FloatPointer?, FloatPointer?) throws -> R) rethrows -> R {
    try withGradPointersIfRequired(a, b) { ga, gb in try c.withGradPointerIfRequired { gc in try body(ga, gb, gc) } }
}

/// An optional input's gradient: nil when there is no tensor or it needs no gradient.
@inline(__always)
func withOptionalGradPointerIfRequired<R>(_ t: Tensor?, _ body: (FloatPointer?) throws -> R) rethrows -> R {
    guard let t else { return try body(nil) }
    return try t.withGradPointerIfRequired(body)
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = withUnsafeBufferPointer { Array($0.prefix(6)) }.map { String(format: "%.4f", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(count > 6 ? ", …" : "")])"
    }
}

import Foundation
