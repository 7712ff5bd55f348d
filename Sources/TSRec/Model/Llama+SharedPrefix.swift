/// A prompt template's keys and values, computed once and shared by every prompt that begins
/// with it (issue #21 item 3).
///
/// Every evaluation prompt of a method begins with the same text (the preamble, the
/// instruction and the start of the input sentence: about half of a SID prompt's tokens). Keys
/// and values at a position depend only on the tokens up to it, so those of the common prefix
/// are the same for every prompt: `Llama.sharedPrefix(_:)` computes them once, and
/// `prefillHidden(prompts:cache:shared:)` then runs only each prompt's own tokens, which attend
/// to the shared keys and to their own (causal). The cache ends up as after a full prefill
/// (each prompt's prefix rows: the shared rows, then its own), so decoding is unchanged.
/// Outputs equal the full prefill's up to float rounding (tested; the attention sums the
/// shared and the own keys in two parts).
public struct SharedPrefix {
    /// The prefix's token ids, C of them.
    public let tokens: [Int32]
    /// Per layer: the prefix's keys (after RoPE) and values, [C, Hkv·Dh] each.
    let keys: [Tensor.Storage]
    let values: [Tensor.Storage]

    public var count: Int { tokens.count }

    /// Whether `prompt` begins with the prefix and has at least one token of its own (the
    /// prefill needs a last position to return).
    public func isProperPrefix(of prompt: [Int32]) -> Bool {
        prompt.count > tokens.count && prompt.starts(with: tokens)
    }

    /// The longest token prefix shared by all `prompts`, shortened so that every prompt keeps at
    /// least one token of its own; empty when there are no prompts.
    public static func commonTokens<T: Equatable>(of prompts: [[T]]) -> [T] {
        guard var common = prompts.first else { return [] }
        for p in prompts.dropFirst() {
            let n = zip(common, p).prefix { $0 == $1 }.count
            common.removeLast(common.count - n)
        }
        let shortest = prompts.map(\.count).min() ?? 0
        return Array(common.prefix(max(0, shortest - 1)))
    }
}

extension Llama {
    /// The keys and values of `tokens` (one prefill of them alone), for prompts that begin with them.
    public func sharedPrefix(_ tokens: [Int32]) -> SharedPrefix {
        precondition(!tokens.isEmpty, "sharedPrefix: empty prefix")
        let cache = makeCache(promptCapacity: tokens.count, maxNewTokens: 0)
        _ = prefillHidden(prompts: [tokens], cache: cache)
        let n = tokens.count * config.kvDim
        func rows(_ all: [Tensor.Storage]) -> [Tensor.Storage] {
            all.map { layer in
                let s = Tensor.Storage(count: n, zeroed: false)
                s.update(at: 0, from: layer, at: cache.prefixOffset(prompt: 0), count: n)
                return s
            }
        }
        return SharedPrefix(tokens: tokens, keys: rows(cache.prefixK), values: rows(cache.prefixV))
    }

