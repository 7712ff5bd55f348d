import Foundation
import Testing
@testable import TSRec

/// Recipes as data (issue #19): templates with slots, loss spans, sampling, and the D3 and
/// BIGRec recipes on the real tokenizer and Industrial rows.
@Suite struct PromptTemplateTests {
    let row = SplitRow(userID: "u", historyItemIDs: [0, 1], historySIDs: ["<a_1><b_2><c_3>", "<a_4><b_5><c_6>"],
                       historyTitles: ["Glue {target_sid}", "Tape 3/4\""], targetItemID: 2, targetSID: "<a_7><b_8><c_9>",
                       targetTitle: "Clamp")

    @Test func slotsAreFilledFromTheRowAndValuesAreNeverParsed() throws {
        let t = PromptTemplate(pieces: ["Items ({category}): ", "{history_titles} / {history_sids}\n"], answer: "\"{target_title}\" {target_sid}\n")
        let (pieces, answer) = try t.render(SlotValues(row: row, category: "tools"))
        // a title holding "{target_sid}" is copied as it is, not filled
        #expect(pieces == ["Items (tools): ", "\"Glue {target_sid}\", \"Tape 3/4\"\" / <a_1><b_2><c_3>, <a_4><b_5><c_6>\n"])
        #expect(answer == "\"Clamp\" <a_7><b_8><c_9>\n")
        #expect(try t.slots() == [.category, .historyTitles, .historySIDs, .targetTitle, .targetSID])
    }

    /// LC-Rec's `title.strip().strip(".!?,;:`")` (data.py:324, 330, 510); expected values are
    /// Python 3's, computed by hand from its rules: whitespace first, then the characters from
    /// both ends, inner ones and whitespace uncovered by the second strip kept.
    @Test func lcrecTitleTrimIsPythonsStripThenStripChars() throws {
        let r = SFTRecipe.lcrec
        let cases: [(String, String)] = [
            ("  CRC 5037 White Lithium Grease - 10 Wt Oz. ", "CRC 5037 White Lithium Grease - 10 Wt Oz"),
            ("Wixey WR300 Gauge&hellip;", "Wixey WR300 Gauge&hellip"),
            ("...Hello?! ", "Hello"),
            ("`Quoted`", "Quoted"),
            ("Foo .", "Foo "),                 // the space the second strip uncovers stays
            ("3.5 in. x 2 ft", "3.5 in. x 2 ft"),
            (".!?", ""),
            ("Tape 3/4\"", "Tape 3/4\""),
        ]
        for (title, python) in cases { #expect(r.title(title) == python, "\(title)") }
        #expect(SFTRecipe.d3.title("Bentonite - 8 oz.") == "Bentonite - 8 oz.")        // unset: as given
        // every title of a row: the history's (inside their quotes) and the target's
        let v = r.values(SplitRow(userID: "u", historyItemIDs: [0], historySIDs: ["<a_1><b_2><c_3>"], historyTitles: ["Glue, 4 oz."],
                                  targetItemID: 1, targetSID: "<a_4><b_5><c_6>", targetTitle: "Clamp!"), category: "tools")
        #expect(v[.historyTitles] == "\"Glue, 4 oz\"" && v[.targetTitle] == "Clamp")
        // only for recipes that answer with an SID
        var titled = SFTRecipe.d3
        titled.titleTrim = "."
        #expect(throws: TSRecError.self) { try titled.validate() }
        try SFTRecipe.lcrec.validate()
    }

    @Test func anUnknownSlotIsAnErrorThatNamesTheTemplate() {
        let t = PromptTemplate(pieces: ["History: {histroy_titles}"], answer: "{target_title}")
        #expect(throws: TSRecError.self) { try t.render(SlotValues(row: row, category: "x")) }
        do { _ = try t.slots(); Issue.record("expected an error") } catch {
            #expect("\(error)".contains("{histroy_titles}") || "\(error)".contains("histroy_titles"))
        }
        let recipe = SFTRecipe(name: "typo", tasks: [RecipeTask(name: "t", templates: [t])])
        #expect(throws: TSRecError.self) { try recipe.validate() }
        #expect(throws: TSRecError.self) { try SFTRecipe(name: "empty", tasks: []).validate() }
        #expect(throws: TSRecError.self) {
            try SFTRecipe(name: "zero", tasks: [RecipeTask(name: "t", rows: .train(sample: 0), templates: [PromptTemplate(pieces: ["x"], answer: "y")])]).validate()
        }
    }

