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

    /// The rule of `tunedAssistant`: the g with the best validation NDCG@10, ties to the larger g.
    static func chosenWeight(_ trials: [(weight: Double, ndcg10: Double)]) -> Double {
        trials.max { ($0.ndcg10, $0.weight) < ($1.ndcg10, $1.weight) }!.weight
    }

    /// `assistant-tuning-<model>-beam<W>-n<rows>.csv`, in the evaluation folder.
    static func tuningFileName(model: BaselineMethod, beam: Int, rows: Int) -> String {
        "assistant-tuning-\(model.rawValue.lowercased())-beam\(beam)-n\(rows).csv"
    }

    /// The g a finished `tunedAssistant` chose, read from its table in the run folder, else in
    /// the committed record (the table over the most validation rows when there are several;
    /// nil: not tuned). Reports use it to add the labelled variant's row.
    public func tunedAssistantWeight(model: BaselineMethod = .sasrec) throws -> Double? {
        let prefix = "assistant-tuning-\(model.rawValue.lowercased())-beam\(config.beamWidth)-n"
        func rows(_ name: String) -> Int? {
            name.hasPrefix(prefix) && name.hasSuffix(".csv") ? Int(name.dropFirst(prefix.count).dropLast(4)) : nil
        }
        let roots = [runDirectory] + (recordDirectory.map { [$0] } ?? [])
        let found = roots.lazy.compactMap { root -> URL? in
            let folder = self.evaluationFolder(under: root)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
            return names.filter { rows($0) != nil }.max { rows($0)! < rows($1)! }.map { folder.appendingPathComponent($0) }
        }.first
        guard let url = found else { return nil }
        let table = try CSV.read(from: url)
        let g = try table.numericColumn("g"), ndcg = try table.numericColumn("NDCG@10")
        guard !g.isEmpty, g.allSatisfy({ $0 != nil }), ndcg.allSatisfy({ $0 != nil }) else {
            throw TSRecError(.format(path: url.path, line: table.metadata.count + 1, field: "g, NDCG@10", reason: "empty or missing cells"),
                             hint: "delete the file and run `tsrec run --method \(label) --assistant-g tune` again")
        }
        return Self.chosenWeight(zip(g, ndcg).map { ($0!, $1!) })
    }

    /// Throws unless the run decodes with the title trie, the only search D3's assistant guides.
    func checkAssistantDecoding() throws {
        guard case .titleTrie = config.evaluation else {
            throw TSRecError(.config(field: "assistant", reason: "D3's assistant guides the title trie only"),
                             hint: "--decoding title (Methods D3 and S-DPO set it)")
        }
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
        try checkAssistantDecoding()
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
            // the ID model is trained once for every g, and only when some trial has rows left to decode
            var trained: [[Float]]?
            let distributions = { () throws -> [[Float]] in
                if let trained { return trained }
                let d = try assistantDistributions(DecodingAssistant(model: model, weight: 0), dataset: p.dataset, rows: rows)
                trained = d
                return d
            }
            let catalogue = Set(p.dataset.index.sids)
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
            let best = Self.chosenWeight(trials.map { ($0.weight, $0.metrics.ndcg10) })
            if communicator.isRoot {
                try CSV.write(trials, to: evaluationDirectory.appendingPathComponent(Self.tuningFileName(model: model, beam: config.beamWidth, rows: rows.count)), metadata: [
                    ("run", resultHash), ("method", label), ("assistant", model.rawValue), ("rows", "first \(rows.count) validation rows"),
                    ("chosen", "g = \(best) (best NDCG@10; ties: the larger g)")])
            }
            log("  assistant: g = \(best) chosen")
            return (best, trials)
        }
    }
}
