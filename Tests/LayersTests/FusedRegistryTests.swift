// FusedRegistryTests.swift — one test generated from the registry: for every layer the lab can build
// (the baselines, every inner-model plugin on both backbones) × every option toggle its fused kernels declare
// (`FusedTraining.fusedOptions`), the fused path ≡ the reference path for the output and for the gradient of
// every parameter and of the input, and fused decode ≡ fused prefill. A new layer, plugin or option is covered
// without editing this file. A negative control shows the gradient check catches a perturbed backward.
import XCTest
@testable import Layers
import TensorCore
import Zoo

final class FusedRegistryTests: XCTestCase {
    /// ‖fused − reference‖ / ‖reference‖ over each compared tensor. Both paths are Float32; they differ only
    /// by the order of summation (sgemm blockings, fused loops, the SIMD exp/tanh), which stays near 1e-6.
    static let tolerance: Float = 1e-5
    /// Some gradients are ill-conditioned at initialisation (dL/dλ and dL/dβ_lr of a TTT layer: sums of B·H·T
    /// cancelling terms behind an inner LayerNorm whose input variance is near 0, so 1/s ≈ 1/√ε): there the
    /// reference itself moves when its input is perturbed at fp32 rounding (x·(1 ± 1e-7)). Each tensor's
    /// tolerance is max(`tolerance`, `sensitivityFactor` × that movement of the reference).
    static let sensitivityFactor: Float = 20
    /// Decode (token by token) vs prefill on the fused kernels, max |Δ| / max |prefill|.
    static let decodeTolerance: Float = 2e-5

    struct Case: CustomStringConvertible {
        let layer: String, option: LayerOption?
        var description: String { layer + (option.map { " [\($0.name)]" } ?? "") }
    }

    /// Every registry layer × (default + each declared fused option).
    static func cases() throws -> [Case] {
        var out: [Case] = []
        for name in LayerRegistry.names {
            out.append(Case(layer: name, option: nil))
            let probe = try LayerRegistry.make(name, baseConfig(), seed: 0)
            if let fused = type(of: probe) as? any FusedTraining.Type {
                out += fused.fusedOptions.map { Case(layer: name, option: $0) }
            }
        }
        return out
    }

    /// Small but not trivial: several mini-batches / chunks / tiles and a partial last one (T = 11, b = 4).
    static func baseConfig() -> LayerConfig {
        var c = LayerConfig(width: 16, heads: 2)
        c.ttt.miniBatch = 4
        c.chunk = 4
        return c
    }

    static let (B, T) = (2, 11)

    /// Output and gradients (input first, then parameters in order) of one layer on one kernel path.
    static func run(_ c: Case, kernels: KernelPath, perturb: Bool = false, nudgeInput: Bool = false) throws -> (y: Tensor, grads: [(String, Tensor)], layer: SequenceLayer) {
        var cfg = baseConfig()
        c.option?.apply(&cfg)
        cfg.kernels = kernels
        let layer = try LayerRegistry.make(c.layer, cfg, seed: 11)
        var rng = RNG(seed: 5)
        let x = Tensor.randn([B, T, cfg.width], rng: &rng)
        let w = Tensor.randn([B, T, cfg.width], rng: &rng)
        if nudgeInput { for i in 0..<x.count { x.data[i] *= 1 + 1e-7 * Float(i % 3 - 1) } }
        x.requiringGrad()
        var y = layer(x)
        if perturb { y = perturbedBackward(y) }
        (y * w).sum().backward()
        var grads: [(String, Tensor)] = [("input", x.grad ?? Tensor(zeros: x.shape))]
        for p in layer.parameters { grads.append((p.name, p.tensor.grad ?? Tensor(zeros: p.tensor.shape))) }
        return (withNoGrad { y.copy() }, grads, layer)
    }

    /// Identity forward whose backward scales the incoming gradient of one token (batch 0, token 3) by
    /// 1 + 1e-3: the smallest kind of error a wrong fused backward would make.
    static func perturbedBackward(_ y: Tensor) -> Tensor {
        let D = y.dim(2)
        return withNoGrad { y.copy() }.recordingFused("perturb", [y]) { g in
            let h = g.copy()
            for j in 0..<D { h.data[3 * D + j] *= 1.001 }
            return [h]
        }
    }

    static func rel(_ a: Tensor, _ r: Tensor) -> Float {
        precondition(a.shape == r.shape, "rel: \(a.shape) vs \(r.shape)")
        var num: Double = 0, den: Double = 0
        for i in 0..<a.count { let d = Double(a.data[i] - r.data[i]); num += d * d; den += Double(r.data[i]) * Double(r.data[i]) }
        if den == 0 { return num == 0 ? 0 : .infinity }
        return Float((num / den).squareRoot())
    }

