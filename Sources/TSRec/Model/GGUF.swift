import Foundation

// GGUF v3 reader (ggml docs/gguf.md). Layout, all little-endian:
//
//   u32 magic "GGUF" | u32 version (3) | u64 tensor_count | u64 kv_count
//   kv_count × { string key | u32 value_type | value }
//   tensor_count × { string name | u32 n_dims | u64 dims[n_dims] | u32 ggml_type | u64 offset }
//   padding to `general.alignment` (default 32) | tensor data (each tensor at data_start + offset)
//
// A string is u64 byte length + UTF-8 bytes (no terminator). An array value is u32 element type +
// u64 count + elements. `dims` lists the fastest-varying axis first: a matrix stored row-major as
// [rows, cols] appears as dims [cols, rows].

/// Type tags of GGUF metadata values (gguf.md `gguf_metadata_value_type`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes one value of this type takes at least (strings: the u64 length; arrays: type + count).
    var minimumSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .string: 8
        case .array: 12
        }
    }
}

/// One metadata value. Arrays keep their element type so an empty array still says what it holds.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16)
    case uint32(UInt32), int32(Int32), uint64(UInt64), int64(Int64)
    case float32(Float), float64(Double)
    case bool(Bool)
    case string(String)
    case array(GGUFValueType, [GGUFValue])

    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .uint64: .uint64
        case .int64: .int64
        case .float32: .float32
        case .float64: .float64
        case .bool: .bool
        case .string: .string
        case .array: .array
        }
    }

    /// Any integer type as `Int` (nil for non-integers and for u64 values above `Int.max`).
    public var intValue: Int? {
        switch self {
        case let .uint8(v): Int(v)
        case let .int8(v): Int(v)
        case let .uint16(v): Int(v)
        case let .int16(v): Int(v)
        case let .uint32(v): Int(v)
        case let .int32(v): Int(v)
        case let .uint64(v): Int(exactly: v)
        case let .int64(v): Int(v)
        default: nil
        }
    }

    /// Floats, and integers (exactly representable ones), as `Double`.
    public var doubleValue: Double? {
        switch self {
        case let .float32(v): Double(v)
        case let .float64(v): v
        default: intValue.map(Double.init)
        }
    }

    public var boolValue: Bool? { if case let .bool(v) = self { v } else { nil } }
    public var stringValue: String? { if case let .string(v) = self { v } else { nil } }
    public var arrayValue: [GGUFValue]? { if case let .array(_, v) = self { v } else { nil } }
}

/// ggml tensor element types as stored in GGUF (ggml.h `enum ggml_type`; 4, 5 and 31-33 retired).
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_XXS = 16, iq2_XS = 17, iq3_XXS = 18, iq1_S = 19, iq4_NL = 20, iq3_S = 21, iq2_S = 22
    case iq4_XS = 23, i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_M = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39

    /// (elements per block, bytes per block), from ggml's type traits (cross-checked with gguf-py
    /// `GGML_QUANT_SIZES`, except Q8_1 whose current ggml block is 2 f16 + 32 i8 = 36 bytes).
    var blockLayout: (elements: Int, bytes: Int) {
        switch self {
        case .f32: (1, 4)
        case .f16, .bf16: (1, 2)
        case .q4_0: (32, 18)
        case .q4_1: (32, 20)
        case .q5_0: (32, 22)
        case .q5_1: (32, 24)
        case .q8_0: (32, 34)
        case .q8_1: (32, 36)
        case .q2_K: (256, 84)
        case .q3_K: (256, 110)
        case .q4_K: (256, 144)
        case .q5_K: (256, 176)
        case .q6_K: (256, 210)
        case .q8_K: (256, 292)
        case .iq2_XXS: (256, 66)
        case .iq2_XS: (256, 74)
        case .iq3_XXS: (256, 98)
        case .iq1_S: (256, 50)
        case .iq4_NL: (32, 18)
        case .iq3_S: (256, 110)
        case .iq2_S: (256, 82)
        case .iq4_XS: (256, 136)
        case .i8: (1, 1)
        case .i16: (1, 2)
        case .i32: (1, 4)
        case .i64, .f64: (1, 8)
        case .iq1_M: (256, 56)
        case .tq1_0: (256, 54)
        case .tq2_0: (256, 66)
        case .mxfp4: (32, 17)
        }
    }

    /// Whether `GGUFFile.dequantize` can convert this type to Float32.
    public var isDequantizable: Bool { [.f32, .f16, .q8_0, .q4_1].contains(self) }

    /// ggml's spelling (`Q4_1`, `F32`, ...), as in error messages and llama.cpp logs.
    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q8_1: "Q8_1"
        case .q2_K: "Q2_K"
        case .q3_K: "Q3_K"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        case .q8_K: "Q8_K"
        case .iq2_XXS: "IQ2_XXS"
        case .iq2_XS: "IQ2_XS"
        case .iq3_XXS: "IQ3_XXS"
        case .iq1_S: "IQ1_S"
        case .iq4_NL: "IQ4_NL"
        case .iq3_S: "IQ3_S"
        case .iq2_S: "IQ2_S"
        case .iq4_XS: "IQ4_XS"
        case .i8: "I8"
        case .i16: "I16"
        case .i32: "I32"
        case .i64: "I64"
        case .f64: "F64"
        case .iq1_M: "IQ1_M"
        case .bf16: "BF16"
        case .tq1_0: "TQ1_0"
        case .tq2_0: "TQ2_0"
        case .mxfp4: "MXFP4"
        }
    }
}

