/// A dense, contiguous, row-major Float32 array with a shape: the value type of the engine.
///
/// `Tensor` is a reference type on purpose: it is a node of the autograd graph (the `Tape`
/// captures it), its buffer is 64-byte aligned memory that BLAS reads and writes in place,
/// and a parameter is updated in place by the optimizer. Shapes are written `[rows, cols]`,
/// `[batch, seq, dim]`, ... and are checked at op boundaries with `precondition`.
///
/// Gradients: `grad` is allocated (zeroed) on first use and *accumulated* into (`+=`), so
/// micro-batches add up until `zeroGrad()`; this is what gradient accumulation relies on.
public final class Tensor {
    public let shape: [Int]
    public let count: Int
    /// The values, `count` floats. Shared with tensors made by `reshaped(_:)`.
    public let storage: Storage
    /// Whether gradients flow into this tensor (parameters, and results of ops on them).
    public let requiresGrad: Bool
    /// Gradient buffer, same shape; nil until something is accumulated.
    public private(set) var gradStorage: Storage?

    /// Owned, aligned float memory.
    public final class Storage {
        public let pointer: UnsafeMutablePointer<Float>
        public let count: Int
        init(count: Int, zeroed: Bool) {
            let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
            pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
            self.count = count
            if zeroed { pointer.initialize(repeating: 0, count: count) }
        }
        deinit { UnsafeMutableRawPointer(pointer).deallocate() }
        var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
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
        values.withUnsafeBufferPointer { src in storage.pointer.update(from: src.baseAddress!, count: values.count) }
    }

    /// Normal(0, std²) entries drawn from `rng`.
    public static func randn(_ shape: [Int], std: Float = 1, requiresGrad: Bool = false,
                             using rng: inout SplitMix64) -> Tensor {
        let t = Tensor(uninitialized: shape, requiresGrad: requiresGrad)
        for i in 0..<t.count { t.storage.pointer[i] = rng.nextGaussian() * std }
        return t
    }

    // MARK: - Access

    public var data: UnsafeMutableBufferPointer<Float> { storage.buffer }
    public var pointer: UnsafeMutablePointer<Float> { storage.pointer }
    public var array: [Float] { Array(storage.buffer) }
    public var rank: Int { shape.count }

    /// The gradient (zeros if nothing has been accumulated yet), allocating it on first use.
    public var grad: UnsafeMutableBufferPointer<Float> { gradPointer().pointer.withBuffer(count) }
    public var gradArray: [Float] { gradStorage.map { Array($0.buffer) } ?? [Float](repeating: 0, count: count) }

    /// The gradient buffer, allocated and zeroed on first use; ops accumulate into it.
    @inline(__always) func gradPointer() -> Storage {
        if let g = gradStorage { return g }
        let g = Storage(count: count, zeroed: true)
        gradStorage = g
        return g
    }

    /// Forgets the gradient (a later accumulation starts from zero again).
    public func zeroGrad() {
        if let g = gradStorage { g.pointer.update(repeating: 0, count: count) }
    }

    /// Drops the gradient buffer to free its memory.
    public func releaseGrad() { gradStorage = nil }

    /// The single value of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item: tensor of shape \(shape) has \(count) elements")
        return storage.pointer[0]
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
        pointer.update(from: other.pointer, count: count)
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    @inline(__always) func withBuffer(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: self, count: count)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = data.prefix(6).map { String(format: "%.4f", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(count > 6 ? ", …" : "")])"
    }
}

import Foundation