    /// The worst ratio error / tolerance over the output and every gradient, and where it is; `nudged` is the
    /// reference run on the input nudged at fp32 rounding (its own noise floor).
    static func compare(_ a: (y: Tensor, grads: [(String, Tensor)], layer: SequenceLayer),
                        _ r: (y: Tensor, grads: [(String, Tensor)], layer: SequenceLayer),
                        nudged: (y: Tensor, grads: [(String, Tensor)], layer: SequenceLayer)) -> (Float, String) {
        var worst: (Float, String) = (rel(a.y, r.y) / tolerance, "output: \(rel(a.y, r.y))")
        for (((name, ga), (_, gr)), (_, gn)) in zip(zip(a.grads, r.grads), nudged.grads) {
            let e = rel(ga, gr), tol = max(tolerance, sensitivityFactor * rel(gn, gr))
            if !(e / tol <= worst.0) { worst = (e / tol, "d/d \(name): \(e) (tolerance \(tol))") }
        }
        return worst
    }

    func testEveryLayerAndOptionFusedMatchesReference() throws {
        let cases = try Self.cases()
        XCTAssertGreaterThanOrEqual(cases.count, LayerRegistry.names.count)
        var fusedCovered = 0, worstRatio: (Float, String) = (0, "")
        for c in cases {
            let fused = try Self.run(c, kernels: .fused), ref = try Self.run(c, kernels: .reference)
            let nudged = try Self.run(c, kernels: .reference, nudgeInput: true)
            XCTAssertEqual(fused.grads.map(\.0), ref.grads.map(\.0), "\(c): parameter lists differ")
            let (ratio, where_) = Self.compare(fused, ref, nudged: nudged)
            XCTAssertLessThanOrEqual(ratio, 1, "\(c): fused vs reference differ at \(where_)")
            if ratio > worstRatio.0 { worstRatio = (ratio, "\(c) \(where_)") }
            if (fused.layer as? any FusedTraining)?.fusedTrainingSupported == true { fusedCovered += 1 }
            // The gradients are real: at least the input's is non-zero.
            XCTAssertGreaterThan(Self.rel(ref.grads[0].1, Tensor(zeros: ref.grads[0].1.shape)), 0, "\(c): zero input gradient")
        }
        print("fused ≡ reference: \(cases.count) layer × option cases, \(fusedCovered) on a fused training kernel; worst error/tolerance \(worstRatio.0) at \(worstRatio.1)")
        // Every paper layer trains on a fused kernel by default.
        for name in LayerRegistry.paperLayers {
            let l = try LayerRegistry.make(name, Self.baseConfig(), seed: 0)
            XCTAssertTrue((l as? any FusedTraining)?.fusedTrainingSupported == true, "\(name) has no fused training kernel")
        }
    }

    func testEveryLayerAndOptionFusedDecodeMatchesPrefill() throws {
        for c in try Self.cases() {
            var cfg = Self.baseConfig()
            c.option?.apply(&cfg)
            let layer = try LayerRegistry.make(c.layer, cfg, seed: 11)
            let x = BT.randn([Self.B, Self.T, cfg.width], seed: 8)
            let prefill = withNoGrad { layer(x) }
            let st = layer.makeState(batch: Self.B)
            let decode = withNoGrad { concat([layer.step(x.slicedRaw(axis: 1, 0, 5), state: st)]
                                             + (5..<Self.T).map { layer.step(x.slicedRaw(axis: 1, $0, $0 + 1), state: st) }, axis: 1) }
            XCTAssertLessThanOrEqual(BT.relErr(prefill, decode), Self.decodeTolerance, "\(c): decode ≠ prefill")
        }
    }

    /// Negative control: the same comparison with a backward perturbed by 1e-3 on one token must fail, for
    /// every layer (so the tolerance is tight enough to see a wrong backward, not only a wrong forward).
    func testPerturbedBackwardFailsTheCheck() throws {
        for name in LayerRegistry.names {
            let c = Case(layer: name, option: nil)
            let bad = try Self.run(c, kernels: .fused, perturb: true), ref = try Self.run(c, kernels: .reference)
            let nudged = try Self.run(c, kernels: .reference, nudgeInput: true)
            XCTAssertLessThanOrEqual(Self.rel(bad.y, ref.y), Self.tolerance, "\(name): the perturbation must not touch the output")
            let (ratio, where_) = Self.compare(bad, ref, nudged: nudged)
            XCTAssertGreaterThan(ratio, 3, "\(name): a perturbed backward passed the check (\(where_))")
        }
    }
}
