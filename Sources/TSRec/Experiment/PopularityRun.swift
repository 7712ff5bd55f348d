import Foundation

extension RunResult {
    /// The popularity floor on `config`'s test rows: every row gets the 20 most frequent train
    /// targets. Any model worth reporting must beat it. With `runsDirectory`, its predictions are
    /// kept (`<runs>/<dataset>/popularity/predictions-n<rows>.jsonl`) for paired comparisons.
    public static func popularity(_ dataset: Dataset, _ config: ExperimentConfig, runsDirectory: URL? = nil) throws -> RunResult {
        let started = Date()
        let train = try dataset.split(.train).rows
        let floor = PopularityBaseline(trainItems: train.map(\.targetItemID), trainSIDs: train.map(\.targetSID))
        let test = Array(try dataset.split(.test).rows.prefix(config.testRows ?? .max))
        let predictions = floor.predictions(for: test.map { (user: $0.userID, target: $0.targetSID) }, k: 20)
        let evalSeconds = Date().timeIntervalSince(started)
        let kept = runsDirectory?.appendingPathComponent(dataset.benchmark.name).appendingPathComponent("popularity")
            .appendingPathComponent("predictions-n\(test.count).jsonl")
        if let kept {
            try FileManager.default.createDirectory(at: kept.deletingLastPathComponent(), withIntermediateDirectories: true)
            try PredictionsFile.write(predictions, to: kept)
        }
        return RunResult(dataset: dataset.benchmark.name, method: "Popularity", profile: config.profile.rawValue,
                         configHash: "-", metrics: MetricRow.evaluate(predictions, catalogue: Set(dataset.index.sids)),
                         trainSteps: 0, bestValidLoss: nil, trainSeconds: 0,
                         evalSeconds: evalSeconds, validCurve: [], predictionsPath: kept?.path)
    }
}
