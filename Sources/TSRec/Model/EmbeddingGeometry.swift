/// How a group of embedding rows sits in the space: their mean length, how alike they are to
/// each other, and how much they lean on the direction every pretrained row shares.
///
/// Used to read the initialisation ablation before any training: rows that start almost
/// identical (mean pairwise cosine near 1) give the model little to tell the SID tokens of a
/// level apart, and rows long along the shared direction get large logits through the tied
/// output matrix whatever the context.
public struct EmbeddingGeometry: Sendable, Equatable {
    /// Number of rows in the group.
    public var rows: Int
    /// Mean L2 norm of the rows.
    public var meanNorm: Double
    /// Mean cosine over all unordered pairs of distinct rows (nil for fewer than two rows).
    public var meanPairwiseCosine: Double?
    /// Mean cosine between each row and `reference` (nil without a reference).
    public var meanCosineToReference: Double?

    /// Summarises `count` rows of length `dim` starting at `rows`.
    ///
    /// The mean pairwise cosine takes one pass: with unit rows `u_i`,
    /// `Σ_{i≠j} u_i·u_j = |Σ u_i|² − n`, so the mean over the `n(n−1)/2` pairs is
    /// `(|Σ u_i|² − n) / (n(n−1))`. Zero rows have no direction and are left out of both cosines.
    public init(rows: UnsafeBufferPointer<Float>, count: Int, dim: Int, reference: [Float]? = nil) {
        precondition(rows.count >= count * dim, "EmbeddingGeometry: \(rows.count) values for \(count) rows of \(dim)")
        precondition(reference.map { $0.count == dim } ?? true, "EmbeddingGeometry: reference has the wrong length")
        let refNorm = reference.map { r in r.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
        var unitSum = [Double](repeating: 0, count: dim)          // Σ u_i  [dim]
        var normSum = 0.0, cosToRef = 0.0, directed = 0
        for i in 0..<count {
            let row = UnsafeBufferPointer(rebasing: rows[(i * dim)..<((i + 1) * dim)])
            let norm = row.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            normSum += norm
            guard norm > 0 else { continue }
            directed += 1
            for j in 0..<dim { unitSum[j] += Double(row[j]) / norm }
            if let reference, let refNorm, refNorm > 0 {
                var dot = 0.0
                for j in 0..<dim { dot += Double(row[j]) * Double(reference[j]) }
                cosToRef += dot / (norm * refNorm)
            }
        }
        self.rows = count
        meanNorm = count > 0 ? normSum / Double(count) : 0
        let n = Double(directed)
        let sumSquared = unitSum.reduce(0) { $0 + $1 * $1 }
        meanPairwiseCosine = directed > 1 ? (sumSquared - n) / (n * (n - 1)) : nil
        meanCosineToReference = (reference != nil && (refNorm ?? 0) > 0 && directed > 0) ? cosToRef / n : nil
    }
}
