// Lab.swift — the `lab` command line: every subcommand, and one-line errors with exit status 2.
import ArgumentParser
import Foundation
import Layers
import TensorCore

@main
struct Lab: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "TTT Lab: TTT-Linear, TTT-MLP and their baselines on CPU — exact, fast, extensible.",
        discussion: """
        Reimplements the layers of "Learning to (Learn at Test Time): RNNs with Expressive Hidden States"
        (Sun et al., 2024) with OpenBLAS, and checks the paper's claims.

        Start with:  lab study equivalence     (the paper's equivalence claims, checked)
                     lab layers                (every layer and inner-model plugin)
        Threads: set LAB_THREADS (default: all cores); results are bit-identical at a fixed count.
        """,
        version: version,
        subcommands: [
            StudyCommand.self,
            FiguresCommand.self,
            LayersCommand.self,
            PluginCommand.self,
            TrainCommand.self,
            GenerateCommand.self,
            DataCommand.self,
            RunLayerCommand.self,
            ExportCommand.self,
            ImportCommand.self,
            LogitsCommand.self,
            BenchCommand.self,
            VersionCommand.self,
        ])

    /// Parses and runs; any error is one line on stderr and exit status 2 (help and --version exit 0).
    static func main() {
        BLASCore.reexecWithBetterCoreIfNeeded()       // generic OpenBLAS kernels on an unrecognised CPU (BLASCore.swift)
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let e as ExitCode {
            Foundation.exit(e.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            fputs("lab: error: \(oneLine(error))\n", stderr)
            Foundation.exit(2)
        }
    }

    /// One line for any error: usage errors from argument parsing get a pointer to help; errors the
    /// lab throws (LabError, FileError, StudyKitError, …) already name the problem and the fix.
    static func oneLine(_ error: Error) -> String {
        let text: String
        if exitCode(for: error) == .validationFailure {
            let msg = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            text = msg.replacingOccurrences(of: "Error: ", with: "") + " (see 'lab --help')"
        } else {
            text = "\(error)"
        }
        return text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }
}


struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the lab's version, threads and BLAS.")
    func run() {
        print("lab \(Lab.version) — Swift, Float32, OpenBLAS (\(Parallel.threads) worker thread(s), 1 BLAS thread each)")
    }
}
