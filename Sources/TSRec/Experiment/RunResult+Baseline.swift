extension RunResult {
    /// A baseline's result as a row of a results table (no LLM training curve; its epochs are
    /// reported as training steps).
    public init(_ b: BaselineResult, profile: Profile) {
        self.init(dataset: b.dataset, method: b.method, profile: profile.rawValue, configHash: "-", metrics: b.metrics,
                  trainSteps: b.epochs, bestValidLoss: nil, trainSeconds: b.trainSeconds, evalSeconds: b.evalSeconds,
                  validCurve: [], predictionsPath: b.predictionsPath)
    }
}