/// Where one tensor lives in the file and how it is laid out.
public struct GGUFTensorInfo: Sendable, Hashable {
    public let name: String
    /// GGUF order: fastest-varying axis first (`[ne0, ne1, ...]`).
    public let dims: [Int]
    public let type: GGMLType
    /// Byte offset of the tensor's data relative to the start of the data section.
    public let offset: Int

    /// Row-major shape (`dims` reversed): GGUF `[ne0, ne1]` is a Swift `[ne1, ne0]` matrix.
    public var shape: [Int] { dims.reversed() }
    /// Number of elements (product of `dims`; 1 for a scalar with no dims).
    public var elementCount: Int { dims.reduce(1, *) }
    /// Bytes of data in the file: elementCount / block elements × block bytes.
    public var byteCount: Int { elementCount / type.blockLayout.elements * type.blockLayout.bytes }
}

/// A GGUF v3 file, memory-mapped: the header, all metadata, the tensor table, and on-demand
/// dequantization of tensors to Float32.
///
/// The file is memory-mapped read-only; it must not be truncated or rewritten in place while a
/// `GGUFFile` for it is alive (that would fault on access, as with any mmap).
///
/// Every structural problem (bad magic, wrong version, counts or lengths that run past the end of
/// the file, tensor data outside the file) throws `TSRecError(.gguf(path:reason:))` naming the field
/// and its byte offset; nothing in a corrupt file can trap.
public struct GGUFFile: Sendable {
    public let url: URL
    public let version: Int
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let tensors: [String: GGUFTensorInfo]
    /// Tensor names in file order.
    public let tensorNames: [String]
    /// `general.alignment`, default 32.
    public let alignment: Int
    /// Absolute byte offset of the data section (end of the tensor table, padded to `alignment`).
    public let dataOffset: Int
    /// Total size of the file in bytes.
    public var fileSize: Int { storage.count }

    let storage: MappedFile

    /// The only format version this reader accepts.
    static let supportedVersion = 3
    /// ggml's `GGML_MAX_DIMS`.
    static let maxDims = 4
    /// Arrays nested deeper than this are refused (the spec allows nesting; no real file nests).
    static let maxArrayDepth = 8

