/// Initial embedding rows for new SID tokens (SA-Init and its alternatives).
///
/// SA-Init (METHOD.md): tokenize a token's keywords, space-joined, with the backbone's own
/// tokenizer; take the mean of those tokens' pretrained input-embedding rows; rescale the mean
/// to the average L2 norm of all pretrained rows. Averaging shrinks norms (the rows point in
/// different directions), so without the rescale the new rows would start much shorter than
/// every real token's.
public struct SIDEmbeddingInit {
    /// Pretrained embedding `[vocab, dim]` (read only).
    public let table: UnsafeBufferPointer<Float>
    public let vocab: Int
    public let dim: Int
    /// Mean L2 norm of the pretrained rows: the target norm of SA-Init rows.
    public let meanRowNorm: Float
    /// Root mean square of all pretrained entries: the scale of `.random` rows.
    public let entryRMS: Float

    public init(table: UnsafeBufferPointer<Float>, vocab: Int, dim: Int) {
        precondition(table.count == vocab * dim, "SIDEmbeddingInit: table has \(table.count) values, expected \(vocab)×\(dim)")
        self.table = table
        self.vocab = vocab
        self.dim = dim
        var normSum = 0.0, squareSum = 0.0
        for r in 0..<vocab {
            var s = 0.0
            for j in 0..<dim { let x = Double(table[r * dim + j]); s += x * x }
            normSum += s.squareRoot()
            squareSum += s
        }
        meanRowNorm = Float(normSum / Double(vocab))
        entryRMS = Float((squareSum / Double(vocab * dim)).squareRoot())
    }

    /// Mean of the rows of `ids` (repeats count), rescaled to `meanRowNorm`.
    /// Returns nil for an empty list (the caller falls back and says so).
    public func rescaledMean(of ids: [Int]) -> [Float]? {
        guard !ids.isEmpty else { return nil }
        var mean = [Double](repeating: 0, count: dim)
        for id in ids {
            precondition(id >= 0 && id < vocab, "SIDEmbeddingInit: token id \(id) outside the pretrained vocabulary")
            for j in 0..<dim { mean[j] += Double(table[id * dim + j]) }
        }
        let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard norm > 0 else { return nil }
        let s = Double(meanRowNorm) / norm
        return mean.map { Float($0 * s) }
    }

    /// Mean of all pretrained rows (not rescaled: that is what "vocabulary mean" means).
    public func vocabularyMean() -> [Float] {
        var mean = [Double](repeating: 0, count: dim)
        for r in 0..<vocab { for j in 0..<dim { mean[j] += Double(table[r * dim + j]) } }
        return mean.map { Float($0 / Double(vocab)) }
    }

    /// Gaussian row with per-entry standard deviation `scale × entryRMS`.
    public func randomRow(scale: Float, using rng: inout SplitMix64) -> [Float] {
        (0..<dim).map { _ in rng.nextGaussian() * scale * entryRMS }
    }
}
