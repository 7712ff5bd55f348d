// tsrec-bench: sgemm peak and one SmolLM2-135M training step (16 × 64 tokens, loss on all
// tokens, AdamW), reported as tokens/s, counted GFLOP/s, ratio to the measured sgemm peak and
// peak resident memory, beside the PyTorch CPU peer figure of METHOD.md.
import Foundation
import TSRec

/// Unbuffered line output: progress appears as it happens, also through a pipe.
func say(_ s: String) { FileHandle.standardOutput.write(Data((s + "\n").utf8)) }
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
func f1(_ x: Double) -> String { String(format: "%.1f", x) }
func f2(_ x: Double) -> String { String(format: "%.2f", x) }
func peakRSSGiB() -> Double {
    var u = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    return Double(u.ru_maxrss) * 1024 / 1_073_741_824   // ru_maxrss is KiB on Linux
}
let env = ProcessInfo.processInfo.environment
let steps = max(1, Int(env["TSREC_BENCH_STEPS"] ?? "") ?? 5)

// MARK: - BLAS and sgemm peak
say(BLAS.summary)
say("OPENBLAS_NUM_THREADS=\(env["OPENBLAS_NUM_THREADS"] ?? "unset") cores=\(ProcessInfo.processInfo.activeProcessorCount)")
var peak = 0.0
for (m, n, k) in [(1024, 1536, 576), (1024, 576, 1536), (2048, 2048, 2048)] {
    let a = Tensor(zeros: [m, k]), b = Tensor(zeros: [k, n]), c = Tensor(zeros: [m, n])
    for i in 0..<a.count { a.pointer[i] = Float(i % 7) * 0.1 }
    for i in 0..<b.count { b.pointer[i] = Float(i % 5) * 0.1 }
    var best = Double.infinity
    for _ in 0..<6 {
        let t0 = now()
        sgemm(transA: false, transB: false, m: m, n: n, k: k, a: a.pointer, b: b.pointer, c: c.pointer)
        best = min(best, now() - t0)
    }
    let gf = 2 * Double(m * n * k) / best / 1e9
    peak = max(peak, gf)
    say("sgemm \(m)x\(n)x\(k): best of 6 \(f2(best * 1e3)) ms, \(f1(gf)) GFLOP/s")
}
say("sgemm peak (best shape): \(f1(peak)) GFLOP/s")
// Decoding shapes: y = x·Wᵀ with W [1536, 576], M = rows (beams × prompts)
var sweep: [String] = []
for m in [1, 20, 80, 320, 1024] {
    let x = Tensor(zeros: [m, 576]), w = Tensor(zeros: [1536, 576]), y = Tensor(zeros: [m, 1536])
    var best = Double.infinity
    for _ in 0..<max(3, 2000 / m) {
        let t0 = now()
        sgemm(transA: false, transB: true, m: m, n: 1536, k: 576, a: x.pointer, b: w.pointer, c: y.pointer)
        best = min(best, now() - t0)
    }
    sweep.append("M=\(m) \(f1(2 * Double(m * 1536 * 576) / best / 1e9))")
}
say("sgemm x·Wᵀ (N=1536, K=576) GFLOP/s by rows: \(sweep.joined(separator: ", "))")

// MARK: - Model
let gguf = env["TSREC_GGUF"].map { URL(fileURLWithPath: $0) }
    ?? Paths.fromEnvironment().models.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf")
let model: Llama
if FileManager.default.fileExists(atPath: gguf.path) {
    model = try Llama.load(contentsOf: gguf)
    say("model: \(gguf.path)")
} else {
    var rng = SplitMix64(seed: 1)
    model = try Llama(random: .smolLM2_135M, using: &rng)
    say("model: \(gguf.path) not found, random init with the same shape (speed is identical)")
}
let c = model.config
say("config: \(c.layers) layers, d=\(c.dim), ffn \(c.ffnDim), heads \(c.heads)/\(c.kvHeads)×\(c.headDim), vocab \(c.vocabSize); \(c.parameterCount) parameters")