    public init(contentsOf url: URL) throws {
        self.url = url
        storage = try MappedFile(url: url)
        var r = GGUFCursor(bytes: storage.bytes, path: url.path)

        let magic = try r.readUInt32("magic")
        guard magic == 0x4655_4747 else {  // "GGUF" little-endian
            let bytes = withUnsafeBytes(of: magic.littleEndian) { Array($0) }
            let shown = bytes.map { (0x20..<0x7F).contains($0) ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined()
            throw r.error("bad magic \"\(shown)\" at byte offset 0 (expected \"GGUF\")",
                          hint: "this is not a GGUF file; re-download it (`tsrec model fetch`)")
        }
        let version = try r.readUInt32("version")
        guard version == UInt32(Self.supportedVersion) else {
            throw r.error("unsupported GGUF version \(version) at byte offset 4 (tsrec reads version 3)",
                          hint: "convert the model with a current llama.cpp `convert_hf_to_gguf.py`")
        }
        self.version = Int(version)
        let tensorCount = try r.readCount("tensor_count", minimumElementSize: 24)
        let kvCount = try r.readCount("metadata_kv_count", minimumElementSize: 13)

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(kvCount)
        for i in 0..<kvCount {
            let keyOffset = r.offset
            let key = try r.readString("key of metadata entry \(i)")
            let rawType = try r.readUInt32("value type of '\(key)'")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw r.error("metadata '\(key)': unknown value type \(rawType) at byte offset \(r.offset - 4)")
            }
            let value = try r.readValue(type, field: key, depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw r.error("duplicate metadata key '\(key)' at byte offset \(keyOffset)")
            }
            keys.append(key)
        }
        metadataKeys = keys
        self.metadata = metadata

        if let a = metadata["general.alignment"] {
            guard let v = a.intValue, v > 0, v % 8 == 0 else {
                throw r.error("general.alignment must be a positive multiple of 8, got \(a)")
            }
            alignment = v
        } else {
            alignment = 32
        }

        var tensors: [String: GGUFTensorInfo] = [:]
        var names: [String] = []
        names.reserveCapacity(tensorCount)
        for i in 0..<tensorCount {
            let start = r.offset
            let name = try r.readString("name of tensor \(i)")
            let nDims = try r.readUInt32("n_dims of tensor '\(name)'")
            guard nDims <= UInt32(Self.maxDims) else {
                throw r.error("tensor '\(name)': n_dims \(nDims) at byte offset \(r.offset - 4) exceeds \(Self.maxDims)")
            }
            var dims: [Int] = []
            var count = 1
            for d in 0..<Int(nDims) {
                let dimOffset = r.offset
                let raw = try r.readUInt64("dims[\(d)] of tensor '\(name)'")
                guard let v = Int(exactly: raw), v >= 0 else {
                    throw r.error("tensor '\(name)': dims[\(d)] = \(raw) at byte offset \(dimOffset) is absurd")
                }
                let (product, overflow) = count.multipliedReportingOverflow(by: v)
                guard !overflow, product <= storage.count * 256 else {
                    throw r.error("tensor '\(name)': dims \(dims + [v]) at byte offset \(dimOffset) give more elements than the file can hold")
                }
                count = product
                dims.append(v)
            }
            let typeOffset = r.offset
            let rawType = try r.readUInt32("type of tensor '\(name)'")
            guard let type = GGMLType(rawValue: rawType) else {
                throw r.error("tensor '\(name)': unknown ggml type \(rawType) at byte offset \(typeOffset)",
                              hint: "the file needs a newer reader; use a model quantized as F32/F16/Q8_0/Q4_1")
            }
            let block = type.blockLayout.elements
            if block > 1, (dims.first ?? 1) % block != 0 {
                throw r.error("tensor '\(name)': dims \(dims) at byte offset \(typeOffset): dims[0] is not a multiple of the \(type) block size \(block)")
            }
            let offsetAt = r.offset
            let rawOffset = try r.readUInt64("offset of tensor '\(name)'")
            guard let offset = Int(exactly: rawOffset), offset % alignment == 0 else {
                throw r.error("tensor '\(name)': data offset \(rawOffset) at byte offset \(offsetAt) is not a multiple of the alignment \(alignment)")
            }
            let info = GGUFTensorInfo(name: name, dims: dims, type: type, offset: offset)
            guard tensors.updateValue(info, forKey: name) == nil else {
                throw r.error("duplicate tensor name '\(name)' at byte offset \(start)")
            }
            names.append(name)
        }
        tensorNames = names
        self.tensors = tensors

        let dataOffset = (r.offset + alignment - 1) / alignment * alignment
        self.dataOffset = dataOffset
        for name in names {
            let t = tensors[name]!
            let (end, overflow) = (dataOffset + t.offset).addingReportingOverflow(t.byteCount)
            guard !overflow, end <= storage.count else {
                throw r.error("tensor '\(name)': data [\(dataOffset + t.offset), \(dataOffset + t.offset + t.byteCount)) runs past the end of the file (\(storage.count) bytes)",
                              hint: "the file is truncated; re-download it")
            }
        }
    }

