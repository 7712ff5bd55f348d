import Foundation
import Testing
@testable import TSRec

// GGUF reader tests: tiny files written here by `TinyGGUF` (an independent writer following
// ggml docs/gguf.md), hand-computed dequantization, truncation/corruption sweeps, and the real
// SmolLM2 file checked against gguf-py (`Fixtures/smollm2_reference.json`).

// MARK: - Shared: the real model file

/// The SmolLM2 GGUF: `$TSREC_GGUF`, else `<cache>/models/SmolLM2-135M-Instruct.Q4_1.gguf`.
enum RealGGUF {
    static let url: URL = {
        if let p = ProcessInfo.processInfo.environment["TSREC_GGUF"], !p.isEmpty { return URL(fileURLWithPath: p) }
        return Paths.fromEnvironment().models.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf")
    }()
    static let exists = FileManager.default.fileExists(atPath: url.path)
    static let skipMessage: Comment = "SmolLM2 GGUF not found (set TSREC_GGUF or run `tsrec model fetch`)"
    /// Parsed once per test process (the error, if any, is rethrown by every test that asks).
    static let parsed = Result { try GGUFFile(contentsOf: url) }
    static func file() throws -> GGUFFile { try parsed.get() }
}

/// Reference values produced by Fixtures/make_smollm2_reference.py.
struct ReferenceFixture: Decodable {
    struct Case: Decodable { let text: String; let ids: [Int]; let ids_with_added: [Int] }
    struct Tensor: Decodable {
        let name: String, type: String, dims: [Int], absolute_offset: Int
        let indices: [Int], values: [Float], sum: Double, sum_abs: Double
    }
    let added_tokens: [String]
    let added_token_ids: [Int]
    let cases: [Case]
    let tensors: [Tensor]

    static func load() throws -> ReferenceFixture {
        let url = try #require(Bundle.module.url(forResource: "smollm2_reference", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(ReferenceFixture.self, from: Data(contentsOf: url))
    }
}

// MARK: - Test writer

/// Writes GGUF v3 bytes: header, metadata, tensor table, padding, data (no trailing padding after
/// the last tensor, so every proper prefix of the output is a truncated file).
struct TinyGGUF {
    var magic: [UInt8] = Array("GGUF".utf8)
    var version: UInt32 = 3
    var alignment = 32
    var metadata: [(String, GGUFValue)] = []
    var tensors: [(name: String, dims: [Int], type: UInt32, data: [UInt8])] = []

    func bytes() -> [UInt8] {
        var out = magic
        out += le(version)
        out += le(UInt64(tensors.count))
        out += le(UInt64(metadata.count))
        for (k, v) in metadata {
            out += str(k)
            out += le(v.type.rawValue)
            out += value(v)
        }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset = (offset + t.data.count + alignment - 1) / alignment * alignment
        }
        for (t, off) in zip(tensors, offsets) {
            out += str(t.name)
            out += le(UInt32(t.dims.count))
            for d in t.dims { out += le(UInt64(d)) }
            out += le(t.type)
            out += le(UInt64(off))
        }
        out += [UInt8](repeating: 0, count: (out.count + alignment - 1) / alignment * alignment - out.count)
        for (i, t) in tensors.enumerated() {
            out += t.data
            if i + 1 < tensors.count { out += [UInt8](repeating: 0, count: offsets[i + 1] - offsets[i] - t.data.count) }
        }
        return out
    }

    func value(_ v: GGUFValue) -> [UInt8] {
        switch v {
        case let .uint8(x): [x]
        case let .int8(x): [UInt8(bitPattern: x)]
        case let .uint16(x): le(x)
        case let .int16(x): le(x)
        case let .uint32(x): le(x)
        case let .int32(x): le(x)
        case let .uint64(x): le(x)
        case let .int64(x): le(x)
        case let .float32(x): le(x.bitPattern)
        case let .float64(x): le(x.bitPattern)
        case let .bool(x): [x ? 1 : 0]
        case let .string(s): str(s)
        case let .array(t, items): le(t.rawValue) + le(UInt64(items.count)) + items.flatMap(value)
        }
    }

    func str(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }

}

