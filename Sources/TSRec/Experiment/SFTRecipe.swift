/// An SFT recipe as data: which samples a method trains on, written as templates with slots,
/// not as code. The LLM baselines of Table 2 (issue #19; docs/llm-baselines.md §8.3) differ from
/// each other mostly here — BIGRec and D3 both train "quoted title history → quoted title" with
/// their own template, answer ending and loss span — so each is a value of this type and the
/// one `Pipeline` trains it.
///
/// `ExperimentConfig.recipe` nil keeps the built-in `tasks` (TS-Rec, MiniOneRec and their
/// ablations), so those configurations encode, and hash, exactly as before this type existed.
public struct SFTRecipe: Codable, Sendable, Hashable {
    /// The recipe's name in logs (e.g. `D3`).
    public var name: String
    /// The task families, in order. The first is the main task: validation uses its first
    /// template over the validation rows.
    public var tasks: [RecipeTask]
    /// The template the test rows are asked with, when it is not the main task's first (nil;
    /// absent from the JSON then, so the recipes without one hash as before). BIGRec's
    /// inference.py writes its preamble with two trailing spaces where train.py has one.
    public var testTemplate: PromptTemplate?
    /// Characters stripped from both ends of every title (after its surrounding whitespace)
    /// before it fills a slot, as Python's `title.strip().strip(chars)`. nil: titles as the data
    /// give them (absent from the JSON then, so the recipes without it hash as before). LC-Rec
    /// strips `.!?,;:` and backquotes from every title it reads (`data.py:324, 330, 510`). Only
    /// for recipes that answer with an SID: a title recipe's trie and hits read the catalogue's
    /// titles as they are (`validate`).
    public var titleTrim: String?
    /// How many of the main task's templates each validation row is asked with, drawn without
    /// replacement, once, from the recipe's validation stream (LC-Rec: 2, `--sample_valid` with
    /// `valid_prompt_sample_num` 2, utils.py:52-55, data.py:220-231). nil: the first template
    /// only (absent from the JSON then, so the recipes without it hash as before).
    public var validationTemplates: Int?

    public init(name: String, tasks: [RecipeTask], testTemplate: PromptTemplate? = nil, titleTrim: String? = nil,
                validationTemplates: Int? = nil) {
        self.name = name
        self.tasks = tasks
        self.testTemplate = testTemplate
        self.titleTrim = titleTrim
        self.validationTemplates = validationTemplates
    }

    /// What the test rows are asked with: `testTemplate`, or the main task's first template.
    public var testPrompt: PromptTemplate { testTemplate ?? tasks[0].templates[0] }

    /// The prompts the test rows are asked with, one predictions file each: `testPrompt`, or
    /// with `.everyTemplate` each of the main task's templates in order (the first is
    /// `testPrompt`, so its file is the one-prompt evaluation's). A recipe with its own
    /// `testTemplate` has no set of test templates to go through.
    public func testPrompts(_ mode: TestPrompts?) throws -> [PromptTemplate] {
        guard mode == .everyTemplate else { return [testPrompt] }
        guard testTemplate == nil else {
            throw TSRecError(.config(field: "testPrompts", reason: "recipe \(name) names its own test template: there is no set of test templates to average over"),
                             hint: "leave testPrompts unset (or first) for \(name)")
        }
        return tasks[0].templates
    }

    /// A title as this recipe writes it into a slot (`titleTrim`).
    public func title(_ title: String) -> String {
        titleTrim.map { title.pythonStripped().pythonStripped($0) } ?? title
    }

    /// The slot values of a split row as this recipe writes them (`title(_:)` on every title).
    public func values(_ row: SplitRow, category: String, targetDescription: String = "") -> SlotValues {
        SlotValues(row: row, category: category, targetDescription: targetDescription, title: title)
    }
}

