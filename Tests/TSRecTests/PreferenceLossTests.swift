import Foundation
import Testing
@testable import TSRec

/// S-DPO's softmax-DPO loss (issue #19): the value against the formula written out in Double, the
/// gradient against finite differences, log(1 + k) at the start, and DPO with one negative.
@Suite struct PreferenceLossTests {
    /// Two groups over V = 7: group 0 = answers 0 (chosen), 1, 2, 3 (3 negatives, S-DPO's setting);
    /// group 1 = answers 4 (chosen), 5. Answers have 1–3 tokens; 12 token rows in all.
    struct Problem {
        var logits: Tensor
        let targets: [Int32] = [3, 0, 6, 2, 2, 5, 1, 4, 4, 0, 6, 3]
        let sequenceOfToken = [0, 0, 1, 2, 2, 2, 3, 4, 4, 5, 5, 5]
        let reference: [Float] = [-4.1, -2.5, -6.3, -1.9, -3.0, -5.2]
        let groups = [PreferenceGroup(sequences: 0..<4), PreferenceGroup(sequences: 4..<6)]
        init(seed: UInt64) {
            var rng = SplitMix64(seed: seed)
            logits = Tensor.randn([12, 7], std: 1.5, requiresGrad: true, using: &rng)
        }

        /// Each answer's summed log-probability, in Double from the logits.
        func summedLogProbs(_ z: [Float]) -> [Double] {
            var s = [Double](repeating: 0, count: 6)
            for n in 0..<12 {
                let row = z[(n * 7)..<(n * 7 + 7)].map(Double.init)
                let lse = log(row.reduce(0) { $0 + exp($1) })
                s[sequenceOfToken[n]] += row[Int(targets[n])] - lse
            }
            return s
        }

        /// −log σ(−log Σ_j exp(β(Δ_j − Δ_w))), averaged over the groups: the formula as S-DPO writes it.
        func expected(_ z: [Float], beta: Double) -> Double {
            let d = zip(summedLogProbs(z), reference).map { $0 - Double($1) }
            return groups.reduce(0.0) { total, g in
                let w = g.sequences.lowerBound
                let inner = g.sequences.dropFirst().reduce(0.0) { $0 + exp(beta * (d[$1] - d[w])) }
                return total - log(1 / (1 + exp(log(inner))))
            } / Double(groups.count)
        }
    }

    @Test func valueIsTheSoftmaxDPOFormula() {
        for (seed, beta) in [(UInt64(1), Float(1)), (2, 3), (4, 0.1)] {
            let p = Problem(seed: seed)
            let out = Tape().softmaxDPOLoss(logits: p.logits, targets: p.targets, sequenceOfToken: p.sequenceOfToken,
                                            reference: p.reference, groups: p.groups, beta: beta)
            let want = p.expected(p.logits.array, beta: Double(beta))
            #expect(abs(Double(out.loss.item) - want) < 1e-5 * max(1, abs(want)), "seed \(seed) β \(beta): \(out.loss.item) vs \(want)")
            let s = p.summedLogProbs(p.logits.array)
            for i in 0..<6 { #expect(abs(Double(out.margins[i]) - (s[i] - Double(p.reference[i]))) < 1e-4) }
        }
    }

    @Test func gradientMatchesFiniteDifferences() {
        for (seed, beta) in [(UInt64(3), Float(1)), (5, 3)] {
            let p = Problem(seed: seed)
            expectGradientsMatchFiniteDifferences([p.logits]) { tape, xs in
                tape.softmaxDPOLoss(logits: xs[0], targets: p.targets, sequenceOfToken: p.sequenceOfToken,
                                    reference: p.reference, groups: p.groups, beta: beta).loss
            }
        }
    }

    /// π = π_ref: every Δ is 0, so each group's loss is log(1 + k): log 4 with 3 negatives, log 2 with 1.
    @Test func startIsLogOnePlusK() {
        let p = Problem(seed: 7)
        let reference = p.summedLogProbs(p.logits.array).map(Float.init)
        let out = Tape().softmaxDPOLoss(logits: p.logits, targets: p.targets, sequenceOfToken: p.sequenceOfToken,
                                        reference: reference, groups: p.groups, beta: 1)
        #expect(abs(Double(out.loss.item) - (log(4.0) + log(2.0)) / 2) < 1e-5)
    }

    /// One negative: −log σ(β(Δ_w − Δ_l)), DPO's loss, in value and in gradient.
    @Test func oneNegativeIsDPO() {
        let p = Problem(seed: 11)
        let rows = 9...11                  // answers 4 (rows 7, 8) and 5 (rows 9–11): use group 1 alone
        let logits = Tensor(Array(p.logits.array[(7 * 7)..<(12 * 7)]), shape: [5, 7], requiresGrad: true)
        let targets = Array(p.targets[7...]), seqs = p.sequenceOfToken[7...].map { $0 - 4 }
        let reference = Array(p.reference[4...])
        let beta: Float = 2
        let tape = Tape()
        let out = tape.softmaxDPOLoss(logits: logits, targets: targets, sequenceOfToken: seqs, reference: reference,
                                      groups: [PreferenceGroup(sequences: 0..<2)], beta: beta)
        tape.backward(from: out.loss)
        let dw = Double(out.margins[0]), dl = Double(out.margins[1]), b = Double(beta)
        let dpo = -log(1 / (1 + exp(-b * (dw - dl))))
        #expect(abs(Double(out.loss.item) - dpo) < 1e-5)
        // DPO's gradient: dL/dΔ_w = −β σ(−β(Δ_w − Δ_l)) = −dL/dΔ_l; each token row gets it times
        // (onehot − softmax). Check the rows of the negative answer, whose coefficient is +β σ(·).
        let coef = b / (1 + exp(b * (dw - dl)))
        let z = logits.array, g = logits.gradArray
        for n in rows.map({ $0 - 7 }) {
            let row = z[(n * 7)..<(n * 7 + 7)].map(Double.init)
            let sum = row.reduce(0) { $0 + exp($1) }
            for j in 0..<7 {
                let want = coef * ((j == Int(targets[n]) ? 1 : 0) - exp(row[j]) / sum)
                #expect(abs(Double(g[n * 7 + j]) - want) < 1e-5, "row \(n) column \(j)")
            }
        }
    }

    /// The chosen answer's rows move opposite to the negatives': one gradient step raises Δ_w − Δ_j.
    @Test func aStepPrefersTheChosenAnswer() {
        let p = Problem(seed: 13)
        let tape = Tape()
        let before = tape.softmaxDPOLoss(logits: p.logits, targets: p.targets, sequenceOfToken: p.sequenceOfToken,
                                         reference: p.reference, groups: p.groups, beta: 1)
        tape.backward(from: before.loss)
        let stepped = Tensor(zip(p.logits.array, p.logits.gradArray).map { $0 - 0.5 * $1 }, shape: [12, 7])
        let after = Tape().softmaxDPOLoss(logits: stepped, targets: p.targets, sequenceOfToken: p.sequenceOfToken,
                                          reference: p.reference, groups: p.groups, beta: 1)
        #expect(after.loss.item < before.loss.item)
        #expect(after.margins[0] > before.margins[0] && after.margins[4] > before.margins[4])
    }
}
