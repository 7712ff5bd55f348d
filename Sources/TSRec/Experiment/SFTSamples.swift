/// Turns a dataset into tokenized SFT samples, one task family at a time (METHOD.md
/// "Training tasks"): the recipe is the configuration's `tasks`, the wording is `Prompt`.
public struct SFTSampleBuilder {
    public let tokenizer: BPETokenizer
    public let maxLength: Int
    /// The token that closes an assistant turn (`<|im_end|>`), appended to every response.
    public let endOfTurn: Int32

    public init(tokenizer: BPETokenizer, maxLength: Int) throws {
        guard let end = tokenizer.id(for: Prompt.endOfTurn) else {
            throw TSRecError(.config(field: "tokenizer", reason: "no \(Prompt.endOfTurn) token"))
        }
        self.tokenizer = tokenizer
        self.maxLength = maxLength
        self.endOfTurn = Int32(end)
    }

    /// The prompt's ids (generation starts after them).
    public func promptIDs(_ prompt: Prompt) -> [Int32] { tokenizer.encode(prompt.rendered).map(Int32.init) }

    /// Prompt + response + end of turn, or nil when longer than `maxLength`.
    public func sample(_ prompt: Prompt, response: String, task: SFTTask) -> SFTSample? {
        let p = promptIDs(prompt)
        let r = tokenizer.encode(response).map(Int32.init) + [endOfTurn]
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
                for r in rows { add(sample(.nextTitle(history: r.historySIDs), response: r.targetTitle, task: task)) }
            case .itemAlignment:
                for item in 0..<dataset.index.count {
                    let sid = dataset.index.sid(of: item), title = dataset.items[item].title
                    guard !title.isEmpty else { continue }
                    add(sample(.titleOfItem(sid: sid), response: title, task: task))
                    add(sample(.itemWithTitle(title: title), response: sid, task: task))
                }
            case .tsAlign:
                guard let semantics else {
                    throw TSRecError(.config(field: "tasks", reason: "TS-Align without token descriptions"),
                                     hint: "pass the dataset's token semantics (Dataset.tokenSemantics)")
                }
                for token in dataset.sidTokens {
                    guard let entry = semantics[token] else {
                        throw TSRecError(.missing(what: "description of SID token \(token)", path: dataset.benchmark.name),
                                         hint: "TS-Align needs a description for every SID token")
                    }
                    let level = SID.level(of: token)
                    add(sample(.meaningOfToken(token: token), response: entry.description, task: task))
                    add(sample(.tokenWithMeaning(description: entry.description, level: level), response: token, task: task))
                }
            }
        }
        return (out, dropped)
    }

    /// Next-item samples of a split (validation loss).
    public func nextItemSamples(_ rows: [SplitRow]) -> [SFTSample] {
        rows.compactMap { sample(.nextItem(history: $0.historySIDs), response: $0.targetSID, task: .nextItem) }
    }
}
