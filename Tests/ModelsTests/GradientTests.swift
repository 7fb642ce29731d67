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
            let params = model.parameters
            for p in params where p.tensor.rank >= 2 && !p.name.hasSuffix("A_log") { for i in 0..<p.tensor.count { p.tensor.data[i] *= 5 } }
            let x = randomIDs(B * T, vocab: cfg.vocab, seed: 11), y = randomIDs(B * T, vocab: cfg.vocab, seed: 12)
            let x2 = randomIDs(B * T, vocab: cfg.vocab, seed: 13), y2 = randomIDs(B * T, vocab: cfg.vocab, seed: 14)
            func grads(_ inputs: [Int], _ targets: [Int]) -> [Tensor] {
                for p in params { p.tensor.zeroGrad() }
                model.loss(inputs: inputs, targets: targets, batch: B).backward()
                let g = params.map { $0.tensor.grad ?? Tensor(zeros: $0.tensor.shape) }
                for p in params { p.tensor.zeroGrad() }
                return g
            }
            let g = grads(x, y), gOther = grads(x2, y2)
            func loss() -> Double { Double(withNoGrad { model.loss(inputs: x, targets: y, batch: B) }.item) }

            let mixerOnly: (Param) -> Bool = { $0.name.contains("seq_modeling_block.") }
            for (label, selected) in [("all parameters", { (_: Param) in true }), ("sequence-layer parameters", mixerOnly)] {
                // Unit direction over the selected parameters: half random, half along the gradient
                // (so the derivative is large enough to resolve in Float32 for every layer).
                var rng = RNG(seed: 99)
                func unit(_ ts: [Tensor]) -> [Tensor] {
                    let masked = zip(params, ts).map { p, t in selected(p) ? t : Tensor(zeros: t.shape) }
                    let n = masked.reduce(0.0) { acc, t in acc + (0..<t.count).reduce(0.0) { $0 + Double(t.data[$1] * t.data[$1]) } }.squareRoot()
                    return masked.map { $0 * Float(1 / n) }
                }
                let r = unit(params.map { Tensor.randn($0.tensor.shape, rng: &rng) }), gu = unit(g)
                let u = unit(zip(r, gu).map { $0 + $1 })
                func dot(_ gs: [Tensor]) -> Double {
                    zip(gs, u).reduce(0.0) { acc, gu in acc + (0..<gu.0.count).reduce(0.0) { $0 + Double(gu.0.data[$1]) * Double(gu.1.data[$1]) } }
                }
                let h: Float = 2e-3
                func shift(_ s: Float) { for (p, d) in zip(params, u) { for i in 0..<p.tensor.count { p.tensor.data[i] += s * d.data[i] } } }
                shift(h); let lp = loss()
                shift(-2 * h); let lm = loss()
                shift(h)
                let numeric = (lp - lm) / Double(2 * h)
                let analytic = dot(g), wrong = dot(gOther)
                let err = abs(analytic - numeric) / max(abs(numeric), 1e-3)
                let control = abs(wrong - numeric) / max(abs(numeric), 1e-3)
                print("\(layer), \(label): analytic \(analytic) numeric \(numeric) err \(err) control \(control)")
                XCTAssertLessThan(err, 0.01, "\(layer), \(label): analytic \(analytic) vs numeric \(numeric)")
                XCTAssertGreaterThan(control, 0.1, "\(layer), \(label): negative control too close (\(wrong) vs \(numeric))")
                XCTAssertGreaterThan(abs(numeric), 1e-3, "\(layer), \(label): derivative too small to test")
            }
        }
    }
}
