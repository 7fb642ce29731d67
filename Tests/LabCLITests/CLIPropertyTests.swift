// CLIPropertyTests.swift — a property test for the whole `lab` command line: seeded random argument
// vectors built from each subcommand's options (valid, boundary and hostile values) run the built `lab`
// binary as a child process in a scratch directory. Properties of every case:
// - no trap (a signal exit fails), exit status 0 or 2, an exit 2 says exactly one `lab: error:` line;
// - a case that must be refused (a value no option accepts, an unknown option) is refused — not run to a
//   timeout, not exit 0;
// - no file is created, changed or removed outside the case's output paths, and no input of the case
//   (every path option it reads, through symlinks) changes, even when an output names it;
// - an exit 0 leaves its documented output: run-layer's [B, T, D] tensor, logits' [B, T, 256], a run's
//   weights, a study's report, figures' REPORT.md — present and finite; a plan's lines run through `sh -c`
//   deliver their arguments intact (hostile --data/--out paths) and inject nothing.
// Numbers read from files are generated too: a checkpoint and an HF export whose config.json gets one
// field set to a hostile number per case. Every option the CLI declares is drawn (asserted), and a second
// generated test checks that each option of each layer-taking subcommand, for each layer kind, changes
// what runs or is refused.
//
// CI runs LAB_FUZZ_CASES (default 110) cases of seed LAB_FUZZ_SEED (default 1); scripts/cli-fuzz.sh runs
// thousands. A failure prints the seed, the case number and the argv (with LAB_THREADS) to reproduce it.
import Foundation
import XCTest
import Layers
@testable import Models
import TensorCore
import Zoo

/// What one option takes; the generator draws valid, boundary and hostile values from each pool.
enum OptionKind {
    case int, float, seconds, flag
    case inputPath, outputPath, runDir, resumeDir, corpusDir, checkpointDir, pluginRoot, planPath
    /// `lab figures --data`: a corpus directory that may be missing (the studies that train then name
    /// `lab data fetch`; see CorpusOption.swift), but never empty, a loop or a file.
    case studyCorpusDir
    case names([String])
}

/// A subcommand: the argv prefix, a cheap valid base, its options (name → kind), and positional values.
struct CommandSpec {
    let path: [String]
    let base: [String]
    let options: [(String, OptionKind)]
    var positional: [String] = []
    var weight = 1
    /// Options never dropped from the base (they keep the case cheap: figures' --only, --quick).
    var keep: Set<String> = []
}

/// Option pools. Hostile values: overflow, NaN/Inf, empty, text, devices, symlink loops, clobbering paths.
enum Pools {
    static let long = String(repeating: "n", count: 300)
    static let int = ["0", "1", "2", "3", "4", "5", "7", "8", "16", "-1", "-4", "1000000", "2147483648", "9223372036854775807",
                      "9223372036854775808", "-9223372036854775808", "18446744073709551615", "4611686018427387904", "1e3", "abc", "", "nan",
                      "0x10", " 4", "+3", "٣", "20000000000"]
    static let float = ["0", "1", "-1", "nan", "inf", "-inf", "1e400", "1e-45", "3e-3", "0.5", "abc", "", "1e30", "-0"]
    static let seconds = ["0.001", "0.002", "0", "-1", "nan", "inf", "-inf", "1e400", "abc", "", "1e9", "1e-300"]
    static let input = ["x.safetensors", "x", "q", "./x.safetensors", "link-x", "nothing.safetensors", "", "/dev/null", "/dev/zero", "loop",
                        "dir", "afile/x", "data", "ckpt", "ckpt/model.safetensors", "nan.safetensors", "afile", long, "big.safetensors",
                        "dirlink", "dangling", "ids.safetensors"]
    static let output = ["y.safetensors", "y", "x", "q", "x.safetensors", "./x.safetensors", "link-x", "dir", "afile/y", "/dev/null", "/dev/full",
                         "/sys/y.safetensors", "loop/y", long, "", "data", "ckpt", "new/deep/y.safetensors", "w.safetensors", "nan.safetensors", "devlink",
                         "dir/", "y.safetensors/", "dirlink", "dangling", "ckpt/config.json", "ckpt/new.safetensors", "data/y", "afile", "ids.safetensors"]
    static let runDir = ["run1", "run2", "ckpt", "data", "afile/run", "/sys/run", "userdir", "", "dir", long, "loop", "dirlink", "dangling", "ckpt/sub"]
    static let resume = ["ckpt", "nowhere", "data", "afile", "x.safetensors", "userdir", "loop", "", "mutckpt"]
    static let corpus = ["data", "nowhere", "afile", "ckpt", "loop", "/dev/null", "", "dir", "dirlink"]
    static let checkpoint = ["ckpt", "nanckpt", "nowhere", "data", "afile", "loop", "", "dir", "mutckpt", "mutckpt", "hf", "muthf", "muthf"]
    static let root = ["pkg", ".", "nowhere", "afile", "/sys", "loop"]
    static let threads = ["", "1", "2", "0", "-1", "abc", "99999", "1.5"]
    /// Paths that reach a plan line: spaces, quotes, ';', '$()', backquotes, a newline.
    static let plan = ["data", "my data", "a'b\"c", "x;touch INJECTED;#", "$(touch INJECTED)", "`touch INJECTED`", "nl\nx", "*", "-dash"]
    /// Values no option accepts: a case holding one after an option must be refused.
    static let invalid: Set<String> = ["abc", "", "nan", "1e400", "٣", "loop", "afile/x", "afile/y", "afile/run", "loop/y", "dir/",
                                       "y.safetensors/", "dangling", long, "nl\nx", "/sys/y.safetensors", "/sys/run", "nowhere"]
    /// Options whose pool is `invalid`-free of meaning for them (a value that names a missing input is refused,
    /// but "nowhere" as an output directory is fine): `invalid` applies to an option only with these kinds.
    static func mustRefuse(_ value: String, kind: OptionKind) -> Bool {
        guard invalid.contains(value) else { return false }
        switch kind {
        case .runDir, .outputPath, .pluginRoot, .studyCorpusDir: return value != "nowhere"
        case .resumeDir, .corpusDir, .checkpointDir, .inputPath: return true
        case .int, .float, .seconds: return true
        case .names: return value == ""
        case .planPath: return value == "nl\nx"
        case .flag: return false
        }
    }
    /// Fields of a run's config.json and of an HF config.json set to hostile numbers.
    static let runFields = ["model.width", "model.heads", "model.layers", "model.vocab", "model.mlpHidden", "model.miniBatch", "model.convWidth",
                            "train.lr", "train.minLR", "train.weightDecay", "train.steps", "train.batch", "train.context", "train.seed",
                            "train.beta1", "train.clip", "train.evalWindows", "train.warmupFraction", "train.tttLRMultStart"]
    static let hfFields = ["hidden_size", "vocab_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "rope_theta",
                           "ttt_base_lr", "mini_batch_size", "conv_kernel", "rms_norm_eps"]
    static let fileNumbers: [Any] = [-1, 0, 1e308, -1e308, 4611686018427387904, -4611686018427387904, 0.5, 3, "x", true, NSNull()]
}

