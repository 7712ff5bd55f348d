import Foundation
import Testing
@testable import TSRec

/// The opt-in bf16 products (`MatmulPrecision.bf16`, `BF16Matmul`): the rounding against hand-set
/// bit patterns, every product against a Float64 reference on the rounded operands, and a model's
/// loss and gradients inside and outside the scope.
@Suite struct BF16MatmulTests {
    /// Round to nearest, ties to even, on the upper 16 bits of the float.
    @Test func roundingToBFloat16() {
        #expect(BF16.bits(1) == 0x3F80 && BF16.bits(-2) == 0xC000 && BF16.bits(0) == 0)
        #expect(BF16.bits(Float(bitPattern: 0x3F80_8000)) == 0x3F80)   // tie, even below: down
        #expect(BF16.bits(Float(bitPattern: 0x3F81_8000)) == 0x3F82)   // tie, odd below: up
        #expect(BF16.bits(Float(bitPattern: 0x3F80_8001)) == 0x3F81)   // above the tie: up
        #expect(BF16.bits(Float(bitPattern: 0x3F80_7FFF)) == 0x3F80)   // below the tie: down
        #expect(BF16.bits(.greatestFiniteMagnitude) == 0x7F80)         // overflows to +inf
        #expect(BF16.bits(.infinity) == 0x7F80 && BF16.value(BF16.bits(.nan)).isNaN)
        #expect(BF16.value(0x3F80) == 1 && BF16.value(BF16.bits(3.140625)) == 3.140625)  // exact in bf16
    }

