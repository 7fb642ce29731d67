// StudyPlanCLITests.swift — `lab study NAME --plan / --run KEY / --cached-only` as a job runner uses them.
import Foundation
import XCTest

final class StudyPlanCLITests: XCTestCase {
    /// --plan prints one runnable line per run; running one line performs that run into the shared
    /// directory and drops it from the next plan; --cached-only assembles without training (and fails
    /// its verdict, exit 1, while runs are missing). Bad keys and non-distributed studies: one line, exit 2.
    func testPlanRunAndErrors() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let plan = try lab(["study", "recall", "--quick", "--out", dir.path, "--plan"])
        XCTAssertEqual(plan.status, 0, plan.stderr)
        let lines = plan.stdout.split(separator: "\n").map(String.init)
        XCTAssertFalse(lines.isEmpty)
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("lab study recall --quick --out ") && $0.contains(" --run ") }, lines.joined(separator: "\n"))
        let words = lines[0].split(separator: " ").map(String.init)
        let key = words[words.firstIndex(of: "--run")! + 1]
        let one = try lab(["study", "recall", "--quick", "--out", dir.path, "--run", key])
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("runs/\(key)/run.json").path))
        let again = try lab(["study", "recall", "--quick", "--out", dir.path, "--plan"])
        XCTAssertEqual(again.stdout.split(separator: "\n").count, lines.count - 1)
        XCTAssertFalse(again.stdout.contains(key))
        let partial = try lab(["study", "recall", "--quick", "--out", dir.path, "--cached-only"])
        XCTAssertEqual(partial.status, 1, partial.stderr)
        XCTAssertTrue(partial.stdout.contains("planned runs not in the cache"), partial.stdout)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("runs").path).count, 1, "--cached-only trained something")
        for (args, needle) in [
            (["study", "recall", "--quick", "--out", dir.path, "--run", "attention-000000000000"], "--plan"),
            (["study", "equivalence", "--quick", "--out", dir.path, "--plan"], "not made of independent runs"),
            (["study", "long-context", "--quick", "--out", dir.path, "--run", "attention-000000000000"], "--plan"),
            (["study", "recall", "--plan", "--run", key], "exclude each other"),
        ] {
            let r = try lab(args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(needle), "\(args): \(r.stderr)")
        }
    }

    /// The training studies take --plan too (long-context: no corpus needed): one line per model, each keyed
    /// by its cache directory under runs/; the help names every study that has --plan.
    func testTrainingStudiesPlan() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let plan = try lab(["study", "long-context", "--quick", "--out", dir.path, "--plan"])
        XCTAssertEqual(plan.status, 0, plan.stderr)
        let lines = plan.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 5 * 2, "wave 1: 5 layers × 2 lrs at the selection seed\n" + plan.stdout)
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("lab study long-context --quick --out ") && $0.contains(" --run ") }, plan.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("runs").path), "--plan trained something")
        let help = try lab(["study", "--help"])
        for name in ["recall", "perplexity", "ablation", "minibatch", "long-context"] { XCTAssertTrue(help.stdout.contains(name), name) }
        // --layers: registry names, carried into every plan line; refused for an unknown name or a study without layers.
        let family = try lab(["study", "long-context", "--quick", "--out", dir.path, "--layers", "attention,ttt-gla", "--plan"])
        XCTAssertEqual(family.status, 0, family.stderr)
        let flines = family.stdout.split(separator: "\n")
        XCTAssertEqual(flines.count, 2 * 2, family.stdout)
        XCTAssertTrue(flines.allSatisfy { $0.contains("--layers attention,ttt-gla --") && $0.contains(" --run ") }, family.stdout)
        XCTAssertTrue(flines.contains { $0.contains("--run ttt-gla-") }, family.stdout)
        let bad = try lab(["study", "long-context", "--quick", "--out", dir.path, "--layers", "attention,ttt-nope", "--plan"])
        XCTAssertEqual(bad.status, 2, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("ttt-nope"), bad.stderr)
        let noLayers = try lab(["study", "flops", "--quick", "--out", dir.path, "--layers", "attention"])
        XCTAssertEqual(noLayers.status, 2, noLayers.stderr)
        XCTAssertTrue(noLayers.stderr.contains("--layers"), noLayers.stderr)
    }
}
