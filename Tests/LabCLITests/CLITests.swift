// CLITests.swift — the `lab` command as a new user runs it: help, errors (one line, exit 2), files.
import Foundation
import XCTest

final class CLITests: XCTestCase {
    func testHelpAndVersion() throws {
        let help = try lab(["--help"])
        XCTAssertEqual(help.status, 0)
        for sub in ["study", "layers", "run-layer", "bench"] { XCTAssertTrue(help.stdout.contains(sub), "help lacks \(sub)") }
        let v = try lab(["version"])
        XCTAssertEqual(v.status, 0)
        XCTAssertTrue(v.stdout.hasPrefix("lab "))
        let studyHelp = try lab(["study", "--help"])
        XCTAssertEqual(studyHelp.status, 0)
        XCTAssertTrue(studyHelp.stdout.contains("--quick"))
    }

    /// Every bad input: one line on stderr naming the problem (and the fix), exit status 2.
    func testBadInputIsOneLineExit2() throws {
        let cases: [([String], String)] = [
            (["study", "equivalnce"], "Did you mean 'equivalence'"),
            (["layers", "--width", "10", "--heads", "3"], "not divisible"),
            (["layers", "--width", "64", "--heads", "4", "-b", "0"], "mini-batch size b = 0"),
            (["run-layer", "--layer", "ttt-linaer", "--input", "x", "--output", "y"], "Did you mean 'ttt-linear'"),
            (["run-layer", "--layer", "ttt-linear", "--input", "/nonexistent/x.safetensors", "--output", "/tmp/y.safetensors"], "nonexistent"),
            (["study", "equivalence", "--quick", "--full"], "exclude each other"),
            (["train", "--kernels", "fast", "--data", "/nonexistent"], "--kernels 'fast'"),
            (["frobnicate"], "see 'lab --help'"),
            (["layers", "--width", "abc"], "see 'lab --help'"),
        ]
        for (args, needle) in cases {
            let r = try lab(args)
            XCTAssertEqual(r.status, 2, "\(args): status \(r.status), stderr \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(args): not one line: \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(needle), "\(args): \(r.stderr)")
        }
    }

    func testLayersListsEveryLayerAndPlugin() throws {
        let r = try lab(["layers", "--width", "64", "--heads", "4"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for name in ["ttt-linear", "ttt-mlp", "attention", "linear-attention", "mamba", "ttt-linear-m", "ttt-mlp-m"] {
            XCTAssertTrue(r.stdout.contains(name), "missing \(name)")
        }
    }

    /// run-layer: save weights, run, reload the weights, run again → the same output; a corrupt weights
    /// file fails with exit 2 and leaves no output file.
    func testRunLayerRoundTripAndCorruptWeights() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Input tensor [1, 5, 16] written by hand in the safetensors layout.
        let values = (0..<80).map { Float($0 % 7) * 0.1 - 0.3 }
        var data = Data()
        let header = #"{"input":{"dtype":"F32","shape":[1,5,16],"data_offsets":[0,320]}}"#
        var len = UInt64(header.utf8.count).littleEndian
        data.append(Data(bytes: &len, count: 8)); data.append(Data(header.utf8))
        for v in values { var b = v.bitPattern.littleEndian; data.append(Data(bytes: &b, count: 4)) }
        try data.write(to: dir.appendingPathComponent("x.safetensors"))
        let common = ["run-layer", "--layer", "ttt-mlp", "--width", "16", "--heads", "2", "-b", "4", "--input", "x.safetensors"]
        let first = try lab(common + ["--seed", "3", "--save-weights", "w.safetensors", "--output", "y1.safetensors"], cwd: dir)
        XCTAssertEqual(first.status, 0, first.stderr)
        let second = try lab(common + ["--weights", "w.safetensors", "--output", "y2.safetensors"], cwd: dir)
        XCTAssertEqual(second.status, 0, second.stderr)
        let y1 = try Data(contentsOf: dir.appendingPathComponent("y1.safetensors"))
        let y2 = try Data(contentsOf: dir.appendingPathComponent("y2.safetensors"))
        XCTAssertEqual(y1, y2, "loaded weights must reproduce the output bit for bit")
        // Negative control: another seed without the weights gives another output.
        let third = try lab(common + ["--seed", "99", "--output", "y3.safetensors"], cwd: dir)
        XCTAssertEqual(third.status, 0, third.stderr)
        XCTAssertNotEqual(try Data(contentsOf: dir.appendingPathComponent("y3.safetensors")), y1)
        // Corrupt weights: truncated file.
        let w = try Data(contentsOf: dir.appendingPathComponent("w.safetensors"))
        try w.prefix(w.count / 2).write(to: dir.appendingPathComponent("bad.safetensors"))
        let bad = try lab(common + ["--weights", "bad.safetensors", "--output", "y4.safetensors"], cwd: dir)
        XCTAssertEqual(bad.status, 2)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("y4.safetensors").path))
    }

    /// The main job end to end at the quick preset: passes, writes the report, CSVs and charts.
    func testStudyEquivalenceQuick() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try lab(["study", "equivalence", "--quick", "--out", dir.path])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("equivalence: PASS"))
        for f in ["equivalence.md", "claims.csv", "controls.csv", "summary.csv", "equivalence-errors.gp", "equivalence-errors.dat"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), "missing \(f)")
        }
        // Without gnuplot on PATH: exit 2 with the install hint, but the tables are still written.
        let bare = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: bare) }
        let nognu = try lab(["study", "equivalence", "--quick", "--out", bare.path], env: ["PATH": "/nonexistent"])
        XCTAssertEqual(nognu.status, 2, nognu.stderr)
        XCTAssertTrue(nognu.stderr.contains("apt-get install -y gnuplot-nox"), nognu.stderr)
        XCTAssertEqual(nognu.stderr.split(separator: "\n").count, 1, nognu.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: bare.appendingPathComponent("claims.csv").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: bare.appendingPathComponent("equivalence-errors.png").path))
        let list = try lab(["study", "list"])
        XCTAssertEqual(list.status, 0)
        XCTAssertTrue(list.stdout.contains("equivalence"))
    }
}
