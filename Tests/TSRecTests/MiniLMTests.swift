import Foundation
import Testing
@testable import TSRec

/// Safetensors reading, the encoder's bidirectional attention, a tiny random BERT against a
/// plain Double re-implementation, and all-MiniLM-L6-v2 against sentence-transformers
/// (Fixtures/minilm_reference.json).
@Suite struct MiniLMTests {
    // MARK: - Safetensors

    /// A safetensors file from `(name, dtype, shape, raw little-endian bytes)`, laid out in order.
    static func safetensors(_ entries: [(String, String, [Int], [UInt8])], header extra: String = "") -> Data {
        var offset = 0
        var fields: [String] = []
        var body: [UInt8] = []
        for (name, dtype, shape, bytes) in entries {
            fields.append("\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(offset),\(offset + bytes.count)]}")
            offset += bytes.count
            body += bytes
        }
        let header = Array(("{\"__metadata__\":{\"format\":\"pt\"}" + extra + (fields.isEmpty ? "" : ",") + fields.joined(separator: ",") + "}").utf8)
        var n = UInt64(header.count).littleEndian
        return Data(bytes: &n, count: 8) + Data(header) + Data(body)
    }

    static func f32Bytes(_ v: [Float]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }
    static func u16Bytes(_ v: [UInt16]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) } }

    @Test func safetensorsReadsF32F16BF16() throws {
        let data = Self.safetensors([
            ("a", "F32", [2, 2], Self.f32Bytes([1, -2.5, 3e-5, 1e20])),
            // F16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), +inf, 0.333 (0x3555 = 0.333251953125)
            ("h", "F16", [6], Self.u16Bytes([0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x3555])),
            ("b", "BF16", [2], Self.u16Bytes([0x3F80, 0xC040])),                          // 1, -3
            ("ids", "I64", [1], [7, 0, 0, 0, 0, 0, 0, 0]),
        ])
        let st = try Safetensors(data: data, path: "mem")
        #expect(st.metadata["format"] == "pt")
        #expect(try st.floats("a") == [1, -2.5, 3e-5, 1e20])
        #expect(try st.floats("h") == [1, -2, 65504, 5.960_464_5e-8, .infinity, 0.333_251_953_125])
        #expect(try st.floats("b") == [1, -3])
        #expect(try st.tensor("a", shape: [2, 2]).array == [1, -2.5, 3e-5, 1e20])
        #expect(throws: TSRecError.self) { try st.tensor("a", shape: [4]) }          // wrong shape
        #expect(throws: TSRecError.self) { try st.floats("ids") }                    // not a float dtype
        #expect(throws: TSRecError.self) { try st.floats("nope") }                   // missing
        #expect(Safetensors.halfToFloat(0x8000).sign == .minus && Safetensors.halfToFloat(0x8000) == 0)
        #expect(Safetensors.halfToFloat(0x7E00).isNaN)
        #expect(Safetensors.halfToFloat(0x0400) == 6.103_515_6e-5)                     // smallest normal 2^-14
    }

    @Test func safetensorsRejectsBrokenFiles() throws {
        let good = Self.safetensors([("a", "F32", [3], Self.f32Bytes([1, 2, 3]))])
        _ = try Safetensors(data: good, path: "mem")
        func rejects(_ data: Data, _ needle: String) {
            do { _ = try Safetensors(data: data, path: "mem"); Issue.record("accepted a broken file (\(needle))") } catch {
                #expect("\(error)".contains(needle), "message: \(error)")
            }
        }
        rejects(good.prefix(5), "fewer than the 8-byte")
        rejects(good.dropLast(4), "truncated")                                      // last tensor cut short
        var hugeLength = good
        hugeLength[0] = 0xFF; hugeLength[1] = 0xFF
        rejects(hugeLength, "header length")
        var n = UInt64(5).littleEndian
        rejects(Data(bytes: &n, count: 8) + Data("{abc}".utf8), "not a JSON object")
        rejects(Self.safetensors([("a", "F32", [4], Self.f32Bytes([1, 2, 3]))]), "do not hold")  // 12 bytes for 4 floats
        rejects(Self.safetensors([("a", "Q9", [1], [0])]), "unknown dtype")
        let url = URL(fileURLWithPath: "/nonexistent/model.safetensors")
        #expect(throws: TSRecError.self) { try Safetensors(contentsOf: url) }
    }

    // MARK: - Attention kernel

    @Test func bidirectionalAttentionMatchesNaive() {
        var rng = SplitMix64(seed: 5)
        let (B, T, H, Dh) = (3, 5, 2, 4)
        let D = H * Dh
        let qkv = Tensor.randn([B * T, 3 * D], using: &rng)
        let lengths = [5, 2, 0]                     // full, padded, empty (outputs 0)
        let valid = (0..<(B * T)).map { ($0 % T) < lengths[$0 / T] }
        let out = Tensor(zeros: [B * T, D])
        valid.withUnsafeBufferPointer { valid in
            withPointers(out, qkv) { out, qkv in
                MiniLM.bidirectionalAttention(out: out, qkv: qkv, keyValid: valid.baseAddress!, batch: B, seq: T, heads: H, headDim: Dh)
            }
        }
        let x = qkv.array
        var expected = [Float](repeating: 0, count: B * T * D)
        for b in 0..<B { for h in 0..<H { for i in 0..<T {
            let keys = (0..<lengths[b])
            let s = keys.map { j -> Double in
                var acc = 0.0
                for d in 0..<Dh {
                    let qi: Int = (b * T + i) * 3 * D + h * Dh + d
                    let ki: Int = (b * T + j) * 3 * D + D + h * Dh + d
                    acc += Double(x[qi]) * Double(x[ki])
                }
                return acc / Double(Dh).squareRoot()
            }
            let m = s.max() ?? 0, e = s.map { Foundation.exp($0 - m) }, z = e.reduce(0, +)
            for c in 0..<Dh {
                var acc = 0.0
                for (n, j) in keys.enumerated() {
                    let at: Int = (b * T + j) * 3 * D + 2 * D + h * Dh + c
                    acc += e[n] / z * Double(x[at])
                }
                let to: Int = (b * T + i) * D + h * Dh + c
                expected[to] = Float(acc)
            }
        } } }
        expectClose(out.array, expected, atol: 1e-5, rtol: 1e-4)
    }

    // MARK: - Tiny random BERT vs a Double re-implementation

    static let tinyConfig: MiniLMConfig = {
        var c = MiniLMConfig()
        (c.vocabSize, c.hidden, c.layers, c.heads, c.intermediate, c.maxPositions) = (20, 8, 2, 2, 12, 16)
        return c
    }()

    /// Random weights for `tinyConfig` under the Hugging Face names (plus the ignored ones).
    static func tinyWeights(seed: UInt64, skip: String? = nil, extra: Bool = false) -> [String: (shape: [Int], values: [Float])] {
        let c = tinyConfig, D = c.hidden, F = c.intermediate
        var rng = SplitMix64(seed: seed)
        var w: [String: (shape: [Int], values: [Float])] = [:]
        func add(_ name: String, _ shape: [Int], mean: Float = 0, std: Float = 0.5) {
            w[name] = (shape, (0..<shape.reduce(1, *)).map { _ in mean + std * rng.nextGaussian() })
        }
        add("embeddings.word_embeddings.weight", [c.vocabSize, D])
        add("embeddings.position_embeddings.weight", [c.maxPositions, D])
        add("embeddings.token_type_embeddings.weight", [2, D])
        add("embeddings.LayerNorm.weight", [D], mean: 1, std: 0.1); add("embeddings.LayerNorm.bias", [D], std: 0.1)
        for l in 0..<c.layers {
            let p = "encoder.layer.\(l)."
            for m in ["query", "key", "value"] { add(p + "attention.self.\(m).weight", [D, D]); add(p + "attention.self.\(m).bias", [D], std: 0.1) }
            add(p + "attention.output.dense.weight", [D, D]); add(p + "attention.output.dense.bias", [D], std: 0.1)
            add(p + "attention.output.LayerNorm.weight", [D], mean: 1, std: 0.1); add(p + "attention.output.LayerNorm.bias", [D], std: 0.1)
            add(p + "intermediate.dense.weight", [F, D]); add(p + "intermediate.dense.bias", [F], std: 0.1)
            add(p + "output.dense.weight", [D, F]); add(p + "output.dense.bias", [D], std: 0.1)
            add(p + "output.LayerNorm.weight", [D], mean: 1, std: 0.1); add(p + "output.LayerNorm.bias", [D], std: 0.1)
        }
        add("pooler.dense.weight", [D, D]); add("pooler.dense.bias", [D])
        if extra { add("encoder.layer.9.surprise.weight", [D]) }
        if let skip { w[skip] = nil }
        return w
    }

    static func tinyModel(_ w: [String: (shape: [Int], values: [Float])]) throws -> MiniLM {
        let entries = w.keys.sorted().map { ($0, "F32", w[$0]!.shape, f32Bytes(w[$0]!.values)) }
        let st = try Safetensors(data: safetensors(entries), path: "tiny")
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + (4..<tinyConfig.vocabSize).map { "w\($0)" }
        return try MiniLM(config: tinyConfig, tokenizer: WordPieceTokenizer(vocab: vocab), weights: st, maxTokens: 16)
    }

    /// Post-LN BERT + mean pooling + L2 normalisation, written out in Double with plain loops.
    static func naiveEmbedding(_ w: [String: (shape: [Int], values: [Float])], ids: [Int32]) -> [Double] {
        let c = tinyConfig, D = c.hidden, F = c.intermediate, H = c.heads, Dh = D / H, T = ids.count
        func v(_ n: String) -> [Double] { w[n]!.values.map(Double.init) }
        func linear(_ x: [[Double]], _ p: String) -> [[Double]] {
            let W = v(p + ".weight"), b = v(p + ".bias"), out = b.count, inn = x[0].count
            var y = [[Double]](repeating: [Double](repeating: 0, count: out), count: x.count)
            for r in x.indices { for o in 0..<out {
                var acc = b[o]
                for i in 0..<inn { acc += W[o * inn + i] * x[r][i] }
                y[r][o] = acc
            } }
            return y
        }
        func norm(_ x: [[Double]], _ p: String) -> [[Double]] {
            let g = v(p + ".weight"), b = v(p + ".bias")
            return x.map { row in
                let mu = row.reduce(0, +) / Double(row.count)
                var varc = 0.0
                for e in row { varc += (e - mu) * (e - mu) }
                let r = 1 / (varc / Double(row.count) + Double(c.layerNormEps)).squareRoot()
                var y = row
                for j in row.indices { y[j] = (row[j] - mu) * r * g[j] + b[j] }
                return y
            }
        }
        let we = v("embeddings.word_embeddings.weight"), pe = v("embeddings.position_embeddings.weight"), te = v("embeddings.token_type_embeddings.weight")
        var x = [[Double]](repeating: [Double](repeating: 0, count: D), count: T)
        for t in 0..<T { for j in 0..<D { x[t][j] = we[Int(ids[t]) * D + j] + pe[t * D + j] + te[j] } }
        x = norm(x, "embeddings.LayerNorm")
        for l in 0..<c.layers {
            let p = "encoder.layer.\(l)."
            let q = linear(x, p + "attention.self.query"), k = linear(x, p + "attention.self.key"), val = linear(x, p + "attention.self.value")
            var ctx = [[Double]](repeating: [Double](repeating: 0, count: D), count: T)
            for h in 0..<H { for i in 0..<T {
                var s = [Double](repeating: 0, count: T)
                for j in 0..<T { for d in 0..<Dh { s[j] += q[i][h * Dh + d] * k[j][h * Dh + d] / Double(Dh).squareRoot() } }
                let m = s.max()!, e = s.map { Foundation.exp($0 - m) }, z = e.reduce(0, +)
                for j in 0..<T { for d in 0..<Dh { ctx[i][h * Dh + d] += e[j] / z * val[j][h * Dh + d] } }
            } }
            let a = linear(ctx, p + "attention.output.dense")
            x = norm(zip(x, a).map { zip($0, $1).map(+) }, p + "attention.output.LayerNorm")
            let inter = linear(x, p + "intermediate.dense").map { $0.map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) } }
            precondition(inter[0].count == F)
            let f = linear(inter, p + "output.dense")
            x = norm(zip(x, f).map { zip($0, $1).map(+) }, p + "output.LayerNorm")
        }
        let mean = (0..<D).map { j in x.reduce(0.0) { $0 + $1[j] } / Double(T) }
        let n = mean.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
        return mean.map { $0 / n }
    }

    @Test func tinyModelMatchesDoubleReferenceWithPadding() throws {
        let w = Self.tinyWeights(seed: 3)
        let model = try Self.tinyModel(w)
        let batch: [[Int32]] = [[2, 5, 9, 13, 3], [2, 7, 3], [2, 19, 4, 4, 11, 6, 8, 3]]
        // tokenBudget 64 → one padded batch; tokenBudget 1 → one sequence per batch (no padding).
        let together = model.embed(ids: batch, tokenBudget: 64), alone = model.embed(ids: batch, tokenBudget: 1)
        for (i, ids) in batch.enumerated() {
            let ref = Self.naiveEmbedding(w, ids: ids).map(Float.init)
            expectClose(together[i], ref, atol: 2e-5, rtol: 1e-4)
            expectClose(alone[i], ref, atol: 2e-5, rtol: 1e-4)
        }
    }

    @Test func loaderRejectsMissingUnexpectedAndMisShapedTensors() throws {
        #expect(throws: TSRecError.self) { try Self.tinyModel(Self.tinyWeights(seed: 1, skip: "encoder.layer.1.output.dense.bias")) }
        #expect(throws: TSRecError.self) { try Self.tinyModel(Self.tinyWeights(seed: 1, extra: true)) }
        var w = Self.tinyWeights(seed: 1)
        w["encoder.layer.0.intermediate.dense.weight"]!.shape = [Self.tinyConfig.hidden, Self.tinyConfig.intermediate]
        #expect(throws: TSRecError.self) { try Self.tinyModel(w) }
        _ = try Self.tinyModel(Self.tinyWeights(seed: 1))
    }

    // MARK: - all-MiniLM-L6-v2 against sentence-transformers

    @Test func realModelMatchesSentenceTransformers() throws {
        guard let files = MiniLM.Files.locate() else {
            print("MiniLMTests: MiniLM files not found (set TSREC_MINILM_DIR or put all-MiniLM-L6-v2.* in the model store); skipping")
            return
        }
        let model = try MiniLM(files: files)
        #expect(model.config == MiniLMConfig.allMiniLML6v2)
        let fixture = try MiniLMReference.load()
        let texts = fixture.embed.map(\.text)
        for case_ in fixture.embed { #expect(model.tokenizer.encode(case_.text) == case_.ids) }
        let batched = model.embed(texts), single = texts.map { model.embed([$0])[0] }
        for (i, ref) in fixture.embed.enumerated() {
            let cos = zip(batched[i], ref.embedding).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            #expect(cos > 0.999, "sentence \(i): cosine \(cos)")
            let norm = batched[i].reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(norm - 1) < 1e-5)
            expectClose(batched[i], single[i], atol: 1e-5, rtol: 1e-4)   // padding does not leak
            print("MiniLMTests: sentence \(i) (\(ref.ids.count) tokens) cosine with sentence-transformers \(cos)")
        }
    }
}
