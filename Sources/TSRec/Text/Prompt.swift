/// Every prompt tsrec trains or evaluates on: one enum, one render function.
///
/// The wording is this project's own (the paper's prompts are not reproduced). Each sample is a
/// chat turn in the backbone's template, `<|im_start|>user … <|im_end|>` then
/// `<|im_start|>assistant` + response; the loss covers the response and its closing `<|im_end|>`
/// only. SIDs are written as their three tokens concatenated, e.g. `<a_12><b_200><c_7>`.
public enum Prompt: Sendable, Hashable {
    /// Task 1: history SIDs → next item's SID.
    case nextItem(history: [String])
    /// Task 2a: SID → title.
    case titleOfItem(sid: String)
    /// Task 2b: title → SID.
    case itemWithTitle(title: String)
    /// Task 3 (fusion): history SIDs → next item's title.
    case nextTitle(history: [String])
    /// Task 4a (TS-Align): one SID token → its cluster's description.
    case meaningOfToken(token: String)
    /// Task 4b (TS-Align): a cluster description → its SID token.
    case tokenWithMeaning(description: String, level: Int)

    /// The task family, for logs and mixing statistics.
    public var task: String {
        switch self {
        case .nextItem: "next-item"
        case .titleOfItem, .itemWithTitle: "item-alignment"
        case .nextTitle: "fusion"
        case .meaningOfToken, .tokenWithMeaning: "ts-align"
        }
    }

    /// The user's message.
    public var instruction: String {
        switch self {
        case let .nextItem(history):
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
        }
    }

    static let levelNames = ["a", "b", "c"]

    /// The chat-formatted prompt up to and including the assistant header; generation starts here.
    public var rendered: String {
        "<|im_start|>user\n\(instruction)<|im_end|>\n<|im_start|>assistant\n"
    }

    /// The text the model is trained to produce after `rendered` (the closing `<|im_end|>` is
    /// appended by the sample builder as a token, not as text).
    public static let endOfTurn = "<|im_end|>"
}
