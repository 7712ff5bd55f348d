import Foundation
import Testing
@testable import TSRec

@Suite struct SIDInitTests {
    /// Rows [3,4] (norm 5), [0,1] (norm 1), [6,8] (norm 10): mean norm 16/3.
    let table: [Float] = [3, 4, 0, 1, 6, 8]

    @Test func rescaledMeanByHand() {
        table.withUnsafeBufferPointer { t in
            let i = SIDEmbeddingInit(table: t, vocab: 3, dim: 2)
            #expect(abs(i.meanRowNorm - 16.0 / 3) < 1e-6)
            // mean of rows 0 and 2 = [4.5, 6] (norm 7.5), rescaled to 16/3: × (16/3)/7.5
            let row = i.rescaledMean(of: [0, 2])!
            #expect(abs(row[0] - 3.2) < 1e-5 && abs(row[1] - 64.0 / 15) < 1e-5)
            // repeats count: [0, 0, 1] → mean [2, 3]
            let rep = i.rescaledMean(of: [0, 0, 1])!
            let s = Float(16.0 / 3) / Float(13).squareRoot()
            #expect(abs(rep[0] - 2 * s) < 1e-5 && abs(rep[1] - 3 * s) < 1e-5)
            #expect(i.rescaledMean(of: []) == nil)
            let mean = i.vocabularyMean()
            #expect(abs(mean[0] - 3) < 1e-6 && abs(mean[1] - 13.0 / 3) < 1e-6)
            // entry RMS: sqrt((9+16+0+1+36+64)/6)
            #expect(abs(i.entryRMS - Float(126.0 / 6).squareRoot()) < 1e-5)
        }
    }

    /// HF mean resizing: rows ~ N(μ, 1e-9·Σ) with Σ = CᵀC / vocab. A table with a known
    /// covariance; μ and Σ against a direct Double computation, the draws' mean and covariance
    /// against μ and 1e-9·Σ, and the exact mean when Σ is singular.
    @Test func meanResizingMatchesTheDistribution() {
        var rng = SplitMix64(seed: 11)
        let vocab = 3000, dim = 3
        // correlated columns: x0 = g0, x1 = 0.5 g0 + g1, x2 = 2 + 0.2 g2
        var table: [Float] = []
        for _ in 0..<vocab {
            let g0 = rng.nextGaussian(), g1 = rng.nextGaussian(), g2 = rng.nextGaussian()
            table += [g0, 0.5 * g0 + g1, 2 + 0.2 * g2]
        }
        table.withUnsafeBufferPointer { t in
            let m = MeanResizing(table: t, vocab: vocab, dim: dim)
            // direct μ and Σ (divided by vocab, as HF)
            var mu = [Double](repeating: 0, count: dim)
            for r in 0..<vocab { for j in 0..<dim { mu[j] += Double(t[r * dim + j]) / Double(vocab) } }
            for j in 0..<dim { #expect(abs(m.mean[j] - mu[j]) < 1e-9) }
            for i in 0..<dim {
                for j in 0..<dim {
                    var c = 0.0
                    for r in 0..<vocab { c += (Double(t[r * dim + i]) - mu[i]) * (Double(t[r * dim + j]) - mu[j]) }
                    #expect(abs(m.covariance[i * dim + j] - c / Double(vocab)) < 1e-9)
                }
            }
            #expect(m.factor != nil)
            // draws: their mean is μ within 5 standard errors, their covariance 1e-9·Σ within 10%
            let n = 20000
            var draws = SplitMix64(seed: 5)
            var sum = [Double](repeating: 0, count: dim), rows: [[Double]] = []
            for _ in 0..<n {
                let row = m.sample(using: &draws).map(Double.init)
                rows.append(row)
                for j in 0..<dim { sum[j] += row[j] }
            }
            let drawMean = sum.map { $0 / Double(n) }
            for j in 0..<dim {
                let se = (1e-9 * m.covariance[j * dim + j] / Double(n)).squareRoot()
                #expect(abs(drawMean[j] - m.mean[j]) < 5 * se + 1e-7 * abs(m.mean[j]), "mean \(j)")
            }
            for i in 0..<dim {
                for j in 0...i {
                    let c = rows.reduce(0.0) { $0 + ($1[i] - drawMean[i]) * ($1[j] - drawMean[j]) } / Double(n - 1)
                    let want = 1e-9 * m.covariance[i * dim + j]
                    let scale = 1e-9 * (m.covariance[i * dim + i] * m.covariance[j * dim + j]).squareRoot()
                    #expect(abs(c - want) < 0.1 * scale, "cov \(i),\(j): \(c) vs \(want)")
                }
            }
        }
        // a constant column makes Σ singular: HF (and tsrec) fall back to the exact mean
        let singular: [Float] = [1, 5, 2, 5, 4, 5, 0, 5]
        singular.withUnsafeBufferPointer { t in
            let m = MeanResizing(table: t, vocab: 4, dim: 2)
            #expect(m.factor == nil)
            var r = SplitMix64(seed: 1)
            #expect(m.sample(using: &r) == [1.75, 5])
        }
    }

    @Test func choleskyByHand() {
        // [[4, 2], [2, 3]] = L Lᵀ with L = [[2, 0], [1, √2]]
        let l = MeanResizing.cholesky([4, 2, 2, 3], 2)!
        #expect(abs(l[0] - 2) < 1e-12 && l[1] == 0 && abs(l[2] - 1) < 1e-12 && abs(l[3] - 2.0.squareRoot()) < 1e-12)
        #expect(MeanResizing.cholesky([1, 2, 2, 1], 2) == nil)   // indefinite
    }

    @Test func levelsAndCodesOfTokens() {
        #expect(SID.level(of: "<a_12>") == 0 && SID.level(of: "<b_0>") == 1 && SID.level(of: "<c_255>") == 2)
        #expect(SID.code(of: "<b_17>") == 17)
    }
}

/// With the real tokenizer and the Industrial data (skipped when either is absent).
@Suite(.enabled(if: TSRecFixtures.industrialAndModelAvailable, "needs the SmolLM2 GGUF and the Industrial dataset in the cache (make model data)"))
struct SIDInitIntegrationTests {
    /// The Industrial data, SmolLM2's tokenizer and its pretrained embedding `[vocab, 576]`.
    static func industrialAndSmolLM2() throws -> (Dataset, BPETokenizer, Tensor) {
        let paths = Paths.fromEnvironment()
        let gguf = try GGUFFile(contentsOf: ModelStore(paths: paths).url("SmolLM2-135M-Instruct.Q4_1.gguf"))
        let tokenizer = try BPETokenizer(gguf: gguf)
        return (try Dataset.load(.industrial, paths: paths), tokenizer,
                Tensor(try gguf.dequantize("token_embd.weight"), shape: [tokenizer.vocabSize, 576]))
    }

