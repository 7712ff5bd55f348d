import Foundation
import Testing
@testable import TSRec

/// The SmolLM2 GGUF for tests: `$TSREC_GGUF`, else `<cache>/models/SmolLM2-135M-Instruct.Q4_1.gguf`.
enum LlamaFixtures {
    static let ggufURL: URL = {
        if let p = ProcessInfo.processInfo.environment["TSREC_GGUF"], !p.isEmpty { return URL(fileURLWithPath: p) }
        return Paths.fromEnvironment().models.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf")
    }()
    static var haveGGUF: Bool {
        let ok = FileManager.default.fileExists(atPath: ggufURL.path)
        if !ok { print("SKIP: \(ggufURL.path) not found (set TSREC_GGUF or run `make model`)") }
        return ok
    }

    /// "The capital of France is" (METHOD.md golden check).
    static let franceTokens: [Int32] = [504, 3575, 282, 4649, 314]

    static func tinyModel(seed: UInt64 = 7, std: Float = 0.2) throws -> Llama {
        var rng = SplitMix64(seed: seed)
        return try Llama(random: .tiny, std: std, using: &rng)
    }

    /// Full-forward logits of every position of one sequence, [T, V].
    static func fullLogits(_ m: Llama, _ tokens: [Int32]) -> Tensor {
        let tape = Tape(recording: false)
        let h = m.forward(tape: tape, tokens: tokens, batch: 1, seq: tokens.count)
        return m.logits(tape: tape, hidden: h)
    }

    static func row(_ t: Tensor, _ i: Int) -> [Float] {
        let V = t.shape.last!
        return Array(t.array[(i * V)..<((i + 1) * V)])
    }
}

/// Worst |a - b|.
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "maxAbsDiff: \(a.count) vs \(b.count)")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

/// A scalar Float64 Llama forward written straight from the formulas (no engine ops): the
/// independent reference for the tape forward. Returns logits [T][V] of one sequence.
func referenceLlamaLogits(_ m: Llama, _ tokens: [Int32]) -> [[Double]] {
    let c = m.config, D = c.dim, Dh = c.headDim, T = tokens.count, r = c.heads / c.kvHeads
    func w(_ t: Tensor) -> [Double] { t.array.map(Double.init) }
    func linear(_ x: [Double], _ W: [Double], out: Int) -> [Double] {   // W [out, in]
        let inDim = x.count
        return (0..<out).map { o in (0..<inDim).reduce(0) { $0 + W[o * inDim + $1] * x[$1] } }
    }
    func rms(_ x: [Double], _ g: [Double]) -> [Double] {
        let ms = x.reduce(0) { $0 + $1 * $1 } / Double(x.count)
        let s = 1 / (ms + Double(c.rmsEps)).squareRoot()
        return zip(x, g).map { $0 * s * $1 }
    }
    func rope(_ x: [Double], heads: Int, pos: Int) -> [Double] {          // adjacent pairs (2i, 2i+1)
        var y = x
        for h in 0..<heads {
            for i in 0..<(Dh / 2) {
                let th = Double(pos) * pow(Double(c.ropeBase), -2 * Double(i) / Double(Dh))
                let a = x[h * Dh + 2 * i], b = x[h * Dh + 2 * i + 1]
                y[h * Dh + 2 * i] = a * cos(th) - b * sin(th)
                y[h * Dh + 2 * i + 1] = a * sin(th) + b * cos(th)
            }
        }
        return y
    }
    let E = w(m.tokenEmbedding)
    var xs = tokens.map { Array(E[(Int($0) * D)..<((Int($0) + 1) * D)]) }
    for b in m.blocks {
        let hs = xs.map { rms($0, w(b.attnNorm)) }
        let qs = hs.enumerated().map { rope(linear($1, w(b.wq), out: c.qDim), heads: c.heads, pos: $0) }
        let ks = hs.enumerated().map { rope(linear($1, w(b.wk), out: c.kvDim), heads: c.kvHeads, pos: $0) }
        let vs = hs.map { linear($0, w(b.wv), out: c.kvDim) }
        for i in 0..<T {
            var att = [Double](repeating: 0, count: c.qDim)
            for h in 0..<c.heads {
                let g = h / r
                let s = (0...i).map { j in (0..<Dh).reduce(0) { $0 + qs[i][h * Dh + $1] * ks[j][g * Dh + $1] } / Double(Dh).squareRoot() }
                let mx = s.max()!, e = s.map { exp($0 - mx) }, z = e.reduce(0, +)
                for j in 0...i { for d in 0..<Dh { att[h * Dh + d] += e[j] / z * vs[j][g * Dh + d] } }
            }
            let o = linear(att, w(b.wo), out: D)
            for d in 0..<D { xs[i][d] += o[d] }
        }
        for i in 0..<T {
            let h = rms(xs[i], w(b.ffnNorm))
            let gate = linear(h, w(b.wGate), out: c.ffnDim), up = linear(h, w(b.wUp), out: c.ffnDim)
            let act = zip(gate, up).map { $0 / (1 + exp(-$0)) * $1 }
            let o = linear(act, w(b.wDown), out: D)
            for d in 0..<D { xs[i][d] += o[d] }
        }
    }
    return xs.map { linear(rms($0, w(m.outputNorm)), E, out: c.vocabSize) }
}

