/// Every prompt tsrec trains or evaluates on: one enum, one render function per format.
///
/// The *format* is the authors' (TS-Rec release `data/ts_rec_data.py`, eval `data/rl_data.py`,
/// read for the facts, none of their sentences reused): a plain-text instruction template, not a
/// chat template, in two blocks that are tokenized separately and concatenated —
///
///     <preamble> \n\n### Instruction:\n<task sentence>\n\n      (TS-Align: one "\n" after the task)
///     ### User Input: \n<input sentence>\n\n### Response:\n
///
/// — then the answer, a newline, and the backbone's EOS token (the loss covers those three).
/// No BOS (the authors' Qwen2.5 tokenizer has none). The evaluation prompt words the next-item
/// input differently from the training prompt, as the authors' eval dataset does. The wording
/// here is this project's own (a row of the README's deviations table).
///
/// `.chatML` is SmolLM2's chat turn, tsrec's format before the fidelity pass; it is kept as a
/// labelled option and is the default of no paper row.
public enum Prompt: Sendable, Hashable {
    /// Task 1: history SIDs → next item's SID (training wording).
    case nextItem(history: [String])
    /// Task 1 at evaluation: the same question, worded as the authors' eval prompt words it.
    case nextItemQuery(history: [String])
    /// Task 2a: SID → title.
    case titleOfItem(sid: String)
    /// Task 2b: title → SID.
    case itemWithTitle(title: String)
    /// Task 3 (fusion): history SIDs → next item's title.
    case nextTitle(history: [String])
    /// Task 4a (TS-Align): one SID token → its cluster's description.
    case meaningOfToken(token: String)
    /// Task 4b (TS-Align): a cluster description → its SID token. `level` is used by `.chatML`
    /// only (the authors' prompt does not name the level).
    case tokenWithMeaning(description: String, level: Int)
    /// RL only: an item's description (the first element of its description list) → its SID.
    case itemWithDescription(description: String)
    /// RL only: the titles of the history, each in double quotes, oldest first → the next SID.
    case nextItemFromTitles(titles: [String])
    /// D3 / S-DPO (issue #19): the quoted titles of the history, oldest first, in the named
    /// category → the next item's quoted title (D3's template structure, docs/llm-baselines.md §5.1).
    case nextTitleFromTitles(titles: [String], category: String)

    /// The task family, for logs and mixing statistics.
    public var task: String {
        switch self {
        case .nextItem, .nextItemQuery: "next-item"
        case .titleOfItem, .itemWithTitle: "item-alignment"
        case .nextTitle: "fusion"
        case .meaningOfToken, .tokenWithMeaning: "ts-align"
        case .itemWithDescription: "description-to-item"
        case .nextItemFromTitles: "title-history"
        case .nextTitleFromTitles: "title-to-title"
        }
    }

    static let levelNames = ["a", "b", "c"]

    // MARK: - The authors' plain-text template

    /// The sentence before the sections (a paraphrase; the trailing space is the template's).
    static let preamble = "The instruction below states a task, and the input below gives its context. Write a response that completes the task. "

    /// The `### Instruction:` sentence, per task family.
    var taskSentence: String {
        switch self {
        case .nextItem, .nextItemQuery, .nextItemFromTitles: "Which item will the user most likely want next?"
        case .titleOfItem, .itemWithTitle, .itemWithDescription: "Answer this question about identifying an item."
        case .nextTitle: "Recommend the user's next item from their past interactions."
        case .meaningOfToken, .tokenWithMeaning: "Answer this question about what a Semantic ID token identifies."
        case .nextTitleFromTitles: "Given the items a user interacted with, name the item the user is most likely to want next."
        }
    }

