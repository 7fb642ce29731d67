// FusedTrainingTests.swift — language models train their TTT layers on the fused kernel by default, and
// one training step's gradients equal the reference path's end to end (every model parameter).
import XCTest
@testable import Layers
import Models
import TensorCore
import TestSupport

final class FusedTrainingTests: XCTestCase {
    /// ‖a − r‖₂ / ‖r‖₂ through the shared comparison (TestSupport): +∞ when either holds a NaN or Inf.
    func relNorm(_ a: Tensor, _ r: Tensor) -> Double { tensorError(a, r, .relNorm, floor: 1e-15).error }

    func grads(_ m: LanguageModel, _ path: KernelPath, ids: [Int], targets: [Int]) -> [Tensor] {
        for b in m.blocks { b.mixer.kernels = path }
        let saved = GradMode.enabled
        GradMode.enabled = true
        defer { GradMode.enabled = saved }
        for p in m.parameters { p.tensor.zeroGrad() }
        m.loss(inputs: ids, targets: targets, batch: 2).backward()
        return m.parameters.map { $0.tensor.grad ?? Tensor(zeros: $0.tensor.shape) }
    }

    /// Default kernels are fused and supported; the LM gradient (loss through 2 blocks, T = 21 with b = 16:
    /// a partial mini-batch) matches the reference to max(2e-5, 20 × the reference's own sensitivity to
    /// 1e-7 weight rounding) relative, as in FusedTTTTests; a faulty fused backward (dropped state carry)
    /// fails the plain 1e-3 check.
    func testLanguageModelTrainsOnFusedKernel() throws {
        var rng = RNG(seed: 5)
        let ids = (0..<42).map { _ in Int(rng.next() % 256) }, targets = (0..<42).map { _ in Int(rng.next() % 256) }
        for layer in ["ttt-linear", "ttt-mlp-m"] {
            let m = try LanguageModel(config: try ModelConfig.preset("micro", layer: layer), seed: 1)
            for b in m.blocks {
                let t = try XCTUnwrap(b.mixer as? TTTLayer)
                XCTAssertEqual(t.kernels, .fused, "\(layer): default kernels")
                XCTAssertTrue(t.fusedTrainingSupported, "\(layer): default config trains fused")
            }
            let gr = grads(m, .reference, ids: ids, targets: targets), gf = grads(m, .fused, ids: ids, targets: targets)
            // The reference's own sensitivity to fp32-level rounding of the weights (×(1 ± 1e-7)): the
            // reduced gradients (η-gate bias [H], token scale λ [b]) are sums of many cancelling terms.
            let originals = m.parameters.map { $0.tensor.copy() }
            for p in m.parameters { for i in 0..<p.tensor.count { p.tensor.data[i] *= 1 + 1e-7 * Float(i % 3 - 1) } }
            let gp = grads(m, .reference, ids: ids, targets: targets)
            for (p, o) in zip(m.parameters, originals) { p.tensor.data.update(from: o.data, count: o.count) }
            var worst = 0.0
            for (((p, a), r), q) in zip(zip(zip(m.parameters, gf), gr), gp) {
                let tol = max(2e-5, 20 * relNorm(q, r)), e = relNorm(a, r)
                worst = worstOf(worst, e / tol)
                XCTAssertLessThan(e, tol, "\(layer): \(p.name) fused vs reference")
            }
            XCTAssertLessThan(worst, 1)
            for b in m.blocks { (b.mixer as! TTTLayer).fusedBackwardFault = .dropStateCarry }
            let bad = grads(m, .fused, ids: ids, targets: targets)
            XCTAssertGreaterThan(zip(bad, gr).map { relNorm($0, $1) }.max()!, 1e-3, "\(layer): negative control")
        }
    }
}
