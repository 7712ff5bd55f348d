import Foundation
import Testing
@testable import TSRec

/// D3's text-free assistant (`TitleAssistant`, `TokenGuide`), pinned to DecodingMatters'
/// formula written out independently: per prefix, q(t) = (mass of the items whose completion
/// starts with prefix + t, + 1e-20) renormalised over the allowed t, and each step scores
/// g · log p_LLM + (1 − g) · log q (`LogitProcesser.py:100-128`).
@Suite struct TitleAssistantTests {
    private static let salt: UInt64 = 0xA551_57A2
    private static let eos = ConstrainedDecodingTests.eos

    /// A random distribution over `n` items (Dirichlet-like: normalised squares of Gaussians + a floor).
    static func distribution(_ n: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed ^ 0xD15)
        let w = (0 ..< n).map { _ in Double(rng.nextGaussian()) * Double(rng.nextGaussian()) + 0.05 }.map { $0 * $0 }
        let z = w.reduce(0, +)
        return w.map { Float($0 / z) }
    }

    /// The reference: D3's per-step mixture, from the completions list alone (no trie).
    static func mixedScore(_ sequence: [Int], completions: [[Int]], p: [Float], g: Double, llm: PrefixTableScorer) -> Double {
        var total = 0.0
        for i in sequence.indices {
            let prefix = Array(sequence[..<i])
            // allowed next tokens and their masses
            var mass: [Int: Double] = [:]
            for (item, c) in completions.enumerated() where c.count > i && Array(c[..<i]) == prefix {
                mass[c[i], default: 0] += Double(p[item])
            }
            let floored = mass.mapValues { $0 + 1e-20 }
            let q = floored[sequence[i]]! / floored.values.reduce(0, +)
            let logP = llm.logProb(Array(sequence[...i])) - llm.logProb(prefix)
            total += g * logP + (1 - g) * log(q)
        }
        return total
    }

    @Test func nodeMassesSumTheItemsBelowAndMatchAHandExample() throws {
        let e = Self.eos
        // items 0 and 3 share a title; 1 and 2 share the first token
        let completions = [[10, e], [11, 12, e], [11, 13, e], [10, e]]
        let assistant = TitleAssistant(titles: try TitleCompletions(completions: completions))
        let p: [Float] = [0.25, 0.3, 0.2, 0.25]
        let masses = assistant.nodeMasses(p)
        let trie = assistant.titles.trie
        #expect(abs(masses[PrefixTrie.root] - 1) < 1e-7)
        #expect(abs(masses[trie.node(for: [10])!] - 0.5) < 1e-7)         // both items of title [10]
        #expect(abs(masses[trie.node(for: [11])!] - 0.5) < 1e-7)
        #expect(abs(masses[trie.node(for: [11, 13, e])!] - 0.2) < 1e-7)
        // after [11]: q(12) = 0.3 / 0.5, q(13) = 0.2 / 0.5 (D3's `temp / temp.sum()`)
        let after11 = trie.continuations(of: trie.node(for: [11])!)
        let q = TitleAssistant.logProbabilities(masses, after11).map(exp)
        #expect(after11.map(\.token) == [12, 13] && abs(q[0] - 0.6) < 1e-7 && abs(q[1] - 0.4) < 1e-7)
        // one continuation: q = 1 exactly
        #expect(TitleAssistant.logProbabilities(masses, trie.continuations(of: trie.node(for: [10])!)) == [0])

        // g = 0 at full width, by hand: [10, e] log .5, [11, 12, e] log(.5 · .6) = log .3, [11, 13, e] log .2
        var scorer = PrefixTableScorer(vocab: 16, seed: 1, salt: Self.salt)
        let beam = try constrainedBeamSearch(&scorer, constraint: trie, prompts: [[1]], width: 3,
                                             guide: assistant.guide(weight: 0, probabilities: [p]))[0]
        #expect(beam.map(\.tokens) == [[10, e], [11, 12, e], [11, 13, e]])
        #expect(zip(beam.map(\.score), [log(0.5), log(0.3), log(0.2)]).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(assistant.titles.rankedGroups(beam) == [[0, 3], [1], [2]])
    }

    /// g = 1 is the assistant off: the unguided search, bit for bit (D3: `if guidance_scale == 1`).
    @Test(arguments: [UInt64](0 ..< 4))
    func weightOneIsThePlainSearch(seed: UInt64) throws {
        let completions = ConstrainedDecodingTests.titleCompletions(count: 25, seed: seed)
        let assistant = TitleAssistant(titles: try TitleCompletions(completions: completions))
        let p = Self.distribution(completions.count, seed: seed)
        for width in [1, 4, 25] {
            var a = PrefixTableScorer(vocab: 48, seed: seed, salt: Self.salt), b = a
            let plain = try constrainedBeamSearch(&a, constraint: assistant.titles.trie, prompts: [[3], [4]], width: width)
            let guided = try constrainedBeamSearch(&b, constraint: assistant.titles.trie, prompts: [[3], [4]], width: width,
                                                   guide: assistant.guide(weight: 1, probabilities: [p, p]))
            #expect(plain.map { $0.map(\.tokens) } == guided.map { $0.map(\.tokens) } && plain.map { $0.map(\.score) } == guided.map { $0.map(\.score) })
        }
    }

    /// g = 0 ranks by the assistant alone: at full width each completion scores the log of its
    /// items' share of the mass (the per-step log q telescope), whatever the LLM says.
    @Test(arguments: [UInt64](0 ..< 4))
    func weightZeroIsTheAssistantsRanking(seed: UInt64) throws {
        let completions = ConstrainedDecodingTests.titleCompletions(count: 20, seed: seed)
        let assistant = TitleAssistant(titles: try TitleCompletions(completions: completions))
        let p = Self.distribution(completions.count, seed: seed &+ 7)
        var scorer = PrefixTableScorer(vocab: 48, seed: seed, salt: Self.salt)
        let beam = try constrainedBeamSearch(&scorer, constraint: assistant.titles.trie, prompts: [[2]], width: 20,
                                             guide: assistant.guide(weight: 0, probabilities: [p]))[0]
        let byMass = completions.indices.sorted { p[$0] != p[$1] ? p[$0] > p[$1] : completions[$0].lexicographicallyPrecedes(completions[$1]) }
        #expect(beam.map(\.tokens) == byMass.map { completions[$0] })
        #expect(zip(beam, byMass).allSatisfy { abs($0.score - log(Double(p[$1]))) < 1e-5 })
    }

    /// 0 < g < 1 at full width: the search is exhaustive and every score is the reference's
    /// per-step mixture; with forced paths scored in one call the same (they add g · log p).
    @Test(arguments: [UInt64](0 ..< 4))
    func mixtureIsDThreesPerStepFormula(seed: UInt64) throws {
        let completions = ConstrainedDecodingTests.titleCompletions(count: 12, seed: seed)
        let assistant = TitleAssistant(titles: try TitleCompletions(completions: completions))
        let p = Self.distribution(completions.count, seed: seed &+ 11)
        for g in [0.3, 0.8] {
            for forces in [false, true] {
                var scorer = PrefixTableScorer(vocab: 48, seed: seed, salt: Self.salt, forces: forces)
                let reference = completions.map { ($0, Self.mixedScore($0, completions: completions, p: p, g: g, llm: scorer)) }
                    .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0.lexicographicallyPrecedes($1.0) }
                let beam = try constrainedBeamSearch(&scorer, constraint: assistant.titles.trie, prompts: [[6]], width: 12,
                                                     guide: assistant.guide(weight: g, probabilities: [p]))[0]
                #expect(beam.map(\.tokens) == reference.map(\.0), "g \(g) forces \(forces)")
                #expect(zip(beam, reference).allSatisfy { abs($0.score - $1.1) < 1e-5 }, "g \(g) forces \(forces)")
                if forces { #expect(!scorer.forcedPaths.isEmpty) }      // the forced-path branch was taken
            }
        }
    }

    /// The best validation NDCG@10, ties to the larger g (nearer the assistant off).
    @Test func chosenWeightPrefersTheLargerGOnTies() {
        #expect(Pipeline.chosenWeight([(1, 0.1), (0.5, 0.1), (0, 0.05)]) == 1)
        #expect(Pipeline.chosenWeight([(1, 0.1), (0.8, 0.2), (0.2, 0.2), (0, 0.15)]) == 0.8)
    }

    /// The assistant's SASRec is Table 2's: retrained from the same seed and budget, its top-20
    /// lists equal the cached row's predictions, and each row's distribution sums to 1 with the
    /// top item first.
    @Test func distributionsComeFromTheTable2Model() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-assistant-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = BaselineToy.data
        var budget = BaselineBudget.of(.smoke)
        budget.settings.maxEpochs = 3
        budget.testRows = data.test.count - 3            // a budget that cuts the split (the cache key is the uncut data's)
        _ = try BaselineSuite.cachedRun(.sasrec, data: data, budget: budget, seed: 9, runsDirectory: dir, log: { _ in })
        var lines: [String] = []
        let d = try BaselineSuite.distributions(.sasrec, of: \.test, data: data, budget: budget, seed: 9, runsDirectory: dir, log: { lines.append($0) })
        let n = data.test.count - 3
        #expect(lines.contains { $0.contains("identical") && $0.contains("on \(n) of \(n) test rows") }, "\(lines)")
        #expect(d.count == n && d.allSatisfy { $0.count == data.itemCount && abs($0.reduce(0, +) - 1) < 1e-4 })
        // the most probable item is the row's first recommendation (distinct SIDs in the toy)
        let cached = try PredictionsFile.read(from: dir.appendingPathComponent("toy/baselines").appendingPathComponent(
            try #require(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("toy/baselines").path)
                .first { $0.hasSuffix(".predictions.jsonl") })))
        for (row, prediction) in zip(d, cached) {
            #expect(data.itemSIDs[row.indices.max { row[$0] < row[$1] }!] == prediction.ranked[0])
        }
        // the validation rows (tuning g): the same model's distributions over them
        let valid = try BaselineSuite.distributions(.sasrec, of: \.valid, data: data, budget: budget, seed: 9, runsDirectory: dir, log: { _ in })
        #expect(valid.count == data.valid.count && valid != Array(d.prefix(valid.count)))
        // another seed is another model: the comparison says so
        lines = []
        _ = try BaselineSuite.distributions(.sasrec, of: \.test, data: data, budget: budget, seed: 10, runsDirectory: dir, log: { lines.append($0) })
        #expect(lines.contains { $0.contains("no cached Table-2 predictions") })
    }
}