/// One task family of a recipe: where its samples come from and how they are written.
public struct RecipeTask: Codable, Sendable, Hashable {
    /// Label in logs and sample statistics.
    public var name: String
    /// The rows that give one sample each.
    public var rows: RowSource
    /// The task's templates; `choice` picks one per sample.
    public var templates: [PromptTemplate]
    public var choice: TemplateChoice
    /// Which tokens carry loss.
    public var loss: LossSpan

    public init(name: String, rows: RowSource = .train(sample: nil), templates: [PromptTemplate],
                choice: TemplateChoice = .first, loss: LossSpan = .response) {
        self.name = name
        self.rows = rows
        self.templates = templates
        self.choice = choice
        self.loss = loss
    }
}

/// Where a task's samples come from.
public enum RowSource: Codable, Sendable, Hashable {
    /// Every train row (after `ExperimentConfig.trainRows`), or `sample` of them drawn without
    /// replacement from the recipe's seeded stream and kept in the order drawn (BIGRec's
    /// `--sample 1024`).
    case train(sample: Int?)
    /// One sample per catalogue item, in item order, with no history (LC-Rec's item↔index tasks).
    case items
}

/// How a sample's template is chosen.
public enum TemplateChoice: String, Codable, Sendable, Hashable {
    /// Always the first (D3 defines eleven instructions and uses the first; BIGRec has one).
    case first
    /// Uniformly at random, once per sample when the set is built, from the recipe's seeded
    /// stream (S-DPO's prompts).
    case uniformOnce = "uniform-once"
    // LC-Rec draws anew each time a sample is read (`random.randint` in `__getitem__`); over
    // less than one epoch (`quick`) that is the same distribution as `uniformOnce`, so tsrec
    // has no per-read choice yet (README, the LC-Rec row of the LLM baselines).
}

/// Which tokens of a sample carry loss.
public enum LossSpan: String, Codable, Sendable, Hashable {
    /// The answer only (and its end token): the prompt is masked.
    case response
    /// Every token after the first: the prompt too (BIGRec's `train_on_inputs`).
    case wholeSequence = "whole-sequence"
}

/// A prompt and its answer as text with slots. `{name}` marks a slot (`TemplateSlot`); the
/// template is parsed, never the values, so a title that contains braces is copied as it is.
public struct PromptTemplate: Codable, Sendable, Hashable {
    /// The prompt's pieces, tokenized separately and concatenated (the authors tokenize their
    /// instruction and input blocks apart); generation starts after the last piece.
    public var pieces: [String]
    /// The answer's text; the backbone's EOS follows it as an id.
    public var answer: String
    /// Whether the answer is tokenized together with the last piece, as one string (BIGRec
    /// tokenizes prompt and answer in one call), instead of on its own.
    public var answerJoinsPrompt: Bool

    public init(pieces: [String], answer: String, answerJoinsPrompt: Bool = false) {
        self.pieces = pieces
        self.answer = answer
        self.answerJoinsPrompt = answerJoinsPrompt
    }

    /// Every slot the template uses, in order of appearance (throws on an unknown `{name}`).
    public func slots() throws -> [TemplateSlot] {
        try (pieces + [answer]).flatMap { try Self.parse($0) }.compactMap {
            if case let .slot(s) = $0 { s } else { nil }
        }
    }

    /// The prompt's pieces and the answer with every slot filled.
    public func render(_ values: SlotValues) throws -> (pieces: [String], answer: String) {
        (try pieces.map { try Self.fill($0, values) }, try Self.fill(answer, values))
    }

    enum Part: Equatable { case text(String), slot(TemplateSlot) }

    /// `text{slot}text…` → parts. A `{` that does not open a known slot name is an error (a
    /// typo in a template must not train silently on the literal text).
    static func parse(_ template: String) throws -> [Part] {
        var parts: [Part] = []
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}"),
                  let slot = TemplateSlot(rawValue: String(rest[rest.index(after: open)..<close])) else {
                throw TSRecError(.config(field: "recipe", reason: "template \"\(template)\": '{' does not open a slot"),
                                 hint: "slots: " + TemplateSlot.allCases.map { "{\($0.rawValue)}" }.joined(separator: ", "))
            }
            if open > rest.startIndex { parts.append(.text(String(rest[..<open]))) }
            parts.append(.slot(slot))
            rest = rest[rest.index(after: close)...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        return parts
    }

