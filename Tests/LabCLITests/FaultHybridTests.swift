// FaultHybridTests.swift — a hybrid stack and sliding-window attention as a new user meets them on the command
// line: `train --dry-run` lists each block's layer, a hybrid with --window trains, resumes and generates,
// `export` refuses it (and windowed attention) in one line, and bad lists / windows exit 2 in one line.
import Foundation
import XCTest
@testable import Layers
@testable import Models

final class FaultHybridTests: XCTestCase {
    func testDryRunListsEveryBlockAndRefusalsAreOneLine() throws {
        let r = try lab(["train", "--dry-run", "--layer", "attention,ttt-linear,ttt-linear,ttt-linear", "--window", "64"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for line in ["block 0: attention (transformer backbone, SwiGLU I344, window 64)", "block 3: ttt-linear (transformer backbone, SwiGLU I344)",
                     "hybrid stack", "parameters: "] {
            XCTAssertTrue(r.stdout.contains(line), r.stdout)
        }
        // A single layer prints what it printed before (no block list).
        let single = try lab(["train", "--dry-run", "--layer", "ttt-linear"])
        XCTAssertEqual(single.status, 0)
        XCTAssertFalse(single.stdout.contains("block 0"), single.stdout)
        let bad: [([String], String)] = [
            (["train", "--dry-run", "--layer", "attention,ttt-linear,mamba"], "names 3 layers for L = 4 blocks"),
            (["train", "--dry-run", "--layer", "attention,,mamba,mamba"], "has an empty name"),
            (["train", "--dry-run", "--layer", "attention", "--window", "0"], "sliding window W = 0 must be ≥ 1"),
            (["train", "--dry-run", "--layer", "ttt-linear", "--window", "8"], "applies to attention blocks"),
            (["train", "--layer", "attention,ttt-linear", "--data", "/nonexistent", "--window=-2"], "sliding window W = -2 must be ≥ 1"),
            (["run-layer", "--layer", "ttt-linear", "--window", "4", "--input", "x.safetensors", "--output", "y.safetensors"], "applies to attention only"),
            (["run-layer", "--layer", "attention", "--window", "0", "--input", "x.safetensors", "--output", "y.safetensors"], "must be ≥ 1"),
        ]
        for (args, why) in bad {
            let b = try lab(args)
            XCTAssertEqual(b.status, 2, args.joined(separator: " "))
            XCTAssertEqual(b.stderr.split(separator: "\n").count, 1, b.stderr)
            XCTAssertTrue(b.stderr.contains(why), "\(args): \(b.stderr)")
        }
    }

    /// train (stop after 2 of 4 steps) → resume → generate → export refused, for "attention,ttt-linear" with
    /// --window 4 on the micro preset. Negative control: the single-layer run of the same preset exports.
    func testHybridTrainsResumesGeneratesAndExportRefuses() throws {
        let dir = try temporaryDirectory()
        try writeSyntheticCorpus(to: dir.appendingPathComponent("data"))
        let common = ["--preset", "micro", "--batch", "2", "--context", "16", "--eval-every", "2", "--eval-windows", "2", "--no-chart"]
        let t = try lab(["train", "--layer", "attention,ttt-linear", "--window", "4", "--steps", "4", "--stop-after", "2", "--out", "hybrid"] + common, cwd: dir)
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssertTrue(t.stdout.contains("hybrid stack"), t.stdout)
        let r = try lab(["train", "--resume", "hybrid", "--no-chart"], cwd: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("resuming") && r.stdout.contains("attention window 4"), r.stdout)
        let saved = try Trainer.checkpointConfig(in: dir.appendingPathComponent("hybrid"))
        XCTAssertEqual(saved.model.blockLayers.map(\.name), ["attention", "ttt-linear"])
        XCTAssertEqual(saved.model.layerConfig.attention.window, 4)
        let g = try lab(["generate", "--checkpoint", "hybrid", "--prompt", "the ", "--tokens", "6", "--temperature", "0"], cwd: dir)
        XCTAssertEqual(g.status, 0, g.stderr)
        XCTAssertTrue(g.stdout.hasPrefix("the ") && g.stdout.utf8.count >= 4 + 6, g.stdout)
        let e = try lab(["export", "--checkpoint", "hybrid", "--out", "hf"], cwd: dir)
        XCTAssertEqual(e.status, 2)
        XCTAssertEqual(e.stderr.split(separator: "\n").count, 1, e.stderr)
        XCTAssertTrue(e.stderr.contains("one layer type per model"), e.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("hf").path), "nothing written")
        // Windowed attention alone: Llama has no sliding window.
        XCTAssertEqual(try lab(["train", "--layer", "attention", "--window", "4", "--steps", "1", "--out", "swa"] + common, cwd: dir).status, 0)
        let s = try lab(["export", "--checkpoint", "swa", "--out", "hf-swa"], cwd: dir)
        XCTAssertEqual(s.status, 2)
        XCTAssertTrue(s.stderr.contains("LlamaForCausalLM has no sliding window"), s.stderr)
        // Negative control: full attention on the same preset exports.
        XCTAssertEqual(try lab(["train", "--layer", "attention", "--steps", "1", "--out", "full"] + common, cwd: dir).status, 0)
        XCTAssertEqual(try lab(["export", "--checkpoint", "full", "--out", "hf-full"], cwd: dir).status, 0)
    }
}
