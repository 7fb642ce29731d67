// CLIPropertyTests.swift — a property test for the whole `lab` command line: seeded random argument
// vectors built from each subcommand's options (valid, boundary and hostile values) run the built `lab`
// binary as a child process in a scratch directory. Properties: no trap (a signal exit fails), exit status
// 0 or 2, an exit 2 says exactly one `lab: error:` line, and no file is created, changed or removed
// outside the run's output paths (snapshot before/after). Inputs are restored between cases.
//
// CI runs LAB_FUZZ_CASES (default 200) cases of seed LAB_FUZZ_SEED (default 1); scripts/cli-fuzz.sh runs
// thousands. A failure prints the seed, the case number and the argv (with LAB_THREADS) to reproduce it.
import Foundation
import XCTest
@testable import Models
import TensorCore

/// What one option takes; the generator draws valid, boundary and hostile values from each pool.
enum OptionKind {
    case int, float, seconds, flag
    case inputPath, outputPath, runDir, resumeDir, corpusDir, checkpointDir, pluginRoot
    case names([String])
}

/// A subcommand: the argv prefix, a cheap valid base, its options (name → kind), and positional values.
struct CommandSpec {
    let path: [String]
    let base: [String]
    let options: [(String, OptionKind)]
    var positional: [String] = []
    var weight = 1
}

/// Option pools. Hostile values: overflow, NaN/Inf, empty, text, devices, symlink loops, clobbering paths.
enum Pools {
    static let long = String(repeating: "n", count: 300)
    static let int = ["0", "1", "2", "3", "4", "5", "7", "8", "16", "-1", "-4", "1000000", "2147483648", "9223372036854775807",
                      "9223372036854775808", "-9223372036854775808", "1e3", "abc", "", "nan", "0x10", " 4", "+3", "٣", "20000000000"]
    static let float = ["0", "1", "-1", "nan", "inf", "-inf", "1e400", "1e-45", "3e-3", "0.5", "abc", "", "1e30", "-0"]
    static let seconds = ["0.001", "0.002", "0", "-1", "nan", "inf", "-inf", "1e400", "abc", "", "1e9", "1e-300"]
    static let input = ["x.safetensors", "x", "q", "./x.safetensors", "link-x", "nothing.safetensors", "", "/dev/null", "/dev/zero", "loop",
                        "dir", "afile/x", "data", "ckpt", "ckpt/model.safetensors", "nan.safetensors", "afile", long, "big.safetensors"]
    static let output = ["y.safetensors", "y", "x", "q", "x.safetensors", "./x.safetensors", "link-x", "dir", "afile/y", "/dev/null", "/dev/full",
                         "/sys/y.safetensors", "loop/y", long, "", "data", "ckpt", "new/deep/y.safetensors", "w.safetensors", "nan.safetensors", "devlink"]
    static let runDir = ["run1", "run2", "ckpt", "data", "afile/run", "/sys/run", "userdir", "", "dir", long, "loop"]
    static let resume = ["ckpt", "nowhere", "data", "afile", "x.safetensors", "userdir", "loop", ""]
    static let corpus = ["data", "nowhere", "afile", "ckpt", "loop", "/dev/null", "", "dir"]
    static let checkpoint = ["ckpt", "nanckpt", "nowhere", "data", "afile", "loop", "", "dir"]
    static let root = ["pkg", ".", "nowhere", "afile", "/sys", "loop"]
    static let threads = ["", "1", "2", "0", "-1", "abc", "99999", "1.5"]
}

final class CLIPropertyTests: XCTestCase {
    static let layerNames = ["ttt-linear", "ttt-mlp", "attention", "linear-attention", "mamba", "ttt-linear-m", "ttt-delta-net",
                             "ttt-linaer", "", "ATTENTION", "ttt-", "ttt-momentum"]
    static let layerOpts: [(String, OptionKind)] = [("--width", .int), ("--heads", .int), ("-b", .int), ("--mini-batch", .int),
                                                    ("--backbone", .names(["transformer", "mamba", "mamab", ""])),
                                                    ("--linear-variant", .names(["simple", "elu", "relu", ""]))]

