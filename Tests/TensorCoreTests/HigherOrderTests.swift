// HigherOrderTests.swift — create-graph mode: every graph VJP checked by finite differences of the
// gradient (Hessian-vector products), with the first-order (stop-gradient) sweep as negative control.
import XCTest
@testable import TensorCore
import TestSupport

final class HigherOrderTests: XCTestCase {
    /// φ(v) = Σ_k ⟨∇_{v_k} f(v), r_k⟩ over the inputs in `wrt`, by a first-order sweep (Double sum).
    func phi(_ f: ([Tensor]) -> Tensor, _ v: [Tensor], wrt: [Int], _ r: [Tensor]) -> Double {
        let leaves = v.map { $0.copy().requiringGrad() }
        let g = gradients(of: f(leaves), wrt: wrt.map { leaves[$0] })
        var s = 0.0
        for (gk, rk) in zip(g, r) { if let gk { for i in 0..<gk.count { s += Double(gk.data[i]) * Double(rk.data[i]) } } }
        return s
    }

    /// ∇φ by create-graph (or, with `createGraph: false`, the stop-gradient fault) vs fourth-order central
    /// differences of φ (step 1e-2, TestSupport `centralDifference`) over every entry of every input: relative
    /// error ‖·‖₂ / ‖FD‖₂ (measured ≤ 2e-5 for every op; tolerance 1e-4, was 1e-2 with second-order differences).
    func hvpError(_ f: ([Tensor]) -> Tensor, _ v: [Tensor], wrt: [Int], createGraph: Bool, stopGradients: StopGradients? = nil) -> Float {
        var rng = RNG(seed: 99)
        let r = wrt.map { Tensor.randn(v[$0].shape, rng: &rng) }
        let leaves = v.map { $0.copy().requiringGrad() }
        let g = gradients(of: f(leaves), wrt: wrt.map { leaves[$0] }, createGraph: createGraph, stopGradients: stopGradients)
        var terms: [Tensor] = []
        for (gk, rk) in zip(g, r) { if let gk { terms.append((gk * rk).sum()) } }
        let p = terms.dropFirst().reduce(terms[0]) { $0 + $1 }
        let h = gradients(of: p, wrt: leaves)
        var diff = 0.0, norm = 0.0
        for (k, t) in v.enumerated() {
            for i in 0..<t.count {
                let old = t.data[i]
                let num = centralDifference(step: 1e-2) { dx in t.data[i] = old + Float(dx); return phi(f, v, wrt: wrt, r) }
                t.data[i] = old
                let ana = Double(h[k]?.data[i] ?? 0)
                diff += (ana - num) * (ana - num); norm += num * num
            }
        }
        let e = Float(diff.squareRoot() / max(norm.squareRoot(), 1e-6))
        return e.isNaN ? .infinity : e
    }

    func check(_ name: String, _ v: [Tensor], wrt: [Int] = [0], _ f: @escaping ([Tensor]) -> Tensor,
               file: StaticString = #filePath, line: UInt = #line) {
        let stops = StopGradients()
        let e = hvpError(f, v, wrt: wrt, createGraph: true, stopGradients: stops)
        XCTAssertLessThanOrEqual(e, 1e-4, "\(name): create-graph HVP vs finite differences", file: file, line: line)
        XCTAssertTrue(stops.ops.isEmpty, "\(name): \(stops.ops)", file: file, line: line)
        // Negative control, the named fault: the first-order sweep (gradient a stop-gradient) misses ∇φ.
        let c = hvpError(f, v, wrt: wrt, createGraph: false)
        XCTAssertGreaterThan(c, 1e-2, "\(name): stop-gradient control must fail", file: file, line: line)
    }

    func t(_ s: [Int], _ seed: UInt64, std: Float = 0.7, positive: Bool = false) -> Tensor {
        var rng = RNG(seed: seed)
        return positive ? Tensor.uniform(s, 0.5, 2, rng: &rng) : Tensor.randn(s, std: std, rng: &rng)
    }

    /// Unary ops: f = Σ op(x) ⊙ y (∇_x depends on x through f'' and on y linearly).
    func testUnaryGraphVJPs() {
        let cases: [(String, Bool, (Tensor) -> Tensor)] = [
            ("exp", false, { $0.exp() }), ("log", true, { $0.log() }), ("tanh", false, { $0.tanh() }),
            ("sigmoid", false, { $0.sigmoid() }), ("softplus", false, { $0.softplus() }), ("silu", false, { $0.silu() }),
            ("gelu", false, { $0.gelu() }), ("sqrt", true, { $0.sqrt() }), ("rsqrt", true, { $0.rsqrt() }),
            ("square", false, { $0.square() }), ("reciprocal", true, { $0.reciprocal() }), ("relu", false, { $0.relu() }),
        ]
        for (name, pos, op) in cases {
            check(name, [t([3, 4], 1, positive: pos), t([3, 4], 2)]) { v in (op(v[0]) * v[1]).sum() }
        }
    }

    /// Binary ops with broadcasting, scalar forms, and reductions.
    func testBinaryAndReductionGraphVJPs() {
        let x = t([2, 3, 4], 3), z = t([1, 3, 1], 4, positive: true), y = t([2, 3, 4], 5)
        check("add", [x, z, y], wrt: [0, 1]) { v in ((v[0] + v[1]) * (v[0] + v[1]) * v[2]).sum() }
        check("sub", [x, z, y], wrt: [0, 1]) { v in ((v[0] - v[1]) * (v[1] - v[0]) * v[2]).sum() }
        check("mul", [x, z, y], wrt: [0, 1]) { v in (v[0] * v[1] * v[2]).sum() }
        check("div", [x, z, y], wrt: [0, 1]) { v in (v[0] / v[1] * v[2]).sum() }
        check("scale, shift", [x, y]) { v in (((v[0] * 1.5 + 0.3) * v[0]) * v[1]).sum() }
        check("sum(axis)", [x, y]) { v in (v[0].sum(axis: 1, keepDims: true) * v[0] * v[1]).sum() }
        check("sum(), mean", [x, y]) { v in v[0].sum() * (v[0] * v[1]).mean() }
        check("sum(to:), broadcast", [x, y]) { v in (v[0].sum(to: [1, 3, 1]).broadcast(to: [2, 3, 4]) * v[0] * v[1]).sum() }
    }

