/// Turns a dataset into tokenized SFT samples, one task family at a time (METHOD.md
/// "Training tasks"): the recipe is the configuration's `tasks`, the wording is `Prompt`.
public struct SFTSampleBuilder {
    public let tokenizer: BPETokenizer
    public let maxLength: Int
    public let format: PromptFormat
    /// The token that ends every answer: the backbone's EOS (`.alpaca`, as the authors'
    /// `tokenizer.eos_token_id`) or `<|im_end|>` (`.chatML`).
    public let endToken: Int32

    public init(tokenizer: BPETokenizer, maxLength: Int, format: PromptFormat = .alpaca) throws {
        let end: Int?
        switch format {
        case .alpaca: end = tokenizer.eosID
        case .chatML: end = tokenizer.id(for: Prompt.endOfTurn)
        }
        guard let end else {
            throw TSRecError(.config(field: "promptFormat", reason: "the tokenizer has no end token for \(format.rawValue)"),
                             hint: "the GGUF must declare tokenizer.ggml.eos_token_id")
        }
        self.tokenizer = tokenizer
        self.maxLength = maxLength
        self.format = format
        self.endToken = Int32(end)
    }

    /// The prompt's ids (generation starts after them): each segment tokenized on its own, as
    /// the authors tokenize their instruction and input blocks.
    public func promptIDs(_ prompt: Prompt) -> [Int32] {
        prompt.segments(format).flatMap { tokenizer.encode($0) }.map(Int32.init)
    }

    /// An answer's ids: the text, the format's suffix ("\n" for `.alpaca`), the end token.
    public func answerIDs(_ answer: String) -> [Int32] {
        tokenizer.encode(answer + format.answerSuffix).map(Int32.init) + [endToken]
    }

    /// What constrained decoding must generate for a SID of token ids: the SID, then (`.alpaca`)
    /// the newline and the end token, as in the authors' trie, so a beam's score sums those
    /// log-probabilities too.
    public func decodedSequence(sid: [Int]) -> [Int] {
        format == .alpaca ? sid + tokenizer.encode(format.answerSuffix) + [Int(endToken)] : sid
    }

    /// Prompt + answer, or nil when longer than `maxLength` (the authors keep the last
    /// `maxLength` tokens instead; no Industrial sample comes near 512 tokens, and the pipeline
    /// logs how many were dropped).
    public func sample(_ prompt: Prompt, response: String, task: SFTTask) -> SFTSample? {
        let p = promptIDs(prompt)
        let r = answerIDs(response)
        guard p.count + r.count <= maxLength else { return nil }
        return SFTSample(tokens: p + r, promptLength: p.count, task: task)
    }

    /// The training samples of `tasks` built from `dataset`'s train split (and, for
    /// TS-Align, its token descriptions). Returns the samples and how many were too long.
    public func trainingSamples(_ dataset: Dataset, tasks: Set<SFTTask>, trainRows: Int?,
                                semantics: Keywords? = nil) throws -> (samples: [SFTSample], dropped: Int) {
        let train = try dataset.split(.train).rows
        let rows = trainRows.map { Array(train.prefix($0)) } ?? train
        var out: [SFTSample] = []
        var dropped = 0
        func add(_ s: SFTSample?) { if let s { out.append(s) } else { dropped += 1 } }
        for task in tasks.sorted() {
            switch task {
            case .nextItem:
                for r in rows { add(sample(.nextItem(history: r.historySIDs), response: r.targetSID, task: task)) }
            case .fusion:
                // `.alpaca`: the target title is the SID → title map's (a collided SID's last item).
                let titleOf = format == .alpaca ? dataset.titleBySID() : [:]
                for r in rows {
                    add(sample(.nextTitle(history: r.historySIDs), response: titleOf[r.targetSID] ?? r.targetTitle, task: task))
                }
            case .itemAlignment:
                switch format {
                case .alpaca:
                    // The authors build SID → title and title → SID maps over the items in id
                    // order: a collided SID keeps its last item's title, a repeated title its
                    // last SID (Industrial: 3,670 + 3,646 pairs).
                    var sidToTitle = InsertionOrderedMap<String, String>(), titleToSID = InsertionOrderedMap<String, String>()
                    for item in 0..<dataset.index.count {
                        sidToTitle[dataset.index.sid(of: item)] = dataset.items[item].title
                        titleToSID[dataset.items[item].title] = dataset.index.sid(of: item)
                    }
                    for (sid, title) in sidToTitle.pairs { add(sample(.titleOfItem(sid: sid), response: title, task: task)) }
                    for (title, sid) in titleToSID.pairs { add(sample(.itemWithTitle(title: title), response: sid, task: task)) }
                case .chatML:
                    for item in 0..<dataset.index.count {
                        let sid = dataset.index.sid(of: item), title = dataset.items[item].title
                        guard !title.isEmpty else { continue }
                        add(sample(.titleOfItem(sid: sid), response: title, task: task))
                        add(sample(.itemWithTitle(title: title), response: sid, task: task))
                    }
                }
            case .tsAlign:
                guard let semantics else {
                    throw TSRecError(.config(field: "tasks", reason: "TS-Align without token descriptions"),
                                     hint: "pass the dataset's token semantics (Dataset.tokenSemantics)")
                }
                let tokens = Set(dataset.sidTokens)
                for token in tokens.sorted() where semantics[token] == nil {
                    throw TSRecError(.missing(what: "description of SID token \(token)", path: dataset.benchmark.name),
                                     hint: "TS-Align needs a description for every SID token")
                }
                switch format {
                case .alpaca:
                    // The authors' token → description and description → token maps, in the
                    // keyword file's order (a repeated description keeps its last token).
                    var tokenToText = InsertionOrderedMap<String, String>(), textToToken = InsertionOrderedMap<String, String>()
                    for e in semantics.entries where tokens.contains(e.token) {
                        tokenToText[e.token] = e.description
                        textToToken[e.description] = e.token
                    }
                    for (token, text) in tokenToText.pairs { add(sample(.meaningOfToken(token: token), response: text, task: task)) }
                    for (text, token) in textToToken.pairs {
                        add(sample(.tokenWithMeaning(description: text, level: SID.level(of: token)), response: token, task: task))
                    }
                case .chatML:
                    for token in dataset.sidTokens {
                        let entry = semantics[token]!
                        add(sample(.meaningOfToken(token: token), response: entry.description, task: task))
                        add(sample(.tokenWithMeaning(description: entry.description, level: SID.level(of: token)), response: token, task: task))
                    }
                }
            }
        }
        return (out, dropped)
    }

    /// Next-item samples of a split (validation loss: the authors validate on the training
    /// wording of the next-item task over the validation rows).
    public func nextItemSamples(_ rows: [SplitRow]) -> [SFTSample] {
        rows.compactMap { sample(.nextItem(history: $0.historySIDs), response: $0.targetSID, task: .nextItem) }
    }

}

/// A map that remembers where each key was first inserted, as a Python `dict` does (a later
/// assignment replaces the value and keeps the position): the authors' sample sets are built
/// through such dicts.
struct InsertionOrderedMap<Key: Hashable, Value> {
    private var keys: [Key] = []
    private var values: [Key: Value] = [:]

    subscript(key: Key) -> Value? {
        get { values[key] }
        set {
            guard let newValue else { preconditionFailure("InsertionOrderedMap: removal is not supported") }
            if values.updateValue(newValue, forKey: key) == nil { keys.append(key) }
        }
    }

    var pairs: [(Key, Value)] { keys.map { ($0, values[$0]!) } }
    var count: Int { keys.count }
}
