// StudyCommand.swift — `lab study <name>` and `lab study list`.
import ArgumentParser
import Foundation
import Layers
import StudyKit
import Studies

struct StudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Run a study (tables, CSV, gnuplot charts) or list them.",
        discussion: """
        Each study lives in Studies/<name>/ with its definition and a README. Outputs go to --out
        (default results/<name>/): <name>.md, one CSV per table, gnuplot .dat/.gp and PNG + SVG charts.
        Exit status: 0 when the study's verdict passes, 1 when a claim fails, 2 on bad input or when
        gnuplot is missing (the tables are still written).

        Examples:
          lab study list
          lab study equivalence
          lab study equivalence --quick --out /tmp/eq
        """)

    @Argument(help: "Study name, or 'list'.") var name: String
    @Option(name: .long, help: "Output directory (default: results/<name>).") var out: String?
    @Flag(name: .long, help: "Smallest preset (CI-sized).") var quick = false
    @Flag(name: .long, help: "Largest preset.") var full = false
    @Option(name: .long, help: "Seed.") var seed: UInt64 = 0
    @Option(name: .long, help: "Corpus directory for studies that train on text (written by 'lab data fetch').") var data: String = "data"

    func validate() throws {
        if quick && full { throw ValidationError("--quick and --full exclude each other; pass one") }
    }

    func run() throws {
        if name == "list" {
            printTable(["study", "claim"], StudyCatalog.all.map { [$0.name, String($0.title.prefix(100))] })
            return
        }
        var study = try StudyCatalog.named(name)
        if let c = study as? CorpusStudy { study = c.withData(URL(fileURLWithPath: data)) }
        let preset: Preset = quick ? .quick : full ? .full : .standard
        let dir = URL(fileURLWithPath: out ?? "results/\(study.name)")
        var cmd = "lab study \(study.name)"
        if quick { cmd += " --quick" }
        if full { cmd += " --full" }
        if seed != 0 { cmd += " --seed \(seed)" }
        if study is CorpusStudy && data != "data" { cmd += " --data \(data)" }
        let (result, report) = try StudyRunner().run(study, preset: preset, seed: seed, to: dir, command: cmd)
        print("\(study.name): \(result.verdict.passed ? "PASS" : "FAIL")")
        for line in result.verdict.summary { print("  \(line)") }
        print("report: \(report.markdown.path)")
        if !report.chartsRendered {
            // Tables, CSVs and gnuplot sources are written; the missing charts are an error all the same.
            let why = report.warnings.first ?? "charts not rendered"
            throw LabError.missing("\(why) (tables and gnuplot sources were written to \(dir.path))")
        }
        for w in report.warnings { fputs("lab: warning: \(w)\n", stderr) }
        if !result.verdict.passed { throw ExitCode(1) }
    }
}
