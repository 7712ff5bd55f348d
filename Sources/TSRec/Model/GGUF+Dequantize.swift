import Foundation

// Dequantization of GGUF tensors to Float32 (ggml-quants.c `dequantize_row_*` semantics).
//
//   F32   element = the 4 stored bytes
//   F16   element = IEEE half -> float (exact)
//   Q8_0  block of 32: f16 d, 32 × i8 q            x[j] = d·q[j]
//   Q4_1  block of 32: f16 d, f16 m, 16 bytes qs   x[j] = (qs[j] & 0xF)·d + m,  x[j+16] = (qs[j] >> 4)·d + m
//
// Runs at every model load (~135 M elements for SmolLM2), so the loops work on raw pointers and
// large tensors are split across threads in whole blocks (each element is written by exactly one
// thread with the same arithmetic, so the result does not depend on the thread count).

extension GGUFFile {
    /// The tensor `name` as Float32 in row-major order: GGUF dims `[ne0, ne1]` become the Swift
    /// shape `[ne1, ne0]` (`info.shape`), element `[r, c]` at `r·ne0 + c`.
    public func dequantize(_ name: String) throws -> [Float] {
        let info = try tensor(name)
        try checkDequantizable(info)
        return [Float](unsafeUninitializedCapacity: info.elementCount) { buffer, initialized in
            withRawBytes(of: info) { Self.dequantize(info.type, from: $0, into: buffer) }
            initialized = info.elementCount
        }
    }

    /// As `dequantize(_:)`, writing into `buffer`, which must hold exactly `elementCount` floats.
    public func dequantize(_ name: String, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        let info = try tensor(name)
        guard buffer.count == info.elementCount else {
            throw TSRecError(.shape(name: name, expected: info.shape, got: [buffer.count]),
                             hint: "the destination buffer must hold \(info.elementCount) floats")
        }
        try checkDequantizable(info)
        withRawBytes(of: info) { Self.dequantize(info.type, from: $0, into: buffer) }
    }

    private func checkDequantizable(_ info: GGUFTensorInfo) throws {
        guard info.type.isDequantizable else {
            throw TSRecError(.gguf(path: url.path, reason: "tensor '\(info.name)' has type \(info.type), which tsrec cannot dequantize (supported: F32, F16, Q8_0, Q4_1)"),
                             hint: "use the SmolLM2-135M-Instruct Q4_1 GGUF that `tsrec model fetch` downloads")
        }
    }

    /// Elements per parallel chunk; smaller tensors are converted on the calling thread.
    static let parallelChunk = 1 << 20

    /// Converts `src` (exactly `dst.count` elements of `type`) into `dst`.
    static func dequantize(_ type: GGMLType, from src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        let n = dst.count
        guard n > 0, let out = dst.baseAddress, let base = src.baseAddress else { return }
        let (blockElements, blockBytes) = type.blockLayout
        precondition(n % blockElements == 0 && src.count == n / blockElements * blockBytes,
                     "dequantize: \(src.count) bytes do not hold \(n) \(type) elements")
        // F32 is a plain byte copy (no alignment assumption on the mapped source).
        if type == .f32 {
            UnsafeMutableRawPointer(out).copyMemory(from: base, byteCount: n * 4)
            return
        }
        let blocks = n / blockElements
        let blocksPerChunk = max(1, parallelChunk / blockElements)
        let chunks = (blocks + blocksPerChunk - 1) / blocksPerChunk
        // Addresses cross into the concurrent closure as integers (pointers are not Sendable);
        // chunks write disjoint ranges of `dst`.
        let srcAddress = UInt(bitPattern: base), dstAddress = UInt(bitPattern: out)
        let work: @Sendable (Int) -> Void = { c in
            let first = c * blocksPerChunk
            let count = min(blocksPerChunk, blocks - first)
            let s = UnsafeRawPointer(bitPattern: srcAddress)! + first * blockBytes
            let d = UnsafeMutablePointer<Float>(bitPattern: dstAddress)! + first * blockElements
            switch type {
            case .f16: dequantizeF16(s, d, count)
            case .q8_0: dequantizeQ8_0(s, d, count)
            case .q4_1: dequantizeQ4_1(s, d, count)
            default: preconditionFailure("dequantize: unsupported type \(type)")
            }
        }
        if chunks == 1 {
            work(0)
        } else {
            DispatchQueue.concurrentPerform(iterations: chunks, execute: work)
        }
    }

    /// `count` F16 values.
    static func dequantizeF16(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count {
            dst[i] = halfToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        }
    }

    /// `blocks` Q8_0 blocks (34 bytes -> 32 floats): x[j] = d·q[j].
    static func dequantizeQ8_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let blk = src + b * 34
            let d = halfToFloat(UInt16(littleEndian: blk.loadUnaligned(as: UInt16.self)))
            let q = (blk + 2).assumingMemoryBound(to: Int8.self)
            let o = dst + b * 32
            for j in 0..<32 { o[j] = Float(q[j]) * d }
        }
    }

    /// `blocks` Q4_1 blocks (20 bytes -> 32 floats): low nibbles give x[0..<16], high nibbles x[16..<32].
    static func dequantizeQ4_1(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let blk = src + b * 20
            let d = halfToFloat(UInt16(littleEndian: blk.loadUnaligned(as: UInt16.self)))
            let m = halfToFloat(UInt16(littleEndian: blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
            let qs = (blk + 4).assumingMemoryBound(to: UInt8.self)
            let o = dst + b * 32
            for j in 0..<16 {
                let q = qs[j]
                o[j] = Float(q & 0x0F) * d + m
                o[j + 16] = Float(q >> 4) * d + m
            }
        }
    }
}

/// IEEE 754 binary16 -> binary32, exact for every input (subnormals, ±0, ±inf, NaN payloads).
@inline(__always)
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x03FF)
    if exponent == 0x1F {  // inf / NaN: keep the payload
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    if exponent == 0 {  // zero or subnormal: mantissa · 2^-24
        let magnitude = Float(mantissa) * (1.0 / 16_777_216.0)
        return sign == 0 ? magnitude : -magnitude
    }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))  // rebias 15 -> 127
}
