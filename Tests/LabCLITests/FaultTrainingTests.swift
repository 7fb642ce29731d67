// FaultTrainingTests.swift — training under faults: a diverging run (NaN/Inf) stops naming the step and
// keeps the last good checkpoint; SIGINT saves and exits cleanly; kill -9 (even mid-save) loses at most
// the work since the last checkpoint, and resuming reaches the uninterrupted run's bytes.
import Foundation
import XCTest
@testable import Models
import TensorCore

final class FaultTrainingTests: XCTestCase {
    /// Same run everywhere (the checkpoint interval does not change the numbers).
    let steps = 80
    func trainArgs(out: String, checkpointEvery: Int) -> [String] {
        ["train", "--preset", "micro", "--steps", "\(steps)", "--batch", "2", "--context", "32", "--eval-every", "\(steps)",
         "--eval-windows", "2", "--checkpoint-every", "\(checkpointEvery)", "--no-chart", "--log-every", "1000", "--out", out]
    }
    let env = ["LAB_THREADS": "1"]

    /// `lab` started in the background, output to files.
    func spawn(_ args: [String], cwd: URL, name: String) throws -> Process {
        let p = Process()
        p.executableURL = try labExecutable()
        p.arguments = args
        p.currentDirectoryURL = cwd
        p.environment = ProcessInfo.processInfo.environment.merging(env.merging(["CI": "true"]) { $1 }) { $1 }
        for (suffix, set) in [("out", { (h: FileHandle) in p.standardOutput = h }), ("err", { (h: FileHandle) in p.standardError = h })] {
            let url = cwd.appendingPathComponent("\(name).\(suffix)")
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            set(try FileHandle(forWritingTo: url))
        }
        try p.run()
        return p
    }

    /// The step train_state.json records (nil while there is none or it is being replaced).
    func checkpointStep(_ dir: URL) -> Int? {
        guard let d = FileManager.default.contents(atPath: dir.appendingPathComponent("train_state.json").path),
              let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else { return nil }
        return o["step"] as? Int
    }

    /// Polls until train_state.json records at least `step` (or the process ends).
    func waitForCheckpoint(_ dir: URL, atLeast step: Int, _ p: Process) -> Int? {
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && p.isRunning {
            if let s = checkpointStep(dir), s >= step { return s }
            usleep(2000)
        }
        return checkpointStep(dir)
    }

