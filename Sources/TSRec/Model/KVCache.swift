/// Keys and values of past positions for incremental decoding, laid out for beam search over
/// one or several prompts at once: each prompt's prefix is stored once and shared by that
/// prompt's beams; each beam has a short suffix of its own.
///
///     prefix K, V (per layer):  [maxPrompts, prefixCapacity, Hkv·Dh]   prompt p: positions 0 ..< P_p
///     suffix K, V (per layer):  [maxBeams, suffixCapacity, Hkv·Dh]     beam b:   positions P_p ..< P_p + S
///
/// All beams advance in lock step (the same suffix length S). Beams of a prompt attend to its
/// prefix with one GEMM per kv head for all of them; forking beams (`select(parents:)`) copies
/// only the S suffix rows of each beam, which for SID decoding is 1-3 tokens. Keys are stored
/// after RoPE.
///
/// Filled by `Llama.prefill` (which resets it and leaves one beam per prompt) and
/// `Llama.decode` (which appends one suffix position to every beam).
public final class KVCache {
    public let layers: Int
    /// Hkv·Dh, the width of one stored key or value row.
    public let kvDim: Int
    public let prefixCapacity: Int
    public let suffixCapacity: Int
    public let maxBeams: Int
    public let maxPrompts: Int
    /// Stored prompt lengths P_p, one per prompt.
    public internal(set) var prefixLengths: [Int] = []
    /// Generated positions stored per beam (S).
    public internal(set) var suffixLength = 0
    /// The prompt each live beam continues; `decode` takes one token per beam, in this order.
    public private(set) var beamPrompts: [Int] = []

    var prefixK: [Tensor.Storage]
    var prefixV: [Tensor.Storage]
    var suffixK: [Tensor.Storage]
    var suffixV: [Tensor.Storage]
    /// Second suffix buffer set for `select(parents:)` (copy then swap).
    private var spareK: [Tensor.Storage]
    private var spareV: [Tensor.Storage]

    public init(layers: Int, kvDim: Int, prefixCapacity: Int, suffixCapacity: Int, maxBeams: Int = 1, maxPrompts: Int = 1) {
        precondition(layers > 0 && kvDim > 0 && prefixCapacity > 0 && suffixCapacity >= 0 && maxBeams > 0 && maxPrompts > 0,
                     "KVCache: sizes must be positive")
        precondition(maxBeams >= maxPrompts, "KVCache: maxBeams \(maxBeams) < maxPrompts \(maxPrompts) (prefill leaves one beam per prompt)")
        self.layers = layers
        self.kvDim = kvDim
        self.prefixCapacity = prefixCapacity
        self.suffixCapacity = suffixCapacity
        self.maxBeams = maxBeams
        self.maxPrompts = maxPrompts
        func make(_ n: Int) -> [Tensor.Storage] { (0..<layers).map { _ in Tensor.Storage(count: n, zeroed: false) } }
        prefixK = make(maxPrompts * prefixCapacity * kvDim)
        prefixV = make(maxPrompts * prefixCapacity * kvDim)
        let suffixCount = maxBeams * suffixCapacity * kvDim
        suffixK = make(suffixCount)
        suffixV = make(suffixCount)
        spareK = make(suffixCount)
        spareV = make(suffixCount)
    }

    /// Live beams (all prompts together).
    public var beams: Int { beamPrompts.count }

    /// The position beam `b`'s next token goes to: P_p + S for its prompt p.
    public func position(ofBeam b: Int) -> Int { prefixLengths[beamPrompts[b]] + suffixLength }

    /// Empties the cache for prompts of the given lengths (filled by `prefill`): S = 0, one
    /// beam per prompt.
    func reset(prefixLengths lengths: [Int]) {
        precondition(!lengths.isEmpty && lengths.count <= maxPrompts, "KVCache: \(lengths.count) prompts, capacity \(maxPrompts)")
        precondition(lengths.allSatisfy { $0 >= 1 && $0 <= prefixCapacity }, "KVCache: prompt length outside 1...\(prefixCapacity)")
        prefixLengths = lengths
        suffixLength = 0
        beamPrompts = Array(lengths.indices)
    }