    static func fill(_ template: String, _ values: SlotValues) throws -> String {
        try parse(template).map { part in
            switch part {
            case let .text(t): t
            case let .slot(s): values[s]
            }
        }.joined()
    }
}

/// What a template can name.
public enum TemplateSlot: String, Codable, Sendable, Hashable, CaseIterable {
    /// The history's SIDs, oldest first, joined by ", ".
    case historySIDs = "history_sids"
    /// The history's titles, each in double quotes, oldest first, joined by ", ".
    case historyTitles = "history_titles"
    /// The target item's title and SID.
    case targetTitle = "target_title"
    case targetSID = "target_sid"
    /// The target item's description (its parts joined by spaces; empty for items without one).
    case targetDescription = "target_description"
    /// The dataset's item category in words (`Benchmark.categoryPhrase`).
    case category
}

/// The values of every slot for one sample.
public struct SlotValues: Sendable {
    var values: [TemplateSlot: String]

    /// A train, validation or test row of `benchmark`; `title` rewrites each title (a recipe's
    /// `titleTrim`).
    public init(row: SplitRow, category: String, targetDescription: String = "", title: (String) -> String = { $0 }) {
        values = [.historySIDs: row.historySIDs.joined(separator: ", "),
                  .historyTitles: row.historyTitles.map { "\"\(title($0))\"" }.joined(separator: ", "),
                  .targetTitle: title(row.targetTitle),
                  .targetSID: row.targetSID,
                  .targetDescription: targetDescription,
                  .category: category]
    }

    /// Catalogue item `item` of `dataset` as the target of a sample with no history.
    public init(item: Int, dataset: Dataset, title: (String) -> String = { $0 }) {
        let info = dataset.items[item]
        self.init(row: SplitRow(userID: "", historyItemIDs: [], historySIDs: [], historyTitles: [], targetItemID: item,
                                targetSID: dataset.index.sid(of: item), targetTitle: info.title),
                  category: dataset.benchmark.categoryPhrase, targetDescription: info.descriptionText, title: title)
    }

    subscript(slot: TemplateSlot) -> String { values[slot] ?? "" }
}

extension SFTRecipe {
    /// Checks every template before any sample is built: known slots, at least one template per task.
    public func validate() throws {
        guard !tasks.isEmpty else { throw TSRecError(.config(field: "recipe.tasks", reason: "recipe \(name) has no task")) }
        for task in tasks {
            guard !task.templates.isEmpty else {
                throw TSRecError(.config(field: "recipe.tasks[\(task.name)].templates", reason: "no template"))
            }
            for t in task.templates {
                _ = try t.slots()
                guard !t.pieces.isEmpty else {
                    throw TSRecError(.config(field: "recipe.tasks[\(task.name)].templates", reason: "a template has no prompt piece"))
                }
            }
            if case let .train(sample?) = task.rows, sample < 1 {
                throw TSRecError(.config(field: "recipe.tasks[\(task.name)].rows", reason: "sample must be at least 1 (nil = every row)"))
            }
        }
        if let t = testTemplate {
            _ = try t.slots()
            guard !t.pieces.isEmpty else { throw TSRecError(.config(field: "recipe.testTemplate", reason: "no prompt piece")) }
        }
        if let n = validationTemplates, !(1...tasks[0].templates.count).contains(n) {
            throw TSRecError(.config(field: "recipe.validationTemplates", reason: "\(n) of the main task's \(tasks[0].templates.count) templates"),
                             hint: "between 1 and the number of the main task's templates")
        }
        if titleTrim != nil && !answersWithSID {
            throw TSRecError(.config(field: "recipe.titleTrim", reason: "recipe \(name) answers with a title: its trie and hit rule read the catalogue titles untrimmed"),
                             hint: "leave titleTrim unset for title recipes")
        }
    }

