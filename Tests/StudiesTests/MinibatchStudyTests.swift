// MinibatchStudyTests.swift — the minibatch study on a small generated corpus (never the real one):
// its quick preset end to end, checkpoint reuse, bad input, and the rank statistic.
import Foundation
import Layers
import Models
import StudyKit
import TensorCore
import XCTest
@testable import Studies

final class MinibatchStudyTests: XCTestCase {
    func scratch() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("lab-minibatch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: d) }
        return d
    }

    /// A small generated corpus written in the on-disk format (learnable sentences, 12 documents).
    func writeCorpus(to dir: URL) throws {
        let sentences = ["the cat sat on the mat. ", "a dog ran in the park. ", "we like to read books. ", "it is cold at night. "]
        var rng = RNG(seed: 1)
        var docs: [Document] = []
        for i in 0..<12 {
            var text = ""
            while text.utf8.count < 600 { text += sentences[Int(rng.next() % UInt64(sentences.count))] }
            docs.append(Document(name: String(format: "doc%02d", i), source: "synthetic", bytes: Array(text.utf8.prefix(600))))
        }
        try Corpus.write(docs, sources: [], to: dir)
    }

    func testGridEndsAtT() {
        XCTAssertEqual(MinibatchStudy.grid(128), [1, 2, 4, 8, 16, 32, 64, 128])
        XCTAssertEqual(MinibatchStudy.grid(16), [1, 2, 4, 8, 16])
        XCTAssertEqual(MinibatchStudy.standardSetup.miniBatches, [1, 2, 4, 8, 16, 32, 64, 128])
        XCTAssertEqual(MinibatchStudy.standardSetup.miniBatches(rope: false), MinibatchStudy.standardSetup.miniBatches, "the default control arm runs every b")
    }

