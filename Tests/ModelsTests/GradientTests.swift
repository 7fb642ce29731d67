// GradientTests.swift — a training step's gradient against finite differences, for every layer type.
import XCTest
@testable import Layers
@testable import Models
import TensorCore
import TestSupport

final class GradientTests: XCTestCase {
    /// Directional-derivative check on the full LM loss (see `DirectionalDerivative`): 4 random unit directions
    /// per parameter group (embedding/head/final norm; each block's sequence layer; each block's other parts),
    /// never along the gradient, fourth-order central differences at a step chosen per group (2⁰ … 2⁻⁶),
    /// tolerance 1e-3·|numeric| + 1e-5·‖∇L_group‖ + the differences' own error + the logits' rounding (L in Double).
    /// Weights are scaled ×5 from the N(0, 0.02) init so the layers are in their nonlinear regime. T = 10 with
    /// b = 4 covers full and partial TTT mini-batches. Every group must have a sharp direction (tolerance
    /// < 0.5 % of the derivative), so a 1 % error in any group's gradient is visible — on the Mamba backbone
    /// too, whose block derivatives (≈ 1e-4…1e-3) were lost in the Float32 L's ulp at the former fixed step 3e-2.
    /// Negative control, the fault it names: the analytic gradient scaled by 1.01 must fail, on the same numbers.
    func testLossGradientMatchesFiniteDifferences() throws {
        let (B, T) = (2, 10)                                   // T = 10 with b = 4: two full mini-batches and a partial one
        for layer in allLayers {
            let cfg = tinyConfig(layer)
            let model = try LanguageModel(config: cfg, seed: 3)
            for p in model.parameters where p.tensor.rank >= 2 && !p.name.hasSuffix("A_log") { for i in 0..<p.tensor.count { p.tensor.data[i] *= 5 } }
            let x = randomIDs(B * T, vocab: cfg.vocab, seed: 11), y = randomIDs(B * T, vocab: cfg.vocab, seed: 12)
            let c = DirectionalDerivative(model, batch: B, x: x, y: y, seed: 99)
            let w = c.worst
            print("\(layer): \(c.directions.count) directions over \(c.groups.count) groups; worst \(w.group): analytic \(w.analytic) numeric \(w.numeric) ratio \(w.ratio)")
            XCTAssertTrue(c.passed, "\(layer), \(w.group): analytic \(w.analytic) vs numeric \(w.numeric) (tolerance \(w.tolerance))")
            XCTAssertEqual(c.groups.count, 1 + 2 * cfg.layers, "\(layer): groups \(c.groups.sorted())")
            let sharp = c.sharp
            print("\(layer): \(sharp.count) of \(c.directions.count) directions sharp, in groups \(Set(sharp.map(\.group)).sorted())")
            XCTAssertEqual(Set(sharp.map(\.group)), c.groups, "\(layer): groups where a 1 % error cannot show")
            XCTAssertFalse(c.passes(analyticScale: 1.01), "\(layer): a gradient off by 1 % passed")
        }
    }
}