// MARK: - Training step: 16 × 64 tokens, loss on all tokens (full LM head), AdamW
let B = 16, T = 64, N = B * T
var dataRNG = SplitMix64(seed: 42)
let seqs = (0..<B).map { _ in (0...T).map { _ in Int32(dataRNG.next() % UInt64(c.vocabSize)) } }
let tokens = seqs.flatMap { $0.prefix(T) }, targets = seqs.flatMap { $0.dropFirst() }
let params = model.parameters.map(\.tensor)
var opt = AdamW(learningRate: 1e-5, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01)
var fwd: [Double] = [], bwd: [Double] = [], optT: [Double] = [], total: [Double] = []
for step in 0...steps {                                     // step 0 is the warm-up
    let t0 = now()
    for p in params { p.zeroGrad() }
    let tape = Tape()
    let loss = model.loss(tape: tape, tokens: tokens, targets: targets, batch: B, seq: T)
    let t1 = now()
    tape.backward(from: loss)
    let t2 = now()
    opt.step(params, learningRate: 1e-5)
    let t3 = now()
    say("step \(step)\(step == 0 ? " (warm-up)" : "") loss \(String(format: "%.4f", loss.item)) forward \(f2(t1 - t0)) s backward \(f2(t2 - t1)) s adamw \(f2(t3 - t2)) s total \(f2(t3 - t0)) s")
    if step > 0 { fwd.append(t1 - t0); bwd.append(t2 - t1); optT.append(t3 - t2); total.append(t3 - t0) }
}

// MARK: - Inference: prefill a 70-token prompt, then beam-20 decode steps (SID decoding shape)
let prompt = Array(tokens.prefix(70))
let cache = model.makeCache(promptCapacity: 70, maxNewTokens: 4, maxBeams: 20)
var prefillT: [Double] = [], decodeT: [Double] = []
for _ in 0..<3 {
    let t0 = now()
    _ = model.prefill(prompt, cache: cache)
    let t1 = now()
    cache.select(parents: [Int](repeating: 0, count: 20))
    for s in 0..<3 {
        let t2 = now()
        _ = model.decode((0..<20).map { Int32(100 + s * 20 + $0) }, cache: cache)
        decodeT.append(now() - t2)
        cache.select(parents: (0..<20).map { ($0 * 7) % 20 })
    }
    prefillT.append(t1 - t0)
}
let prefillFlops = 2 * Double(c.matmulParameters - c.vocabSize * c.dim) * 70 + 2 * Double(c.vocabSize * c.dim)
let decodeFlops = 2 * Double(c.matmulParameters) * 20
say("inference: prefill 70 tokens \(f1(median(prefillT) * 1e3)) ms (\(f1(prefillFlops / median(prefillT) / 1e9)) GFLOP/s), "
      + "decode step × 20 beams \(f1(median(decodeT) * 1e3)) ms (\(f1(decodeFlops / median(decodeT) / 1e9)) GFLOP/s)")

// MARK: - Report
// FLOPs: 6 · (parameters in matmuls, tied head once) · tokens (forward 2, backward 4), plus
// attention: per layer q·kᵀ and p·v are 2·B·T²·H·Dh each (full square, causal mask not
// discounted) in the forward, ×3 for forward + backward → 12·L·B·T²·H·Dh.
let matmulFlops = 6 * Double(c.matmulParameters) * Double(N)
let attnFlops = 12 * Double(c.layers * B * T * T * c.heads * c.headDim)
let flops = matmulFlops + attnFlops
let med = median(total)
let gflops = flops / med / 1e9
say("")
say("FLOPs/step = 6·\(c.matmulParameters)·\(N) + 12·L·B·T²·H·Dh = \(f1(matmulFlops / 1e9)) + \(f1(attnFlops / 1e9)) = \(f1(flops / 1e9)) GFLOP")
say("median of \(steps) steps: \(f2(med)) s (forward \(f2(median(fwd))), backward \(f2(median(bwd))), adamw \(f2(median(optT))))")
say("tsrec:   \(f1(Double(N) / med)) tokens/s, \(f1(gflops)) GFLOP/s, \(f2(gflops / peak)) of sgemm peak \(f1(peak)) GFLOP/s")
say("PyTorch: 137 tokens/s, ~111 GFLOP/s (CPU eager fp32, same workload; METHOD.md peer figure, median step 7.5 s)")
say("peak resident memory: \(f2(peakRSSGiB())) GiB")
