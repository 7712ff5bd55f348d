import Foundation
import Testing
@testable import TSRec

/// D3 as a configuration of the one pipeline (issue #19): named fields only, old hashes kept,
/// evaluation modes in file names but not in the training hash.
@Suite struct LLMBaselineConfigTests {
    @Test func d3ChangesOnlyItsNamedFields() throws {
        let quick = ExperimentConfig.profile(.quick, dataset: "Industrial_and_Scientific")
        let d3 = quick.applying(.d3)
        #expect(d3.tasks.isEmpty && d3.recipe == .d3 && d3.evaluation == .titleTrie(lengthPenalty: 0) && d3.sidInit == .meanResize)
        #expect(d3.beamWidth == 10 && quick.beamWidth == 20)            // D3's evaluate.py: 10 beams
        #expect(ExperimentConfig.profile(.smoke, dataset: "Industrial_and_Scientific").applying(.d3).beamWidth == 5)
        #expect(d3.lossAveraging == .randomGroupMeans(size: 4))       // HF < 4.46, micro-batches of 4, random sampler
        var back = d3
        back.tasks = quick.tasks
        back.recipe = nil
        back.evaluation = nil
        back.beamWidth = quick.beamWidth
        back.lossAveraging = quick.lossAveraging
        back.sidInit = quick.sidInit
        #expect(back == quick)
        var d3AtBeam20 = d3                                            // the width is evaluation only
        d3AtBeam20.beamWidth = 20
        #expect(Pipeline(d3, label: "D3").trainingHash == Pipeline(d3AtBeam20, label: "D3").trainingHash)
        #expect(Method.named("d3") == .d3 && !Method.d3.hasRL && Method.d3.sftStage == .d3)
        // S-DPO = D3 + the preference stage, sharing D3's SFT run
        let sdpo = quick.applying(.sdpo)
        var withoutStage = sdpo
        withoutStage.preference = nil
        #expect(withoutStage == d3 && sdpo.preference == PreferenceConfig.profile(.quick) && Method.sdpo.sftStage == .d3)
        #expect(Pipeline(sdpo, label: "S-DPO").trainingHash == Pipeline(d3, label: "D3").trainingHash)
        #expect(Pipeline(sdpo, label: "S-DPO").resultHash.hasPrefix(Pipeline(d3, label: "D3").trainingHash + "/pref-"))
    }

    /// At `paper`, D3 (and S-DPO's SFT stage, the same run) trains on D3's schedule
    /// (DecodingMatters code/train.py:60-63, 138, 144-156): 128 per step, 3 epochs, validation on
    /// every validation row once per epoch, early stop after one validation without improvement.
    @Test func d3PaperProfileHasTheAuthorsSchedule() throws {
        let paper = ExperimentConfig.profile(.paper, dataset: "Industrial_and_Scientific")
        let d3 = paper.applying(.d3)
        #expect(d3.effectiveBatch == 128 && d3.epochs == 3 && d3.patience == 1 && d3.validRows == nil)
        #expect(d3.learningRate == 3e-4 && d3.warmupSteps == 20 && d3.lrSchedule == nil && d3.warmupRule == .huggingFace)
        var back = d3
        (back.tasks, back.recipe, back.evaluation, back.beamWidth) = (paper.tasks, nil, nil, paper.beamWidth)
        (back.effectiveBatch, back.epochs, back.evalStepsFraction, back.patience) = (paper.effectiveBatch, paper.epochs, paper.evalStepsFraction, paper.patience)
        (back.lossAveraging, back.sidInit) = (paper.lossAveraging, paper.sidInit)
        #expect(back == paper)
        // 36,259 train rows → 283 steps per epoch (HF on one process), 849 in all, validation every 283
        let trainer = Trainer(config: d3, runDirectory: URL(fileURLWithPath: "/nonexistent"))
        let schedule = trainer.lrSchedule(sampleCount: 36_259)
        #expect(schedule.totalSteps == 849 && schedule.warmupSteps == 20 && schedule.kind == .linear && schedule.lr(at: 0) == 0)
        #expect(trainer.evalInterval(sampleCount: 36_259) == 283)
        #expect(Pipeline(paper.applying(.sdpo), label: "S-DPO").trainingHash == Pipeline(d3, label: "D3").trainingHash)
    }

