// StudyKitTests.swift — tables, chart styles, gnuplot rendering, the report writer, progress.

import Foundation
import XCTest
@testable import StudyKit

final class StudyKitTests: XCTestCase {
    // MARK: Fixtures

    private var tempDirs: [URL] = []

    /// A fresh empty directory, removed after the test. Set STUDYKIT_TEST_OUTPUT to keep outputs there.
    private func makeDir(_ label: String = #function) throws -> URL {
        let stem = label.replacingOccurrences(of: "()", with: "")
        if let keep = ProcessInfo.processInfo.environment["STUDYKIT_TEST_OUTPUT"] {
            let dir = URL(fileURLWithPath: keep).appendingPathComponent(stem)
            try? FileManager.default.removeItem(at: dir)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            return dir
        }
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("studykit-\(stem)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        tempDirs.append(dir)
        return dir
    }

    override func tearDown() {
        for d in tempDirs { try? FileManager.default.removeItem(at: d) }
        tempDirs = []
        super.tearDown()
    }

    private func files(in dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    }

    private func realGnuplot() throws -> Gnuplot {
        do { return try Gnuplot.locate() } catch { throw XCTSkip("gnuplot is not installed: \(error)") }
    }

    /// A shell script standing in for gnuplot.
    private func fakeGnuplot(_ body: String, in dir: URL) throws -> Gnuplot {
        let url = dir.appendingPathComponent("gnuplot")
        try "#!/bin/sh\n\(body)\n".write(to: url, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        return try Gnuplot(executable: url.path)
    }

    private struct DemoStudy: Study {
        let name = "demo"
        let title = "Demo study"
        let claim = "Errors stay below the tolerance."
        let paperReference = "Sun et al. 2024, §2.5"
        let presets: [Preset: String] = [.quick: "T=8", .standard: "T=64", .full: "T=2048"]
        func run(_ ctx: StudyContext) throws -> StudyResult {
            ctx.progress("measuring")
            let bar = ctx.progressBar("sweep", total: 3)
            for _ in 0 ..< 3 { bar.advance() }
            bar.finish()
            return StudyKitTests.demoResult(seedNote: "seed \(ctx.seed), preset \(ctx.preset)")
        }
    }

    static func demoTable() -> Table {
        var t = Table(name: "errors", title: "Max error by length",
                      columns: [.init("layer"), .init("seq len", unit: "tokens", format: .integer),
                                .init("max |Δ|", format: .scientific(2)), .init("time", unit: "ms", format: .significant(3))])
        t.append(["ttt-linear", 128, 3.14159e-7, 12.3456])
        t.append(["ttt-mlp", 2048, 1.0e-6, 0.000123456])
        t.notes = ["Δ is dual minus primal."]
        return t
    }

    static func demoChart(name: String = "error-vs-length") -> Chart {
        Chart(name: name, title: "Max |Δ| vs sequence length",
              x: .init("sequence length", unit: "tokens", log: true),
              y: .init("max |Δ|", log: true),
              series: [.init("ttt-linear", points: [(64, 2e-7), (256, 3e-7), (1024, 4e-7), (4096, 6e-7)]),
                       .init("ttt-mlp", points: [(64, 5e-7), (256, 7e-7), (1024, 9e-7), (4096, 1.4e-6)]),
                       .init("shuffled (control)", styleKey: "control", points: [(64, 0.3), (256, 0.4), (1024, 0.5), (4096, 0.55)])],
              referenceLines: [.init(y: 1e-5, label: "tolerance 1e-5")])
    }

    static func demoResult(seedNote: String = "") -> StudyResult {
        StudyResult(tables: [demoTable()], charts: [demoChart()],
                    verdict: .pass("max |Δ| = 1.0e-06 ≤ 1e-05 at every length"),
                    notes: "Measured on CPU. \(seedNote)")
    }

    // MARK: Table

    func testMarkdownUsesColumnFormatsUnitsAndAlignment() {
        let md = Self.demoTable().markdown()
        let lines = md.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 4)
        XCTAssertEqual(lines[0], "| layer      | seq len (tokens) | max \\|Δ\\| | time (ms) |")
        XCTAssertEqual(lines[1], "| ---------- | ---------------: | --------: | --------: |")
        XCTAssertEqual(lines[2], "| ttt-linear |              128 |  3.14e-07 |      12.3 |")
        XCTAssertEqual(lines[3], "| ttt-mlp    |             2048 |  1.00e-06 |  0.000123 |")
    }

    func testCellFormattingIsDeterministic() {
        XCTAssertEqual(Table.format(.number(0.123456), with: .fixed(2)), "0.12")
        XCTAssertEqual(Table.format(.number(1234567), with: .significant(3)), "1.23e+06")
        XCTAssertEqual(Table.format(.number(0.125), with: .percent(1)), "12.5%")
        XCTAssertEqual(Table.format(.number(2.4), with: .printf("%.1fx")), "2.4x")
        XCTAssertEqual(Table.format(.number(-0.0001), with: .fixed(2)), "0.00", "rounding to zero shows no sign")
        XCTAssertEqual(Table.format(.number(-0.5), with: .fixed(1)), "-0.5")
        XCTAssertEqual(Table.format(.number(.nan), with: .scientific(2)), "NaN")
        XCTAssertEqual(Table.format(.number(-.infinity), with: .fixed(2)), "-inf")
        XCTAssertEqual(Table.format(.number(2048), with: .plain), "2048")
        XCTAssertEqual(Table.format(.integer(7), with: .fixed(2)), "7.00")
        XCTAssertEqual(Table.format(.empty, with: .fixed(2)), "")
        XCTAssertEqual(Table.format(true, with: .plain), "yes")
    }

    func testMarkdownEscapesPipesAndNewlines() {
        let t = Table(name: "t", title: "T", columns: [.init("a")], rows: [["x|y\nz"]])
        XCTAssertTrue(t.markdown().contains("| x\\|y z |"), t.markdown())
    }

    func testCSVQuotesPerRFC4180AndKeepsFullPrecision() {
        var t = Table(name: "t", title: "T", columns: [.init("name"), .init("value", unit: "s", format: .fixed(1))])
        t.append(["plain", 0.123456789])
        t.append(["a,b", 1e-7])
        t.append(["say \"hi\"", 2])
        t.append(["two\nlines", nil])
        XCTAssertEqual(t.csv(), "name,value (s)\r\nplain,0.123456789\r\n\"a,b\",1e-07\r\n\"say \"\"hi\"\"\",2\r\n\"two\nlines\",\r\n")
        XCTAssertEqual(t.csv(lineEnding: "\n").split(separator: "\n", omittingEmptySubsequences: false).first, "name,value (s)")
    }

    func testTableValidationNamesTheProblemAndFix() {
        var t = Table(name: "ok", title: "T", columns: [.init("a"), .init("b")])
        t.rows.append(["only one"])
        XCTAssertThrowsError(try t.validate()) { error in
            let msg = "\(error)"
            XCTAssertTrue(msg.contains("row 1 has 1 cells but 2 columns"), msg)
            XCTAssertFalse(msg.contains("\n"))
        }
        let bad = Table(name: "Bad Name", title: "T", columns: [.init("a")])
        XCTAssertThrowsError(try bad.validate()) { error in
            XCTAssertTrue("\(error)".contains("not a file-safe name — use lowercase"), "\(error)")
        }
    }

    // MARK: Chart style

    func testSameStyleKeyGetsSameStyleInEveryChart() {
        let a = Chart(name: "a", title: "A", x: .init("x"), y: .init("y"),
                      series: [.init("ttt-linear", points: [(1, 1)]), .init("mamba", points: [(1, 2)])])
        let b = Chart(name: "b", title: "B", x: .init("x"), y: .init("y"),
                      series: [.init("attention", points: [(1, 1)]),
                               .init("TTT-Linear (dual)", styleKey: "ttt_linear", points: [(1, 2)])])
        func styleLine(_ chart: Chart, key: String) -> String? {
            chart.gnuplotScript().split(separator: "\n").first { $0.hasPrefix("set style line") && $0.hasSuffix("# \(key)") }
                .map { String($0.split(separator: " ", maxSplits: 4)[4].split(separator: "#", maxSplits: 1).first!) }
        }
        let inA = styleLine(a, key: "ttt-linear")
        let inB = styleLine(b, key: "ttt_linear")
        XCTAssertNotNil(inA)
        XCTAssertEqual(inA, inB, "style index differs but the look must be identical")
        XCTAssertEqual(ChartStyle.style(for: "TTT_Linear"), ChartStyle.style(for: "ttt-linear"))
    }

    func testDifferentKeysGetDifferentStyles() {
        let known = ["ttt-linear", "ttt-mlp", "attention", "linear-attention", "mamba", "control", "paper"]
        let styles = known.map(ChartStyle.style(for:))
        XCTAssertEqual(Set(styles).count, known.count)
        XCTAssertEqual(Set(styles.map(\.color)).count, known.count, "known layers need distinct colours")
        // Unknown keys: deterministic (stable hash, not Swift's per-process hashValue) and distinct here.
        XCTAssertEqual(ChartStyle.fnv1a("a"), 0xaf63_dc4c_8601_ec8c)
        let x = ChartStyle.style(for: "gated-delta"), y = ChartStyle.style(for: "rwkv")
        XCTAssertNotEqual(x, y)
        XCTAssertEqual(x, ChartStyle.style(for: "gated-delta"))
        XCTAssertFalse(known.map { ChartStyle.style(for: $0).color }.contains(x.color))
    }

    // MARK: gnuplot sources

    func testGnuplotDataHasOneBlockPerSeriesAndMarksMissingValues() {
        let c = Chart(name: "c", title: "It's a title", x: .init("x"), y: .init("y"),
                      series: [.init("a", points: [(1, 2), (2, .nan)]), .init("b", points: [])])
        let data = c.gnuplotData()
        XCTAssertEqual(data.components(separatedBy: "\n\n\n").count, 2)
        XCTAssertTrue(data.contains("2 NaN\n"))
        XCTAssertTrue(data.hasSuffix("NaN NaN\n"), "empty series keep their block so indices stay aligned")
        let script = c.gnuplotScript()
        XCTAssertTrue(script.contains("set title 'It''s a title'"), script)
        XCTAssertTrue(script.contains("'c.dat' index 1 using 1:2"), script)
        XCTAssertTrue(script.contains("set terminal pngcairo size 900,600 font 'DejaVu Sans,11'"))
        XCTAssertTrue(script.contains("set terminal svg size 900,600 dynamic font 'DejaVu Sans,11'"))
    }

    func testChartValidationRejectsNothingToDraw() {
        let c = Chart(name: "c", title: "T", x: .init("x"), y: .init("y", log: true),
                      series: [.init("a", points: [(1, 0), (2, -1)])])
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("log axes need positive values"), "\($0)") }
        let grid = Chart(name: "g", title: "T", panels: [c.panels[0], c.panels[0], c.panels[0]], rows: 1, columns: 2)
        XCTAssertThrowsError(try grid.validate()) { XCTAssertTrue("\($0)".contains("rows × columns"), "\($0)") }
    }

    // MARK: Rendering with the real gnuplot

    func testRendersPNGAndSVGWithRealGnuplot() throws {
        let gnuplot = try realGnuplot()
        let dir = try makeDir()
        let out = try gnuplot.render(Self.demoChart(), in: dir)
        let png = try Data(contentsOf: out.png)
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let svg = try String(contentsOf: out.svg, encoding: .utf8)
        XCTAssertTrue(svg.contains("<svg"))
        XCTAssertTrue(svg.contains("ttt-linear"))
        XCTAssertEqual(try files(in: dir), ["error-vs-length.dat", "error-vs-length.gp", "error-vs-length.png", "error-vs-length.svg"])
    }

    func testRendersMultiPanelChart() throws {
        let gnuplot = try realGnuplot()
        let dir = try makeDir()
        let left = Chart.Panel(title: "loss", x: .init("context", unit: "tokens", log: true), y: .init("loss", unit: "nats"),
                               series: [.init("ttt-linear", points: [(1, 3), (10, 2.5), (100, 2.2)]),
                                        .init("attention", points: [(1, 3), (10, 2.4), (100, 2.0)])])
        let right = Chart.Panel(title: "time", x: .init("context", unit: "tokens", log: true), y: .init("time", unit: "ms", log: true),
                                series: [.init("ttt-linear", points: [(1, 1), (10, 10), (100, 100)]),
                                         .init("attention", points: [(1, 1), (10, 30), (100, 3000)])],
                                key: .bottomRight)
        let chart = Chart(name: "two-panels", title: "Loss and time", panels: [left, right], rows: 1, columns: 2)
        XCTAssertTrue(chart.gnuplotScript().contains("set multiplot layout 1,2"))
        XCTAssertTrue(chart.gnuplotScript().contains("size 1400,600"))
        let out = try gnuplot.render(chart, in: dir)
        XCTAssertEqual(Array(try Data(contentsOf: out.png).prefix(4)), [0x89, 0x50, 0x4E, 0x47])
    }

    // MARK: Missing or failing gnuplot

    func testMissingGnuplotMessageSaysHowToInstall() {
        XCTAssertThrowsError(try Gnuplot.locate(searchPath: "")) { error in
            XCTAssertEqual("\(error)", "gnuplot not found — \(Gnuplot.installHint)")
            #if os(Linux)
            XCTAssertEqual("\(error)", "gnuplot not found — install it with: apt-get install -y gnuplot-nox")
            #endif
        }
        XCTAssertThrowsError(try Gnuplot(executable: "/nonexistent/bin/gnuplot")) { error in
            XCTAssertTrue("\(error)".contains("gnuplot not found at /nonexistent/bin/gnuplot — install it with:"), "\(error)")
        }
    }

    func testMissingGnuplotStillWritesTablesAndExplains() throws {
        let dir = try makeDir()
        // A stale image from an earlier run must not survive next to new data.
        try Data([1, 2, 3]).write(to: dir.appendingPathComponent("error-vs-length.png"))
        let runner = StudyRunner(locateGnuplot: { try Gnuplot.locate(searchPath: "") })
        let report = try runner.write(Self.demoResult(), study: DemoStudy(), to: dir)
        XCTAssertFalse(report.chartsRendered)
        XCTAssertEqual(report.warnings.count, 1)
        XCTAssertTrue(report.warnings[0].contains("gnuplot not found — install it with"), report.warnings[0])
        XCTAssertEqual(try files(in: dir), ["demo.md", "error-vs-length.dat", "error-vs-length.gp", "errors.csv", "run.json"])
        let md = try String(contentsOf: report.markdown, encoding: .utf8)
        XCTAssertTrue(md.contains("Charts were not rendered:** gnuplot not found — install it with"), md)
        XCTAssertFalse(md.contains("error-vs-length.png"), "no link to an image that does not exist")
        XCTAssertTrue(md.contains("| ttt-linear |"))
    }

    func testFailingGnuplotBecomesAWarning() throws {
        let dir = try makeDir()
        let bin = try makeDir("failing-bin")
        let fake = try fakeGnuplot("echo 'line 0: unknown command' >&2\necho '         ^' >&2\nexit 1", in: bin)
        let report = try StudyRunner(locateGnuplot: { fake }).write(Self.demoResult(), study: DemoStudy(), to: dir)
        XCTAssertEqual(report.warnings.count, 1)
        XCTAssertTrue(report.warnings[0].hasPrefix("chart 'error-vs-length' not rendered: gnuplot failed (status 1): line 0: unknown command"),
                      report.warnings[0])
        let md = try String(contentsOf: report.markdown, encoding: .utf8)
        XCTAssertTrue(md.contains("> Not rendered: gnuplot failed (status 1)"), md)
        XCTAssertFalse(try files(in: dir).contains { $0.contains(".tmp-") })
    }

    func testGnuplotRunPastTheTimeLimitIsStopped() throws {
        let bin = try makeDir()
        let fake = try fakeGnuplot("exec sleep 30", in: bin)
        let start = Date()
        XCTAssertThrowsError(try fake.run(arguments: [], in: bin, timeout: 0.5)) { error in
            guard case StudyKitError.gnuplotTimedOut = error else { return XCTFail("\(error)") }
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
    }

    // MARK: Report writer

    func testRunnerWritesCompleteReport() throws {
        let gnuplot = try realGnuplot()
        let dir = try makeDir()
        let (result, report) = try StudyRunner(locateGnuplot: { gnuplot })
            .run(DemoStudy(), preset: .quick, seed: 7, to: dir, command: "lab study demo --preset quick --seed 7",
                 reporter: ProgressReporter(mode: .silent))
        XCTAssertTrue(result.verdict.passed)
        XCTAssertTrue(report.chartsRendered)
        XCTAssertEqual(report.warnings, [])
        XCTAssertEqual(try files(in: dir), ["demo.md", "error-vs-length.dat", "error-vs-length.gp", "error-vs-length.png",
                                            "error-vs-length.svg", "errors.csv", "run.json"])
        XCTAssertEqual(report.files.map(\.lastPathComponent).sorted(), try files(in: dir))
        let md = try String(contentsOf: report.markdown, encoding: .utf8)
        for expected in ["# Demo study", "**Claim** (Sun et al. 2024, §2.5). Errors stay below the tolerance.",
                         "**Verdict: PASS**", "- max |Δ| = 1.0e-06", "Run: preset `quick` (T=8), seed 7.",
                         "lab study demo --preset quick --seed 7", "### Max error by length", "Δ is dual minus primal.",
                         "[`errors.csv`](errors.csv)", "![Max |Δ| vs sequence length](error-vs-length.png)",
                         "## Notes", "seed 7, preset quick"] {
            XCTAssertTrue(md.contains(expected), "missing \(expected) in:\n\(md)")
        }
    }

    func testOutputsAreDeterministicAndAtomic() throws {
        let dir = try makeDir()
        let runner = StudyRunner(locateGnuplot: { try Gnuplot.locate(searchPath: "") })
        try runner.write(Self.demoResult(), study: DemoStudy(), to: dir, run: RunInfo(preset: .full, seed: 1))
        let first = try files(in: dir).map { try Data(contentsOf: dir.appendingPathComponent($0)) }
        try runner.write(Self.demoResult(), study: DemoStudy(), to: dir, run: RunInfo(preset: .full, seed: 1))
        let second = try files(in: dir).map { try Data(contentsOf: dir.appendingPathComponent($0)) }
        XCTAssertEqual(first, second, "same result → byte-identical files")
        XCTAssertFalse(try files(in: dir).contains { $0.hasPrefix(".") }, "no temporary files left behind")

        // A failed write leaves the previous file intact and no temporary file.
        let target = dir.appendingPathComponent("errors.csv")
        let before = try Data(contentsOf: target)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: dir.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.path) }
        if getuid() != 0 {   // root ignores permissions
            XCTAssertThrowsError(try AtomicOutput.write("new", to: target)) { XCTAssertFalse("\($0)".contains("\n")) }
            XCTAssertEqual(try Data(contentsOf: target), before)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.path)
        XCTAssertFalse(try files(in: dir).contains { $0.contains(".tmp-") })
    }

    func testInvalidResultsAreRejectedWithOneLine() throws {
        let dir = try makeDir()
        var result = Self.demoResult()
        result.tables.append(Self.demoTable())
        XCTAssertThrowsError(try StudyRunner().write(result, study: DemoStudy(), to: dir)) {
            XCTAssertEqual("\($0)", "two tables are named 'errors' — give each table its own name")
        }
        XCTAssertEqual(try files(in: dir), [], "nothing written for an invalid result")
    }

    // MARK: Progress and presets

    func testProgressIsSilentOutsideATerminalAndInCI() {
        XCTAssertFalse(ProgressReporter.shouldBeInteractive(stderrIsTTY: false, environment: [:]))
        XCTAssertFalse(ProgressReporter.shouldBeInteractive(stderrIsTTY: true, environment: ["CI": "true"]))
        XCTAssertTrue(ProgressReporter.shouldBeInteractive(stderrIsTTY: true, environment: ["CI": "false"]))
        XCTAssertTrue(ProgressReporter.shouldBeInteractive(stderrIsTTY: true, environment: [:]))

        var silent = ""
        let quiet = ProgressReporter(mode: .silent) { silent += $0 }
        let ctx = StudyContext(outputDirectory: URL(fileURLWithPath: "/tmp"), preset: .quick, reporter: quiet)
        ctx.progress("hello")
        let bar = ctx.progressBar("work", total: 2)
        bar.advance(); bar.advance(); bar.finish()
        XCTAssertEqual(silent, "")
        XCTAssertEqual(bar.completed, 2)
    }

    func testInteractiveProgressRedrawsInPlace() {
        var out = ""
        let tty = ProgressReporter(mode: .interactive) { out += $0 }
        let bar = ProgressBar(label: "work", total: 4, reporter: tty)
        bar.advance(by: 4)
        bar.finish()
        tty.message("done")
        XCTAssertTrue(out.hasPrefix("\r\u{1B}[K"))
        XCTAssertTrue(out.contains("work [########################] 4/4 100%"), out)
        XCTAssertTrue(out.hasSuffix("\ndone\n"), out)
        XCTAssertEqual(ProgressBar(label: "x", total: 10, reporter: ProgressReporter(mode: .silent)).render(elapsed: 0),
                       "x [........................]  0/10   0%")
    }

    func testPresetsAndSeededContext() {
        XCTAssertEqual(Preset(argument: "default"), .standard)
        XCTAssertEqual(Preset(argument: "Standard"), .standard)
        XCTAssertEqual(Preset(argument: "FULL"), .full)
        XCTAssertNil(Preset(argument: "huge"))
        XCTAssertEqual(Preset.allCases.map(\.rawValue), ["quick", "default", "full"])
        let ctx = StudyContext(outputDirectory: URL(fileURLWithPath: "/tmp"), preset: .full, seed: 3,
                               reporter: ProgressReporter(mode: .silent))
        var a = ctx.makeRNG(), b = ctx.makeRNG(), c = ctx.makeRNG(stream: 1)
        XCTAssertEqual(a.next(), b.next())
        var d = ctx.makeRNG()
        XCTAssertNotEqual(d.next(), c.next())
        XCTAssertEqual(ctx.pick(quick: 1, standard: 2, full: 3), 3)
    }
}
