/// BIGRec's grounding (issue #19; docs/llm-baselines.md §4.3, §8.6): a generated title is mapped
/// onto the catalogue by embedding it and every item title with the backbone — the last
/// position's hidden state after the final norm, `hidden_states[-1][:, -1, :]` in transformers —
/// and ranking all items by L2 distance to it. Every item is ranked, so there are no invalid
/// answers. (BIGRec embeds with the pretrained backbone, not the fine-tuned one: the caller
/// passes the model it should use.)
public struct TitleGrounding: Sendable {
    /// `[items, dim]`, row i = item i's title embedding.
    public let embeddings: [Float]
    public let dim: Int
    public var itemCount: Int { dim == 0 ? 0 : embeddings.count / dim }

    /// BIGRec's normalisation of a catalogue title: spaces stripped at both ends, then double
    /// quotes (Python's `.strip(" ").strip('"')` in its embedding notebook).
    public static func normaliseTitle(_ text: String) -> String { text.pythonStripped(" ").pythonStripped("\"") }

    /// BIGRec's normalisation of the generated text: double quotes stripped at both ends.
    public static func normaliseGenerated(_ text: String) -> String { text.pythonStripped("\"") }

    /// Embeds every title (already tokenized; empty titles embed as a single token 0 so every item
    /// keeps a row), `batch` at a time, right-padded and masked. (BIGRec pads on the left without
    /// shifting positions; RoPE attention depends on position differences only, so the embeddings
    /// are the same up to rounding.)
    public init(model: Llama, titles: [[Int32]], batch: Int = 16) {
        dim = model.config.dim
        var rows: [Float] = []
        rows.reserveCapacity(titles.count * dim)
        for start in stride(from: 0, to: titles.count, by: batch) {
            rows += Self.embed(model: model, Array(titles[start..<min(start + batch, titles.count)]))
        }
        embeddings = rows
    }

    /// Last-position hidden states, `[texts, dim]`, of right-padded token sequences.
    public static func embed(model: Llama, _ texts: [[Int32]]) -> [Float] {
        guard !texts.isEmpty else { return [] }
        let seqs = texts.map { $0.isEmpty ? [Int32(0)] : $0 }
        let T = seqs.map(\.count).max()!, B = seqs.count
        let tokens = seqs.flatMap { $0 + [Int32](repeating: 0, count: T - $0.count) }      // [B·T]
        let keyValid: [Bool]? = seqs.allSatisfy { $0.count == T } ? nil : seqs.flatMap { s in (0..<T).map { $0 < s.count } }
        let tape = Tape(recording: false)
        let hidden = model.forward(tape: tape, tokens: tokens, batch: B, seq: T, keyValid: keyValid)   // [B·T, D]
        // Right padding: a sequence's last real position only attends to real keys (causal mask).
        return tape.gatherRows(hidden, rows: seqs.enumerated().map { $0 * T + $1.count - 1 }).array  // [B, D]
    }

    /// Item indices by increasing L2 distance to `query` (`[dim]`); ties by item index.
    public func rank(_ query: [Float]) -> [Int] {
        precondition(query.count == dim, "TitleGrounding.rank: query of \(query.count) values, embeddings of \(dim)")
        let distances = (0..<itemCount).map { i -> Double in
            var s = 0.0
            for d in 0..<dim { let x = Double(embeddings[i * dim + d] - query[d]); s += x * x }
            return s
        }
        return distances.indices.sorted { distances[$0] != distances[$1] ? distances[$0] < distances[$1] : $0 < $1 }
    }
}
