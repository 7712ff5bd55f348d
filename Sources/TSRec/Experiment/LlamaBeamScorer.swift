/// The LLM as a `BeamScorer`: one KV cache whose beams advance in lock step.
///
/// A hypothesis' state is its beam index in the cache. `extend` re-forms the cache's beams
/// from the states it is given (`select(parents:)`, which copies only the few generated rows;
/// the prompt prefix is shared), then decodes one token for all of them as one batch.
public struct LlamaBeamScorer: BeamScorer {
    public let model: Llama
    public let cache: KVCache

    public init(model: Llama, promptCapacity: Int, depth: Int, width: Int) {
        self.model = model
        cache = model.makeCache(promptCapacity: promptCapacity, maxNewTokens: depth, maxBeams: width)
    }

    public mutating func start(prompt: [Int]) throws -> (Int, [Float]) {
        guard prompt.count <= cache.prefixCapacity else {
            throw TSRecError(.config(field: "maxLength", reason: "prompt of \(prompt.count) tokens exceeds \(cache.prefixCapacity)"))
        }
        let logits = model.prefill(prompt.map(Int32.init), cache: cache)
        return (0, Array(logits.data))
    }

    public mutating func extend(_ states: [Int], with tokens: [Int]) throws -> [(Int, [Float])] {
        cache.select(parents: states)
        let logits = model.decode(tokens.map(Int32.init), cache: cache)   // [beams, V]
        let V = logits.shape[1]
        return (0..<states.count).map { b in (b, Array(logits.data[(b * V)..<((b + 1) * V)])) }
    }
}