/// The assistant inside the pipeline (smoke budget, 2-layer backbone, real Industrial rows): a
/// labelled evaluation of D3's run (same training hash, its own predictions file), and g tuned on
/// validation rows with the trials cached and tabled.
@Suite(.enabled(if: TSRecFixtures.industrialAndModelAvailable, "needs the SmolLM2 GGUF and the Industrial dataset in the cache (make model data)"))
struct AssistantPipelineTests {
    @Test func d3WithTheAssistantAtSmoke() throws {
        try SmokePipeline.withResults("assistant-pipeline") { paths in
            let dir = paths.results
            var config = SmokePipeline.config(.d3, testRows: 8)
            var d3 = Pipeline(config, label: "D3", paths: paths)
            d3.log = { _ in }
            let plain = try d3.run()
            config.assistant = DecodingAssistant(weight: 0.5)
            #expect(Pipeline(config, label: "x", paths: paths).resultHash == d3.resultHash)        // an evaluation of the same run
            var guided = Pipeline(config, label: "D3 (+SASRec, g=0.5)", paths: paths)
            let box = guided.keepingLog()
            let mixed = try guided.run()
            #expect(mixed.predictionsPath != plain.predictionsPath && mixed.predictionsPath?.contains("-sasrec-g0.5-") == true)
            #expect(box.lines.contains { $0.contains("training: finished earlier") } && box.lines.contains { $0.contains("weight g = 0.5") })
            #expect(mixed.metrics.rows == 8)
            // the run folder's configuration stays D3's own (the variant is named by its predictions file)
            let written = try JSONDecoder().decode(ExperimentConfig.self, from: Data(contentsOf: d3.runDirectory.appendingPathComponent("config.json")))
            #expect(written.assistant == nil && written.recipe == .d3)

            // tuning: g = 1 is the plain search (the same rankings as the plain evaluation of those rows)
            let (best, trials) = try d3.tunedAssistant(grid: [1, 0], validRows: 8)
            #expect(trials.map(\.weight) == [1, 0] && trials.allSatisfy { $0.metrics.rows == 8 } && [1, 0].contains(best))
            let folder = d3.evaluationDirectory
            let table = try CSV.read(from: folder.appendingPathComponent("assistant-tuning-sasrec-beam5-n8.csv"))
            #expect(try table.column("g") == ["1.0", "0.0"])
            let p = try d3.prepare()
            _ = try d3.train(p)
            let valid = Array(try p.dataset.split(.valid).rows.prefix(8))
            let again = try d3.cachedPredictions(p, rows: valid, at: dir.appendingPathComponent("plain-valid.jsonl")).predictions
            #expect(try PredictionsFile.read(from: folder.appendingPathComponent("assistant-valid-sasrec-g1.0-beam5-n8.jsonl")).map(\.ranked) == again.map(\.ranked))
            // a report finds the chosen g in the table; a tuning over more rows takes precedence
            #expect(try d3.tunedAssistantWeight() == best)
            try CSV.write(header: AssistantTrial.csvHeader, rows: [["0.4"] + MetricRow.metricNames.map { $0 == "NDCG@10" ? "0.9" : "0" } + ["64", "1"]],
                          to: folder.appendingPathComponent("assistant-tuning-sasrec-beam5-n64.csv"))
            #expect(try d3.tunedAssistantWeight() == 0.4)
            // the first call trained the ID model once for both trials; a second reads every trial
            // back and trains none
            var d3fresh = d3
            let box1 = d3fresh.keepingLog()
            try FileManager.default.removeItem(at: folder.appendingPathComponent("assistant-valid-sasrec-g0.0-beam5-n8.jsonl"))
            _ = try d3fresh.tunedAssistant(grid: [1, 0], validRows: 8)
            #expect(box1.lines.filter { $0.contains("retrained for the assistant") }.count == 1)
            var d3again = d3
            let box2 = d3again.keepingLog()
            _ = try d3again.tunedAssistant(grid: [1, 0], validRows: 8)
            #expect(box2.lines.filter { $0.contains("predictions found") }.count == 2)
            #expect(!box2.lines.contains { $0.contains("retrained for the assistant") })
        }
    }
}