    @Test func saInitRowIsTheRescaledKeywordMean() throws {
        let (dataset, tokenizer, embedding) = try Self.industrialAndSmolLM2()
        var config = ExperimentConfig.profile(.quick, dataset: dataset.benchmark.name).applying(.tsrecSFT)
        config.sidInitLevels = "ab"   // level c keeps the mean-resized row
        let tokens = dataset.sidTokens
        #expect(tokens.count == 560)
        #expect(tokens.prefix(48).allSatisfy { $0.hasPrefix("<a_") } && tokens.last!.hasPrefix("<c_"))
        let keywords = try dataset.requireKeywords()
        let rows = try SIDInitialiser(config: config, dataset: dataset, tokenizer: tokenizer, embedding: embedding,
                                      baseVocab: tokenizer.vocabSize, semantics: keywords).rows(for: tokens, log: { _ in })
        #expect(rows.count == 560 * 576)

        // Independent recomputation in Double of the authors' SA-Init for the first and the last
        // initialised token of the keyword file: the keyword mean, rescaled to the mean norm of
        // all rows of the resized table at that moment — pretrained rows, SID rows initialised
        // earlier in the file (their final rows), the others still at their mean-resized row (≈ μ).
        let table = embedding.array
        let vocab = tokenizer.vocabSize
        func rowNorm(_ r: ArraySlice<Float>) -> Double { r.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
        var mu = [Double](repeating: 0, count: 576)
        var baseNorms = 0.0
        for r in 0..<vocab {
            baseNorms += rowNorm(table[(r * 576)..<((r + 1) * 576)])
            for j in 0..<576 { mu[j] += Double(table[r * 576 + j]) / Double(vocab) }
        }
        let muNorm = mu.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let order = keywords.entries.map(\.token).filter { SID.level(of: $0) < 2 }
        #expect(order.count == 48 + 256)
        for (k, token) in [(0, order[0]), (order.count - 1, order.last!)] {
            let earlier = Set(order[..<k])
            let sidNorms = tokens.enumerated().reduce(0.0) { sum, t in
                sum + (earlier.contains(t.element) ? rowNorm(rows[(t.offset * 576)..<((t.offset + 1) * 576)]) : muNorm)
            }
            let target = (baseNorms + sidNorms) / Double(vocab + 560)
            let ids = tokenizer.encode(keywords[token]!.keywords.joined(separator: " "))
            var mean = [Double](repeating: 0, count: 576)
            for id in ids { for j in 0..<576 { mean[j] += Double(table[id * 576 + j]) / Double(ids.count) } }
            let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let expected = mean.map { $0 * target / (norm + 1e-6) }
            let i = tokens.firstIndex(of: token)!
            let got = rows[(i * 576)..<((i + 1) * 576)]
            let worst = zip(got, expected).map { abs(Double($0) - $1) }.max()!
            #expect(worst < 1e-4, "\(token): worst difference \(worst)")
        }
        // level-c rows keep the mean-resized start: within 1e-3 of μ, yet not all identical
        let cRows = tokens.indices.filter { SID.level(of: tokens[$0]) == 2 }
        for i in cRows.prefix(5) {
            #expect(zip(rows[(i * 576)..<((i + 1) * 576)], mu).allSatisfy { abs(Double($0) - $1) < 1e-3 })
        }
        #expect(Array(rows[(cRows[0] * 576)..<((cRows[0] + 1) * 576)]) != Array(rows[(cRows[1] * 576)..<((cRows[1] + 1) * 576)]))
        // a level-c token is not the keyword mean (depth "ab")
        let c = tokens.firstIndex { $0.hasPrefix("<c_") }!
        let cIDs = tokenizer.encode(keywords[tokens[c]]!.keywords.joined(separator: " "))
        let keywordRow = table.withUnsafeBufferPointer { SIDEmbeddingInit(table: $0, vocab: vocab, dim: 576).rescaledMean(of: cIDs)! }
        #expect(Array(rows[(c * 576)..<((c + 1) * 576)]) != keywordRow)
    }

    /// LC-Rec's start: transformers before 4.46 resize through `_init_weights`, so every new entry
    /// is N(0, initializer_range²), SmolLM2's initializer_range being 1/24 (its config.json); the
    /// draws are the ones `.random` scales (one stream whatever the mode).
    @Test func lcrecRowsAreTheOldResizeNormal() throws {
        let (dataset, tokenizer, embedding) = try Self.industrialAndSmolLM2()
        let lcrec = ExperimentConfig.profile(.quick, dataset: dataset.benchmark.name).applying(.lcrec)
        #expect(lcrec.sidInit == .initializerRange && LlamaConfig.smolLM2InitializerRange == Float(0.041666666666666664))
        func rows(_ c: ExperimentConfig) throws -> [Float] {
            try SIDInitialiser(config: c, dataset: dataset, tokenizer: tokenizer, embedding: embedding,
                               baseVocab: tokenizer.vocabSize, semantics: nil).rows(for: dataset.sidTokens, log: { _ in })
        }
        let x = try rows(lcrec).map(Double.init)
        #expect(x.count == 560 * 576)
        let n = Double(x.count), sigma = 1.0 / 24
        let mean = x.reduce(0, +) / n
        let sd = (x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n).squareRoot()
        #expect(abs(mean) < 4 * sigma / n.squareRoot())                      // 4 standard errors
        #expect(abs(sd / sigma - 1) < 0.005)                                   // se of sd/σ ≈ 0.12 %
        let withinOne = Double(x.filter { abs($0) < sigma }.count) / n
        #expect(abs(withinOne - 0.682_689) < 0.004)                            // a normal's share within 1σ
        // the same unit draws as the `.random` rows, scaled by σ instead of the entry RMS
        var random = lcrec
        random.sidInit = .random
        let r = try rows(random)
        let rms = embedding.array.withUnsafeBufferPointer { SIDEmbeddingInit(table: $0, vocab: tokenizer.vocabSize, dim: 576).entryRMS }
        let worst = zip(x.prefix(5_760), r.prefix(5_760)).map { abs($0 / sigma - Double($1 / rms)) }.max()!
        #expect(worst < 1e-4)
        print("SmolLM2 pretrained embedding entry RMS \(rms), initializer_range \(sigma)")
    }

    /// The rows the pipeline actually puts in the model: vocab-mean gives every SID token the
    /// same row (cosine 1 between rows, and with the mean row); random rows are near-orthogonal;
    /// keyword rows (SA-Init) lie in between and keep the pretrained row length.
    @Test func initialGeometryOfThePipelineRows() throws {
        let base = ExperimentConfig.profile(.quick, dataset: Benchmark.industrial.name).applying(.tsrecSFT)
        func geometry(_ mode: SIDInit) throws -> [String: EmbeddingGeometry] {
            var c = base
            c.sidInit = mode
            var pipeline = Pipeline(c, label: mode.rawValue)
            pipeline.log = { _ in }
            let g = try pipeline.initialSIDGeometry()
            return Dictionary(uniqueKeysWithValues: g.levels.map { ($0.level, $0.geometry) } + [("pretrained", g.pretrained)])
        }
        let mean = try geometry(.vocabMean), random = try geometry(.random), keywords = try geometry(.keywords)
        // the framework default: N(μ, 1e-9·Σ) rows, all but indistinguishable from the mean
        let resized = try geometry(.meanResize)
        for level in ["a", "b", "c"] {
            #expect(resized[level]!.meanPairwiseCosine! > 0.9999 && resized[level]!.meanCosineToReference! > 0.9999)
        }
        #expect(mean.keys.sorted() == ["a", "b", "c", "pretrained"])
        #expect(["a", "b", "c"].map { mean[$0]!.rows }.reduce(0, +) == 560)
        #expect(mean["pretrained"]!.rows == 49_152 && mean["pretrained"] == keywords["pretrained"])
        for level in ["a", "b", "c"] {
            #expect(abs(mean[level]!.meanPairwiseCosine! - 1) < 1e-6 && abs(mean[level]!.meanCosineToReference! - 1) < 1e-6)
            #expect(abs(random[level]!.meanPairwiseCosine!) < 0.05)
            let k = keywords[level]!
            #expect(k.meanPairwiseCosine! > random[level]!.meanPairwiseCosine! + 0.05 && k.meanPairwiseCosine! < 0.99)
            // keyword rows are rescaled to the running mean norm of the table: nearly one length
            #expect(abs(k.meanNorm - keywords["a"]!.meanNorm) < 0.02 * keywords["a"]!.meanNorm)
        }
    }

    @Test func tsAlignHasTwoSamplesPerToken() throws {
        let paths = Paths.fromEnvironment()
        let dataset = try Dataset.load(.industrial, paths: paths)
        var tokenizer = try BPETokenizer(gguf: GGUFFile(contentsOf: ModelStore(paths: paths).url("SmolLM2-135M-Instruct.Q4_1.gguf")))
        _ = tokenizer.addTokens(dataset.sidTokens)
        let builder = try SFTSampleBuilder(tokenizer: tokenizer, maxLength: 512)
        let (samples, dropped) = try builder.trainingSamples(dataset, tasks: [.tsAlign], trainRows: 10,
                                                             semantics: try dataset.requireKeywords())
        #expect(samples.count + dropped == 1_120)
        #expect(samples.count == 1_120)
        // every SID token appears as a single answer token (then "\n" and EOS) in a description → token sample
        let tokenIDs = Set(dataset.sidTokens.map { tokenizer.id(for: $0)! })
        let responses = samples.filter { $0.responseLength == 3 }.map { Int($0.tokens[$0.promptLength]) }
        #expect(samples.filter { $0.responseLength == 3 }.allSatisfy { Array($0.tokens.suffix(2)) == [198, Int32(tokenizer.eosID!)] })
        #expect(Set(responses) == tokenIDs)
    }
}

enum TSRecFixtures {
    static var industrialAndModelAvailable: Bool {
        let paths = Paths.fromEnvironment()
        return FileManager.default.fileExists(atPath: ModelStore(paths: paths).url("SmolLM2-135M-Instruct.Q4_1.gguf").path)
            && FileManager.default.fileExists(atPath: Dataset.directory(for: .industrial, paths: paths).path)
    }
}
