// LongContextStudyTests.swift — the dictionary stream (layout, first occurrences, Zipf law, distinct-key
// expectation), the value-only loss, state-matched Mamba, and the long-context study's quick preset end to end.
import Foundation
import XCTest
@testable import Layers
@testable import Models
@testable import Studies
import StudyKit
import TensorCore

final class LongContextStudyTests: XCTestCase {
    /// Records are key–value pairs; a key always carries the same value within a sequence; `isNew` marks
    /// exactly the first occurrences; keys and values come from their ranges; a seed gives the same sequence.
    func testSequenceLayout() throws {
        let task = DictionaryTask(records: 200, keys: 20, zipf: 1)
        try task.validate()
        var rng = RNG(seed: 1)
        let s = task.sequence(rng: &rng)
        XCTAssertEqual(s.tokens.count, 2 * 200 + 1)
        XCTAssertEqual(s.isNew.count, 200)
        var dict: [Int: Int] = [:]
        for r in 0..<200 {
            let k = s.tokens[2 * r], v = s.tokens[2 * r + 1]
            XCTAssertTrue(DictionaryTask.keyTokens.contains(k))
            XCTAssertTrue(DictionaryTask.valueTokens.contains(v))
            XCTAssertEqual(s.isNew[r], dict[k] == nil, "record \(r)")
            if let old = dict[k] { XCTAssertEqual(old, v, "key \(k) changed its value") }
            dict[k] = v
        }
        XCTAssertLessThanOrEqual(dict.count, 20)
        var rng2 = RNG(seed: 1)
        XCTAssertEqual(task.sequence(rng: &rng2).tokens, s.tokens)
        var rng3 = RNG(seed: 2)
        XCTAssertNotEqual(task.sequence(rng: &rng3).tokens, s.tokens)
        XCTAssertEqual(task.oracleLoss(isNew: true), log(128), accuracy: 1e-12)
        XCTAssertEqual(task.oracleLoss(isNew: false), 0)
        XCTAssertThrowsError(try DictionaryTask(records: 4, keys: 128, zipf: 1).validate())
        XCTAssertThrowsError(try DictionaryTask(records: 0, keys: 8, zipf: 1).validate())
    }

    /// The expected number of distinct keys matches a simulation within 3%; the rank-1 key's frequency matches
    /// the Zipf law within 10%; control: s = 0 (uniform) gives clearly more distinct keys.
    func testZipfAndDistinctKeys() {
        let task = DictionaryTask(records: 64, keys: 48, zipf: 1)
        var rng = RNG(seed: 7)
        var distinct = 0.0, top = 0.0
        let n = 400
        for _ in 0..<n {
            let s = task.sequence(rng: &rng)
            distinct += Double(s.isNew.filter { $0 }.count)
            // The most frequent key of the sequence approximates rank 1.
            var count: [Int: Int] = [:]
            for r in 0..<64 { count[s.tokens[2 * r], default: 0] += 1 }
            top += Double(count.values.max()!) / 64
        }
        let expected = task.expectedDistinct(after: 64)
        XCTAssertEqual(distinct / Double(n), expected, accuracy: 0.03 * expected)
        let p1 = 1 / (1...48).reduce(0.0) { $0 + 1 / Double($1) }
        XCTAssertEqual(top / Double(n), p1, accuracy: 0.1 * p1 + 0.03)        // max count is biased up a little
        let uniform = DictionaryTask(records: 64, keys: 48, zipf: 0)
        XCTAssertGreaterThan(uniform.expectedDistinct(after: 64), expected + 5)
    }

    /// The value-only loss is the mean of the per-value losses (relative 1e-5); control: a model scored on
    /// other targets gives a different mean.
    func testValueLossesAverageToTheTrainingLoss() throws {
        let mc = ModelConfig(layer: "ttt-linear", vocab: 256, width: 16, heads: 2, layers: 1, mlpHidden: 24, miniBatch: 4)
        let model = try LanguageModel(config: mc, seed: 3)
        let task = DictionaryTask(records: 8, keys: 6, zipf: 1)
        var rng = RNG(seed: 4)
        let seqs = task.batch(count: 3, rng: &rng)
        let per = DictionaryTrainer.valueLosses(model, seqs, chunk: 2)
        XCTAssertEqual(per.count, 3)
        XCTAssertTrue(per.allSatisfy { $0.count == 8 })
        let mean = per.flatMap { $0 }.reduce(0, +) / 24
        let ref = Double(withNoGrad { DictionaryTrainer.loss(model, seqs).item })
        XCTAssertEqual(mean, ref, accuracy: 1e-5 * ref)
        var shifted = seqs
        for i in shifted.indices { for r in 0..<8 { shifted[i].tokens[2 * r + 1] = 128 + (shifted[i].tokens[2 * r + 1] + 1) % 128 } }
        let other = DictionaryTrainer.valueLosses(model, shifted).flatMap { $0 }.reduce(0, +) / 24
        XCTAssertGreaterThan(abs(other - mean), 1e-4)
    }

