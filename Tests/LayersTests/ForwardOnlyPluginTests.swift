// ForwardOnlyPluginTests.swift — a plugin that writes only `forward` trains with exact outer gradients:
// its derived inner gradient is taken in create-graph mode (TensorCore/HigherOrder.swift).
import XCTest
@testable import Layers
import TensorCore
import TestSupport
import TTTLinear
import TTTMLP

/// TTT-Linear with only `forward` (no hand-written gradient, no dual form).
enum ForwardOnlyLinear: InnerModel {
    static let name = "forward-only-linear"
    static func parameters(headDim d: Int) -> [InnerParamSpec] { LinearInner.parameters(headDim: d) }
    static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor { matmul(x, θ[0]) + θ[1] }
}

/// TTT-MLP with only `forward`.
enum ForwardOnlyMLP: InnerModel {
    static let name = "forward-only-mlp"
    static let defaultBaseLR: Float = 0.1
    static func parameters(headDim d: Int) -> [InnerParamSpec] { MLPInner.parameters(headDim: d) }
    static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor { matmul((matmul(x, θ[0]) + θ[1]).gelu(), θ[2]) + θ[3] }
}

/// The named fault: a derived gradient cut from the outer graph (the first contract's stop-gradient).
enum StopGradientMLP: InnerModel {
    static let name = "stop-gradient-mlp"
    static let defaultBaseLR: Float = 0.1
    static func parameters(headDim d: Int) -> [InnerParamSpec] { MLPInner.parameters(headDim: d) }
    static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor { ForwardOnlyMLP.forward(x, θ) }
    static func gradient(_ x: Tensor, _ θ: [Tensor], delta: Tensor, weights: Tensor) -> [Tensor] {
        derivedGradient(x, θ, delta: delta, weights: weights).map { $0.detached() }
    }
}

/// The named fault for the stop-gradient report: a forward through gelu′, whose VJP is first-order only.
enum GeluPrimeMLP: InnerModel {
    static let name = "gelu-prime-mlp"
    static let defaultBaseLR: Float = 0.1
    static func parameters(headDim d: Int) -> [InnerParamSpec] { MLPInner.parameters(headDim: d) }
    static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor { matmul((matmul(x, θ[0]) + θ[1]).geluPrime(), θ[2]) + θ[3] }
}

final class ForwardOnlyPluginTests: XCTestCase {
    /// `plugin check` names an op of a derived gradient's sweep that has no graph VJP (found by sweeping
    /// with an explicit recorder) and fails the outer row; a forward-only MLP, a hand-written gradient
    /// and a detached (hand-written) one name none.
    func testStopGradientOpsAreNamed() throws {
        XCTAssertEqual(PluginCheck.stopGradientOps(GeluPrimeMLP.self, headDim: 8), ["geluPrime"])
        for ok in [ForwardOnlyMLP.self as InnerModel.Type, MLPInner.self, StopGradientMLP.self] {
            XCTAssertEqual(PluginCheck.stopGradientOps(ok, headDim: 8), [], ok.name)
        }
        let row = try PluginCheck.run(GeluPrimeMLP.self).rows[4]
        XCTAssertEqual(row.verdict, .fail)
        XCTAssertTrue(row.note.contains("stop-gradient in the outer graph): geluPrime"), row.note)
        XCTAssertFalse(GeluPrimeMLP.gradientIsHandWritten)
        XCTAssertTrue(StopGradientMLP.gradientIsHandWritten, "a detached gradient is not the lab's derived one")
    }


    let cfg: LayerConfig = { var c = LayerConfig(width: 16, heads: 2); c.ttt.miniBatch = 4; return c }()

    func input(seed: UInt64) -> (Tensor, Tensor) {
        var rng = RNG(seed: seed)
        return (Tensor.randn([2, 10, 16], rng: &rng), Tensor.randn([2, 10, 16], rng: &rng))
    }

    /// Gradients of Σ r ⊙ layer(x) for every layer parameter.
    func outerGradients(_ l: TTTLayer, _ x: Tensor, _ r: Tensor) -> [Tensor] {
        for p in l.parameters { p.tensor.zeroGrad() }
        (l(x) * r).sum().backward()
        return l.parameters.map { $0.tensor.grad ?? Tensor(zeros: $0.tensor.shape) }
    }