    @Test func bigrecChangesOnlyItsNamedFields() throws {
        let quick = ExperimentConfig.profile(.quick, dataset: "Industrial_and_Scientific")
        let bigrec = quick.applying(.bigrec)
        #expect(bigrec.tasks.isEmpty && bigrec.recipe == .bigrec() && bigrec.sidInit == .meanResize)
        #expect(bigrec.evaluation == .grounded(width: 4, maxNewTokens: 128, lengthPenalty: 1))
        #expect(bigrec.lossAveraging == .microBatchMeans)      // per-sequence weights, as under group_by_length
        var back = bigrec
        back.tasks = quick.tasks
        back.recipe = nil
        back.evaluation = nil
        back.lossAveraging = quick.lossAveraging
        back.sidInit = quick.sidInit
        #expect(back == quick)
        #expect(Method.named("bigrec") == .bigrec && !Method.bigrec.hasRL && Method.bigrec.sftStage == .bigrec)
        #expect(Pipeline(bigrec, label: "BIGRec").trainingHash != Pipeline(quick.applying(.d3), label: "D3").trainingHash)
        #expect(EvaluationMode.bigrec.fileTag == "grounded-w4-t128-lp1.0-prompt-titlehits2")
    }

    @Test func lcrecChangesOnlyItsNamedFields() throws {
        let quick = ExperimentConfig.profile(.quick, dataset: "Industrial_and_Scientific")
        let lcrec = quick.applying(.lcrec)
        #expect(lcrec.tasks.isEmpty && lcrec.recipe == .lcrec && lcrec.evaluation == .positionwiseCodes)
        #expect(lcrec.sidInit == .initializerRange)                     // transformers < 4.46's resize
        #expect(lcrec.lossAveraging == .randomGroupMeans(size: 8))      // HF < 4.46, 8 per device, random sampler
        #expect(lcrec.testPrompts == .everyTemplate)                    // run_test.sh: --test_prompt_ids all
        var back = lcrec
        back.tasks = quick.tasks
        back.recipe = nil
        back.evaluation = nil
        back.testPrompts = nil
        back.lossAveraging = quick.lossAveraging
        back.sidInit = quick.sidInit
        #expect(back == quick)
        #expect(Method.named("lc-rec") == .lcrec && !Method.lcrec.hasRL && Method.lcrec.sftStage == .lcrec)
        #expect(SFTRecipe.lcrec.tasks.map(\.name) == ["seqrec", "item2index", "index2item", "fusionseqrec"])
        #expect(SFTRecipe.lcrec.tasks.allSatisfy { $0.templates.count >= 4 && $0.choice == .uniformOnce && $0.loss == .response })
    }

