// FlopsStudyTests.swift — counted vs analytic FLOPs per layer (docs/ttt.md §5, docs/baselines.md §5), the
// negative control, the Fig. 2 FLOP matching, and the `flops` study's quick preset end to end.
import Foundation
import Layers
import StudyKit
import TensorCore
import XCTest
import Zoo
@testable import Studies

final class FlopsStudyTests: XCTestCase {
    /// A tiny config: D = 32, H = 4 (d = 8), T = 32 (two TTT mini-batches of 16).
    let tiny = LayerConfig(width: 32, heads: 4)
    let T = 32
    /// The tolerance: counted within 5% of the formula.
    let tolerance = 0.05

    /// Every registered layer (the five paper layers and ttt-*-m) in the form its formula describes:
    /// counted (GEMMs + convs/scan) within 5% of `flopsPerToken`.
    func testCountedMatchesAnalyticForEveryLayer() throws {
        var names = LayerRegistry.paperLayers
        for n in LayerRegistry.names where !names.contains(n) { names.append(n) }
        XCTAssertTrue(names.contains("ttt-linear-m") && names.contains("ttt-mlp-m"))
        for name in names {
            let m = try FlopAccounting.measure(name, config: tiny, length: T)
            XCTAssertGreaterThan(m.countedMatmul, 0, name)
            XCTAssertLessThanOrEqual(abs(m.relativeDifference), tolerance,
                                     "\(name): counted \(m.countedComparable) vs analytic \(m.analytic) FLOPs/token")
        }
    }

    /// Attention in both forms: dense prefill vs 8D² + 4DT, KV-cache decode vs the causal average.
    func testAttentionPrefillAndDecode() throws {
        let pre = try FlopAccounting.measure("attention", config: tiny, length: T, form: .prefill)
        let dec = try FlopAccounting.measure("attention", config: tiny, length: T, form: .decode)
        let D = Double(tiny.width)
        XCTAssertEqual(pre.analytic, 8 * D * D + 4 * D * Double(T))
        XCTAssertEqual(dec.analytic, 8 * D * D + 2 * D * Double(T + 1))
        XCTAssertLessThanOrEqual(abs(pre.relativeDifference), tolerance)
        XCTAssertLessThanOrEqual(abs(dec.relativeDifference), tolerance)
        // The two forms really differ at this size (2D(T−1) of 8D² + 4DT ≈ 20%): the comparison is not blind to the form.
        XCTAssertGreaterThan(abs(pre.countedComparable - dec.analytic) / dec.analytic, tolerance)
    }

    /// The conv/scan terms are charged: Mamba's and ttt-*-m's formulas have a non-GEMM part, the counter sees it.
    func testConvAndScanTermsAreCounted() throws {
        let mamba = try FlopAccounting.measure("mamba", config: tiny, length: T)
        XCTAssertEqual(mamba.analyticNonGEMM, Double(9 * 64 * 16 + 2 * 64 * 4))   // E·D = 64, N = 16, k = 4
        XCTAssertEqual(mamba.countedNonGEMM, mamba.analyticNonGEMM, accuracy: 1e-9)
        let tm = try FlopAccounting.measure("ttt-linear-m", config: tiny, length: T)
        XCTAssertEqual(tm.countedNonGEMM, Double(4 * 32 * 4), accuracy: 1e-9)
        XCTAssertGreaterThan(tm.elementwiseRemainder, 0)
    }

    /// Negative control: TTT-MLP's formula without its inner loop (8D² + 2DH) must disagree beyond 5%,
    /// and so must TTT-Linear's at this small width (the inner loop is > 10% of the formula here).
    func testNegativeControlOmittingInnerLoopDisagrees() throws {
        let D = Double(tiny.width), H = Double(tiny.heads)
        for name in ["ttt-mlp", "ttt-linear"] {
            let m = try FlopAccounting.measure(name, config: tiny, length: T)
            let wrong = 8 * D * D + 2 * D * H
            XCTAssertGreaterThan(abs(m.countedComparable - wrong) / wrong, tolerance, "\(name) without the inner loop")
            XCTAssertLessThanOrEqual(abs(m.relativeDifference), tolerance)
        }
    }

    /// The paper's Fig. 2 FLOP matching from the lab's formulas (docs/ttt.md §5): 2.68 / 2.69 / 2.69 GFLOP/token.
    func testFig2FlopMatching() throws {
        let models = try FlopsStudy.fig2Models()
        let paper = models.filter { $0.paper != nil }
        XCTAssertEqual(paper.count, 3)
        for m in paper { XCTAssertEqual(m.total / 1e9, m.paper!, accuracy: 0.005, m.name) }
        // The 19-block Transformer at 32k: 7.15 (full context) and 4.60 (causal average) GFLOP/token, docs/ttt.md §5.
        XCTAssertEqual(models[3].total / 1e9, 7.15, accuracy: 0.005)
        XCTAssertEqual(models[4].total / 1e9, 4.60, accuracy: 0.005)
    }

    /// `lab study flops --quick` end to end: files written, verdict passes.
    func testQuickPresetEndToEnd() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flops-study-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (result, report) = try StudyRunner().run(FlopsStudy(), preset: .quick, seed: 0, to: dir,
                                                     reporter: ProgressReporter(mode: .silent))
        XCTAssertTrue(result.verdict.passed, result.verdict.summary.joined(separator: "\n"))
        for f in ["flops.md", "counted-vs-analytic.csv", "controls.csv", "context.csv", "context-counted.csv",
                  "fig2-flop-matching.csv", "formulas.csv", "flops-vs-context.dat", "flops-vs-context.gp"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), f)
        }
        if report.chartsRendered {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("flops-vs-context.png").path))
        }
        XCTAssertEqual(StudyCatalog.names.filter { $0 == "flops" }.count, 1)
    }
}