    @Test func builtInRecipesAreValidAndTheirTemplatesUseKnownSlots() throws {
        for recipe in [SFTRecipe.d3, .bigrec(), .bigrec(sample: 1024)] {
            try recipe.validate()
            #expect(try recipe.tasks[0].templates[0].slots().contains(.historyTitles))
            #expect(try recipe.tasks[0].templates[0].slots().contains(.targetTitle))
        }
        // D3: answer on its own with "\n"; BIGRec: joined to the prompt, no "\n", whole-sequence loss
        #expect(SFTRecipe.d3.tasks[0].templates[0].answer.hasSuffix("\"\n") && !SFTRecipe.d3.tasks[0].templates[0].answerJoinsPrompt)
        #expect(SFTRecipe.d3.tasks[0].loss == .response && SFTRecipe.bigrec().tasks[0].loss == .wholeSequence)
        #expect(SFTRecipe.bigrec().tasks[0].templates[0].answerJoinsPrompt)
    }

    /// A recipe is an optional field: configurations without one hash as before (pinned in
    /// TrainerTests), and a recipe changes the hash.
    @Test func aRecipeIsPartOfTheHashOnlyWhenSet() {
        var c = ExperimentConfig.profile(.quick, dataset: "Industrial_and_Scientific").applying(.minionerecSFT)
        #expect(Pipeline(c, label: "x").trainingHash == "784fb858148a")
        c.tasks = []
        c.recipe = .d3
        let d3 = Pipeline(c, label: "x").trainingHash
        c.recipe = .bigrec()
        #expect(d3 != "784fb858148a" && Pipeline(c, label: "x").trainingHash != d3)
    }

    @Test func categoryPhrases() {
        #expect(Benchmark.industrial.categoryPhrase == "industrial and scientific items")
        #expect(Benchmark.office.categoryPhrase == "office products")
    }
}

@Suite(.enabled(if: TSRecFixtures.industrialAndModelAvailable, "needs the SmolLM2 GGUF and the Industrial dataset in the cache (make model data)"))
struct RecipeSampleTests {
    let dataset: Dataset
    let tokenizer: BPETokenizer
    let builder: SFTSampleBuilder

    init() throws {
        let paths = Paths.fromEnvironment()
        dataset = try Dataset.load(.industrial, paths: paths)
        let t = try BPETokenizer(gguf: GGUFFile(contentsOf: ModelStore(paths: paths).url("SmolLM2-135M-Instruct.Q4_1.gguf")))
        tokenizer = t
        builder = try SFTSampleBuilder(tokenizer: t, maxLength: 512, format: .alpaca)
    }

    func ids(_ s: String) -> [Int32] { tokenizer.encode(s).map(Int32.init) }