    /// At `paper`, LC-Rec trains on its authors' schedule (RUCAIBox/LC-Rec run.sh:9, 14-18;
    /// utils.py:80-81): lr 5e-5, cosine decay after a warm-up of ceil(1 % of the steps), weight
    /// decay 0.01, 4 epochs of 128 sequences per step, validation once per epoch without early
    /// stopping (run.sh:19; finetune.py:64-97). Nothing else moves, and `quick` and `smoke` keep
    /// the shared budget.
    @Test func lcrecPaperProfileHasTheAuthorsSchedule() throws {
        let paper = ExperimentConfig.profile(.paper, dataset: "Industrial_and_Scientific")
        let lcrec = paper.applying(.lcrec)
        #expect(lcrec.learningRate == 5e-5 && lcrec.lrSchedule == .cosine && lcrec.warmupRatio == 0.01)
        #expect(lcrec.weightDecay == 0.01 && lcrec.epochs == 4 && lcrec.effectiveBatch == 128 && lcrec.maxSteps == nil)
        #expect(lcrec.effectiveBatch % lcrec.microBatch == 0)
        #expect(lcrec.evalStepsFraction == 0.25 && lcrec.patience == 4)     // validation every epoch, no early stop
        var back = lcrec
        (back.tasks, back.recipe, back.evaluation, back.testPrompts) = (paper.tasks, nil, nil, nil)
        (back.learningRate, back.lrSchedule, back.warmupRatio) = (paper.learningRate, nil, nil)
        (back.weightDecay, back.epochs, back.effectiveBatch) = (paper.weightDecay, paper.epochs, paper.effectiveBatch)
        (back.evalStepsFraction, back.patience) = (paper.evalStepsFraction, paper.patience)
        (back.lossAveraging, back.sidInit) = (paper.lossAveraging, paper.sidInit)
        #expect(back == paper)
        // the schedule the trainer builds: 83,000 samples → 648 steps per epoch, 2,592 in all,
        // ceil(25.92) = 26 warm-up steps from rate 0 (HF's ramp), then cosine decay to 0
        let schedule = Trainer(config: lcrec, runDirectory: URL(fileURLWithPath: "/nonexistent")).lrSchedule(sampleCount: 83_000)
        #expect(schedule.totalSteps == 2_592 && schedule.warmupSteps == 26 && schedule.kind == .cosine && schedule.peak == 5e-5)
        #expect(schedule.lr(at: 0) == 0 && schedule.lr(at: 26) == 5e-5 && schedule.lr(at: 2_592) == 0)
        #expect(abs(schedule.lr(at: 26 + (2_592 - 26) / 2) - 2.5e-5) < 1e-9)       // half-way: half the peak
        #expect(Trainer(config: lcrec, runDirectory: URL(fileURLWithPath: "/nonexistent")).evalInterval(sampleCount: 83_000) == 648)
        // the other profiles: the shared budget, nothing of the schedule set or encoded
        for profile in [Profile.quick, .smoke] {
            let base = ExperimentConfig.profile(profile, dataset: "Industrial_and_Scientific")
            let c = base.applying(.lcrec)
            #expect(c.learningRate == base.learningRate && c.weightDecay == base.weightDecay && c.epochs == base.epochs)
            #expect(c.effectiveBatch == base.effectiveBatch && c.warmupSteps == base.warmupSteps)
            #expect(c.warmupRatio == nil && c.lrSchedule == nil)
            let json = String(decoding: try JSONEncoder().encode(c), as: UTF8.self)
            #expect(!json.contains("warmupRatio") && !json.contains("lrSchedule"))
        }
        // the default schedule is the upstream one: 20 warm-up steps, linear decay
        let quick = Trainer(config: ExperimentConfig.profile(.quick, dataset: "x"), runDirectory: URL(fileURLWithPath: "/nonexistent"))
            .lrSchedule(sampleCount: 100_000)
        #expect(quick.warmupSteps == 20 && quick.kind == .linear && quick.totalSteps == 60 && quick.peak == 3e-4)
    }

    /// Finished runs are found by their hashes: setting LC-Rec's `paper` schedule (new optional
    /// fields) must leave every method's `quick` run, and every other method's `paper` and `smoke`
    /// configuration, where it was. If a change is meant, update the values and say so in the commit.
    @Test func everyMethodsQuickHashIsPinned() throws {
        let quick: [Method: String] = [
            .minionerecSFT: "784fb858148a", .minionerec: "784fb858148a/rl-85cecb545205",
            .tsrecSFT: "a890c475b109", .tsrec: "a890c475b109/rl-85cecb545205",
            .noSAInit: "19a7f171976a", .noTSAlign: "f63eebc10c1b",
            .d3: "2a404550ca44", .sdpo: "2a404550ca44/pref-ce2c3a438317",
            .bigrec: "05fff42f867d", .lcrec: "9d684265d482",
        ]
        #expect(Set(quick.keys) == Set(Method.allCases))
        for method in Method.allCases {
            let c = ExperimentConfig.profile(.quick, dataset: "Industrial_and_Scientific").applying(method)
            #expect(Pipeline(c, label: method.rawValue).resultHash == quick[method], "\(method.rawValue)")
        }
        for profile in [Profile.smoke, .paper] {
            for method in Method.allCases where method != .lcrec {
                let c = ExperimentConfig.profile(profile, dataset: "Industrial_and_Scientific").applying(method)
                #expect(c.warmupRatio == nil && c.lrSchedule == nil, "\(profile.rawValue) \(method.rawValue)")
            }
        }
    }