    /// Whether the main task answers with the target's SID (LC-Rec) rather than its title (D3,
    /// BIGRec): which evaluation modes can decode it.
    public var answersWithSID: Bool {
        guard let answer = tasks.first?.templates.first?.answer else { return false }
        return ((try? PromptTemplate.parse(answer)) ?? []).contains(.slot(.targetSID))
    }

    /// The recipe's own random stream ("RECIPE"), independent of the data order and the SID
    /// initialisation, so adding a recipe moves no other stream.
    static func stream(seed: UInt64) -> SplitMix64 { SplitMix64(seed: seed ^ 0x5245_4349_5045_0000) }

    /// The validation templates' stream ("VALID"), apart from the training samples' draws.
    static func validationStream(seed: UInt64) -> SplitMix64 { SplitMix64(seed: seed ^ 0x5641_4C49_4400_0000) }
}

extension SFTSampleBuilder {
    /// A template's sample for one row: the pieces tokenized one by one, then the answer (on its
    /// own, or with the last piece as one string), then EOS. The loss starts at the answer
    /// (`.response`) or at the second token (`.wholeSequence`). nil when longer than `maxLength`.
    public func sample(_ template: PromptTemplate, values: SlotValues, loss: LossSpan, task: String) throws -> SFTSample? {
        let (pieces, answer) = try template.render(values)
        var prompt = pieces.dropLast().flatMap { tokenizer.encode($0) }.map(Int32.init)
        let last = pieces.last ?? ""
        let tokens: [Int32]
        if template.answerJoinsPrompt {
            // one string: the prompt's own tokens are those of the prompt tokenized alone
            // (what the model sees at test time); the joined text may merge across the seam
            let promptAlone = prompt + tokenizer.encode(last).map(Int32.init)
            tokens = prompt + tokenizer.encode(last + answer).map(Int32.init) + [endToken]
            prompt = promptAlone
        } else {
            prompt += tokenizer.encode(last).map(Int32.init)
            tokens = prompt + tokenizer.encode(answer).map(Int32.init) + [endToken]
        }
        guard tokens.count <= maxLength, prompt.count < tokens.count else { return nil }
        let lossStart = loss == .wholeSequence ? 1 : min(prompt.count, tokens.count - 1)
        return SFTSample(tokens: tokens, promptLength: max(1, lossStart), task: task)
    }

    /// A template's prompt alone (what generation starts from at test time).
    public func promptIDs(_ template: PromptTemplate, values: SlotValues) throws -> [Int32] {
        try template.render(values).pieces.flatMap { tokenizer.encode($0) }.map(Int32.init)
    }

    /// The recipe's training samples from `dataset`'s train split, task by task, and how many
    /// were longer than `maxLength`.
    public func trainingSamples(_ dataset: Dataset, recipe: SFTRecipe, trainRows: Int?, seed: UInt64)
        throws -> (samples: [SFTSample], dropped: Int) {
        try recipe.validate()
        let train = try dataset.split(.train).rows
        let all = trainRows.map { Array(train.prefix($0)) } ?? train
        var rng = SFTRecipe.stream(seed: seed)
        var out: [SFTSample] = [], dropped = 0
        let category = dataset.benchmark.categoryPhrase
        func values(_ row: SplitRow) -> SlotValues {
            let target = row.targetItemID
            return recipe.values(row, category: category,
                                 targetDescription: dataset.items.indices.contains(target) ? dataset.items[target].descriptionText : "")
        }
        for task in recipe.tasks {
            var stream = rng.fork()                     // one stream per task, in the recipe's order
            let slots: [SlotValues]
            switch task.rows {
            case .train(nil): slots = all.map(values)
            case let .train(n?): slots = Array(Array(all.indices).shuffled(using: &stream).prefix(n)).map { values(all[$0]) }
            case .items: slots = (0..<dataset.index.count).map { SlotValues(item: $0, dataset: dataset, title: recipe.title) }
            }
            for v in slots {
                let t = switch task.choice {
                case .first: task.templates[0]
                case .uniformOnce: task.templates[Int(stream.next() % UInt64(task.templates.count))]
                }
                if let s = try sample(t, values: v, loss: task.loss, task: task.name) {
                    out.append(s)
                } else {
                    dropped += 1
                }
            }
        }
        return (out, dropped)
    }

