extension RunResult {
    /// The per-run CSV of a study (ablation variants, seed runs): dataset, the run's name
    /// (`nameColumn`: variant, method), one column that tells the runs apart (`keyColumn`:
    /// profile, seed), the configuration hash, the paper's metrics, best validation loss and
    /// training seconds.
    static func studyHeader(nameColumn: String, keyColumn: String) -> [String] {
        ["dataset", nameColumn, keyColumn, "config_hash"] + ResultsReport.tableMetrics + ["best_valid_loss", "train_seconds"]
    }

    /// This run as a row under `studyHeader`, with `key` the value of its key column.
    func studyRow(key: String) -> [String] {
        [dataset, method, key, configHash] + ResultsReport.tableMetrics.map { CSV.cell(metrics.value(named: $0)) }
            + [CSV.cell(bestValidLoss), String(format: "%.0f", trainSeconds)]
    }
}
