import Foundation

/// Learning rate per optimizer step: linear warm-up to `peak`, then linear or cosine decay
/// to `peak · minRatio` at `totalSteps` (held there afterwards).
///
/// Steps are 0-based (step 0 is the first update). Warm-up gives step s < W the rate
/// peak · (s + 1) / W under `.fromFirstUpdate` (llm.c's convention: the first update is not
/// spent at rate 0, step W − 1 reaches the peak), or peak · s / W under `.huggingFace` (the
/// `get_*_schedule_with_warmup` the authors' trainers use: step 0 at rate 0, step W at the
/// peak). After warm-up, with progress π = (s − W) / (totalSteps − W) clamped to [0, 1]:
///   linear: min + (peak − min) · (1 − π)
///   cosine: min + (peak − min) · ½ (1 + cos(π · progress))
/// With the default `minRatio = 0` linear decay reaches 0 at `totalSteps` (the upstream
/// recipe: 20 warm-up steps then linear decay).
public struct LRSchedule: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable, Hashable { case linear, cosine }
    /// Where the warm-up ramp starts.
    public enum Warmup: String, Codable, Sendable, Hashable, CaseIterable {
        /// Step s < W at peak · (s + 1) / W (llm.c). Every committed `quick` and `smoke` run.
        case fromFirstUpdate = "from-first-update"
        /// Step s < W at peak · s / W (transformers' `_get_linear_schedule_with_warmup_lr_lambda`
        /// and its cosine twin): step 0 runs at rate 0 (its gradient still enters AdamW's
        /// moments and the bias correction's count), so the ramp lags one step behind.
        case huggingFace = "hugging-face"
    }
    public var warmupSteps: Int
    public var totalSteps: Int
    public var peak: Float
    public var kind: Kind
    public var minRatio: Float
    public var warmup: Warmup

    public init(warmupSteps: Int, totalSteps: Int, peak: Float, kind: Kind = .linear, minRatio: Float = 0,
                warmup: Warmup = .fromFirstUpdate) {
        precondition(warmupSteps >= 0 && totalSteps >= warmupSteps, "LRSchedule: warm-up \(warmupSteps) > total \(totalSteps)")
        precondition(peak >= 0 && (0...1).contains(minRatio), "LRSchedule: peak \(peak), minRatio \(minRatio)")
        (self.warmupSteps, self.totalSteps, self.peak, self.kind, self.minRatio, self.warmup) =
            (warmupSteps, totalSteps, peak, kind, minRatio, warmup)
    }

    /// The rate for 0-based optimizer step `step`.
    public func lr(at step: Int) -> Float {
        precondition(step >= 0, "LRSchedule: negative step \(step)")
        if step < warmupSteps {
            let ramp = warmup == .fromFirstUpdate ? step + 1 : step
            return peak * Float(ramp) / Float(warmupSteps)
        }
        let floor = peak * minRatio
        let span = totalSteps - warmupSteps
        let progress = span == 0 ? 1 : min(1, Double(step - warmupSteps) / Double(span))
        let frac: Double
        switch kind {
        case .linear: frac = 1 - progress
        case .cosine: frac = 0.5 * (1 + cos(Double.pi * progress))
        }
        return floor + (peak - floor) * Float(frac)
    }
}