    /// matmul in every transposition, batched, and with a shared 2-D right operand.
    func testMatmulGraphVJP() {
        let a = t([2, 3, 4], 6), b = t([2, 4, 5], 7), w = t([4, 5], 8), y = t([2, 3, 5], 9)
        check("matmul", [a, b, y], wrt: [0, 1]) { v in (matmul(v[0], v[1]) * v[2]).sum() }
        check("matmul shared", [a, w, y], wrt: [0, 1]) { v in (matmul(v[0], v[1]).tanh() * v[2]).sum() }
        let at = t([2, 4, 3], 10), bt = t([2, 5, 4], 11)
        check("matmul transA transB", [at, bt, y], wrt: [0, 1]) { v in (matmul(v[0], v[1], transA: true, transB: true).tanh() * v[2]).sum() }
        check("matmul transA", [at, b, y], wrt: [0, 1]) { v in (matmul(v[0], v[1], transA: true).square() * v[2]).sum() }
    }

    /// Shape ops: reshape, permute, transpose, slice, concat, tril.
    func testShapeGraphVJPs() {
        let x = t([2, 3, 4], 12), y = t([2, 3, 4], 13)
        check("reshape", [x, y]) { v in (v[0].reshape([6, 4]).tanh().reshape([2, 3, 4]) * v[1]).sum() }
        check("permute", [x, y]) { v in (v[0].permute([2, 0, 1]).square().permute([1, 2, 0]) * v[1]).sum() }
        check("slice", [x, y]) { v in (v[0].slice(axis: 1, 1, 3).square() * v[1].slice(axis: 1, 0, 2)).sum() }
        check("concat", [x, y]) { v in (concat([v[0].square(), v[0].slice(axis: 2, 0, 1)], axis: 2).slice(axis: 2, 1, 5) * v[1]).sum() }
        let s = t([2, 4, 4], 14), u = t([2, 4, 4], 15)
        check("tril", [s, u]) { v in (v[0].tril().square() * v[1]).sum() }
    }

    /// Fused ops with a composite graph VJP (recomputed from differentiable ops): layer norm (shared and
    /// per-head γ, β), RMS norm, softmax, log-softmax.
    func testNormAndSoftmaxGraphVJPs() {
        let x = t([3, 2, 5], 21), y = t([3, 2, 5], 22)
        check("layerNorm [m]", [x, t([5], 23, std: 0.5), t([5], 24), y], wrt: [0, 1, 2]) { v in
            (v[0].layerNorm(gamma: v[1], beta: v[2]).square() * v[3]).sum()
        }
        check("layerNorm per head", [x, t([2, 5], 25, std: 0.5), t([2, 5], 26), y], wrt: [0, 1, 2]) { v in
            (v[0].layerNorm(gamma: v[1], beta: v[2]).tanh() * v[3]).sum()
        }
        check("rmsNorm", [x, t([5], 27, std: 0.5), y], wrt: [0, 1]) { v in (v[0].rmsNorm(weight: v[1]).square() * v[2]).sum() }
        check("softmax", [x, y]) { v in (v[0].softmax() * v[1]).sum() }
        check("logSoftmax", [x, y]) { v in (v[0].logSoftmax() * v[1]).sum() }
    }

    /// An op without a graph VJP (gelu′, whose derivative is first-order only) is named in the
    /// `StopGradients` recorder, and its HVP misses the second-order term (so a missing graph VJP shows).
    func testOpWithoutGraphVJPIsNamed() {
        let x = t([3, 4], 16), y = t([3, 4], 17)
        let stops = StopGradients()
        let e = hvpError({ v in (v[0].geluPrime() * v[1]).sum() }, [x, y], wrt: [0], createGraph: true, stopGradients: stops)
        XCTAssertTrue(stops.ops.contains("geluPrime"), "\(stops.ops)")
        XCTAssertGreaterThan(e, 1e-2)
    }

    /// `gradientInGraph` joins its local gradient to the outer graph: d/dW of ⟨∇_W f, r⟩ through it
    /// equals `gradients` in create-graph mode directly (bit-identical); without recording it returns
    /// plain values that require no grad.
    func testGradientInGraphJoinsTheOuterGraph() {
        let W = t([4, 3], 18).requiringGrad(), x = t([2, 4], 19).requiringGrad(), r = t([4, 3], 20)
        let inner = { (v: [Tensor]) in matmul(v[1], v[0]).tanh().sum() }
        let g = gradientInGraph(at: [W, x], wrt: 1, inner)[0]
        XCTAssertTrue(g.requiresGrad)
        let viaAlias = gradients(of: (g * r).sum(), wrt: [W, x])
        let direct = gradients(of: gradients(of: inner([W, x]), wrt: [W], createGraph: true)[0]!.times(r).sum(), wrt: [W, x])
        for k in 0..<2 { XCTAssertEqual(viaAlias[k]!.array, direct[k]!.array) }
        let plain = withNoGrad { gradientInGraph(at: [W, x], wrt: 1, inner)[0] }
        XCTAssertFalse(plain.requiresGrad)
        XCTAssertEqual(plain.array, g.array)
    }
}

private extension Tensor {
    func times(_ o: Tensor) -> Tensor { self * o }
}
