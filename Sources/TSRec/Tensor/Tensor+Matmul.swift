import COpenBLAS

/// `c[m, n] = alpha · op(a)[m, k] · op(b)[k, n] + beta · c`, row-major, via `cblas_sgemm`, or,
/// while `Kernels.bf16Matmul` is set and the product is not small, with bf16-rounded operands on
/// oneDNN (`BF16Matmul`).
/// The one BLAS call site of the engine; `beta = 1` accumulates, which the backward passes use
/// to add into gradient buffers without a temporary.
@inline(__always)
public func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
                  b: UnsafePointer<Float>, ldb: Int? = nil,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil) {
    guard m > 0, n > 0 else { return }
    if k == 0 {  // op(a)·op(b) is the zero matrix: c = beta·c
        for i in 0..<m { for j in 0..<n { c[i * (ldc ?? n) + j] *= beta } }
        return
    }
    if let bf16 = Kernels.bf16Matmul, m * n * k >= bf16.smallestProduct {
        bf16.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                  a: a, lda: lda ?? (transA ? m : k), b: b, ldb: ldb ?? (transB ? k : n),
                  beta: beta, c: c, ldc: ldc ?? n)
        return
    }
    cblas_sgemm(CblasRowMajor,
                transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha,
                a, Int32(lda ?? (transA ? m : k)),
                b, Int32(ldb ?? (transB ? k : n)),
                beta, c, Int32(ldc ?? n))
}

/// `sgemm` on whole tensors (no graph edge): the same product, with every operand's extent
/// checked against its leading dimension first, so it cannot read or write past a tensor.
public func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: Tensor, lda: Int? = nil, b: Tensor, ldb: Int? = nil,
                  beta: Float = 0, c: Tensor, ldc: Int? = nil) {
    /// Floats spanned by `rows` rows of `cols` values, `ld` apart.
    func extent(_ rows: Int, _ cols: Int, _ ld: Int) -> Int { rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols }
    let (aRows, aCols) = transA ? (k, m) : (m, k), (bRows, bCols) = transB ? (n, k) : (k, n)
    precondition(extent(aRows, aCols, lda ?? aCols) <= a.count && extent(bRows, bCols, ldb ?? bCols) <= b.count
                 && extent(m, n, ldc ?? n) <= c.count,
                 "sgemm: [\(m), \(k)]·[\(k), \(n)] does not fit a \(a.shape), b \(b.shape), c \(c.shape)")
    withPointers(a, b, c) { pa, pb, pc in
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: pa, lda: lda, b: pb, ldb: ldb,
              beta: beta, c: pc, ldc: ldc)
    }
}

extension Tape {
    /// Matrix product over the last dimension of `a`: `a [..., K] · b [K, N] → [..., N]`, or
    /// with `transposeB`, `a [..., K] · bᵀ` for `b [N, K]` (the layout of a linear layer's
    /// weight `[out, in]`, so `matmul(x, w, transposeB: true)` is `x Wᵀ`).
    ///
    /// Backward (Y = A·op(B)):  dA += dY·op(B)ᵀ;  dB += Aᵀ·dY (or dYᵀ·A when B was transposed).
    public func matmul(_ a: Tensor, _ b: Tensor, transposeB: Bool = false) -> Tensor {
        precondition(b.rank == 2, "matmul: b must be rank 2, got \(b.shape)")
        let K = a.shape.last ?? 0
        let M = a.count / max(K, 1)
        let (bRows, bCols) = b.dims2()
        let N = transposeB ? bRows : bCols
        precondition((transposeB ? bCols : bRows) == K,
                     "matmul: a \(a.shape) · b\(transposeB ? "ᵀ" : "") \(b.shape): inner dimensions differ")
        let y = Tensor(uninitialized: Array(a.shape.dropLast()) + [N], requiresGrad: needsGrad(a, b))
        withPointers(y, a, b) { py, pa, pb in
            sgemm(transA: false, transB: transposeB, m: M, n: N, k: K, a: pa, b: pb, c: py)
        }
        guard y.requiresGrad else { return y }
        record {
            y.withAccumulatedGrad { dy in
                withPointers(a, b) { pa, pb in
                    if a.requiresGrad {  // dA[M,K] += dY[M,N] · op(B)ᵀ
                        a.withGradPointer { da in
                            sgemm(transA: false, transB: !transposeB, m: M, n: K, k: N, a: dy, b: pb, beta: 1, c: da)
                        }
                    }
                    if b.requiresGrad {
                        b.withGradPointer { db in
                            if transposeB {  // dB[N,K] += dYᵀ[N,M] · A[M,K]
                                sgemm(transA: true, transB: false, m: N, n: K, k: M, a: dy, b: pa, beta: 1, c: db)
                            } else {         // dB[K,N] += Aᵀ[K,M] · dY[M,N]
                                sgemm(transA: true, transB: false, m: K, n: N, k: M, a: pa, b: dy, beta: 1, c: db)
                            }
                        }
                    }
                }
            }
        }
        return y
    }
}
