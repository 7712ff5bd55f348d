// tsrec-bench (`make bench`): sgemm peak, one SmolLM2-135M training step (16 × 64 tokens, loss
// on all tokens, AdamW) as tokens/s, counted GFLOP/s, ratio to the measured sgemm peak and peak
// resident memory; the PyTorch peer on the same workload, alternated with tsrec in the same run,
// and the median ratio of the pairs; where the step's time goes;
// KV-cache inference at the SID-decoding shape; evaluation on synthetic and on real test prompts.
//
// Environment: TSREC_GGUF (model file), TSREC_BENCH_STEPS (timed steps, default 5, after one
// warm-up), TSREC_BENCH_MODE=all|train|infer (default all), TSREC_BENCH_PEER (the PyTorch peer's
// launcher, scripts/torch-peer.sh under `make bench`; unset: no peer), TSREC_BENCH_PAIRS
// (alternating tsrec/PyTorch pairs, default 3), TSREC_BENCH_EVAL_ROWS (real test rows for the
// evaluation lines, default 96), TSREC_BENCH_TITLE_ROWS (rows of the title-trie timing, default 0: off),
// TSREC_BENCH_TRAIN_MICROBATCHES (micro-batches of real training samples, default 8, 0: off),
// TSREC_BENCH_BF16 (0: skip the bf16-products lines).
import Foundation
import TSRec

Launch.prepare()

/// Unbuffered line output: progress appears as it happens, also through a pipe.
func say(_ s: String) { FileHandle.standardOutput.write(Data((s + "\n").utf8)) }
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? .nan : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
func f1(_ x: Double) -> String { String(format: "%.1f", x) }
func f2(_ x: Double) -> String { String(format: "%.2f", x) }
func peakRSSGiB() -> Double {
    var u = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    return Double(u.ru_maxrss) * 1024 / 1_073_741_824   // ru_maxrss is KiB on Linux
}

/// User + system CPU seconds of this process so far (wall ≫ CPU / cores means the cores were shared).
func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6
}

/// One GEMM of the training step: c[m, n] (+)= op(a)[m, k] · op(b)[k, n].
struct Gemm: Hashable { let ta: Bool, tb: Bool, m: Int, n: Int, k: Int }
/// y[rows, out] = x[rows, in] · W[out, in]ᵀ: forward, dX = dY · W, dW += dYᵀ · X.
func linearGemms(rows: Int, out: Int, in inDim: Int) -> [Gemm] {
    [Gemm(ta: false, tb: true, m: rows, n: out, k: inDim), Gemm(ta: false, tb: false, m: rows, n: inDim, k: out),
     Gemm(ta: true, tb: false, m: out, n: inDim, k: rows)]
}
/// Seconds to run `gemms` as bare sgemm calls on scratch buffers.
func replay(_ gemms: [Gemm], _ buffers: [Gemm: (Tensor, Tensor, Tensor)]) -> Double {
    let t0 = now()
    for g in gemms {
        let (a, b, y) = buffers[g]!
        sgemm(transA: g.ta, transB: g.tb, m: g.m, n: g.n, k: g.k, a: a, b: b, beta: g.ta ? 1 : 0, c: y)
    }
    return now() - t0
}
/// Best GFLOP/s of `reps` runs of one sgemm shape.
func sgemmRate(m: Int, n: Int, k: Int, transB: Bool = false, reps: Int) -> Double {
    let a = Tensor(zeros: [m, k]), b = Tensor(zeros: [k, n]), y = Tensor(zeros: [m, n])
    a.copy(from: (0..<a.count).map { Float($0 % 7) * 0.1 })
    b.copy(from: (0..<b.count).map { Float($0 % 5) * 0.1 })
    var best = Double.infinity
    for _ in 0..<reps {
        let t0 = now()
        sgemm(transA: false, transB: transB, m: m, n: n, k: k, a: a, b: b, c: y)
        best = min(best, now() - t0)
    }
    return 2 * Double(m * n * k) / best / 1e9
}

let env = ProcessInfo.processInfo.environment
let steps = max(1, Int(env["TSREC_BENCH_STEPS"] ?? "") ?? 5)
let mode = env["TSREC_BENCH_MODE"] ?? "all"