@Suite struct LlamaTests {
    @Test func configCountsSmolLM2Parameters() {
        // 134,515,008 = 49,152·576 (tied embedding) + 576 + 30·(2·576 + 3,538,944)
        #expect(LlamaConfig.smolLM2_135M.parameterCount == 134_515_008)
        #expect(LlamaConfig.smolLM2_135M.matmulParameters == 30 * 3_538_944 + 49_152 * 576)
        #expect(LlamaConfig.smolLM2_135M.truncated(layers: 4).layers == 4)
    }

    @Test func parametersAreNamedLikeGGUFInFixedOrder() throws {
        let m = try LlamaFixtures.tinyModel()
        let names = m.parameters.map(\.name)
        #expect(names.count == 2 + 9 * 2)
        #expect(names.first == "token_embd.weight" && names.last == "output_norm.weight")
        #expect(names[1] == "blk.0.attn_norm.weight" && names[9] == "blk.0.ffn_down.weight" && names[10] == "blk.1.attn_norm.weight")
        #expect(m.parameters.map(\.tensor.shape)[2] == [32, 32] && m.parameters.map(\.tensor.shape)[3] == [16, 32])
        #expect(m.parameters.allSatisfy { $0.tensor.requiresGrad })
    }

    @Test func forwardMatchesScalarFloat64Reference() throws {
        let m = try LlamaFixtures.tinyModel()
        let tokens: [Int32] = [3, 17, 42, 0, 9, 9, 31]
        let got = LlamaFixtures.fullLogits(m, tokens)
        let want = referenceLlamaLogits(m, tokens)
        var worst: Float = 0
        for t in 0..<tokens.count { worst = max(worst, maxAbsDiff(LlamaFixtures.row(got, t), want[t].map(Float.init))) }
        #expect(worst < 1e-4, "worst |tape - reference| = \(worst)")
    }