    /// `prefillHidden(prompts:cache:)` for prompts that all begin with `shared`: only the tokens
    /// after it run through the model, as one right-padded batch [G·S] (S = the longest own
    /// part), at positions C, C+1, …; their attention sees the C shared keys and their own keys
    /// up to themselves. The cache holds each whole prompt afterwards. Returns each prompt's last
    /// hidden state after the final norm, [G, D]. Without `shared`, or when a prompt does not
    /// extend it, the whole prompts are prefilled (the same result).
    public func prefillHidden(prompts: [[Int32]], cache: KVCache, shared: SharedPrefix?) -> Tensor {
        guard let shared, !prompts.isEmpty, prompts.allSatisfy(shared.isProperPrefix) else {
            return prefillHidden(prompts: prompts, cache: cache)
        }
        let c = config
        let C = shared.count
        precondition(shared.keys.count == c.layers && shared.keys.allSatisfy { $0.count == C * c.kvDim },
                     "prefill: shared prefix made for another model")
        precondition(cache.layers == c.layers && cache.kvDim == c.kvDim, "prefill: cache made for another model")
        precondition(prompts.allSatisfy { $0.allSatisfy { $0 >= 0 && Int($0) < c.vocabSize } },
                     "prefill: token id outside 0..<\(c.vocabSize)")
        cache.reset(prefixLengths: prompts.map(\.count))                                      // checks sizes
        let own = prompts.map { $0[C...] }, lengths = own.map(\.count)
        let G = prompts.count, S = lengths.max()!
        let tape = Tape(recording: false)
        let tokens = own.flatMap { Array($0) + [Int32](repeating: 0, count: S - $0.count) }     // [G·S]
        let positions = (0..<(G * S)).map { Int32(C + $0 % S) }
        var x = tape.embedding(tokenEmbedding, ids: tokens)                                  // [G·S, D]
        for (l, b) in blocks.enumerated() {
            let (q, k, v) = attentionInputs(tape: tape, x, b, positions: positions)          // [G·S, ·]
            for (p, n) in lengths.enumerated() {                                             // shared rows, then own
                let o = cache.prefixOffset(prompt: p)
                cache.prefixK[l].update(at: o, from: shared.keys[l], at: 0, count: C * c.kvDim)
                cache.prefixV[l].update(at: o, from: shared.values[l], at: 0, count: C * c.kvDim)
                cache.prefixK[l].update(at: o + C * c.kvDim, from: k.storage, at: p * S * c.kvDim, count: n * c.kvDim)
                cache.prefixV[l].update(at: o + C * c.kvDim, from: v.storage, at: p * S * c.kvDim, count: n * c.kvDim)
            }
            let a = sharedPrefixAttention(q: q, k: k, v: v, sharedKeys: shared.keys[l], sharedValues: shared.values[l],
                                          sharedLength: C, prompts: G, seq: S)
            x = tape.add(x, tape.matmul(a, b.wo, transposeB: true))
            x = tape.add(x, feedForward(tape: tape, x, b))
        }
        let last = tape.gatherRows(x, rows: lengths.enumerated().map { $0 * S + $1 - 1 })    // [G, D]
        return tape.rmsNorm(last, weight: outputNorm, eps: c.rmsEps)
    }

    /// Attention of G right-padded own parts [G·S rows] over the C shared keys and their own
    /// keys (causal): q [G·S, H·Dh], k, v [G·S, Hkv·Dh] → [G·S, H·Dh]. This is the continuation
    /// part of `Tape.prefixAttention` with one "prompt" (the shared prefix, T = C) and G
    /// continuations of S tokens, so it runs that kernel on packed rows [C + G·S] (shared
    /// keys/values first; the C query rows are not read). Padded rows attend only to earlier
    /// rows, so the real ones are unaffected; their outputs are ignored.
    func sharedPrefixAttention(q: Tensor, k: Tensor, v: Tensor, sharedKeys: Tensor.Storage, sharedValues: Tensor.Storage,
                               sharedLength C: Int, prompts G: Int, seq S: Int) -> Tensor {
        let c = config
        let rows = C + G * S
        let packedQ = Tensor(uninitialized: [rows, c.qDim], requiresGrad: false)
        let packedK = Tensor(uninitialized: [rows, c.kvDim], requiresGrad: false)
        let packedV = Tensor(uninitialized: [rows, c.kvDim], requiresGrad: false)
        let packedOut = Tensor(uninitialized: [rows, c.qDim], requiresGrad: false)
        packedQ.storage.update(at: C * c.qDim, from: q.storage, at: 0, count: G * S * c.qDim)
        packedK.storage.update(at: 0, from: sharedKeys, at: 0, count: C * c.kvDim)
        packedK.storage.update(at: C * c.kvDim, from: k.storage, at: 0, count: G * S * c.kvDim)
        packedV.storage.update(at: 0, from: sharedValues, at: 0, count: C * c.kvDim)
        packedV.storage.update(at: C * c.kvDim, from: v.storage, at: 0, count: G * S * c.kvDim)
        let probs = Tensor(uninitialized: [c.heads, G * S, C + S], requiresGrad: false)
        withPointers(packedOut, probs, packedQ, packedK, packedV) { out, probs, q, k, v in
            Kernels.prefixAttentionForward(out: out, probs: probs, q: q, k: k, v: v, lengths: [C], seq: C,
                                           group: G, suffix: S, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
        }
        let out = Tensor(uninitialized: [G * S, c.qDim], requiresGrad: false)
        out.storage.update(at: 0, from: packedOut.storage, at: C * c.qDim, count: G * S * c.qDim)
        return out
    }
}
