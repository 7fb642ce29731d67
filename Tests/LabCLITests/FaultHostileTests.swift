// FaultHostileTests.swift — hostile input, round two (docs/faults.md, "Hostile input"): numbers that would
// overflow or size absurd buffers, non-finite tensors in and out, files that are also inputs, foreign
// run directories, locked runs, non-UTF-8 paths, errno-named causes, SIGTERM, resume's corpus,
// LAB_THREADS, and the plugin tooling. Each refusal: one line, exit 2, nothing written; each has a
// negative control (the valid neighbour succeeds) so the check can fail.
import Foundation
import XCTest
@testable import Models
import TensorCore

/// A [1, T, D] "input" tensor file with the given values.
func tensorFile(_ values: [Float], t: Int, d: Int, name: String = "input") -> Data {
    var bytes: [UInt8] = []
    for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
    return handBuiltSafetensors(#"{"\#(name)":{"dtype":"F32","shape":[1,\#(t),\#(d)],"data_offsets":[0,\#(4 * t * d)]}}"#, data: bytes)
}

final class FaultHostileTests: XCTestCase {
    let env = ["LAB_THREADS": "1"]
    let rl = ["run-layer", "--layer", "ttt-linear", "--width", "16", "--heads", "2", "-b", "4"]

    /// Class 1: numbers that reach arithmetic or allocation are refused first (never a trap).
    func testNumbersAreCheckedBeforeAllocation() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try inputTensorFile(t: 5, d: 16).write(to: dir.appendingPathComponent("x.safetensors"))
        let rows: [([String], [String])] = [
            (["layers", "--context", "9000000000000000000"], ["--context 9000000000000000000 must be ≤"]),
            (["layers", "--context", "9999999999999999999"], ["is invalid"]),
            (["layers", "-b", "100000"], ["mini-batch size b = 100000", "GiB of memory", "choose b ≤ the sequence length"]),
            (["plugin", "check", "linear", "--length", "100000000000"], ["--length 100000000000 must be ≤ 4096"]),
            (["plugin", "check", "linear", "--width", "65536", "--heads", "2"], ["--width 65536 must be ≤ 1024"]),
            (["plugin", "check", "linear", "-b", "100000"], ["mini-batch size b = 100000", "GiB of memory"]),
            (["plugin", "check", "linear", "--length", "1"], ["--length 1 must be ≥ 2"]),
            (["run-layer", "--layer", "ttt-linear", "--width", "16", "--heads", "2", "-b", "100000", "--input", "x.safetensors",
              "--output", "y.safetensors"], ["mini-batch size b = 100000"]),
            (["bench", "gemm", "--seconds", "nan"], ["--seconds nan must be a number of seconds > 0"]),
            (["bench", "gemm", "--seconds", "inf"], ["--seconds inf"]),
            (["bench", "gemm", "--seconds", "0"], ["--seconds 0.0"]),
            (["bench", "gemm", "--seconds=-1"], ["--seconds -1.0"]),
            (["bench", "layers", "--seconds", "nan"], ["--seconds nan"]),
            (["bench", "layers", "--attention-tiles", "0x0"], ["--attention-tiles '0x0' must be QxK"]),
            (["bench", "layers", "--attention-tiles", "64x99999999"], ["from 1 to 4096"]),
            (["bench", "layers", "--context", "1073741824", "--layers", "mamba"], ["GiB of memory", "smaller --context"]),
            (["bench", "layers", "--layers", "mamab"], ["Did you mean 'mamba'"]),
            (["bench", "decode", "--tokens", "0"], ["--tokens 0 must be ≥ 1"]),
            (["bench", "decode", "--long", "0"], ["--long 0 must be ≥ 1"]),
            (["bench", "decode", "--long", "1000000000", "--layers", "mamba"], ["GiB of memory"]),
            (["bench", "train", "--memory-context", "1000000000"], ["GiB of memory", "--memory-context"]),
            (["bench", "train", "--memory-context", "0"], ["--memory-context 0 must be ≥ 1"]),
            (["bench", "train", "--models", "recal"], ["bench model", "recal"]),
            (["bench", "train", "--recall-length", "100"], ["--recall-length 100 is not a recall study setting"]),
            (["bench", "train", "--models", "recall", "--model-layers", "mamba@ttt-linear"], ["the recall model cannot take mamba@ttt-linear"]),
            (["train", "--recompute", "sometimes"], ["--recompute 'sometimes' is not a recompute mode"]),
            (["generate", "--checkpoint", "none", "--prompt", "x", "--tokens", "9000000000"], ["--tokens 9000000000 must be ≤ 1000000"]),
            (["generate", "--checkpoint", "none", "--prompt", "x", "--top-k", "300"], ["--top-k 300 must be ≤ 256"]),
        ]
        for (args, needles) in rows {
            assertOneLineFault(try lab(args, cwd: dir, env: env), needles, args.joined(separator: " "))
        }
        XCTAssertEqual(filesUnder(dir), ["x.safetensors"])
        // Negative controls: the valid neighbours run (so the checks above can tell the difference).
        for args in [["layers", "--context", "4096", "--width", "64", "--heads", "4"],
                     ["plugin", "check", "linear", "-b", "20", "--length", "10"],
                     ["bench", "decode", "--short", "4", "--long", "8", "--tokens", "1", "--width", "16", "--heads", "2", "--layers", "mamba"]] {
            let r = try lab(args, cwd: dir, env: env)
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
        }
    }

    /// Class 2: NaN/Inf in an input, a weight file, a checkpoint's weights or optimizer state is refused
    /// at load with the tensor's name; an output that overflows is not written.
    func testNonFiniteInputsAndOutputs() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var values = (0..<80).map { Float($0 % 7) * 0.1 }
        try tensorFile(values, t: 5, d: 16).write(to: dir.appendingPathComponent("x.safetensors"))
        values[37] = .nan
        try tensorFile(values, t: 5, d: 16).write(to: dir.appendingPathComponent("nan.safetensors"))
        // Weights with an Inf: save real weights, then poison the last float of the data.
        let save = try lab(rl + ["--input", "x.safetensors", "--output", "y.safetensors", "--save-weights", "w.safetensors"], cwd: dir, env: env)
        XCTAssertEqual(save.status, 0, save.stderr)
        var w = try Data(contentsOf: dir.appendingPathComponent("w.safetensors"))
        w.replaceSubrange(w.count - 4..<w.count, with: withUnsafeBytes(of: Float.infinity.bitPattern.littleEndian) { Data($0) })
        try w.write(to: dir.appendingPathComponent("winf.safetensors"))
        try FileManager.default.removeItem(at: dir.appendingPathComponent("y.safetensors"))

        assertOneLineFault(try lab(rl + ["--input", "nan.safetensors", "--output", "y.safetensors"], cwd: dir, env: env),
                           ["nan.safetensors", "tensor 'input' holds nan at [0, 2, 5]"], "NaN input")
        assertOneLineFault(try lab(rl + ["--weights", "winf.safetensors", "--input", "x.safetensors", "--output", "y.safetensors"], cwd: dir, env: env),
                           ["winf.safetensors", "holds inf", "non-finite"], "Inf weights")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("y.safetensors").path))
        // Output overflow: linear attention on values near Float.max overflows q·k; refused, nothing written.
        try tensorFile((0..<80).map { _ in 3e37 }, t: 5, d: 16).write(to: dir.appendingPathComponent("huge.safetensors"))
        let la = ["run-layer", "--layer", "linear-attention", "--width", "16", "--heads", "2"]
        let over = try lab(la + ["--input", "huge.safetensors", "--output", "y.safetensors", "--save-weights", "wl.safetensors"], cwd: dir, env: env)
        assertOneLineFault(over, ["y.safetensors: not written", "output tensor 'output' went non-finite"], "overflowing output")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("y.safetensors").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("wl.safetensors").path))
        // Negative control: the same layer on ordinary values writes its output.
        let ok = try lab(la + ["--input", "x.safetensors", "--output", "y.safetensors"], cwd: dir, env: env)
        XCTAssertEqual(ok.status, 0, ok.stderr)

        // A checkpoint with an Inf weight: generate and resume refuse it; a NaN optimizer moment: resume refuses.
        try writeSyntheticCorpus(to: dir.appendingPathComponent("data"))
        let tr = try lab(["train", "--preset", "micro", "--steps", "4", "--stop-after", "2", "--batch", "2", "--context", "32",
                          "--eval-windows", "2", "--no-chart", "--out", "run"], cwd: dir, env: env)
        XCTAssertEqual(tr.status, 0, tr.stderr)
        let run = dir.appendingPathComponent("run")
        let goodModel = try Data(contentsOf: run.appendingPathComponent("model.safetensors"))
        var bad = goodModel
        bad.replaceSubrange(bad.count - 4..<bad.count, with: withUnsafeBytes(of: Float.infinity.bitPattern.littleEndian) { Data($0) })
        try bad.write(to: run.appendingPathComponent("model.safetensors"))
        assertOneLineFault(try lab(["generate", "--checkpoint", "run", "--prompt", "the", "--tokens", "4"], cwd: dir, env: env),
                           ["model.safetensors", "holds inf"], "generate with Inf weights")
        try goodModel.write(to: run.appendingPathComponent("model.safetensors"))
        let gen = try lab(["generate", "--checkpoint", "run", "--prompt", "the", "--tokens", "4"], cwd: dir, env: env)
        XCTAssertEqual(gen.status, 0, gen.stderr)   // negative control
        // The optimizer state is checksummed by train_state.json: poison it and fix the checksum, as a
        // diverged-but-saved state would be.
        let optURL = run.appendingPathComponent("optimizer.safetensors")
        var opt = try Data(contentsOf: optURL)
        opt.replaceSubrange(opt.count - 4..<opt.count, with: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Data($0) })
        try opt.write(to: optURL)
        let stateURL = run.appendingPathComponent("train_state.json")
        var state = try JSONSerialization.jsonObject(with: Data(contentsOf: stateURL)) as! [String: Any]
        state["optimizerSHA256"] = SHA256.hex([UInt8](opt))
        try JSONSerialization.data(withJSONObject: state).write(to: stateURL)
        assertOneLineFault(try lab(["train", "--resume", "run", "--no-chart"], cwd: dir, env: env),
                           ["optimizer.safetensors", "holds nan", "start a new run"], "resume with NaN moments")
    }

    /// Class 3: an output that is also an input (any spelling) is refused; the input is untouched.
    func testOutputsNeverClobberInputs() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try inputTensorFile(t: 5, d: 16).write(to: dir.appendingPathComponent("x.safetensors"))
        let x = try Data(contentsOf: dir.appendingPathComponent("x.safetensors"))
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("link").path, withDestinationPath: "x.safetensors")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: true)
        let save = try lab(rl + ["--input", "x.safetensors", "--output", "y.safetensors", "--save-weights", "w.safetensors"], cwd: dir, env: env)
        XCTAssertEqual(save.status, 0, save.stderr)
        let w = try Data(contentsOf: dir.appendingPathComponent("w.safetensors"))
        let rows: [([String], [String])] = [
            (["--input", "x.safetensors", "--output", "x.safetensors"], ["same file as --input x.safetensors", "choose another --output"]),
            (["--input", "x.safetensors", "--output", "./x.safetensors"], ["same file as --input"]),
            (["--input", "x.safetensors", "--output", "sub/../x.safetensors"], ["same file as --input"]),
            (["--input", "link", "--output", "x.safetensors"], ["same file as --input link"]),
            (["--input", "x.safetensors", "--output", dir.appendingPathComponent("x.safetensors").path], ["same file as --input"]),
            (["--input", "x.safetensors", "--output", "y.safetensors", "--save-weights", "./x.safetensors"], ["--save-weights would destroy", "same file as --input"]),
            (["--weights", "w.safetensors", "--input", "x.safetensors", "--output", "w.safetensors"], ["same file as --weights"]),
            (["--input", "x.safetensors", "--output", "o.safetensors", "--save-weights", "./o.safetensors"], ["name the same file"]),
        ]
        for (extra, needles) in rows {
            assertOneLineFault(try lab(rl + extra, cwd: dir, env: env), needles, extra.joined(separator: " "))
        }
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("x.safetensors")), x)
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("w.safetensors")), w)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("o.safetensors").path))
        // Negative control: distinct paths write.
        XCTAssertEqual(try lab(rl + ["--input", "link", "--output", "z.safetensors"], cwd: dir, env: env).status, 0)
        // A symlink output is written through (the link stays); a link to a device is refused and left a link
        // (it used to be replaced by a regular file: as root, `--output /dev/stdout` replaced /dev/stdout).
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("zlink").path, withDestinationPath: "z.safetensors")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("devlink").path, withDestinationPath: "/dev/null")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("fdlink").path, withDestinationPath: "/proc/self/fd/1")
        let through = try lab(rl + ["--input", "x.safetensors", "--output", "zlink", "--seed", "3"], cwd: dir, env: env)
        XCTAssertEqual(through.status, 0, through.stderr)
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: dir.appendingPathComponent("zlink").path), "z.safetensors")
        for link in ["devlink", "fdlink"] {
            assertOneLineFault(try lab(rl + ["--input", "x.safetensors", "--output", link], cwd: dir, env: env), ["symlink to a device or special file"], link)
            XCTAssertNotNil(try? fm.destinationOfSymbolicLink(atPath: dir.appendingPathComponent(link).path), "\(link) was replaced")
        }
    }

    /// Class 3: a run directory of the user's own files needs --force; a locked run refuses a second process.
    func testRunDirectoriesForeignFilesAndLock() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try writeSyntheticCorpus(to: dir.appendingPathComponent("data"))
        let mine = dir.appendingPathComponent("mine")
        try FileManager.default.createDirectory(at: mine, withIntermediateDirectories: true)
        try Data("my own weights".utf8).write(to: mine.appendingPathComponent("model.safetensors"))
        try Data("step,loss\n".utf8).write(to: mine.appendingPathComponent("loss.csv"))
        let tr = ["train", "--preset", "micro", "--steps", "2", "--batch", "2", "--context", "32", "--eval-windows", "2", "--no-chart"]
        assertOneLineFault(try lab(tr + ["--out", "mine"], cwd: dir, env: env), ["holds files 'lab train' did not write", "loss.csv, model.safetensors", "--force"], "foreign dir")
        XCTAssertEqual(try Data(contentsOf: mine.appendingPathComponent("model.safetensors")), Data("my own weights".utf8))
        assertOneLineFault(try lab(tr + ["--out", "data"], cwd: dir, env: env), ["same directory as --data"], "corpus as --out")
        // Negative control: --force writes the run there; an empty directory needs no --force.
        XCTAssertEqual(try lab(tr + ["--out", "mine", "--force"], cwd: dir, env: env).status, 0)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("empty"), withIntermediateDirectories: true)
        let fresh = try lab(tr + ["--out", "empty"], cwd: dir, env: env)
        XCTAssertEqual(fresh.status, 0, fresh.stderr)
        // The lock: this test process holds it, as a running trainer would; --resume and --force refuse, naming the pid.
        let lock = try DirectoryLock(dir.appendingPathComponent("empty"), purpose: "trains")
        let second = try lab(["train", "--resume", "empty", "--no-chart"], cwd: dir, env: env)
        assertOneLineFault(second, ["another lab process (pid \(getpid())) trains in this directory"], "locked resume")
        let force = try lab(tr + ["--out", "empty", "--force"], cwd: dir, env: env)
        assertOneLineFault(force, ["pid \(getpid())"], "locked --force")
        lock.release()
        let after = try lab(["train", "--resume", "empty", "--no-chart"], cwd: dir, env: env)
        XCTAssertEqual(after.status, 0, after.stderr)   // negative control: released, it runs
    }

    /// Class 3: a non-UTF-8 path is refused (never written under another name); errno causes are named.
    func testPathsNonUTF8AndErrnoCauses() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try inputTensorFile(t: 5, d: 16).write(to: dir.appendingPathComponent("x.safetensors"))
        let exe = try labExecutable().path
        let sh = Process()
        sh.executableURL = URL(fileURLWithPath: "/bin/sh")
        sh.arguments = ["-c", "LAB_THREADS=1 '\(exe)' \(rl.joined(separator: " ")) --input x.safetensors --output \"$(printf 'y\\377.safetensors')\" 2>err.txt; echo $? > rc.txt"]
        sh.currentDirectoryURL = dir
        try sh.run(); sh.waitUntilExit()
        XCTAssertEqual(try String(contentsOf: dir.appendingPathComponent("rc.txt"), encoding: .utf8), "2\n")
        let err = try String(contentsOf: dir.appendingPathComponent("err.txt"), encoding: .utf8)
        XCTAssertTrue(err.contains("is not valid UTF-8"), err)
        XCTAssertEqual(filesUnder(dir), ["err.txt", "rc.txt", "x.safetensors"])
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("loop").path, withDestinationPath: "loop")
        let long = String(repeating: "n", count: 300)
        let rows: [([String], [String])] = [
            (["--input", "loop", "--output", "y.safetensors"], ["symbolic links"]),
            (["--input", long, "--output", "y.safetensors"], ["too long"]),
            (["--input", "/dev/zero", "--output", "y.safetensors"], ["device or special file"]),
            (["--input", "x.safetensors", "--output", "loop/y.safetensors"], ["symlink loop"]),
            (["--input", "x.safetensors", "--output", long + "/y.safetensors"], ["too long"]),
        ]
        for (extra, needles) in rows {
            let r = try lab(rl + extra, cwd: dir, env: env)
            assertOneLineFault(r, needles, extra.joined(separator: " "))
            XCTAssertFalse(r.stderr.contains("no such file") || r.stderr.contains("permission"), r.stderr)
        }
        // Directories read through a loop, and a device as a parent directory.
        let dirRows: [([String], [String])] = [
            (["generate", "--checkpoint", "loop", "--prompt", "a"], ["config.json", "symbolic links"]),
            (["data", "info", "--data", "loop"], ["manifest.json", "symbolic links"]),
            (["train", "--resume", "loop"], ["symbolic links"]),
            (rl + ["--input", "x.safetensors", "--output", "/dev/full/y.safetensors"], ["/dev/full is a device or special file, not a directory"]),
        ]
        for (args, needles) in dirRows {
            let r = try lab(args, cwd: dir, env: env)
            assertOneLineFault(r, needles, args.joined(separator: " "))
            XCTAssertFalse(r.stderr.contains("missing") || r.stderr.contains("permission"), r.stderr)
        }
        XCTAssertEqual(filesUnder(dir), ["err.txt", "rc.txt", "x.safetensors"])   // (the loop symlink is not a file)
    }

    /// Class 4: LAB_THREADS that is not a thread count is an error; a resume reads the corpus it started with.
    func testThreadsAndResumeCorpus() throws {
        for bad in ["0", "-1", "abc", "1.5", "99999"] {
            assertOneLineFault(try lab(["layers", "--width", "16", "--heads", "2"], env: ["LAB_THREADS": bad]), ["LAB_THREADS='\(bad)' is not a thread count"], bad)
        }
        XCTAssertEqual(try lab(["version"], env: ["LAB_THREADS": "2"]).status, 0)   // negative control
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try writeSyntheticCorpus(to: dir.appendingPathComponent("corp"))
        let tr = try lab(["train", "--preset", "micro", "--steps", "4", "--stop-after", "2", "--batch", "2", "--context", "32",
                          "--eval-windows", "2", "--no-chart", "--data", "corp", "--out", "run"], cwd: dir, env: env)
        XCTAssertEqual(tr.status, 0, tr.stderr)
        let resumed = try lab(["train", "--resume", "run", "--no-chart"], cwd: dir, env: env)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("at step 2/4"), resumed.stdout)
        // Negative control: an explicit --data that is not the corpus is still refused.
        assertOneLineFault(try lab(["train", "--resume", "run", "--no-chart", "--data", "nowhere"], cwd: dir, env: env), ["manifest.json missing"], "resume --data nowhere")
    }

    /// Class 5: plugin tooling refuses names that break the build, built-ins and oversize shapes; checks
    /// b > T correctly; accepts the folder name.
    func testPluginTooling() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pkg = "// swift-tools-version:6.0\nlet innerModelPlugins: [String] = [\"DeltaNet\", \"Momentum\", \"TTTLinear\"]\n"
        try pkg.write(to: dir.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
        try writeInnerModelList(dir, modules: ["DeltaNet", "Momentum", "TTTLinear"])
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("Sources/Layers"), withIntermediateDirectories: true)
        try "public struct LayerConfig {}\npublic final class Param {}\n".write(to: dir.appendingPathComponent("Sources/Layers/X.swift"), atomically: true, encoding: .utf8)
        for (name, msg) in [("Self", "Swift keyword or standard type"), ("Any", "Swift keyword"), ("Type", "Swift keyword"), ("Protocol", "Swift keyword"),
                            ("Int", "standard type"), ("XCTExtra", "Swift keyword"), ("LayerConfig", "the lab's own type 'LayerConfig'"),
                            ("Param", "own type 'Param'"), ("Zoo", "a target the package already has"),
                            (String(repeating: "A", count: 49), "use at most 48")] {
            let r = try lab(["plugin", "new", name, "--root", dir.path])
            assertOneLineFault(r, [msg], name)
        }
        for name in ["DeltaNet", "TTTLinear"] {
            assertOneLineFault(try lab(["plugin", "remove", name, "--root", dir.path]), ["built-in plugin", "cannot be removed"], name)
        }
        XCTAssertEqual(try String(contentsOf: dir.appendingPathComponent("Package.swift"), encoding: .utf8), pkg)
        XCTAssertEqual(filesUnder(dir), ["Package.swift", "Sources/Layers/X.swift", "Sources/Zoo/InnerModelList.swift"])
        // Negative control: a good name is scaffolded.
        XCTAssertEqual(try lab(["plugin", "new", "Fine", "--root", dir.path]).status, 0)
        // b > T: the dual ≡ primal control still bites, the plugin passes.
        let big = try lab(["plugin", "check", "linear", "-b", "16", "--length", "10"], env: env)
        XCTAssertEqual(big.status, 0, big.stdout + big.stderr)
        XCTAssertTrue(big.stdout.contains("control: primal with b = 9"), big.stdout)
        // The folder name works as well as the registry name.
        let byFolder = try lab(["plugin", "check", "TTTLinear"], env: env)
        XCTAssertEqual(byFolder.status, 0, byFolder.stderr)
        XCTAssertTrue(byFolder.stdout.contains("plugin linear (Plugins/TTTLinear)"), byFolder.stdout)
    }
}

