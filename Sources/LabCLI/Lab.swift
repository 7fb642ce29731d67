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
            try checkEnvironment()
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

    /// Before parsing: every argument must be valid UTF-8 (Swift would decode other bytes to U+FFFD,
    /// and a path would be written under a different name than the one given), and LAB_THREADS, when
    /// set, must be a thread count (it used to be ignored silently).
    static func checkEnvironment() throws {
        // No command takes more than a few dozen arguments; tens of thousands make parsing quadratic.
        let maxArguments = 1000
        guard CommandLine.argc <= maxArguments else {
            throw LabError.badConfig("\(CommandLine.argc - 1) arguments are more than any lab command takes (at most \(maxArguments - 1)) — check the command line")
        }
        for i in 1..<Int(CommandLine.argc) {
            guard let p = CommandLine.unsafeArgv[i] else { continue }
            let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p))
            if String(validating: bytes, as: UTF8.self) == nil {
                let shown = String(decoding: bytes, as: UTF8.self).unicodeScalars.prefix(60).map { $0.value < 0x20 ? "?" : String($0) }.joined()
                throw LabError.badConfig("argument \(i) ('\(shown)') is not valid UTF-8 — the lab reads and writes only UTF-8 paths and names; rename the file or pass a UTF-8 path")
            }
        }
        try checkThreads(ProcessInfo.processInfo.environment["LAB_THREADS"])
        try checkOpenFileLimit()
    }

    /// The open-file limit must leave room for the lab's own descriptors (the dispatch event loops of
    /// each worker thread, atomic writes, gnuplot's pipes): below `minimum`, libdispatch traps when it
    /// cannot create an event loop. The soft limit is raised toward the hard one; a hard limit below
    /// `minimum` is refused with one line instead of a trap later.
    static func checkOpenFileLimit(minimum: rlim_t = 256) throws {
        var lim = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim) == 0, lim.rlim_cur < minimum else { return }
        if lim.rlim_max >= minimum {
            lim.rlim_cur = minimum
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim) == 0 { return }
        }
        throw LabError.badConfig("the open-file limit is \(lim.rlim_cur) (ulimit -n), too low for the lab, which needs at least \(minimum) — raise it (e.g. ulimit -n 1024)")
    }

    /// LAB_THREADS: unset, or an integer in 1...1024.
    static func checkThreads(_ value: String?) throws {
        guard let value, !value.isEmpty else { return }
        guard let n = Int(value.trimmingCharacters(in: .whitespaces)), (1...1024).contains(n) else {
            throw LabError.badConfig("LAB_THREADS='\(value.prefix(40))' is not a thread count — set LAB_THREADS to an integer from 1 to 1024 (e.g. LAB_THREADS=2) or unset it to use every core")
        }
    }

    /// "Missing value for '--seconds'" when the value was a negative number (`--seconds -1`: the parser
    /// takes "-1" for an option): say how to pass it.
    static func negativeValueHint(_ msg: String, arguments: [String] = CommandLine.arguments) -> String {
        guard msg.hasPrefix("Missing value for") || msg.hasPrefix("Error: Missing value for") else { return "" }
        for (a, b) in zip(arguments, arguments.dropFirst()) where a.hasPrefix("-") && b.count > 1 && b.hasPrefix("-")
            && (Double(b) != nil || ["-inf", "-nan", "-infinity"].contains(b.lowercased())) {
            return "; '\(b)' was read as an option — write \(a)=\(b)"
        }
        return ""
    }

    /// One line for any error: usage errors from argument parsing get a pointer to help; errors the
    /// lab throws (LabError, FileError, StudyKitError, …) already name the problem and the fix.
    static func oneLine(_ error: Error) -> String {
        let text: String
        if exitCode(for: error) == .validationFailure {
            let msg = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            text = msg.replacingOccurrences(of: "Error: ", with: "") + negativeValueHint(msg) + " (see 'lab --help')"
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