    @Test func evaluationModeEncodesOnlyWhenSet() throws {
        let quick = ExperimentConfig.profile(.quick, dataset: "Industrial_and_Scientific")
        let plain = String(decoding: try JSONEncoder().encode(quick), as: UTF8.self)
        #expect(!plain.contains("evaluation"))      // older configurations hash as before
        for mode in [EvaluationMode.sidTrie, .titleTrie(lengthPenalty: 0), .titleTrie(lengthPenalty: 1), .positionwiseCodes, .bigrec] {
            var c = quick
            c.evaluation = mode
            let json = try JSONEncoder().encode(c)
            #expect(String(decoding: json, as: UTF8.self).contains("evaluation"))
            #expect(try JSONDecoder().decode(ExperimentConfig.self, from: json) == c)
        }
    }

    /// D3's assistant is an evaluation setting: absent from the JSON when off, no hash changes,
    /// its own predictions file.
    @Test func assistantIsAnEvaluationSetting() throws {
        let d3 = ExperimentConfig.profile(.quick, dataset: "Industrial_and_Scientific").applying(.d3)
        #expect(!String(decoding: try JSONEncoder().encode(d3), as: UTF8.self).contains("assistant"))
        var guided = d3
        guided.assistant = DecodingAssistant(weight: 0.8)
        let json = try JSONEncoder().encode(guided)
        #expect(String(decoding: json, as: UTF8.self).contains("assistant"))
        #expect(try JSONDecoder().decode(ExperimentConfig.self, from: json) == guided)
        let a = Pipeline(d3, label: "D3"), b = Pipeline(guided, label: "D3 (\(guided.assistant!.label))")
        #expect(a.resultHash == "2a404550ca44" && b.resultHash == a.resultHash && b.label == "D3 (+SASRec, g=0.8)")
        #expect(b.predictionsURL(testRows: 10).lastPathComponent == "predictions-title-lp0.0-titlehits2-sasrec-g0.8-beam10-n10.jsonl")
    }