    /// Validation samples: the recipe's main task over `rows`, each row with its first template,
    /// or with `validationTemplates` of them drawn from the seed's validation stream.
    public func validationSamples(_ rows: [SplitRow], recipe: SFTRecipe, category: String, seed: UInt64) throws -> [SFTSample] {
        try recipe.validate()
        let main = recipe.tasks[0]
        var stream = SFTRecipe.validationStream(seed: seed)
        return try rows.flatMap { row in
            let templates = recipe.validationTemplates.map { n in
                Array(main.templates.indices.shuffled(using: &stream).prefix(n)).map { main.templates[$0] }
            } ?? [main.templates[0]]
            let values = recipe.values(row, category: category)
            return try templates.compactMap { try sample($0, values: values, loss: main.loss, task: main.name) }
        }
    }
}

// MARK: - The LLM baselines' recipes (docs/llm-baselines.md; wording paraphrased, structure theirs)

extension SFTRecipe {
    /// The instruction-with-input preamble the baselines share (a paraphrase; trailing space theirs).
    static let preamble = "The instruction below states a task, and the input below gives its context. Write a response that completes the task. "

    /// D3 (SAI990323/DecodingMatters `code/dataset.py`): piece 1 is the preamble and the
    /// `### Instruction:` section with the first of its instructions (the only one it uses),
    /// piece 2 the `### User Input:` section — a lead-in naming the category, then the quoted
    /// history titles joined by ", " — and `### Response: ` with a newline; the answer is the
    /// quoted target title and "\n", tokenized on its own, then EOS; loss on the answer only.
    public static let d3 = SFTRecipe(name: "D3", tasks: [
        RecipeTask(name: "title-history→title", templates: [
            PromptTemplate(pieces: [preamble + "\n\n### Instruction:\nFrom the {category} the user enjoyed recently, name a new one the user may buy.\n",
                                    "### User Input: \nThe user has bought these {category} before: {history_titles}\n\n### Response: \n"],
                           answer: "\"{target_title}\"\n"),
        ]),
    ])

    /// LC-Rec's layout (RUCAIBox/LC-Rec `prompt.py`): a one-sentence preamble without an input
    /// section, the instruction, and the answer directly after `### Response:` (no newline); the
    /// whole text is tokenized as one string with EOS appended, loss on the answer.
    static func lcrecTemplate(_ instruction: String, answer: String) -> PromptTemplate {
        PromptTemplate(pieces: ["The instruction below states a task. Write a response that completes the task.\n\n### Instruction:\n"
                                + instruction + "\n\n### Response:"],
                       answer: answer, answerJoinsPrompt: true)
    }

