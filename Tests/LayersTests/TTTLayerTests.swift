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

    /// The fused LN+L2 backward (docs/ttt.md §1.5) equals finite differences of ℓ = ½‖LN(z) − target‖²,
    /// ℓ evaluated in Double (LN with ε = 1e-6 written out here), fourth-order central differences (h = 1e-2)
    /// on every entry: |a − n| ≤ 1e-4·|n| + 1e-6·max|n| (the backward is Float32). Negative controls, the faults
    /// named: the gradient off by 1 % on one entry, and the plain L2 gradient (ignoring the LN), must fail.
    func testLNL2BackwardMatchesFiniteDifferences() {
        let z = randomInput([1, 3, 8], seed: 21), target = randomInput([1, 3, 8], seed: 22)
        let gamma = randomInput([1, 1, 8], seed: 23) + 1, beta = randomInput([1, 1, 8], seed: 24)
        let delta = withNoGrad { lnL2Backward(z, target: target, gamma: gamma, beta: beta) }
        let d = 8, rows = 3
        var zd = (0..<z.count).map { Double(z.data[$0]) }
        func loss() -> Double {
            var s = 0.0
            for r in 0..<rows {
                let row = zd[(r * d)..<(r * d + d)]
                let mu = row.reduce(0, +) / Double(d)
                let v = row.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(d)
                for (c, x) in row.enumerated() {
                    let y = (x - mu) / (v + 1e-6).squareRoot() * Double(gamma.data[c]) + Double(beta.data[c])
                    let e = y - Double(target.data[r * d + c]); s += 0.5 * e * e
                }
            }
            return s
        }
        let numeric = (0..<z.count).map { i -> Double in
            let old = zd[i]
            defer { zd[i] = old }
            return centralDifference(step: 1e-2) { dx in zd[i] = old + dx; return loss() }
        }
        let G = numeric.map(abs).max() ?? 0
        func worst(_ a: [Double]) -> Double {
            var w = 0.0
            for i in 0..<a.count { w = worstOf(w, abs(a[i] - numeric[i]) / (1e-4 * abs(numeric[i]) + 1e-6 * G)) }
            return w
        }
        let analytic = (0..<delta.count).map { Double(delta.data[$0]) }
        XCTAssertGreaterThan(G, 0.1, "vacuous: the gradient is ≈ 0")
        XCTAssertLessThanOrEqual(worst(analytic), 1, "LN+L2 backward vs Double finite differences")
        var off = analytic
        off[5] *= 1.01
        XCTAssertGreaterThan(worst(off), 1, "negative control: one entry 1 % off")
        let wrong = withNoGrad { z.layerNorm(gamma: gamma, beta: beta) - target }
        XCTAssertGreaterThan(worst((0..<wrong.count).map { Double(wrong.data[$0]) }), 1, "negative control: the L2 gradient without the LN")
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
