import Foundation
import Testing
@testable import TSRec

private func scratch(_ name: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("tsrec-report-\(name)-\(UUID().uuidString)")
}

// MARK: - CSV

@Test func csvQuotesOnlyWhereNeeded() {
    let text = CSV.render(header: ["a", "b", "c"], rows: [["plain", "x,y", "say \"hi\""], ["#tag", " pad", ""]],
                          metadata: [("commit", "abc123"), ("note", "two\nlines")])
    #expect(text == """
        # commit: abc123
        # note: two lines
        a,b,c
        plain,"x,y","say ""hi\"""
        "#tag"," pad",

        """)
}

@Test func csvRoundTrip() throws {
    let header = ["name", "value", "text"]
    let rows = [["HR@3", "0.1143", "plain"],
                ["comma,inside", "", "quote \" inside"],
                ["multi\nline", "1e-05", "  spaces  "],
                ["#hash", "-0.5", "ünïcödé, \"both\"\r\nCRLF"]]
    let url = scratch("csv").appendingPathComponent("t.csv")
    defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
    try CSV.write(header: header, rows: rows, to: url, metadata: [("dataset", "Industrial_and_Scientific"), ("seed", "42")])
    let back = try CSV.read(from: url)
    #expect(back.header == header)
    #expect(back.rows == rows)
    #expect(back.metadata.map(\.key) == ["dataset", "seed"] && back.metadataValue("seed") == "42")
    #expect(try back.numericColumn("value") == [0.1143, nil, 1e-05, -0.5])
}

@Test func csvErrorsNameTheLine() {
    #expect {
        try CSV.parse("# k: v\na,b\n1,2\n3\n", source: "x.csv")
    } throws: { e in
        guard let e = e as? TSRecError, case let .format(path, line, _, _) = e.kind else { return false }
        return path == "x.csv" && line == 4
    }
    #expect(throws: TSRecError.self) { try CSV.parse("a,b\n\"open,2\n") }
}

@Test func typedRowsWriteTheirHeader() throws {
    let url = scratch("typed").appendingPathComponent("m.csv")
    defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
    let m = MetricRow.evaluate([Prediction(user: "u", target: "s", ranked: ["t", "s"])], catalogue: ["s", "t"])
    try CSV.write([m], to: url)
    let back = try CSV.read(from: url)
    #expect(back.header == MetricRow.csvHeader)
    #expect(try back.numericColumn("HR@1") == [0] && back.numericColumn("NDCG@3") == [1 / log2(3.0)])
}

// MARK: - gnuplot

private let pngMagic: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

@Test func gnuplotRendersBarChart() throws {
    let dir = scratch("bars")
    defer { try? FileManager.default.removeItem(at: dir) }
    let chart = BarChart(title: "Industrial_and_Scientific: it's a test", ylabel: "value",
                         categories: ["HR@3", "NDCG@3", "HR@10"],
                         series: [.init(name: "MiniOneRec (reported)", values: [0.1143, 0.1011, nil]),
                                  .init(name: "TS-Rec (reproduced)", values: [0.02, 0.015, 0.05])],
                         note: "no bar = unknown")
    let fig = try chart.render(to: dir.appendingPathComponent("bars"))
    let png = try Data(contentsOf: fig.png), svg = try String(contentsOf: fig.svg, encoding: .utf8)
    #expect(Array(png.prefix(8)) == pngMagic && png.count > 1000)
    #expect(svg.contains("<svg") && svg.contains("</svg>"))
    #expect(try String(contentsOf: fig.script, encoding: .utf8).contains("$bars << EOD"))
}

@Test func gnuplotRendersLinePlotFromCSV() throws {
    let dir = scratch("lines")
    defer { try? FileManager.default.removeItem(at: dir) }
    var series: [LinePlot.Series] = []
    for (name, slope) in [("MiniOneRec-SFT", 0.01), ("TS-Rec", 0.02)] {
        let csv = dir.appendingPathComponent("\(name).csv")
        try CSV.write(header: ["step", "val_loss"], rows: (0 ..< 10).map { ["\($0 * 10)", $0 == 4 ? "" : "\(3 - slope * Double($0 * 10))"] },
                      to: csv, metadata: [("variant", name)])
        series.append(try .fromCSV(csv, x: "step", y: "val_loss", name: name))
    }
    #expect(series[0].points.count == 9)  // the empty cell is skipped
    let fig = try LinePlot(title: "validation loss", ylabel: "loss", series: series).render(to: dir.appendingPathComponent("loss"))
    #expect(Array(try Data(contentsOf: fig.png).prefix(8)) == pngMagic)
    #expect(try Data(contentsOf: fig.svg).count > 1000)
}

/// The RL figure: stacked panels (multiplot), drawn to both terminals (a multiplot cannot be replotted).
@Test func gnuplotRendersPanelPlot() throws {
    let dir = scratch("panels")
    defer { try? FileManager.default.removeItem(at: dir) }
    let reward = LinePlot.Series(name: "TS-Rec", points: (1...5).map { (x: Double($0), y: 0.1 * Double($0)) })
    let kl = LinePlot.Series(name: "TS-Rec", points: (1...5).map { (x: Double($0), y: 1e-4 * Double($0)) })
    let empty = LinePlot.Series(name: "none", points: [])
    let plot = PanelPlot(title: "RL", panels: [LinePlot(title: "reward", ylabel: "r", series: [reward]),
                                              LinePlot(title: "kl", ylabel: "kl", series: [kl]),
                                              LinePlot(title: "nothing", ylabel: "-", series: [empty])])
    let fig = try plot.render(to: dir.appendingPathComponent("rl"))
    let script = try String(contentsOf: fig.script, encoding: .utf8)
    #expect(script.components(separatedBy: "set multiplot layout 2,1").count == 3)   // png and svg; the empty panel is left out
    #expect(script.contains("$p1s0 << EOD") && !script.contains("replot"))
    #expect(Array(try Data(contentsOf: fig.png).prefix(8)) == pngMagic)
    #expect(try String(contentsOf: fig.svg, encoding: .utf8).contains("</svg>"))
}

@Test func intervalPlotMarginFitsTheLongestLabel() {
    let short = IntervalPlot(title: "t", xlabel: "x", rows: [.init(label: "seed 42: HR@10", estimate: 0, low: -1, high: 1)])
    #expect(short.body.contains("set lmargin 34\n"))
    let long = "TS-Rec seed 43 minus TS-Rec seed 42: NDCG@10"   // 44 characters
    let plot = IntervalPlot(title: "t", xlabel: "x", rows: short.rows + [.init(label: long, estimate: 0, low: -1, high: 1)])
    #expect(plot.body.contains("set lmargin 47\n"))   // 44 + 3
}

/// A committed `.gp` must re-plot in any clone: moved to another folder and run from a third
/// one, it writes its images beside itself (nothing names the folder it was generated in).
@Test func gnuplotScriptReplotsWhereverItIsMoved() throws {
    let made = scratch("made"), moved = scratch("moved"), cwd = scratch("cwd")
    defer { for d in [made, moved, cwd] { try? FileManager.default.removeItem(at: d) } }
    try Gnuplot.render(body: "plot x", to: made.appendingPathComponent("line"))
    let script = try String(contentsOf: made.appendingPathComponent("line.gp"), encoding: .utf8)
    #expect(!script.contains(made.path))
    for d in [moved, cwd] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
    try FileManager.default.copyItem(at: made.appendingPathComponent("line.gp"), to: moved.appendingPathComponent("line.gp"))
    let gnuplot = Process()
    gnuplot.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    gnuplot.arguments = ["gnuplot", moved.appendingPathComponent("line.gp").path]
    gnuplot.currentDirectoryURL = cwd
    try gnuplot.run()
    gnuplot.waitUntilExit()
    #expect(gnuplot.terminationStatus == 0)
    for ext in ["png", "svg"] {
        let size = try FileManager.default.attributesOfItem(atPath: moved.appendingPathComponent("line.\(ext)").path)[.size] as? Int
        #expect((size ?? 0) > 0, "line.\(ext) beside the moved script")
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: cwd.path).isEmpty)
}

@Test func gnuplotFailureNamesTheScript() {
    let dir = scratch("broken")
    defer { try? FileManager.default.removeItem(at: dir) }
    let base = dir.appendingPathComponent("broken")
    #expect {
        try Gnuplot.render(body: "plot $nothing using 1:2", to: base)
    } throws: { e in
        "\(e)".contains(base.appendingPathExtension("gp").path)
    }
}

// MARK: - Comparison

private let reportedCSV = """
    dataset,method,HR@3,NDCG@3,HR@5,NDCG@5,HR@10,NDCG@10
    Industrial_and_Scientific,MiniOneRec,0.1143,0.1011,0.1321,0.1084,0.1586,0.1167
    Industrial_and_Scientific,TS-Rec,,,,,,
    Office_Products,MiniOneRec,0.1217,0.1088,0.1420,,0.1634,NA

    """

private func metrics(hr3: Double, ndcg3: Double) -> MetricRow {
    MetricRow(rows: 10, hr: [0.01, hr3, 0.2, 0.3, 0.4], ndcg: [0.01, ndcg3, 0.2, 0.3, 0.4], invalid: 0, invalidRate: 0)
}

@Test func comparisonLeavesUnknownReportedCellsEmpty() throws {
    let dir = scratch("cmp")
    defer { try? FileManager.default.removeItem(at: dir) }
    let src = dir.appendingPathComponent("reported.csv")
    try AtomicFile.write(reportedCSV, to: src)
    let reported = try ReportedTable.load(from: src)
    #expect(reported.metrics == ["HR@3", "NDCG@3", "HR@5", "NDCG@5", "HR@10", "NDCG@10"])
    #expect(reported.value(dataset: "Office_Products", method: "MiniOneRec", metric: "NDCG@5") == nil)
    #expect(reported.value(dataset: "Office_Products", method: "MiniOneRec", metric: "NDCG@10") == nil)

    let cmp = Comparison(reproduced: [
        ReproducedResult(dataset: "Industrial_and_Scientific", method: "MiniOneRec-SFT (ours)", reportedMethod: "MiniOneRec",
                         metrics: metrics(hr3: 0.1, ndcg3: 0.09)),
        ReproducedResult(dataset: "Industrial_and_Scientific", method: "TS-Rec", metrics: metrics(hr3: 0.12, ndcg3: 0.11)),
        ReproducedResult(dataset: "Industrial_and_Scientific", method: "Popularity", metrics: metrics(hr3: 0.01, ndcg3: 0.005)),
    ], reported: reported, metrics: ["HR@3", "NDCG@3"])
    #expect(cmp.rows.count == 6)
    let first = cmp.rows[0]
    #expect(first.metric == "HR@3" && first.reported == 0.1143 && first.reproduced == 0.1)
    #expect(abs(first.difference! - (0.1 - 0.1143)) < 1e-15 && first.note.isEmpty)
    // TS-Rec's row exists with empty cells; Popularity has no row at all: both unknown, nothing invented.
    for r in cmp.rows.dropFirst(2) {
        #expect(r.reported == nil && r.difference == nil && r.note == "unknown (not available offline)")
    }

    let csvURL = dir.appendingPathComponent("comparison.csv")
    try cmp.writeCSV(to: csvURL)
    let back = try CSV.read(from: csvURL)
    #expect(back.metadataValue("reported_source") == src.path)
    #expect(try back.column("reported") == ["0.1143", "0.1011", "", "", "", ""])
    #expect(try back.column("difference")[2...] == ["", "", "", ""])
    #expect(try back.column("reproduced") == ["0.1", "0.09", "0.12", "0.11", "0.01", "0.005"])

    let md = cmp.markdown
    #expect(md.contains("| Industrial_and_Scientific | TS-Rec | TS-Rec | HR@3 | unknown (not available offline) | 0.1200 |  |  |"))
    #expect(md.contains("| 0.1143 | 0.1000 | -0.0143 | -12.5% |"))

    let chart = cmp.barChart(dataset: "Industrial_and_Scientific")
    #expect(chart.categories == ["HR@3", "NDCG@3"])
    #expect(chart.series.map(\.name) == ["MiniOneRec (reported)", "MiniOneRec-SFT (ours) (reproduced)",
                                         "TS-Rec (reproduced)", "Popularity (reproduced)"])
    // A method's reported and reproduced bars share its colour; only the reported one is hatched.
    #expect(chart.series.map(\.color) == [0, 0, 1, 2] && chart.series.map(\.hatched) == [true, false, false, false])
    let plotLines = chart.body.split(separator: "\n").filter { $0.contains("title") && $0.contains("lc rgb") }
    #expect(plotLines.count == 4)
    #expect(plotLines[0].contains("fs pattern") && plotLines[0].contains(BarChart.palette[0]))
    #expect(plotLines[1].contains("fs solid") && plotLines[1].contains(BarChart.palette[0]))
    #expect(plotLines[2].contains(BarChart.palette[1]))
}

/// A method that has not run keeps its rows: the reported cells filled, the reproduced ones and
/// the differences empty, a note saying what would run it; the figure draws its reported bars only.
@Test func comparisonKeepsAPendingMethodsRows() throws {
    let dir = scratch("cmp-pending")
    defer { try? FileManager.default.removeItem(at: dir) }
    let src = dir.appendingPathComponent("reported.csv")
    try AtomicFile.write(reportedCSV, to: src)
    let cmp = Comparison(reproduced: [
        ReproducedResult(dataset: "Industrial_and_Scientific", method: "TS-Rec", metrics: metrics(hr3: 0.12, ndcg3: 0.11)),
    ], reported: try ReportedTable.load(from: src), metrics: ["HR@3", "NDCG@3"], pending: [
        PendingResult(dataset: "Industrial_and_Scientific", method: "MiniOneRec", reportedMethod: "MiniOneRec", detail: "run abc"),
    ])
    #expect(cmp.rows.count == 4)
    let pending = Array(cmp.rows[2...])
    #expect(pending.map(\.reported) == [0.1143, 0.1011] && pending.allSatisfy { $0.reproduced == nil && $0.difference == nil })
    #expect(pending.allSatisfy { $0.relativeDifference == nil && $0.note == "not run yet (run abc)" })
    let csvURL = dir.appendingPathComponent("comparison.csv")
    try cmp.writeCSV(to: csvURL)
    let back = try CSV.read(from: csvURL)
    #expect(try back.column("reproduced") == ["0.12", "0.11", "", ""])
    #expect(try back.column("reported")[2...] == ["0.1143", "0.1011"])
    #expect(cmp.markdown.contains("| Industrial_and_Scientific | MiniOneRec | MiniOneRec | HR@3 | 0.1143 | not run yet (run abc) |  |  |"))
    let chart = cmp.barChart(dataset: "Industrial_and_Scientific")
    #expect(chart.series.map(\.name) == ["TS-Rec (reproduced)", "MiniOneRec (reported)"])
}

@Test func reportedTableRejectsGarbage() throws {
    let dir = scratch("bad")
    defer { try? FileManager.default.removeItem(at: dir) }
    let src = dir.appendingPathComponent("r.csv")
    try AtomicFile.write("dataset,method,HR@3\nX,Y,0.1\nX,Z,zero point one\n", to: src)
    #expect {
        try ReportedTable.load(from: src)
    } throws: { e in
        guard let e = e as? TSRecError, case let .format(_, line, field, _) = e.kind else { return false }
        return line == 3 && field == "HR@3"
    }
}

// MARK: - Progress

@Test func progressPlainLinesEveryTenPercent() {
    var lines: [String] = []
    var t = 100.0
    let bar = ProgressBar(total: 100, label: "eval", isTTY: false, now: { t }, write: { lines.append($0) })
    for _ in 0 ..< 100 { t += 0.1; bar.advance() }
    bar.finish()
    #expect(lines.count == 10)  // 10%, …, 90%, then the summary
    #expect(lines[4] == "eval: 50% 50/100 10.0 it/s ETA 0:05\n")
    #expect(lines[9] == "eval: done 100/100 in 0:10 (10.0 it/s)\n")
}

@Test func progressShowsItsUnitAndNote() {
    var lines: [String] = []
    var t = 0.0
    let bar = ProgressBar(total: 64, label: "rl", unit: "rollouts", isTTY: false, now: { t }, write: { lines.append($0) })
    bar.note = "reward 0.120"
    for _ in 0 ..< 4 { t += 2; bar.advance(by: 16) }
    bar.finish()
    #expect(lines.count == 4)
    #expect(lines[0] == "rl: 25% 16/64 8.0 rollouts/s ETA 0:06 reward 0.120\n")
    #expect(lines.last == "rl: done 64/64 in 0:08 (8.0 rollouts/s) reward 0.120\n")
}

@Test func progressRedrawsAtMostFiveTimesPerSecond() {
    var writes: [String] = []
    var t = 0.0
    let bar = ProgressBar(total: 1000, label: "train", isTTY: true, now: { t }, write: { writes.append($0) })
    for _ in 0 ..< 1000 { t += 0.002; bar.advance() }  // 2 s of fast steps
    bar.finish()
    #expect(writes.count >= 10 && writes.count <= 12)  // initial + ≤ 2 s / 0.2 s redraws + summary
    #expect(writes.allSatisfy { $0.hasPrefix("\r") })
    #expect(writes.last == "\r\u{1B}[Ktrain: done 1000/1000 in 0:02 (500.0 it/s)\n")
    #expect(ProgressBar.duration(3725) == "1:02:05" && ProgressBar.rate(1, 4) == "4.0 s/it")
}
