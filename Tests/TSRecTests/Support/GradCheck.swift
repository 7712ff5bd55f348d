import Testing
@testable import TSRec

/// Compares `actual` with `expected` elementwise under a combined tolerance
/// |a − e| ≤ max(atol, rtol·max(|a|, |e|)) and reports the worst element (llm.c `check_tensor`).
func expectClose(_ actual: [Float], _ expected: [Float], atol: Float = 1e-5, rtol: Float = 1e-3,
                 _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(what): \(actual.count) vs \(expected.count) elements",
            sourceLocation: sourceLocation)
    var worst = -Float.infinity, worstIndex = -1
    for i in 0..<min(actual.count, expected.count) {
        let a = actual[i], e = expected[i]
        let excess = a.isFinite && e.isFinite ? abs(a - e) - max(atol, rtol * max(abs(a), abs(e))) : .infinity
        if excess > worst || worstIndex < 0 { worst = excess; worstIndex = i }
    }
    guard worstIndex >= 0 else { return }
    #expect(worst <= 0, "\(what): worst element \(worstIndex): got \(actual[worstIndex]), expected \(expected[worstIndex]) (excess over tolerance \(worst))",
            sourceLocation: sourceLocation)
}

/// The worst element of a gradient check, for reporting.
struct GradCheckReport: CustomStringConvertible {
    var input = -1, index = -1
    var analytic: Float = 0, numeric: Double = 0, excess: Double = -.infinity
    var description: String {
        "input \(input)[\(index)]: autograd \(analytic), finite difference \(numeric), excess over tolerance \(excess)"
    }
}

/// Checks the autograd gradient of `L = Σ f(inputs) ⊙ probe` with respect to every input that
/// requires a gradient against central finite differences
/// `(L(x + h) − L(x − h)) / 2h` (L summed in Double; h is the step actually representable in
/// Float32). `probe` is a fixed random tensor, so that e.g. `Σ softmax(x) ≡ 1` does not make
/// the check pass trivially. `f` must build its output with the given tape (a recording tape
/// for the autograd pass, a non-recording one for the finite-difference passes) and be
/// deterministic (capture RNG state by value).
@discardableResult
func expectGradientsMatchFiniteDifferences(
    _ inputs: [Tensor], eps: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 1e-2, probeSeed: UInt64 = 0x5EED,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ f: (Tape, [Tensor]) -> Tensor
) -> GradCheckReport {
    // Autograd pass.
    let tape = Tape()
    let out = f(tape, inputs)
    var probeRNG = SplitMix64(seed: probeSeed)
    let probe = Tensor.randn(out.shape, using: &probeRNG)
    for x in inputs { x.zeroGrad() }
    let loss = tape.sum(tape.mul(out, probe))
    tape.backward(from: loss)
    let grads = inputs.map(\.gradArray)

    func lossValue() -> Double {
        let y = f(Tape(recording: false), inputs)
        precondition(y.shape == probe.shape, "gradient check: output shape changed")
        return zip(y.array, probe.array).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }

    var worst = GradCheckReport()
    for (k, x) in inputs.enumerated() where x.requiresGrad {
        for i in 0..<x.count {
            let v = x[i]
            let up = v + eps, down = v - eps
            x[i] = up
            let lUp = lossValue()
            x[i] = down
            let lDown = lossValue()
            x[i] = v
            let numeric = (lUp - lDown) / (Double(up) - Double(down))
            let analytic = grads[k][i]
            let excess = abs(Double(analytic) - numeric) - max(atol, rtol * max(abs(Double(analytic)), abs(numeric)))
            if excess > worst.excess || !analytic.isFinite {
                worst = GradCheckReport(input: k, index: i, analytic: analytic, numeric: numeric,
                                        excess: analytic.isFinite ? excess : .infinity)
            }
        }
    }
    #expect(worst.excess <= 0, "gradient check failed; worst element: \(worst)", sourceLocation: sourceLocation)
    return worst
}
