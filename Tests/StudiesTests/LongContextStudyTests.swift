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

    /// Every fixed-state layer of the default and full presets (the family plugins included) is within 15% of
    /// TTT-Linear's persistent state, and every model within 10% of the Transformer's parameters. Controls:
    /// TTT-MLP at the setup's heads and the lab's default Mamba (N = 16, twice the blocks) are far off, so
    /// the matching did something; attention's state grows with T, TTT's does not.
    func testStateAndParametersMatched() throws {
        for s in [LongContextStudy.standardSetup, LongContextStudy.fullSetup] {
            let m = s.matching
            let target = Double(try m.targetStateBytes()), params = Double(try m.targetParameters())
            XCTAssertTrue(s.layers.contains("ttt-mlp") && s.layers.contains("mamba"))
            // LaCT's SwiGLU fast weights: the closest head count (8 × d_h 8) leaves it 25% under the target;
            // it is trained and reported as "not matched" and judged by no criterion.
            let knownUnmatched: Set<String> = ["ttt-lact"]
            for l in s.layers {
                let c = try s.modelConfig(layer: l)
                let p = Double(try c.parameterCount())
                XCTAssertLessThanOrEqual(abs(p - params), 0.10 * params, "\(l): \(p) parameters vs \(params)")
                if try StateMatching.kind(l) == .fixed {
                    let st = Double(try m.persistentStateBytes(c))
                    if knownUnmatched.contains(l) {
                        XCTAssertGreaterThan(abs(st - target), 0.15 * target, "\(l) is matched now: drop it from knownUnmatched and the README's note")
                    } else {
                        XCTAssertLessThanOrEqual(abs(st - target), 0.15 * target, "\(l): state \(st) vs \(target)")
                    }
                }
            }
            // Controls.
            let unmatchedMLP = Double(try m.persistentStateBytes(m.base("ttt-mlp")))
            XCTAssertGreaterThan(abs(unmatchedMLP - target), 0.15 * target, "TTT-MLP at H\(s.heads) must be off (8×)")
            var plain = ModelConfig(layer: "mamba", vocab: 256, width: s.width, heads: s.heads, layers: 2 * s.blocks, mlpHidden: 0)
            plain.layerOptions = nil
            XCTAssertGreaterThan(abs(Double(try m.persistentStateBytes(plain)) - target), 0.15 * target)
            XCTAssertGreaterThan(abs(Double(try plain.parameterCount()) - params), 0.10 * params, "the default Mamba stack has too many parameters")
        }
        let s = LongContextStudy.standardSetup, T = s.task.length
        XCTAssertEqual(try s.modelConfig(layer: "ttt-mlp").heads, 16, "TTT-MLP matched at 16 heads of d_h 4")
        let attn = try s.modelConfig(layer: "attention")
        XCTAssertEqual(try StateMatching.kind("attention"), .growing)
        XCTAssertGreaterThan(try attn.stateBytes(context: 2 * T), try attn.stateBytes(context: T))
        let ttt = try s.modelConfig(layer: "ttt-linear")
        XCTAssertEqual(try ttt.stateBytes(context: 2 * T), try ttt.stateBytes(context: T))
        XCTAssertEqual(attn.backbone, .tttMamba, "the pre-conv block is on for the non-Mamba layers")
        XCTAssertEqual(try s.modelConfig(layer: "mamba").backbone, .mambaStack)
    }

    /// `lab study long-context --quick`: PASS; one models row per layer and 5 runs per layer (2 lrs at the
    /// selection seed + 3 fresh seeds); numeric CSV cells (mean, SE, n apart; lr as 3e-3); a re-run reuses every run.
    func testQuickPresetEndToEndAndCache() throws {
        let dir = temporaryStudyDirectory("long-context-study")
        defer { try? FileManager.default.removeItem(at: dir) }
        let runner = StudyRunner(locateGnuplot: { throw StudyKitError.invalid("no gnuplot in tests") })
        let (r, report) = try runner.run(LongContextStudy(), preset: .quick, seed: 0, to: dir, reporter: ProgressReporter(mode: .silent))
        XCTAssertTrue(r.verdict.passed, r.verdict.summary.joined(separator: "\n"))
        let n = LongContextStudy.quickSetup.layers.count
        let models = try XCTUnwrap(r.tables.first { $0.name == "models" }), runs = try XCTUnwrap(r.tables.first { $0.name == "runs" })
        XCTAssertEqual(models.rows.count, n)
        XCTAssertEqual(runs.rows.count, n * (2 + 3))
        XCTAssertEqual(r.tables.first { $0.name == "loss-by-record" }?.rows.count, n + 2)   // + oracle, distinct keys
        for t in r.tables { XCTAssertGreaterThan(assertNumericCSV(t), 0, t.name) }
        XCTAssertFalse(models.csv().contains("±"))
        let lrs = TestCSV.rows(models.csv()).dropFirst().map { $0[models.columns.firstIndex { $0.name == "lr" }!] }
        XCTAssertTrue(lrs.allSatisfy { ["3e-3", "1e-2"].contains($0) }, "\(lrs)")
        XCTAssertTrue(models.columns.contains { $0.name == "parameters" } && models.columns.contains { $0.name == "seeds" })
        XCTAssertTrue(models.rows.allSatisfy { $0[models.columns.firstIndex { $0.name == "seeds" }!] == .integer(3) })
        // Control: a cell like "+0.123 ± 0.004" would fail the numeric check.
        var bad = models
        bad.rows[0][models.columns.firstIndex { $0.name == "excess last octave mean" }!] = .text("+0.123 ± 0.004")
        XCTAssertEqual(numericCSVProblems(bad).problems.count, 1)
        for f in ["long-context.md", "models.csv", "runs.csv", "loss-by-record.csv", "excess-by-record.csv", "loss-by-record-index.dat"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), f)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: report.markdown.path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("runs").path).count, n * 5)
        let (r2, _) = try runner.run(LongContextStudy(), preset: .quick, seed: 0, to: dir, reporter: ProgressReporter(mode: .silent))
        XCTAssertTrue(r2.tables.first { $0.name == "runs" }!.rows.allSatisfy { $0.last == .text("yes") })
        XCTAssertEqual(r2.tables.map { withoutTimings($0) }.filter { $0.name != "runs" }, r.tables.map { withoutTimings($0) }.filter { $0.name != "runs" })
    }

    /// The lr is selected on the validation stream only; the reported seeds are fresh (the Sweep's audit and
    /// seed check); a diverged selection run is never chosen.
    func testSelectionOnValidationAndFreshSeeds() throws {
        let s = LongContextStudy.quickSetup
        let sw = try LongContextStudy().sweep(s, StudyContext(outputDirectory: temporaryStudyDirectory("lc-sweep"), preset: .quick, seed: 5))
        XCTAssertEqual(sw.selectionSeeds, [5])
        XCTAssertEqual(sw.reportedSeeds, [6, 7, 8])
        XCTAssertEqual(sw.convention, .pairedBySeed)
        let scores: SelectionRule.Scores = [("3e-3", [SweepMetrics(validation: .nan, test: 0)]), ("1e-2", [SweepMetrics(validation: 2.0, test: 9)]),
                                            ("3e-2", [SweepMetrics(validation: 1.5, test: 99)])]
        XCTAssertEqual(LongContextStudy.selectionRule.choose(scores), 2, "lowest validation loss; diverged (nan) never")
    }

    /// The criterion over seeds: a Transformer on the oracle, fixed-state layers far behind and growing, a TTT
    /// layer close to the Transformer → reproduces; control: the same TTT layer far behind → partly.
    func testCriterionOverSeeds() throws {
        func m(_ excess: Double, growth: Double, gain: Double) -> RecordMeasures {
            var r = RecordMeasures([], sequences: [], task: DictionaryTask(records: 4, keys: 2, zipf: 1))
            r.excessLast = excess; r.growth = growth; r.gain = gain
            return r
        }
        /// Per seed 1, 2, 3: base + the seed's noise (a different pattern per layer, so paired differences vary).
        func arm(_ base: (Double, Double, Double), noise: [Double] = [0.01, 0.03, 0.02]) -> [UInt64: RecordMeasures] {
            Dictionary(uniqueKeysWithValues: (0..<3).map { (UInt64($0 + 1), m(base.0 + noise[$0], growth: base.1 + noise[$0], gain: base.2 + noise[$0])) })
        }
        var measures: [String: [UInt64: RecordMeasures]] = [
            "attention": arm((0.001, 0.0, 2.6)), "linear-attention": arm((1.3, 1.2, 1.0)), "mamba": arm((1.9, 1.7, 0.5)),
            "ttt-linear": arm((0.002, 0.001, 2.6), noise: [0.03, 0.01, 0.02]), "ttt-mlp": arm((0.0, 0.0, 2.6), noise: [0.02, 0.01, 0.04]),
        ]
        let yes = try LongContextCriterion.judge(measures)
        XCTAssertEqual(yes.word, "reproduces", yes.lines.joined(separator: "\n"))
        XCTAssertEqual(yes.comparisons, 1 + 4 + 2)
        measures["ttt-mlp"] = arm((0.9, 0.8, 1.5))
        let partly = try LongContextCriterion.judge(measures)
        XCTAssertEqual(partly.word, "partly reproduces", partly.lines.joined(separator: "\n"))
        XCTAssertEqual(partly.c3["ttt-mlp"], false)
        measures["attention"] = arm((0.9, 0.0, 0.0))
        XCTAssertEqual(try LongContextCriterion.judge(measures).word, "does not reproduce")
    }

    /// --plan/--run in two waves (selection, then the report wave at fresh seeds once the first is cached), then
    /// assembly from the cache equals a direct run; a missing run fails the cached-only assembly and names it.
    func testPlanRunInWaves() throws {
        let study = try LongContextStudy().selecting(layers: ["attention", "ttt-linear"])
        let silent = ProgressReporter(mode: .silent)
        let shared = temporaryStudyDirectory("lc-plan"), local = temporaryStudyDirectory("lc-direct")
        defer { try? FileManager.default.removeItem(at: shared); try? FileManager.default.removeItem(at: local) }
        let ctx = StudyContext(outputDirectory: shared, preset: .quick, seed: 0, reporter: silent)
        let empty = try study.cachedOnly().run(ctx)
        XCTAssertFalse(empty.verdict.passed)
        XCTAssertTrue(empty.verdict.summary[0].contains("4 of 4 planned runs not in the cache"), empty.verdict.summary[0])
        var waves = 0, performed = Set<String>()
        while true {
            let lines = try study.planLines(ctx, command: "lab study long-context --quick --layers attention,ttt-linear")
            if lines.isEmpty { break }
            waves += 1
            for line in lines {
                let words = line.split(separator: " ").map(String.init)
                let key = words[words.firstIndex(of: "--run")! + 1]
                XCTAssertFalse(try study.perform(key: key, ctx))
                performed.insert(key)
            }
            XCTAssertLessThan(waves, 4)
        }
        XCTAssertEqual(waves, 2)
        XCTAssertEqual(performed.count, 2 * 2 + 2 * 3)
        XCTAssertThrowsError(try study.perform(key: "attention-000000000000", ctx))
        let assembled = try study.cachedOnly().run(ctx)
        XCTAssertTrue(assembled.verdict.passed, assembled.verdict.summary.joined(separator: "\n"))
        let direct = try study.run(StudyContext(outputDirectory: local, preset: .quick, seed: 0, reporter: silent))
        XCTAssertEqual(assembled.tables.map(\.name), direct.tables.map(\.name))
        for (a, d) in zip(assembled.tables, direct.tables) where a.name != "runs" { XCTAssertEqual(withoutTimings(a), withoutTimings(d), a.name) }
        XCTAssertThrowsError(try LongContextStudy().selecting(layers: ["attention", "no-such-layer"]))
        XCTAssertThrowsError(try LongContextStudy().selecting(layers: ["attention", "attention"]))
    }

    func testIsListed() throws {
        XCTAssertEqual(try StudyCatalog.named("long-context").name, "long-context")
    }
}