    /// The state-matched Mamba's state bytes are within 5% of TTT-Linear's; the default Mamba's are not
    /// (the control), so matching did something.
    func testMatchedMambaState() throws {
        let s = LongContextStudy.standardSetup
        let T = s.task.length
        let ttt = try DictionaryTrainer.stateBytes(try s.modelConfig(layer: "ttt-linear"), context: T)
        let matched = try DictionaryTrainer.stateBytes(try s.modelConfig(layer: "mamba@ttt-linear"), context: T)
        let plain = try DictionaryTrainer.stateBytes(try s.modelConfig(layer: "mamba"), context: T)
        XCTAssertEqual(Double(matched), Double(ttt), accuracy: 0.05 * Double(ttt))
        XCTAssertGreaterThan(abs(Double(plain - ttt)), 0.05 * Double(ttt))
        // Attention's state (its KV cache) grows with the context; TTT's does not.
        let attn = try s.modelConfig(layer: "attention")
        XCTAssertGreaterThan(try DictionaryTrainer.stateBytes(attn, context: 2 * T), try DictionaryTrainer.stateBytes(attn, context: T))
        XCTAssertEqual(try DictionaryTrainer.stateBytes(try s.modelConfig(layer: "ttt-linear"), context: 2 * T), ttt)
        // The pre-conv block is on for the non-Mamba layers.
        XCTAssertEqual(attn.backbone, .tttMamba)
        XCTAssertEqual(try s.modelConfig(layer: "mamba").backbone, .mambaStack)
    }

    /// `lab study long-context --quick`: PASS, every output, one row per model; a re-run reuses every run.
    func testQuickPresetEndToEndAndCache() throws {
        let dir = temporaryStudyDirectory("long-context-study")
        defer { try? FileManager.default.removeItem(at: dir) }
        let runner = StudyRunner(locateGnuplot: { throw StudyKitError.invalid("no gnuplot in tests") })
        let (r, report) = try runner.run(LongContextStudy(), preset: .quick, seed: 0, to: dir, reporter: ProgressReporter(mode: .silent))
        XCTAssertTrue(r.verdict.passed, r.verdict.summary.joined(separator: "\n"))
        let n = LongContextStudy.quickSetup.layers.count
        XCTAssertEqual(r.tables.first { $0.name == "models" }?.rows.count, n)
        XCTAssertEqual(r.tables.first { $0.name == "loss-by-record" }?.rows.count, n + 2)   // + oracle, distinct keys
        for f in ["long-context.md", "models.csv", "loss-by-record.csv", "excess-by-record.csv", "loss-by-record-index.dat"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), f)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: report.markdown.path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("runs").path).count, n)
        let (r2, _) = try runner.run(LongContextStudy(), preset: .quick, seed: 0, to: dir, reporter: ProgressReporter(mode: .silent))
        XCTAssertTrue(r2.verdict.summary[0].contains("(\(n) reused from the cache)"), r2.verdict.summary[0])
        XCTAssertEqual(r2.tables.map { $0.csv() }.filter { !$0.contains("train time") }, r.tables.map { $0.csv() }.filter { !$0.contains("train time") })
    }

    /// `lab study long-context --plan / --run / --cached-only`: one run per layer entry, keyed `<layer>-<hash>`
    /// like its directory under `runs/` (``checkPlanRunAssembly``).
    func testPlanRunAssembly() throws {
        try checkPlanRunAssembly(LongContextStudy(), runs: LongContextStudy.quickSetup.layers.count)
    }

    func testIsListed() throws {
        XCTAssertEqual(try StudyCatalog.named("long-context").name, "long-context")
    }
}