    /// The command table. (`CLIPropertyTests.testTableCoversHelp` checks it against each `--help`.)
    static let commands: [CommandSpec] = [
        CommandSpec(path: ["layers"], base: ["--width", "64", "--heads", "4"],
                    options: [("--width", .int), ("--heads", .int), ("-b", .int), ("--mini-batch", .int), ("--context", .int)], weight: 3),
        CommandSpec(path: ["plugin", "check"], base: ["linear", "--width", "8", "--heads", "2", "--length", "6"],
                    options: [("--all", .flag), ("--width", .int), ("--heads", .int), ("-b", .int), ("--mini-batch", .int), ("--length", .int), ("--seed", .int)],
                    positional: ["linear", "Momentum", "ttt-mlp", "my-model", "linaer", "", "TTTLinear", "delta-net"], weight: 3),
        CommandSpec(path: ["plugin", "new"], base: ["MyModel", "--root", "pkg"], options: [("--root", .pluginRoot)],
                    positional: ["MyModel", "Self", "Any", "Type", "Protocol", "Tensor", "Layers", "my-model", "", String(repeating: "A", count: 60),
                                 "Int", "X", "TTTLinear", "Äb", "Zoo", "LayerConfig", "XCTFoo"], weight: 2),
        CommandSpec(path: ["plugin", "remove"], base: ["Extra", "--root", "pkg"], options: [("--root", .pluginRoot)],
                    positional: ["Extra", "DeltaNet", "TTTLinear", "Nope", "../x", "", "."], weight: 2),
        CommandSpec(path: ["train"], base: ["--preset", "micro", "--steps", "2", "--batch", "2", "--context", "32", "--eval-windows", "2", "--no-chart", "--out", "run1"],
                    options: [("--layer", .names(layerNames)), ("--preset", .names(["micro", "tiny", "1.3b", "tinny", ""])), ("-b", .int), ("--mini-batch", .int),
                              ("--steps", .int), ("--batch", .int), ("--context", .int), ("--lr", .float), ("--seed", .int), ("--eval-every", .int),
                              ("--eval-windows", .int), ("--checkpoint-every", .int), ("--data", .corpusDir), ("--out", .runDir),
                              ("--resume", .resumeDir), ("--stop-after", .int), ("--log-every", .int), ("--force", .flag),
                              ("--no-chart", .flag), ("--vocab", .int), ("--dry-run", .flag),
                              ("--kernels", .names(["fused", "reference", "fast", ""])),
                              ("--recompute", .names(["auto", "always", "never", "sometimes", ""]))], weight: 4),
        CommandSpec(path: ["generate"], base: ["--checkpoint", "ckpt", "--prompt", "the", "--tokens", "4"],
                    options: [("--checkpoint", .checkpointDir), ("--prompt", .names(["the", "", "\u{1}", "ü", Pools.long])), ("--tokens", .int),
                              ("--temperature", .float), ("--top-k", .int), ("--seed", .int)], weight: 3),
        CommandSpec(path: ["data", "info"], base: ["--data", "data"], options: [("--data", .corpusDir)]),
        CommandSpec(path: ["run-layer"], base: ["--layer", "ttt-linear", "--width", "16", "--heads", "2", "-b", "4", "--input", "x.safetensors", "--output", "y.safetensors"],
                    options: [("--layer", .names(layerNames))] + layerOpts + [("--weights", .inputPath), ("--save-weights", .outputPath),
                              ("--input", .inputPath), ("--output", .outputPath), ("--seed", .int), ("--primal", .flag)], weight: 5),
        CommandSpec(path: ["bench", "gemm"], base: ["--seconds", "0.001"], options: [("--seconds", .seconds)]),
        CommandSpec(path: ["bench", "layers"], base: ["--context", "16", "--seconds", "0.001", "--width", "16", "--heads", "2", "--layers", "linear-attention"],
                    options: [("--context", .int), ("--seconds", .seconds), ("--width", .int), ("--heads", .int), ("--batch", .int),
                              ("--layers", .names(["linear-attention", "attention", "mamba,attention", "nope", "", ","])), ("--reference", .flag),
                              ("--attention-tiles", .names(["64x256", "0x0", "x", "1x99999", "-4x4", "4", "abcx1", "2x2"]))], weight: 2),
        CommandSpec(path: ["bench", "decode"], base: ["--short", "8", "--long", "16", "--tokens", "2", "--width", "16", "--heads", "2", "--layers", "mamba"],
                    options: [("--short", .int), ("--long", .int), ("--tokens", .int), ("--width", .int), ("--heads", .int),
                              ("--layers", .names(["mamba", "linear-attention", "nope", ""])), ("--no-naive", .flag)], weight: 2),
        CommandSpec(path: ["bench", "train"], base: ["--context", "8", "--seconds", "0.001", "--width", "16", "--heads", "2", "--layers", "ttt-linear", "--lm-layers", "none",
                                                    "--memory-layers", "none", "--memory-context", "64"],
                    options: [("--context", .int), ("--seconds", .seconds), ("--width", .int), ("--heads", .int),
                              ("--layers", .names(["ttt-linear", "attention,mamba", "none", "nope", "", ","])),
                              ("--lm-layers", .names(["none", "nope", ""])), ("--memory-layers", .names(["none", "nope", ""])),
                              ("--memory-context", .int), ("--no-reference", .flag)], weight: 2),
        CommandSpec(path: ["export"], base: ["--checkpoint", "ckpt", "--out", "hf"],
                    options: [("--checkpoint", .checkpointDir), ("--format", .names(["hf", "gguf", ""])), ("--out", .runDir),
                              ("--from", .checkpointDir)], weight: 2),   // --from is import's; export's help names it
        CommandSpec(path: ["import"], base: ["--from", "ckpt", "--out", "run2"],
                    options: [("--from", .checkpointDir), ("--out", .runDir)], weight: 2),
        CommandSpec(path: ["logits"], base: ["--checkpoint", "ckpt", "--text", "afile", "--output", "y.safetensors"],
                    options: [("--checkpoint", .checkpointDir), ("--input", .inputPath), ("--text", .inputPath), ("--output", .outputPath)], weight: 2),
        CommandSpec(path: ["study"], base: ["equivalnce", "--out", "s"], options: [("--out", .runDir), ("--seed", .int), ("--data", .corpusDir), ("--quick", .flag), ("--full", .flag),
                                                                           ("--plan", .flag), ("--cached-only", .flag),
                                                                           ("--run", .names(["recall:attention:lr0.003:s0", "nope", "", "../x", "recall:"]))],
                    positional: ["list", "equivalnce", "", "../../x", "nope"]),
        CommandSpec(path: ["figures"], base: ["--only", "flosp", "--out", "f"], options: [("--out", .runDir), ("--only", .names(["flosp", "", "nope"])),
                                                                                          ("--quick", .flag), ("--full", .flag), ("--seed", .int),
                                                                                          ("--force", .flag), ("--data", .corpusDir)]),
        CommandSpec(path: ["version"], base: [], options: []),
    ]

