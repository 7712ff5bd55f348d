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

    @Test func levelsAndCodesOfTokens() {
        #expect(SID.level(of: "<a_12>") == 0 && SID.level(of: "<b_0>") == 1 && SID.level(of: "<c_255>") == 2)
        #expect(SID.code(of: "<b_17>") == 17)
    }
}

/// With the real tokenizer and the Industrial data (skipped when either is absent).
@Suite(.enabled(if: TSRecFixtures.industrialAndModelAvailable, "needs the SmolLM2 GGUF and the Industrial dataset in the cache (make model data)"))
struct SIDInitIntegrationTests {
    @Test func saInitRowIsTheRescaledKeywordMean() throws {
        let paths = Paths.fromEnvironment()
        let dataset = try Dataset.load(.industrial, paths: paths)
        let gguf = try GGUFFile(contentsOf: ModelStore(paths: paths).url("SmolLM2-135M-Instruct.Q4_1.gguf"))
        let tokenizer = try BPETokenizer(gguf: gguf)
        let embedding = Tensor(try gguf.dequantize("token_embd.weight"), shape: [tokenizer.vocabSize, 576])
        var config = ExperimentConfig.profile(.quick, dataset: dataset.benchmark.name).applying(.tsrec)
        config.sidInitLevels = "ab"   // level c falls back to random
        let tokens = dataset.sidTokens
        #expect(tokens.count == 560)
        #expect(tokens.prefix(48).allSatisfy { $0.hasPrefix("<a_") } && tokens.last!.hasPrefix("<c_"))
        let keywords = try dataset.requireKeywords()
        let rows = try SIDInitialiser(config: config, dataset: dataset, tokenizer: tokenizer, embedding: embedding,
                                      baseVocab: tokenizer.vocabSize, semantics: keywords).rows(for: tokens, log: { _ in })
        #expect(rows.count == 560 * 576)

        // independent recomputation for one token per level, in Double
        let table = embedding.array                                  // [V, 576]
        for token in [tokens[0], tokens[48]] {
            let ids = tokenizer.encode(keywords[token]!.keywords.joined(separator: " "))
            var mean = [Double](repeating: 0, count: 576)
            for id in ids { for j in 0..<576 { mean[j] += Double(table[id * 576 + j]) } }
            var normSum = 0.0
            for r in 0..<tokenizer.vocabSize {
                var s = 0.0
                for j in 0..<576 { s += Double(table[r * 576 + j]) * Double(table[r * 576 + j]) }
                normSum += s.squareRoot()
            }
            let target = normSum / Double(tokenizer.vocabSize)
            let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let expected = mean.map { $0 / norm * target }
            let i = tokens.firstIndex(of: token)!
            let got = rows[(i * 576)..<((i + 1) * 576)]
            let worst = zip(got, expected).map { abs(Double($0) - $1) }.max()!
            #expect(worst < 1e-4, "\(token): worst difference \(worst)")
        }
        // a level-c token is not the keyword mean (depth "ab")
        let c = tokens.firstIndex { $0.hasPrefix("<c_") }!
        let cIDs = tokenizer.encode(keywords[tokens[c]]!.keywords.joined(separator: " "))
        let keywordRow = table.withUnsafeBufferPointer {
            SIDEmbeddingInit(table: $0, vocab: tokenizer.vocabSize, dim: 576).rescaledMean(of: cIDs)!
        }
        #expect(Array(rows[(c * 576)..<((c + 1) * 576)]) != keywordRow)
    }

    /// The rows the pipeline actually puts in the model: vocab-mean gives every SID token the
    /// same row (cosine 1 between rows, and with the mean row); random rows are near-orthogonal;
    /// keyword rows (SA-Init) lie in between and keep the pretrained row length.
    @Test func initialGeometryOfThePipelineRows() throws {
        let base = ExperimentConfig.profile(.quick, dataset: Benchmark.industrial.name).applying(.tsrec)
        func geometry(_ mode: SIDInit) throws -> [String: EmbeddingGeometry] {
            var c = base
            c.sidInit = mode
            var pipeline = Pipeline(c, label: mode.rawValue)
            pipeline.log = { _ in }
            let g = try pipeline.initialSIDGeometry()
            return Dictionary(uniqueKeysWithValues: g.levels.map { ($0.level, $0.geometry) } + [("pretrained", g.pretrained)])
        }
        let mean = try geometry(.vocabMean), random = try geometry(.random), keywords = try geometry(.keywords)
        #expect(mean.keys.sorted() == ["a", "b", "c", "pretrained"])
        #expect(["a", "b", "c"].map { mean[$0]!.rows }.reduce(0, +) == 560)
        #expect(mean["pretrained"]!.rows == 49_152 && mean["pretrained"] == keywords["pretrained"])
        for level in ["a", "b", "c"] {
            #expect(abs(mean[level]!.meanPairwiseCosine! - 1) < 1e-6 && abs(mean[level]!.meanCosineToReference! - 1) < 1e-6)
            #expect(abs(random[level]!.meanPairwiseCosine!) < 0.05)
            let k = keywords[level]!
            #expect(k.meanPairwiseCosine! > random[level]!.meanPairwiseCosine! + 0.05 && k.meanPairwiseCosine! < 0.99)
            #expect(abs(k.meanNorm - keywords["a"]!.meanNorm) < 1e-3)   // every keyword row rescaled to one length
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
        // every SID token appears as a single response token in a description → token sample
        let tokenIDs = Set(dataset.sidTokens.map { tokenizer.id(for: $0)! })
        let responses = samples.filter { $0.responseLength == 2 }.map { Int($0.tokens[$0.promptLength]) }
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