    /// LC-Rec's test prompts are an evaluation setting: no hash moves, one predictions file per
    /// seqrec template, the first under the one-prompt name; a recipe with its own test template,
    /// or no recipe, has no templates to go through.
    @Test func testPromptsIsAnEvaluationSetting() throws {
        let quick = ExperimentConfig.profile(.quick, dataset: "Industrial_and_Scientific")
        let lcrec = quick.applying(.lcrec)
        var one = lcrec
        one.testPrompts = nil
        #expect(Pipeline(lcrec, label: "LC-Rec").resultHash == "9d684265d482" && Pipeline(one, label: "x").resultHash == "9d684265d482")
        #expect(!String(decoding: try JSONEncoder().encode(quick.applying(.d3)), as: UTF8.self).contains("testPrompts"))
        let json = try JSONEncoder().encode(lcrec)
        #expect(String(decoding: json, as: UTF8.self).contains(#""testPrompts":"every-template""#))
        #expect(try JSONDecoder().decode(ExperimentConfig.self, from: json) == lcrec)
        let urls = try Pipeline(lcrec, label: "LC-Rec").predictionsURLs(testRows: 10).map(\.lastPathComponent)
        #expect(urls == ["predictions-codes-beam20-n10.jsonl"] + (1 ..< 4).map { "predictions-codes-prompt\($0)-beam20-n10.jsonl" })
        #expect(urls.count == SFTRecipe.lcrec.tasks[0].templates.count)
        #expect(try SFTRecipe.lcrec.testPrompts(.everyTemplate) == SFTRecipe.lcrec.tasks[0].templates)
        #expect(try SFTRecipe.lcrec.testPrompts(nil) == [SFTRecipe.lcrec.testPrompt])
        #expect(try Pipeline(one, label: "x").predictionsURLs(testRows: 10).map(\.lastPathComponent) == [urls[0]])
        var bigrec = quick.applying(.bigrec), plain = quick
        bigrec.testPrompts = .everyTemplate
        plain.testPrompts = .everyTemplate
        #expect { try Pipeline(bigrec, label: "x").testPromptCount() } throws: { e in
            guard let e = e as? TSRecError, case let .config(field, _) = e.kind else { return false }
            return field == "testPrompts" && e.description.contains("BIGRec")
        }
        #expect(throws: TSRecError.self) { try Pipeline(plain, label: "x").testPromptCount() }
    }

    @Test func decodingModesShareTheTrainingRunButNotThePredictions() throws {
        let d3 = ExperimentConfig.profile(.quick, dataset: "Industrial_and_Scientific").applying(.d3)
        var base = d3
        base.evaluation = .titleTrie(lengthPenalty: 1)
        let a = Pipeline(d3, label: "D3"), b = Pipeline(base, label: "D3 (lp 1)")
        #expect(a.trainingHash == b.trainingHash)
        #expect(a.predictionsURL(testRows: 10) != b.predictionsURL(testRows: 10))
        #expect(a.predictionsURL(testRows: 10).lastPathComponent == "predictions-title-lp0.0-titlehits2-beam10-n10.jsonl")
        // the SID rows keep their file names
        let sft = Pipeline(ExperimentConfig.profile(.quick, dataset: "Industrial_and_Scientific").applying(.minionerecSFT), label: "x")
        #expect(sft.predictionsURL(testRows: 10).lastPathComponent == "predictions-beam20-n10.jsonl")
        #expect(a.trainingHash != sft.trainingHash)
    }

    /// The originals' title-level hit rule on the real catalogue: the junk title shared by 27
    /// items (26 SIDs) takes one rank and hits for any of its items; the next title keeps the next
    /// rank (no flood of the shared title's SIDs); an item alone in its rank stands for its SID.
    @Test func titleRanksHitByTitle() throws {
        guard case .success(let dataset)? = DataTestSupport.loaded["Industrial_and_Scientific"] else {
            print(DataTestSupport.mirrorMissingMessage)
            return
        }
        let byTitle = Dictionary(grouping: 0 ..< dataset.index.count) { dataset.items[$0].title }
        let shared = byTitle.values.max { $0.count < $1.count }!
        #expect(shared.count == 27 && Set(shared.map { dataset.index.sid(of: $0) }).count == 26)
        let other = (0 ..< dataset.index.count).first { byTitle[dataset.items[$0].title]!.count == 1 }!
        func row(_ item: Int) -> SplitRow {
            SplitRow(userID: "u", historyItemIDs: [], historySIDs: [], historyTitles: [], targetItemID: item,
                     targetSID: dataset.index.sid(of: item), targetTitle: dataset.items[item].title)
        }
        let ranks = [shared.sorted(), [other]]
        let fifth = shared.sorted()[4]
        #expect(Pipeline.titleLevelSIDs(ranks, row: row(fifth), dataset: dataset, limit: 10).sids == [dataset.index.sid(of: fifth), dataset.index.sid(of: other)])
        #expect(Pipeline.titleLevelSIDs(ranks, row: row(other), dataset: dataset, limit: 10).sids == [dataset.index.sid(of: shared.min()!), dataset.index.sid(of: other)])
        #expect(Pipeline.titleLevelSIDs(ranks, row: row(other), dataset: dataset, limit: 1).sids.count == 1)
        // BIGRec: each item its own rank; the first item with the target's title hits
        let items = [other] + shared.sorted().suffix(3)
        let ranked = Pipeline.titleLevelSIDs(items.map { [$0] }, row: row(fifth), dataset: dataset, limit: 20)
        #expect(Prediction(user: "u", target: row(fifth).targetSID, ranked: ranked.sids).hitRank == 1)
        #expect(ranked.misses.isEmpty)
    }

    /// Items of different titles that share a SID (4 SIDs of the Industrial catalogue): a ranked
    /// title that is not the target's misses although its SID is the target's, and the target's
    /// own title still hits further down; the rank keeps its item's (valid) SID.
    @Test func sharedSIDOfAnotherTitleIsAMiss() throws {
        guard case .success(let dataset)? = DataTestSupport.loaded["Industrial_and_Scientific"] else {
            print(DataTestSupport.mirrorMissingMessage)
            return
        }
        let bySID = Dictionary(grouping: 0 ..< dataset.index.count) { dataset.index.sid(of: $0) }
        let mixed = bySID.values.filter { Set($0.map { dataset.items[$0].title }).count > 1 }
        #expect(mixed.count == 4)
        let items = try #require(mixed.first).sorted()
        let target = items[0]
        let impostor = try #require(items.first { dataset.items[$0].title != dataset.items[target].title })
        let row = SplitRow(userID: "u", historyItemIDs: [], historySIDs: [], historyTitles: [], targetItemID: target,
                           targetSID: dataset.index.sid(of: target), targetTitle: dataset.items[target].title)
        let decoded = Pipeline.Decoded(ranking: .titles([[impostor], [target]]))
        let p = decoded.prediction(for: row, dataset: dataset, limit: 20)
        #expect(p.ranked == [row.targetSID, row.targetSID])       // both valid catalogue SIDs
        #expect(p.titleMisses == [0])
        #expect(p.hitRank == 1)
        // the impostor alone: no hit at all, where the SID rule would have hit at rank 0
        let alone = Pipeline.Decoded(ranking: .titles([[impostor]])).prediction(for: row, dataset: dataset, limit: 20)
        #expect(alone.hitRank == nil && Prediction(user: "u", target: row.targetSID, ranked: alone.ranked).hitRank == 0)
        #expect(MetricRow.evaluate([alone], catalogue: Set(dataset.index.sids)).invalid == 0)
    }
}

