// TTTStageGradientTests.swift — the hand-written backwards of the TTT layer's shared pre/post stages
// (TTTStages.swift: projections, the Mamba backbone's causal convs, RoPE, the η gate, LN_post ⊙ gate, ·Wo)
// against finite differences, through the layer input as well as every parameter, on both backbones.
// Tolerance (shared check, TestSupport): 16 entries per tensor, |a − n| ≤ 1e-3·|n| + 1e-4·max|n| + the Float32
// rounding floor, fourth-order central differences with h = 1e-2; NaN fails. Negative controls, the fault named:
// each `StageBackwardFault` injected into its stage's backward must fail the check of the tensor it feeds.
import XCTest
@testable import Layers
import TensorCore
import TestSupport
import TTTLinear

final class TTTStageGradientTests: XCTestCase {
    /// A TTT-Linear layer away from its init (as TTTLayerTests.testParameterGradients) and an input that requires grad.
    func setup(_ backbone: TTTOptions.Backbone) throws -> (TTTLayer, Tensor) {
        var cfg = LayerConfig(width: 8, heads: 2)
        cfg.ttt.miniBatch = 4; cfg.ttt.backbone = backbone
        var rng = RNG(seed: 51)
        let layer = try TTTLayer(config: cfg, inner: LinearInner.self, rng: &rng)
        var prng = RNG(seed: 52)
        for p in layer.parameters {
            for i in 0..<p.tensor.count { p.tensor.data[i] += 0.1 * prng.normal() }
            if p.name.contains("proj") || p.name == "W1" { for i in 0..<p.tensor.count { p.tensor.data[i] *= 10 } }
        }
        return (layer, randomInput([1, 7, 8], seed: 53).requiringGrad())
    }

    /// The tensor whose gradient each fault corrupts.
    func target(of fault: StageBackwardFault, _ backbone: TTTOptions.Backbone) -> String? {
        switch fault {
        case .ropeDirection: return backbone == .mamba ? "conv_k.weight" : "k_proj.weight"
        case .convBias: return backbone == .mamba ? "conv_q.bias" : nil
        case .etaSigmoidPrime: return "learnable_ttt_lr_weight"
        case .postNormGamma: return "post_norm.weight"
        case .softplusBias, .negExp, .siluGate: return nil                 // Mamba's (MambaStageGradientTests)
        }
    }

    func testStageBackwardsMatchFiniteDifferences() throws {
        for backbone in [TTTOptions.Backbone.transformer, .mamba] {
            for path in [KernelPath.fused, .reference] {
                let (layer, x) = try setup(backbone)
                layer.kernels = path
                let params = layer.parameters + [Param("input", x)]
                let r = gradCheck(params) { layer(x) }
                XCTAssertLessThanOrEqual(r.worst, 1, "\(backbone) \(path): \(r.name)")
            }
        }
    }

    /// Negative controls: each injected fault fails the finite-difference check of the tensor it feeds.
    func testEachStageBackwardFaultFailsTheCheck() throws {
        for backbone in [TTTOptions.Backbone.transformer, .mamba] {
            for fault in StageBackwardFault.allCases {
                guard let name = target(of: fault, backbone) else { continue }
                let (layer, x) = try setup(backbone)
                let p = try XCTUnwrap(layer.parameters.first { $0.name == name }, name)
                XCTAssertLessThanOrEqual(gradCheck([p]) { layer(x) }.worst, 1, "\(backbone): \(name) passes without the fault")
                layer.stageBackwardFault = fault
                let bad = gradCheck([p]) { layer(x) }.worst
                XCTAssertTrue(bad > 1, "\(backbone): \(fault) went undetected in \(name) (worst \(bad))")
            }
        }
    }
}
