// StudyRunner.swift — runs a study and writes its report: Markdown, CSV tables, gnuplot charts.

import Foundation

/// How a run was made, recorded in the report.
public struct RunInfo: Sendable, Equatable {
    public var preset: Preset
    public var seed: UInt64
    /// The command that reproduces the run (e.g. `swift run -c release lab study equivalence --preset quick`),
    /// shown in the report when given.
    public var command: String?

    public init(preset: Preset = .standard, seed: UInt64 = 0, command: String? = nil) {
        self.preset = preset
        self.seed = seed
        self.command = command
    }
}

/// What ``StudyRunner/write(_:study:to:run:)`` wrote.
public struct StudyReport: Sendable, Equatable {
    public var directory: URL
    /// `<study.name>.md`.
    public var markdown: URL
    /// Every file written, in write order (the Markdown last).
    public var files: [URL]
    /// Problems that did not stop the report, one line each (e.g. gnuplot missing).
    public var warnings: [String]
    /// True if every chart was rendered to PNG and SVG.
    public var chartsRendered: Bool
    public var passed: Bool
}

/// Runs studies and writes their outputs into a directory:
///
/// - `<study>.md` — title, claim, paper reference, run settings, verdict, each table, chart images;
/// - `<table>.csv` for each table;
/// - `<chart>.dat`, `<chart>.gp`, and, via gnuplot, `<chart>.png` and `<chart>.svg` for each chart.
///
/// Every file is written atomically. If gnuplot is missing or fails, everything else is still
/// written, stale images of that chart are removed, the Markdown says why the charts are missing,
/// and the reason is returned in ``StudyReport/warnings`` — not thrown.
///
/// ```swift
/// let runner = StudyRunner()
/// let (result, report) = try runner.run(EquivalenceStudy(), preset: .quick, seed: 0,
///                                       to: URL(fileURLWithPath: "results/equivalence"))
/// for w in report.warnings { print("warning: \(w)") }
/// print(result.verdict.passed ? "PASS" : "FAIL")
/// ```
public struct StudyRunner {
    /// Finds gnuplot; called once per ``write(_:study:to:run:)`` that has charts.
    public var locateGnuplot: () throws -> Gnuplot
    /// Time limit for one chart's gnuplot run, in seconds.
    public var renderTimeout: TimeInterval

    public init(locateGnuplot: @escaping () throws -> Gnuplot = { try Gnuplot.locate() },
                renderTimeout: TimeInterval = 60) {
        self.locateGnuplot = locateGnuplot
        self.renderTimeout = renderTimeout
    }

    /// Runs `study` with a fresh ``StudyContext`` (corpus in `dataDirectory`) and writes its report into `dir`.
    public func run(_ study: Study, preset: Preset, seed: UInt64 = 0, to dir: URL, command: String? = nil,
                    dataDirectory: URL = URL(fileURLWithPath: "data"),
                    reporter: ProgressReporter = .automatic()) throws -> (StudyResult, StudyReport) {
        try validateFileName(study.name, kind: "study")
        try AtomicOutput.ensureDirectory(dir)
        // The old completion marker goes first: a run interrupted from here on leaves no marker, so its
        // mix of old and new files is never reported as cached.
        try? FileManager.default.removeItem(at: dir.appendingPathComponent(RunRecord.fileName))
        let ctx = StudyContext(outputDirectory: dir, preset: preset, seed: seed, dataDirectory: dataDirectory, reporter: reporter)
        let start = Date()
        reporter.message("\(study.name): running (preset \(preset), seed \(seed))")
        let result = try study.run(ctx)
        let report = try write(result, study: study, to: dir, run: RunInfo(preset: preset, seed: seed, command: command))
        reporter.message("\(study.name): \(result.verdict.passed ? "PASS" : "FAIL") in \(ProgressBar.duration(Date().timeIntervalSince(start))) → \(report.markdown.path)")
        return (result, report)
    }