    /// `c = beta·c + bf16(alpha·op(a))·bf16(op(b))` for every transpose, alpha and beta, with
    /// padded leading dimensions, within the fp32 accumulation bound (k + 1)·2⁻²³ of a Float64 reference.
    @Test func productsMatchAFloat64ReferenceOnRoundedOperands() throws {
        let engine = try BF16Matmul(smallestProduct: 0)
        var rng = SplitMix64(seed: 21)
        let (m, n, k) = (21, 29, 37)
        for transA in [false, true] {
            for transB in [false, true] {
                for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (-2, 0.25)] {
                    let (aRows, aCols) = transA ? (k, m) : (m, k), (bRows, bCols) = transB ? (n, k) : (k, n)
                    let lda = aCols + 3, ldb = bCols + 1, ldc = n + 2
                    let a = (0 ..< aRows * lda).map { _ in rng.nextGaussian() }
                    let b = (0 ..< bRows * ldb).map { _ in rng.nextGaussian() }
                    let c0 = (0 ..< m * ldc).map { _ in rng.nextGaussian() }
                    var c = c0
                    a.withUnsafeBufferPointer { pa in
                        b.withUnsafeBufferPointer { pb in
                            c.withUnsafeMutableBufferPointer { pc in
                                engine.scope {
                                    sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                                          a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb,
                                          beta: beta, c: pc.baseAddress!, ldc: ldc)
                                }
                            }
                        }
                    }
                    var worst = 0.0
                    for i in 0 ..< m {
                        for j in 0 ..< n {
                            var sum = 0.0, size = 0.0
                            for p in 0 ..< k {
                                let x = Double(BF16.value(BF16.bits(alpha * (transA ? a[p * lda + i] : a[i * lda + p]))))
                                let y = Double(BF16.value(BF16.bits(transB ? b[j * ldb + p] : b[p * ldb + j])))
                                sum += x * y
                                size += abs(x * y)
                            }
                            let want = sum + Double(beta) * Double(c0[i * ldc + j])
                            worst = max(worst, abs(Double(c[i * ldc + j]) - want) / (size + abs(want) + 1e-3))
                        }
                        for j in n ..< ldc { #expect(c[i * ldc + j] == c0[i * ldc + j], "padding of c written") }
                    }
                    #expect(worst < Double(k + 1) * 1.2e-7, "transA \(transA) transB \(transB) alpha \(alpha) beta \(beta): worst \(worst)")
                }
            }
        }
    }

    /// Products below `smallestProduct` stay fp32 (bit-identical to OpenBLAS), those at it do not.
    @Test func smallProductsStayFP32() throws {
        let (m, n, k) = (16, 16, 16)
        var rng = SplitMix64(seed: 4)
        let a = (0 ..< m * k).map { _ in rng.nextGaussian() }, b = (0 ..< k * n).map { _ in rng.nextGaussian() }
        func product(_ engine: BF16Matmul?) -> [Float] {
            var c = [Float](repeating: 0, count: m * n)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        let out = pc.baseAddress!
                        func run() { sgemm(transA: false, transB: false, m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!, c: out) }
                        if let engine { engine.scope(run) } else { run() }
                    }
                }
            }
            return c
        }
        let fp32 = product(nil)
        #expect(product(try BF16Matmul(smallestProduct: m * n * k + 1)) == fp32)
        #expect(product(try BF16Matmul(smallestProduct: m * n * k)) != fp32)
    }

    /// `matmulPrecision` is absent from a configuration's JSON until set (every earlier run keeps
    /// its hash, pinned in `everyMethodsQuickHashIsPinned`), and bf16 is another training run.
    @Test func precisionIsPartOfTheTrainingHashOnlyWhenSet() throws {
        let quick = ExperimentConfig.profile(.quick, dataset: "Industrial_and_Scientific").applying(.tsrecSFT)
        #expect(!String(decoding: try JSONEncoder().encode(quick), as: UTF8.self).contains("matmulPrecision"))
        var bf16 = quick
        bf16.matmulPrecision = .bf16
        #expect(Pipeline(bf16, label: "bf16").trainingHash != Pipeline(quick, label: "fp32").trainingHash)
    }

    /// Every lane of `Lanes.run` inside the scope multiplies in bf16, whichever thread runs it,
    /// and none outside it.
    @Test func lanesInheritTheScope() throws {
        let engine = try BF16Matmul()
        #expect(try engine.scope { try Lanes.run(4) { _ in Kernels.bf16Matmul === engine } } == [true, true, true, true])
        #expect(try Lanes.run(4) { _ in Kernels.bf16Matmul == nil } == [true, true, true, true])
    }

    /// Products computed by 4 lanes at once, each lane its own shapes as evaluation's batches are
    /// (a decode step's x·Wᵀ and the LM head, rows 20 to 160), equal the same products computed
    /// alone. (This passes without `executing` too; the evaluation that showed the need for it is
    /// `DeterminismTests.bf16EvaluationInLanesEqualsOneLane`.)
    @Test func lanesComputeTheSameProducts() throws {
        let engine = try BF16Matmul(smallestProduct: 0)
        var rng = SplitMix64(seed: 8)
        let shapes = [(20, 1536, 576), (40, 49712, 576), (160, 1536, 576), (47, 49712, 576)]
        let operands = shapes.map { m, n, k in ((0 ..< m * k).map { _ in rng.nextGaussian() }, (0 ..< n * k).map { _ in rng.nextGaussian() }) }
        func product(_ lane: Int) -> [Float] {
            let (m, n, k) = shapes[lane], (a, b) = operands[lane]
            var c = [Float](repeating: .nan, count: m * n)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        sgemm(transA: false, transB: true, m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!)
                    }
                }
            }
            return c
        }
        let alone = engine.scope { shapes.indices.map(product) }
        let finite = alone.allSatisfy { $0.allSatisfy(\.isFinite) }
        #expect(finite)
        for round in 0 ..< 5 {
            let side = try engine.scope { try Lanes.run(shapes.count) { product($0) } }
            let same = side == alone
            #expect(same, "round \(round): a lane differs from its product computed alone")
        }
    }

    /// A tiny decoder's loss and gradients inside the scope: near fp32's (bf16 keeps 8 bits of
    /// mantissa) but not equal to them (the products did change precision); after the scope, fp32
    /// results are bit-identical to those before it.
    @Test func aModelTrainsInsideTheScopeAndIsUnchangedOutside() throws {
        let m = try LlamaFixtures.tinyModel(seed: 11, std: 0.3)
        let tokens: [Int32] = [3, 9, 27, 31, 44, 8, 6, 4, 1, 2]
        let targets: [Int32] = [9, 27, 31, 44, 8, 6, 4, 1, 2, 5]
        func lossAndGradients() -> (Float, [Float]) {
            for (_, p) in m.parameters { p.zeroGrad() }
            let tape = Tape()
            let loss = m.loss(tape: tape, tokens: tokens, targets: targets, batch: 2, seq: 5)
            tape.backward(from: loss)
            return (loss.item, m.parameters.flatMap(\.tensor.gradArray))
        }
        let (before, gradBefore) = lossAndGradients()
        let (inside, gradInside) = try BF16Matmul(smallestProduct: 0).scope { lossAndGradients() }
        let (after, gradAfter) = lossAndGradients()
        #expect(before.bitPattern == after.bitPattern && gradBefore == gradAfter)
        #expect(inside != before && abs(inside - before) < 2e-2 * abs(before), "loss fp32 \(before), bf16 \(inside)")
        let dot = zip(gradBefore, gradInside).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let norms = (gradBefore.reduce(0.0) { $0 + Double($1 * $1) } * gradInside.reduce(0.0) { $0 + Double($1 * $1) }).squareRoot()
        #expect(dot / norms > 0.999, "gradient cosine \(dot / norms)")
    }

    /// Weights held fixed (`withFixedWeights`, here around each step's forward and backward
    /// passes, as the RL stage's steps are): two optimizer steps of two micro-batches each end
    /// with parameters bit-identical to the same steps rounding every product afresh, so the
    /// copies are the weights as they are at each step (an update between steps is seen). Each
    /// weight is rounded once per step, however many micro-batches and products read it.
    @Test func fixedWeightsGiveTheSameStepsWithOneRoundingPerWeight() throws {
        let tokens: [Int32] = [3, 9, 27, 31, 44, 8, 6, 4, 1, 2]
        let targets: [Int32] = [9, 27, 31, 44, 8, 6, 4, 1, 2, 5]
        func train(_ engine: BF16Matmul) -> (parameters: [Float], roundings: [Int]) {
            let m = try! LlamaFixtures.tinyModel(seed: 11, std: 0.3)
            let params = m.parameters.map(\.tensor)
            var opt = AdamW(learningRate: 1e-2, weightDecay: 0.01)
            var roundings: [Int] = []
            engine.scope {
                for _ in 0 ..< 2 {
                    for p in params { p.zeroGrad() }
                    BF16Matmul.withFixedWeights(params) {
                        for micro in 0 ..< 2 {
                            let tape = Tape()
                            let loss = m.loss(tape: tape, tokens: micro == 0 ? tokens : targets, targets: micro == 0 ? targets : tokens,
                                              batch: 2, seq: 5)
                            tape.backward(from: loss, seed: 0.5)
                            roundings.append(Kernels.bf16FixedWeights?.roundings ?? -1)
                        }
                    }
                    opt.step(params, learningRate: 1e-2)
                }
            }
            return (params.flatMap(\.array), roundings)
        }
        let kept = train(try BF16Matmul(smallestProduct: 0))
        let afresh = train(try BF16Matmul(smallestProduct: 0, keepsWeightCopies: false))
        #expect(kept.parameters == afresh.parameters)
        #expect(afresh.roundings == [-1, -1, -1, -1])          // no region without copies
        // every matmul weight of the tiny model (7 per layer) and the tied LM head, once a step:
        // the second micro-batch rounds nothing new
        let m = try LlamaFixtures.tinyModel(seed: 11, std: 0.3)
        let expected = 7 * m.config.layers + 1
        #expect(kept.roundings == [expected, expected, expected, expected], "\(kept.roundings)")
    }

    /// Inside a region, a product that reads only part of a fixed weight (fewer rows, or rows
    /// `ld` apart) is not served the whole weight's copy: it equals the same product rounded afresh.
    @Test func partOfAFixedWeightIsRoundedAfresh() throws {
        let engine = try BF16Matmul(smallestProduct: 0)
        var rng = SplitMix64(seed: 5)
        let (n, k, m) = (12, 8, 3)
        let w = Tensor.randn([n, k], using: &rng), x = Tensor.randn([m, k], using: &rng)
        func products() -> [[Float]] {
            let whole = Tensor(zeros: [m, n]), top = Tensor(zeros: [m, n / 2]), strided = Tensor(zeros: [m, n / 2])
            sgemm(transA: false, transB: true, m: m, n: n, k: k, a: x, b: w, c: whole)
            sgemm(transA: false, transB: true, m: m, n: n / 2, k: k, a: x, b: w, c: top)
            sgemm(transA: false, transB: true, m: m, n: n / 2, k: k / 2, a: x, lda: k, b: w, ldb: k, c: strided)
            return [whole.array, top.array, strided.array]
        }
        let afresh = engine.scope { products() }
        let (fixed, roundings) = engine.scope { BF16Matmul.withFixedWeights([w]) { (products(), Kernels.bf16FixedWeights!.roundings) } }
        #expect(fixed == afresh)
        #expect(roundings == 1)                                // the whole-weight product only
    }


    /// The evaluation's batching: 8 prompts in one lane per core with fp32 products, one batch of
    /// 16 at a time inside a bf16 scope, and what a caller sets either way.
    @Test func evaluationBatchingFollowsThePrecision() throws {
        var pipeline = Pipeline(ExperimentConfig.profile(.quick, dataset: "Industrial_and_Scientific"), label: "batching")
        #expect(pipeline.evalBatching == (8, Lanes.available))
        let engine = try BF16Matmul()
        #expect(engine.scope { pipeline.evalBatching } == (16, 1))
        (pipeline.evalPromptsPerBatch, pipeline.evalLanes) = (4, 3)
        #expect(pipeline.evalBatching == (4, 3) && engine.scope { pipeline.evalBatching } == (4, 3))
    }

}
