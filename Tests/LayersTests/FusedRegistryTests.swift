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
    static func run(_ c: Case, kernels: KernelPath, perturb: Bool = false) throws -> (y: Tensor, grads: [(String, Tensor)], layer: SequenceLayer) {
        var cfg = baseConfig()
        c.option?.apply(&cfg)
        cfg.kernels = kernels
        let layer = try LayerRegistry.make(c.layer, cfg, seed: 11)
        var rng = RNG(seed: 5)
        let x = Tensor.randn([B, T, cfg.width], rng: &rng).requiringGrad()
        let w = Tensor.randn([B, T, cfg.width], rng: &rng)
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

    /// The worst relative error over the output and every gradient, and where it is.
    static func compare(_ a: (y: Tensor, grads: [(String, Tensor)], layer: SequenceLayer),
                        _ r: (y: Tensor, grads: [(String, Tensor)], layer: SequenceLayer)) -> (Float, String) {
        var worst: (Float, String) = (rel(a.y, r.y), "output")
        for ((name, ga), (_, gr)) in zip(a.grads, r.grads) {
            let e = rel(ga, gr)
            if !(e <= worst.0) { worst = (e, "d/d \(name)") }
        }
        return worst
    }

    func testEveryLayerAndOptionFusedMatchesReference() throws {
        let cases = try Self.cases()
        XCTAssertGreaterThanOrEqual(cases.count, LayerRegistry.names.count)
        var fusedCovered = 0
        for c in cases {
            let fused = try Self.run(c, kernels: .fused), ref = try Self.run(c, kernels: .reference)
            XCTAssertEqual(fused.grads.map(\.0), ref.grads.map(\.0), "\(c): parameter lists differ")
            let (err, where_) = Self.compare(fused, ref)
            XCTAssertLessThanOrEqual(err, Self.tolerance, "\(c): fused vs reference differ at \(where_): \(err)")
            if (fused.layer as? any FusedTraining)?.fusedTrainingSupported == true { fusedCovered += 1 }
            // The gradients are real: at least the input's is non-zero.
            XCTAssertGreaterThan(Self.rel(ref.grads[0].1, Tensor(zeros: ref.grads[0].1.shape)), 0, "\(c): zero input gradient")
        }
        print("fused ≡ reference: \(cases.count) layer × option cases, \(fusedCovered) on a fused training kernel")
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
            XCTAssertLessThanOrEqual(Self.rel(bad.y, ref.y), Self.tolerance, "\(name): the perturbation must not touch the output")
            let (err, _) = Self.compare(bad, ref)
            XCTAssertGreaterThan(err, 10 * Self.tolerance, "\(name): a perturbed backward passed the check (\(err))")
        }
    }
}
