import Dispatch
import Foundation
import Testing
@testable import TSRec

/// Kernel timings at the SmolLM2-135M training shapes (16 sequences × 64 tokens, d = 576,
/// 9/3 heads of 64, ffn 1536, vocab 49152). Off by default; run with
/// `TSREC_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter KernelBench`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["TSREC_BENCH"] != nil))
struct KernelBenchTests {
    static func seconds(_ reps: Int = 5, _ body: () -> Void) -> Double {
        body()                                              // warm-up (first-touch page faults)
        var best = Double.infinity
        for _ in 0..<reps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        return best
    }

    static func ms(_ s: Double) -> String { String(format: "%.2f ms", s * 1e3) }

    @Test func kernelsAtTrainingShapes() {
        print(BLAS.summary)
        var rng = SplitMix64(seed: 1)
        let (B, T, D, H, Hkv, Dh, F, V) = (16, 64, 576, 9, 3, 64, 1536, 49152)
        let N = B * T
        // sgemm reference speeds.
        for (m, n, k, tb) in [(N, F, D, true), (N, D, F, true), (N, V, D, true)] {
            let a = Tensor.randn([m, k], using: &rng), b = Tensor.randn([n, k], using: &rng), c = Tensor(zeros: [m, n])
            let s = Self.seconds(3) { sgemm(transA: false, transB: tb, m: m, n: n, k: k, a: a.pointer, b: b.pointer, c: c.pointer) }
            print("sgemm \(m)x\(n)x\(k): \(Self.ms(s))  \(String(format: "%.1f", 2 * Double(m * n * k) / s / 1e9)) GFLOP/s")
        }
        func fwdBwd(_ name: String, _ inputs: [Tensor], _ f: (Tape, [Tensor]) -> Tensor) {
            let fwd = Self.seconds { _ = f(Tape(recording: false), inputs) }
            let both = Self.seconds {
                let tape = Tape()
                let y = f(tape, inputs)
                y.grad.update(repeating: 1e-3)
                let loss = tape.sum(tape.scale(y, by: 0))        // cheap scalar to start backward
                _ = loss
                tape.backward(from: loss)
            }
            print("\(name): forward \(Self.ms(fwd)), forward+backward \(Self.ms(both))")
        }
        let x = Tensor.randn([N, D], requiresGrad: true, using: &rng)
        let w = Tensor.randn([D], requiresGrad: true, using: &rng)
        fwdBwd("rmsNorm [1024, 576]", [x, w]) { t, i in t.rmsNorm(i[0], weight: i[1], eps: 1e-5) }
        fwdBwd("rope q [1024, 9×64]", [x]) { t, i in t.rope(i[0], heads: H, positions: (0..<N).map { Int32($0 % T) }, base: 100_000) }
        let g = Tensor.randn([N, F], requiresGrad: true, using: &rng), u = Tensor.randn([N, F], requiresGrad: true, using: &rng)
        fwdBwd("swiglu [1024, 1536]", [g, u]) { t, i in t.swiglu(gate: i[0], up: i[1]) }
        fwdBwd("gelu [1024, 1536]", [g]) { t, i in t.gelu(i[0]) }
        let q = Tensor.randn([N, H * Dh], requiresGrad: true, using: &rng)
        let k = Tensor.randn([N, Hkv * Dh], requiresGrad: true, using: &rng), v = Tensor.randn([N, Hkv * Dh], requiresGrad: true, using: &rng)
        fwdBwd("attention B16 T64 H9/3 Dh64", [q, k, v]) { t, i in
            t.attention(q: i[0], k: i[1], v: i[2], batch: B, seq: T, heads: H, kvHeads: Hkv)
        }
        let table = Tensor.randn([V, D], requiresGrad: true, using: &rng)
        let ids = (0..<N).map { _ in Int32(rng.next() % UInt64(V)) }
        fwdBwd("embedding [49152, 576] × 1024 ids", [table]) { t, i in t.embedding(i[0], ids: ids) }
        let logits = Tensor.randn([N, V], std: 2, requiresGrad: true, using: &rng)
        let targets = (0..<N).map { _ in Int32(rng.next() % UInt64(V)) }
        let ceF = Self.seconds(3) { _ = Tape(recording: false).crossEntropy(logits: logits, targets: targets) }
        let ceB = Self.seconds(3) {
            let tape = Tape()
            tape.backward(from: tape.crossEntropy(logits: logits, targets: targets))
        }
        print("crossEntropy [1024, 49152]: forward \(Self.ms(ceF)), forward+backward \(Self.ms(ceB)) (backward accumulates into an existing grad)")
        // AdamW over 30M parameters.
        let p = Tensor.randn([30_000_000 / 1000, 1000], requiresGrad: true, using: &rng)
        p.grad.update(repeating: 1e-3)
        var opt = AdamW()
        let st = Self.seconds(3) { opt.step([p], learningRate: 1e-4) }
        print("AdamW step, 30M params: \(Self.ms(st))")
        let cl = Self.seconds(3) { _ = clipGradNorm([p], maxNorm: 1e9) }
        print("clipGradNorm norm, 30M params: \(Self.ms(cl))")
    }

