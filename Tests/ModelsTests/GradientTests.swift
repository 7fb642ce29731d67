// GradientTests.swift — a training step's gradient against finite differences, for every layer type.
import XCTest
@testable import Layers
@testable import Models
import TensorCore

final class GradientTests: XCTestCase {
    /// Directional-derivative check on the full LM loss.
    ///
    /// For a random unit direction u over the parameters, the analytic derivative ⟨∇L, u⟩ from one
    /// `backward()` must match the central difference (L(θ + hu) − L(θ − hu)) / 2h, h = 2e-3, to a
    /// relative error of 1% (measured ≤ 0.2%). Weights are scaled ×5 from the N(0, 0.02) init so the layers are in their
    /// nonlinear regime and every parameter matters. Checked twice per layer: u over all parameters,
    /// and u over the sequence layers' parameters only (so the mixer's own gradient is tested, not
    /// drowned by the embedding's). u is a random unit vector plus the unit gradient, renormalized, so
    /// the derivative is well above Float32 noise. T = 10 with b = 4 covers full and partial TTT
    /// mini-batches. Negative control: the gradient of a *different* batch must miss the same finite
    /// difference by far more than the tolerance.
    func testLossGradientMatchesFiniteDifferences() throws {
        let (B, T) = (2, 10)                                   // T = 10 with b = 4: two full mini-batches and a partial one
        for layer in allLayers {
            let cfg = tinyConfig(layer)
            let model = try LanguageModel(config: cfg, seed: 3)
            for p in model.parameters where p.tensor.rank >= 2 && !p.name.hasSuffix("A_log") { for i in 0..<p.tensor.count { p.tensor.data[i] *= 5 } }
            let x = randomIDs(B * T, vocab: cfg.vocab, seed: 11), y = randomIDs(B * T, vocab: cfg.vocab, seed: 12)
            let x2 = randomIDs(B * T, vocab: cfg.vocab, seed: 13), y2 = randomIDs(B * T, vocab: cfg.vocab, seed: 14)
            let mixerOnly: (Param) -> Bool = { $0.name.contains("seq_modeling_block.") }
            for (label, selected) in [("all parameters", { (_: Param) in true }), ("sequence-layer parameters", mixerOnly)] {
                let c = DirectionalDerivative(model, batch: B, x: x, y: y, x2: x2, y2: y2, selected: selected, seed: 99)
                print("\(layer), \(label): analytic \(c.analytic) numeric \(c.numeric) err \(c.error) control \(c.controlError)")
                XCTAssertLessThan(c.error, 0.01, "\(layer), \(label): analytic \(c.analytic) vs numeric \(c.numeric)")
                XCTAssertGreaterThan(c.controlError, 0.1, "\(layer), \(label): negative control too close (\(c.control) vs \(c.numeric))")
                XCTAssertGreaterThan(abs(c.numeric), 1e-3, "\(layer), \(label): derivative too small to test")
            }
        }
    }
}