    /// Forward-only copies of TTT-Linear and TTT-MLP give the hand-written models' outer gradients,
    /// every parameter, to ≤ 1e-5 relative (against the primal form, which they run; and ≤ 1e-4
    /// against the dual form). Control: the derived gradient cut from the graph (the old
    /// stop-gradient) misses the second-order terms by > 1e-2.
    func testForwardOnlyOuterGradientsMatchHandWritten() throws {
        let (x, r) = input(seed: 1)
        for (mine, paper) in [(ForwardOnlyLinear.self as InnerModel.Type, LinearInner.self as InnerModel.Type),
                              (ForwardOnlyMLP.self, MLPInner.self)] {
            let a = try PluginCheck.layer(mine, cfg, seed: 3)
            let primal = try PluginCheck.layer(paper, cfg, seed: 3) { $0.ttt.dual = false }
            let dual = try PluginCheck.layer(paper, cfg, seed: 3)
            XCTAssertEqual(a.parameters.map(\.name), primal.parameters.map(\.name))
            let ga = outerGradients(a, x, r)
            let ePrimal = worstRelative(ga, outerGradients(primal, x, r)), eDual = worstRelative(ga, outerGradients(dual, x, r))
            XCTAssertLessThanOrEqual(ePrimal, 1e-5, "\(mine.name) vs \(paper.name) primal")
            XCTAssertLessThanOrEqual(eDual, 1e-4, "\(mine.name) vs \(paper.name) dual")
        }
        let cut = try PluginCheck.layer(StopGradientMLP.self, cfg, seed: 3)
        let paper = try PluginCheck.layer(MLPInner.self, cfg, seed: 3) { $0.ttt.dual = false }
        XCTAssertGreaterThan(worstRelative(outerGradients(cut, x, r), outerGradients(paper, x, r)), 1e-2)
    }

    /// A few SGD steps of a small regression model (one TTT layer, loss mean‖layer(x) − y‖²): the
    /// forward-only MLP follows the hand-written one's loss curve to ≤ 1e-5 relative at every step.
    /// Control: the stop-gradient copy leaves the curve (> 1e-4 by the last step).
    func testForwardOnlyTrainsToTheSameLossCurve() throws {
        let (x, y) = input(seed: 2)
        func curve(_ inner: InnerModel.Type) throws -> [Float] {
            let l = try PluginCheck.layer(inner, cfg, seed: 4) { $0.ttt.dual = false }
            var losses: [Float] = []
            for _ in 0..<5 {
                for p in l.parameters { p.tensor.zeroGrad() }
                let d = l(x) - y
                let loss = (d * d).mean()
                loss.backward()
                losses.append(loss.item)
                withNoGrad { for p in l.parameters { if let g = p.tensor.grad { for i in 0..<g.count { p.tensor.data[i] -= 0.05 * g.data[i] } } } }
            }
            return losses
        }
        let hand = try curve(MLPInner.self), derived = try curve(ForwardOnlyMLP.self), cut = try curve(StopGradientMLP.self)
        XCTAssertLessThan(hand.last!, hand.first!, "the model trains")
        for (a, b) in zip(derived, hand) { XCTAssertLessThanOrEqual(abs(a - b) / abs(b), 1e-5, "\(derived) vs \(hand)") }
        XCTAssertGreaterThan(abs(cut.last! - hand.last!) / abs(hand.last!), 1e-4, "\(cut) vs \(hand)")
    }

    /// `plugin check` passes a forward-only plugin's outer gradients (no `1st-order` verdict) and
    /// names no op without a differentiable VJP.
    func testPluginCheckPassesForwardOnly() throws {
        for inner in [ForwardOnlyLinear.self as InnerModel.Type, ForwardOnlyMLP.self] {
            let report = try PluginCheck.run(inner)
            XCTAssertTrue(report.passed, report.rows.map { "\($0.check): \($0.verdict) \($0.note)" }.joined(separator: "\n"))
            XCTAssertEqual(report.rows[4].verdict, .pass)
            XCTAssertFalse(report.rows[4].note.contains("stop-gradient"), report.rows[4].note)
        }
        let cut = try PluginCheck.run(StopGradientMLP.self)
        XCTAssertEqual(cut.rows[4].verdict, .fail, "the outer check catches a stop-gradient inner gradient")
    }
}
