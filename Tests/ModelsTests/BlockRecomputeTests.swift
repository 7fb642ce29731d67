// BlockRecomputeTests.swift — recomputing each block's activations in the backward gives the same loss and
// gradients, bit for bit, as keeping them, on every layer kind, fused and reference; it holds less memory.
import XCTest
@testable import Layers
@testable import Models
import TensorCore

final class BlockRecomputeTests: XCTestCase {
    /// Loss and every parameter gradient of one backward (B = 2).
    func lossAndGrads(_ m: LanguageModel, _ mode: ActivationRecompute, ids: [Int], targets: [Int]) -> (Float, [Tensor]) {
        m.recompute = mode
        let saved = GradMode.enabled
        GradMode.enabled = true
        defer { GradMode.enabled = saved }
        for p in m.parameters { p.tensor.zeroGrad() }
        let loss = m.loss(inputs: ids, targets: targets, batch: 2)
        loss.backward()
        return (loss.item, m.parameters.map { $0.tensor.grad ?? Tensor(zeros: $0.tensor.shape) })
    }

    /// Number of gradient tensors not bit-identical (a NaN never equals itself bitwise unless both are the same NaN).
    func mismatches(_ a: [Tensor], _ b: [Tensor]) -> Int { zip(a, b).filter { !bitsEqual($0, $1) }.count }

    /// Tolerance 0: same loss bits, every gradient bit-identical (T = 21, b = 4: a partial mini-batch), for
    /// all layer kinds on both kernel paths. Negative controls, each the fault it names: a recompute on an
    /// input perturbed by one part in 2²⁰ changes gradients; a recompute that drops the block's parameter
    /// gradients leaves them zero.
    func testRecomputeIsBitIdenticalToKeeping() throws {
        let ids = randomIDs(42, vocab: 32, seed: 3), targets = randomIDs(42, vocab: 32, seed: 4)
        for layer in allLayers {
            for path in [KernelPath.fused, .reference] {
                let m = try LanguageModel(config: tinyConfig(layer), seed: 2)
                m.kernels = path
                let (lk, gk) = lossAndGrads(m, .never, ids: ids, targets: targets)
                let (lr, gr) = lossAndGrads(m, .always, ids: ids, targets: targets)
                XCTAssertTrue(lk.isFinite, "\(layer) \(path): finite loss")
                XCTAssertEqual(lk.bitPattern, lr.bitPattern, "\(layer) \(path): loss")
                XCTAssertEqual(mismatches(gk, gr), 0, "\(layer) \(path): gradients bit-identical")
                XCTAssertTrue(gk.contains { t in (0..<t.count).contains { t.data[$0] != 0 } }, "\(layer) \(path): gradients not all zero")
                if path == .fused {
                    m.recomputeFault = .perturbedInput
                    XCTAssertGreaterThan(mismatches(gk, lossAndGrads(m, .always, ids: ids, targets: targets).1), 0, "\(layer): perturbed-input control")
                    m.recomputeFault = .dropParameterGradients
                    let dropped = lossAndGrads(m, .always, ids: ids, targets: targets).1
                    XCTAssertGreaterThan(mismatches(gk, dropped), 0, "\(layer): dropped-gradient control")
                    m.recomputeFault = nil
                }
            }
        }
    }

    /// `.auto` keeps at small sizes and recomputes above the threshold; no recording (no-grad) never recomputes.
    func testAutoPolicy() throws {
        let m = try LanguageModel(config: try ModelConfig.preset("tiny", layer: "ttt-linear"), seed: 0)
        XCTAssertEqual(m.recompute, .auto)
        XCTAssertFalse(m.recomputes(tokens: 8 * 256), "default training batch keeps activations")
        XCTAssertTrue(m.recomputes(tokens: 8192), "B·T = 8192 recomputes")
        m.recompute = .never
        XCTAssertFalse(m.recomputes(tokens: 1 << 20))
        m.recompute = .always
        XCTAssertTrue(m.recomputes(tokens: 1))
    }

    /// The step's peak of tensor bytes (AllocationMeter) with recompute is at most 0.6× keeping everything
    /// (tiny preset, 4 blocks, B = 1, T = 256); the control is the keeping run itself.
    func testRecomputeHoldsLessMemory() throws {
        let m = try LanguageModel(config: try ModelConfig.preset("tiny", layer: "ttt-linear"), seed: 0)
        let ids = randomIDs(256, vocab: m.config.vocab, seed: 5), targets = randomIDs(256, vocab: m.config.vocab, seed: 6)
        func peak(_ mode: ActivationRecompute) -> Int {
            m.recompute = mode
            for p in m.parameters { p.tensor.zeroGrad() }
            let base = AllocationMeter.resetPeak()
            m.loss(inputs: ids, targets: targets, batch: 1).backward()
            return AllocationMeter.peak - base
        }
        let keep = peak(.never), re = peak(.always)
        XCTAssertGreaterThan(keep, 0)
        XCTAssertLessThan(Double(re), 0.6 * Double(keep), "recompute \(re) B vs keep \(keep) B")
    }
}
