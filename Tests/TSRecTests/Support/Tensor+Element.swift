@testable import TSRec

extension Tensor {
    /// One value, read or written through the scoped accessors (bounds-checked by the buffer in
    /// debug builds; tests only: one closure call per element).
    subscript(_ i: Int) -> Float {
        get {
            precondition(i >= 0 && i < count, "Tensor[\(i)]: outside 0..<\(count)")
            return withUnsafeBufferPointer { $0[i] }
        }
        set {
            precondition(i >= 0 && i < count, "Tensor[\(i)]: outside 0..<\(count)")
            withUnsafeMutableBufferPointer { $0[i] = newValue }
        }
    }
}