    /// The `### User Input:` sentence. Histories are SIDs joined by ", ", oldest first.
    var inputSentence: String {
        switch self {
        case let .nextItem(history):
            "The user interacted with the items \(history.joined(separator: ", ")) in this order. Which item will the user most likely want next?"
        case let .nextItemQuery(history):
            "Which item will the user most likely want next, given these interactions in order: \(history.joined(separator: ", "))"
        case let .titleOfItem(sid):
            "What is the title of the item \"\(sid)\"?"
        case let .itemWithTitle(title):
            "Which item is titled: \(title)?"
        case let .nextTitle(history):
            "The user interacted with the items \(history.joined(separator: ", ")), one after another. Recommend their next item: what is its title?"
        case let .meaningOfToken(token):
            "What range of items, and what traits they share, does the token \(token) stand for?"
        case let .tokenWithMeaning(description, _):
            "Which token is carried by the items with this range and these shared traits: \"\(description)\"?"
        case let .itemWithDescription(description):
            "Here is how an item is described: \"\(description)\". Which item does this describe?"
        case let .nextItemFromTitles(titles):
            "These are the titles of the items the user interacted with, in order: \(titles.map { "\"\($0)\"" }.joined(separator: ", ")). Which item would suit the user next?"
        case let .nextTitleFromTitles(titles, category):
            "In the category \(category), the user interacted with these items, in order: \(titles.map { "\"\($0)\"" }.joined(separator: ", "))."
        }
    }

    // MARK: - SmolLM2's chat turn (tsrec before the fidelity pass)

    /// The user's message of the `.chatML` format.
    var chatInstruction: String {
        switch self {
        case let .nextItem(history), let .nextItemQuery(history):
            "A shopper bought these items, oldest first: \(history.joined(separator: ", ")). Which item do they buy next?"
        case let .titleOfItem(sid):
            "What is the title of item \(sid)?"
        case let .itemWithTitle(title):
            "Which item is titled \"\(title)\"?"
        case let .nextTitle(history):
            "A shopper bought these items, oldest first: \(history.joined(separator: ", ")). What is the title of the item they buy next?"
        case let .meaningOfToken(token):
            "What kind of items does the code \(token) stand for?"
        case let .tokenWithMeaning(description, level):
            "Which level-\(Prompt.levelNames[level]) code stands for these items: \(description)"
        case let .itemWithDescription(description):
            "Which item is described as \"\(description)\"?"
        case let .nextItemFromTitles(titles):
            "A shopper bought these items, oldest first: \(titles.map { "\"\($0)\"" }.joined(separator: ", ")). Which item do they buy next?"
        case let .nextTitleFromTitles(titles, category):
            "A shopper bought these \(category) items, oldest first: \(titles.map { "\"\($0)\"" }.joined(separator: ", ")). What is the title of the item they buy next?"
        }
    }

    /// The prompt as the pieces that are tokenized separately and concatenated (generation
    /// starts after the last one).
    public func segments(_ format: PromptFormat) -> [String] {
        switch format {
        case .alpaca:
            let afterTask = if case .meaningOfToken = self { "\n" } else if case .tokenWithMeaning = self { "\n" } else { "\n\n" }
            return [Prompt.preamble + "\n\n### Instruction:\n" + taskSentence + afterTask,
                    "### User Input: \n" + inputSentence + "\n\n### Response:\n"]
        case .chatML:
            return ["<|im_start|>user\n\(chatInstruction)<|im_end|>\n<|im_start|>assistant\n"]
        }
    }

    /// The RL stage's prompt (the authors' RL datasets): only the input block, with no preamble
    /// and no `### Instruction:` section, as ONE text that is tokenized in one piece. The
    /// next-item input keeps the training wording. Independent of `PromptFormat`.
    public var rlText: String { "### User Input: \n" + inputSentence + "\n\n### Response:\n" }

    /// The whole prompt as one text (for display; tokenize `segments`).
    public func rendered(_ format: PromptFormat) -> String { segments(format).joined() }

    /// The token that closes an assistant turn in `.chatML`.
    public static let endOfTurn = "<|im_end|>"
}

/// How prompts and answers are written.
public enum PromptFormat: String, Codable, Sendable, Hashable, CaseIterable {
    /// The authors' recipe: the plain-text template above; answers end with "\n" then EOS; the
    /// decoding trie continues after the SID with "\n" and EOS; alignment and TS-Align samples
    /// are built through maps, so duplicate SIDs, titles and descriptions collapse; the fusion
    /// target is the title the SID → title map keeps.
    case alpaca
    /// SmolLM2's ChatML turn with tsrec's first wording; answers end with `<|im_end|>`; one
    /// alignment pair per item; the description → token prompt names the level.
    case chatML = "chatml"

    /// What follows the answer text, as text (the end token is added as an id).
    var answerSuffix: String { self == .alpaca ? "\n" : "" }
}
