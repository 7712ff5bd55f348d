import Foundation

/// One value of D3's assistant weight g, tried on the validation rows (`Pipeline.tunedAssistant`).
public struct AssistantTrial: Sendable, CSVRow {
    /// g, the LLM's weight (1: the assistant off).
    public var weight: Double
    public var metrics: MetricRow
    /// Seconds the decoding took (every piece of a resumed one; 0 when read back without a record).
    public var seconds: Double

    public static var csvHeader: [String] { ["g"] + MetricRow.metricNames + ["rows", "seconds"] }
    public var csvFields: [String] {
        ["\(weight)"] + MetricRow.metricNames.map { CSV.cell(metrics.value(named: $0)) } + ["\(metrics.rows)", String(format: "%.1f", seconds)]
    }
}

extension Pipeline {
    /// The same run evaluated with another assistant (an evaluation setting: no hash changes).
    func withAssistant(_ assistant: DecodingAssistant?) -> Pipeline {
        var p = self
        p.config.assistant = assistant
        return p
    }

    /// The values D3's assistant weight is chosen from (`tunedAssistant`): 1, the assistant off
    /// (D3's default and its shipped script's), down to 0, the ID-based model alone.
    public static let assistantGrid: [Double] = [1, 0.8, 0.6, 0.4, 0.2, 0]

    /// D3's assistant weight chosen on validation rows, since DecodingMatters ships no value but
    /// g = 1 (the assistant off; `evaluate.py:38`): the run's model (trained here if it is not
    /// yet, with its preference or RL stage) decodes the first `validRows` validation rows with
    /// the title trie at each g of `grid`, and the g with the best NDCG@10 is kept (ties: the
    /// larger g, nearer the assistant off). The ID-based model is trained once for every g.
    ///
    /// Each trial's predictions are cached in the evaluation folder
    /// (`assistant-valid-<model>-g<g>-beam<W>-n<rows>.jsonl`, resumable like the test
    /// evaluation) and the table written beside them (`assistant-tuning-<model>-beam<W>-n<rows>.csv`).
    public func tunedAssistant(grid: [Double] = assistantGrid, validRows: Int, model: BaselineMethod = .sasrec) throws
        -> (best: Double, trials: [AssistantTrial]) {
        guard case .titleTrie = config.evaluation else {
            throw TSRecError(.config(field: "assistant", reason: "D3's assistant guides the title trie only"),
                             hint: "--decoding title (Methods D3 and S-DPO set it)")
        }
        guard !grid.isEmpty, grid.allSatisfy({ (0...1).contains($0) }), validRows > 0 else {
            throw TSRecError(.config(field: "assistant", reason: "grid \(grid) (each g in [0, 1]) over \(validRows) validation rows"))
        }
        return try atConfiguredPrecision {
            let p = try prepare()
            _ = try train(p)                  // loads the finished weights (or trains)
            _ = try reinforce(p)
            _ = try prefer(p)
            let rows = Array(try p.dataset.split(.valid).rows.prefix(validRows))
            log("  assistant: g from \(grid.map { "\($0)" }.joined(separator: ", ")) on the first \(rows.count) validation rows, by NDCG@10")
            let distributions = try assistantDistributions(DecodingAssistant(model: model, weight: 0), dataset: p.dataset, rows: rows)
            let catalogue = Set(p.dataset.index.sids)
            let tag = "\(model.rawValue.lowercased())-beam\(config.beamWidth)-n\(rows.count)"
            var trials: [AssistantTrial] = []
            for g in grid {
                let trial = withAssistant(g == 1 ? nil : DecodingAssistant(model: model, weight: g))
                let url = evaluationDirectory.appendingPathComponent("assistant-valid-\(model.rawValue.lowercased())-g\(g)-beam\(config.beamWidth)-n\(rows.count).jsonl")
                log("  assistant: g = \(g)")
                let (predictions, seconds) = try trial.cachedPredictions(p, rows: rows, at: url, assistantDistributions: distributions)
                let metrics = MetricRow.evaluate(predictions, catalogue: catalogue)
                trials.append(AssistantTrial(weight: g, metrics: metrics, seconds: seconds ?? PredictionsFile.readSeconds(of: url) ?? 0))
                log(String(format: "  assistant: g = %@: HR@10 %.4f NDCG@10 %.4f (%d validation rows)", "\(g)", metrics.hr10, metrics.ndcg10, rows.count))
            }
            let best = trials.max { ($0.metrics.ndcg10, $0.weight) < ($1.metrics.ndcg10, $1.weight) }!.weight
            if communicator.isRoot {
                try CSV.write(trials, to: evaluationDirectory.appendingPathComponent("assistant-tuning-\(tag).csv"), metadata: [
                    ("run", resultHash), ("method", label), ("assistant", model.rawValue), ("rows", "first \(rows.count) validation rows"),
                    ("chosen", "g = \(best) (best NDCG@10; ties: the larger g)")])
            }
            log("  assistant: g = \(best) chosen")
            return (best, trials)
        }
    }
}