    /// D3: the two pieces tokenized apart, then the quoted title and "\n" tokenized on their own,
    /// then EOS; the loss covers exactly the answer and EOS.
    @Test func d3SampleIsPiecesThenAnswerThenEOS() throws {
        let row = try dataset.split(.train).rows[5]
        let t = SFTRecipe.d3.tasks[0].templates[0]
        let s = try #require(try builder.sample(t, values: SlotValues(row: row, category: "industrial and scientific items"),
                                                loss: .response, task: "d3"))
        let (pieces, _) = try t.render(SlotValues(row: row, category: "industrial and scientific items"))
        let prompt = ids(pieces[0]) + ids(pieces[1])
        let answer = ids("\"\(row.targetTitle)\"\n") + [Int32(tokenizer.eosID!)]
        #expect(s.tokens == prompt + answer && s.promptLength == prompt.count)
        #expect(tokenizer.decode(prompt.map(Int.init)).hasSuffix("### Response: \n"))
        #expect(tokenizer.decode(prompt.map(Int.init)).contains(row.historyTitles.map { "\"\($0)\"" }.joined(separator: ", ")))
        #expect(SFTBatch([s]).targetCount == answer.count)
        // the test-time prompt is the training prompt
        #expect(try builder.promptIDs(t, values: SlotValues(row: row, category: "industrial and scientific items")) == prompt)
    }

    /// BIGRec: prompt and answer tokenized as one string, then EOS, and every token after the
    /// first is a target (no prompt mask).
    @Test func bigrecSampleIsOneStringWithWholeSequenceLoss() throws {
        let row = try dataset.split(.train).rows[5]
        let values = SlotValues(row: row, category: "industrial and scientific items")
        let t = SFTRecipe.bigrec().tasks[0].templates[0]
        let s = try #require(try builder.sample(t, values: values, loss: .wholeSequence, task: "bigrec"))
        let (pieces, answer) = try t.render(values)
        #expect(s.tokens == ids(pieces[0] + answer) + [Int32(tokenizer.eosID!)])
        #expect(s.promptLength == 1)
        #expect(SFTBatch([s]).targetCount == s.tokens.count - 1)
        #expect(answer == "\"\(row.targetTitle)\"" && pieces[0].hasSuffix("\n \n\n### Response:\n"))
    }

    /// BIGRec asks the test rows with its training prompt plus a second space after the preamble
    /// (`inference.py:151` against `train.py:284`); the other recipes ask with their first template.
    @Test func bigrecTestPromptHasTwoSpacesAfterThePreamble() throws {
        let values = SlotValues(row: try dataset.split(.test).rows[3], category: "industrial and scientific items")
        let recipe = SFTRecipe.bigrec()
        let train = try recipe.tasks[0].templates[0].render(values).pieces[0]
        let test = try recipe.testPrompt.render(values).pieces[0]
        #expect(train.hasPrefix(SFTRecipe.preamble + "\n\n### Instruction:"))
        #expect(test == SFTRecipe.preamble + " " + train.dropFirst(SFTRecipe.preamble.count))
        #expect(try builder.promptIDs(recipe.testPrompt, values: values) != builder.promptIDs(recipe.tasks[0].templates[0], values: values))
        for other in [SFTRecipe.d3, .lcrec] { #expect(other.testPrompt == other.tasks[0].templates[0]) }
    }

    /// LC-Rec: one seqrec and one fusion sample per train row, one item2index and one index2item
    /// sample per catalogue item (minus those over `maxLength`); every template of every task
    /// drawn; each sample is one string with the loss on exactly its answer and EOS; the answer
    /// of a SID task is the target's SID tokens, the prompt's history its SIDs; the draw is the
    /// seed's.
    @Test func lcrecTasksTemplatesAndLossSpans() throws {
        var t = try BPETokenizer(gguf: GGUFFile(contentsOf: ModelStore(paths: .fromEnvironment()).url("SmolLM2-135M-Instruct.Q4_1.gguf")))
        let firstSID = t.vocabSize
        _ = t.addTokens(dataset.sidTokens)
        let b = try SFTSampleBuilder(tokenizer: t, maxLength: 512, format: .alpaca)
        let recipe = SFTRecipe.lcrec
        #expect(recipe.answersWithSID && !SFTRecipe.d3.answersWithSID && !SFTRecipe.bigrec().answersWithSID)
        let (samples, dropped) = try b.trainingSamples(dataset, recipe: recipe, trainRows: 400, seed: 42)
        let byTask = Dictionary(grouping: samples, by: \.task)
        let items = dataset.index.count
        #expect(byTask["seqrec"]?.count == 400 && byTask["fusionseqrec"].map { $0.count <= 400 && $0.count > 350 } == true)
        #expect((byTask["item2index"]?.count ?? 0) > items - 300 && (byTask["index2item"]?.count ?? 0) > items - 300)
        #expect(samples.count + dropped == 400 + 400 + 2 * items)
        // every template was drawn (a template's fixed text appears in some prompt)
        for task in recipe.tasks {
            let prompts = Set((byTask[task.name] ?? []).map { t.decode($0.tokens[..<$0.promptLength].map(Int.init)) })
            for template in task.templates {
                let fixed = try PromptTemplate.parse(template.pieces[0]).compactMap { if case let .text(x) = $0 { x } else { nil } }.max { $0.count < $1.count }!
                #expect(prompts.contains { $0.contains(fixed) }, "\(task.name): never drew \(fixed)")
            }
        }
        // loss on the answer and EOS only; the text is one string ending at "### Response:"
        let eos = Int32(t.eosID!)
        for s in samples.prefix(50) + (byTask["item2index"] ?? []).prefix(20) {
            #expect(s.tokens.last == eos && SFTBatch([s]).targetCount == s.tokens.count - s.promptLength)
            #expect(t.decode(s.tokens[..<s.promptLength].map(Int.init)).hasSuffix("### Response:"))
        }
        // seqrec: history and answer are SID tokens (ids of the added rows), the target's
        let row = try dataset.split(.train).rows[0]
        let seq = try #require(byTask["seqrec"]?.first)
        let answer = seq.tokens[seq.promptLength...].dropLast()
        #expect(answer.count == 3 && answer.allSatisfy { Int($0) >= firstSID })
        #expect(t.decode(answer.map(Int.init)) == row.targetSID)
        #expect(t.decode(seq.tokens[..<seq.promptLength].map(Int.init)).contains(row.historySIDs.joined(separator: ", ")))
        // titles are written as LC-Rec strips them: 80 of the 3,686 Industrial titles change;
        // no SID → title answer starts with one of them unstripped (a description equal to its
        // item's title stays as given), and some are stripped
        let changed = dataset.items.map(\.title).filter { recipe.title($0) != $0 }
        #expect(changed.count == 80)
        let answers = (byTask["index2item"] ?? []).map { t.decode($0.tokens[$0.promptLength...].dropLast().map(Int.init)) }
        let descriptions = Set(dataset.items.map(\.descriptionText))   // as given: LC-Rec strips titles only
        let bad = answers.filter { a in !descriptions.contains(a) && changed.contains { a == $0 || a.hasPrefix($0 + "\n\n") } }
        #expect(bad.isEmpty, "\(bad.prefix(3))")
        #expect(answers.filter { a in changed.contains { recipe.title($0) == a } }.count >= 10)
        // reproducible from the seed, and another seed draws other templates
        let again = try b.trainingSamples(dataset, recipe: recipe, trainRows: 400, seed: 42)
        let other = try b.trainingSamples(dataset, recipe: recipe, trainRows: 400, seed: 43)
        #expect(again.samples == samples && other.samples != samples)
    }

    /// Sample counts: every train row once (D3, BIGRec), or BIGRec's 1,024 distinct rows drawn
    /// from the seeded recipe stream, the same for the same seed and different for another.
    @Test func sampleCountsAndSeededSubsample() throws {
        let train = try dataset.split(.train).rows
        #expect(train.count == 36_259)
        let d3 = try builder.trainingSamples(dataset, recipe: .d3, trainRows: nil, seed: 42)
        #expect(d3.samples.count + d3.dropped == 36_259 && d3.samples.allSatisfy { $0.task == "title-history→title" })
        let a = try builder.trainingSamples(dataset, recipe: .bigrec(sample: 1024), trainRows: nil, seed: 42)
        let b = try builder.trainingSamples(dataset, recipe: .bigrec(sample: 1024), trainRows: nil, seed: 42)
        let c = try builder.trainingSamples(dataset, recipe: .bigrec(sample: 1024), trainRows: nil, seed: 43)
        #expect(a.samples.count + a.dropped == 1024 && a.samples == b.samples && a.samples != c.samples)
        #expect(Set(a.samples.map(\.tokens)).count >= 1000)          // distinct rows (a few users repeat a history)
        // validation follows the main task: the same template over the validation rows
        let valid = try dataset.split(.valid).rows.prefix(8)
        let v = try builder.validationSamples(Array(valid), recipe: .d3, category: dataset.benchmark.categoryPhrase, seed: 42)
        #expect(v.count == 8 && v[0].tokens.suffix(1) == [Int32(tokenizer.eosID!)])
        #expect(tokenizer.decode(v[0].tokens[v[0].promptLength...].dropLast().map(Int.init)) == "\"\(valid.first!.targetTitle)\"\n")
        // LC-Rec asks each validation row with 2 distinct seqrec templates drawn from the seed
        // (data.py:220-231): both draws are the row's, the pairs vary over rows, a seed repeats them
        let phrase = dataset.benchmark.categoryPhrase
        let rows = Array(try dataset.split(.valid).rows.prefix(40))
        let l = try builder.validationSamples(rows, recipe: .lcrec, category: phrase, seed: 42)
        #expect(l.count == 80 && l.allSatisfy { $0.task == "seqrec" })
        let fixed = try SFTRecipe.lcrec.tasks[0].templates.map { t in
            try PromptTemplate.parse(t.pieces[0]).compactMap { if case let .text(x) = $0 { x } else { nil } }.max { $0.count < $1.count }!
        }
        let used = try (0..<40).map { r in
            try (0..<2).map { k -> Int in
                let text = tokenizer.decode(l[2 * r + k].tokens[..<l[2 * r + k].promptLength].map(Int.init))
                #expect(text.contains(rows[r].historySIDs.joined(separator: ", ")))
                return try #require(fixed.firstIndex { text.contains($0) })
            }
        }
        #expect(used.allSatisfy { $0[0] != $0[1] } && Set(used.map { $0.sorted() }).count > 3)
        #expect(try builder.validationSamples(rows, recipe: .lcrec, category: phrase, seed: 42) == l)
        #expect(try builder.validationSamples(rows, recipe: .lcrec, category: phrase, seed: 43) != l)
    }

    /// `uniformOnce`: each sample's template drawn once from the recipe's stream: both used,
    /// the same draw for the same seed.
    @Test func uniformOnceDrawsEveryTemplateReproducibly() throws {
        let t0 = PromptTemplate(pieces: ["A {history_titles}\n"], answer: "{target_title}")
        let t1 = PromptTemplate(pieces: ["B {history_titles}\n"], answer: "{target_title}")
        let recipe = SFTRecipe(name: "two", tasks: [RecipeTask(name: "t", templates: [t0, t1], choice: .uniformOnce)])
        let a = try builder.trainingSamples(dataset, recipe: recipe, trainRows: 200, seed: 42)
        let b = try builder.trainingSamples(dataset, recipe: recipe, trainRows: 200, seed: 42)
        let firstToken = a.samples.map { tokenizer.decode([Int($0.tokens[0])]) }
        let aCount = firstToken.filter { $0 == "A" }.count
        #expect(a.samples == b.samples && a.samples.count == 200)
        #expect(aCount > 60 && aCount < 140)                         // Binomial(200, 1/2): 6 sd either side
    }
}

