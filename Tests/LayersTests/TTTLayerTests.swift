// TTTLayerTests.swift — dual ≡ primal, decode ≡ prefill, LN+L2 backward, gradients (docs/ttt.md §1–2).
import XCTest
@testable import Layers
@testable import Zoo
import TensorCore
import TestSupport
import TTTLinear
import TTTMLP

final class TTTLayerTests: XCTestCase {
    let plugins: [InnerModel.Type] = [LinearInner.self, MLPInner.self]

    func config(b: Int = 4, backbone: TTTOptions.Backbone = .transformer) -> LayerConfig {
        var c = LayerConfig(width: 16, heads: 2)
        c.ttt.miniBatch = b
        c.ttt.backbone = backbone
        return c
    }

    /// Random non-default values for the parameters that start at 0/1, so every path matters.
    func perturb(_ layer: SequenceLayer, seed: UInt64) {
        var rng = RNG(seed: seed)
        for p in layer.parameters {
            for i in 0..<p.tensor.count { p.tensor.data[i] += 0.1 * rng.normal() }
        }
    }

    /// Dual form ≡ primal form (docs/ttt.md §1.7–1.8), T = 11 not a multiple of b = 4. Tolerance 1e-5 relative.
    func testDualEqualsPrimal() throws {
        for inner in plugins {
            for backbone in [TTTOptions.Backbone.transformer, .mamba] {
                var cfg = config(backbone: backbone)
                var rng = RNG(seed: 3)
                let dual = try TTTLayer(config: cfg, inner: inner, rng: &rng)
                perturb(dual, seed: 4)
                cfg.ttt.dual = false
                rng = RNG(seed: 3)
                let primal = try TTTLayer(config: cfg, inner: inner, rng: &rng)
                perturb(primal, seed: 4)
                let x = randomInput([2, 11, 16], seed: 5)
                let (yd, yp) = withNoGrad { (dual(x), primal(x)) }
                XCTAssertLessThan(relError(yd, yp), 1e-5, "\(inner.name) \(backbone)")
                // Negative control: a different mini-batch size must not match.
                cfg.ttt.miniBatch = 3
                rng = RNG(seed: 3)
                let other = try TTTLayer(config: cfg, inner: inner, rng: &rng)
                perturb(other, seed: 4)
                XCTAssertGreaterThan(relError(withNoGrad { other(x) }, yp), 1e-3, "control \(inner.name)")
            }
        }
    }

    /// Decode (token by token, and prompt-then-decode) ≡ prefill (docs/ttt.md §2). Tolerance 1e-5 relative.
    func testDecodeEqualsPrefill() throws {
        for inner in plugins {
            for backbone in [TTTOptions.Backbone.transformer, .mamba] {
                var rng = RNG(seed: 11)
                let layer = try TTTLayer(config: config(backbone: backbone), inner: inner, rng: &rng)
                perturb(layer, seed: 12)
                let x = randomInput([2, 13, 16], seed: 13)
                let full = withNoGrad { layer(x) }
                let st = layer.makeState(batch: 2)
                let tokens = concat((0..<13).map { layer.step(x.slicedRaw(axis: 1, $0, $0 + 1), state: st) }, axis: 1)
                XCTAssertLessThan(relError(tokens, full), 1e-5, "token-by-token \(inner.name) \(backbone)")
                let st2 = layer.makeState(batch: 2)
                let prompt = layer.step(x.slicedRaw(axis: 1, 0, 6), state: st2)
                let rest = concat((6..<13).map { layer.step(x.slicedRaw(axis: 1, $0, $0 + 1), state: st2) }, axis: 1)
                XCTAssertLessThan(relError(concat([prompt, rest], axis: 1), full), 1e-5, "prompt+decode \(inner.name) \(backbone)")
                XCTAssertEqual(st2.position, 13)
                // Negative control: decoding without committing state (fresh state each token) differs.
                let fresh = concat((0..<13).map { t in layer.step(x.slicedRaw(axis: 1, t, t + 1), state: layer.makeState(batch: 2)) }, axis: 1)
                XCTAssertGreaterThan(relError(fresh, full), 1e-3)
            }
        }
    }

