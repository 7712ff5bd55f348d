/// The LLM as a `BeamScorer`: one KV cache whose beams advance in lock step.
///
/// A hypothesis' state is its beam index in the cache. `extend` re-forms the cache's beams
/// from the states it is given (`select(parents:)`, which copies only the few generated rows;
/// each prompt's prefix is shared by its beams), then decodes one token for all of them as one
/// batch. With `maxPrompts > 1` the cache holds several prompts and their beams decode together
/// (M = prompts × width rows per GEMM instead of width).
///
/// With `sharedPrefix` tokens (the prompt template every prompt begins with), their keys and
/// values are computed once here and each prefill runs only the prompts' own tokens (see
/// `SharedPrefix`); a batch with a prompt that does not begin with them is prefilled whole.
public struct LlamaBeamScorer: BeamScorer {
    public let model: Llama
    public let cache: KVCache
    public let maxPrompts: Int
    public let shared: SharedPrefix?
    /// Whether forced paths are scored in the decode batch (`scoresForcedContinuations`); off,
    /// the search extends them token by token (to measure the difference).
    public var forcesPaths = true

    public init(model: Llama, promptCapacity: Int, depth: Int, width: Int, maxPrompts: Int = 1, sharedPrefix: [Int] = []) {
        self.model = model
        self.maxPrompts = maxPrompts
        cache = model.makeCache(promptCapacity: promptCapacity, maxNewTokens: depth, maxBeams: width * maxPrompts,
                                maxPrompts: maxPrompts)
        shared = sharedPrefix.isEmpty ? nil : model.sharedPrefix(sharedPrefix.map(Int32.init))
    }

    public mutating func start(prompt: [Int]) throws -> (Int, [Float]) {
        try start(prompts: [prompt])[0]
    }

    public mutating func start(prompts: [[Int]]) throws -> [(Int, [Float])] {
        precondition(prompts.count <= maxPrompts, "LlamaBeamScorer: \(prompts.count) prompts, capacity \(maxPrompts)")
        for prompt in prompts where prompt.count > cache.prefixCapacity || prompt.isEmpty {
            throw TSRecError(.config(field: "maxLength", reason: "prompt of \(prompt.count) tokens outside 1...\(cache.prefixCapacity)"))
        }
        let logits = model.prefill(prompts: prompts.map { $0.map(Int32.init) }, cache: cache, shared: shared)   // [G, V]
        return rows(logits).enumerated().map { ($0, $1) }
    }

    public mutating func extend(_ states: [Int], with tokens: [Int]) throws -> [(Int, [Float])] {
        cache.select(parents: states)
        let logits = model.decode(tokens.map(Int32.init), cache: cache)   // [beams, V]
        return rows(logits).enumerated().map { ($0, $1) }
    }

    /// Forced paths run with their hypothesis' token as one sequence of rows (`decodeHidden(sequences:)`).
    public var scoresForcedContinuations: Bool { forcesPaths }

    /// `extend`, with the forced continuations decoded in the same batch: state i's rows are its
    /// token and `forcing[i]` but the last (whose logits nobody needs); the row before each forced
    /// token gives that token's log-probability (`logSumExp` of the row, as the search computes it).
    /// Without forced continuations this is `extend(_:with:)`.
    public mutating func extend(_ states: [Int], with tokens: [Int], forcing: [[Int]]) throws -> [BeamExtension<Int>] {
        precondition(forcing.count == states.count, "LlamaBeamScorer: \(forcing.count) forced paths for \(states.count) states")
        guard forcing.contains(where: { !$0.isEmpty }) else { return try extend(states, with: tokens).map { .live($0.0, $0.1) } }
        cache.select(parents: states)
        let sequences = zip(tokens, forcing).map { t, f in [Int32(t)] + f.dropLast().map(Int32.init) }
        let hidden = model.decodeHidden(sequences: sequences, cache: cache)                 // [Σ n_i, D]
        let V = model.config.vocabSize, R = hidden.dims2().0
        let owner = sequences.indices.flatMap { i in sequences[i].indices.map { (i, $0) } }   // row → (state, j)
        var live = [[Float]?](repeating: nil, count: states.count)
        var logProbs = forcing.map { [Double](repeating: 0, count: $0.count) }
        let tape = Tape(recording: false)
        for first in stride(from: 0, to: R, by: Self.headRows) {                             // the LM head on [≤ headRows, V] at a time
            let rows = Array(first ..< min(first + Self.headRows, R))
            let logits = model.logits(tape: tape, hidden: tape.gatherRows(hidden, rows: rows))  // [rows, V]
            try logits.withUnsafeBufferPointer { all in
                for (k, row) in rows.enumerated() {
                    let (i, j) = owner[row], x = UnsafeBufferPointer(rebasing: all[(k * V) ..< ((k + 1) * V)])
                    if forcing[i].isEmpty {
                        live[i] = Array(x)
                    } else {
                        logProbs[i][j] = Double(x[forcing[i][j]]) - (try logSumExp(x, step: j))
                    }
                }
            }
        }
        return states.indices.map { i in forcing[i].isEmpty ? .live(i, live[i]!) : .forced(logProbs[i]) }
    }

    /// Rows of the LM head per GEMM when scoring forced paths (bounds the [rows, V] logits buffer).
    static let headRows = 256

    /// The rows of a [M, V] logits tensor as arrays.
    private func rows(_ logits: Tensor) -> [[Float]] {
        let (M, V) = logits.dims2()
        return logits.withUnsafeBufferPointer { all in (0..<M).map { b in Array(all[(b * V)..<((b + 1) * V)]) } }
    }
}