    /// Writes `result` into `dir` (created if needed). Throws only for invalid results (bad or
    /// duplicate names, ragged tables) or file-system errors; chart rendering problems become warnings.
    @discardableResult
    public func write(_ result: StudyResult, study: Study, to dir: URL, run: RunInfo = RunInfo()) throws -> StudyReport {
        try validateFileName(study.name, kind: "study")
        try StudyRunner.checkUnique(result.tables.map(\.name), kind: "table")
        try StudyRunner.checkUnique(result.charts.map(\.name), kind: "chart")
        for t in result.tables { try t.validate() }
        for c in result.charts { try validateFileName(c.name, kind: "chart") }
        try AtomicOutput.ensureDirectory(dir)
        try? FileManager.default.removeItem(at: dir.appendingPathComponent(RunRecord.fileName))

        var files: [URL] = []
        var warnings: [String] = []
        for t in result.tables {
            let url = dir.appendingPathComponent("\(t.name).csv")
            try AtomicOutput.write(t.csv(), to: url)
            files.append(url)
        }

        var rendered: [String: Bool] = [:]
        var gnuplot: Gnuplot?
        var gnuplotProblem: String?
        if !result.charts.isEmpty {
            do { gnuplot = try locateGnuplot() } catch { gnuplotProblem = "\(error)" }
        }
        for c in result.charts {
            let png = dir.appendingPathComponent("\(c.name).png")
            let svg = dir.appendingPathComponent("\(c.name).svg")
            var ok = false
            do {
                try c.validate()
                let sources = Gnuplot.writeSources(c)
                let dat = dir.appendingPathComponent("\(c.name).dat")
                let gp = dir.appendingPathComponent("\(c.name).gp")
                try AtomicOutput.write(sources.data, to: dat)
                try AtomicOutput.write(sources.script, to: gp)
                files += [dat, gp]
                if let gnuplot {
                    let out = try gnuplot.renderImages(c, in: dir, timeout: renderTimeout)
                    files += [out.png, out.svg]
                    ok = true
                }
            } catch let error as StudyKitError {
                if case .io = error { throw error }
                warnings.append("chart '\(c.name)' not rendered: \(error)")
            }
            if !ok {
                // Never leave an image that no longer matches the data.
                try? FileManager.default.removeItem(at: png)
                try? FileManager.default.removeItem(at: svg)
            }
            rendered[c.name] = ok
        }
        if let gnuplotProblem { warnings.insert("charts not rendered: \(gnuplotProblem)", at: 0) }

        let md = dir.appendingPathComponent("\(study.name).md")
        let text = markdown(result, study: study, run: run, rendered: rendered, gnuplotProblem: gnuplotProblem,
                            chartWarnings: warnings.filter { $0.hasPrefix("chart '") })
        try AtomicOutput.write(text, to: md)
        files.append(md)
        // Written last: its presence marks a complete run (`lab figures` reuses such runs), and it vouches
        // for the exact files written (SHA-256 of each), so a directory mixing runs is recomputed.
        var hashes: [String: String] = [:]
        for f in files { hashes[f.lastPathComponent] = RunRecord.hash(f) }
        let record = RunRecord(study: study.name, preset: run.preset.rawValue, seed: run.seed, passed: result.verdict.passed,
                               summary: result.verdict.summary, command: run.command, finished: Date(), files: hashes)
        let json = dir.appendingPathComponent(RunRecord.fileName)
        try AtomicOutput.write(try record.encoded(), to: json)
        files.append(json)
        return StudyReport(directory: dir, markdown: md, files: files, warnings: warnings,
                           chartsRendered: result.charts.allSatisfy { rendered[$0.name] == true },
                           passed: result.verdict.passed)
    }

    /// The report's Markdown. `rendered[chart]` says whether its PNG exists.
    func markdown(_ result: StudyResult, study: Study, run: RunInfo, rendered: [String: Bool],
                  gnuplotProblem: String?, chartWarnings: [String]) -> String {
        var md = "# \(study.title)\n\n"
        md += "**Claim** (\(study.paperReference)). \(study.claim)\n\n"
        md += "**Verdict: \(result.verdict.passed ? "PASS" : "FAIL")**\n\n"
        for line in result.verdict.summary { md += "- \(line)\n" }
        if !result.verdict.summary.isEmpty { md += "\n" }
        var settings = "Run: preset `\(run.preset)`"
        if let d = study.presets[run.preset], !d.isEmpty { settings += " (\(d))" }
        settings += ", seed \(run.seed)."
        md += settings + "\n"
        if let command = run.command { md += "\n```sh\n\(command)\n```\n" }

        if !result.tables.isEmpty {
            md += "\n## Tables\n"
            for t in result.tables {
                md += "\n### \(t.title)\n\n"
                md += t.markdown()
                for note in t.notes { md += "\n\(note)\n" }
                md += "\nData: [`\(t.name).csv`](\(t.name).csv)\n"
            }
        }

        if !result.charts.isEmpty {
            md += "\n## Charts\n"
            if let gnuplotProblem {
                md += "\n> **Charts were not rendered:** \(gnuplotProblem). The data (`.dat`) and gnuplot scripts (`.gp`) were written; render them with `gnuplot <chart>.gp` in this directory.\n"
            }
            for c in result.charts {
                md += "\n### \(c.title)\n\n"
                if rendered[c.name] == true {
                    md += "![\(StudyRunner.altText(c.title))](\(c.name).png)\n\n"
                    md += "[SVG](\(c.name).svg) · data [`\(c.name).dat`](\(c.name).dat) · script [`\(c.name).gp`](\(c.name).gp)\n"
                } else {
                    if let w = chartWarnings.first(where: { $0.hasPrefix("chart '\(c.name)'") }) {
                        md += "> Not rendered: \(w.drop(while: { $0 != ":" }).dropFirst().trimmingCharacters(in: .whitespaces))\n\n"
                    }
                    md += "Data [`\(c.name).dat`](\(c.name).dat) · script [`\(c.name).gp`](\(c.name).gp)\n"
                }
            }
        }

        let notes = result.notes.trimmingCharacters(in: .whitespacesAndNewlines)
        if !notes.isEmpty { md += "\n## Notes\n\n\(notes)\n" }
        return md
    }

    static func checkUnique(_ names: [String], kind: String) throws {
        var seen = Set<String>()
        for n in names where !seen.insert(n).inserted {
            throw StudyKitError.invalid("two \(kind)s are named '\(n)' — give each \(kind) its own name")
        }
    }

    static func altText(_ s: String) -> String {
        s.replacingOccurrences(of: "[", with: "(").replacingOccurrences(of: "]", with: ")")
    }
}
