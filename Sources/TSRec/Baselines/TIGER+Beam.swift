/// TIGER as a `BeamScorer`, so it is ranked by exactly the LLM path's constrained beam search.
///
/// `start` encodes the prompt (one history) once and projects the encoder states into every
/// decoder layer's cross-attention keys and values; a state is the decoded prefix (tokens after
/// BOS), and `extend` re-runs the decoder over [BOS] + prefix for all beams at once (at most
/// `levels` = 3 positions, so a KV cache would save little). Returned logits are the full
/// `[vocab]` row of the last position.
struct TIGERScorer: BeamScorer {
    typealias State = [Int]
    let model: TIGER
    /// Per decoder layer, the prompt's cross keys / values `[S, d]` (S = the padded prompt length).
    private var kv: [(k: Tensor, v: Tensor)] = []
    /// `[S]`: false on the prompt's left padding.
    private var promptValid: [Bool] = []

    init(model: TIGER) { self.model = model }

    mutating func start(prompt: [Int]) throws -> ([Int], [Float]) {
        let tape = Tape(recording: false)
        var noDropout = SplitMix64(seed: 0)
        let enc = model.encoderInput([prompt])                              // padded exactly as in training
        let memory = model.encode(tokens: enc.tokens, valid: enc.valid, batch: 1, length: enc.length, tape: tape,
                                  training: false, rng: &noDropout)
        kv = model.crossKeysValues(memory, tape: tape)
        promptValid = enc.valid
        return ([], try logits(for: [[]])[0])
    }

    mutating func extend(_ states: [[Int]], with tokens: [Int]) throws -> [([Int], [Float])] {
        let next = zip(states, tokens).map { $0 + [$1] }
        return zip(next, try logits(for: next)).map { ($0, $1) }
    }

    /// Next-token logits after [BOS] + each prefix (all prefixes have the same length).
    private func logits(for prefixes: [[Int]]) throws -> [[Float]] {
        let W = prefixes.count, L = (prefixes.first?.count ?? 0) + 1
        precondition(prefixes.allSatisfy { $0.count == L - 1 }, "TIGERScorer: prefixes of different lengths")
        let tape = Tape(recording: false)
        var noDropout = SplitMix64(seed: 0)
        let S = promptValid.count
        let rows = (0..<W).flatMap { _ in 0..<S }                           // the prompt's rows, once per beam
        let batchKV = kv.map { (tape.gatherRows($0.k, rows: rows), tape.gatherRows($0.v, rows: rows)) }
        let input = prefixes.flatMap { [Int32(SIDVocabulary.bos)] + $0.map { Int32($0) } }
        let out = model.decode(tokens: input, batch: W, length: L, kv: batchKV,
                               memoryValid: Array((0..<W).map { _ in promptValid }.joined()), memoryLength: S,
                               tape: tape, training: false, rng: &noDropout)
        let V = model.vocabulary.size
        return out.withUnsafeBufferPointer { out in                        // [W·L, V]: each beam's last row
            (0..<W).map { b in Array(out[((b * L) + L - 1) * V ..< ((b * L) + L) * V]) }
        }
    }
}
