/// The RL stage's prompts, built as the authors' RL datasets build them (facts from their
/// `data/rl_data.py` and `train/rl.py`; the wording is `Prompt`'s own), each with its OWN target.
///
/// (a) next item over every train row (training wording of the input sentence);
/// (b) title → SID, one per distinct title, and description → SID, one per distinct description
///     (the first element of a `['…']` description list, else the text as it is; the empty
///     description is one of them), through maps over the items in id order (last item wins);
/// (c) `titleHistoryRows` train rows sampled without replacement: quoted history titles → next SID.
/// Prompts are the input block alone (`Prompt.rlText`), tokenized as one string; longer than
/// `maxPromptLength` tokens keep their last tokens (the authors' trainer cuts from the left).
///
/// The authors reward a prompt against a target looked up through maps keyed by history text,
/// merged across the sets (validation last), which gives 14% of next-item prompts another row's
/// target; tsrec keeps each prompt's own target (a row of the README's deviations table).
public struct RLPrompt: Sendable, Hashable {
    public enum Source: String, Codable, Sendable, Hashable, CaseIterable {
        case nextItem = "next-item", title = "title", description = "description", titleHistory = "title-history"
    }
    public var tokens: [Int32]
    /// The SID this prompt is rewarded against.
    public var target: String
    public var source: Source

    public init(tokens: [Int32], target: String, source: Source) {
        (self.tokens, self.target, self.source) = (tokens, target, source)
    }
}

extension ItemInfo {
    /// The description the authors' RL set keys on: a text that starts with `['` and ends with
    /// `']` and parses as a list gives its first element (an empty list keeps the text); any
    /// other text, including one that does not parse, is kept as it is.
    var rlDescription: String {
        guard description.hasPrefix("['") && description.hasSuffix("']"), descriptionIsLiteral else { return description }
        return descriptionParts.first ?? description
    }
}

extension SFTSampleBuilder {
    /// An RL prompt's ids: `Prompt.rlText` tokenized in one piece, cut to its last `maxLength`
    /// tokens when longer (`truncated`).
    public func rlPromptIDs(_ prompt: Prompt, maxLength: Int) -> (ids: [Int32], truncated: Bool) {
        let ids = tokenizer.encode(prompt.rlText).map(Int32.init)
        return ids.count > maxLength ? (Array(ids.suffix(maxLength)), true) : (ids, false)
    }

    /// Sources (a), (b), (c) in that order (the stage shuffles them per epoch); `rng` draws the
    /// title-history rows. Uses the first `trainRows` train rows (nil = all). Returns the prompts
    /// and how many were cut to `rl.maxPromptLength`.
    public func rlPrompts(_ dataset: Dataset, trainRows: Int?, rl: RLConfig,
                          using rng: inout SplitMix64) throws -> (prompts: [RLPrompt], truncated: Int) {
        let train = try dataset.split(.train).rows
        let rows = trainRows.map { Array(train.prefix($0)) } ?? train
        var out: [RLPrompt] = []
        var truncated = 0
        func add(_ prompt: Prompt, _ target: String, _ source: RLPrompt.Source) {
            let (ids, cut) = rlPromptIDs(prompt, maxLength: rl.maxPromptLength)
            if cut { truncated += 1 }
            out.append(RLPrompt(tokens: ids, target: target, source: source))
        }
        // (a) next item
        for r in rows { add(.nextItem(history: r.historySIDs), r.targetSID, .nextItem) }
        // (b) title → SID and description → SID, through last-wins maps over the items in id order
        var sidOfTitle = InsertionOrderedMap<String, String>(), sidOfDescription = InsertionOrderedMap<String, String>()
        for item in 0..<dataset.index.count {
            sidOfTitle[dataset.items[item].title] = dataset.index.sid(of: item)
            sidOfDescription[dataset.items[item].rlDescription] = dataset.index.sid(of: item)
        }
        for (title, sid) in sidOfTitle.pairs { add(.itemWithTitle(title: title), sid, .title) }
        for (text, sid) in sidOfDescription.pairs { add(.itemWithDescription(description: text), sid, .description) }
        // (c) title histories of sampled rows, in the order drawn
        let drawn = Array(rows.indices).shuffled(using: &rng).prefix(min(rl.titleHistoryRows, rows.count))
        for i in drawn { add(.nextItemFromTitles(titles: rows[i].historyTitles), rows[i].targetSID, .titleHistory) }
        return (out, truncated)
    }
}
