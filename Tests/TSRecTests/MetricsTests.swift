import Foundation
import Testing
@testable import TSRec

private func isClose(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-12 * max(1, abs(a), abs(b)) }

/// `<a_i><b_i><c_i>` for a small integer, as SID strings look in the data.
private func sid(_ i: Int) -> String { "<a_\(i)><b_\(i)><c_\(i)>" }

@Test func perRowFormulas() {
    #expect(ndcg(rank: 0, k: 1) == 1)
    #expect(ndcg(rank: 2, k: 3) == 0.5)           // 1/log2(4)
    #expect(isClose(ndcg(rank: 6, k: 10), 1.0 / 3))  // 1/log2(8)
    #expect(ndcg(rank: 14, k: 20) == 0.25)        // 1/log2(16)
    #expect(ndcg(rank: 3, k: 3) == 0)             // rank must be < K
    #expect(ndcg(rank: nil, k: 20) == 0)
    #expect(hitRatio(rank: 4, k: 5) == 1 && hitRatio(rank: 5, k: 5) == 0 && hitRatio(rank: nil, k: 1) == 0)
}

/// Five rows with first-hit ranks 0, 2, 6, none, 14; the catalogue is sid(0..<100).
private let toy: [Prediction] = [
    Prediction(user: "u1", target: sid(1), ranked: [sid(1), sid(2), sid(3)]),                       // rank 0
    Prediction(user: "u2", target: sid(5), ranked: [sid(7), "junk", sid(5), sid(9)]),               // rank 2, 1 invalid
    Prediction(user: "u3", target: sid(8), ranked: (20 ..< 26).map(sid) + [sid(8)]),                // rank 6
    Prediction(user: "u4", target: sid(4), ranked: [sid(40), sid(41), "<a_1><b_2>", sid(500)]),     // miss, 2 invalid
    Prediction(user: "u5", target: sid(9), ranked: (30 ..< 44).map(sid) + [sid(9), sid(9)]),        // rank 14 (first hit)
]

@Test func metricsMatchHandComputedValues() {
    let m = MetricRow.evaluate(toy, catalogue: Set((0 ..< 100).map(sid)))
    #expect(m.rows == 5)
    // HR@K = (#rows with rank < K) / 5.
    #expect(m.hr1 == 0.2 && m.hr3 == 0.4 && m.hr5 == 0.4 && m.hr10 == 0.6 && m.hr20 == 0.8)
    // NDCG@K = Σ 1/log2(rank+2) over rows with rank < K, / 5.
    #expect(isClose(m.ndcg1, 1.0 / 5))
    #expect(isClose(m.ndcg3, (1 + 0.5) / 5))
    #expect(isClose(m.ndcg5, (1 + 0.5) / 5))
    #expect(isClose(m.ndcg10, (1 + 0.5 + 1.0 / 3) / 5))
    #expect(isClose(m.ndcg20, (1 + 0.5 + 1.0 / 3 + 0.25) / 5))
    // "junk", "<a_1><b_2>" and sid(500) are not in the catalogue; 3 + 4 + 7 + 4 + 16 = 34 ranked strings.
    #expect(m.invalid == 3)
    #expect(isClose(m.invalidRate, 3.0 / 34))
    #expect(m.value(named: "NDCG@3") == m.ndcg3 && m.value(named: "hr@20") == m.hr20 && m.value(named: "HR@2") == nil)
}

/// LC-Rec's test asks every row with each of its prompts: a metric is the mean over prompts of
/// each prompt's mean (`test.py:53-149`), here by hand on two prompts of the toy's rows.
@Test func promptFilesAverageEachPromptsMean() {
    let catalogue = Set((0 ..< 100).map(sid))
    // prompt 2: u1 misses, u3 hits at rank 0, the others as in `toy`
    var second = toy
    second[0].ranked = [sid(2), sid(3)]
    second[2].ranked = [sid(8)]
    let m = MetricRow.evaluate(promptFiles: [toy, second], catalogue: catalogue)
    #expect(m.rows == 5)
    // HR@1: toy 1/5, second 1/5 -> 0.2; HR@10: toy 3/5, second 2/5 (u2, u3; u5 is past 10) -> 0.5
    // HR@3: toy 2/5 (u1, u2), second 2/5 (u2, u3) -> 0.4; HR@20: toy 4/5, second 3/5 -> 0.7
    #expect(isClose(m.hr1, 0.2) && isClose(m.hr3, 0.4) && isClose(m.hr10, 0.5) && isClose(m.hr20, 0.7))
    // NDCG@10: toy (1 + 1/2 + 1/3) / 5, second (1/2 + 1) / 5, averaged
    #expect(isClose(m.ndcg10, ((1 + 0.5 + 1.0 / 3) / 5 + (0.5 + 1) / 5) / 2))
    // invalid strings over both prompts' ranked strings: 3 + 3 of 34 + 27
    #expect(m.invalid == 6 && isClose(m.invalidRate, 6.0 / 61))
    // one prompt is the plain evaluation
    #expect(MetricRow.evaluate(promptFiles: [toy], catalogue: catalogue) == MetricRow.evaluate(toy, catalogue: catalogue))
}

