// AblationStudyTests.swift — the Table 1 ladder's rungs map onto the right switches, rung 3 is the same
// function as rung 2 (Theorem 1) and the check is not blind, and the quick preset runs end to end.
import Foundation
import XCTest
@testable import Layers
@testable import Models
@testable import Studies
import StudyKit
import TensorCore
import Zoo

final class AblationStudyTests: XCTestCase {
    let s = AblationStudy.settings(.quick)

    /// Eleven rungs, each a different model; rung 3 is batch GD (b = T); rungs 6, 7, 8 add b = 16, then RoPE,
    /// then c_i, one switch each; rung 9 (the lab's control) is rung 8 with only the fixed step size changed to
    /// the learnable gate's initial value; rung 10 is the default TTT-Linear (T) and rung 11 the default (M), exactly.
    func testRungsMapOntoTheSwitches() throws {
        let configs = AblationStudy.rungs.map { AblationStudy.config($0, s) }
        XCTAssertEqual(configs.count, 11)
        XCTAssertEqual(AblationStudy.rungs.map(\.paper), [15.91, 15.23, 15.23, 15.27, 14.05, nil, nil, 12.35, nil, 11.99, 11.09])
        XCTAssertEqual(AblationStudy.paperPredecessor(9), 7, "the paper's 'learnable η' step is measured from the full mini-batch rung")
        XCTAssertEqual(AblationStudy.paperPredecessor(7), 4, "the paper's 'mini-batch TTT' step spans the split")
        XCTAssertNil(AblationStudy.paperPredecessor(8))
        XCTAssertNil(AblationStudy.paperPredecessor(5))
        // The split: one switch per rung, in the stated order b → RoPE → c_i.
        let a6 = configs[5].layerConfig.ttt, b6 = configs[6].layerConfig.ttt, c6 = configs[7].layerConfig.ttt
        XCTAssertEqual(configs[5].miniBatch, 16)
        XCTAssertFalse(a6.rope); XCTAssertFalse(a6.tokenScaling)
        XCTAssertTrue(b6.rope); XCTAssertFalse(b6.tokenScaling)
        XCTAssertTrue(c6.rope); XCTAssertTrue(c6.tokenScaling)
        var b6off = b6; b6off.rope = false
        XCTAssertEqual(b6off, a6, "rung 7 = rung 6 + RoPE only")
        var c6off = c6; c6off.tokenScaling = false
        XCTAssertEqual(c6off, b6, "rung 8 = rung 7 + c_i only")
        var a6T = a6; a6T.miniBatch = configs[4].layerConfig.ttt.miniBatch
        XCTAssertEqual(a6T, configs[4].layerConfig.ttt, "rung 6 = rung 5 + b = 16 only")
        for (a, b) in zip(configs, configs.dropFirst()) { XCTAssertNotEqual(a, b) }
        XCTAssertEqual(configs[0].layerConfig.linearAttention.variant, "elu")
        XCTAssertEqual(configs[1].layerConfig.linearAttention.variant, "simple")
        XCTAssertEqual(configs[2].miniBatch, s.context)
        XCTAssertEqual(configs[2].layerConfig.ttt.fixedEta, 1)
        XCTAssertFalse(configs[2].layerConfig.ttt.learnableW0)
        XCTAssertEqual(configs[5].miniBatch, 16)
        // Rung 7 = rung 6 with only η changed, to 1/(2d) = the gate (η_base/d)·σ(·) at σ = ½.
        var six = configs[7].layerConfig, seven = configs[8].layerConfig
        XCTAssertEqual(seven.ttt.fixedEta, 0.5 / Float(s.width / s.heads))
        XCTAssertEqual(six.ttt.fixedEta, 1)
        six.ttt.fixedEta = nil; seven.ttt.fixedEta = nil
        XCTAssertEqual(six, seven)
        let plain = ModelConfig(layer: "ttt-linear", width: s.width, heads: s.heads, layers: s.layers, mlpHidden: s.mlpHidden)
        XCTAssertEqual(configs[9].layerConfig, plain.layerConfig)
        XCTAssertEqual(seven, configs[9].layerConfig, "rung 10 differs from rung 9 only in η")
        let mamba = ModelConfig(layer: "ttt-linear-m", width: s.width, heads: s.heads, layers: s.layers, mlpHidden: s.mlpHidden)
        XCTAssertEqual(configs[10].layerConfig, mamba.layerConfig)
        XCTAssertEqual(configs[10].backbone, .tttMamba)
        // The options reach the layer that is built.
        let m3 = try LanguageModel(config: configs[2], seed: 0)
        let layer = try XCTUnwrap(m3.blocks[0].mixer as? TTTLayer)
        XCTAssertEqual(layer.config.ttt.miniBatch, s.context)
        XCTAssertFalse(layer.config.ttt.innerLN)
    }