    // MARK: - Typed metadata accessors

    /// The value of `key`, or an error naming the missing key.
    public func value(_ key: String) throws -> GGUFValue {
        guard let v = metadata[key] else {
            throw TSRecError(.gguf(path: url.path, reason: "missing metadata key '\(key)'"),
                             hint: "check that the file is the model tsrec expects (SmolLM2-135M-Instruct, llama architecture)")
        }
        return v
    }

    public func int(_ key: String) throws -> Int {
        let v = try value(key)
        guard let i = v.intValue else { throw typeError(key, v, expected: "an integer") }
        return i
    }

    public func float(_ key: String) throws -> Float { Float(try double(key)) }

    public func double(_ key: String) throws -> Double {
        let v = try value(key)
        guard let d = v.doubleValue else { throw typeError(key, v, expected: "a number") }
        return d
    }

    public func bool(_ key: String) throws -> Bool {
        let v = try value(key)
        guard let b = v.boolValue else { throw typeError(key, v, expected: "a bool") }
        return b
    }

    public func string(_ key: String) throws -> String {
        let v = try value(key)
        guard let s = v.stringValue else { throw typeError(key, v, expected: "a string") }
        return s
    }

    public func stringArray(_ key: String) throws -> [String] {
        let v = try value(key)
        guard case let .array(.string, items) = v else { throw typeError(key, v, expected: "an array of strings") }
        return items.map { $0.stringValue! }
    }

    public func intArray(_ key: String) throws -> [Int] {
        let v = try value(key)
        guard case let .array(_, items) = v else { throw typeError(key, v, expected: "an array of integers") }
        return try items.map { item in
            guard let i = item.intValue else { throw typeError(key, v, expected: "an array of integers") }
            return i
        }
    }

    public func floatArray(_ key: String) throws -> [Float] {
        let v = try value(key)
        guard case let .array(_, items) = v else { throw typeError(key, v, expected: "an array of numbers") }
        return try items.map { item in
            guard let d = item.doubleValue else { throw typeError(key, v, expected: "an array of numbers") }
            return Float(d)
        }
    }

    private func typeError(_ key: String, _ v: GGUFValue, expected: String) -> TSRecError {
        var what = "\(v.type)"
        if case let .array(t, _) = v { what = "array of \(t)" }
        return TSRecError(.gguf(path: url.path, reason: "metadata '\(key)' is \(what), expected \(expected)"))
    }

    /// The info for `name`, or an error naming the missing tensor.
    public func tensor(_ name: String) throws -> GGUFTensorInfo {
        guard let t = tensors[name] else {
            throw TSRecError(.gguf(path: url.path, reason: "no tensor named '\(name)' (file has \(tensors.count) tensors)"))
        }
        return t
    }

    /// The raw bytes of a tensor's data (valid while this file value is alive).
    func withRawBytes<R>(of info: GGUFTensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let start = dataOffset + info.offset
        return try body(UnsafeRawBufferPointer(rebasing: storage.bytes[start..<(start + info.byteCount)]))
    }
}

// MARK: - File mapping

/// A read-only `mmap` of a whole file, unmapped when the last reference goes away.
final class MappedFile: @unchecked Sendable {
    // @unchecked: the mapping is PROT_READ and never changes after init.
    let bytes: UnsafeRawBufferPointer
    var count: Int { bytes.count }