    /// LC-Rec (RUCAIBox/LC-Rec, `run.sh` tasks; docs/llm-baselines.md §3), on the shipped SID
    /// index: next-SID prediction from the SID history (the main task, validated and decoded),
    /// item → SID from its title, description or both, SID → title, description or both, and the
    /// fusion task (SID history → next title or description; quoted-title history → next SID).
    /// Every title is stripped as LC-Rec strips it (`titleTrim`); each validation row is asked with
    /// 2 of the main task's templates (`validationTemplates`). Each task has several templates, one
    /// drawn per sample (LC-Rec: 17 / 19 / 17 / 12, drawn on every read; tsrec: 4 / 6 / 5 / 6, drawn
    /// once: README, the LC-Rec row). Wording ours. The
    /// user-profile tasks (`itemsearch`, `preferenceobtain`) need LLM-written profiles these data
    /// do not have.
    public static let lcrec = SFTRecipe(name: "LC-Rec", tasks: [
        RecipeTask(name: "seqrec", templates: [
            lcrecTemplate("In time order, the user interacted with {history_sids}. Which item will the user want next?", answer: "{target_sid}"),
            lcrecTemplate("Here is what the user engaged with so far: {history_sids}. Recommend the item that should come next.", answer: "{target_sid}"),
            lcrecTemplate("Given the chronological interaction list {history_sids}, predict the user's next item.", answer: "{target_sid}"),
            lcrecTemplate("The user's past items, oldest first, are {history_sids}. Suggest one item the user is likely to choose next.", answer: "{target_sid}"),
        ], choice: .uniformOnce),
        RecipeTask(name: "item2index", rows: .items, templates: [
            lcrecTemplate("Which item is titled \"{target_title}\"?", answer: "{target_sid}"),
            lcrecTemplate("Give the index of the item named \"{target_title}\".", answer: "{target_sid}"),
            lcrecTemplate("An item is described as follows: \"{target_description}\". Which item is it?", answer: "{target_sid}"),
            lcrecTemplate("Find the item that matches this description: \"{target_description}\".", answer: "{target_sid}"),
            lcrecTemplate("The item \"{target_title}\" is described as \"{target_description}\". What is its index?", answer: "{target_sid}"),
            lcrecTemplate("Identify the item from its title, \"{target_title}\", and description, \"{target_description}\".", answer: "{target_sid}"),
        ], choice: .uniformOnce),
        RecipeTask(name: "index2item", rows: .items, templates: [
            lcrecTemplate("What is the title of item {target_sid}?", answer: "{target_title}"),
            lcrecTemplate("Name the item whose index is {target_sid}.", answer: "{target_title}"),
            lcrecTemplate("Describe item {target_sid}.", answer: "{target_description}"),
            lcrecTemplate("What does item {target_sid} look like? Give its description.", answer: "{target_description}"),
            lcrecTemplate("Give the title and the description of item {target_sid}.", answer: "{target_title}\n\n{target_description}"),
        ], choice: .uniformOnce),
        RecipeTask(name: "fusionseqrec", templates: [
            lcrecTemplate("The user interacted with {history_sids}, in that order. What is the title of the item the user will want next?", answer: "{target_title}"),
            lcrecTemplate("From the interaction history {history_sids}, name the next item the user will likely pick.", answer: "{target_title}"),
            lcrecTemplate("The user interacted with {history_sids}, in that order. Describe the item the user will want next.", answer: "{target_description}"),
            lcrecTemplate("From the interaction history {history_sids}, predict the description of the user's next item.", answer: "{target_description}"),
            lcrecTemplate("In time order, the user chose the items titled {history_titles}. Which item comes next?", answer: "{target_sid}"),
            lcrecTemplate("The user's items so far are titled {history_titles}. Recommend the next item.", answer: "{target_sid}"),
        ], choice: .uniformOnce),
    ], titleTrim: ".!?,;:`", validationTemplates: 2)

    /// BIGRec (SAI990323/BIGRec `train.py`, `data/*/process.ipynb`): one instruction; the input
    /// is a lead-in ending in a colon with no space after it, the quoted history titles joined by
    /// ", ", and "\n "; the answer is the
    /// quoted target title; prompt and answer are tokenized as one string with EOS appended, and
    /// the loss covers the whole sequence (`train_on_inputs`). `sample` rows (its README: 1,024)
    /// or every train row (nil).
    /// The test prompt adds one space after the preamble, as BIGRec's `inference.py:151` does
    /// (its `train.py:284` has one space, its test two): `testTemplate`.
    public static func bigrec(sample: Int? = nil) -> SFTRecipe {
        func template(afterPreamble space: String) -> PromptTemplate {
            PromptTemplate(pieces: [preamble + space + "\n\n### Instruction:\nGiven the {category} the user bought before, recommend one more the user will probably buy next.\n\n### Input:\nThe user has bought these {category} before:{history_titles}\n \n\n### Response:\n"],
                           answer: "\"{target_title}\"", answerJoinsPrompt: true)
        }
        return SFTRecipe(name: "BIGRec", tasks: [
            RecipeTask(name: "title-history→title", rows: .train(sample: sample), templates: [template(afterPreamble: "")],
                       loss: .wholeSequence),
        ], testTemplate: template(afterPreamble: " "))
    }
}