// MARK: - BLAS and sgemm peak
say(BLAS.summary)
say("OPENBLAS_NUM_THREADS=\(env["OPENBLAS_NUM_THREADS"] ?? "unset") cores=\(ProcessInfo.processInfo.activeProcessorCount)")
var peak = 0.0
for (m, n, k) in [(1024, 1536, 576), (1024, 576, 1536), (2048, 2048, 2048)] {
    let gf = sgemmRate(m: m, n: n, k: k, reps: 6)
    peak = max(peak, gf)
    say("sgemm \(m)x\(n)x\(k): best of 6 \(f1(gf)) GFLOP/s")
}
say("sgemm peak (best shape): \(f1(peak)) GFLOP/s")
let sweep = [1, 20, 80, 320, 1024].map { "M=\($0) \(f1(sgemmRate(m: $0, n: 1536, k: 576, transB: true, reps: max(3, 2000 / $0))))" }
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
var dataRNG = SplitMix64(seed: 42)

// MARK: - Training step: 16 × 64 tokens, loss on all tokens (full LM head), AdamW
if mode != "infer" {
    let B = 16, T = 64, N = B * T
    let seqs = (0..<B).map { _ in (0...T).map { _ in Int32(dataRNG.next() % UInt64(c.vocabSize)) } }
    let tokens = seqs.flatMap { $0.prefix(T) }, targets = seqs.flatMap { $0.dropFirst() }
    let params = model.parameters.map(\.tensor)
    var opt = AdamW(learningRate: 1e-5, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01)
    /// One optimizer step: (loss, forward, backward, AdamW seconds).
    func trainingStep() -> (loss: Float, forward: Double, backward: Double, adamw: Double) {
        let t0 = now()
        for p in params { p.zeroGrad() }
        let tape = Tape()
        let loss = model.loss(tape: tape, tokens: tokens, targets: targets, batch: B, seq: T)
        let t1 = now()
        tape.backward(from: loss)
        let t2 = now()
        opt.step(params, learningRate: 1e-5)
        return (loss.item, t1 - t0, t2 - t1, now() - t2)
    }
    var fwd: [Double] = [], bwd: [Double] = [], optT: [Double] = [], total: [Double] = [], nearPeak: [Double] = []
    for step in 0...steps {                                     // step 0 is the warm-up
        let cpu0 = cpuSeconds()
        let s = trainingStep()
        let t = s.forward + s.backward + s.adamw
        say("step \(step)\(step == 0 ? " (warm-up)" : "") loss \(String(format: "%.4f", s.loss)) forward \(f2(s.forward)) s "
            + "backward \(f2(s.backward)) s adamw \(f2(s.adamw)) s total \(f2(t)) s (CPU \(f2(cpuSeconds() - cpu0)) s)")
        if step > 0 {
            fwd.append(s.forward); bwd.append(s.backward); optT.append(s.adamw); total.append(t)
            nearPeak.append(sgemmRate(m: 1024, n: 1536, k: 576, reps: 4))   // the machine is shared: peak next to each step
        }
    }
    let stepTime = median(total)
    let trainingRSS = peakRSSGiB()

    // Where the time goes: (1) the step's weight matmuls replayed as bare sgemm calls (same
    // shapes and transposes; the attention's small per-head GEMMs left out), i.e. the step time
    // if everything else were free; (2) LM head + cross-entropy alone on a leaf hidden state;
    // (3) zeroing the gradients. Peak is re-measured after the steps (the machine is shared).
    var gemms: [Gemm] = []
    for _ in 0..<c.layers {
        for (o, i) in [(c.qDim, c.dim), (c.kvDim, c.dim), (c.kvDim, c.dim), (c.dim, c.qDim),
                       (c.ffnDim, c.dim), (c.ffnDim, c.dim), (c.dim, c.ffnDim)] {
            gemms += linearGemms(rows: N, out: o, in: i)
        }
    }
    gemms += linearGemms(rows: N, out: c.vocabSize, in: c.dim)
    var buffers: [Gemm: (Tensor, Tensor, Tensor)] = [:]
    for g in Set(gemms) { buffers[g] = (Tensor(zeros: [g.m * g.k]), Tensor(zeros: [g.k * g.n]), Tensor(zeros: [g.m * g.n])) }
    _ = replay(gemms, buffers)
    let gemmTime = median((0..<3).map { _ in replay(gemms, buffers) })
    let gemmFlops = gemms.reduce(0.0) { $0 + 2 * Double($1.m * $1.n * $1.k) }
    buffers = [:]
    var headF: [Double] = [], headB: [Double] = []
    for _ in 0..<3 {
        let hidden = Tensor(zeros: [N, c.dim], requiresGrad: true)
        hidden.copy(from: (0..<hidden.count).map { Float($0 % 13) * 0.01 })
        let tape = Tape()
        let t0 = now()
        let l = tape.crossEntropy(logits: model.logits(tape: tape, hidden: hidden), targets: targets)
        let t1 = now()
        tape.backward(from: l)
        headF.append(t1 - t0); headB.append(now() - t1)
    }
    let tz = now()
    for p in params { p.zeroGrad() }
    let zeroTime = now() - tz
    let peakAfter = sgemmRate(m: 1024, n: 1536, k: 576, reps: 6)
    peak = max(peak, peakAfter)
    say("profile: weight matmuls as bare sgemm \(f2(gemmTime)) s (\(f1(gemmFlops / 1e9)) GFLOP, \(f1(gemmFlops / gemmTime / 1e9)) GFLOP/s); "
        + "LM head + cross-entropy forward \(f2(median(headF))) s, backward \(f2(median(headB))) s; zeroGrad \(f2(zeroTime)) s; "
        + "sgemm 1024x1536x576 after the steps \(f1(peakAfter)) GFLOP/s")

    // FLOPs: 6 · (parameters in matmuls, tied head once) · tokens (forward 2, backward 4), plus
    // attention: per layer q·kᵀ and p·v are 2·B·T²·H·Dh each (full square, causal mask not
    // discounted) in the forward, ×3 for forward + backward → 12·L·B·T²·H·Dh.
    let matmulFlops = 6 * Double(c.matmulParameters) * Double(N)
    let attnFlops = 12 * Double(c.layers * B * T * T * c.heads * c.headDim)
    let flops = matmulFlops + attnFlops
    let gflops = flops / stepTime / 1e9
    say("")
    say("FLOPs/step = 6·\(c.matmulParameters)·\(N) + 12·L·B·T²·H·Dh = \(f1(matmulFlops / 1e9)) + \(f1(attnFlops / 1e9)) = \(f1(flops / 1e9)) GFLOP")
    say("median of \(steps) steps: \(f2(stepTime)) s (forward \(f2(median(fwd))), backward \(f2(median(bwd))), adamw \(f2(median(optT)))); "
        + "bare-sgemm share \(f2(gemmTime / stepTime))")
    let stepRatios = zip(total, nearPeak).map { flops / $0 / 1e9 / $1 }
    say("tsrec:   \(f1(Double(N) / stepTime)) tokens/s, \(f1(gflops)) GFLOP/s, \(f2(gflops / peak)) of sgemm peak \(f1(peak)) GFLOP/s "
        + "(median per-step ratio to a 1024x1536x576 sgemm timed right after the step: \(f2(median(stepRatios))))")
    say("peak resident memory after the training steps: \(f2(trainingRSS)) GiB (model, gradients, AdamW moments, activations)")

    // MARK: The PyTorch peer, interleaved with tsrec on the same workload (issue #21)
    // Machines differ more than code does, so the ratio counts only when both sides run here,
    // now, alternating: pair i = `steps` tsrec steps, then the peer's warm-up and `steps` steps.
    // TSREC_BENCH_PEER names the peer's launcher (`make bench`: scripts/torch-peer.sh), empty = off.
    /// `TSREC_BENCH_PAIRS` alternating pairs (default 3): tsrec's step (`tsrecRate`, tokens/s), then
    /// the peer's warm-up and `steps` steps at `precision`; each pair and the median ratio printed.
    func peerPairs(_ launcher: String, precision: MatmulPrecision, tsrecRate: () -> Double) {
        let pairs = max(1, Int(env["TSREC_BENCH_PAIRS"] ?? "") ?? 3)
        let (prefix, peerName) = precision == .bf16 ? ("bf16 ", "PyTorch bf16 autocast") : ("", "PyTorch")
        var ratios: [Double] = [], ours: [Double] = [], theirs: [Double] = []
        for pair in 1...pairs {
            let mine = tsrecRate()
            let peer = PeerRun(launcher: launcher, gguf: gguf, steps: steps, threads: BLAS.threads, precision: precision)
            guard let rate = peer.tokensPerSecond else { say(peer.failure); break }
            ours.append(mine); theirs.append(rate); ratios.append(mine / rate)
            say("\(prefix)pair \(pair)/\(pairs): tsrec \(f1(mine)) tokens/s, \(peerName) \(f1(rate)) tokens/s, ratio \(f2(mine / rate))")
        }
        if !ratios.isEmpty {
            say("tsrec/PyTorch training tokens/s ratio\(precision == .bf16 ? ", both bf16" : ""): \(f2(median(ratios))) "
                + "(median of \(ratios.count) alternating pairs; tsrec \(ours.map(f1).joined(separator: ", ")), "
                + "PyTorch \(theirs.map(f1).joined(separator: ", ")) tokens/s)")
        }
    }
    if let launcher = env["TSREC_BENCH_PEER"], !launcher.isEmpty {
        say("")
        peerPairs(launcher, precision: .fp32) {
            Double(N) / median((0..<steps).map { _ in let s = trainingStep(); return s.forward + s.backward + s.adamw })
        }
    } else {
        say("PyTorch peer: off (TSREC_BENCH_PEER unset; `make bench` sets it)")
    }

    // MARK: bf16 products (opt-in `MatmulPrecision.bf16`), alternating with fp32 in this run
    // Both operands of every product rounded to bf16 on oneDNN, fp32 accumulation; the loss of
    // both at the same weights shows what the rounding costs. Then the like-for-like peer:
    // tsrec's bf16 products against PyTorch's bf16 autocast, alternating. TSREC_BENCH_BF16=0: off.
    if env["TSREC_BENCH_BF16"] != "0" {
        do {
            let bf16 = try BF16Matmul()
            say("")
            say("bf16 products: oneDNN runs \(try bf16.implementation(m: N, n: c.ffnDim, k: c.dim, transB: true)) for the FFN's x·Wᵀ")
            let lossFP = model.loss(tape: Tape(), tokens: tokens, targets: targets, batch: B, seq: T).item
            let lossBF = bf16.scope { model.loss(tape: Tape(), tokens: tokens, targets: targets, batch: B, seq: T).item }
            say("  loss at the same weights: fp32 \(String(format: "%.5f", lossFP)), bf16 products \(String(format: "%.5f", lossBF))")
            func stepTime(_ engine: BF16Matmul?) -> Double {
                median((0..<steps).map { _ in
                    let run = { let s = trainingStep(); return s.forward + s.backward + s.adamw }
                    return engine.map { $0.scope(run) } ?? run()
                })
            }
            var ratios: [Double] = []
            for pair in 1...2 {
                let fp = stepTime(nil), bf = stepTime(bf16)
                ratios.append(fp / bf)
                say("  pair \(pair)/2: fp32 \(f1(Double(N) / fp)) tokens/s, bf16 products \(f1(Double(N) / bf)) tokens/s, ×\(f2(fp / bf))")
            }
            say("bf16/fp32 training tokens/s: ×\(f2(median(ratios))) (median of 2 alternating pairs, same run)")
            say("peak resident memory after the bf16 steps: \(f2(peakRSSGiB())) GiB")
            if let launcher = env["TSREC_BENCH_PEER"], !launcher.isEmpty {
                peerPairs(launcher, precision: .bf16) { Double(N) / stepTime(bf16) }
            }
        } catch {
            say("bf16 products: unavailable (\(error))")
        }
    }
}

