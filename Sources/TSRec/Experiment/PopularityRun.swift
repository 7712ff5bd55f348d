import Foundation

extension RunResult {
    /// The popularity floor on `config`'s test rows: every row gets the 20 most frequent train
    /// targets. Any model worth reporting must beat it.
    public static func popularity(_ dataset: Dataset, _ config: ExperimentConfig) throws -> RunResult {
        let started = Date()
        let train = try dataset.split(.train).rows
        let floor = PopularityBaseline(trainItems: train.map(\.targetItemID), trainSIDs: train.map(\.targetSID))
        let test = Array(try dataset.split(.test).rows.prefix(config.testRows ?? .max))
        let predictions = floor.predictions(for: test.map { (user: $0.userID, target: $0.targetSID) }, k: 20)
        return RunResult(dataset: dataset.benchmark.name, method: "Popularity", profile: config.profile.rawValue,
                         configHash: "-", metrics: MetricRow.evaluate(predictions, catalogue: Set(dataset.index.sids)),
                         trainSteps: 0, bestValidLoss: nil, trainSeconds: 0,
                         evalSeconds: Date().timeIntervalSince(started), validCurve: [])
    }
}