// MARK: - Preference examples (S-DPO)

extension SlotValues {
    /// These values with one slot set to `value` (a rejected answer's title).
    public func replacing(_ slot: TemplateSlot, with value: String) -> SlotValues {
        var copy = self
        copy.values[slot] = value
        return copy
    }
}

extension SFTSampleBuilder {
    /// S-DPO's preference examples over `rows` (docs/llm-baselines.md §6.2, §8.5): the prompt of
    /// the recipe's main template; the chosen answer is the row's own (as trained: answer text,
    /// then EOS); `negatives` rejected answers write other catalogue titles into the same answer,
    /// drawn uniformly without replacement, once, from the distinct titles that are neither the
    /// target's nor in the row's history (so no rejected answer equals the chosen text). Prompts
    /// keep their last `maxPromptLength` tokens.
    public func preferenceExamples(_ rows: [SplitRow], dataset: Dataset, recipe: SFTRecipe, negatives: Int,
                                   maxPromptLength: Int, using rng: inout SplitMix64) throws -> [PreferenceExample] {
        try recipe.validate()
        let template = recipe.tasks[0].templates[0]
        guard !template.answerJoinsPrompt, try template.slots().contains(.targetTitle) else {
            throw TSRecError(.config(field: "preference", reason: "recipe \(recipe.name): the preference stage needs an answer that names the target title, tokenized on its own"),
                             hint: "use a title recipe such as D3's")
        }
        let titles = Array(Set(dataset.items.map(\.title))).sorted()      // distinct, in a fixed order
        guard negatives >= 1, titles.count > negatives + 11 else {
            throw TSRecError(.config(field: "preference.negatives", reason: "\(negatives) negatives from \(titles.count) distinct titles"))
        }
        let category = dataset.benchmark.categoryPhrase
        return try rows.map { row in
            let values = SlotValues(row: row, category: category)
            let excluded = Set(row.historyTitles + [row.targetTitle])
            var drawn: [String] = []
            while drawn.count < negatives {                  // rejection sampling: at most 11 of thousands excluded
                let t = titles[Int(rng.next() % UInt64(titles.count))]
                if !excluded.contains(t) && !drawn.contains(t) { drawn.append(t) }
            }
            let answers = try ([values] + drawn.map { values.replacing(.targetTitle, with: $0) }).map { v in
                tokenizer.encode(try template.render(v).answer).map(Int32.init) + [endToken]
            }
            return PreferenceExample(prompt: Array(try promptIDs(template, values: values).suffix(maxPromptLength)), answers: answers)
        }
    }
}

extension SFTSampleBuilder {
    /// What a title recipe's model is trained to answer for an item title: the main template's
    /// answer with `{target_title}` = `title`, tokenized on its own, then EOS (D3: the quoted
    /// title and "\n", then EOS): the title trie's sequences.
    public func titleCompletion(_ title: String, recipe: SFTRecipe) throws -> [Int32] {
        let template = recipe.tasks[0].templates[0]
        guard !template.answerJoinsPrompt else {
            throw TSRecError(.config(field: "recipe", reason: "recipe \(recipe.name) tokenizes its answer with the prompt: no title trie"))
        }
        let row = SplitRow(userID: "", historyItemIDs: [], historySIDs: [], historyTitles: [], targetItemID: 0, targetSID: "",
                           targetTitle: title)
        return tokenizer.encode(try template.render(SlotValues(row: row, category: "")).answer).map(Int32.init) + [endToken]
    }
}