    /// Theorem 1 at the model level: rung 3 (a TTT layer) and rung 2 (simplest linear attention) built from
    /// the same seed give the same loss (relative 1e-5); control: the TTT rung with RoPE switched on differs.
    func testRungThreeIsRungTwo() throws {
        var rng = RNG(seed: 9)
        let B = 2, T = s.context
        let x = (0..<(B * T)).map { _ in Int(rng.next() % 256) }, y = (0..<(B * T)).map { _ in Int(rng.next() % 256) }
        func loss(_ c: ModelConfig) throws -> Float { try withNoGrad { try LanguageModel(config: c, seed: 4).loss(inputs: x, targets: y, batch: B).item } }
        let l2 = try loss(AblationStudy.config(AblationStudy.rungs[1], s))
        let c3 = AblationStudy.config(AblationStudy.rungs[2], s)
        XCTAssertEqual(try loss(c3), l2, accuracy: 1e-5 * l2)
        var control = c3
        control.layerOptions!.ttt.rope = true
        XCTAssertGreaterThan(abs(try loss(control) - l2), 1e-4)
    }

    /// The learnable gate really starts at ≈ 1/(2d): σ(h·w_lr + β_lr) of a fresh layer averages ½ within 0.05
    /// on random inputs (control: a gate bias of 2 moves it to σ(2) ≈ 0.88, outside the tolerance).
    func testInitialGateIsHalf() throws {
        var rng = RNG(seed: 5)
        let D = 64, n = 256
        let layer = try XCTUnwrap(try LayerRegistry.make("ttt-linear", LayerConfig(width: D, heads: 4), seed: 3) as? TTTLayer)
        let w = try XCTUnwrap(layer.parameters.first { $0.name.contains("learnable_ttt_lr_weight") }).tensor
        func meanGate(bias: Float) -> Double {
            var acc = 0.0
            for _ in 0..<n {
                let h = (0..<D).map { _ in Double(rng.normal()) }
                var z = Double(bias)
                for i in 0..<D { z += h[i] * Double(w.data[i * 4]) }        // w_lr [D, H]: head 0's column
                acc += 1 / (1 + exp(-z))
            }
            return acc / Double(n)
        }
        XCTAssertEqual(meanGate(bias: 0), 0.5, accuracy: 0.05)
        XCTAssertGreaterThan(abs(meanGate(bias: 2) - 0.5), 0.05)
        XCTAssertEqual(AblationStudy.initialGateEta(headDim: 16), 1.0 / 32)
    }

    /// The science verdict rule: all counted steps right + the mini-batch step → reproduces; half → partly.
    func testScienceVerdictRule() {
        XCTAssertEqual(AblationStudy.scienceVerdict(agree: 4, counted: 4, miniBatchCountedRight: true), "REPRODUCES")
        XCTAssertEqual(AblationStudy.scienceVerdict(agree: 4, counted: 4, miniBatchCountedRight: false), "PARTLY reproduces")
        XCTAssertEqual(AblationStudy.scienceVerdict(agree: 2, counted: 4, miniBatchCountedRight: true), "PARTLY reproduces")
        XCTAssertEqual(AblationStudy.scienceVerdict(agree: 1, counted: 4, miniBatchCountedRight: true), "does NOT reproduce")
        XCTAssertEqual(AblationStudy.scienceVerdict(agree: 0, counted: 0, miniBatchCountedRight: false), "does NOT reproduce")
    }

    /// `lab study ablation --quick` on a generated corpus: PASS, eleven rows beside the paper's numbers, 2 seeds.
    /// `lab study ablation --plan / --run / --cached-only`: one run per (rung, seed) (``checkPlanRunAssembly``),
    /// keyed by the model's cache directory.
    func testPlanRunAssembly() throws {
        try checkPlanRunAssembly(AblationStudy(corpus: studyTestCorpus()), runs: AblationStudy.rungs.count * AblationStudy.settings(.quick).seeds)
        let ctx = StudyContext(outputDirectory: temporaryStudyDirectory("ablation-keys"), preset: .quick, seed: 0, reporter: ProgressReporter(mode: .silent))
        XCTAssertTrue(try AblationStudy(corpus: studyTestCorpus()).plan(ctx)[0].key.hasPrefix("rung1-linear-attention-seed0-"))
    }

    func testQuickPresetEndToEnd() throws {
        let dir = temporaryStudyDirectory("ablation-study")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (r, _) = try StudyRunner().run(AblationStudy(corpus: studyTestCorpus()), preset: .quick, seed: 0, to: dir,
                                           reporter: ProgressReporter(mode: .silent))
        XCTAssertTrue(r.verdict.passed, r.verdict.summary.joined(separator: "\n"))
        let ladder = try XCTUnwrap(r.tables.first { $0.name == "ladder" })
        XCTAssertEqual(ladder.rows.count, 11)
        let dirs = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("models").path)
        XCTAssertEqual(dirs.count, 11 * AblationStudy.settings(.quick).seeds, "one model per rung and seed")
        XCTAssertTrue(r.verdict.summary.contains { $0.hasPrefix("Learnable η split") })
        XCTAssertTrue(r.verdict.summary.contains { $0.hasPrefix("Mini-batch split") })
        let perSeed = try XCTUnwrap(r.tables.first { $0.name == "ladder-seeds" })
        XCTAssertEqual(perSeed.rows.count, 11 * AblationStudy.settings(.quick).seeds, "one row per rung and seed")
        XCTAssertFalse(ladder.csv().contains("±"), "numbers in cells, SEs in their own columns")
        for f in ["ablation.md", "ladder.csv", "ladder-seeds.csv", "rung-options.csv", "ladder.dat", "ladder.gp"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), f)
        }
        XCTAssertTrue(try String(contentsOf: dir.appendingPathComponent("ablation.md"), encoding: .utf8).contains("15.91"))
    }
}