/// D3's samples and title trie on the real tokenizer and Industrial data.
@Suite(.enabled(if: TSRecFixtures.industrialAndModelAvailable, "needs the SmolLM2 GGUF and the Industrial dataset in the cache (make model data)"))
struct D3TitleTrieTests {
    let dataset: Dataset
    let tokenizer: BPETokenizer
    let builder: SFTSampleBuilder

    init() throws {
        let paths = Paths.fromEnvironment()
        dataset = try Dataset.load(.industrial, paths: paths)
        var t = try BPETokenizer(gguf: GGUFFile(contentsOf: ModelStore(paths: paths).url("SmolLM2-135M-Instruct.Q4_1.gguf")))
        _ = t.addTokens(dataset.sidTokens)
        tokenizer = t
        builder = try SFTSampleBuilder(tokenizer: t, maxLength: 512, format: .alpaca)
    }

    @Test func everyTrainingAnswerIsATriePath() throws {
        let titles = (0 ..< dataset.index.count).map { dataset.items[$0].title }
        let completions = try TitleCompletions(completions: try titles.map { try builder.titleCompletion($0, recipe: .d3).map(Int.init) })
        #expect(completions.count == Set(titles).count)
        #expect(completions.count == 3_646)          // docs/llm-baselines.md §8.2: 3,686 items, 3,646 titles
        let lengths = completions.trie.allSequences().map(\.count)
        print("D3 title trie: \(completions.count) completions, \(lengths.min()!)...\(lengths.max()!) tokens")
        #expect(lengths.min()! < lengths.max()!)
        let eos = Int(tokenizer.eosID!)
        let (samples, dropped) = try builder.trainingSamples(dataset, recipe: .d3, trainRows: 200, seed: 42)
        #expect(dropped == 0 && samples.count == 200)
        let rows = try dataset.split(.train).rows.prefix(200)
        for (s, row) in zip(samples, rows) {
            let answer = s.tokens[s.promptLength...].map(Int.init)
            #expect(answer == (try builder.titleCompletion(row.targetTitle, recipe: .d3).map(Int.init)))
            #expect(completions.trie.contains(answer) && answer.suffix(2) == [198, eos])
            #expect(tokenizer.decode(answer.dropLast()) == "\"\(row.targetTitle)\"\n")
        }
        // the validation samples are the same task
        let valid = try builder.validationSamples(Array(try dataset.split(.valid).rows.prefix(5)), recipe: .d3,
                                                  category: dataset.benchmark.categoryPhrase, seed: 42)
        #expect(valid.count == 5 && valid.allSatisfy { $0.task == samples[0].task })
        #expect(tokenizer.decode(valid[0].tokens.map(Int.init)).contains("industrial and scientific items"))
    }
}