/// On the real data (model and Industrial in the cache): D3's search at g = 0 ignores the LLM, so
/// through the title trie it ranks by SASRec's mass and should land on Table 2's SASRec row:
/// the check that the assistant's items, titles and test rows line up with the ID model's.
@Suite(.enabled(if: TSRecFixtures.industrialAndModelAvailable, "needs the SmolLM2 GGUF and the Industrial dataset in the cache (make model data)"))
struct AssistantOnIndustrialTests {
    /// Every position scores the same (the LLM's term carries weight 0 at g = 0).
    struct FlatScorer: BeamScorer {
        let vocab: Int
        var maxPrompts: Int { 8 }
        mutating func start(prompt: [Int]) throws -> (Int, [Float]) { (0, [Float](repeating: 0, count: vocab)) }
        mutating func start(prompts: [[Int]]) throws -> [(Int, [Float])] { prompts.map { _ in (0, [Float](repeating: 0, count: vocab)) } }
        mutating func extend(_ states: [Int], with tokens: [Int]) throws -> [(Int, [Float])] {
            states.map { _ in (0, [Float](repeating: 0, count: vocab)) }
        }
    }

    /// The retrained model's own ranking is the reference (its distributions ranked directly),
    /// since it equals the committed row's only at that row's OpenBLAS thread count (2, alone in
    /// the process: all 4,533 lists identical, session 30), which concurrent tests change. Its
    /// metrics are near the committed row's all the same.
    @Test func gZeroIsTheSASRecRankingThroughTheTitleTrie() throws {
        let records = DataTestSupport.packageRoot.appendingPathComponent("Reproductions/results/quick/runs")
        let sasrecURL = records.appendingPathComponent("Industrial_and_Scientific/baselines/SASRec-f693691afc87.predictions.jsonl")
        var config = ExperimentConfig.profile(.quick, dataset: Benchmark.industrial.name).applying(.d3)
        config.assistant = DecodingAssistant(weight: 0)
        let env = Paths.fromEnvironment()
        var pipeline = Pipeline(config, label: "D3", paths: Paths(cache: env.cache, results: env.results, records: DataTestSupport.packageRoot.appendingPathComponent("Reproductions/results")))
        pipeline.log = { _ in }
        let p = try pipeline.assemble()
        let titles = try TitleCompletions(completions: p.dataset.items.prefix(p.dataset.index.count).map {
            try p.builder.titleCompletion($0.title, recipe: .d3).map(Int.init)
        })
        let assistant = TitleAssistant(titles: titles)
        let test = Array(try p.dataset.split(.test).rows.prefix(1024))
        let distributions = try pipeline.assistantDistributions(config.assistant!, dataset: p.dataset, rows: test)
        let itemSIDs = (0 ..< p.dataset.index.count).map { p.dataset.index.sid(of: $0) }
        let direct = try zip(test, distributions).map { row, d in
            Prediction(user: row.userID, target: row.targetSID,
                       ranked: try d.withUnsafeBufferPointer { try CatalogueRanking.topSIDs($0.baseAddress!, count: $0.count, itemSIDs: itemSIDs, k: 10) })
        }
        var scorer = FlatScorer(vocab: p.firstNewID + p.sidTokens.count)
        var predictions: [Prediction] = []
        for start in stride(from: 0, to: test.count, by: 8) {
            let rows = Array(start ..< min(start + 8, test.count))
            let ranked = try constrainedBeamSearch(&scorer, constraint: titles.trie, prompts: rows.map { _ in [0] }, width: 10,
                                                   guide: assistant.guide(weight: 0, probabilities: rows.map { distributions[$0] }))
            for (i, hyps) in zip(rows, ranked) {
                let (sids, _) = Pipeline.titleLevelSIDs(titles.rankedGroups(hyps), row: test[i], dataset: p.dataset, limit: 10)
                predictions.append(Prediction(user: test[i].userID, target: test[i].targetSID, ranked: sids))
            }
        }
        let catalogue = Set(p.dataset.index.sids)
        let ours = MetricRow.evaluate(predictions, catalogue: catalogue), own = MetricRow.evaluate(direct, catalogue: catalogue)
        let row = MetricRow.evaluate(Array(try PredictionsFile.read(from: sasrecURL).prefix(test.count)), catalogue: catalogue)
        let sameTop1 = zip(predictions, direct).filter { $0.ranked.first == $1.ranked.first }.count
        print(String(format: "g = 0 through the title trie on %d test rows: HR@1 %.4f HR@10 %.4f NDCG@10 %.4f; the model ranked directly HR@1 %.4f HR@10 %.4f NDCG@10 %.4f; same top-1 on %d; the committed row HR@10 %.4f",
                     test.count, ours.hr1, ours.hr10, ours.ndcg10, own.hr1, own.hr10, own.ndcg10, sameTop1, row.hr10))
        #expect(Double(sameTop1) >= 0.95 * Double(test.count))
        #expect(abs(ours.hr1 - own.hr1) <= 0.005 && abs(ours.hr10 - own.hr10) <= 0.015 && abs(ours.ndcg10 - own.ndcg10) <= 0.01)
        #expect(abs(own.hr10 - row.hr10) <= 0.03 && abs(own.ndcg10 - row.ndcg10) <= 0.02)    // another SASRec of the same recipe
    }
}
