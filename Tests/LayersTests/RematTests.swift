// RematTests.swift — the rematerialising training node for plugins without fused kernels
// (TTTLayer+Remat.swift): same outputs and gradients as the op-by-op graph, less memory.
import XCTest
@testable import Layers
import TensorCore
import TestSupport
import DeltaNet
import Momentum

final class RematTests: XCTestCase {
    func grads(_ l: TTTLayer, _ x: Tensor, _ r: Tensor) -> (Tensor, [Tensor], Int) {
        for p in l.parameters { p.tensor.zeroGrad() }
        let base = AllocationMeter.resetPeak()
        let y = l(x)
        (y * r).sum().backward()
        let peak = AllocationMeter.peak - base
        return (y, l.parameters.map { $0.tensor.grad ?? Tensor(zeros: $0.tensor.shape) }, peak)
    }

    /// For plugins of every kind the node serves (forward-only, hand-written with a dual, optimizer
    /// state, decay gate, rates, apply-then-update): outputs bit-identical to the op-by-op path and
    /// every parameter's gradient within 1e-5 relative. Control (the fault it names): dropping the
    /// gradient that reaches a mini-batch's end state misses > 1e-2.
    func testRematEqualsOpByOp() throws {
        var cfg = LayerConfig(width: 16, heads: 2)
        cfg.ttt.miniBatch = 4
        var rng = RNG(seed: 11)
        let x = Tensor.randn([2, 10, 16], rng: &rng), r = Tensor.randn([2, 10, 16], rng: &rng)
        let plugins: [InnerModel.Type] = [ForwardOnlyMLP.self, DeltaNetInner.self, MomentumInner.self, GatedLinear.self,
                                          GatedLinearDual.self, GatedDeltaRule.self, ApplyThenUpdateMLP.self, ChunkedGatedLinear.self]
        for inner in plugins {
            let l = try PluginCheck.layer(inner, cfg, seed: 5)
            XCTAssertEqual(l.kernels, .fused)
            let (y, g, _) = grads(l, x, r)
            let (yr, gr, _) = l.withKernels(.reference) { grads(l, x, r) }
            XCTAssertEqual(y.array, yr.array, "\(inner.name): outputs")
            XCTAssertLessThanOrEqual(worstRelative(g, gr), 1e-5, "\(inner.name): gradients")
            l.rematDropsStateGradient = true
            let (_, gf, _) = grads(l, x, r)
            l.rematDropsStateGradient = false
            XCTAssertGreaterThan(worstRelative(gf, gr), 1e-2, "\(inner.name): control")
        }
    }

    /// The node is used (one node for the inner loop) and holds less than the op-by-op graph: at
    /// T = 64, b = 4 the forward-only MLP's step peaks at under half the reference's bytes.
    func testRematHoldsLessMemory() throws {
        var cfg = LayerConfig(width: 32, heads: 2)
        cfg.ttt.miniBatch = 4
        var rng = RNG(seed: 12)
        let x = Tensor.randn([1, 64, 32], rng: &rng), r = Tensor.randn([1, 64, 32], rng: &rng)
        let l = try PluginCheck.layer(ForwardOnlyMLP.self, cfg, seed: 6)
        let m = l.mixerInputs(x)
        XCTAssertEqual(l.rematInnerLoop(m, batch: 1)?.opName, "rematInnerLoop")
        XCTAssertNil(l.withKernels(.reference) { l.rematInnerLoop(m, batch: 1) })
        let (_, _, remat) = grads(l, x, r)
        let (_, _, reference) = l.withKernels(.reference) { grads(l, x, r) }
        XCTAssertLessThan(Double(remat), 0.5 * Double(reference), "remat \(remat) B vs op-by-op \(reference) B")
    }
}