    /// Quick preset end to end: one row per (arm, b) — RoPE within mini-batches and the RoPE-off control —
    /// with finite losses and step times, a two-panel chart with one series per arm; a run per (arm, seed, b);
    /// the second run reuses every checkpoint (same numbers, marked cached).
    func testQuickPresetEndToEndAndReuse() throws {
        let data = try scratch(), out = try scratch()
        try writeCorpus(to: data)
        let silent = ProgressReporter(mode: .silent)
        let runner = StudyRunner(locateGnuplot: { throw StudyKitError.invalid("no gnuplot in tests") })
        let study = MinibatchStudy().withData(data)
        let q = MinibatchStudy.quickSetup
        let (r, report) = try runner.run(study, preset: .quick, seed: 0, to: out, reporter: silent)
        XCTAssertTrue(r.verdict.passed, r.verdict.summary.joined(separator: "\n"))
        let t = r.tables.first { $0.name == "minibatch" }!
        XCTAssertEqual(t.rows.count, 2 * q.miniBatches.count)
        XCTAssertEqual(t.rows.filter { $0.first == .text("RoPE off (control)") }.count, q.miniBatches.count)
        XCTAssertEqual(t.rows.last?[1], .text("16 (= T)"))
        for row in t.rows {
            guard case .number(let loss) = row[3], case .number(let ms) = row[8] else { return XCTFail("\(row)") }
            XCTAssertTrue(loss.isFinite && loss > 0 && loss < 10, "loss \(loss)")
            XCTAssertGreaterThan(ms, 0)
            XCTAssertEqual(row.last, .text("no"))
        }
        XCTAssertEqual(r.charts.first?.panels.count, 2)
        XCTAssertEqual(r.charts.first?.panels.first?.series.count, 2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: report.markdown.path))
        let runs = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("runs").path)
        XCTAssertEqual(runs.count, 2 * q.seeds * q.miniBatches.count)

        let (r2, _) = try runner.run(study, preset: .quick, seed: 0, to: out, reporter: silent)
        let t2 = r2.tables.first { $0.name == "minibatch" }!
        XCTAssertTrue(t2.rows.allSatisfy { $0.last == .text("yes") })
        XCTAssertEqual(t2.rows.map { $0[3] }, t.rows.map { $0[3] }, "reused runs give the same validation losses")
    }

    /// `lab study minibatch --plan / --run / --cached-only`: one run per (arm, seed, b), keyed by its checkpoint
    /// directory `runs/b<b>-<hash>` (``checkPlanRunAssembly``).
    func testPlanRunAssembly() throws {
        let data = try scratch()
        try writeCorpus(to: data)
        let q = MinibatchStudy.quickSetup
        try checkPlanRunAssembly(MinibatchStudy().withData(data), runs: 2 * q.seeds * q.miniBatches.count)
        XCTAssertFalse(MinibatchStudy().withData(data).cachedOnly().withData(data).trainsMissing, "withData keeps cached-only")
    }

    /// A control arm over a subset of b (an option for larger presets): only those runs are planned, the
    /// table has control rows only at those b, and the verdict's b = 16 vs b = T effect is still computed for
    /// both arms. Negative control: the same setup without the subset plans every b in both arms.
    func testControlArmSubset() throws {
        let data = try scratch(), out = try scratch()
        try writeCorpus(to: data)
        var q = MinibatchStudy.quickSetup
        q.controlMiniBatches = [16]
        XCTAssertEqual(q.miniBatches(rope: true), q.miniBatches)
        XCTAssertEqual(q.miniBatches(rope: false), [16])
        let study = MinibatchStudy(dataDirectory: data, setup: q)
        let ctx = StudyContext(outputDirectory: out, preset: .quick, seed: 0, reporter: ProgressReporter(mode: .silent))
        XCTAssertEqual(try study.plan(ctx).count, q.seeds * (q.miniBatches.count + 1))
        var all = q; all.controlMiniBatches = nil
        XCTAssertEqual(try MinibatchStudy(dataDirectory: data, setup: all).plan(ctx).count, 2 * q.seeds * q.miniBatches.count)
        let runner = StudyRunner(locateGnuplot: { throw StudyKitError.invalid("no gnuplot in tests") })
        let (r, _) = try runner.run(study, preset: .quick, seed: 0, to: out, reporter: ProgressReporter(mode: .silent))
        XCTAssertTrue(r.verdict.passed, r.verdict.summary.joined(separator: "\n"))
        let control = r.tables.first { $0.name == "minibatch" }!.rows.filter { $0.first == .text("RoPE off (control)") }
        XCTAssertEqual(control.map { $0[1] }, [.text("16 (= T)")])
        // At T = 16, b = 16 is b = T: the control arm's paired effect is exactly zero, and it is reported.
        XCTAssertTrue(r.verdict.summary.contains { $0.contains("RoPE off +0.0000 ± 0.0000") }, r.verdict.summary.joined(separator: "\n"))
    }

    /// The control arm differs from the main arm only in RoPE (same weights at init: RoPE has no parameters).
    func testRopeControlChangesOnlyRope() throws {
        let s = MinibatchStudy.standardSetup
        var on = try s.model(b: 16).layerConfig, off = try s.model(b: 16, rope: false).layerConfig
        XCTAssertTrue(on.ttt.rope)
        XCTAssertFalse(off.ttt.rope)
        on.ttt.rope = false
        XCTAssertEqual(on, off)
        XCTAssertNotEqual(MinibatchStudy.key(try s.model(b: 16), s.train(seed: 0), corpus: "x"),
                          MinibatchStudy.key(try s.model(b: 16, rope: false), s.train(seed: 0), corpus: "x"))
    }

    /// The science rule: a b = 16 win by > 2 SE with RoPE off reproduces; only with RoPE on is partial.
    func testScienceVerdictRule() {
        XCTAssertTrue(MinibatchStudy.scienceVerdict(ropeOn: (-0.05, 0.01), ropeOff: (-0.04, 0.01)).hasPrefix("REPRODUCES"))
        XCTAssertTrue(MinibatchStudy.scienceVerdict(ropeOn: (-0.05, 0.01), ropeOff: (-0.01, 0.01)).hasPrefix("PARTLY"))
        XCTAssertTrue(MinibatchStudy.scienceVerdict(ropeOn: (-0.01, 0.01), ropeOff: (0.02, 0.01)).hasPrefix("does NOT"))
        XCTAssertTrue(MinibatchStudy.scienceVerdict(ropeOn: nil, ropeOff: nil).hasPrefix("does NOT"))
    }

    /// Without a corpus the study stops with the corpus loader's one-line error (the CLI exits 2).
    func testMissingCorpusIsAOneLineError() throws {
        let empty = try scratch()
        let ctx = StudyContext(outputDirectory: try scratch(), preset: .quick, reporter: ProgressReporter(mode: .silent))
        XCTAssertThrowsError(try MinibatchStudy(dataDirectory: empty).run(ctx)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("manifest.json"), text)
            XCTAssertFalse(text.contains("\n"))
        }
    }

    /// The cache key changes with b, and with the corpus.
    func testKeyDependsOnConfigAndCorpus() throws {
        let s = MinibatchStudy.quickSetup
        let a = MinibatchStudy.key(try s.model(b: 4), s.train(seed: 0), corpus: "x")
        XCTAssertTrue(a.hasPrefix("b4-"))
        XCTAssertNotEqual(a, MinibatchStudy.key(try s.model(b: 8), s.train(seed: 0), corpus: "x"))
        XCTAssertNotEqual(a, MinibatchStudy.key(try s.model(b: 4), s.train(seed: 0), corpus: "y"))
        XCTAssertEqual(a, MinibatchStudy.key(try s.model(b: 4), s.train(seed: 0), corpus: "x"))
    }

    func testSpearman() {
        XCTAssertEqual(spearman([1, 2, 3, 4], [10, 20, 30, 40])!, 1, accuracy: 1e-12)
        XCTAssertEqual(spearman([1, 2, 3, 4], [4, 3, 2, 1])!, -1, accuracy: 1e-12)
        XCTAssertEqual(spearman([1, 2, 3], [1, 1, 2])!, 0.8660254, accuracy: 1e-6)
        XCTAssertNil(spearman([1, 2], [1, 2]))
        XCTAssertNil(spearman([1, 2, 3], [5, 5, 5]))
    }
}
