/// Keys and values of past positions for incremental decoding, laid out for beam search:
/// a prompt prefix shared by every beam plus a short suffix per beam.
///
///     prefix K, V (per layer):  [prefixCapacity, Hkv·Dh]            positions 0 ..< P
///     suffix K, V (per layer):  [maxBeams, suffixCapacity, Hkv·Dh]   positions P ..< P + S
///
/// All beams advance in lock step (same P and S, so the same RoPE position). Beams share
/// the prompt, so the prefix is stored once and attended to with one GEMM per kv head for all
/// beams; forking beams (`select(parents:)`) copies only the S suffix rows of each beam, which
/// for SID decoding is 1-3 tokens. Keys are stored after RoPE.
///
/// Filled by `Llama.prefill` (which resets it) and `Llama.decode` (which appends one suffix
/// position to every beam).
public final class KVCache {
    public let layers: Int
    /// Hkv·Dh, the width of one stored key or value row.
    public let kvDim: Int
    public let prefixCapacity: Int
    public let suffixCapacity: Int
    public let maxBeams: Int
    /// Prompt positions stored (P).
    public internal(set) var prefixLength = 0
    /// Generated positions stored per beam (S).
    public internal(set) var suffixLength = 0
    /// Live beams; `decode` takes one token per beam.
    public private(set) var beams = 1

    var prefixK: [Tensor.Storage]
    var prefixV: [Tensor.Storage]
    var suffixK: [Tensor.Storage]
    var suffixV: [Tensor.Storage]
    /// Second suffix buffer set for `select(parents:)` (copy then swap).
    private var spareK: [Tensor.Storage]
    private var spareV: [Tensor.Storage]

    public init(layers: Int, kvDim: Int, prefixCapacity: Int, suffixCapacity: Int, maxBeams: Int = 1) {
        precondition(layers > 0 && kvDim > 0 && prefixCapacity > 0 && suffixCapacity >= 0 && maxBeams > 0,
                     "KVCache: sizes must be positive")
        self.layers = layers
        self.kvDim = kvDim
        self.prefixCapacity = prefixCapacity
        self.suffixCapacity = suffixCapacity
        self.maxBeams = maxBeams
        func make(_ n: Int) -> [Tensor.Storage] { (0..<layers).map { _ in Tensor.Storage(count: n, zeroed: false) } }
        prefixK = make(prefixCapacity * kvDim)
        prefixV = make(prefixCapacity * kvDim)
        let suffixCount = maxBeams * suffixCapacity * kvDim
        suffixK = make(suffixCount)
        suffixV = make(suffixCount)
        spareK = make(suffixCount)
        spareV = make(suffixCount)
    }

    /// Positions stored per beam (P + S); the next token goes to this position.
    public var length: Int { prefixLength + suffixLength }

    /// Forgets everything (capacity kept): P = S = 0, one beam.
    public func reset() {
        prefixLength = 0
        suffixLength = 0
        beams = 1
    }

    /// Re-forms the beams after a search step: new beam `b` continues old beam `parents[b]`
    /// (its suffix rows are copied; the prefix is shared). `parents.count` becomes the beam
    /// count, so this also expands the single post-prefill beam (`parents = [0, 0, …]`) or
    /// drops finished beams.
    public func select(parents: [Int]) {
        precondition(!parents.isEmpty && parents.count <= maxBeams,
                     "KVCache.select: \(parents.count) beams, capacity \(maxBeams)")
        precondition(parents.allSatisfy { $0 >= 0 && $0 < beams }, "KVCache.select: parent outside 0..<\(beams)")
        defer { beams = parents.count }
        if suffixLength == 0 || parents.elementsEqual(0..<parents.count) { return }
        let rowFloats = suffixLength * kvDim
        let beamStride = suffixCapacity * kvDim
        for l in 0..<layers {
            let (fromK, fromV, toK, toV) = (suffixK[l].pointer, suffixV[l].pointer, spareK[l].pointer, spareV[l].pointer)
            for (b, p) in parents.enumerated() {
                toK.advanced(by: b * beamStride).update(from: fromK.advanced(by: p * beamStride), count: rowFloats)
                toV.advanced(by: b * beamStride).update(from: fromV.advanced(by: p * beamStride), count: rowFloats)
            }
        }
        swap(&suffixK, &spareK)
        swap(&suffixV, &spareV)
    }

    /// An independent deep copy (same capacities, contents and lengths).
    public func copy() -> KVCache {
        let c = KVCache(layers: layers, kvDim: kvDim, prefixCapacity: prefixCapacity,
                        suffixCapacity: suffixCapacity, maxBeams: maxBeams)
        c.prefixLength = prefixLength
        c.suffixLength = suffixLength
        c.beams = beams
        let beamStride = suffixCapacity * kvDim
        for l in 0..<layers {
            c.prefixK[l].pointer.update(from: prefixK[l].pointer, count: prefixLength * kvDim)
            c.prefixV[l].pointer.update(from: prefixV[l].pointer, count: prefixLength * kvDim)
            for b in 0..<beams {
                let o = b * beamStride
                c.suffixK[l].pointer.advanced(by: o).update(from: suffixK[l].pointer.advanced(by: o), count: suffixLength * kvDim)
                c.suffixV[l].pointer.advanced(by: o).update(from: suffixV[l].pointer.advanced(by: o), count: suffixLength * kvDim)
            }
        }
        return c
    }

    /// Start of beam `b`'s suffix row `t` in layer `l`'s key (or value) buffer.
    @inline(__always) func suffixOffset(beam b: Int, position t: Int) -> Int {
        (b * suffixCapacity + t) * kvDim
    }
}