final class CLIPropertyTests: XCTestCase {
    static let layerNames = ["ttt-linear", "ttt-mlp", "attention", "linear-attention", "mamba", "ttt-linear-m", "ttt-delta-net",
                             "ttt-linaer", "", "ATTENTION", "ttt-", "ttt-momentum", "ttt-nadaraya-watson",
                             "attention,ttt-linear", "attention,mamba,ttt-linear", "attention,,mamba", ","]
    static let layerOpts: [(String, OptionKind)] = [("--width", .int), ("--heads", .int), ("-b", .int), ("--mini-batch", .int),
                                                    ("--backbone", .names(["transformer", "mamba", "mamab", ""])),
                                                    ("--linear-variant", .names(["simple", "elu", "relu", ""])), ("--window", .int)]

    /// The command table. (`testTableCoversHelp` checks it against each `--help`.)
    static let commands: [CommandSpec] = [
        CommandSpec(path: ["layers"], base: ["--width", "64", "--heads", "4"],
                    options: [("--width", .int), ("--heads", .int), ("-b", .int), ("--mini-batch", .int), ("--context", .int), ("--window", .int)], weight: 2),
        CommandSpec(path: ["plugin", "check"], base: ["linear", "--width", "8", "--heads", "2", "--length", "6"],
                    options: [("--all", .flag), ("--width", .int), ("--heads", .int), ("-b", .int), ("--mini-batch", .int), ("--length", .int), ("--seed", .int)],
                    positional: ["linear", "Momentum", "ttt-mlp", "my-model", "linaer", "", "TTTLinear", "delta-net"], weight: 2),
        CommandSpec(path: ["plugin", "new"], base: ["MyModel", "--root", "pkg"], options: [("--root", .pluginRoot)],
                    positional: ["MyModel", "Self", "Any", "Type", "Protocol", "Tensor", "Layers", "my-model", "", String(repeating: "A", count: 60),
                                 "Int", "X", "TTTLinear", "Äb", "Zoo", "LayerConfig", "XCTFoo", "Extra"], weight: 2),
        CommandSpec(path: ["plugin", "remove"], base: ["Extra", "--root", "pkg"], options: [("--root", .pluginRoot)],
                    positional: ["Extra", "DeltaNet", "TTTLinear", "Nope", "../x", "", "."], weight: 1),
        CommandSpec(path: ["train"], base: ["--preset", "micro", "--steps", "2", "--batch", "2", "--context", "32", "--eval-windows", "2", "--no-chart", "--out", "run1"],
                    options: [("--layer", .names(layerNames)), ("--preset", .names(["micro", "tiny", "1.3b", "tinny", ""])), ("-b", .int), ("--mini-batch", .int),
                              ("--steps", .int), ("--batch", .int), ("--context", .int), ("--lr", .float), ("--seed", .int), ("--eval-every", .int),
                              ("--eval-windows", .int), ("--checkpoint-every", .int), ("--data", .corpusDir), ("--out", .runDir),
                              ("--resume", .resumeDir), ("--stop-after", .int), ("--log-every", .int), ("--force", .flag),
                              ("--no-chart", .flag), ("--vocab", .int), ("--dry-run", .flag), ("--window", .int),
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
                                                    "--memory-layers", "none", "--memory-context", "64", "--models", "none"],
                    options: [("--context", .int), ("--seconds", .seconds), ("--width", .int), ("--heads", .int),
                              ("--layers", .names(["ttt-linear", "attention,mamba", "none", "nope", "", ","])),
                              ("--lm-layers", .names(["none", "nope", ""])), ("--memory-layers", .names(["none", "nope", ""])),
                              ("--memory-context", .int), ("--no-reference", .flag),
                              ("--forward-only", .names(["mlp", "ttt-linear", "nadaraya-watson", "nope", "", ","])),
                              // The study-sized models train for many seconds: only refusals and "none" here.
                              ("--models", .names(["none", "nope", "", ",", "recall,nope"])),
                              ("--model-layers", .names(["attention", "mamba@ttt-linear", "nope", "", ","])), ("--recall-length", .int)], weight: 2),
        CommandSpec(path: ["export"], base: ["--checkpoint", "ckpt", "--out", "hf2"],
                    options: [("--checkpoint", .checkpointDir), ("--format", .names(["hf", "gguf", ""])), ("--out", .runDir),
                              ("--from", .checkpointDir)], weight: 2),   // --from is import's; export's help names it
        CommandSpec(path: ["import"], base: ["--from", "hf", "--out", "run2"],
                    options: [("--from", .checkpointDir), ("--out", .runDir)], weight: 3),
        CommandSpec(path: ["logits"], base: ["--checkpoint", "ckpt", "--text", "afile", "--output", "y.safetensors"],
                    options: [("--checkpoint", .checkpointDir), ("--input", .inputPath), ("--text", .inputPath), ("--output", .outputPath)], weight: 3),
        // Valid: equivalence --quick (seconds); recall is only planned (its runs train for minutes).
        CommandSpec(path: ["study"], base: ["equivalence", "--quick", "--out", "s"],
                    options: [("--out", .planPath), ("--seed", .int), ("--data", .planPath), ("--quick", .flag), ("--full", .flag),
                              ("--plan", .flag), ("--cached-only", .flag), ("--force", .flag),
                              ("--run", .names(["recall:attention:lr0.003:s0", "nope", "", "../x", "recall:"])),
                              ("--layers", .names(["attention,ttt-linear", "ttt-gla", "nope", "", "attention,attention", ","]))],
                    positional: ["list", "equivalnce", "", "../../x", "nope", "recall", "recall", "recall", "equivalence"], weight: 3, keep: ["--quick"]),
        CommandSpec(path: ["figures"], base: ["--quick", "--only", "equivalence", "--out", "f"],
                    options: [("--out", .runDir), ("--only", .names(["flosp", "", "nope", "equivalence"])), ("--quick", .flag), ("--full", .flag),
                              ("--seed", .int), ("--force", .flag), ("--data", .studyCorpusDir)], weight: 1, keep: ["--only", "--quick"]),
        CommandSpec(path: ["version"], base: [], options: []),
    ]