    /// Options whose value is a path the command may write (files under it may appear or change).
    static let outputOptions: Set<String> = ["--out", "--output", "--save-weights", "--resume", "--root"]

    // MARK: fixtures

    /// The scratch directory every case starts from: inputs, a corpus, a checkpoint, a plugin package,
    /// a user's directory, a regular file used as a parent, a symlink loop and a symlink to an input.
    static func makeFixtures(_ dir: URL) throws {
        let fm = FileManager.default
        try inputTensorFile(t: 5, d: 16).write(to: dir.appendingPathComponent("x.safetensors"))
        try inputTensorFile(t: 5, d: 16).write(to: dir.appendingPathComponent("q"))      // a one-character name
        var nanInput = inputTensorFile(t: 5, d: 16)
        nanInput.replaceSubrange(nanInput.count - 4..<nanInput.count, with: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Data($0) })
        try nanInput.write(to: dir.appendingPathComponent("nan.safetensors"))
        try inputTensorFile(t: 5, d: 16).prefix(8).write(to: dir.appendingPathComponent("big.safetensors"))
        try writeSyntheticCorpus(to: dir.appendingPathComponent("data"))
        let train = try lab(["train", "--preset", "micro", "--steps", "4", "--stop-after", "2", "--batch", "2", "--context", "32",
                             "--eval-windows", "2", "--no-chart", "--out", "ckpt"], cwd: dir, env: ["LAB_THREADS": "1"])
        guard train.status == 0 else { throw NSError(domain: "fixture", code: 1, userInfo: [NSLocalizedDescriptionKey: train.stderr]) }
        // A checkpoint whose weights hold a NaN (config copied; the weights rewritten with one NaN).
        try fm.copyItem(at: dir.appendingPathComponent("ckpt"), to: dir.appendingPathComponent("nanckpt"))
        let mURL = dir.appendingPathComponent("nanckpt/model.safetensors")
        var m = try Data(contentsOf: mURL)
        m.replaceSubrange(m.count - 4..<m.count, with: withUnsafeBytes(of: Float.infinity.bitPattern.littleEndian) { Data($0) })
        try m.write(to: mURL)
        try fm.createDirectory(at: dir.appendingPathComponent("pkg/Plugins/Extra"), withIntermediateDirectories: true)
        try "// extra\n".write(to: dir.appendingPathComponent("pkg/Plugins/Extra/ExtraInner.swift"), atomically: true, encoding: .utf8)
        try "// swift-tools-version:6.0\nlet innerModelPlugins: [String] = [\"DeltaNet\", \"Extra\", \"Momentum\", \"NadarayaWatson\", \"TTTLinear\", \"TTTMLP\"]\n"
            .write(to: dir.appendingPathComponent("pkg/Package.swift"), atomically: true, encoding: .utf8)
        try fm.createDirectory(at: dir.appendingPathComponent("userdir"), withIntermediateDirectories: true)
        try "my notes\n".write(to: dir.appendingPathComponent("userdir/loss.csv"), atomically: true, encoding: .utf8)
        try fm.createDirectory(at: dir.appendingPathComponent("dir"), withIntermediateDirectories: true)
        try "a file\n".write(to: dir.appendingPathComponent("afile"), atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("loop").path, withDestinationPath: "loop")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("link-x").path, withDestinationPath: "x.safetensors")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("devlink").path, withDestinationPath: "/dev/null")
    }

    /// Every entry under `dir` (not following symlinks) with its type, size, mtime and inode.
    static func snapshot(_ dir: URL) -> [String: String] {
        var out: [String: String] = [:]
        func walk(_ rel: String) {
            let full = rel.isEmpty ? dir.path : dir.path + "/" + rel
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: full) else { return }
            for n in names {
                let r = rel.isEmpty ? n : rel + "/" + n
                var st = stat()
                guard lstat(dir.path + "/" + r, &st) == 0 else { continue }
                let type = st.st_mode & S_IFMT
                out[r] = "\(type) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) \(st.st_ino)"
                if type == S_IFDIR { walk(r) }
            }
        }
        walk("")
        return out
    }

    /// A path (relative to the scratch directory) is allowed to change when it is, or lies under, an
    /// output, or is a directory on the way to one (created for it, or holding its temp file).
    static func allowed(_ path: String, outputs: [String]) -> Bool {
        outputs.contains { o in
            let n = o.hasPrefix("./") ? String(o.dropFirst(2)) : o
            return !n.isEmpty && (path == n || path.hasPrefix(n + "/") || n.hasPrefix(path + "/"))
        }
    }

    // MARK: generator

    static func value(_ kind: OptionKind, _ rng: inout RNG) -> String? {
        func pick(_ a: [String]) -> String { a[Int(rng.next() % UInt64(a.count))] }
        switch kind {
        case .int: return pick(Pools.int)
        case .float: return pick(Pools.float)
        case .seconds: return pick(Pools.seconds)
        case .flag: return nil
        case .inputPath: return pick(Pools.input)
        case .outputPath: return pick(Pools.output)
        case .runDir: return pick(Pools.runDir)
        case .resumeDir: return pick(Pools.resume)
        case .corpusDir: return pick(Pools.corpus)
        case .checkpointDir: return pick(Pools.checkpoint)
        case .pluginRoot: return pick(Pools.root)
        case .names(let n): return pick(n)
        }
    }

    /// One case: a command's cheap valid base with 0–3 options set to drawn values (or dropped), a
    /// positional drawn from the command's pool, sometimes an unknown option, sometimes LAB_THREADS.
    static func generate(_ rng: inout RNG) -> (args: [String], env: [String: String]) {
        let total = commands.reduce(0) { $0 + $1.weight }
        var r = Int(rng.next() % UInt64(total))
        var spec = commands[0]
        for c in commands { if r < c.weight { spec = c; break }; r -= c.weight }
        var args = spec.base
        if !spec.positional.isEmpty, rng.next() % 2 == 0 {
            args[0] = spec.positional[Int(rng.next() % UInt64(spec.positional.count))]
        }
        let edits = spec.options.isEmpty ? 0 : Int(rng.next() % 4)
        for _ in 0..<edits {
            let (name, kind) = spec.options[Int(rng.next() % UInt64(spec.options.count))]
            let i = args.firstIndex(of: name)
            // Drop the option (never figures' --only: without it every study would run).
            if rng.next() % 8 == 0, let i, !(spec.path == ["figures"] && name == "--only") {
                let hasValue: Bool
                if case .flag = kind { hasValue = false } else { hasValue = true }
                args.removeSubrange(i..<min(args.count, i + (hasValue ? 2 : 1)))
                continue
            }
            guard let v = value(kind, &rng) else {
                if i == nil { args.append(name) }
                continue
            }
            if let i, i + 1 < args.count { args[i + 1] = v }
            else if rng.next() % 3 == 0 { args.append("\(name)=\(v)") }
            else { args += [name, v] }
        }
        if rng.next() % 25 == 0 { args.append(["--frobnicate", "-z", "extra", "--", "--help"][Int(rng.next() % 5)]) }
        // The training cases stay short: a stop after two steps unless the case sets --stop-after itself.
        if spec.path == ["train"] && !args.contains(where: { $0.hasPrefix("--stop-after") }) { args += ["--stop-after", "2"] }
        var env = ["LAB_THREADS": "1"]
        if rng.next() % 8 == 0 { env["LAB_THREADS"] = Pools.threads[Int(rng.next() % UInt64(Pools.threads.count))] }
        return (spec.path + args, env)
    }

    // MARK: runner

    struct Outcome { var status: Int32; var signalled: Bool; var timedOut: Bool; var stderr: String }

    /// Runs `lab` with a timeout (a case that is merely slow is stopped by us, not counted as a trap).
    static func run(_ args: [String], env: [String: String], cwd: URL, timeout: Double, executable: URL? = nil) throws -> Outcome {
        let p = Process()
        p.executableURL = try executable ?? labExecutable()
        p.arguments = args
        p.currentDirectoryURL = cwd
        var e = ProcessInfo.processInfo.environment
        e["CI"] = "true"
        for (k, v) in env { e[k] = v }
        p.environment = e
        let errURL = cwd.deletingLastPathComponent().appendingPathComponent("fuzz-stderr-\(getpid())")
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let errHandle = try FileHandle(forWritingTo: errURL)
        defer { try? errHandle.close(); try? FileManager.default.removeItem(at: errURL) }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = errHandle
        p.standardInput = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in done.signal() }
        try p.run()
        var timedOut = false
        if done.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            kill(p.processIdentifier, SIGKILL)
            done.wait()
        }
        let err = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        return Outcome(status: p.terminationStatus, signalled: p.terminationReason == .uncaughtSignal && !timedOut,
                       timedOut: timedOut, stderr: err)
    }

    /// Runs `count` cases of `seed`; returns the failures (one line each, with the argv) and counts.
    static func fuzz(seed: UInt64, count: Int, timeout: Double, log: (String) -> Void = { _ in }) throws -> (failures: [String], stats: [String: Int]) {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let pristine = root.appendingPathComponent("pristine"), scratch = root.appendingPathComponent("scratch")
        try FileManager.default.createDirectory(at: pristine, withIntermediateDirectories: true)
        try makeFixtures(pristine)
        try FileManager.default.copyItem(at: pristine, to: scratch)
        var before = snapshot(scratch)
        var failures: [String] = [], stats: [String: Int] = [:]
        var rng = RNG(seed: seed)
        for k in 0..<count {
            let (args, env) = generate(&rng)
            let shown = "seed \(seed) case \(k): LAB_THREADS=\(env["LAB_THREADS"]!.debugDescription) lab \(args.map { $0.debugDescription }.joined(separator: " "))"
            let o = try run(args, env: env, cwd: scratch, timeout: timeout)
            stats["status \(o.status)", default: 0] += 1
            if o.timedOut { stats["timed out (stopped, not a failure)", default: 0] += 1; log("SLOW \(shown)") }
            var problems: [String] = []
            if o.signalled { problems.append("killed by signal \(o.status)") }
            else if !o.timedOut && o.status != 0 && o.status != 2 { problems.append("exit status \(o.status)") }
            let errors = o.stderr.split(separator: "\n").filter { $0.hasPrefix("lab: error:") }
            if o.status == 2 && !o.timedOut && errors.count != 1 { problems.append("exit 2 with \(errors.count) 'lab: error:' lines") }
            if o.stderr.contains("Fatal error") || o.stderr.contains("Stack dump") { problems.append("trap text on stderr") }
            // Files: every created, changed or removed path lies under an output of this case.
            // Defaults when --out is not given: train writes runs/<layer>-<preset>, study and figures results/.
            let defaults = args.first == "train" ? ["runs"] : ["study", "figures"].contains(args.first ?? "") ? ["results"] : []
            let outputs = zip(args, args.dropFirst()).filter { outputOptions.contains($0.0) }.map(\.1)
                + args.filter { a in outputOptions.contains(where: { a.hasPrefix($0 + "=") }) }.map { String($0.split(separator: "=", maxSplits: 1).last ?? "") }
                + defaults
            let after = snapshot(scratch)
            let changed = Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }
            let stray = changed.filter { !allowed($0, outputs: outputs) }.sorted()
            if !stray.isEmpty { problems.append("files changed outside the outputs: \(stray.prefix(5))") }
            var st = stat()
            if stat("/dev/null", &st) != 0 || (st.st_mode & S_IFMT) != S_IFCHR { problems.append("/dev/null is no longer a device") }
            // A symlink to a device is never replaced, even when it is the output.
            if lstat(scratch.appendingPathComponent("devlink").path, &st) != 0 || (st.st_mode & S_IFMT) != S_IFLNK { problems.append("devlink was replaced") }
            if !problems.isEmpty {
                let line = "\(shown) → \(problems.joined(separator: "; ")); stderr: \(o.stderr.prefix(300))"
                failures.append(line); log("FAIL " + line)
            }
            if !changed.isEmpty {     // restore the inputs for the next case
                try FileManager.default.removeItem(at: scratch)
                try FileManager.default.copyItem(at: pristine, to: scratch)
                before = snapshot(scratch)
            }
        }
        return (failures, stats)
    }

    // MARK: tests

    /// The property, a few hundred seeded cases (LAB_FUZZ_CASES / LAB_FUZZ_SEED to change them).
    func testRandomArgumentVectorsNeverTrapOrClobber() throws {
        let env = ProcessInfo.processInfo.environment
        let count = env["LAB_FUZZ_CASES"].flatMap { Int($0) } ?? 200
        let seed = env["LAB_FUZZ_SEED"].flatMap { UInt64($0) } ?? 1
        let (failures, stats) = try CLIPropertyTests.fuzz(seed: seed, count: count, timeout: 20) { print($0) }
        print("cli fuzz: seed \(seed), \(count) cases: \(stats.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")); \(failures.count) failure(s)")
        XCTAssertTrue(failures.isEmpty, failures.prefix(10).joined(separator: "\n"))
        XCTAssertGreaterThan(stats["status 0", default: 0], 0, "no case succeeded: the generator only produces errors")
        XCTAssertGreaterThan(stats["status 2", default: 0], 0, "no case failed: the generator produces no hostile values")
    }

    /// Negative control: each predicate of the property can fail — a stray file changes the snapshot, a
    /// path outside the outputs is not allowed, a child killed by a signal is reported as a trap, and a
    /// case we stop on timeout is not.
    func testCheckerCanFail() throws {
        XCTAssertFalse(CLIPropertyTests.allowed("x.safetensors", outputs: ["y.safetensors"]))
        XCTAssertFalse(CLIPropertyTests.allowed("runs2/a", outputs: ["runs"]))
        XCTAssertTrue(CLIPropertyTests.allowed("run1/model.safetensors", outputs: ["./run1"]))
        XCTAssertTrue(CLIPropertyTests.allowed("new", outputs: ["new/deep/y.safetensors"]))
        XCTAssertFalse(CLIPropertyTests.allowed("new/other", outputs: ["new/deep/y.safetensors"]))
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = CLIPropertyTests.snapshot(dir)
        try Data([1]).write(to: dir.appendingPathComponent("stray"))
        XCTAssertNotEqual(a, CLIPropertyTests.snapshot(dir))
        // A child killed by a signal is reported as signalled (the trap predicate).
        let o = try CLIPropertyTests.run(["bench", "gemm", "--seconds", "3000"], env: [:], cwd: dir, timeout: 0.5)
        XCTAssertTrue(o.timedOut && !o.signalled, "a case we stop on timeout is not a trap")
        let trap = try CLIPropertyTests.run(["-c", "kill -ABRT $$"], env: [:], cwd: dir, timeout: 10, executable: URL(fileURLWithPath: "/bin/sh"))
        XCTAssertTrue(trap.signalled && !trap.timedOut, "a child killed by SIGABRT must count as a trap")
    }

    /// Every leaf subcommand `lab --help` lists (recursively) is in the table, except `data fetch` (network
    /// and apt: not fuzzed) — so a new command is fuzzed too.
    func testTableCoversEverySubcommand() throws {
        func leaves(_ path: [String]) throws -> [[String]] {
            let help = try lab(path + ["--help"]).stdout
            guard let r = help.range(of: "SUBCOMMANDS:") else { return [path] }
            var out: [[String]] = []
            for line in help[r.upperBound...].split(separator: "\n") {
                guard line.hasPrefix("  "), !line.hasPrefix("   "), let name = line.split(separator: " ").first else { continue }
                let n = String(name)
                if n == "See" || n == "help" { continue }
                out += try leaves(path + [n])
            }
            return out
        }
        let table = Set(CLIPropertyTests.commands.map { $0.path.joined(separator: " ") })
        let all = try leaves([]).map { $0.joined(separator: " ") }
        XCTAssertGreaterThan(all.count, 10)
        let missing = all.filter { !table.contains($0) && $0 != "data fetch" && !table.contains(String($0.split(separator: " ").first!)) }
        XCTAssertEqual(missing, [], "subcommands missing from the fuzz table")
    }

    /// The table names every option each subcommand's --help lists (so new options get fuzzed too).
    func testTableCoversHelp() throws {
        for spec in CLIPropertyTests.commands {
            let help = try lab(spec.path + ["--help"])
            XCTAssertEqual(help.status, 0, spec.path.joined(separator: " "))
            let separators: Set<Character> = [" ", ",", "\n", "[", "]", "<", ">", "(", ")", "'"]
            let words: [String] = help.stdout.split(whereSeparator: { separators.contains($0) }).map(String.init)
            var listed = Set<String>()
            for w in words where w.hasPrefix("--") && w.count > 2 {
                listed.insert(String(w.split(separator: "=")[0]).trimmingCharacters(in: CharacterSet(charactersIn: ".;:")))
            }
            listed.subtract(["--help", "--version", "--generate-completion-script"])
            let table = Set(spec.options.map { $0.0 }.filter { $0.hasPrefix("--") })
            let missing: [String] = listed.subtracting(table).sorted()
            XCTAssertEqual(missing, [String](), "\(spec.path): options missing from the fuzz table")
        }
    }
}