    init(url: URL) throws {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw TSRecError(.io(path: url.path, reason: "cannot open: \(reason)"),
                             hint: "run `tsrec model fetch`, or set TSREC_GGUF to the model file")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw TSRecError(.io(path: url.path, reason: "cannot stat: \(String(cString: strerror(errno)))"))
        }
        let size = Int(st.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw TSRecError(.io(path: url.path, reason: "cannot mmap \(size) bytes: \(String(cString: strerror(errno)))"))
        }
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

// MARK: - Bounds-checked cursor

/// Reads little-endian fields from the mapped bytes; every read checks the bounds first and
/// throws with the field name and byte offset instead of trapping.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var offset = 0

    var remaining: Int { bytes.count - offset }

    func error(_ reason: String, hint: String? = nil) -> TSRecError {
        TSRecError(.gguf(path: path, reason: reason), hint: hint)
    }

    mutating func need(_ n: Int, _ field: String) throws {
        guard n <= remaining else {
            throw error("truncated: \(field) needs \(n) bytes at byte offset \(offset), file has \(bytes.count) bytes",
                        hint: "the file is truncated or corrupt; re-download it")
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ field: String) throws -> T {
        try need(MemoryLayout<T>.size, field)
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return v
    }

    mutating func readUInt32(_ field: String) throws -> UInt32 { try read(UInt32.self, field) }
    mutating func readUInt64(_ field: String) throws -> UInt64 { try read(UInt64.self, field) }

    /// A u64 count whose elements take at least `minimumElementSize` bytes each: refused when the
    /// rest of the file could not hold that many.
    mutating func readCount(_ field: String, minimumElementSize: Int) throws -> Int {
        let at = offset
        let raw = try readUInt64(field)
        guard let n = Int(exactly: raw), n <= remaining / max(1, minimumElementSize) else {
            throw error("absurd \(field) \(raw) at byte offset \(at): the remaining \(remaining) bytes cannot hold that many",
                        hint: "the file is truncated or corrupt; re-download it")
        }
        return n
    }

    mutating func readString(_ field: String) throws -> String {
        let at = offset
        let raw = try readUInt64("length of \(field)")
        guard let n = Int(exactly: raw), n <= remaining else {
            throw error("string length \(raw) of \(field) at byte offset \(at) runs past the end of the file (\(bytes.count) bytes)",
                        hint: "the file is truncated or corrupt; re-download it")
        }
        // Invalid UTF-8 is repaired with U+FFFD rather than refused: metadata text is informational
        // and byte-level BPE vocabularies are plain UTF-8.
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]), as: UTF8.self)
        offset += n
        return s
    }

    mutating func readValue(_ type: GGUFValueType, field: String, depth: Int) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try read(UInt8.self, field))
        case .int8: return .int8(try read(Int8.self, field))
        case .uint16: return .uint16(try read(UInt16.self, field))
        case .int16: return .int16(try read(Int16.self, field))
        case .uint32: return .uint32(try read(UInt32.self, field))
        case .int32: return .int32(try read(Int32.self, field))
        case .uint64: return .uint64(try read(UInt64.self, field))
        case .int64: return .int64(try read(Int64.self, field))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self, field)))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self, field)))
        case .bool:
            let at = offset
            let b = try read(UInt8.self, field)
            guard b <= 1 else { throw error("metadata '\(field)': bool byte \(b) at byte offset \(at) is neither 0 nor 1") }
            return .bool(b == 1)
        case .string: return .string(try readString("metadata '\(field)'"))
        case .array:
            guard depth < GGUFFile.maxArrayDepth else {
                throw error("metadata '\(field)': arrays nested deeper than \(GGUFFile.maxArrayDepth) at byte offset \(offset)")
            }
            let typeAt = offset
            let rawType = try readUInt32("element type of '\(field)'")
            guard let elementType = GGUFValueType(rawValue: rawType) else {
                throw error("metadata '\(field)': unknown array element type \(rawType) at byte offset \(typeAt)")
            }
            let n = try readCount("element count of '\(field)'", minimumElementSize: elementType.minimumSize)
            var items: [GGUFValue] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(try readValue(elementType, field: field, depth: depth + 1)) }
            return .array(elementType, items)
        }
    }
}