func le<T: FixedWidthInteger>(_ x: T) -> [UInt8] { withUnsafeBytes(of: x.littleEndian) { Array($0) } }

/// A scratch directory for one test.
func scratchDirectory(_ name: String = #function) throws -> URL {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("tsrec-tests-\(getpid())")
        .appendingPathComponent(name.filter { $0.isLetter || $0.isNumber })
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// Writes `bytes` and parses them.
func parse(_ bytes: [UInt8], in dir: URL, name: String = "t.gguf") throws -> GGUFFile {
    let url = dir.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return try GGUFFile(contentsOf: url)
}

/// Expects a `.gguf` error whose reason contains every one of `fragments`.
func expectGGUFError(_ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected a GGUF error containing \(fragments)", sourceLocation: sourceLocation)
    } catch let e as TSRecError {
        guard case let .gguf(_, reason) = e.kind else {
            Issue.record("expected .gguf, got \(e)", sourceLocation: sourceLocation)
            return
        }
        for f in fragments where !reason.contains(f) {
            Issue.record("reason \"\(reason)\" lacks \"\(f)\"", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

// MARK: - Hand-built blocks

/// f16 bit patterns used below: 1.0, -2.0, 0.5, 0.25, -1.0, 65504 (max), 2^-24 (min subnormal), -0, +inf.
let h1: UInt16 = 0x3C00, hMinus2: UInt16 = 0xC000, hHalf: UInt16 = 0x3800, hQuarter: UInt16 = 0x3400
let hMinus1: UInt16 = 0xBC00, hMax: UInt16 = 0x7BFF, hTiny: UInt16 = 0x0001, hNegZero: UInt16 = 0x8000, hInf: UInt16 = 0x7C00

/// One Q8_0 block: d = 0.5, q[j] = j*8 - 128 for j < 32 (−128, −120, ..., 120).
let q8Block: [UInt8] = le(hHalf) + (0..<32).map { UInt8(bitPattern: Int8($0 * 8 - 128)) }
/// Its values, 0.5 · (j·8 − 128): −64, −60, ..., 60.
let q8Expected: [Float] = (0..<32).map { (j: Int) -> Float in Float(j * 8 - 128) * 0.5 }
/// One Q4_1 block: d = 0.25, m = −1, qs[j] = j | (15 − j) << 4.
let q41Block: [UInt8] = le(hQuarter) + le(hMinus1) + (0..<16).map { UInt8($0 | (15 - $0) << 4) }
/// A second Q4_1 block: d = 1, m = 0.5, qs[j] = 0xF0 | (j % 4) -> low nibbles 0,1,2,3,... high 15.
let q41Block2: [UInt8] = le(h1) + le(hHalf) + (0..<16).map { UInt8(0xF0 | ($0 % 4)) }

func tinyFile(alignment: Int = 32) -> TinyGGUF {
    var g = TinyGGUF()
    g.alignment = alignment
    if alignment != 32 { g.metadata.append(("general.alignment", .uint32(UInt32(alignment)))) }
    g.metadata += [
        ("general.architecture", .string("llama")),
        ("u8", .uint8(200)), ("i8", .int8(-100)), ("u16", .uint16(60_000)), ("i16", .int16(-30_000)),
        ("u32", .uint32(4_000_000_000)), ("i32", .int32(-2_000_000_000)),
        ("u64", .uint64(18_000_000_000_000_000_000)), ("i64", .int64(-9_000_000_000_000_000_000)),
        ("f32", .float32(1.5)), ("f64", .float64(-2.25e-300)), ("t", .bool(true)), ("f", .bool(false)),
        ("s", .string("héllo ✓ 🎉")), ("empty", .string("")),
        ("strs", .array(.string, [.string("a"), .string(""), .string("Ġthe")])),
        ("ints", .array(.int32, [.int32(1), .int32(-2), .int32(3)])),
        ("floats", .array(.float32, [.float32(0.5), .float32(-1)])),
        ("nested", .array(.array, [.array(.uint8, [.uint8(1), .uint8(2)]), .array(.uint8, [])])),
        ("none", .array(.float64, [])),
    ]
    g.tensors = [
        ("f32", [3, 2], GGMLType.f32.rawValue, [Float(1), -2, 3.5, 0, 1e-7, -1e30].flatMap { le($0.bitPattern) }),
        ("f16", [9], GGMLType.f16.rawValue, [h1, hMinus2, hHalf, hQuarter, hMinus1, hMax, hTiny, hNegZero, hInf].flatMap(le)),
        ("q8", [32], GGMLType.q8_0.rawValue, q8Block),
        ("q41", [32, 2], GGMLType.q4_1.rawValue, q41Block + q41Block2),
    ]
    return g
}

// MARK: - Tests

@Suite struct GGUFTests {
    @Test func metadataOfEveryTypeRoundTrips() throws {
        let g = tinyFile()
        let f = try parse(g.bytes(), in: try scratchDirectory())
        #expect(f.version == 3)
        #expect(f.metadataKeys == g.metadata.map(\.0))
        for (k, v) in g.metadata { #expect(f.metadata[k] == v, "key \(k)") }
        #expect(throws: TSRecError.self) { try f.int("u64") }  // above Int.max: refused, not wrapped
        #expect(try f.int("i64") == -9_000_000_000_000_000_000)
        #expect(try f.int("u32") == 4_000_000_000)
        #expect(try f.float("f32") == 1.5)
        #expect(try f.double("f64") == -2.25e-300)
        #expect(try f.bool("t") && !(try f.bool("f")))
        #expect(try f.string("s") == "héllo ✓ 🎉")
        #expect(try f.stringArray("strs") == ["a", "", "Ġthe"])
        #expect(try f.intArray("ints") == [1, -2, 3])
        #expect(try f.floatArray("floats") == [0.5, -1])
    }

    @Test func accessorsNameTheMissingKeyAndTheWrongType() throws {
        let f = try parse(tinyFile().bytes(), in: try scratchDirectory())
        expectGGUFError(["missing metadata key 'llama.block_count'"]) { _ = try f.int("llama.block_count") }
        expectGGUFError(["'s' is string, expected an integer"]) { _ = try f.int("s") }
        expectGGUFError(["'ints' is array of int32, expected an array of strings"]) { _ = try f.stringArray("ints") }
        expectGGUFError(["no tensor named 'nope'"]) { _ = try f.dequantize("nope") }
    }

    @Test func tensorTableAndLayout() throws {
        let f = try parse(tinyFile().bytes(), in: try scratchDirectory())
        #expect(f.tensorNames == ["f32", "f16", "q8", "q41"])
        let q41 = try f.tensor("q41")
        #expect(q41.dims == [32, 2] && q41.shape == [2, 32] && q41.type == .q4_1 && q41.elementCount == 64 && q41.byteCount == 40)
        #expect(f.alignment == 32 && f.dataOffset % 32 == 0)
        // Offsets relative to the data section, aligned: 24 B f32 -> 32, 18 B f16 -> 32, 34 B q8 -> 64.
        #expect(f.tensorNames.map { f.tensors[$0]!.offset } == [0, 32, 64, 128])
        #expect(f.dataOffset + 128 + 40 == f.fileSize)
    }

    @Test func dequantizesF32F16Q8Q41ByHand() throws {
        let f = try parse(tinyFile().bytes(), in: try scratchDirectory())
        #expect(try f.dequantize("f32") == [1, -2, 3.5, 0, 1e-7, -1e30])

        let h = try f.dequantize("f16")
        #expect(Array(h[0..<7]) == [1, -2, 0.5, 0.25, -1, 65504, 5.9604645e-8])
        #expect(h[7] == 0 && h[7].sign == .minus && h[8] == .infinity)

        // Q8_0: 0.5 · (j·8 − 128)  ->  −64, −60, ..., 60.
        let q8 = try f.dequantize("q8")
        #expect(Array(q8[0..<4]) == [-64, -60, -56, -52] && q8[16] == 0 && q8[31] == 60)
        #expect(q8 == q8Expected)

        // Q4_1 row 0: x[j] = j·0.25 − 1, x[j+16] = (15−j)·0.25 − 1.
        let q41 = try f.dequantize("q41")
        #expect(q41.count == 64)
        #expect(Array(q41[0..<4]) == [-1, -0.75, -0.5, -0.25] && q41[15] == 2.75)
        #expect(q41[16] == 2.75 && q41[17] == 2.5 && q41[31] == -1)
        // Row 1 (second block): low nibbles (j % 4)·1 + 0.5, high nibbles 15 + 0.5.
        #expect(Array(q41[32..<36]) == [0.5, 1.5, 2.5, 3.5] && q41[47] == 3.5)
        #expect(Array(q41[48..<64]) == [Float](repeating: 15.5, count: 16))
    }

    @Test func dequantizeIntoBufferChecksItsSize() throws {
        let f = try parse(tinyFile().bytes(), in: try scratchDirectory())
        var buffer = [Float](repeating: .nan, count: 64)
        try buffer.withUnsafeMutableBufferPointer { try f.dequantize("q41", into: $0) }
        #expect(buffer == (try f.dequantize("q41")))
        var small = [Float](repeating: 0, count: 63)
        #expect(throws: TSRecError.self) { try small.withUnsafeMutableBufferPointer { try f.dequantize("q41", into: $0) } }
    }

    @Test func halfToFloatMatchesFloat16ForAllBitPatterns() {
        var mismatches = 0
        for bits in 0...UInt16.max {
            let ours = halfToFloat(bits)
            let reference = Float(Float16(bitPattern: bits))
            if ours.isNaN ? !reference.isNaN : ours.bitPattern != reference.bitPattern { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    @Test func largeQuantizedTensorsSplitAcrossThreadsGiveTheSameResult() throws {
        // 2^21 + 32 elements: three parallel chunks, the last one short.
        var rng = SplitMix64(seed: 7)
        let blocks = (1 << 21) / 32 + 1
        var bytes: [UInt8] = []
        bytes.reserveCapacity(blocks * 20)
        var expected: [Float] = []
        for _ in 0..<blocks {
            let dHalf = Float16(Float(rng.next() % 1000) / 4096)
            let mHalf = Float16(-Float(rng.next() % 1000) / 1024)
            let d = Float(dHalf), m = Float(mHalf)
            let qs: [UInt8] = (0..<16).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            bytes += le(dHalf.bitPattern)
            bytes += le(mHalf.bitPattern)
            bytes += qs
            for q in qs { expected.append(Float(q & 0xF) * d + m) }
            for q in qs { expected.append(Float(q >> 4) * d + m) }
        }
        var g = TinyGGUF()
        g.tensors = [("big", [32, blocks], GGMLType.q4_1.rawValue, bytes)]
        let f = try parse(g.bytes(), in: try scratchDirectory())
        #expect(try f.dequantize("big") == expected)
    }

    @Test func customAlignmentIsHonoured() throws {
        let f = try parse(tinyFile(alignment: 64).bytes(), in: try scratchDirectory())
        #expect(f.alignment == 64 && f.dataOffset % 64 == 0)
        #expect(f.tensorNames.map { f.tensors[$0]!.offset } == [0, 64, 128, 192])
        #expect(try f.dequantize("q8") == q8Expected)
    }

    @Test func unsupportedTypesNameTheTensorAndType() throws {
        var g = TinyGGUF()
        g.tensors = [("blk.0.ffn_up.weight", [256], GGMLType.q4_K.rawValue, [UInt8](repeating: 0, count: 144))]
        let f = try parse(g.bytes(), in: try scratchDirectory())
        #expect(f.tensors["blk.0.ffn_up.weight"]?.type == .q4_K)
        expectGGUFError(["'blk.0.ffn_up.weight'", "Q4_K"]) { _ = try f.dequantize("blk.0.ffn_up.weight") }
        g.tensors[0].type = 99
        expectGGUFError(["unknown ggml type 99", "byte offset"]) { _ = try parse(g.bytes(), in: try scratchDirectory()) }
    }

    @Test func badMagicAndOtherVersionsAreRefused() throws {
        let dir = try scratchDirectory()
        var g = tinyFile()
        g.magic = Array("GGML".utf8)
        expectGGUFError(["bad magic \"GGML\"", "byte offset 0"]) { _ = try parse(g.bytes(), in: dir) }
        for v: UInt32 in [1, 2, 4] {
            g = tinyFile()
            g.version = v
            expectGGUFError(["unsupported GGUF version \(v)"]) { _ = try parse(g.bytes(), in: dir) }
        }
        expectGGUFError(["truncated", "magic"]) { _ = try parse([], in: dir) }
    }

    /// Every proper prefix of a valid file is refused with an error, never a crash.
    @Test func everyTruncationThrows() throws {
        let dir = try scratchDirectory()
        let bytes = tinyFile().bytes()
        let url = dir.appendingPathComponent("cut.gguf")
        var failures: [Int] = []
        for cut in 0..<bytes.count {
            try Data(bytes[0..<cut]).write(to: url)
            do {
                _ = try GGUFFile(contentsOf: url)
                failures.append(cut)
            } catch let e as TSRecError {
                if case let .gguf(_, reason) = e.kind, reason.contains("byte offset") || reason.contains("runs past the end") {
                } else { failures.append(cut) }
            }
        }
        #expect(failures.isEmpty, "cuts that parsed or gave an unhelpful error: \(failures.prefix(20))")
        _ = try parse(bytes, in: dir)  // and the whole file parses
    }

    @Test func corruptFieldsAreRefusedWithTheirOffset() throws {
        let dir = try scratchDirectory()
        let good = tinyFile().bytes()
        func patched(_ at: Int, _ new: [UInt8]) -> [UInt8] {
            var b = good
            b.replaceSubrange(at..<(at + new.count), with: new)
            return b
        }
        // Header: absurd tensor / kv counts.
        expectGGUFError(["absurd tensor_count", "byte offset 8"]) { _ = try parse(patched(8, le(UInt64(1) << 62)), in: dir) }
        expectGGUFError(["absurd metadata_kv_count", "byte offset 16"]) { _ = try parse(patched(16, le(UInt64.max)), in: dir) }
        // First key's length points past the end of the file.
        expectGGUFError(["string length", "byte offset 24", "past the end"]) { _ = try parse(patched(24, le(UInt64(1) << 40)), in: dir) }
        // First value type (after "general.architecture": 24 + 8 + 20) is not a GGUF type.
        expectGGUFError(["unknown value type 13", "byte offset 52"]) { _ = try parse(patched(52, le(UInt32(13))), in: dir) }

        // Tensor-table corruptions, on a file with one tensor so offsets are easy to compute.
        var g = TinyGGUF()
        g.tensors = [("w", [32, 2], GGMLType.q8_0.rawValue, q8Block + q8Block)]
        let one = g.bytes()
        let nDimsAt = 24 + 8 + 1
        func patchedOne(_ at: Int, _ new: [UInt8]) -> [UInt8] {
            var b = one
            b.replaceSubrange(at..<(at + new.count), with: new)
            return b
        }
        expectGGUFError(["n_dims 5", "byte offset \(nDimsAt)"]) { _ = try parse(patchedOne(nDimsAt, le(UInt32(5))), in: dir) }
        expectGGUFError(["dims[1]", "absurd"]) { _ = try parse(patchedOne(nDimsAt + 12, le(UInt64.max)), in: dir) }
        expectGGUFError(["more elements than the file can hold"]) { _ = try parse(patchedOne(nDimsAt + 12, le(UInt64(1) << 50)), in: dir) }
        expectGGUFError(["not a multiple of the Q8_0 block size"]) { _ = try parse(patchedOne(nDimsAt + 4, le(UInt64(31))), in: dir) }
        let offsetAt = nDimsAt + 4 + 16 + 4
        expectGGUFError(["not a multiple of the alignment", "byte offset \(offsetAt)"]) { _ = try parse(patchedOne(offsetAt, le(UInt64(8))), in: dir) }
        expectGGUFError(["tensor 'w'", "runs past the end of the file"]) { _ = try parse(patchedOne(offsetAt, le(UInt64(1 << 20))), in: dir) }
        // Duplicates.
        var dup = TinyGGUF()
        dup.metadata = [("k", .uint8(1)), ("k", .uint8(2))]
        expectGGUFError(["duplicate metadata key 'k'"]) { _ = try parse(dup.bytes(), in: dir) }
        dup = TinyGGUF()
        dup.tensors = [("w", [1], GGMLType.f32.rawValue, le(Float(1).bitPattern)), ("w", [1], GGMLType.f32.rawValue, le(Float(2).bitPattern))]
        expectGGUFError(["duplicate tensor name 'w'"]) { _ = try parse(dup.bytes(), in: dir) }
        // A bool that is neither 0 nor 1; an array element count the file cannot hold.
        var bad = TinyGGUF()
        bad.metadata = [("b", .bool(true))]
        var bb = bad.bytes()
        bb[24 + 8 + 1 + 4] = 7
        expectGGUFError(["bool byte 7"]) { _ = try parse(bb, in: dir) }
        bad.metadata = [("a", .array(.uint32, [.uint32(1)]))]
        bb = bad.bytes()
        bb.replaceSubrange((24 + 8 + 1 + 4 + 4)..<(24 + 8 + 1 + 4 + 12), with: le(UInt64(1) << 40))
        expectGGUFError(["absurd element count of 'a'"]) { _ = try parse(bb, in: dir) }
    }

    /// Random byte flips in the header and tables: parsing either succeeds or throws, never traps.
    @Test func randomCorruptionNeverCrashes() throws {
        let dir = try scratchDirectory()
        let good = tinyFile().bytes()
        var rng = SplitMix64(seed: 11)
        var threw = 0
        for _ in 0..<400 {
            var b = good
            for _ in 0..<1 + Int(rng.next() % 4) {
                let at = Int(rng.next() % UInt64(b.count))
                b[at] = UInt8(truncatingIfNeeded: rng.next())
            }
            do {
                let f = try parse(b, in: dir)
                for name in f.tensorNames where f.tensors[name]!.type.isDequantizable { _ = try f.dequantize(name) }
            } catch is TSRecError {
                threw += 1
            }
        }
        #expect(threw > 0)
    }

    @Test func llamaConfigIsReadAndValidated() throws {
        var g = TinyGGUF()
        g.metadata = [
            ("general.architecture", .string("llama")),
            ("llama.block_count", .uint32(2)), ("llama.context_length", .uint32(128)),
            ("llama.embedding_length", .uint32(32)), ("llama.feed_forward_length", .uint32(64)),
            ("llama.attention.head_count", .uint32(4)), ("llama.attention.head_count_kv", .uint32(2)),
            ("llama.rope.freq_base", .float32(10_000)), ("llama.attention.layer_norm_rms_epsilon", .float32(1e-5)),
            ("llama.vocab_size", .uint32(3)),
        ]
        g.tensors = [("token_embd.weight", [32, 3], GGMLType.q8_0.rawValue, q8Block + q8Block + q8Block)]
        let dir = try scratchDirectory()
        let hp = try LlamaConfig(gguf: try parse(g.bytes(), in: dir))
        #expect(hp == LlamaConfig(layers: 2, dim: 32, ffnDim: 64, heads: 4, kvHeads: 2, headDim: 8,
                                  ropeBase: 10_000, rmsEps: 1e-5, vocabSize: 3, tiedEmbeddings: true, contextLength: 128))
        var bad = g
        bad.metadata[5] = ("llama.attention.head_count", .uint32(3))
        expectGGUFError(["heads 3 not divisible by kvHeads 2"]) { _ = try LlamaConfig(gguf: try parse(bad.bytes(), in: dir)) }
        bad = g
        bad.metadata.remove(at: 1)
        expectGGUFError(["missing metadata key 'llama.block_count'"]) { _ = try LlamaConfig(gguf: try parse(bad.bytes(), in: dir)) }
        bad = g
        bad.metadata[9] = ("llama.vocab_size", .uint32(4))
        #expect(throws: TSRecError.self) { _ = try LlamaConfig(gguf: try parse(bad.bytes(), in: dir)) }
    }

    // MARK: Real SmolLM2 file

    @Test(.enabled(if: RealGGUF.exists, RealGGUF.skipMessage))
    func realFileStructure() throws {
        let f = try RealGGUF.file()
        #expect(f.version == 3)
        #expect(f.tensors.count == 272 && f.tensorNames.count == 272)
        #expect(f.alignment == 32 && f.dataOffset % 32 == 0)
        #expect(try f.int("llama.block_count") == 30)
        #expect(try f.int("llama.embedding_length") == 576)
        let embd = try f.tensor("token_embd.weight")
        #expect(embd.type == .q8_0 && embd.shape == [49152, 576])
        let types = Dictionary(grouping: f.tensors.values, by: \.type).mapValues(\.count)
        #expect(types == [.q4_1: 210, .f32: 61, .q8_0: 1])
        let hp = try LlamaConfig(gguf: f)
        #expect(hp == LlamaConfig(layers: 30, dim: 576, ffnDim: 1536, heads: 9, kvHeads: 3, headDim: 64,
                                  ropeBase: 100_000, rmsEps: 1e-5, vocabSize: 49152, tiedEmbeddings: true, contextLength: 8192))
        #expect(hp == .smolLM2_135M)
    }

    /// Values from gguf-py's numpy dequantization (Fixtures/make_smollm2_reference.py).
    @Test(.enabled(if: RealGGUF.exists, RealGGUF.skipMessage))
    func realFileDequantizationMatchesGGUFPy() throws {
        let f = try RealGGUF.file()
        let reference = try ReferenceFixture.load()
        #expect(reference.tensors.count == 5)
        for t in reference.tensors {
            let info = try f.tensor(t.name)
            #expect(info.dims == t.dims && "\(info.type)" == t.type && f.dataOffset + info.offset == t.absolute_offset, "\(t.name)")
            let x = try f.dequantize(t.name)
            #expect(t.indices.map { x[$0] } == t.values, "\(t.name): values at \(t.indices)")
            let sum = x.reduce(0.0) { $0 + Double($1) }, sumAbs = x.reduce(0.0) { $0 + Double(abs($1)) }
            #expect(abs(sum - t.sum) <= 1e-9 * max(1, t.sum_abs) && abs(sumAbs - t.sum_abs) <= 1e-9 * t.sum_abs, "\(t.name): sums")
        }
    }

    /// Dequantizes every tensor (what a model load does) and reports the time.
    @Test(.enabled(if: RealGGUF.exists, RealGGUF.skipMessage))
    func realFileFullDequantizationIsFast() throws {
        let start = ContinuousClock.now
        let f = try GGUFFile(contentsOf: RealGGUF.url)
        let parsed = ContinuousClock.now
        var elements = 0
        for name in f.tensorNames {
            elements += try f.dequantize(name).count
        }
        let done = ContinuousClock.now
        print("GGUF: parse \(parsed - start), dequantize \(elements) elements in \(done - parsed)")
        #expect(elements == 134_515_008)
        if TimingFloors.apply { #expect(done - parsed < .seconds(10)) }
    }
}