    @Test func kvCacheBeamsMatchFullForward() throws {
        let m = try LlamaFixtures.tinyModel()
        let prompt: [Int32] = [5, 11, 2, 40, 7]
        let cache = m.makeCache(promptCapacity: 8, maxNewTokens: 4, maxBeams: 4)
        var worst = maxAbsDiff(LlamaFixtures.row(m.prefill(prompt, cache: cache), 0),
                               LlamaFixtures.row(LlamaFixtures.fullLogits(m, prompt), prompt.count - 1))
        // three beam steps with forks, reorders and a shrink; each beam's logits must equal the
        // full forward of that beam's own sequence
        var seqs = [prompt]
        let steps: [(parents: [Int], tokens: [Int32])] = [([0, 0, 0], [1, 2, 3]),
                                                          ([2, 0, 0, 1], [4, 5, 6, 7]),
                                                          ([3, 1], [8, 49])]
        for step in steps {
            cache.select(parents: step.parents)
            seqs = zip(step.parents, step.tokens).map { seqs[$0] + [$1] }
            let logits = m.decode(step.tokens, cache: cache)
            #expect(logits.shape == [step.tokens.count, 50])
            for (b, s) in seqs.enumerated() {
                let full = LlamaFixtures.fullLogits(m, s)
                worst = max(worst, maxAbsDiff(LlamaFixtures.row(logits, b), LlamaFixtures.row(full, s.count - 1)))
            }
        }
        #expect(cache.prefixLengths == [prompt.count] && cache.suffixLength == 3 && cache.beams == 2)
        #expect(cache.position(ofBeam: 1) == prompt.count + 3)
        #expect(worst < 1e-4, "worst |cached - full| = \(worst)")
        // a copy continues identically; the original is untouched by decoding the copy
        let copy = cache.copy(), copy2 = cache.copy()
        let a = m.decode([10, 11], cache: copy), b = m.decode([10, 11], cache: cache)
        #expect(a.array == b.array)
        // hidden states + a restricted head give the same scores as the full head's columns
        let sub = m.logits(hidden: m.decodeHidden([10, 11], cache: copy2), tokens: [3, 49, 0])
        #expect(sub.shape == [2, 3])
        let bv = b.array
        #expect(maxAbsDiff(sub.array, [bv[3], bv[49], bv[0], bv[53], bv[99], bv[50]]) < 1e-5)
    }

    @Test func multiPromptBeamsMatchFullForward() throws {
        let m = try LlamaFixtures.tinyModel(seed: 4)
        let prompts: [[Int32]] = [[9, 3], [5, 11, 2, 40, 7], [1, 2, 3, 4]]
        let cache = m.makeCache(promptCapacity: 6, maxNewTokens: 3, maxBeams: 6, maxPrompts: 3)
        let first = m.prefill(prompts: prompts, cache: cache)
        #expect(first.shape == [3, 50] && cache.beamPrompts == [0, 1, 2])
        var worst: Float = 0
        for (p, s) in prompts.enumerated() {
            worst = max(worst, maxAbsDiff(LlamaFixtures.row(first, p), LlamaFixtures.row(LlamaFixtures.fullLogits(m, s), s.count - 1)))
        }
        // beams grouped by prompt, then interleaved across prompts with prompt 1 dropped
        var seqs = prompts
        let steps: [(parents: [Int], tokens: [Int32])] = [([0, 0, 1, 2, 2, 2], [10, 11, 12, 13, 14, 15]),
                                                          ([5, 0, 3, 1], [16, 17, 18, 19]),
                                                          ([1, 2, 0], [20, 21, 22])]
        for step in steps {
            cache.select(parents: step.parents)
            seqs = zip(step.parents, step.tokens).map { seqs[$0] + [$1] }
            let logits = m.decode(step.tokens, cache: cache)
            for (b, s) in seqs.enumerated() {
                worst = max(worst, maxAbsDiff(LlamaFixtures.row(logits, b), LlamaFixtures.row(LlamaFixtures.fullLogits(m, s), s.count - 1)))
            }
        }
        #expect(cache.beamPrompts == [0, 2, 2])
        #expect(worst < 1e-4, "worst |cached - full| = \(worst)")
    }

    @Test func greedyGenerateFollowsFullForwardArgmax() throws {
        let m = try LlamaFixtures.tinyModel(seed: 3, std: 0.5)
        let prompt: [Int32] = [1, 2, 3]
        let out = m.generate(prompt: prompt, maxTokens: 6)
        var seq = prompt
        for _ in 0..<6 {
            let last = LlamaFixtures.row(LlamaFixtures.fullLogits(m, seq), seq.count - 1)
            seq.append(Int32(last.indices.max { last[$0] < last[$1] }!))
        }
        #expect(out == Array(seq.dropFirst(prompt.count)))
        let stopAt = out[2]
        let stopped = m.generate(prompt: prompt, maxTokens: 6, stop: [stopAt])
        #expect(stopped.last == stopAt && stopped.count <= 3)
    }

