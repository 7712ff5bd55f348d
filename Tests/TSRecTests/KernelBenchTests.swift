import Dispatch
import Foundation
import Testing
@testable import TSRec

/// Kernel timings at the SmolLM2-135M training shapes (16 sequences × 64 tokens, d = 576,
/// 9/3 heads of 64, ffn 1536, vocab 49152). Off by default; run with
/// `TSREC_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter KernelBench`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["TSREC_BENCH"] != nil))
struct KernelBenchTests {
    /// Best-of-`reps` wall time of `body` (after one warm-up run).
    static func seconds(_ reps: Int = 5, _ body: () -> Void) -> Double {
        seconds(reps, setup: { () }) { _ in body() }
    }

    static func cpuSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    static func ms(_ s: Double) -> String { String(format: "%.2f ms", s * 1e3) }

    /// Best-of-`reps` wall time of `measured` only, with `setup` run (untimed) before each.
    /// Also records the best process CPU time (all threads) in `lastCPU`: on a machine shared
    /// with other jobs, wall time measures the load, CPU time the work.
    static func seconds<S>(_ reps: Int = 5, setup: () -> S, _ measured: (S) -> Void) -> Double {
        measured(setup())
        var best = Double.infinity, bestCPU = Double.infinity
        for _ in 0..<reps {
            let s = setup()
            let c0 = cpuSeconds(), t0 = DispatchTime.now().uptimeNanoseconds
            measured(s)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
            bestCPU = min(bestCPU, cpuSeconds() - c0)
        }
        lastCPU.value = bestCPU
        return best
    }

    final class Box: @unchecked Sendable { var value = 0.0 }
    static let lastCPU = Box()
    static var cpu: String { String(format: "(CPU %.2f ms)", lastCPU.value * 1e3) }

