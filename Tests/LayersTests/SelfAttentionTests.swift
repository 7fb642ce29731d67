// SelfAttentionTests.swift — causal softmax attention: decode vs prefill, naive reference, causality, gradients.
import XCTest
import Foundation
import TensorCore
import TestSupport
@testable import Layers

final class SelfAttentionTests: XCTestCase {
    /// B=2, T=13, D=16, H=2 with projections refilled at std 0.3 (so the softmax is far from uniform).
    func make(width: Int = 16, heads: Int = 2, seed: UInt64 = 1) throws -> SelfAttention {
        var rng = RNG(seed: seed)
        let layer = try SelfAttention(config: LayerConfig(width: width, heads: heads), rng: &rng)
        for p in layer.parameters { BT.refill(p.tensor, std: 0.3, rng: &rng) }
        return layer
    }

    /// Token-by-token decode and a 5-token prefill + decode both equal the parallel forward to
    /// 1e-5 · max|y|; perturbing an earlier token on the decode side (or resetting the cache) breaks it.
    func testDecodeMatchesPrefill() throws {
        let layer = try make()
        let x = BT.randn([2, 13, 16], seed: 2)
        let y = withNoGrad { layer(x) }
        let yd = BT.decodeAll(layer, x)
        let ys = BT.decodeSplit(layer, x, prompt: 5)
        XCTAssertLessThan(BT.relErr(y, yd), 1e-5)
        XCTAssertLessThan(BT.relErr(y, ys), 1e-5)
        // Negative controls.
        let bad = BT.decodeAll(layer, BT.perturbed(x, token: 2))
        XCTAssertGreaterThan(BT.maxAbsDiff(y, bad, tokens: 2, 13) / BT.maxAbs(y), 1e-2)
        XCTAssertLessThan(BT.maxAbsDiff(y, bad, tokens: 0, 2) / BT.maxAbs(y), 1e-5)   // and only from token 2 on
        let st = layer.makeState(batch: 2)
        _ = layer.step(x.slicedRaw(axis: 1, 0, 6), state: st)
        let reset = layer.step(x.slicedRaw(axis: 1, 6, 13), state: layer.makeState(batch: 2))
        XCTAssertGreaterThan(BT.maxAbsDiff(y.slicedRaw(axis: 1, 6, 13), reset) / BT.maxAbs(y), 1e-2)
    }

    /// Parallel forward equals explicit Double loops (RoPE, scores, masked softmax, P·V, Wo) to 1e-5 relative.
    func testMatchesNaiveReference() throws {
        let (b, t, d, h) = (2, 6, 8, 2)
        let layer = try make(width: d, heads: h, seed: 3)
        let x = BT.randn([b, t, d], seed: 4)
        let y = withNoGrad { layer(x) }
        let dh = d / h, theta = Double(layer.config.ropeTheta)
        func w(_ m: Tensor, _ i: Int, _ j: Int) -> Double { Double(m.data[i * d + j]) }
        var ref = [Double](repeating: 0, count: b * t * d)
        for bi in 0..<b {
            func proj(_ m: Tensor) -> [[Double]] {
                (0..<t).map { ti in (0..<d).map { o in (0..<d).reduce(0.0) { $0 + Double(x.data[(bi * t + ti) * d + $1]) * w(m, $1, o) } } }
            }
            var q = proj(layer.wq), k = proj(layer.wk)
            let v = proj(layer.wv)
            for ti in 0..<t { for hi in 0..<h { for i in 0..<(dh / 2) {
                let phi = Double(ti) * pow(theta, -2 * Double(i) / Double(dh))
                let (c, s) = (cos(phi), sin(phi))
                for m in [0, 1] {
                    var r = m == 0 ? q : k
                    let a = r[ti][hi * dh + 2 * i], bb = r[ti][hi * dh + 2 * i + 1]
                    r[ti][hi * dh + 2 * i] = a * c - bb * s
                    r[ti][hi * dh + 2 * i + 1] = a * s + bb * c
                    if m == 0 { q = r } else { k = r }
                }
            } } }
            var z = [[Double]](repeating: [Double](repeating: 0, count: d), count: t)
            for hi in 0..<h { for ti in 0..<t {
                let sc = (0...ti).map { s in (0..<dh).reduce(0.0) { $0 + q[ti][hi * dh + $1] * k[s][hi * dh + $1] } / Double(dh).squareRoot() }
                let mx = sc.max()!, e = sc.map { exp($0 - mx) }, tot = e.reduce(0, +)
                for j in 0..<dh { z[ti][hi * dh + j] = (0...ti).reduce(0.0) { $0 + e[$1] / tot * v[$1][hi * dh + j] } }
            } }
            for ti in 0..<t { for o in 0..<d { ref[(bi * t + ti) * d + o] = (0..<d).reduce(0.0) { $0 + z[ti][$1] * w(layer.wo, $1, o) } } }
        }
        let r = Tensor(ref.map { Float($0) }, shape: [b, t, d])
        XCTAssertLessThan(BT.relErr(r, y), 1e-5)
        // Negative control: the reference without RoPE differs (so RoPE is really being checked).
        var cfg = layer.config; cfg.ropeTheta = 1e30          // φ ≈ 0 beyond pair 0; pair 0 still rotates
        var rng = RNG(seed: 3)
        let other = try SelfAttention(config: cfg, rng: &rng)
        for (p, q) in zip(other.parameters, layer.parameters) { p.tensor.data.update(from: q.tensor.data, count: q.tensor.count) }
        XCTAssertGreaterThan(BT.relErr(r, withNoGrad { other(x) }), 1e-3)
    }