    /// A SmolLM2-shaped training step with random weights and `layers` blocks (the llama
    /// model's op sequence), timed and counted in matmul FLOPs.
    @Test func proxyTrainingStep() {
        var rng = SplitMix64(seed: 2)
        let (B, T, D, H, Hkv, Dh, F, V, L) = (16, 64, 576, 9, 3, 64, 1536, 49152, 4)
        let N = B * T
        func w(_ s: [Int], std: Float = 0.02) -> Tensor { Tensor.randn(s, std: std, requiresGrad: true, using: &rng) }
        let emb = w([V, D])
        struct Block { let n1, wq, wk, wv, wo, n2, wg, wu, wd: Tensor }
        let blocks = (0..<L).map { _ in
            Block(n1: Tensor([Float](repeating: 1, count: D), shape: [D], requiresGrad: true),
                  wq: w([D, D]), wk: w([Hkv * Dh, D]), wv: w([Hkv * Dh, D]), wo: w([D, D]),
                  n2: Tensor([Float](repeating: 1, count: D), shape: [D], requiresGrad: true),
                  wg: w([F, D]), wu: w([F, D]), wd: w([D, F]))
        }
        let nf = Tensor([Float](repeating: 1, count: D), shape: [D], requiresGrad: true)
        let ids = (0..<N).map { _ in Int32(rng.next() % UInt64(V)) }
        let targets = (0..<N).map { _ in Int32(rng.next() % UInt64(V)) }
        let pos = (0..<N).map { Int32($0 % T) }
        var params = [emb, nf]
        for b in blocks { params += [b.n1, b.wq, b.wk, b.wv, b.wo, b.n2, b.wg, b.wu, b.wd] }
        var opt = AdamW(learningRate: 1e-4)
        func step() -> Float {
            let t = Tape()
            var x = t.embedding(emb, ids: ids)
            for b in blocks {
                let h = t.rmsNorm(x, weight: b.n1, eps: 1e-5)
                let q = t.rope(t.matmul(h, b.wq, transposeB: true), heads: H, positions: pos, base: 100_000)
                let k = t.rope(t.matmul(h, b.wk, transposeB: true), heads: Hkv, positions: pos, base: 100_000)
                let v = t.matmul(h, b.wv, transposeB: true)
                let a = t.attention(q: q, k: k, v: v, batch: B, seq: T, heads: H, kvHeads: Hkv)
                x = t.add(x, t.matmul(a, b.wo, transposeB: true))
                let h2 = t.rmsNorm(x, weight: b.n2, eps: 1e-5)
                let m = t.swiglu(gate: t.matmul(h2, b.wg, transposeB: true), up: t.matmul(h2, b.wu, transposeB: true))
                x = t.add(x, t.matmul(m, b.wd, transposeB: true))
            }
            let logits = t.matmul(t.rmsNorm(x, weight: nf, eps: 1e-5), emb, transposeB: true)
            let loss = t.crossEntropy(logits: logits, targets: targets)
            for p in params { p.zeroGrad() }
            t.backward(from: loss)
            _ = clipGradNorm(params, maxNorm: 1)
            opt.step(params, learningRate: 1e-4)
            return loss.item
        }
        let s = Self.seconds(2) { _ = step() }
        let perLayer = 2.0 * Double(N) * Double(D * D * 2 + Hkv * Dh * D * 2 + 3 * F * D) + 4.0 * Double(B * H * T * T * Dh)
        let head = 2.0 * Double(N) * Double(V * D)
        let flops = 3 * (Double(L) * perLayer + head)
        let a = Tensor.randn([N, D], using: &rng), bb = Tensor.randn([F, D], using: &rng), c = Tensor(zeros: [N, F])
        let gs = Self.seconds(3) { sgemm(transA: false, transB: true, m: N, n: F, k: D, a: a.pointer, b: bb.pointer, c: c.pointer) }
        let peak = 2 * Double(N * F * D) / gs
        print(String(format: "proxy step (%d layers + LM head + CE + clip + AdamW): %.0f ms, %.1f GFLOP/s counted (matmul+attention FLOPs), sgemm 1024x1536x576 now %.1f GFLOP/s → %.0f%%",
                     L, s * 1e3, flops / s / 1e9, peak / 1e9, 100 * flops / s / peak))
    }
}