    @Test func kernelsAtTrainingShapes() {
        print(BLAS.summary)
        var rng = SplitMix64(seed: 1)
        let (B, T, D, H, Hkv, Dh, F, V) = (16, 64, 576, 9, 3, 64, 1536, 49152)
        let N = B * T
        // sgemm reference speeds.
        for (m, n, k, tb) in [(N, F, D, true), (N, D, F, true), (N, V, D, true)] {
            let a = Tensor.randn([m, k], using: &rng), b = Tensor.randn([n, k], using: &rng), c = Tensor(zeros: [m, n])
            let s = Self.seconds(3) { sgemm(transA: false, transB: tb, m: m, n: n, k: k, a: a, b: b, c: c) }
            print("sgemm \(m)x\(n)x\(k): \(Self.ms(s)) \(Self.cpu)  \(String(format: "%.1f", 2 * Double(m * n * k) / s / 1e9)) GFLOP/s")
        }
        /// Forward alone, and backward alone (of Σ y ⊙ probe, the probe seeded directly as y's gradient).
        func fwdBwd(_ name: String, _ inputs: [Tensor], _ f: (Tape, [Tensor]) -> Tensor) {
            let fwd = Self.seconds { _ = f(Tape(recording: false), inputs) }
            let fwdCPU = Self.cpu
            let bwd = Self.seconds(setup: { () -> (Tape, Tensor) in
                for t in inputs { t.zeroGrad() }
                let tape = Tape()
                let y = f(tape, inputs)
                y.withUnsafeMutableGradBuffer { $0.update(repeating: 1e-3) }
                return (tape, y)
            }) { tape, y in
                let loss = Tensor(zeros: [1], requiresGrad: true)   // backward(from:) needs a scalar; y's grad is seeded
                tape.backward(from: loss)
                _ = y
            }
            print("\(name): forward \(Self.ms(fwd)) \(fwdCPU), backward \(Self.ms(bwd)) \(Self.cpu)")
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
        let ceFCPU = Self.cpu
        let ceB = Self.seconds(3, setup: { () -> (Tape, Tensor) in
            logits.zeroGrad()
            let tape = Tape()
            return (tape, tape.crossEntropy(logits: logits, targets: targets))
        }) { tape, loss in tape.backward(from: loss) }
        print("crossEntropy [1024, 49152]: forward \(Self.ms(ceF)) \(ceFCPU), backward \(Self.ms(ceB)) \(Self.cpu)")
        // AdamW over 30M parameters.
        let p = Tensor.randn([30_000_000 / 1000, 1000], requiresGrad: true, using: &rng)
        p.withUnsafeMutableGradBuffer { $0.update(repeating: 1e-3) }
        var opt = AdamW()
        let st = Self.seconds(3) { opt.step([p], learningRate: 1e-4) }
        print("AdamW step, 30M params: \(Self.ms(st)) \(Self.cpu)")
        let cl = Self.seconds(3) { _ = clipGradNorm([p], maxNorm: 1e9) }
        print("clipGradNorm, 30M params: \(Self.ms(cl)) \(Self.cpu)")
    }

    /// A SmolLM2-shaped training step with random weights and `layers` blocks (the llama
    /// model's op sequence), timed and counted in matmul FLOPs.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["TSREC_BENCH_STEP"] != nil)) func proxyTrainingStep() {
        var rng = SplitMix64(seed: 2)
        let L = Int(ProcessInfo.processInfo.environment["TSREC_BENCH_LAYERS"] ?? "") ?? 4   // 30 = SmolLM2-135M
        let (B, T, D, H, Hkv, Dh, F, V) = (16, 64, 576, 9, 3, 64, 1536, 49152)
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
        let s = Self.seconds(1) { _ = step() }
        let stepCPU = Self.lastCPU.value
        let perLayer = 2.0 * Double(N) * Double(D * D * 2 + Hkv * Dh * D * 2 + 3 * F * D) + 4.0 * Double(B * H * T * T * Dh)
        let head = 2.0 * Double(N) * Double(V * D)
        let flops = 3 * (Double(L) * perLayer + head)
        // The same linear-layer products alone: forward y = x·Wᵀ, backward dX = dY·W and dW = dYᵀ·X.
        var shapes: [(Int, Int)] = []                       // (out, in) per linear layer, in forward order
        for _ in 0..<L { shapes += [(D, D), (Hkv * Dh, D), (Hkv * Dh, D), (D, D), (F, D), (F, D), (D, F)] }
        shapes.append((V, D))
        let maxIn = F, maxOut = V
        let xs = Tensor.randn([N, maxIn], using: &rng), ws = Tensor.randn([maxOut, maxIn], std: 0.02, using: &rng)
        let ys = Tensor(zeros: [N, maxOut]), gw = Tensor(zeros: [maxOut, maxIn])
        let gemmOnly = Self.seconds(1) {
            for (o, i) in shapes {
                sgemm(transA: false, transB: true, m: N, n: o, k: i, a: xs, b: ws, c: ys)
                sgemm(transA: false, transB: false, m: N, n: i, k: o, a: ys, b: ws, beta: 1, c: xs)
                sgemm(transA: true, transB: false, m: o, n: i, k: N, a: ys, b: xs, beta: 1, c: gw)
            }
        }
        let gemmFlops = shapes.reduce(0.0) { $0 + 6 * Double(N) * Double($1.0 * $1.1) }
        print(String(format: "proxy step (%d layers + LM head + CE + clip + AdamW): %.0f ms, %.1f GFLOP/s counted (matmul + attention FLOPs)", L, s * 1e3, flops / s / 1e9))
        print(String(format: "  its linear-layer sgemm calls alone: %.0f ms (%.1f GFLOP/s) → everything else is %.0f%% of the step",
                     gemmOnly * 1e3, gemmFlops / gemmOnly / 1e9, 100 * (1 - gemmOnly / s)))
        print(String(format: "  process CPU: step %.0f ms, sgemm calls alone %.0f ms → everything else is %.0f%% of the step's CPU time",
                     stepCPU * 1e3, Self.lastCPU.value * 1e3, 100 * (1 - Self.lastCPU.value / stepCPU)))
    }
}