@Test func collidedItemsCountAsHits() {
    // Two different items share one SID string: predicting the string is a hit for either target.
    let shared = "<a_3><b_7><c_1>"
    let rows = [Prediction(user: "u1", target: shared, ranked: ["<a_0><b_0><c_0>", shared]),
                Prediction(user: "u2", target: shared, ranked: [shared])]
    let m = MetricRow.evaluate(rows, catalogue: [shared, "<a_0><b_0><c_0>"])
    #expect(m.hr1 == 0.5 && m.hr3 == 1)
    #expect(isClose(m.ndcg3, (1 / log2(3.0) + 1) / 2))
}

@Test func metricRowCSVColumns() {
    let m = MetricRow.evaluate(toy, catalogue: Set((0 ..< 100).map(sid)))
    #expect(MetricRow.csvHeader == ["rows", "HR@1", "HR@3", "HR@5", "HR@10", "HR@20",
                                    "NDCG@1", "NDCG@3", "NDCG@5", "NDCG@10", "NDCG@20", "invalid", "invalid_rate"])
    #expect(m.csvFields[0] == "5" && m.csvFields[1] == "0.2" && m.csvFields[11] == "3")
}

@Test func predictionsFileRoundTrip() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-metrics-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("predictions.jsonl")
    let rows = toy + [Prediction(user: "quote \" comma , newline \n é/ü", target: sid(2), ranked: [])]
    try PredictionsFile.write(rows, to: url)
    let text = try String(contentsOf: url, encoding: .utf8)
    #expect(text.split(separator: "\n").count == rows.count)  // one line per prediction, newline escaped
    #expect(try PredictionsFile.read(from: url) == rows)
}

/// A prediction without generated text is written as before it could carry one (the committed
/// records stay byte-identical); BIGRec's generated text round-trips.
@Test func generatedTextIsWrittenOnlyWhenThere() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-metrics-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("predictions.jsonl")
    let rows = [Prediction(user: "u1", target: "s", ranked: ["s"]),
                Prediction(user: "u2", target: "s", ranked: ["t"], generated: "\"Digital Caliper\"")]
    try PredictionsFile.write(rows, to: url)
    let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
    #expect(lines[0] == #"{"ranked":["s"],"target":"s","user":"u1"}"#)
    #expect(lines[1] == #"{"generated":"\"Digital Caliper\"","ranked":["t"],"target":"s","user":"u2"}"#)
    #expect(try PredictionsFile.read(from: url) == rows)
}

/// A title row's misses (ranks that carry the target's SID under another title) are skipped by
/// `hitRank`, written only when there are some, and round-trip. Hand-computed: the hit moves from
/// rank 0 to rank 2, so HR@1 = 0, HR@3 = 1 and NDCG@3 = 1/log2(4) = 0.5.
@Test func titleMissesAreSkippedAndRoundTrip() throws {
    let p = Prediction(user: "u", target: "s", ranked: ["s", "t", "s"], titleMisses: [0])
    #expect(p.hitRank == 2)
    #expect(Prediction(user: "u", target: "s", ranked: ["s", "t"], titleMisses: [0]).hitRank == nil)
    #expect(Prediction(user: "u", target: "s", ranked: ["s"], titleMisses: []).hitRank == 0)
    let m = MetricRow.evaluate([p], catalogue: ["s", "t"])
    #expect(m.hr1 == 0 && m.hr3 == 1 && abs(m.ndcg3 - 0.5) < 1e-12 && m.invalid == 0)
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-metrics-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("predictions.jsonl")
    try PredictionsFile.write([p], to: url)
    let line = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")[0]
    #expect(line == #"{"ranked":["s","t","s"],"target":"s","titleMisses":[0],"user":"u"}"#)
    #expect(try PredictionsFile.read(from: url) == [p])
}