    @Test func rightPaddingDoesNotChangeRealPositions() throws {
        let m = try LlamaFixtures.tinyModel()
        let a: [Int32] = [4, 8, 15, 16, 23, 42], b: [Int32] = [7, 7, 1]
        let T = 6
        let tokens = a + b + [Int32](repeating: 0, count: T - b.count)
        let valid = [Bool](repeating: true, count: T) + (0..<T).map { $0 < b.count }
        let tape = Tape(recording: false)
        let batched = m.logits(tape: tape, hidden: m.forward(tape: tape, tokens: tokens, batch: 2, seq: T, keyValid: valid))
        let fa = LlamaFixtures.fullLogits(m, a), fb = LlamaFixtures.fullLogits(m, b)
        var worst: Float = 0
        for t in 0..<T { worst = max(worst, maxAbsDiff(LlamaFixtures.row(batched, t), LlamaFixtures.row(fa, t))) }
        for t in 0..<b.count { worst = max(worst, maxAbsDiff(LlamaFixtures.row(batched, T + t), LlamaFixtures.row(fb, t))) }
        #expect(worst < 1e-5, "worst |padded - unpadded| = \(worst)")
    }

    @Test func addTokensAppendsGivenRowsAndKeepsOldLogits() throws {
        let m = try LlamaFixtures.tinyModel()
        let tokens: [Int32] = [3, 1, 4, 1, 5]
        let before = LlamaFixtures.fullLogits(m, tokens)
        var rng = SplitMix64(seed: 99)
        let rows = (0..<(3 * 32)).map { _ in rng.nextGaussian() }
        m.addTokens(count: 3, initialRows: rows)
        #expect(m.config.vocabSize == 53 && m.tokenEmbedding.shape == [53, 32])
        #expect(Array(m.tokenEmbedding.array[(50 * 32)...]) == rows)
        #expect(m.parameters[0].tensor === m.tokenEmbedding)
        let after = LlamaFixtures.fullLogits(m, tokens + [52])
        let h = m.forward(tape: Tape(recording: false), tokens: tokens, batch: 1, seq: tokens.count).array
        for t in 0..<tokens.count {
            let old = LlamaFixtures.row(before, t), new = LlamaFixtures.row(after, t)
            #expect(maxAbsDiff(Array(new.prefix(50)), old) < 1e-5)
            // the tied head scores a new token by h·row
            let dot = (0..<32).reduce(Float(0)) { $0 + h[t * 32 + $1] * rows[32 + $1] }
            #expect(abs(new[51] - dot) < 1e-4)
        }
    }

    // MARK: - Loading (tiny GGUF files written with the GGUF tests' writer)

    /// A llama GGUF holding `model`'s parameters as F32 (dims fastest-first, i.e. shape reversed).
    static func ggufFile(for model: Llama, edit: (inout [(name: String, dims: [Int], type: UInt32, data: [UInt8])]) -> Void = { _ in })
        -> TinyGGUF {
        let c = model.config
        var g = TinyGGUF()
        g.metadata = [("general.architecture", .string("llama")), ("llama.block_count", .uint32(UInt32(c.layers))),
                      ("llama.embedding_length", .uint32(UInt32(c.dim))), ("llama.feed_forward_length", .uint32(UInt32(c.ffnDim))),
                      ("llama.attention.head_count", .uint32(UInt32(c.heads))), ("llama.attention.head_count_kv", .uint32(UInt32(c.kvHeads))),
                      ("llama.rope.freq_base", .float32(c.ropeBase)), ("llama.attention.layer_norm_rms_epsilon", .float32(c.rmsEps)),
                      ("llama.vocab_size", .uint32(UInt32(c.vocabSize))), ("llama.context_length", .uint32(64))]
        g.tensors = model.parameters.map { (name: $0.name, dims: Array($0.tensor.shape.reversed()), type: GGMLType.f32.rawValue,
                                            data: $0.tensor.array.flatMap { le($0.bitPattern) }) }
        edit(&g.tensors)
        return g
    }