    /// Changing token 7 leaves outputs 0..<7 unchanged (≤ 1e-6 · max|y|) and changes 7.
    func testCausality() throws {
        let layer = try make()
        let x = BT.randn([2, 13, 16], seed: 5)
        let y = withNoGrad { layer(x) }, y2 = withNoGrad { layer(BT.perturbed(x, token: 7)) }
        XCTAssertLessThanOrEqual(BT.maxAbsDiff(y, y2, tokens: 0, 7), 1e-6 * BT.maxAbs(y))
        XCTAssertGreaterThan(BT.maxAbsDiff(y, y2, tokens: 7, 8), 1e-2 * BT.maxAbs(y))
    }

    /// Finite differences on 16 entries of each of Wq, Wk, Wv, Wo (B=2, T=5, D=8, H=2), through the shared check
    /// (`BT.gradCheck`: fourth-order differences, |a − n| ≤ 1e-3·|n| + 1e-4·max|n| + Float32 rounding floor, NaN
    /// fails). Negative control: the analytic gradient × 1.01 fails the same check.
    func testGradients() throws {
        let layer = try make(width: 8, heads: 2, seed: 6)
        let x = BT.randn([2, 5, 8], seed: 7)
        let ok = BT.gradCheck(layer, x: x)
        print("\(type(of: self)) grad check worst ratio \(ok.worst) at \(ok.worstWhere)")
        XCTAssertLessThanOrEqual(ok.worst, 1, ok.worstWhere)
        XCTAssertEqual(ok.checked, 4 * 16)
        let bad = BT.gradCheck(layer, x: x, tamper: 1.01)
        XCTAssertGreaterThan(bad.worst, 1, "a 1 % wrong gradient must fail the check")
    }

    /// Counted GEMM FLOPs of one decode token at context t equal B·flopsPerToken(t) = B(8D² + 4Dt);
    /// cache bytes equal B·stateBytes(t) = B·2Dt·4.
    func testAccounting() throws {
        let layer = try make()
        let x = BT.randn([2, 13, 16], seed: 8)
        let st = layer.makeState(batch: 2)
        _ = layer.step(x.slicedRaw(axis: 1, 0, 9), state: st)
        let f = FLOPCounter.measure { _ = layer.step(x.slicedRaw(axis: 1, 9, 10), state: st) }
        XCTAssertEqual(Double(f.matmul), 2 * layer.flopsPerToken(context: 10))
        XCTAssertEqual(layer.flopsPerToken(context: 10), 8 * 256 + 4 * 16 * 10)
        XCTAssertEqual(st.bytes, 2 * layer.stateBytes(context: 10))
        XCTAssertEqual(layer.stateBytes(context: 10), 2 * 16 * 10 * 4)
        XCTAssertEqual(st.position, 10)
        XCTAssertEqual(layer.causalAverageFlopsPerToken(length: 13),
                       (1...13).map { layer.flopsPerToken(context: $0) }.reduce(0, +) / 13, accuracy: 1e-9)
        XCTAssertEqual(layer.parameters.map(\.name), ["q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight"])
    }
}
