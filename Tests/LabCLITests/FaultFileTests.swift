// FaultFileTests.swift — damaged files and unwritable outputs, through the `lab` command: corrupt
// safetensors (inputs, weights, checkpoints), damaged checkpoint JSON, a corpus file that is not text,
// read-only and full output directories. Each: one line naming the problem and the fix, exit 2, no file left.
import Foundation
import XCTest
@testable import Models
import TensorCore

final class FaultFileTests: XCTestCase {
    let rl = ["run-layer", "--layer", "ttt-linear", "--width", "16", "--heads", "2", "-b", "4"]

    /// The damaged safetensors of the catalogue, from a valid [1, 5, 16] input (320 data bytes).
    func corruptSafetensors() -> [(name: String, data: Data, needles: [String])] {
        let good = inputTensorFile(t: 5, d: 16)
        let body = [UInt8](repeating: 0, count: 320)
        let h = #"{"input":{"dtype":"F32","shape":[1,5,16],"data_offsets":[0,320]}}"#
        return [
            ("empty", Data(), ["shorter than the 8-byte header length"]),
            ("header-length-huge", handBuiltSafetensors(h, data: body, length: 1 << 40), ["header length 1099511627776 is absurdly large"]),
            ("header-length-past-end", handBuiltSafetensors(h, data: body, length: UInt64(h.utf8.count + 400)), ["is past the end of the file", "truncated"]),
            ("truncated", good.prefix(good.count - 100), ["run past the end of the data", "truncated"]),
            ("offsets-past-end", handBuiltSafetensors(#"{"input":{"dtype":"F32","shape":[1,5,16],"data_offsets":[0,640]}}"#, data: body), ["data_offsets [0, 640] run past the end"]),
            ("wrong-dtype", handBuiltSafetensors(#"{"input":{"dtype":"I32","shape":[1,5,16],"data_offsets":[0,320]}}"#, data: body), ["dtype I32", "convert the tensor to float32"]),
            ("shape-size-mismatch", handBuiltSafetensors(#"{"input":{"dtype":"F32","shape":[1,5,17],"data_offsets":[0,320]}}"#, data: body), ["needs 340 bytes", "hold 320"]),
            ("header-not-json", handBuiltSafetensors(#"{"input":{"dtype":"F32",,}}   "#, data: []), ["not valid JSON"]),
            ("text-file", Data("step,loss\n0,2.3\n1,2.1\n".utf8), ["not a safetensors file"]),
        ]
    }

    /// As `--input` and as `--weights` of run-layer, and as a checkpoint's model.safetensors for generate.
    func testCorruptSafetensorsEverywhere() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try inputTensorFile(t: 5, d: 16).write(to: dir.appendingPathComponent("x.safetensors"))
        // A real checkpoint to damage.
        try writeSyntheticCorpus(to: dir.appendingPathComponent("data"))
        let train = try lab(["train", "--preset", "micro", "--steps", "2", "--batch", "2", "--context", "32", "--eval-windows", "2", "--no-chart", "--out", "run"], cwd: dir)
        XCTAssertEqual(train.status, 0, train.stderr)
        let ckpt = dir.appendingPathComponent("run")
        let goodModel = try Data(contentsOf: ckpt.appendingPathComponent("model.safetensors"))
        for c in corruptSafetensors() {
            try c.data.write(to: dir.appendingPathComponent("bad.safetensors"))
            let asInput = try lab(rl + ["--input", "bad.safetensors", "--output", "y.safetensors"], cwd: dir)
            assertOneLineFault(asInput, ["bad.safetensors"] + c.needles, "input \(c.name)")
            let asWeights = try lab(rl + ["--weights", "bad.safetensors", "--input", "x.safetensors", "--output", "y.safetensors"], cwd: dir)
            assertOneLineFault(asWeights, ["bad.safetensors"] + c.needles, "weights \(c.name)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("y.safetensors").path), c.name)
            try c.data.write(to: ckpt.appendingPathComponent("model.safetensors"))
            let gen = try lab(["generate", "--checkpoint", "run", "--prompt", "the", "--tokens", "4"], cwd: dir)
            assertOneLineFault(gen, ["model.safetensors"] + c.needles, "checkpoint \(c.name)")
            // --resume checks the checkpoint's checksums first.
            let res = try lab(["train", "--resume", "run", "--no-chart"], cwd: dir)
            assertOneLineFault(res, ["do not match train_state.json"], "resume \(c.name)")
        }
        try goodModel.write(to: ckpt.appendingPathComponent("model.safetensors"))
        // Weights of another size: the shape mismatch names the parameter.
        let save16 = try lab(rl + ["--input", "x.safetensors", "--output", "y.safetensors", "--save-weights", "w16.safetensors"], cwd: dir)
        XCTAssertEqual(save16.status, 0, save16.stderr)
        let other = try lab(["run-layer", "--layer", "ttt-linear", "--width", "16", "--heads", "4", "-b", "4", "--weights", "w16.safetensors",
                             "--input", "x.safetensors", "--output", "y2.safetensors"], cwd: dir)
        assertOneLineFault(other, ["has shape", "saved with other sizes"], "weights of other heads")
        let wrongLayer = try lab(["run-layer", "--layer", "attention", "--width", "16", "--heads", "2", "--weights", "w16.safetensors",
                                  "--input", "x.safetensors", "--output", "y2.safetensors"], cwd: dir)
        assertOneLineFault(wrongLayer, ["different layer or configuration"], "weights of another layer")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("y2.safetensors").path))
        XCTAssertTrue(filesUnder(dir).allSatisfy { !$0.contains(".tmp-") }, "\(filesUnder(dir))")
    }

    /// Damaged checkpoint JSON and optimizer state: --resume and generate refuse with the fix.
    func testDamagedCheckpointFiles() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try writeSyntheticCorpus(to: dir.appendingPathComponent("data"))
        let train = try lab(["train", "--preset", "micro", "--steps", "4", "--stop-after", "2", "--batch", "2", "--context", "32", "--eval-windows", "2", "--no-chart", "--out", "run"], cwd: dir)
        XCTAssertEqual(train.status, 0, train.stderr)
        let run = dir.appendingPathComponent("run")
        let names = ["config.json", "train_state.json", "optimizer.safetensors", "model.safetensors"]
        var good: [String: Data] = [:]
        for n in names { good[n] = try Data(contentsOf: run.appendingPathComponent(n)) }
        func restore() throws { for n in names { try good[n]!.write(to: run.appendingPathComponent(n)) } }
        let config = String(decoding: good["config.json"]!, as: UTF8.self)
        let state = String(decoding: good["train_state.json"]!, as: UTF8.self)

        /// Writes `file` with `text`; for the optimizer, also fixes its checksum in train_state.json so the parser is reached.
        func damage(_ file: String, _ bytes: Data) throws {
            try restore()
            try bytes.write(to: run.appendingPathComponent(file))
            if file == "optimizer.safetensors" {
                let sha = SHA256.hex([UInt8](bytes)), old = SHA256.hex([UInt8](good[file]!))
                try Data(state.replacingOccurrences(of: old, with: sha).utf8).write(to: run.appendingPathComponent("train_state.json"))
            }
        }
        let opt = try SafetensorsFile.parse(good["optimizer.safetensors"]!, path: "opt")
        var missing = opt.tensors; missing.removeValue(forKey: missing.keys.sorted()[0])
        var noStep = opt; noStep.metadata["step"] = "two"
        let cases: [(file: String, bytes: Data, resume: [String], generate: [String]?)] = [
            ("config.json", Data("{\"model\": 3".utf8), ["not a lab checkpoint config", "lab train"], ["not a lab checkpoint config"]),
            ("config.json", Data(config.replacingOccurrences(of: "\"heads\" : 2", with: "\"heads\" : 3").utf8), ["not divisible by heads H = 3"], ["not divisible"]),
            ("config.json", Data(config.replacingOccurrences(of: "\"width\" : 32", with: "\"width\" : 30").utf8), ["head dim"], ["head dim"]),
            ("config.json", Data(config.replacingOccurrences(of: "\"layers\" : 2", with: "\"layers\" : 2000000000").utf8), ["layers L = 2000000000 must be ≤"], ["layers L = 2000000000 must be ≤"]),
            ("config.json", Data(config.replacingOccurrences(of: "\"vocab\" : 256", with: "\"vocab\" : 4000000000000").utf8), ["vocabulary V = 4000000000000 must be ≤"], ["vocabulary V = 4000000000000 must be ≤"]),
            ("config.json", Data(config.replacingOccurrences(of: "\"layer\" : \"ttt-linear\"", with: "\"layer\" : \"ttt-linaer\"").utf8), ["Did you mean 'ttt-linear'"], ["Did you mean 'ttt-linear'"]),
            ("train_state.json", Data(state.prefix(40).utf8), ["unreadable training state", "start a new run"], nil),
            ("train_state.json", Data(), ["unreadable training state"], nil),
            ("optimizer.safetensors", Data("not safetensors".utf8), ["optimizer.safetensors", "not a safetensors file"], nil),
            ("optimizer.safetensors", try SafetensorsFile(tensors: missing, metadata: opt.metadata).encoded(), ["optimizer state lacks", "start a new run"], nil),
            ("optimizer.safetensors", try noStep.encoded(), ["no valid 'step'"], nil),
            ("model.safetensors", Data(), ["do not match train_state.json"], ["shorter than the 8-byte header length"]),
        ]
        for c in cases {
            try damage(c.file, c.bytes)
            let before = filesUnder(run)
            let r = try lab(["train", "--resume", "run", "--no-chart"], cwd: dir)
            assertOneLineFault(r, c.resume, "resume with damaged \(c.file): \(c.resume)")
            XCTAssertEqual(filesUnder(run), before, "resume left files behind")
            if let g = c.generate {
                let r = try lab(["generate", "--checkpoint", "run", "--prompt", "a", "--tokens", "2"], cwd: dir)
                assertOneLineFault(r, g, "generate with damaged \(c.file): \(g)")
            }
        }
        // Restored, the run continues.
        try restore()
        let ok = try lab(["train", "--resume", "run", "--no-chart"], cwd: dir)
        XCTAssertEqual(ok.status, 0, ok.stderr)
    }

    /// A corpus file that is not text (binary, invalid UTF-8), a damaged manifest, a path that leaves the corpus.
    func testCorpusFaults() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func corpus(_ name: String, extra: [UInt8]) throws {
            try writeSyntheticCorpus(to: dir.appendingPathComponent(name))
            let docs = try Corpus.load(from: dir.appendingPathComponent(name))
            let all = docs.train + docs.validation + [Document(name: "image", source: "synthetic", bytes: extra)]
            try Corpus.write(all, sources: docs.manifest!.sources, to: dir.appendingPathComponent(name))
        }
        try corpus("png", extra: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D] + Array(repeating: 0x41, count: 100))
        try corpus("latin1", extra: Array("caf".utf8) + [0xE9] + Array(" au lait. ".utf8))
        try writeSyntheticCorpus(to: dir.appendingPathComponent("garbled"))
        try Data([0x7B, 0xFF, 0x00, 0x22]).write(to: dir.appendingPathComponent("garbled/manifest.json"))
        try writeSyntheticCorpus(to: dir.appendingPathComponent("escape"))
        let m = dir.appendingPathComponent("escape/manifest.json")
        try Data(String(decoding: try Data(contentsOf: m), as: UTF8.self).replacingOccurrences(of: #"synthetic\/doc03.txt"#, with: "../../../../etc/passwd")
            .replacingOccurrences(of: "synthetic/doc03.txt", with: "../../../../etc/passwd").utf8).write(to: m)
        try Data("hello".utf8).write(to: dir.appendingPathComponent("plain.txt"))
        let cases: [(data: String, needles: [String])] = [
            ("png", ["image.txt", "not a text file (a NUL byte at offset 8)", "must be UTF-8 text"]),
            ("latin1", ["not a text file (invalid UTF-8 near offset 3)"]),
            ("garbled", ["not a corpus manifest", "lab data fetch"]),
            ("escape", ["leaves the corpus directory"]),
            ("plain.txt", ["manifest.json missing", "--data DIR"]),
        ]
        for c in cases {
            assertOneLineFault(try lab(["data", "info", "--data", c.data], cwd: dir), c.needles, "data info \(c.data)")
            let t = try lab(["train", "--preset", "micro", "--steps", "2", "--batch", "2", "--context", "32", "--data", c.data, "--out", "run-\(c.data)"], cwd: dir)
            assertOneLineFault(t, c.needles, "train on \(c.data)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run-\(c.data)").path))
        }
    }

    /// Output paths that cannot be written, even by root: a parent that is a file, /sys (read-only to
    /// everyone), a device (/dev/full is never replaced), a file-size limit (ulimit -f: the write fails
    /// half-way like a full disk), and — where mounting is permitted — a really full tmpfs (ENOSPC).
    func testUnwritableOutputs() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try inputTensorFile(t: 64, d: 16).write(to: dir.appendingPathComponent("x.safetensors"))
        try Data("I am a file".utf8).write(to: dir.appendingPathComponent("afile"))
        try writeSyntheticCorpus(to: dir.appendingPathComponent("data"))
        let base = rl + ["--input", "x.safetensors"]
        let tr = ["train", "--preset", "micro", "--steps", "2", "--batch", "2", "--context", "32", "--eval-windows", "2", "--no-chart"]
        let cases: [(args: [String], needles: [String])] = [
            (base + ["--output", "afile/y.safetensors"], ["afile is a file, not a directory", "choose another output path"]),
            (base + ["--output", "x.safetensors/y.safetensors"], ["is a file, not a directory"]),
            (base + ["--output", "data"], ["is a directory, not a file"]),
            (base + ["--output", "/sys/lab-faults/y.safetensors"], ["cannot create directory /sys/lab-faults", "choose another output path"]),
            (base + ["--output", "/sys/y.safetensors"], ["/sys/y.safetensors", "choose another output path"]),
            (base + ["--output", "/dev/full"], ["device or special file", "regular file"]),
            (base + ["--output", "y.safetensors", "--save-weights", "afile/w.safetensors"], ["afile is a file"]),
            (tr + ["--out", "afile/run"], ["afile is a file, not a directory", "choose another --out"]),
            (tr + ["--out", "/sys/lab-faults-run"], ["cannot create the run directory", "choose another --out"]),
            (["study", "equivalence", "--quick", "--out", "afile/eq"], ["could not create output directory", "choose another output directory"]),
            (["figures", "--quick", "--only", "equivalence", "--out", "/sys/lab-faults-fig"], ["cannot create the output directory", "choose another --out"]),
        ]
        for c in cases {
            let r = try lab(c.args, cwd: dir, env: ["LAB_THREADS": "1"])
            assertOneLineFault(r, c.needles, c.args.joined(separator: " "))
        }
        var st = stat()
        XCTAssertEqual(lstat("/dev/full", &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFCHR, "/dev/full must still be a device")
        XCTAssertEqual(filesUnder(dir).filter { !$0.hasPrefix("data/") }, ["afile", "x.safetensors"])

        // A file-size limit: the write fails part-way (EFBIG), the temp file is removed, nothing is left.
        func limited(_ blocks: Int, _ args: [String]) throws -> LabRun {
            let quoted = try ([labExecutable().path] + args).map { "'\($0)'" }.joined(separator: " ")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "trap '' XFSZ; ulimit -f \(blocks) && exec \(quoted)"]
            p.currentDirectoryURL = dir
            p.environment = ProcessInfo.processInfo.environment.merging(["CI": "true", "LAB_THREADS": "1"]) { $1 }
            let out = Pipe(), err = Pipe()
            p.standardOutput = out; p.standardError = err
            try p.run()
            let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return LabRun(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
        }
        assertOneLineFault(try limited(2, base + ["--output", "y.safetensors"]), ["y.safetensors", "file-size limit", "choose another output path"], "run-layer under ulimit")
        assertOneLineFault(try limited(40, tr + ["--out", "run"]), ["model.safetensors", "file-size limit"], "train under ulimit")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run").path), "a failed first checkpoint leaves no run directory")
        XCTAssertEqual(filesUnder(dir).filter { !$0.hasPrefix("data/") }, ["afile", "x.safetensors"])

        // A really full file system, where this environment lets the tests mount a 64 KiB tmpfs.
        let small = dir.appendingPathComponent("small")
        try FileManager.default.createDirectory(at: small, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/sh")
        mount.arguments = ["-c", "mount -t tmpfs -o size=64k tmpfs '\(small.path)' 2>/dev/null"]
        try mount.run(); mount.waitUntilExit()
        guard mount.terminationStatus == 0 else { throw XCTSkip("mounting a tmpfs is not permitted here; the ENOSPC case is covered by the file-size limit") }
        defer {
            let u = Process(); u.executableURL = URL(fileURLWithPath: "/bin/sh"); u.arguments = ["-c", "umount '\(small.path)'"]
            try? u.run(); u.waitUntilExit()
        }
        try inputTensorFile(t: 2048, d: 16).write(to: dir.appendingPathComponent("big.safetensors"))   // 128 KiB output
        let full = try lab(rl + ["--input", "big.safetensors", "--output", "small/y.safetensors"], cwd: dir, env: ["LAB_THREADS": "1"])
        assertOneLineFault(full, ["no space left on the device", "free some space or choose another output path"], "run-layer on a full disk")
        let fullRun = try lab(tr + ["--out", "small/run"], cwd: dir, env: ["LAB_THREADS": "1"])
        assertOneLineFault(fullRun, ["no space left on the device"], "train on a full disk")
        XCTAssertEqual(filesUnder(small), [], "a full disk keeps no partial or temp file")
    }
}