    /// Options whose value is a path the command may write (files under it may appear or change).
    static let outputOptions: Set<String> = ["--out", "--output", "--save-weights", "--resume", "--root"]
    /// Options whose value is a path the command reads: nothing at or under it may change.
    static let inputOptions: Set<String> = ["--input", "--text", "--weights", "--checkpoint", "--from", "--data"]

    // MARK: fixtures

    /// The scratch directory every case starts from: inputs, a corpus, a checkpoint and its HF export (and
    /// copies whose config.json the cases mutate), a plugin package, a user's directory, a regular file used
    /// as a parent, a symlink loop, a dangling symlink, symlinks to an input, a directory and a device.
    static func makeFixtures(_ dir: URL) throws {
        let fm = FileManager.default
        try inputTensorFile(t: 5, d: 16).write(to: dir.appendingPathComponent("x.safetensors"))
        try inputTensorFile(t: 5, d: 16).write(to: dir.appendingPathComponent("q"))      // a one-character name
        var nanInput = inputTensorFile(t: 5, d: 16)
        nanInput.replaceSubrange(nanInput.count - 4..<nanInput.count, with: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Data($0) })
        try nanInput.write(to: dir.appendingPathComponent("nan.safetensors"))
        try inputTensorFile(t: 5, d: 16).prefix(8).write(to: dir.appendingPathComponent("big.safetensors"))
        var ids: [UInt8] = []
        for v: Int32 in [104, 101, 108, 108, 111, 32] { withUnsafeBytes(of: v.littleEndian) { ids += $0 } }
        try handBuiltSafetensors(#"{"input_ids":{"dtype":"I32","shape":[2,3],"data_offsets":[0,24]}}"#, data: ids).write(to: dir.appendingPathComponent("ids.safetensors"))
        try writeSyntheticCorpus(to: dir.appendingPathComponent("data"))
        let train = try lab(["train", "--preset", "micro", "--steps", "4", "--stop-after", "2", "--batch", "2", "--context", "32",
                             "--eval-windows", "2", "--no-chart", "--out", "ckpt"], cwd: dir, env: ["LAB_THREADS": "1"])
        guard train.status == 0 else { throw NSError(domain: "fixture", code: 1, userInfo: [NSLocalizedDescriptionKey: train.stderr]) }
        let export = try lab(["export", "--checkpoint", "ckpt", "--out", "hf"], cwd: dir, env: ["LAB_THREADS": "1"])
        guard export.status == 0 else { throw NSError(domain: "fixture", code: 2, userInfo: [NSLocalizedDescriptionKey: export.stderr]) }
        try fm.copyItem(at: dir.appendingPathComponent("ckpt"), to: dir.appendingPathComponent("mutckpt"))
        try fm.copyItem(at: dir.appendingPathComponent("hf"), to: dir.appendingPathComponent("muthf"))
        // A checkpoint whose weights hold an Inf (config copied; the weights rewritten with one Inf).
        try fm.copyItem(at: dir.appendingPathComponent("ckpt"), to: dir.appendingPathComponent("nanckpt"))
        let mURL = dir.appendingPathComponent("nanckpt/model.safetensors")
        var m = try Data(contentsOf: mURL)
        m.replaceSubrange(m.count - 4..<m.count, with: withUnsafeBytes(of: Float.infinity.bitPattern.littleEndian) { Data($0) })
        try m.write(to: mURL)
        try fm.createDirectory(at: dir.appendingPathComponent("pkg/Plugins/Extra"), withIntermediateDirectories: true)
        try "// extra\n".write(to: dir.appendingPathComponent("pkg/Plugins/Extra/ExtraInner.swift"), atomically: true, encoding: .utf8)
        try "// swift-tools-version:6.0\nlet innerModelPlugins: [String] = [\"DeltaNet\", \"Extra\", \"Momentum\", \"NadarayaWatson\", \"TTTLinear\", \"TTTMLP\"]\n"
            .write(to: dir.appendingPathComponent("pkg/Package.swift"), atomically: true, encoding: .utf8)
        try writeInnerModelList(dir.appendingPathComponent("pkg"), modules: ["DeltaNet", "Extra", "Momentum", "NadarayaWatson", "TTTLinear", "TTTMLP"])
        try fm.createDirectory(at: dir.appendingPathComponent("userdir"), withIntermediateDirectories: true)
        try "my notes\n".write(to: dir.appendingPathComponent("userdir/loss.csv"), atomically: true, encoding: .utf8)
        try fm.createDirectory(at: dir.appendingPathComponent("dir"), withIntermediateDirectories: true)
        try "a file\n".write(to: dir.appendingPathComponent("afile"), atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("loop").path, withDestinationPath: "loop")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("link-x").path, withDestinationPath: "x.safetensors")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("devlink").path, withDestinationPath: "/dev/null")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("dirlink").path, withDestinationPath: "dir")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("dangling").path, withDestinationPath: "gone")
        // Corpora under the hostile plan paths, so that plans and studies reading them find one.
        for p in Pools.plan where p != "data" && !p.contains("\n") && !p.contains("/") {
            try fm.copyItem(at: dir.appendingPathComponent("data"), to: dir.appendingPathComponent(p))
        }
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
            let n = normalized(o)
            return !n.isEmpty && (path == n || path.hasPrefix(n + "/") || n.hasPrefix(path + "/"))
        }
    }

    /// "./a/b/" → "a/b".
    static func normalized(_ p: String) -> String {
        var n = p.hasPrefix("./") ? String(p.dropFirst(2)) : p
        while n.hasSuffix("/") { n.removeLast() }
        return n
    }

    /// Where an input path leads, relative to the scratch directory (symlinks resolved); nil outside it.
    static func resolvedInput(_ p: String, scratch: URL) -> String? {
        guard !p.isEmpty else { return nil }
        let full = p.hasPrefix("/") ? p : scratch.path + "/" + p
        let base = FileSafety.resolved(scratch.path)
        let r = FileSafety.resolved(full)
        guard r.hasPrefix(base + "/") else { return nil }
        return String(r.dropFirst(base.count + 1))
    }

    /// A changed path violates input protection when it is, or lies under, a (resolved) input.
    static func touchesInput(_ path: String, inputs: [String]) -> Bool {
        inputs.contains { i in !i.isEmpty && (path == i || path.hasPrefix(i + "/")) }
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
        case .corpusDir, .studyCorpusDir: return pick(Pools.corpus)
        case .checkpointDir: return pick(Pools.checkpoint)
        case .pluginRoot: return pick(Pools.root)
        case .planPath: return pick(Pools.plan)
        case .names(let n): return pick(n)
        }
    }

    /// Every (command, option) of the table, in a fixed order: case k edits option k mod count first, so
    /// that a run of at least that many cases draws every option.
    static let allOptions: [(spec: Int, option: Int)] = commands.enumerated().flatMap { (i, c) in c.options.indices.map { (i, $0) } }

    /// A file-number mutation: which fixture's config.json, the key path and the value.
    struct Mutation { var file: String; var key: [String]; var value: Any }

    /// One generated case.
    struct Case {
        var args: [String]
        var env: [String: String]
        var drawn: [String]
        var mustRefuse: Bool
        var mutation: Mutation?
    }

    /// One case: a command's cheap valid base with options set to drawn values (or dropped), a positional
    /// drawn from the command's pool, sometimes an unknown option, sometimes LAB_THREADS, and a hostile
    /// number in a fixture's config.json.
    static func generate(_ k: Int, _ rng: inout RNG) -> Case {
        let (si, first) = allOptions[k % allOptions.count]
        let spec = commands[si]
        var args = spec.base
        var drawn: [String] = []
        var refuse = false
        if !spec.positional.isEmpty, rng.next() % 2 == 0 {
            let p = spec.positional[Int(rng.next() % UInt64(spec.positional.count))]
            args[0] = p
            if p.isEmpty { refuse = true }
        }
        let edits = [first] + (0..<Int(rng.next() % 3)).map { _ in Int(rng.next() % UInt64(spec.options.count)) }
        var kinds: [String: OptionKind] = [:]
        for oi in edits {
            let (name, kind) = spec.options[oi]
            drawn.append(name)
            kinds[name] = kind
            let i = args.firstIndex(of: name)
            // Drop the option (never one that keeps the case cheap).
            if rng.next() % 8 == 0, let i, !spec.keep.contains(name) {
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
        // Must be refused: a value no option takes, as the option's final value.
        for (name, kind) in kinds {
            for (j, a) in args.enumerated() {
                let v: String? = a == name && j + 1 < args.count ? args[j + 1] : a.hasPrefix(name + "=") ? String(a.dropFirst(name.count + 1)) : nil
                if let v, Pools.mustRefuse(v, kind: kind) { refuse = true }
            }
        }
        if rng.next() % 25 == 0 {
            let extra = ["--frobnicate", "-z", "extra", "--", "--help"][Int(rng.next() % 5)]
            args.append(extra)
            if extra == "--frobnicate" || extra == "-z" { refuse = true }
        }
        if args.contains("--help") || args.contains("-h") { refuse = false }
        // The training cases stay short: a stop after two steps unless the case sets --stop-after itself
        // (not with --dry-run, which refuses it, nor with --resume).
        if spec.path == ["train"] && !args.contains(where: { $0.hasPrefix("--stop-after") }) && !args.contains("--dry-run") { args += ["--stop-after", "2"] }
        // A study's runs train for minutes: recall is only planned.
        if spec.path == ["study"] && args.first == "recall" && !args.contains("--plan") && !args.contains(where: { $0.hasPrefix("--run") }) { args.append("--plan") }
        var env = ["LAB_THREADS": "1"]
        if rng.next() % 8 == 0 {
            let t = Pools.threads[Int(rng.next() % UInt64(Pools.threads.count))]
            env["LAB_THREADS"] = t
            if !["", "1", "2"].contains(t) && !args.contains("--help") { refuse = true }
        }
        var mutation: Mutation?
        if args.contains("mutckpt") || args.contains(where: { $0.hasSuffix("=mutckpt") }) {
            let f = Pools.runFields[Int(rng.next() % UInt64(Pools.runFields.count))].split(separator: ".").map(String.init)
            mutation = Mutation(file: "mutckpt/config.json", key: f, value: Pools.fileNumbers[Int(rng.next() % UInt64(Pools.fileNumbers.count))])
        } else if args.contains("muthf") || args.contains(where: { $0.hasSuffix("=muthf") }) {
            mutation = Mutation(file: "muthf/config.json", key: [Pools.hfFields[Int(rng.next() % UInt64(Pools.hfFields.count))]],
                                value: Pools.fileNumbers[Int(rng.next() % UInt64(Pools.fileNumbers.count))])
        }
        return Case(args: spec.path + args, env: env, drawn: drawn.map { spec.path.joined(separator: " ") + " " + $0 }, mustRefuse: refuse, mutation: mutation)
    }

    /// Writes a mutation into the scratch copy of its config.json.
    static func apply(_ m: Mutation, in scratch: URL) throws {
        let url = scratch.appendingPathComponent(m.file)
        var j = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        if m.key.count == 1 { j[m.key[0]] = m.value } else {
            var inner = (j[m.key[0]] as? [String: Any]) ?? [:]
            inner[m.key[1]] = m.value
            j[m.key[0]] = inner
        }
        try JSONSerialization.data(withJSONObject: j).write(to: url)
    }

    // MARK: runner

    struct Outcome { var status: Int32; var signalled: Bool; var timedOut: Bool; var stderr: String; var stdout: String }

    /// Runs `lab` with a timeout (a case that is merely slow is stopped by us; it fails only when it had to be refused).
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
        let outURL = cwd.deletingLastPathComponent().appendingPathComponent("fuzz-stdout-\(getpid())")
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        let errHandle = try FileHandle(forWritingTo: errURL), outHandle = try FileHandle(forWritingTo: outURL)
        defer {
            try? errHandle.close(); try? outHandle.close()
            try? FileManager.default.removeItem(at: errURL); try? FileManager.default.removeItem(at: outURL)
        }
        p.standardOutput = outHandle
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
        let out = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        return Outcome(status: p.terminationStatus, signalled: p.terminationReason == .uncaughtSignal && !timedOut,
                       timedOut: timedOut, stderr: err, stdout: out)
    }

    /// The value of option `name` in `args` (`--x v` or `--x=v`, last one wins).
    static func option(_ name: String, in args: [String]) -> String? {
        var v: String?
        for (j, a) in args.enumerated() {
            if a == name, j + 1 < args.count { v = args[j + 1] } else if a.hasPrefix(name + "=") { v = String(a.dropFirst(name.count + 1)) }
        }
        return v
    }

    /// The arguments a plan line delivers when run by `sh -c`, with a stand-in `lab` that records its argv.
    static func deliveredArgv(_ line: String, cwd: URL) throws -> (argv: [String], injected: Bool) {
        let bin = cwd.deletingLastPathComponent().appendingPathComponent("plan-bin")
        let record = cwd.deletingLastPathComponent().appendingPathComponent("plan-argv")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let fake = bin.appendingPathComponent("lab")
        if !FileManager.default.fileExists(atPath: fake.path) {
            try "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done > '\(record.path)'\n".write(to: fake, atomically: true, encoding: .utf8)
            chmod(fake.path, 0o755)
        }
        try? FileManager.default.removeItem(at: record)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", line]
        p.currentDirectoryURL = cwd
        p.environment = ["PATH": bin.path + ":/usr/bin:/bin"]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run(); p.waitUntilExit()
        let d = (try? Data(contentsOf: record)) ?? Data()
        let argv = d.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
        let injected = FileManager.default.fileExists(atPath: cwd.appendingPathComponent("INJECTED").path)
        return (argv, injected)
    }

    /// Problems with what an exit-0 case left: its documented output present, finite and of its shape.
    static func checkOutputs(_ args: [String], stdout: String, scratch: URL) throws -> [String] {
        var problems: [String] = []
        func url(_ p: String) -> URL { p.hasPrefix("/") ? URL(fileURLWithPath: p) : scratch.appendingPathComponent(p) }
        func tensorFile(_ p: String, _ name: String) -> Tensor? {
            guard let f = try? SafetensorsFile.read(url(p)) else { problems.append("\(p) missing or unreadable"); return nil }
            guard let t = f.tensors[name] else { problems.append("\(p) has no tensor '\(name)'"); return nil }
            if let (i, v) = Validate.firstNonFinite(t) { problems.append("\(p): '\(name)' holds \(v) at \(i)") }
            return t
        }
        func weightsFinite(_ p: String) {
            guard let f = try? SafetensorsFile.read(url(p)) else { problems.append("\(p) missing or unreadable"); return }
            for (n, t) in f.tensors where Validate.firstNonFinite(t) != nil { problems.append("\(p): \(n) not finite") }
        }
        if args.contains("--help") || args.contains("-h") || args.contains("--") { return [] }
        switch args.first ?? "" {
        case "run-layer":
            guard let o = option("--output", in: args), let i = option("--input", in: args) else { break }
            let x = (try? SafetensorsFile.read(url(i)))?.tensors.values.first
            if let y = tensorFile(o, "output"), let x, y.shape != x.shape { problems.append("output shape \(y.shape) ≠ input shape \(x.shape)") }
            if let w = option("--save-weights", in: args) { weightsFinite(w) }
        case "logits":
            guard let o = option("--output", in: args), let y = tensorFile(o, "logits") else { break }
            if let t = option("--text", in: args), let n = (try? Data(contentsOf: url(t)))?.count, y.shape != [1, n, 256] {
                problems.append("logits shape \(y.shape) ≠ [1, \(n), 256]")
            }
            if option("--input", in: args) != nil, y.shape.count != 3 || y.shape[2] != 256 { problems.append("logits shape \(y.shape)") }
        case "export", "import":
            guard let o = option("--out", in: args) else { break }
            weightsFinite(o + "/model.safetensors")
            if !FileManager.default.fileExists(atPath: url(o + "/config.json").path) { problems.append("\(o)/config.json missing") }
        case "train":
            if args.contains("--dry-run") { if !stdout.contains("parameters: ") { problems.append("--dry-run printed no parameter count") }; break }
            if stdout.contains("nothing to do") { break }
            let o = option("--resume", in: args) ?? option("--out", in: args) ?? "runs/\(option("--layer", in: args) ?? "ttt-linear")-\(option("--preset", in: args) ?? "tiny")"
            weightsFinite(o + "/model.safetensors")
        case "generate":
            if let p = option("--prompt", in: args), !stdout.hasPrefix(p) { problems.append("stdout does not start with the prompt") }
        case "study":
            let name = args.count > 1 ? args[1] : ""
            if name == "list" { break }
            let out = option("--out", in: args) ?? "results/\(name)"
            if args.contains("--plan") {
                for line in stdout.split(separator: "\n").map(String.init) {
                    let (argv, injected) = try deliveredArgv(line, cwd: scratch)
                    if injected { problems.append("plan line injected a command: \(line)") }
                    for flag in ["--data", "--out"] {
                        if let v = option(flag, in: args), option(flag, in: argv) != v { problems.append("plan line delivers \(flag) \(option(flag, in: argv) ?? "nil") instead of \(v)") }
                    }
                    if argv.first != "study" || !argv.contains("--run") { problems.append("plan line delivers \(argv)") }
                }
            } else if option("--run", in: args) == nil {
                for f in ["\(name).md", "run.json"] where !FileManager.default.fileExists(atPath: url(out + "/" + f).path) { problems.append("\(out)/\(f) missing") }
            }
        case "figures":
            let out = option("--out", in: args) ?? "results"
            if !FileManager.default.fileExists(atPath: url(out + "/REPORT.md").path) { problems.append("\(out)/REPORT.md missing") }
        default: break
        }
        return problems
    }

    /// Runs `count` cases of `seed`; returns the failures (one line each, with the argv), counts and drawn options.
    static func fuzz(seed: UInt64, count: Int, timeout: Double, log: (String) -> Void = { _ in }) throws -> (failures: [String], stats: [String: Int], drawn: Set<String>) {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let pristine = root.appendingPathComponent("pristine"), scratch = root.appendingPathComponent("scratch")
        try FileManager.default.createDirectory(at: pristine, withIntermediateDirectories: true)
        try makeFixtures(pristine)
        try FileManager.default.copyItem(at: pristine, to: scratch)
        var before = snapshot(scratch)
        var failures: [String] = [], stats: [String: Int] = [:], drawn = Set<String>()
        var rng = RNG(seed: seed)
        for k in 0..<count {
            let c = generate(k, &rng)
            let args = c.args
            drawn.formUnion(c.drawn)
            var mutated = false
            if let m = c.mutation { try apply(m, in: scratch); mutated = true; before = snapshot(scratch) }
            let shown = "seed \(seed) case \(k): LAB_THREADS=\(c.env["LAB_THREADS"]!.debugDescription) lab \(args.map { $0.debugDescription }.joined(separator: " "))"
                + (c.mutation.map { " [\($0.file): \($0.key.joined(separator: ".")) = \($0.value)]" } ?? "")
            let o = try run(args, env: c.env, cwd: scratch, timeout: timeout)
            stats["status \(o.status)", default: 0] += 1
            var problems: [String] = []
            if o.timedOut {
                stats["timed out", default: 0] += 1; log("SLOW \(shown)")
                if c.mustRefuse { problems.append("a case that must be refused ran to the \(Int(timeout)) s timeout") }
            }
            if o.signalled { problems.append("killed by signal \(o.status)") }
            else if !o.timedOut && o.status != 0 && o.status != 2 && !(o.status == 1 && ["study", "figures"].contains(args.first ?? "")) {
                problems.append("exit status \(o.status)")      // (1: a study's verdict FAIL)
            }
            if c.mustRefuse && !o.timedOut && o.status == 0 { problems.append("a case that must be refused exited 0") }
            let errors = o.stderr.split(separator: "\n").filter { $0.hasPrefix("lab: error:") }
            if o.status == 2 && !o.timedOut && errors.count != 1 { problems.append("exit 2 with \(errors.count) 'lab: error:' lines") }
            if o.stderr.contains("Fatal error") || o.stderr.contains("Stack dump") || o.stderr.contains("runtime failure") { problems.append("trap text on stderr") }
            // Files: every created, changed or removed path lies under an output of this case, and none at or under an input.
            // Defaults when --out is not given: train writes runs/<layer>-<preset>, study and figures results/.
            let defaults = args.first == "train" ? ["runs"] : ["study", "figures"].contains(args.first ?? "") ? ["results"] : []
            let outputs = zip(args, args.dropFirst()).filter { outputOptions.contains($0.0) }.map(\.1)
                + args.filter { a in outputOptions.contains(where: { a.hasPrefix($0 + "=") }) }.map { String($0.split(separator: "=", maxSplits: 1).last ?? "") }
                + defaults
            let inputs = (zip(args, args.dropFirst()).filter { inputOptions.contains($0.0) }.map(\.1)
                + args.filter { a in inputOptions.contains(where: { a.hasPrefix($0 + "=") }) }.map { String($0.split(separator: "=", maxSplits: 1).last ?? "") })
                .filter { !outputs.contains($0) || args.first == "train" && option("--resume", in: args) == nil }
                .compactMap { resolvedInput($0, scratch: scratch) }
            let after = snapshot(scratch)
            let changed = Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }
            // A case killed at the timeout may leave its atomic write's temp file beside an output (`.NAME.tmp-PID-…`):
            // the lab's rule for a killed writer is that the next write there removes it (docs/faults.md).
            let killedTemp = { (p: String) -> Bool in
                o.timedOut && outputs.contains { out in
                    let name = (out as NSString).lastPathComponent, dir = (out as NSString).deletingLastPathComponent
                    return (p as NSString).deletingLastPathComponent == dir && (p as NSString).lastPathComponent.hasPrefix(".\(name).tmp-")
                }
            }
            let stray = changed.filter { !allowed($0, outputs: outputs) && !killedTemp($0) }.sorted()
            if !stray.isEmpty { problems.append("files changed outside the outputs: \(stray.prefix(5))") }
            let clobbered = changed.filter { touchesInput($0, inputs: inputs) }.sorted()
            if !clobbered.isEmpty { problems.append("an input changed: \(clobbered.prefix(5))") }
            if o.status == 0 && !o.timedOut { problems += try checkOutputs(args, stdout: o.stdout, scratch: scratch) }
            var st = stat()
            if stat("/dev/null", &st) != 0 || (st.st_mode & S_IFMT) != S_IFCHR { problems.append("/dev/null is no longer a device") }
            // A symlink to a device is never replaced, even when it is the output.
            if lstat(scratch.appendingPathComponent("devlink").path, &st) != 0 || (st.st_mode & S_IFMT) != S_IFLNK { problems.append("devlink was replaced") }
            if !problems.isEmpty {
                let line = "\(shown) → \(problems.joined(separator: "; ")); stderr: \(o.stderr.prefix(300))"
                failures.append(line); log("FAIL " + line)
            }
            if !changed.isEmpty || mutated || FileManager.default.fileExists(atPath: scratch.appendingPathComponent("INJECTED").path) {
                try FileManager.default.removeItem(at: scratch)        // restore the inputs for the next case
                try FileManager.default.copyItem(at: pristine, to: scratch)
                before = snapshot(scratch)
            }
        }
        return (failures, stats, drawn)
    }

    /// Every option each leaf subcommand's --help declares ("train --lr", …), except --help/--version.
    static func declaredOptions() throws -> Set<String> {
        var all = Set<String>()
        for spec in commands {
            let help = try lab(spec.path + ["--help"])
            let separators: Set<Character> = [" ", ",", "\n", "[", "]", "<", ">", "(", ")", "'"]
            for w in help.stdout.split(whereSeparator: { separators.contains($0) }).map(String.init) where w.hasPrefix("--") && w.count > 2 {
                let o = String(w.split(separator: "=")[0]).trimmingCharacters(in: CharacterSet(charactersIn: ".;:"))
                if !["--help", "--version", "--generate-completion-script"].contains(o) { all.insert(spec.path.joined(separator: " ") + " " + o) }
            }
        }
        return all
    }

    // MARK: tests

    /// The property, a hundred-odd seeded cases (LAB_FUZZ_CASES / LAB_FUZZ_SEED to change them); every
    /// declared option is drawn.
    func testRandomArgumentVectorsNeverTrapOrClobber() throws {
        let env = ProcessInfo.processInfo.environment
        let count = env["LAB_FUZZ_CASES"].flatMap { Int($0) } ?? max(110, CLIPropertyTests.allOptions.count)
        let seed = env["LAB_FUZZ_SEED"].flatMap { UInt64($0) } ?? 1
        let (failures, stats, drawn) = try CLIPropertyTests.fuzz(seed: seed, count: count, timeout: 15) { print($0) }
        print("cli fuzz: seed \(seed), \(count) cases: \(stats.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")); \(failures.count) failure(s)")
        XCTAssertTrue(failures.isEmpty, failures.prefix(10).joined(separator: "\n"))
        XCTAssertGreaterThan(stats["status 0", default: 0], 0, "no case succeeded: the generator only produces errors")
        XCTAssertGreaterThan(stats["status 2", default: 0], 0, "no case failed: the generator produces no hostile values")
        if count >= CLIPropertyTests.allOptions.count {
            let declared = try CLIPropertyTests.declaredOptions()
            let drawnLong = Set(drawn.filter { $0.split(separator: " ").last!.hasPrefix("--") })
            XCTAssertEqual(drawnLong.subtracting(declared).sorted(), [], "drawn options the CLI does not declare")
            XCTAssertEqual(declared.subtracting(drawnLong).sorted(), [], "declared options never drawn")
        }
    }

    /// Negative control: each predicate of the property can fail — a stray file changes the snapshot, a
    /// path outside the outputs is not allowed, a change under an input (through a symlink) is caught, a
    /// child killed by a signal is reported as a trap, a case we stop on timeout is not (but is when it had
    /// to be refused), a missing or non-finite output is reported, and an unquoted plan line is caught.
    func testCheckerCanFail() throws {
        XCTAssertFalse(CLIPropertyTests.allowed("x.safetensors", outputs: ["y.safetensors"]))
        XCTAssertFalse(CLIPropertyTests.allowed("runs2/a", outputs: ["runs"]))
        XCTAssertTrue(CLIPropertyTests.allowed("run1/model.safetensors", outputs: ["./run1"]))
        XCTAssertTrue(CLIPropertyTests.allowed("new", outputs: ["new/deep/y.safetensors"]))
        XCTAssertFalse(CLIPropertyTests.allowed("new/other", outputs: ["new/deep/y.safetensors"]))
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("ck"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("ln").path, withDestinationPath: "ck")
        let resolved = try XCTUnwrap(CLIPropertyTests.resolvedInput("ln", scratch: dir))
        XCTAssertTrue(CLIPropertyTests.touchesInput("ck/config.json", inputs: [resolved]), "a change through a symlinked input is caught")
        XCTAssertFalse(CLIPropertyTests.touchesInput("ck2/config.json", inputs: [resolved]))
        let a = CLIPropertyTests.snapshot(dir)
        try Data([1]).write(to: dir.appendingPathComponent("stray"))
        XCTAssertNotEqual(a, CLIPropertyTests.snapshot(dir))
        let o = try CLIPropertyTests.run(["bench", "gemm", "--seconds", "3000"], env: [:], cwd: dir, timeout: 0.5)
        XCTAssertTrue(o.timedOut && !o.signalled, "a case we stop on timeout is not a trap")
        let trap = try CLIPropertyTests.run(["-c", "kill -ABRT $$"], env: [:], cwd: dir, timeout: 10, executable: URL(fileURLWithPath: "/bin/sh"))
        XCTAssertTrue(trap.signalled && !trap.timedOut, "a child killed by SIGABRT must count as a trap")
        // Output checks: a missing output, a non-finite one, and a plan line that splits an argument.
        XCTAssertFalse(try CLIPropertyTests.checkOutputs(["run-layer", "--input", "x", "--output", "none.safetensors"], stdout: "", scratch: dir).isEmpty)
        try SafetensorsFile(tensors: ["logits": Tensor([.nan, 0], shape: [1, 1, 2])]).write(to: dir.appendingPathComponent("l.safetensors"))
        XCTAssertFalse(try CLIPropertyTests.checkOutputs(["logits", "--output", "l.safetensors"], stdout: "", scratch: dir).isEmpty)
        let plan = try CLIPropertyTests.checkOutputs(["study", "recall", "--plan", "--data", "my data"], stdout: "lab study recall --data my data --run k\n", scratch: dir)
        XCTAssertFalse(plan.isEmpty, "an unquoted plan line is caught")
        // The effect judgement fails an accepted option that changed nothing (the --backbone regression:
        // byte-identical output), and passes a one-line refusal or a changed output.
        let same = LabRun(status: 0, stdout: "ttt-linear: [1, 5, 16] → [1, 5, 16]", stderr: "")
        XCTAssertNotNil(CLIPropertyTests.judgeEffect(base: same, baseFiles: [Data([1])], run: same, files: [Data([1])]))
        XCTAssertNil(CLIPropertyTests.judgeEffect(base: same, baseFiles: [Data([1])], run: same, files: [Data([2])]))
        XCTAssertNil(CLIPropertyTests.judgeEffect(base: same, baseFiles: [], run: LabRun(status: 2, stdout: "", stderr: "lab: error: x\n"), files: []))
        XCTAssertNotNil(CLIPropertyTests.judgeEffect(base: same, baseFiles: [], run: LabRun(status: 2, stdout: "", stderr: "a\nb\n"), files: []))
        // A hostile value is marked must-refuse; a valid one is not.
        XCTAssertTrue(Pools.mustRefuse("abc", kind: .int))
        XCTAssertFalse(Pools.mustRefuse("16", kind: .int))
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
        let declared = try CLIPropertyTests.declaredOptions()
        let table = Set(CLIPropertyTests.commands.flatMap { spec in spec.options.map { spec.path.joined(separator: " ") + " " + $0.0 }.filter { $0.split(separator: " ").last!.hasPrefix("--") } })
        XCTAssertEqual(declared.subtracting(table).sorted(), [String](), "options missing from the fuzz table")
    }

    // MARK: every option takes effect or is refused

    /// A value other than the default for each option (what "given" means for the effect test).
    static let alternatives: [String: [String]] = [
        "--layer": ["attention", "mamba"], "--width": ["32"], "--heads": ["1"], "--mini-batch": ["2"], "--backbone": ["mamba"],
        "--linear-variant": ["elu"], "--weights": ["w.safetensors"], "--save-weights": ["sw.safetensors"], "--input": ["x2.safetensors"],
        "--output": ["y2.safetensors"], "--seed": ["7"], "--primal": [], "--preset": ["tiny"], "--context": ["64"], "--vocab": ["32000"],
        "--steps": ["3"], "--batch": ["3"], "--lr": ["0.01"], "--eval-every": ["3"], "--eval-windows": ["3"], "--checkpoint-every": ["3"],
        "--data": ["data"], "--out": ["o"], "--resume": ["ckpt"], "--stop-after": ["1"], "--log-every": ["3"], "--force": [], "--no-chart": [],
        "--kernels": ["reference"], "--dry-run": [], "--all": [], "--length": ["7"], "--window": ["4"], "--recompute": ["always"],
    ]

    /// Why a run with an option given fails the property against the base run without it, or nil: refused
    /// with one `lab: error:` line, or exit 0 with a different printout or different files.
    static func judgeEffect(base b: LabRun, baseFiles: [Data?], run r: LabRun, files: [Data?]) -> String? {
        if r.status == 2 {
            let lines = r.stderr.split(separator: "\n")
            return lines.count == 1 && lines[0].hasPrefix("lab: error:") ? nil : "refused without one line: \(r.stderr)"
        }
        guard r.status == 0, b.status == 0 else { return "status \(r.status) (base \(b.status)): \(r.stderr.prefix(200)) \(b.stderr.prefix(200))" }
        return r.stdout == b.stdout && files == baseFiles ? "accepted but changed nothing (output, weights and printout identical)" : nil
    }

    /// Generated over subcommand × option × layer kind: for run-layer, train --dry-run, layers and plugin
    /// check, every option the subcommand's --help declares, given a non-default value, either changes what
    /// runs (the output bytes, the weights written, or what is printed) or is refused with one line. Layer
    /// kinds: one layer per distinct answer to "which settings does it read" (each baseline; TTT by backbone
    /// and by whether its inner model has a dual form), found from the registry, not listed.
    /// (The regression this catches: --backbone mamba silently ran the Transformer backbone, --primal was
    /// ignored on layers without a dual form.)
    func testEveryOptionTakesEffectOrIsRefused() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, t, d, shift) in [("x.safetensors", 6, 16, 0), ("x2.safetensors", 6, 16, 1), ("x32.safetensors", 6, 32, 0)] {
            var data = inputTensorFile(t: t, d: d)
            if shift > 0 { data[data.count - 1] ^= 0x01 }
            try data.write(to: dir.appendingPathComponent(name))
        }
        let layers = try lab(["layers"]).stdout
        let names = LayerRegistryNames.from(layersOutput: layers)
        XCTAssertGreaterThanOrEqual(names.count, 13, "the layer kinds could not be read from 'lab layers'")
        // One layer per kind: kinds differ in which settings they read (baseline type, TTT backbone, whether
        // the inner model has a dual form); layers of one kind answer every option alike.
        var kinds: [String] = [], seen = Set<String>()
        for n in names {
            let spec = try LayerSpec(n)
            let key = spec.inner == nil ? n : "ttt \(spec.isTTTMamba) \(spec.hasDualForm)"
            if seen.insert(key).inserted { kinds.append(n) }
        }
        let declared = try CLIPropertyTests.declaredOptions()
        func options(_ path: String) -> [String] { declared.filter { $0.hasPrefix(path + " --") }.map { String($0.dropFirst(path.count + 1)) }.sorted() }
        // Independent jobs (one per layer kind, the layers table, each plugin), each in its own copy of the
        // inputs, run two at a time: every job spawns one `lab` after another.
        var jobs: [(EffectChecker) throws -> Void] = []
        for layer in kinds {
            jobs.append { c in
                // run-layer × this layer kind × every option. Weights for --weights: saved from seed 3.
                let shape = layer == "mamba" ? ["--width", "16"] : ["--width", "16", "--heads", "2"]
                _ = try lab(["run-layer", "--layer", layer] + shape + ["--seed", "3", "--input", "x.safetensors", "--output", "tmp.safetensors", "--save-weights", "w-\(layer).safetensors"], cwd: c.dir)
                let base = ["run-layer", "--layer", layer] + shape + ["--input", "x.safetensors", "--output", "y.safetensors"]
                for o in options("run-layer") {
                    try c.check("run-layer", base: base, option: o, files: ["y.safetensors", "y2.safetensors", "sw.safetensors"], layer: layer)
                }
                // train --dry-run × this layer kind × every option.
                let dry = ["train", "--dry-run", "--layer", layer, "--preset", "micro"]
                for o in options("train") where o != "--dry-run" { try c.check("train", base: dry, option: o, files: [], layer: layer) }
            }
        }
        jobs.append { c in for o in options("layers") { try c.check("layers", base: ["layers"], option: o, files: [], layer: "(all)") } }
        for plugin in ["linear", "nadaraya-watson"] {
            jobs.append { c in
                for o in options("plugin check") {
                    try c.check("plugin check", base: ["plugin", "check", plugin, "--width", "8", "--heads", "2", "--length", "6"], option: o, files: [], layer: plugin)
                }
            }
        }
        final class Tally: @unchecked Sendable {
            let lock = NSLock(); var failures: [String] = []; var checked = 0
            func add(_ f: [String], _ n: Int) { lock.lock(); failures += f; checked += n; lock.unlock() }
        }
        let tally = Tally()
        let queue = DispatchQueue(label: "effect", attributes: .concurrent), group = DispatchGroup(), slots = DispatchSemaphore(value: 2)
        for (k, job) in jobs.enumerated() {
            slots.wait()
            queue.async(group: group) {
                defer { slots.signal() }
                let sub = dir.appendingPathComponent("job\(k)")
                var found: [String] = [], n = 0
                do {
                    try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
                    for f in ["x.safetensors", "x2.safetensors", "x32.safetensors"] {
                        try FileManager.default.copyItem(at: dir.appendingPathComponent(f), to: sub.appendingPathComponent(f))
                    }
                    let c = EffectChecker(dir: sub)
                    try job(c)
                    found = c.failures; n = c.checked
                } catch { found = ["job \(k): \(error)"] }
                tally.add(found, n)
            }
        }
        group.wait()
        let failures = tally.failures, checked = tally.checked
        print("option effect: \(checked) (option, layer kind) pairs checked, \(failures.count) failure(s)")
        XCTAssertTrue(failures.isEmpty, failures.prefix(15).joined(separator: "\n"))
    }
}

