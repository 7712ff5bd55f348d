import Foundation
import Testing
@testable import TSRec

/// LC-Rec's test inside the pipeline (smoke budget, 2-layer backbone, 8 real Industrial test
/// rows): every seqrec template asks every row, one predictions file each, and the row's
/// metrics are their mean (RUCAIBox/LC-Rec run_test.sh `--test_prompt_ids all`, test.py:53-149).
@Suite(.enabled(if: TSRecFixtures.industrialAndModelAvailable, "needs the SmolLM2 GGUF and the Industrial dataset in the cache (make model data)"))
struct TestPromptsPipelineTests {
    @Test func lcrecAsksEveryRowWithEveryTemplate() throws {
        try SmokePipeline.withResults("test-prompts-pipeline") { paths in
            let dir = paths.results
            let config = SmokePipeline.config(.lcrec, testRows: 8)
            var lcrec = Pipeline(config, label: "LC-Rec", paths: paths)
            let box = lcrec.keepingLog()
            let result = try lcrec.run()

            // one file per template, the first under the one-prompt name; the row is their mean
            let urls = try lcrec.predictionsURLs(testRows: 8)
            #expect(urls.count == SFTRecipe.lcrec.tasks[0].templates.count && urls.count == 4)
            #expect(result.predictionsPath == urls[0].path && result.promptPredictionsPaths == urls.map(\.path))
            let files = try PredictionsFile.read(prompts: result.allPredictionsPaths)
            let p = try lcrec.prepare()
            let catalogue = Set(p.dataset.index.sids)
            #expect(result.metrics == MetricRow.evaluate(promptFiles: files, catalogue: catalogue) && result.metrics.rows == 8)
            #expect(box.lines.contains { $0.contains("test prompt 4 of 4") } && box.lines.contains { $0.contains("mean over 4 test prompts") })
            // each template's metrics beside the predictions, then their mean (the row), min and max
            let table = try CSV.read(from: urls[0].deletingLastPathComponent().appendingPathComponent("test-prompts-codes-beam5-n8.csv"))
            #expect(try table.column("prompt") == ["0", "1", "2", "3", "mean", "min", "max"])
            #expect(try table.column("predictions").prefix(4) == ArraySlice(urls.map(\.lastPathComponent)))
            let perPrompt = try table.column("HR@10").map { Double($0)! }
            #expect(perPrompt[4] == result.metrics.hr10 && perPrompt[5] == perPrompt[..<4].min()! && perPrompt[6] == perPrompt[..<4].max()!)
            #expect(perPrompt[0] == MetricRow.evaluate(files[0], catalogue: catalogue).hr10)

            // file k was asked with template k: the prompts differ, and decoding the rows again with
            // template 2 gives file 2's rankings
            let rows = Array(try p.dataset.split(.test).rows.prefix(8))
            let asked = try (0 ..< 4).map { try lcrec.testPrompts(rows: rows, builder: p.builder, dataset: p.dataset, prompt: $0) }
            #expect(Set(asked.map { $0[0] }).count == 4)
            _ = try lcrec.train(p)                                           // the finished run's weights
            let again = try lcrec.cachedPredictions(p, rows: rows, at: dir.appendingPathComponent("prompt2.jsonl"), prompt: 2).predictions
            #expect(again.map(\.ranked) == files[2].map(\.ranked))

            // a report reads the same files; the one-prompt configuration is the same run's first file
            let finished = try #require(try lcrec.finishedResult())
            #expect(finished.metrics == result.metrics && finished.allPredictionsPaths == result.allPredictionsPaths)
            var firstOnly = config
            firstOnly.testPrompts = nil
            let one = try #require(try Pipeline(firstOnly, label: "LC-Rec (template 0)", paths: paths).finishedResult())
            #expect(one.predictionsPath == urls[0].path && one.promptPredictionsPaths == nil)
            #expect(one.metrics == MetricRow.evaluate(files[0], catalogue: catalogue))
            // paired, the mean over templates against template 0: each side's mean is its table value
            let report = PairedReport(reference: result, others: [one], metrics: ["HR@10", "NDCG@10"])
            let hr10 = try #require(report.pairs.first?.comparison.metrics.first)
            #expect(abs(hr10.meanA - result.metrics.hr10) < 1e-12 && abs(hr10.meanB - one.metrics.hr10) < 1e-12)

            // a template's file missing: the row is pending, never a mean over fewer templates
            try FileManager.default.removeItem(at: urls[3])
            #expect(try lcrec.finishedResult()?.metrics == nil)
        }
    }
}
