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

    /// The rows of a [M, V] logits tensor as arrays.
    private func rows(_ logits: Tensor) -> [[Float]] {
        let (M, V) = logits.dims2()
        return logits.withUnsafeBufferPointer { all in (0..<M).map { b in Array(all[(b * V)..<((b + 1) * V)]) } }
    }
}
