// LatencyStudyTests.swift — `lab study latency --quick` runs end to end (no timing assertions).
import XCTest
import Foundation
import StudyKit
import Models
import Layers
@testable import Studies

final class LatencyStudyTests: XCTestCase {
    func testQuickPresetRunsEndToEnd() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("latency-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let study = try StudyCatalog.named("latency")
        let (result, report) = try StudyRunner().run(study, preset: .quick, seed: 0, to: dir, command: "lab study latency --quick")
        XCTAssertEqual(result.tables.map(\.name), ["prefill", "decode", "minibatch-split"])
        XCTAssertEqual(result.tables[0].rows.count, 5 * 3, "five layers × three lengths")
        XCTAssertEqual(result.tables[2].rows.count, 3, "b ∈ {1, 4, 16}")
        for t in result.tables { for row in t.rows { for cell in row { if case .number(let v) = cell { XCTAssertTrue(v.isFinite && v >= 0) } } } }
        XCTAssertEqual(result.charts.map(\.name), ["latency", "minibatch-split"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: report.markdown.path))
    }

    /// The bench's alternating fused/reference timing: both paths take ≥ `runs` optimizer steps (the
    /// parameters move), the model's kernel choice is restored, and every time is finite and positive.
    func testModelStepPairTimesBothPathsAndRestoresKernels() throws {
        let model = try LanguageModel(config: ModelConfig.preset("micro", layer: "ttt-linear"), seed: 0)
        let before = model.parameters.map { $0.tensor.array }
        model.kernels = .reference
        let (f, r) = TrainTiming.modelStepPair(model, T: 16, B: 2, runs: 3)
        XCTAssertEqual(model.kernels, .reference, "kernel choice restored")
        XCTAssertEqual(f.runs, r.runs, "fused and reference steps alternate one for one")
        XCTAssertGreaterThanOrEqual(f.runs, 3)
        for s in [f, r] { XCTAssertTrue(s.min > 0 && s.median.isFinite && s.max >= s.median) }
        XCTAssertNotEqual(model.parameters.map { $0.tensor.array }, before, "the optimizer stepped")
    }
}