@Test func predictionsFileReportsTheBadLine() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-metrics-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("bad.jsonl")
    try AtomicFile.write("""
        {"user":"u1","target":"x","ranked":["x"]}

        {"user":"u2","ranked":["x"]}
        """, to: url)
    do {
        _ = try PredictionsFile.read(from: url)
        Issue.record("expected an error")
    } catch let e as TSRecError {
        guard case let .format(path, line, field, _) = e.kind else { Issue.record("wrong kind \(e.kind)"); return }
        #expect(path == url.path && line == 3 && field == "target")
    }
}

@Test func popularityRanksByTrainCountThenItemID() {
    // Counts: item 5 ×3, item 1 ×2, item 3 ×2, item 2 ×1, item 7 ×1. Items 2 and 7 share a SID (collision).
    let items = [3, 1, 3, 2, 1, 5, 5, 5, 7]
    let sids = items.map { $0 == 7 ? sid(2) : sid($0) }
    let pop = PopularityBaseline(trainItems: items, trainSIDs: sids)
    // 5 (3), then the tie 1 < 3 (2 each), then 2 < 7 (1 each) whose shared SID appears once.
    #expect(pop.ranking == [sid(5), sid(1), sid(3), sid(2)])
    #expect(pop.top(2) == [sid(5), sid(1)])
    let preds = pop.predictions(for: [(user: "a", target: sid(3)), (user: "b", target: sid(9))], k: 3)
    #expect(preds.map(\.ranked) == [[sid(5), sid(1), sid(3)], [sid(5), sid(1), sid(3)]])
    let m = MetricRow.evaluate(preds, catalogue: Set(sids))
    #expect(m.hr1 == 0 && m.hr3 == 0.5 && m.ndcg3 == 0.25)  // one hit at rank 2 out of two rows: 0.5/2
}

@Test func predictionJournalKeepsWhatWasAppendedAndIgnoresATornLine() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-journal-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let journal = PredictionJournal(url: dir.appendingPathComponent("p.jsonl.partial"))
    #expect(journal.load().isEmpty)
    try journal.append([(row: 4, prediction: toy[0]), (row: 1, prediction: toy[1])])
    try journal.append([(row: 0, prediction: toy[2])])
    // A process killed mid-write leaves half a line at the end.
    let handle = try FileHandle(forWritingTo: journal.url)
    try handle.seekToEnd()
    try handle.write(contentsOf: Data(#"{"row":7,"prediction":{"user":"u"#.utf8))
    try handle.close()
    #expect(journal.load() == [4: toy[0], 1: toy[1], 0: toy[2]])
    try journal.append([(row: 2, prediction: toy[3])])  // the resumed run appends after the torn line
    #expect(journal.load() == [4: toy[0], 1: toy[1], 0: toy[2], 2: toy[3]])
    journal.remove()
    #expect(!FileManager.default.fileExists(atPath: journal.url.path))
}

/// Three users: two get the same list, the third another list with the same first item.
@Test func rankingDiversityByHand() {
    let p = [Prediction(user: "u1", target: "x", ranked: ["A", "B", "C"]),
             Prediction(user: "u2", target: "y", ranked: ["A", "B", "C"]),
             Prediction(user: "u3", target: "z", ranked: ["A", "D", "E"])]
    let d = RankingDiversity(p)
    #expect(d.rows == 3 && d.distinctLists == 2 && d.distinctTop1 == 1 && d.topItemShare == 1 && d.distinctItems == 5)
    // at k = 1 the lists are the first items only
    #expect(RankingDiversity(p, k: 1).distinctLists == 1 && RankingDiversity(p, k: 1).distinctItems == 1)
    let collapsed = RankingDiversity(Array(repeating: p[0], count: 4) + [Prediction(user: "u5", target: "x", ranked: ["B", "A"])])
    #expect(collapsed.distinctLists == 2 && collapsed.distinctTop1 == 2 && abs(collapsed.topItemShare - 0.8) < 1e-12)
}
