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

    /// Mean of the rows of `ids` (repeats count), rescaled to `norm` (default `meanRowNorm`) as
    /// the authors do: × norm / (‖mean‖ + 1e-6). Returns nil for an empty list (the caller falls
    /// back and says so).
    public func rescaledMean(of ids: [Int], toNorm norm: Double? = nil) -> [Float]? {
        guard !ids.isEmpty else { return nil }
        var mean = [Double](repeating: 0, count: dim)
        for id in ids {
            precondition(id >= 0 && id < vocab, "SIDEmbeddingInit: token id \(id) outside the pretrained vocabulary")
            for j in 0..<dim { mean[j] += Double(table[id * dim + j]) }
        }
        for j in 0..<dim { mean[j] /= Double(ids.count) }
        let length = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let s = (norm ?? Double(meanRowNorm)) / (length + 1e-6)
        return mean.map { Float($0 * s) }
    }

    /// Sum of the pretrained rows' L2 norms (what the authors' running mean norm starts from).
    public var rowNormSum: Double { Double(meanRowNorm) * Double(vocab) }

    /// Mean of all pretrained rows (not rescaled: that is what "vocabulary mean" means).
    public func vocabularyMean() -> [Float] {
        var mean = [Double](repeating: 0, count: dim)
        for r in 0..<vocab { for j in 0..<dim { mean[j] += Double(table[r * dim + j]) } }
        return mean.map { Float($0 / Double(vocab)) }
    }

    /// The distribution HF `resize_token_embeddings` draws new rows from by default (see
    /// `MeanResizing`), fitted to this table.
    public func meanResizing() -> MeanResizing { MeanResizing(table: table, vocab: vocab, dim: dim) }

    /// `[dim]` standard normal entries: the draws `.random` and `.initializerRange` rows scale.
    public func unitGaussianRow(using rng: inout SplitMix64) -> [Float] {
        (0..<dim).map { _ in rng.nextGaussian() }
    }

    /// A `.random` row: standard normal draws `unit` scaled to a per-entry standard deviation of
    /// `scale × entryRMS`.
    public func randomRow(_ unit: [Float], scale: Float) -> [Float] {
        unit.map { $0 * scale * entryRMS }
    }

    /// What `resize_token_embeddings` gives new rows under transformers before 4.46 (no
    /// `mean_resizing` yet): a fresh `nn.Embedding` through the model's `_init_weights`, every
    /// entry N(0, initializer_range²), the pretrained rows then copied back (4.35.2 and 4.45.2
    /// `modeling_utils.py` `_get_resized_embeddings`, `modeling_llama.py` `_init_weights`; the
    /// tied head shares the rows). LC-Rec's start: its `finetune.py` (Nov 2023, torch 1.13.1)
    /// predates 4.46. `unit` holds standard normal draws.
    public static func initializerRangeRow(_ unit: [Float], initializerRange: Float) -> [Float] {
        unit.map { $0 * initializerRange }
    }
}

import COpenBLAS

/// What `model.resize_token_embeddings(n)` does to the new rows in the authors' code
/// (transformers 4.57.1, where `mean_resizing=True` is the default): each new row is a draw of
/// N(μ, ε·Σ) with μ the pretrained rows' mean, Σ their covariance `CᵀC / vocab` (C the centred
/// rows, divided by vocab, not vocab − 1) and ε = 1e-9; when ε·Σ is not positive definite (its
/// Cholesky factorisation fails) every new row is exactly μ. The noise is ~3·10⁻⁵ of an entry's
/// spread, so every SID row starts, in effect, at the vocabulary mean. This is the start of
/// MiniOneRec's SID tokens and of TS-Rec without SA-Init.
///
/// Our draws come from tsrec's RNG, not PyTorch's (same distribution, other samples), and the
/// rows stay fp32: in a bf16 model the authors' noise rounds away and the rows are identical.
public struct MeanResizing: Sendable {
    public static let epsilon = 1e-9
    /// μ, `[dim]`.
    public let mean: [Double]
    /// Σ, `[dim, dim]` row-major (symmetric).
    public let covariance: [Double]
    /// Lower-triangular L with L·Lᵀ = ε·Σ, `[dim, dim]` row-major; nil = not positive definite.
    public let factor: [Double]?
    public let dim: Int

    /// Fits μ and Σ to `table` `[vocab, dim]` in Double (Σ by `dsyrk` over blocks of centred rows).
    public init(table: UnsafeBufferPointer<Float>, vocab: Int, dim: Int) {
        precondition(vocab > 0 && table.count == vocab * dim, "MeanResizing: \(table.count) values for \(vocab)×\(dim)")
        var mean = [Double](repeating: 0, count: dim)
        for r in 0..<vocab { for j in 0..<dim { mean[j] += Double(table[r * dim + j]) } }
        for j in 0..<dim { mean[j] /= Double(vocab) }
        var cov = [Double](repeating: 0, count: dim * dim)
        let block = 4096
        var centred = [Double](repeating: 0, count: block * dim)   // [rows, dim]
        for start in stride(from: 0, to: vocab, by: block) {
            let n = min(block, vocab - start)
            for r in 0..<n { for j in 0..<dim { centred[r * dim + j] = Double(table[(start + r) * dim + j]) - mean[j] } }
            // cov (lower) += centredᵀ · centred
            cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, Int32(dim), Int32(n), 1, centred, Int32(dim), 1, &cov, Int32(dim))
        }
        for i in 0..<dim {
            for j in 0...i {
                cov[i * dim + j] /= Double(vocab)
                cov[j * dim + i] = cov[i * dim + j]
            }
        }
        self.mean = mean
        self.covariance = cov
        self.dim = dim
        self.factor = Self.cholesky(cov.map { $0 * Self.epsilon }, dim)
    }

    /// Lower Cholesky factor of a symmetric `[n, n]` matrix, or nil when a pivot is not positive
    /// (the matrix is not positive definite) — the test HF applies before sampling.
    static func cholesky(_ a: [Double], _ n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for j in 0..<n {
            var d = a[j * n + j]
            for k in 0..<j { d -= l[j * n + k] * l[j * n + k] }
            guard d > 0, d.isFinite else { return nil }
            let ljj = d.squareRoot()
            l[j * n + j] = ljj
            for i in (j + 1)..<max(n, j + 1) {
                var s = a[i * n + j]
                for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                l[i * n + j] = s / ljj
            }
        }
        return l
    }

    /// One new row: μ + L·z with z ~ N(0, I), or μ when Σ is not positive definite.
    public func sample(using rng: inout SplitMix64) -> [Float] {
        guard let l = factor else { return mean.map(Float.init) }
        let z = (0..<dim).map { _ in Double(rng.nextGaussian()) }
        return (0..<dim).map { i in
            var s = mean[i]
            for k in 0...i { s += l[i * dim + k] * z[k] }
            return Float(s)
        }
    }
}