@Suite(.enabled(if: TSRecFixtures.industrialAndModelAvailable, "needs the SmolLM2 GGUF and the Industrial dataset in the cache (make model data)"))
struct PreferenceExampleTests {
    /// S-DPO's examples on D3's template: the chosen answer is the SFT sample's answer, three
    /// rejected titles outside the row's history and target, all four answers distinct, the
    /// same draw for the same stream.
    @Test func negativesAreOtherTitlesDrawnOnce() throws {
        let paths = Paths.fromEnvironment()
        let dataset = try Dataset.load(.industrial, paths: paths)
        let tokenizer = try BPETokenizer(gguf: GGUFFile(contentsOf: ModelStore(paths: paths).url("SmolLM2-135M-Instruct.Q4_1.gguf")))
        let builder = try SFTSampleBuilder(tokenizer: tokenizer, maxLength: 512, format: .alpaca)
        let rows = Array(try dataset.split(.train).rows.prefix(300))
        var rng = SplitMix64(seed: 7), again = SplitMix64(seed: 7)
        let examples = try builder.preferenceExamples(rows, dataset: dataset, recipe: .d3, negatives: 3, maxPromptLength: 512, using: &rng)
        #expect(examples == (try builder.preferenceExamples(rows, dataset: dataset, recipe: .d3, negatives: 3, maxPromptLength: 512, using: &again)))
        let catalogue = Set(dataset.items.map(\.title))
        for (row, e) in zip(rows, examples) {
            let sft = try #require(try builder.sample(SFTRecipe.d3.tasks[0].templates[0], values: SlotValues(row: row, category: dataset.benchmark.categoryPhrase),
                                                      loss: .response, task: "d3"))
            #expect(e.prompt == Array(sft.tokens[..<sft.promptLength]) && e.answers[0] == Array(sft.tokens[sft.promptLength...]))
            #expect(e.answers.count == 4 && Set(e.answers).count == 4)
            for a in e.answers.dropFirst() {
                let text = tokenizer.decode(a.dropLast().map(Int.init))
                #expect(text.hasPrefix("\"") && text.hasSuffix("\"\n"))
                let title = String(text.dropFirst().dropLast(2))
                #expect(catalogue.contains(title) && title != row.targetTitle && !row.historyTitles.contains(title))
            }
        }
        #expect(throws: TSRecError.self) {
            var r = SplitMix64(seed: 1)
            _ = try builder.preferenceExamples(rows, dataset: dataset, recipe: .bigrec(), negatives: 3, maxPromptLength: 512, using: &r)
        }
    }
}