    @Test func loadsEveryParameterByNameAndRefusesMismatches() throws {
        let dir = try scratchDirectory()
        let m = try LlamaFixtures.tinyModel()
        let loaded = try Llama.load(gguf: try parse(Self.ggufFile(for: m).bytes(), in: dir))
        var expected = m.config
        expected.contextLength = 64   // the test file's metadata; random models have none
        #expect(loaded.config == expected)
        #expect(zip(loaded.parameters, m.parameters).allSatisfy { $0.name == $1.name && $0.tensor.array == $1.tensor.array })

        expectGGUFError(["missing", "blk.1.ffn_up.weight"]) {
            _ = try Llama.load(gguf: try parse(Self.ggufFile(for: m) { $0.removeAll { $0.name == "blk.1.ffn_up.weight" } }.bytes(), in: dir))
        }
        expectGGUFError(["unused", "blk.0.attn_q.bias"]) {
            _ = try Llama.load(gguf: try parse(Self.ggufFile(for: m) {
                $0.append((name: "blk.0.attn_q.bias", dims: [32], type: GGMLType.f32.rawValue, data: [UInt8](repeating: 0, count: 128)))
            }.bytes(), in: dir))
        }
        do {  // wq stored without the GGUF dim reversal: [in, out] = [32, 32] is square, so use wk [16, 32]
            _ = try Llama.load(gguf: try parse(Self.ggufFile(for: m) { ts in
                let i = ts.firstIndex { $0.name == "blk.0.attn_k.weight" }!
                ts[i].dims = [16, 32]
            }.bytes(), in: dir))
            Issue.record("mis-shaped attn_k was accepted")
        } catch let e as TSRecError {
            #expect(e.kind == .shape(name: "\(dir.path)/t.gguf: blk.0.attn_k.weight", expected: [16, 32], got: [32, 16]))
        }
        do {  // an untied head (output.weight) is refused
            _ = try Llama.load(gguf: try parse(Self.ggufFile(for: m) {
                $0.append((name: "output.weight", dims: [32, 50], type: GGMLType.f32.rawValue, data: [UInt8](repeating: 0, count: 32 * 50 * 4)))
            }.bytes(), in: dir))
            Issue.record("untied head was accepted")
        } catch let e as TSRecError {
            #expect(e.description.contains("untied LM heads are not supported"))
        }
    }

    // MARK: - Real weights

    @Test(.enabled(if: LlamaFixtures.haveGGUF))
    func smolLM2GoldenNextTokenIsParis() throws {
        let gguf = try GGUFFile(contentsOf: LlamaFixtures.ggufURL)
        let m = try Llama.load(gguf: gguf)
        let tokenizer = try BPETokenizer(gguf: gguf)
        #expect(m.config == LlamaConfig.smolLM2_135M)
        #expect(tokenizer.encode("The capital of France is").map(Int32.init) == LlamaFixtures.franceTokens)
        let cache = m.makeCache(promptCapacity: 8, maxNewTokens: 1)
        let logits = LlamaFixtures.row(m.prefill(LlamaFixtures.franceTokens, cache: cache), 0)
        let top = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(3)
        print("SmolLM2 'The capital of France is' top-3:", top.map { "\($0) (\(logits[$0]))" })
        #expect(top.first == 7042)
        #expect(top.map { tokenizer.decode([$0]) } == [" Paris", " the", " London"])
        #expect(abs(logits[7042] - 17.4) < 0.3, "logit of ' Paris' = \(logits[7042])")
        // the training forward agrees with the cached inference path
        let full = LlamaFixtures.fullLogits(m, LlamaFixtures.franceTokens)
        #expect(maxAbsDiff(LlamaFixtures.row(full, 4), logits) < 1e-3)
        // one cached decode step equals the full forward of the extended sequence
        let next = LlamaFixtures.row(m.decode([7042], cache: cache), 0)
        let extended = LlamaFixtures.fullLogits(m, LlamaFixtures.franceTokens + [7042])
        #expect(maxAbsDiff(LlamaFixtures.row(extended, 5), next) < 1e-3)
        let greedy = m.generate(prompt: LlamaFixtures.franceTokens, maxTokens: 8)
        print("SmolLM2 greedy: 'The capital of France is\(tokenizer.decode(greedy.map(Int.init)))'")
        #expect(greedy.first == 7042)
    }