// MARK: - Inference: prefill G prompts of 70 tokens, then 3 beam-20 decode steps per prompt (SID decoding shape)
if mode != "train" {
    for G in [1, 4, 16] {
        let prompts = (0..<G).map { _ in (0..<70).map { _ in Int32(dataRNG.next() % UInt64(c.vocabSize)) } }
        let cache = model.makeCache(promptCapacity: 70, maxNewTokens: 4, maxBeams: 20 * G, maxPrompts: G)
        var prefillT: [Double] = [], decodeT: [Double] = []
        for _ in 0..<3 {
            let t0 = now()
            _ = model.prefill(prompts: prompts, cache: cache)
            prefillT.append(now() - t0)
            cache.select(parents: (0..<(20 * G)).map { $0 / 20 })
            for s in 0..<3 {
                let t1 = now()
                _ = model.decode((0..<(20 * G)).map { Int32(100 + s * 20 + $0 % 20) }, cache: cache)
                decodeT.append(now() - t1)
                cache.select(parents: (0..<(20 * G)).map { ($0 / 20) * 20 + ($0 * 7) % 20 })
            }
        }
        let prefillFlops = Double(G) * (2 * Double(c.matmulParameters - c.vocabSize * c.dim) * 70 + 2 * Double(c.vocabSize * c.dim))
        let decodeFlops = 2 * Double(c.matmulParameters) * Double(20 * G)
        say("inference, \(G) prompt(s) at once: prefill \(G)×70 tokens \(f1(median(prefillT) * 1e3)) ms "
            + "(\(f1(prefillFlops / median(prefillT) / 1e9)) GFLOP/s), decode step × \(20 * G) beams \(f1(median(decodeT) * 1e3)) ms "
            + "(\(f1(decodeFlops / median(decodeT) / 1e9)) GFLOP/s); per prompt with 3 steps \(f1((median(prefillT) + 3 * median(decodeT)) / Double(G) * 1e3)) ms")
    }
}
// MARK: - Evaluation throughput: the pipeline's own scorer and constrained beam search
// 560 SID tokens appended (as in Industrial), a trie of 3,670 random 3-token SIDs over them,
// prompts of 70 tokens, beam 20: test rows per second as `Pipeline` evaluates them.
if mode != "train" {
    var sidRNG = SplitMix64(seed: 11)
    let base = c.vocabSize
    model.addTokens(count: 560, initialRows: (0..<(560 * c.dim)).map { _ in sidRNG.nextGaussian() * 0.05 })
    var sids = Set<[Int]>()
    while sids.count < 3_670 {
        sids.insert([base + Int(sidRNG.next() % 48), base + 48 + Int(sidRNG.next() % 256), base + 304 + Int(sidRNG.next() % 256)])
    }
    let trie = PrefixTrie(sequences: sids.sorted { $0.lexicographicallyPrecedes($1) })
    // The same 16 prompts decoded one at a time and then 8 at a time (as `Pipeline` does), in this run.
    let prompts = (0..<16).map { _ in (0..<70).map { _ in Int(sidRNG.next() % UInt64(base)) } }
    var perRow: [Int: Double] = [:]
    for batch in [1, 8] {
        var scorer = LlamaBeamScorer(model: model, promptCapacity: 70, depth: 3, width: 20, maxPrompts: batch)
        _ = try beamSearch(&scorer, trie: trie, prompts: Array(prompts.prefix(batch)), width: 20)  // warm-up
        let t0 = now()
        _ = try beamSearch(&scorer, trie: trie, prompts: prompts, width: 20)
        perRow[batch] = (now() - t0) / Double(prompts.count)
        say("evaluation: constrained beam search, beam 20, 70-token prompts, \(batch) prompt(s) at a time: "
            + "\(f2(1 / perRow[batch]!)) test rows/s (\(f1(perRow[batch]! * 1e3)) ms per row; 4,533 Industrial rows ≈ \(f1(4_533 * perRow[batch]! / 60)) min)")
    }
    say("evaluation: 8 prompts at a time is \(f2(perRow[1]! / perRow[8]!))x the rows/s of one at a time (same run)")
}
// MARK: - Evaluation on the real Industrial test prompts
// The pipeline's own `evaluate` (prompts, trie with "\n" + EOS, batching), on TSREC_BENCH_EVAL_ROWS
// test rows (default 96) spread over the test split, with TS-Rec-SFT's quick configuration (keyword-initialised SID rows: distinct, so rankings can be compared; mean-resized rows are near-ties that float rounding reorders) and
// untrained weights (the work per row does not depend on them): 8 prompts at a time without the
// shared template prefix and forced paths token by token (the search as it was), with the prefix,
// with both, one batch at a time; then with both and one batch per core side by side (the
// pipeline's default, `Pipeline.evalLanes`) at 8, 16 and 32 prompts a batch.
let evalRows = Int(env["TSREC_BENCH_EVAL_ROWS"] ?? "") ?? 96
if mode != "train", evalRows > 0 {
    let paths = Paths.fromEnvironment()
    var pipeline = Pipeline(ExperimentConfig.profile(.quick, dataset: "Industrial_and_Scientific").applying(.tsrecSFT),
                            label: "bench", paths: paths)
    pipeline.log = { _ in }
    let lanes = pipeline.evalBatching.lanes
    let settings = [Pipeline.EvaluationSetting(promptsPerBatch: 8, sharesPromptPrefix: false, forcesPaths: false, lanes: 1),
                    Pipeline.EvaluationSetting(promptsPerBatch: 8, sharesPromptPrefix: true, forcesPaths: false, lanes: 1),
                    Pipeline.EvaluationSetting(promptsPerBatch: 8, sharesPromptPrefix: true, lanes: 1),
                    Pipeline.EvaluationSetting(promptsPerBatch: 8, sharesPromptPrefix: true, lanes: lanes),
                    Pipeline.EvaluationSetting(promptsPerBatch: 16, sharesPromptPrefix: true, lanes: lanes),
                    Pipeline.EvaluationSetting(promptsPerBatch: 32, sharesPromptPrefix: true, lanes: lanes)]
    func describe(_ s: Pipeline.EvaluationSetting) -> String {
        "\(s.promptsPerBatch) prompts at a time, shared template prefix \(s.sharesPromptPrefix ? "on " : "off"), forced paths \(s.forcesPaths ? "batched" : "token by token"), "
            + (s.lanes == 1 ? "1 batch at a time" : "\(s.lanes ?? lanes) batches side by side")
    }
    do {
        let (timings, lengths, shared, generated) = try pipeline.evaluationTiming(rows: evalRows, settings: settings,
                                                                                  scratch: FileManager.default.temporaryDirectory)
        say("evaluation, real Industrial test prompts (\(lengths.count) rows, prompt tokens mean \(f1(Double(lengths.reduce(0, +)) / Double(max(lengths.count, 1)))), "
            + "max \(lengths.max() ?? 0), the first \(shared) common to all), beam 20, SID trie with \"\\n\" + EOS:")
        for t in timings {
            say("  \(describe(t.setting)): \(f2(t.rowsPerSecond)) test rows/s (4,533 Industrial rows ≈ \(f1(4_533 / t.rowsPerSecond / 60)) min)")
        }
        let reference = timings[0].predictions.map(\.ranked)
        for t in timings.dropFirst() {
            let differ = zip(t.predictions.map(\.ranked), reference).filter { $0 != $1 }.count
            say("  rankings with \(describe(t.setting)): "
                + "\(differ == 0 ? "identical to" : "\(differ) of \(reference.count) rows differ from") the first setting's")
        }
        // Matmul work per row (attention left out): the prompt's tokens through the blocks, the LM
        // head for its last position, then `generated - 1` decode steps of 20 beams (the SID trie
        // keeps 20 live beams at every step), each through the blocks and the full-vocabulary head
        // (the search normalises over the whole vocabulary).
        let v = Double(c.vocabSize + 560), d = Double(c.dim)
        let perToken = 2 * Double(c.layers) * d * Double(2 * c.qDim + 2 * c.kvDim + 3 * c.ffnDim)
        let head = 2 * d * v
        let meanPrompt = Double(lengths.reduce(0, +)) / Double(max(lengths.count, 1))
        let decode = Double(20 * (generated - 1)) * (perToken + head)
        for t in timings {
            let gflop = ((meanPrompt - (t.setting.sharesPromptPrefix ? Double(shared) : 0)) * perToken + head + decode) / 1e9
            say("  \(describe(t.setting)): \(f1(gflop)) GFLOP per row "
                + "(\(f1(decode / 1e9 / gflop * 100))% in the \(generated - 1) decode steps) at \(f1(gflop * t.rowsPerSecond)) GFLOP/s = "
                + "\(f2(gflop * t.rowsPerSecond / peak)) of the sgemm peak; at the peak: \(f2(peak / gflop)) rows/s")
        }
        say("evaluation: \(lanes) batches side by side is \(f2(timings[3].rowsPerSecond / timings[2].rowsPerSecond))x the rows/s of one at a time (same run)")
        say("real-prompt evaluation: \(f2(timings.map(\.rowsPerSecond).max()!)) rows/s (best setting; the pipeline runs 8 prompts with the shared prefix and batched forced paths, \(lanes) batches side by side)")
        // The pipeline's setting again, with bf16 products (opt-in `MatmulPrecision.bf16`); its
        // rankings differ from fp32's where rounding reorders near-ties. TSREC_BENCH_BF16=0: off.
        // Weights rounded once for the evaluation (as the pipeline runs it) or afresh at every
        // product; the pipeline's setting, one batch at a time and 16 prompts a batch (oneDNN's
        // products take turns, so lanes overlap only the rest).
        if env["TSREC_BENCH_BF16"] != "0" {
            let bf16 = try BF16Matmul(), afresh = try BF16Matmul(keepsWeightCopies: false)
            let pipelineSetting = timings[3]
            var bfSettings = [pipelineSetting.setting, pipelineSetting.setting, pipelineSetting.setting]
            bfSettings[1].lanes = 1
            (bfSettings[2].lanes, bfSettings[2].promptsPerBatch) = (1, 16)
            let kept = try bf16.scope {
                try pipeline.evaluationTiming(rows: evalRows, settings: bfSettings, scratch: FileManager.default.temporaryDirectory).timings
            }
            let old = try afresh.scope {
                try pipeline.evaluationTiming(rows: evalRows, settings: [pipelineSetting.setting],
                                              scratch: FileManager.default.temporaryDirectory).timings[0]
            }
            for (t, label) in zip(kept + [old], ["", "", "", ", weights rounded afresh at every product"]) {
                let same = zip(t.predictions.map(\.ranked), pipelineSetting.predictions.map(\.ranked)).filter { $0 == $1 }.count
                say("  bf16 products, \(describe(t.setting))\(label): \(f2(t.rowsPerSecond)) test rows/s, "
                    + "×\(f2(t.rowsPerSecond / pipelineSetting.rowsPerSecond)) the fp32 pipeline setting; "
                    + "rankings identical to fp32's in \(same) of \(t.predictions.count) rows")
            }
            let bfBest = kept.map(\.rowsPerSecond).max()!
            say("real-prompt evaluation with bf16 products: \(f2(bfBest)) rows/s (best setting; fp32: \(f2(timings.map(\.rowsPerSecond).max()!)))")
        }
    } catch {
        say("evaluation on real test prompts skipped: \(error) (run `make data`)")
    }
}
// MARK: - Title-trie evaluation (D3, S-DPO), on request
// TSREC_BENCH_TITLE_ROWS > 0: D3's quick configuration, untrained, decodes that many real test rows
// with the title trie (length penalty 0) at D3's 10 beams, 8 prompts at a time with forced paths
// token by token and batched (the default), and at beam 20 (tsrec's width before session 21):
// what a D3 or S-DPO row's evaluation costs per test row (its search runs as long as the titles,
// not 5 tokens).
if mode != "train", let titleRows = Int(env["TSREC_BENCH_TITLE_ROWS"] ?? ""), titleRows > 0 {
    let d3 = ExperimentConfig.profile(.quick, dataset: "Industrial_and_Scientific").applying(.d3)
    let lanes = Pipeline(d3, label: "bench").evalBatching.lanes
    func titleTiming(beam: Int, _ settings: [Pipeline.EvaluationSetting]) throws
        -> (timings: [Pipeline.EvaluationTiming], promptTokens: [Int], sharedTokens: Int, generatedTokens: Int) {
        var config = d3
        config.beamWidth = beam
        var pipeline = Pipeline(config, label: "bench", paths: Paths.fromEnvironment())
        pipeline.log = { _ in }
        return try pipeline.evaluationTiming(rows: titleRows, settings: settings, scratch: FileManager.default.temporaryDirectory)
    }
    do {
        // 16 prompts a batch only where every lane gets at least one batch of 16
        let (timings, lengths, shared, generated) = try titleTiming(beam: d3.beamWidth, [
            Pipeline.EvaluationSetting(promptsPerBatch: 8, sharesPromptPrefix: true, forcesPaths: false),
            Pipeline.EvaluationSetting(promptsPerBatch: 8, sharesPromptPrefix: true)]
            + (titleRows >= 16 * lanes ? [Pipeline.EvaluationSetting(promptsPerBatch: 16, sharesPromptPrefix: true)] : []))
        let wide = try titleTiming(beam: 20, [Pipeline.EvaluationSetting(promptsPerBatch: 8, sharesPromptPrefix: true)]).timings
        say("title-trie evaluation (D3, quick, untrained), \(lengths.count) real test rows (prompt tokens mean "
            + "\(f1(Double(lengths.reduce(0, +)) / Double(max(lengths.count, 1)))), the first \(shared) shared), completions up to \(generated) tokens, \(lanes) lanes:")
        for (t, beam) in zip(timings + wide, Array(repeating: d3.beamWidth, count: timings.count) + [20]) {
            say("  beam \(beam), \(t.setting.promptsPerBatch) prompts, forced paths \(t.setting.forcesPaths ? "batched" : "token by token"): \(f2(t.rowsPerSecond)) rows/s "
                + "(\(f1(t.seconds / Double(t.predictions.count))) s a row; 4,533 rows ≈ \(f1(4_533 / t.rowsPerSecond / 3600)) h)")
        }
        let differ = zip(timings[1].predictions.map(\.ranked), timings[0].predictions.map(\.ranked)).filter { $0 != $1 }.count
        say("  rankings with forced paths batched: \(differ == 0 ? "identical to" : "\(differ) of \(titleRows) rows differ from") token by token")
        if timings.count > 2 {
            let batches = zip(timings[2].predictions.map(\.ranked), timings[1].predictions.map(\.ranked)).filter { $0 != $1 }.count
            say("  rankings with 16 prompts a batch: \(batches == 0 ? "identical to" : "\(batches) of \(titleRows) rows differ from") 8")
        }
    } catch {
        say("title-trie evaluation skipped: \(error)")
    }
}
// MARK: - Training on the real quick samples: the prompt template run once per micro-batch
// TS-Rec-SFT's quick configuration (its samples, seed and bucketing), untrained: the first
// TSREC_BENCH_TRAIN_MICROBATCHES (default 8, 0: off) micro-batches of 16 as one step (forward +
// backward, token-averaged), whole, then with each micro-batch's common template run once and
// the step grouped by task (`Trainer.sharesPromptPrefix`, the default).
let trainMicroBatches = Int(env["TSREC_BENCH_TRAIN_MICROBATCHES"] ?? "") ?? 8
if mode != "infer", trainMicroBatches > 0 {
    var pipeline = Pipeline(ExperimentConfig.profile(.quick, dataset: "Industrial_and_Scientific").applying(.tsrecSFT),
                            label: "bench", paths: Paths.fromEnvironment())
    pipeline.log = { _ in }
    do {
        let t = try pipeline.trainingTiming(microBatches: trainMicroBatches)
        for x in t {
            say("training, real quick samples (TS-Rec-SFT, \(trainMicroBatches) micro-batches of 16, forward + backward), template shared "
                + "\(x.sharesPromptPrefix ? "on " : "off"): \(f1(x.seconds)) s, \(x.rows) rows for \(x.tokens) sample tokens, "
                + "\(f1(Double(x.tokens) / x.seconds)) sample tokens/s, loss \(String(format: "%.6f", x.loss))")
        }
        say("training on real samples: the shared template is \(f2(t[0].seconds / t[1].seconds))x the speed with "
            + "\(f2(Double(t[0].rows) / Double(t[1].rows)))x fewer rows; loss difference \(String(format: "%.1e", abs(t[0].loss - t[1].loss)))")
        // The trainer's step (template shared) with bf16 products. TSREC_BENCH_BF16=0: off.
        if env["TSREC_BENCH_BF16"] != "0" {
            let x = try BF16Matmul().scope { try pipeline.trainingTiming(microBatches: trainMicroBatches, sharing: [true]) }[0]
            say("  with bf16 products: \(f1(x.seconds)) s, \(f1(Double(x.tokens) / x.seconds)) sample tokens/s, "
                + "×\(f2(t[1].seconds / x.seconds)) fp32, loss \(String(format: "%.6f", x.loss))")
        }
    } catch {
        say("training on real samples skipped: \(error) (run `make data`)")
    }
}
say("peak resident memory (whole run): \(f2(peakRSSGiB())) GiB")