    /// Re-forms the beams after a search step: new beam `b` continues old beam `parents[b]` (its
    /// suffix rows are copied and it keeps that beam's prompt). `parents.count` becomes the beam
    /// count, so this also expands the one post-prefill beam per prompt (`parents = [0, 0, …]`)
    /// or drops finished beams; a prompt may end up with no beam.
    public func select(parents: [Int]) {
        precondition(!parents.isEmpty && parents.count <= maxBeams,
                     "KVCache.select: \(parents.count) beams, capacity \(maxBeams)")
        precondition(parents.allSatisfy { $0 >= 0 && $0 < beams }, "KVCache.select: parent outside 0..<\(beams)")
        let old = beamPrompts
        beamPrompts = parents.map { old[$0] }
        if suffixLength == 0 || parents.elementsEqual(0..<parents.count) { return }
        let rowFloats = suffixLength * kvDim
        let beamStride = suffixCapacity * kvDim
        for l in 0..<layers {
            for (b, p) in parents.enumerated() {
                spareK[l].update(at: b * beamStride, from: suffixK[l], at: p * beamStride, count: rowFloats)
                spareV[l].update(at: b * beamStride, from: suffixV[l], at: p * beamStride, count: rowFloats)
            }
        }
        swap(&suffixK, &spareK)
        swap(&suffixV, &spareV)
    }

    /// An independent deep copy (same capacities, contents and lengths).
    public func copy() -> KVCache {
        let c = KVCache(layers: layers, kvDim: kvDim, prefixCapacity: prefixCapacity,
                        suffixCapacity: suffixCapacity, maxBeams: maxBeams, maxPrompts: maxPrompts)
        c.prefixLengths = prefixLengths
        c.suffixLength = suffixLength
        c.beamPrompts = beamPrompts
        for l in 0..<layers {
            for (p, n) in prefixLengths.enumerated() {
                let o = prefixOffset(prompt: p)
                c.prefixK[l].update(at: o, from: prefixK[l], at: o, count: n * kvDim)
                c.prefixV[l].update(at: o, from: prefixV[l], at: o, count: n * kvDim)
            }
            for b in 0..<beams {
                let o = suffixOffset(beam: b, position: 0)
                c.suffixK[l].update(at: o, from: suffixK[l], at: o, count: suffixLength * kvDim)
                c.suffixV[l].update(at: o, from: suffixV[l], at: o, count: suffixLength * kvDim)
            }
        }
        return c
    }

    /// Runs `body` with layer `l`'s prefix keys, prefix values, suffix keys and suffix values
    /// (layouts in the type comment); the buffers outlive the call.
    @inline(__always)
    func withLayer<R>(_ l: Int, _ body: (_ prefixK: UnsafeMutablePointer<Float>, _ prefixV: UnsafeMutablePointer<Float>,
                                         _ suffixK: UnsafeMutablePointer<Float>, _ suffixV: UnsafeMutablePointer<Float>) -> R) -> R {
        prefixK[l].withPointer { pK in
            prefixV[l].withPointer { pV in
                suffixK[l].withPointer { sK in suffixV[l].withPointer { sV in body(pK, pV, sK, sV) } }
            }
        }
    }

    /// Start of prompt `p`'s prefix rows in a layer's prefix key (or value) buffer.
    @inline(__always) func prefixOffset(prompt p: Int) -> Int { p * prefixCapacity * kvDim }

    /// Start of beam `b`'s suffix row `t` in a layer's suffix key (or value) buffer.
    @inline(__always) func suffixOffset(beam b: Int, position t: Int) -> Int {
        (b * suffixCapacity + t) * kvDim
    }
}