    @Test(.enabled(if: LlamaFixtures.haveGGUF))
    func truncatedLoadKeepsFirstBlocks() throws {
        var log: [String] = []
        let m = try Llama.load(contentsOf: LlamaFixtures.ggufURL, layers: 2) { log.append($0) }
        #expect(m.config.layers == 2 && m.blocks.count == 2)
        #expect(log.contains { $0.contains("TRUNCATED") })
        #expect(throws: TSRecError.self) { try Llama.load(contentsOf: LlamaFixtures.ggufURL, layers: 31) }
    }
}

/// The pipeline's scorer with several prompts of different lengths in one cache ranks exactly
/// as with one prompt at a time (batched prefill pads; decode mixes prompts in one GEMM).
@Test func llamaBeamScorerBatchesPromptsWithoutChangingRankings() throws {
    let m = try LlamaFixtures.tinyModel(seed: 21, std: 0.3)
    let sequences = Set((0..<40).map { [10 + $0 % 4, 20 + ($0 / 4) % 5, 30 + $0 % 7] })
    let trie = PrefixTrie(sequences: sequences.sorted { $0.lexicographicallyPrecedes($1) })
    let prompts: [[Int]] = [[1, 2, 3], [4, 5, 6, 7, 8, 9, 1], [2], [9, 8, 7, 6], [3, 3, 3, 3, 3]]
    var one = LlamaBeamScorer(model: m, promptCapacity: 8, depth: 3, width: 6)
    let expected = try prompts.map { try beamSearch(&one, trie: trie, prompt: $0, width: 6) }
    var batched = LlamaBeamScorer(model: m, promptCapacity: 8, depth: 3, width: 6, maxPrompts: 3)
    let got = try beamSearch(&batched, trie: trie, prompts: prompts, width: 6)
    #expect(got.map { $0.map(\.tokens) } == expected.map { $0.map(\.tokens) })
    let worst = zip(got, expected).flatMap { zip($0, $1).map { abs($0.score - $1.score) } }.max() ?? 0
    #expect(worst < 1e-4, "score difference \(worst)")
    #expect(Set(expected.map { $0.map(\.tokens) }).count > 1)
}