    func reference(in dir: URL) throws -> (model: Data, optimizer: Data) {
        let r = try lab(trainArgs(out: "ref", checkpointEvery: 0), cwd: dir, env: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        return (try Data(contentsOf: dir.appendingPathComponent("ref/model.safetensors")),
                try Data(contentsOf: dir.appendingPathComponent("ref/optimizer.safetensors")))
    }

    /// A real divergence (lr 1e30): the loss turns NaN at step 2; the run stops with one line naming
    /// the step and the last good checkpoint, which stays intact and usable.
    func testDivergenceStopsAndKeepsLastGoodCheckpoint() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try writeSyntheticCorpus(to: dir.appendingPathComponent("data"))
        let r = try lab(["train", "--preset", "micro", "--steps", "20", "--batch", "2", "--context", "32", "--eval-every", "5", "--eval-windows", "2",
                         "--lr", "1e30", "--no-chart", "--out", "nan"], cwd: dir, env: env)
        assertOneLineFault(r, ["training diverged at step 2", "the training loss is", "nan", "last good checkpoint (step 0)", "smaller --lr"], "lr 1e30")
        let run = dir.appendingPathComponent("nan")
        XCTAssertEqual(checkpointStep(run), 0)
        let w = try SafetensorsFile.read(run.appendingPathComponent("model.safetensors"))
        XCTAssertTrue(w.tensors.values.allSatisfy { t in (0..<t.count).allSatisfy { t.data[$0].isFinite } }, "the kept checkpoint holds NaN")
        XCTAssertFalse(try String(contentsOf: run.appendingPathComponent("loss.csv"), encoding: .utf8).contains("nan"))
        let g = try lab(["generate", "--checkpoint", "nan", "--prompt", "the", "--tokens", "3"], cwd: dir, env: env)
        XCTAssertEqual(g.status, 0, "the last good checkpoint must load: \(g.stderr)")

        // In process: a NaN weight after a later checkpoint names that checkpoint.
        let corpus = try Corpus.load(from: dir.appendingPathComponent("data"))
        let model = try LanguageModel(config: ModelConfig.preset("micro", layer: "ttt-linear"), seed: 0)
        var tc = TrainConfig(steps: 10, batch: 2, context: 32, lr: 3e-3)
        (tc.evalEvery, tc.evalWindows, tc.checkpointEvery) = (100, 2, 3)
        let t = try Trainer(model: model, config: tc, corpus: corpus)
        let ckpt = dir.appendingPathComponent("inproc")
        try t.run(until: 4, checkpointTo: ckpt)
        XCTAssertEqual(t.lastCheckpointStep, 4)
        model.parameters[0].tensor.data[0] = .nan
        XCTAssertThrowsError(try t.run(checkpointTo: ckpt)) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("training diverged at step 5") && m.contains("last good checkpoint (step 4)"), m)
            XCTAssertFalse(m.contains("\n"))
        }
        XCTAssertEqual(checkpointStep(ckpt), 4)
    }

    /// SIGINT after a checkpoint: a checkpoint of the current step, exit status 0, and --resume
    /// finishes with the uninterrupted run's weights and optimizer state, byte for byte.
    func testSIGINTCheckpointsAndResumesExactly() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try writeSyntheticCorpus(to: dir.appendingPathComponent("data"))
        let ref = try reference(in: dir)
        let run = dir.appendingPathComponent("sig")
        let p = try spawn(trainArgs(out: "sig", checkpointEvery: 10), cwd: dir, name: "sig")
        let seen = waitForCheckpoint(run, atLeast: 10, p)
        XCTAssertNotNil(seen)
        p.interrupt()
        p.waitUntilExit()
        let out = try String(contentsOf: dir.appendingPathComponent("sig.out"), encoding: .utf8)
        let err = try String(contentsOf: dir.appendingPathComponent("sig.err"), encoding: .utf8)
        XCTAssertEqual(p.terminationReason, .exit)
        XCTAssertEqual(p.terminationStatus, 0, err)
        let stopped = try XCTUnwrap(checkpointStep(run))
        XCTAssertTrue(out.contains("interrupted: checkpoint at step \(stopped)"), out)
        XCTAssertLessThan(stopped, steps, "the run ended before the interrupt")
        XCTAssertGreaterThanOrEqual(stopped, seen ?? 0)
        XCTAssertTrue(filesUnder(run).allSatisfy { !$0.contains(".tmp-") && !$0.hasSuffix(".prev") }, "\(filesUnder(run))")
        let resumed = try lab(["train", "--resume", "sig", "--no-chart"], cwd: dir, env: env)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resuming \(run.path) at step \(stopped)/\(steps)"), resumed.stdout)
        XCTAssertEqual(try Data(contentsOf: run.appendingPathComponent("model.safetensors")), ref.model)
        XCTAssertEqual(try Data(contentsOf: run.appendingPathComponent("optimizer.safetensors")), ref.optimizer)
    }

    /// kill -9 three times at random moments with a checkpoint every step (so a kill often lands
    /// inside a save): each resume starts at or after the last checkpoint seen before the kill, and the
    /// finished run equals the uninterrupted one byte for byte.
    func testKill9LosesAtMostTheLastCheckpointInterval() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try writeSyntheticCorpus(to: dir.appendingPathComponent("data"))
        let ref = try reference(in: dir)
        let run = dir.appendingPathComponent("k9")
        var rng = RNG(seed: 9)
        var target = 0
        for round in 0..<3 {
            let args = round == 0 ? trainArgs(out: "k9", checkpointEvery: 1) : ["train", "--resume", "k9", "--no-chart", "--log-every", "1000"]
            let p = try spawn(args, cwd: dir, name: "k9-\(round)")
            target += 15
            let seen = try XCTUnwrap(waitForCheckpoint(run, atLeast: target, p))
            usleep(UInt32(rng.next() % 20_000))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationReason, .uncaughtSignal)
            // What a resume will start from: never before the checkpoint seen before the kill.
            let check = try lab(["train", "--resume", "k9", "--stop-after", "1", "--no-chart"], cwd: dir, env: env)
            XCTAssertEqual(check.status, 0, check.stderr)
            let m = try XCTUnwrap(check.stdout.range(of: #"at step (\d+)/"#, options: .regularExpression))
            let from = Int(check.stdout[m].dropFirst(8).dropLast())!
            XCTAssertGreaterThanOrEqual(from, seen, "round \(round): lost more than the work since the last checkpoint")
            target = max(target, from)
        }
        let last = try lab(["train", "--resume", "k9", "--no-chart"], cwd: dir, env: env)
        XCTAssertEqual(last.status, 0, last.stderr)
        XCTAssertEqual(try Data(contentsOf: run.appendingPathComponent("model.safetensors")), ref.model)
        XCTAssertEqual(try Data(contentsOf: run.appendingPathComponent("optimizer.safetensors")), ref.optimizer)
        XCTAssertTrue(filesUnder(run).allSatisfy { !$0.contains(".tmp-") && !$0.hasSuffix(".prev") }, "\(filesUnder(run))")
    }

    /// A save killed after the new weights (and optionally the optimizer) replaced the old ones but
    /// before train_state.json did: --resume restores the previous files and still ends bit-identical.
    func testResumeAfterAKillInsideASave() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try writeSyntheticCorpus(to: dir.appendingPathComponent("data"))
        let corpus = try Corpus.load(from: dir.appendingPathComponent("data"))
        var tc = TrainConfig(steps: 8, batch: 2, context: 32, lr: 3e-3)
        (tc.evalEvery, tc.evalWindows) = (4, 2)
        func fresh() throws -> Trainer { try Trainer(model: LanguageModel(config: ModelConfig.preset("micro", layer: "ttt-linear"), seed: 0), config: tc, corpus: corpus) }
        let full = try fresh()
        try full.run(checkpointTo: dir.appendingPathComponent("full"))
        let want = try Data(contentsOf: dir.appendingPathComponent("full/model.safetensors"))

        let a = dir.appendingPathComponent("a"), fm = FileManager.default
        let t = try fresh()
        try t.run(until: 4, checkpointTo: a)
        let old = dir.appendingPathComponent("old")
        try fm.copyItem(at: a, to: old)
        try t.run(until: 6, checkpointTo: a)
        for optimizerToo in [false, true] {
            // Reconstruct the moment of the kill: step-4 state, the new model (and optimizer), the .prev links.
            let b = dir.appendingPathComponent("b-\(optimizerToo)")
            try fm.copyItem(at: old, to: b)
            try fm.removeItem(at: b.appendingPathComponent("model.safetensors"))
            try fm.copyItem(at: a.appendingPathComponent("model.safetensors"), to: b.appendingPathComponent("model.safetensors"))
            try fm.copyItem(at: old.appendingPathComponent("model.safetensors"), to: b.appendingPathComponent("model.safetensors.prev"))
            try fm.copyItem(at: old.appendingPathComponent("optimizer.safetensors"), to: b.appendingPathComponent("optimizer.safetensors.prev"))
            if optimizerToo {
                try fm.removeItem(at: b.appendingPathComponent("optimizer.safetensors"))
                try fm.copyItem(at: a.appendingPathComponent("optimizer.safetensors"), to: b.appendingPathComponent("optimizer.safetensors"))
            }
            var warnings: [String] = []
            let r = try Trainer.resume(from: b, corpus: corpus) { warnings.append($0) }
            XCTAssertEqual(r.step, 4)
            XCTAssertTrue(warnings.contains { $0.contains("a save was interrupted: restored model.safetensors") }, "\(warnings)")
            try r.run(checkpointTo: b)
            XCTAssertEqual(try Data(contentsOf: b.appendingPathComponent("model.safetensors")), want)
            XCTAssertFalse(fm.fileExists(atPath: b.appendingPathComponent("model.safetensors.prev").path))
        }
        // Without the .prev files the mismatch is refused, as before.
        let c = dir.appendingPathComponent("c")
        try fm.copyItem(at: old, to: c)
        try fm.removeItem(at: c.appendingPathComponent("model.safetensors"))
        try fm.copyItem(at: a.appendingPathComponent("model.safetensors"), to: c.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try Trainer.resume(from: c, corpus: corpus)) { e in XCTAssertTrue("\(e)".contains("do not match train_state.json"), "\(e)") }
    }
}
