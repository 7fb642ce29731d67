// FiguresCommand.swift — `lab figures`: every study, one report.
import ArgumentParser
import Foundation
import Layers
import StudyKit
import Studies
import TensorCore

struct FiguresCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "figures",
        abstract: "Run every study (reusing fresh cached results) and write REPORT.md with all tables and figures.",
        discussion: """
        Each study writes into <out>/<name>/; a study whose run.json matches the preset and seed and is
        newer than the lab executable is reused (--force reruns everything). A study that fails or is
        missing its inputs appears in the report as failed with its error. Exit status 0 when every
        study passed, 1 otherwise.

        Examples:
          lab figures --quick
          lab figures --out report
        """)

    @Option(name: .long, help: "Output directory (studies in <out>/<name>/, the report in <out>/REPORT.md).") var out: String = "results"
    @Flag(name: .long, help: "Smallest presets (CI-sized).") var quick = false
    @Flag(name: .long, help: "Largest presets.") var full = false
    @Flag(name: .long, help: "Rerun studies even when fresh cached results exist, and write into an --out holding files the lab did not write.") var force = false
    @Option(name: .long, help: "Seed.") var seed: UInt64 = 0
    @Option(name: .long, help: "Corpus directory for the studies that train models (written by 'lab data fetch').") var data: String = "data"
    @Option(name: .long, parsing: .upToNextOption, help: "Only these studies (default: all).") var only: [String] = []

    func validate() throws {
        if quick && full { throw ValidationError("--quick and --full exclude each other; pass one") }
    }

    func run() throws {
        let preset: Preset = quick ? .quick : full ? .full : .standard
        let root = URL(fileURLWithPath: out)
        try checkCorpusOption(data)
        try FileSafety.checkOutputs([("--out", out, .directory)], inputs: [("--data", data)])
        let studies = try only.isEmpty ? StudyCatalog.all : only.map { try StudyCatalog.named($0) }
        // An unwritable --out fails once, up front, rather than once per study.
        do { try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true) } catch {
            throw LabError.badFile(path: root.path, problem: "cannot create the output directory (a parent is a file, read-only or not permitted) — choose another --out")
        }
        // Only into directories holding nothing but what the lab wrote (unless --force): the root and
        // each study's directory, checked before any study runs.
        let own = try OutputOwnership.claim(root, force: force)
        let owned = try studies.map { try OutputOwnership.claim(root.appendingPathComponent($0.name), force: force) }
        let binaryDate = (try? FileManager.default.attributesOfItem(atPath: CommandLine.arguments[0])[.modificationDate] as? Date) ?? .distantPast
        var entries: [ReportEntry] = []
        // Per study directory, the files this invocation wrote or reused (nil: the study failed, nothing is pruned).
        var written: [Set<String>?] = []
        for study in studies {
            var cmd = "lab study \(study.name)" + (quick ? " --quick" : full ? " --full" : "")
            if seed != 0 { cmd += " --seed \(seed)" }
            let dir = root.appendingPathComponent(study.name)
            if !force, let rec = RunRecord.read(in: dir), rec.preset == preset.rawValue, rec.seed == seed, rec.finished > binaryDate {
                print("\(study.name): cached (\(rec.passed ? "PASS" : "FAIL"))")
                entries.append(.init(name: study.name, title: study.title, claim: study.claim, command: cmd, outcome: .finished(passed: rec.passed, reused: true)))
                written.append(rec.files.map { Set($0.keys).union([RunRecord.fileName]) })   // the record vouches for these (an old one without a list: prune nothing)
                continue
            }
            do {
                let (result, report) = try StudyRunner().run(study, preset: preset, seed: seed, to: dir, command: cmd,
                                                             dataDirectory: URL(fileURLWithPath: data))
                report.warnings.forEach { fputs("lab: warning: \(study.name): \($0)\n", stderr) }
                print("\(study.name): \(result.verdict.passed ? "PASS" : "FAIL")")
                entries.append(.init(name: study.name, title: study.title, claim: study.claim, command: cmd, outcome: .finished(passed: result.verdict.passed, reused: false)))
                written.append(Set(report.files.map(\.lastPathComponent)))
            } catch {
                let msg = Lab.oneLine(error)
                fputs("lab: error: \(study.name): \(msg)\n", stderr)
                entries.append(.init(name: study.name, title: study.title, claim: study.claim, command: cmd, outcome: .error(msg)))
                written.append(nil)
            }
        }
        var cmd = "lab figures" + (quick ? " --quick" : full ? " --full" : "")
        if out != "results" { cmd += " --out \(out)" }
        let md = Report.markdown(entries, root: root, command: cmd)
        let url = root.appendingPathComponent("REPORT.md")
        try AtomicFile.write(md, to: url)
        // Files an earlier run wrote that this design no longer writes (an old table) go; a user's never do.
        var removed: [String] = []
        for (o, w) in zip(owned, written) {
            if let w { removed += try o.finish(writtenNow: w).map { "\(o.directory.lastPathComponent)/\($0)" } } else { try o.finish() }
        }
        removed += try own.finish(writtenNow: Set(studies.map(\.name)).union(["REPORT.md"]))
        if !removed.isEmpty { print("removed \(removed.count) stale output\(removed.count == 1 ? "" : "s") of an earlier design: \(removed.joined(separator: ", "))") }
        print("report: \(url.path)")
        let ok = entries.allSatisfy { if case .finished(true, _) = $0.outcome { return true } else { return false } }
        if !ok { throw ExitCode(1) }
    }
}