/// The template's keys and values computed once (`SharedPrefix`): a prefill of only the prompts'
/// own tokens leaves the logits and the cache of a whole-prompt prefill, and decoding after it
/// follows the full forward pass.
@Test func sharedPrefixPrefillMatchesWholePromptPrefill() throws {
    let m = try LlamaFixtures.tinyModel(seed: 12, std: 0.3)
    let template: [Int32] = [5, 17, 3, 3, 41, 8]
    let prompts: [[Int32]] = [template + [2], template + [9, 30, 1], template + [7, 7, 7, 7, 6, 44]]
    let shared = m.sharedPrefix(template)
    let whole = m.makeCache(promptCapacity: 12, maxNewTokens: 2, maxBeams: 6, maxPrompts: 3)
    let split = m.makeCache(promptCapacity: 12, maxNewTokens: 2, maxBeams: 6, maxPrompts: 3)
    let tape = Tape(recording: false)
    let expected = m.logits(tape: tape, hidden: m.prefillHidden(prompts: prompts, cache: whole))
    let got = m.logits(tape: tape, hidden: m.prefillHidden(prompts: prompts, cache: split, shared: shared))
    #expect(got.shape == [3, 50])
    var worst = maxAbsDiff(got.array, expected.array)
    #expect(split.prefixLengths == whole.prefixLengths)
    for l in 0..<m.config.layers {
        for (p, n) in prompts.map(\.count).enumerated() {
            let o = whole.prefixOffset(prompt: p), count = n * m.config.kvDim
            func rows(_ s: Tensor.Storage) -> [Float] { s.withPointer { Array(UnsafeBufferPointer(start: $0 + o, count: count)) } }
            worst = max(worst, maxAbsDiff(rows(split.prefixK[l]), rows(whole.prefixK[l])))
            worst = max(worst, maxAbsDiff(rows(split.prefixV[l]), rows(whole.prefixV[l])))
        }
    }
    // two decode steps on the split cache against the full forward pass of each sequence
    var seqs = prompts
    for step in [(parents: [0, 1, 1, 2], tokens: [Int32]([11, 12, 13, 14])), (parents: [3, 0, 1], tokens: [Int32]([20, 21, 22]))] {
        split.select(parents: step.parents)
        seqs = zip(step.parents, step.tokens).map { seqs[$0] + [$1] }
        let logits = m.decode(step.tokens, cache: split)
        for (b, s) in seqs.enumerated() {
            worst = max(worst, maxAbsDiff(LlamaFixtures.row(logits, b), LlamaFixtures.row(LlamaFixtures.fullLogits(m, s), s.count - 1)))
        }
    }
    #expect(worst < 1e-4, "worst |shared-prefix - whole| = \(worst)")
}

/// The longest common prefix, shortened so every prompt keeps a token of its own.
@Test func sharedPrefixCommonTokens() {
    #expect(SharedPrefix.commonTokens(of: [[1, 2, 3, 4], [1, 2, 3, 9, 9], [1, 2, 3, 4, 5]]) == [1, 2, 3])
    #expect(SharedPrefix.commonTokens(of: [[1, 2], [1, 2, 3]]) == [1])
    #expect(SharedPrefix.commonTokens(of: [[4, 2], [1, 2]]) == [])
    #expect(SharedPrefix.commonTokens(of: [[Int]]()) == [])
    #expect(SharedPrefix.commonTokens(of: [[7, 8, 9]]) == [7, 8])
}

/// The scorer with a shared template ranks exactly as without it, and falls back to the whole
/// prefill for a batch with a prompt that does not begin with the template.
@Test func llamaBeamScorerSharedPrefixKeepsRankings() throws {
    let m = try LlamaFixtures.tinyModel(seed: 21, std: 0.3)
    let sequences = Set((0..<40).map { [10 + $0 % 4, 20 + ($0 / 4) % 5, 30 + $0 % 7, 49] })
    let trie = PrefixTrie(sequences: sequences.sorted { $0.lexicographicallyPrecedes($1) })
    let template = [6, 1, 44, 2, 9]
    let prompts: [[Int]] = [template + [1, 2, 3], template + [4], template + [9, 8, 7, 6, 5], [3, 3, 3], template + [5, 5]]
    var plain = LlamaBeamScorer(model: m, promptCapacity: 12, depth: 4, width: 6, maxPrompts: 2)
    let expected = try beamSearch(&plain, trie: trie, prompts: prompts, width: 6)
    var shared = LlamaBeamScorer(model: m, promptCapacity: 12, depth: 4, width: 6, maxPrompts: 2, sharedPrefix: template)
    let got = try beamSearch(&shared, trie: trie, prompts: prompts, width: 6)
    #expect(got.map { $0.map(\.tokens) } == expected.map { $0.map(\.tokens) })
    let worst = zip(got, expected).flatMap { zip($0, $1).map { abs($0.score - $1.score) } }.max() ?? 0
    #expect(worst < 1e-4, "score difference \(worst)")
    #expect(Set(expected.map { $0.map(\.tokens) }).count > 1)
}