/// One job of the option-effect test: its directory, the base runs it made, what it found.
final class EffectChecker {
    let dir: URL
    var baseRuns: [String: (LabRun, [Data?])] = [:]
    var failures: [String] = []
    var checked = 0
    init(dir: URL) { self.dir = dir }

    /// Runs `base` (once per base) and `base` with option `o` set to its alternative value, and records
    /// what `CLIPropertyTests.judgeEffect` finds; `files` are the outputs compared.
    func check(_ path: String, base: [String], option o: String, files: [String], layer: String) throws {
        guard let alts = CLIPropertyTests.alternatives[o] else { failures.append("\(path) \(o): no alternative value in the table — add one"); return }
        var given = alts.isEmpty ? [o] : [o, alts.first { !base.contains($0) } ?? alts[0]]
        var args = base
        if let i = args.firstIndex(of: o) { args.removeSubrange(i...(alts.isEmpty ? i : i + 1)) }
        if o == "--width" { args = args.map { $0 == "x.safetensors" ? "x32.safetensors" : $0 } }
        if o == "--weights" { given = [o, "w-\(layer).safetensors"] }
        let key = base.joined(separator: "\u{0}")
        if baseRuns[key] == nil {
            for f in files { try? FileManager.default.removeItem(at: dir.appendingPathComponent(f)) }
            let b = try lab(base, cwd: dir, env: ["LAB_THREADS": "1"])
            baseRuns[key] = (b, files.map { try? Data(contentsOf: dir.appendingPathComponent($0)) })
        }
        let (b, baseFiles) = baseRuns[key]!
        for f in files { try? FileManager.default.removeItem(at: dir.appendingPathComponent(f)) }
        let r = try lab(args + given, cwd: dir, env: ["LAB_THREADS": "1"])
        let newFiles = files.map { try? Data(contentsOf: dir.appendingPathComponent($0)) }
        checked += 1
        if let problem = CLIPropertyTests.judgeEffect(base: b, baseFiles: baseFiles, run: r, files: newFiles) {
            failures.append("\(layer) \(path) \(given): \(problem)")
        }
    }
}

/// The layer names `lab layers` prints (first column of its table, names that start a row).
enum LayerRegistryNames {
    static func from(layersOutput: String) -> [String] {
        var names: [String] = []
        for line in layersOutput.split(separator: "\n") {
            guard let first = line.split(separator: " ").first.map(String.init) else { continue }
            if first == "attention" || first == "linear-attention" || first == "mamba" || first.hasPrefix("ttt-") { if !names.contains(first) { names.append(first) } }
        }
        return names
    }
}