extension FaultTrainingTests {
    /// Class 4: SIGTERM checkpoints and stops like Ctrl-C (exit 0, resumable).
    func testSIGTERMCheckpointsLikeCtrlC() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try writeSyntheticCorpus(to: dir.appendingPathComponent("data"))
        let run = dir.appendingPathComponent("term")
        let p = try spawn(trainArgs(out: "term", checkpointEvery: 5), cwd: dir, name: "term")
        XCTAssertNotNil(waitForCheckpoint(run, atLeast: 5, p))
        p.terminate()    // SIGTERM
        p.waitUntilExit()
        let out = try String(contentsOf: dir.appendingPathComponent("term.out"), encoding: .utf8)
        let err = try String(contentsOf: dir.appendingPathComponent("term.err"), encoding: .utf8)
        XCTAssertEqual(p.terminationReason, .exit, err)
        XCTAssertEqual(p.terminationStatus, 0, err)
        let stopped = try XCTUnwrap(checkpointStep(run))
        XCTAssertTrue(out.contains("interrupted: checkpoint at step \(stopped)"), out)
        XCTAssertTrue(err.contains("SIGTERM"), err)
        let resumed = try lab(["train", "--resume", "term", "--no-chart", "--stop-after", "\(stopped + 1)"], cwd: dir, env: env)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
    }
}
