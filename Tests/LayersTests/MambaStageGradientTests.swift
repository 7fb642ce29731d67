// MambaStageGradientTests.swift — the hand-written backwards of Mamba's shared pre/post stages (MambaStages.swift:
// in_proj, conv + SiLU, x_proj, Δ = softplus(·W_dt + b_dt), A = −exp(A_log), y ⊙ silu(z), out_proj) against finite
// differences through the layer input as well as every parameter, on both kernel paths. Tolerance (shared check,
// BT.gradCheck): 16 entries per tensor, |a − n| ≤ 1e-3·|n| + 1e-4·max|n| + the Float32 rounding floor, fourth-order
// central differences, NaN fails. Negative controls, the fault named: each Mamba `StageBackwardFault` (and the conv's)
// injected into its stage's backward must fail the check of the tensor it feeds.
import XCTest
@testable import Layers
import TensorCore
import TestSupport

final class MambaStageGradientTests: XCTestCase {
    /// A small Mamba (projections at std 1/√fan_in, as MambaTests.make) with Δ ≈ softplus(−1…1) and a random D (as MambaTests.testGradients), an input that requires grad.
    func setup() throws -> (Mamba, Tensor) {
        var cfg = LayerConfig(width: 8, heads: 1)
        cfg.mamba.state = 4; cfg.convWidth = 3
        var rng = RNG(seed: 61)
        let m = try Mamba(config: cfg, rng: &rng)
        for t in [m.inProj, m.xProj, m.outProj] { BT.refill(t, std: 1 / Float(t.dim(0)).squareRoot(), rng: &rng) }
        for c in 0..<m.inner { m.dtBias.data[c] = Float(-1 + Double(c % 3)) }
        var r2 = RNG(seed: 62)
        BT.refill(m.dSkip, std: 1, rng: &r2)
        return (m, BT.randn([2, 6, 8], seed: 63).requiringGrad())
    }

    func testStageBackwardsMatchFiniteDifferences() throws {
        for path in [KernelPath.fused, .reference] {
            let (m, x) = try setup()
            m.kernels = path
            let params = m.parameters.map { ($0.name, $0.tensor) } + [("input", x)]
            let r = checkParameterGradients(params, samples: 16, h: 1e-2, rtol: 1e-3, atol: 1e-4, vjpScale: 1, seed: 7) { m(x) }
            XCTAssertLessThanOrEqual(r.worst, 1, "\(path): \(r.worstWhere)")
        }
    }

    /// Negative controls: each injected fault fails the finite-difference check of the tensor it feeds.
    func testEachStageBackwardFaultFailsTheCheck() throws {
        let targets: [(StageBackwardFault, String)] = [(.softplusBias, "dt_proj.bias"), (.negExp, "A_log"),
                                                       (.siluGate, "in_proj.weight"), (.convBias, "conv1d.bias")]
        for (fault, name) in targets {
            let (m, x) = try setup()
            let p = try XCTUnwrap(m.parameters.first { $0.name == name }, name)
            func worst() -> Double {
                checkParameterGradients([(p.name, p.tensor)], samples: 16, h: 1e-2, rtol: 1e-3, atol: 1e-4, vjpScale: 1, seed: 7) { m(x) }.worst
            }
            XCTAssertLessThanOrEqual(worst(), 1, "\(name) passes without the fault")
            m.stageBackwardFault = fault
            let bad = worst()
            XCTAssertTrue(bad > 1, "\(fault) went undetected in \(name) (worst \(bad))")
        }
    }
}
