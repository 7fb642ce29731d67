// StudyCommand.swift — `lab study <name>` and `lab study list`.
import ArgumentParser
import Foundation
import Layers
import StudyKit
import TensorCore
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

        Studies made of independent training runs (\(StudyCatalog.all.filter { $0 is any DistributedStudy }.map(\.name).joined(separator: ", "))) \
        can be spread over machines that share the output directory: --plan prints one \
        'lab study NAME --run KEY' line per run not yet cached; run them with any job runner, then a plain \
        'lab study NAME' assembles the report from the cache (--cached-only: without training what is missing).
          lab study recall --plan | parallel -j 4
          lab study ablation --plan | xargs -P 2 -I{} sh -c {}
          lab study recall
        """)

    @Argument(help: "Study name, or 'list'.") var name: String
    @Option(name: .long, help: "Output directory (default: results/<name>).") var out: String?
    @Flag(name: .long, help: "Smallest preset (CI-sized).") var quick = false
    @Flag(name: .long, help: "Largest preset.") var full = false
    @Option(name: .long, help: "Seed.") var seed: UInt64 = 0
    @Option(name: .long, help: "Corpus directory for the studies that train models (written by 'lab data fetch').") var data: String = "data"
    @Flag(name: .long, help: "Print one '--run KEY' command per run not yet cached (studies made of independent runs), then exit.") var plan = false
    @Flag(name: .long, help: "Assemble the report from cached runs only, training nothing (studies made of independent runs); missing runs fail the verdict.") var cachedOnly = false
    @Flag(name: .long, help: "Write into --out even when it holds files the lab did not write.") var force = false
    @Option(name: .customLong("run"), help: "Perform only the run KEY (a line of --plan) into the shared output directory, then exit.") var runKey: String?
    @Option(name: .long, help: "Comma-separated registry layers to train instead of the preset's (studies that train a list of layers: \(StudyCatalog.all.filter { $0 is any LayerSelectableStudy }.map(\.name).joined(separator: ", "))), e.g. --layers attention,ttt-linear,ttt-gla.") var layers: String?

    func validate() throws {
        if quick && full { throw ValidationError("--quick and --full exclude each other; pass one") }
        if [plan, runKey != nil, cachedOnly].filter({ $0 }).count > 1 { throw ValidationError("--plan, --run and --cached-only exclude each other; pass one") }
    }

    func run() throws {
        if name == "list" {
            printTable(["study", "claim"], StudyCatalog.all.map { [$0.name, String($0.title.prefix(100))] })
            return
        }
        var study: any Study = try StudyCatalog.named(name)
        try checkCorpusOption(data)
        let preset: Preset = quick ? .quick : full ? .full : .standard
        let dir = URL(fileURLWithPath: out ?? "results/\(study.name)")
        try FileSafety.checkOutputs([("--out", dir.path, .directory)], inputs: [("--data", data)])
        // The command as an argument vector; every line printed from it quotes each argument (plan lines
        // are piped to sh or parallel, so a path with a space, quote, ';' or '$(' stays one argument).
        var argv = ["lab", "study", study.name]
        if quick { argv.append("--quick") }
        if full { argv.append("--full") }
        if seed != 0 { argv += ["--seed", "\(seed)"] }
        if data != "data" { argv += ["--data", data] }
        if let layers {
            guard let l = study as? any LayerSelectableStudy else {
                throw LabError.badConfig("study '\(study.name)' does not train a list of layers, so it has no --layers; studies that do: \(StudyCatalog.all.filter { $0 is any LayerSelectableStudy }.map(\.name).joined(separator: ", "))")
            }
            study = try l.selecting(layers: layers.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) })
            argv += ["--layers", layers]
        }
        if cachedOnly {
            guard let d = study as? any DistributedStudy else {
                throw LabError.badConfig("study '\(study.name)' is not made of independent runs, so it has no --cached-only; run 'lab study \(study.name)' instead")
            }
            study = d.cachedOnly()
            argv.append("--cached-only")
        }
        if plan || runKey != nil {
            guard let d = study as? any DistributedStudy else {
                throw LabError.badConfig("study '\(study.name)' is not made of independent runs, so it has no --plan/--run; run 'lab study \(study.name)' instead")
            }
            let ctx = StudyContext(outputDirectory: dir, preset: preset, seed: seed, dataDirectory: URL(fileURLWithPath: data))
            if plan {
                var baseArgv = argv
                if let out { baseArgv += ["--out", out] }
                let base = try shellCommand(baseArgv)
                let all = try d.plan(ctx)
                for line in try d.planLines(ctx, command: base) { print(line) }
                let pending = all.filter { !$0.cached }.count
                fputs("lab: \(pending) of \(all.count) runs to do; then '\(base)' assembles the report" +
                      (pending == 0 ? " (later waves, if any, appear once these are cached)\n" : "\n"), stderr)
            } else if let key = runKey {
                let own = try OutputOwnership.claim(dir, force: force)
                let cached = try d.perform(key: key, ctx)
                try own.finish()
                print("\(key): \(cached ? "already cached" : "done") in \(dir.path)")
            }
            return
        }
        let cmd = argv.map(shellQuoted).joined(separator: " ")
        // Only into a directory that holds nothing but what the lab wrote (unless --force).
        let own = try OutputOwnership.claim(dir, force: force)
        let (result, report) = try StudyRunner().run(study, preset: preset, seed: seed, to: dir, command: cmd,
                                                     dataDirectory: URL(fileURLWithPath: data))
        // Files an earlier run wrote that this design no longer writes (an old table) go; a user's never do.
        let removed = try own.finish(writtenNow: Set(report.files.map(\.lastPathComponent)))
        if !removed.isEmpty { print("removed \(removed.count) stale output\(removed.count == 1 ? "" : "s") of an earlier design: \(removed.joined(separator: ", "))") }
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
