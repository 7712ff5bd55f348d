import Foundation

/// A reader for the safetensors format (Hugging Face): the file is
///
///     [8 bytes: little-endian UInt64 n] [n bytes: UTF-8 JSON header] [tensor bytes]
///
/// The header maps each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` with
/// offsets relative to the end of the header; an optional `"__metadata__"` entry holds strings.
/// Values are little-endian, row-major. The file is memory-mapped; `floats(_:)` converts one
/// tensor to Float32 (from F32, F16 or BF16). Every offset is checked against the file size, so a
/// truncated download fails with a message naming the tensor instead of reading garbage.
struct Safetensors {
    /// One tensor's entry in the header.
    struct Info: Sendable, Hashable {
        var dtype: String
        var shape: [Int]
        /// Byte range inside the data section (after the header).
        var begin: Int
        var end: Int
        var count: Int { shape.reduce(1, *) }
    }

    let path: String
    let tensors: [String: Info]
    let metadata: [String: String]
    private let data: Data
    private let dataStart: Int

    /// Bytes per element of the dtypes the header may name (those we can convert are F32/F16/BF16).
    static let elementSize: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
    ]

    /// Opens and validates a file (memory-mapped; nothing is converted yet).
    init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw TSRecError(.io(path: url.path, reason: "cannot read safetensors file: \(error.localizedDescription)"))
        }
        try self.init(data: data, path: url.path)
    }

    /// Parses an in-memory file (`path` is only used in error messages).
    init(data: Data, path: String) throws {
        self.path = path
        self.data = data
        func fail(_ reason: String, field: String = "") -> TSRecError {
            TSRecError(.format(path: path, line: 0, field: field, reason: reason),
                       hint: "the file is truncated or not a safetensors file; extract the model again")
        }
        guard data.count >= 8 else { throw fail("file has \(data.count) bytes, fewer than the 8-byte header length") }
        var n: UInt64 = 0
        for i in (0..<8).reversed() { n = n << 8 | UInt64(data[data.startIndex + i]) }
        guard n > 0, n <= UInt64(data.count - 8), n < 100 << 20 else {
            throw fail("header length \(n) does not fit in a file of \(data.count) bytes")
        }
        let headerEnd = 8 + Int(n)
        dataStart = headerEnd
        let headerBytes = data.subdata(in: data.startIndex + 8 ..< data.startIndex + headerEnd)
        guard let object = try? JSONSerialization.jsonObject(with: headerBytes), let dict = object as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let available = data.count - headerEnd
        var tensors: [String: Info] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in dict {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw fail("__metadata__ is not an object", field: name) }
                for (k, v) in m { metadata[k] = (v as? String) ?? "\(v)" }
                continue
            }
            guard let entry = value as? [String: Any],
                  let dtype = entry["dtype"] as? String,
                  let shapeAny = entry["shape"] as? [Any],
                  let offsetsAny = entry["data_offsets"] as? [Any], offsetsAny.count == 2
            else { throw fail("expected {dtype, shape, data_offsets[2]}", field: name) }
            let shape = shapeAny.compactMap { ($0 as? NSNumber)?.intValue }
            let offsets = offsetsAny.compactMap { ($0 as? NSNumber)?.intValue }
            guard shape.count == shapeAny.count, shape.allSatisfy({ $0 >= 0 }), offsets.count == 2 else {
                throw fail("shape and data_offsets must be non-negative integers", field: name)
            }
            guard let size = Self.elementSize[dtype] else { throw fail("unknown dtype \(dtype)", field: name) }
            let info = Info(dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
            guard info.begin >= 0, info.begin <= info.end, info.end - info.begin == info.count * size else {
                throw fail("data_offsets \(offsets) do not hold \(info.count) × \(size) bytes of \(dtype)", field: name)
            }
            guard info.end <= available else {
                throw fail("tensor ends at byte \(info.end) of the data section, which has only \(available) bytes (truncated file?)",
                           field: name)
            }
            tensors[name] = info
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The tensor's values as Float32, row-major. Throws if it is missing or not F32/F16/BF16.
    func floats(_ name: String) throws -> [Float] {
        guard let info = tensors[name] else {
            throw TSRecError(.missing(what: "safetensors tensor '\(name)'", path: path))
        }
        let n = info.count
        var out = [Float](repeating: 0, count: n)
        let base = data.startIndex + dataStart + info.begin
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let src = raw.baseAddress! + (base - data.startIndex)
            try out.withUnsafeMutableBufferPointer { dst in
                switch info.dtype {
                case "F32":
                    for i in 0..<n { dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
                case "F16":
                    for i in 0..<n {
                        dst[i] = Self.halfToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                    }
                case "BF16":
                    for i in 0..<n {
                        let h = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                        dst[i] = Float(bitPattern: UInt32(h) << 16)
                    }
                default:
                    throw TSRecError(.format(path: path, line: 0, field: name,
                                             reason: "dtype \(info.dtype) cannot be read as floats (F32, F16, BF16 only)"))
                }
            }
        }
        return out
    }

    /// The tensor as a `Tensor`, checking its shape against `expected`.
    func tensor(_ name: String, shape expected: [Int]) throws -> Tensor {
        guard let info = tensors[name] else {
            throw TSRecError(.missing(what: "safetensors tensor '\(name)'", path: path))
        }
        guard info.shape == expected else { throw TSRecError(.shape(name: name, expected: expected, got: info.shape)) }
        return Tensor(try floats(name), shape: expected)
    }

    /// IEEE 754 binary16 → binary32, exact (subnormals, infinities and NaNs included).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            // ±0 or subnormal: mantissa · 2^-24.
            let magnitude = Float(mantissa) * Float(bitPattern: 0x3380_0000)  // 2^-24
            return sign == 0 ? magnitude : -magnitude
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }
}

