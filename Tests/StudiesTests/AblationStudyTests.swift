// AblationStudyTests.swift — the Table 1 ladder's rungs map onto the right switches, rung 3 is the same
// function as rung 2 (Theorem 1) and the check is not blind, and the quick preset runs end to end.
import Foundation
import XCTest
@testable import Layers
@testable import Models
@testable import Studies
import StudyKit
import TensorCore

final class AblationStudyTests: XCTestCase {
    let s = AblationStudy.settings(.quick)

    /// Eight rungs, each a different model; rung 3 is batch GD (b = T); rung 7 is the default
    /// TTT-Linear (T) and rung 8 the default TTT-Linear (M), exactly.
    func testRungsMapOntoTheSwitches() throws {
        let configs = AblationStudy.rungs.map { AblationStudy.config($0, s) }
        XCTAssertEqual(configs.count, 8)
        XCTAssertEqual(AblationStudy.rungs.map(\.paper), [15.91, 15.23, 15.23, 15.27, 14.05, 12.35, 11.99, 11.09])
        for (a, b) in zip(configs, configs.dropFirst()) { XCTAssertNotEqual(a, b) }
        XCTAssertEqual(configs[0].layerConfig.linearAttention, "elu")
        XCTAssertEqual(configs[1].layerConfig.linearAttention, "simple")
        XCTAssertEqual(configs[2].miniBatch, s.context)
        XCTAssertEqual(configs[2].layerConfig.ttt.fixedEta, 1)
        XCTAssertFalse(configs[2].layerConfig.ttt.learnableW0)
        XCTAssertEqual(configs[5].miniBatch, 16)
        let plain = ModelConfig(layer: "ttt-linear", width: s.width, heads: s.heads, layers: s.layers, mlpHidden: s.mlpHidden)
        XCTAssertEqual(configs[6].layerConfig, plain.layerConfig)
        let mamba = ModelConfig(layer: "ttt-linear-m", width: s.width, heads: s.heads, layers: s.layers, mlpHidden: s.mlpHidden)
        XCTAssertEqual(configs[7].layerConfig, mamba.layerConfig)
        XCTAssertEqual(configs[7].backbone, .tttMamba)
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

    /// `lab study ablation --quick` on a generated corpus: PASS, eight rows beside the paper's numbers.
    func testQuickPresetEndToEnd() throws {
        let dir = temporaryStudyDirectory("ablation-study")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (r, _) = try StudyRunner().run(AblationStudy(corpus: studyTestCorpus()), preset: .quick, seed: 0, to: dir,
                                           reporter: ProgressReporter(mode: .silent))
        XCTAssertTrue(r.verdict.passed, r.verdict.summary.joined(separator: "\n"))
        let ladder = try XCTUnwrap(r.tables.first { $0.name == "ladder" })
        XCTAssertEqual(ladder.rows.count, 8)
        for f in ["ablation.md", "ladder.csv", "rung-options.csv", "ladder.dat", "ladder.gp"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), f)
        }
        XCTAssertTrue(try String(contentsOf: dir.appendingPathComponent("ablation.md"), encoding: .utf8).contains("15.91"))
    }
}