    /// The fused LN+L2 backward (docs/ttt.md §1.5) equals finite differences of ℓ = ½‖LN(z) − target‖².
    func testLNL2BackwardMatchesFiniteDifferences() {
        let z = randomInput([1, 3, 8], seed: 21), target = randomInput([1, 3, 8], seed: 22)
        let gamma = randomInput([1, 1, 8], seed: 23) + 1, beta = randomInput([1, 1, 8], seed: 24)
        let delta = withNoGrad { lnL2Backward(z, target: target, gamma: gamma, beta: beta) }
        func loss(_ zz: Tensor) -> Double {
            let y = withNoGrad { zz.layerNorm(gamma: gamma, beta: beta) }
            var s: Double = 0
            for i in 0..<y.count { let e = Double(y.data[i] - target.data[i]); s += 0.5 * e * e }
            return s
        }
        var worst: Float = 0
        for i in 0..<z.count {
            let old = z.data[i], h: Float = 1e-2
            z.data[i] = old + h; let lp = loss(z)
            z.data[i] = old - h; let lm = loss(z)
            z.data[i] = old
            let num = Float((lp - lm) / Double(2 * h))
            worst = worstOf(worst, abs(num - delta.data[i]) / max(1e-2, abs(num)))
        }
        XCTAssertLessThan(worst, 2e-2)
        // Negative control: the plain L2 gradient (ignoring the LN) is far off.
        let wrong = withNoGrad { z.layerNorm(gamma: gamma, beta: beta) - target }
        XCTAssertGreaterThan(relError(wrong, delta), 0.1)
    }

    /// Finite-difference check of every parameter (both plugins, both backbones), T = 7, b = 4.
    /// Tolerance (shared check, TestSupport): 16 entries per parameter, |a − n| ≤ 1e-3·|n| + 1e-4·max|n| + the
    /// Float32 rounding floor, fourth-order central differences with h = 1e-2; NaN fails.
    func testParameterGradients() throws {
        for inner in plugins {
            for backbone in [TTTOptions.Backbone.transformer, .mamba] {
                var cfg = LayerConfig(width: 8, heads: 2)
                cfg.ttt.miniBatch = 4; cfg.ttt.backbone = backbone
                var rng = RNG(seed: 31)
                let layer = try TTTLayer(config: cfg, inner: inner, rng: &rng)
                perturb(layer, seed: 32)
                for p in layer.parameters where p.name.contains("proj") || p.name == "W1" || p.name == "W2" {
                    for i in 0..<p.tensor.count { p.tensor.data[i] *= 10 }   // make the inner loop matter at this scale
                }
                let x = randomInput([1, 7, 8], seed: 33)
                let r = gradCheck(layer.parameters) { layer(x) }
                XCTAssertLessThanOrEqual(r.worst, 1, "\(inner.name) \(backbone): \(r.name)")
                // Negative control, the fault named: the analytic gradient scaled by 1.01.
                XCTAssertGreaterThan(gradCheck(layer.parameters, vjpScale: 1.01) { layer(x) }.worst, 1, "\(inner.name) \(backbone): a 1 % wrong gradient passed")
            }
        }
    }

    /// Negative control for the checker, the fault it names: a backward that drops the gradient (the analytic
    /// gradient scaled by 0) must fail.
    func testGradientCheckCanFail() throws {
        var rng = RNG(seed: 41)
        let layer = try TTTLayer(config: config(), inner: LinearInner.self, rng: &rng)
        perturb(layer, seed: 43)                                  // as in testParameterGradients: away from the init's
        for p in layer.parameters where p.name.contains("proj") || p.name == "W1" {  // near-zero inner-LN variance
            for i in 0..<p.tensor.count { p.tensor.data[i] *= 10 }
        }
        let x = randomInput([1, 5, 16], seed: 42)
        XCTAssertLessThanOrEqual(gradCheck(layer.parameters, samples: 4) { layer(x) }.worst, 1, "the correct gradient passes")
        XCTAssertGreaterThan(gradCheck(layer.parameters, samples: 4, vjpScale: 0) { layer(x) }.worst, 100, "a dropped gradient must fail")
    }

    func testRegistryAndConfigErrors() throws {
        XCTAssertThrowsError(try LayerRegistry.make("ttt-linaer", LayerConfig(width: 16, heads: 2), seed: 0)) { e in
            XCTAssertTrue("\(e)".contains("ttt-linear"), "\(e)")
        }
        XCTAssertThrowsError(try LayerRegistry.make("ttt-linear", LayerConfig(width: 10, heads: 3), seed: 0)) { e in
            XCTAssertTrue("\(e)".contains("not divisible"), "\(e)")
        }
        let l = try LayerRegistry.make("ttt-mlp-m", LayerConfig(width: 16, heads: 2), seed: 0)
        XCTAssertEqual(l.kind, "ttt-mlp-m")
    }
}
