// LinearAttentionTests.swift — the three forms agree, decode == prefill, naive reference, causality, gradients.
import XCTest
import Foundation
import TensorCore
import TestSupport
@testable import Layers

final class LinearAttentionTests: XCTestCase {
    typealias LA = LinearAttention

    func make(_ variant: String, width: Int = 16, heads: Int = 2, chunk: Int = 4, seed: UInt64 = 1) throws -> LA {
        var cfg = LayerConfig(width: width, heads: heads)
        cfg.linearAttention.variant = variant
        cfg.linearAttention.chunk = chunk
        var rng = RNG(seed: seed)
        let layer = try LA(config: cfg, rng: &rng)
        for p in layer.parameters { BT.refill(p.tensor, std: 0.3, rng: &rng) }
        return layer
    }

    /// Heads q, k, v [BH=4, T=13, d=8]: parallel == chunked(c) for c ∈ {1, 3, 4, 5, 13, 20} == recurrent,
    /// to 1e-5 · max|z|, both variants. Controls: a chunked form whose state is not carried between chunks (each
    /// chunk mixed alone — the fault a chunked form can make) fails the same check; perturbing k at token 3
    /// changes z from token 3 on only (causality).
    func testFormsAgree() {
        let q = BT.randn([4, 13, 8], seed: 1), k = BT.randn([4, 13, 8], seed: 2), v = BT.randn([4, 13, 8], seed: 3)
        for variant in LA.Variant.allCases {
            let zp = withNoGrad { LA.mix(q: q, k: k, v: v, variant: variant, form: .parallel) }
            for c in [1, 3, 4, 5, 13, 20] {
                let zc = withNoGrad { LA.mix(q: q, k: k, v: v, variant: variant, form: .chunked(c)) }
                XCTAssertLessThan(BT.relErr(zp, zc), 1e-5, "\(variant) chunk \(c)")
            }
            let zr = LA.mix(q: q, k: k, v: v, variant: variant, form: .recurrent)
            XCTAssertLessThan(BT.relErr(zp, zr), 1e-5, "\(variant) recurrent")
            // Negative control, the fault named: chunked(4) with the carried state dropped.
            let dropped = withNoGrad { concat(stride(from: 0, to: 13, by: 4).map { lo in
                let hi = min(lo + 4, 13)
                return LA.mix(q: q.slice(axis: 1, lo, hi), k: k.slice(axis: 1, lo, hi), v: v.slice(axis: 1, lo, hi), variant: variant, form: .chunked(4))
            }, axis: 1) }
            XCTAssertGreaterThan(BT.relErr(zp, dropped), 1e-2, "\(variant): a chunked form without its carried state must fail")
            // Negative control: a different k at token 3 only.
            let k2 = k.copy(); for bh in 0..<4 { for j in 0..<8 { k2.data[(bh * 13 + 3) * 8 + j] += 0.7 } }
            let zb = LA.mix(q: q, k: k2, v: v, variant: variant, form: .recurrent)
            XCTAssertGreaterThan(BT.maxAbsDiff(zp, zb, tokens: 3, 13) / BT.maxAbs(zp), 1e-2, "\(variant)")
            XCTAssertLessThan(BT.maxAbsDiff(zp, zb, tokens: 0, 3) / BT.maxAbs(zp), 1e-5, "\(variant)")
        }
        // The two variants really differ.
        XCTAssertGreaterThan(BT.relErr(LA.mix(q: q, k: k, v: v, variant: .simple, form: .parallel),
                                       LA.mix(q: q, k: k, v: v, variant: .elu, form: .parallel)), 0.1)
    }

    /// `mix` equals the explicit Double sums z_t = Σ_{s≤t}(q_t·k_s)v_s (simple) and
    /// Σ_{s≤t}(φq_t·φk_s)v_s / Σ_{s≤t}φq_t·φk_s (elu, φ = elu + 1), to 1e-5 relative.
    func testMatchesNaiveReference() {
        let (bh, t, d) = (3, 7, 4)
        let q = BT.randn([bh, t, d], seed: 4), k = BT.randn([bh, t, d], seed: 5), v = BT.randn([bh, t, d], seed: 6)
        func phi(_ x: Float) -> Double { let x = Double(x); return x > 0 ? x + 1 : exp(x) }
        for variant in LA.Variant.allCases {
            var ref = [Float](repeating: 0, count: bh * t * d)
            for b in 0..<bh { for ti in 0..<t {
                var num = [Double](repeating: 0, count: d), den = 0.0
                for s in 0...ti {
                    var a = 0.0
                    for i in 0..<d {
                        let qi = q.data[(b * t + ti) * d + i], ki = k.data[(b * t + s) * d + i]
                        a += variant == .elu ? phi(qi) * phi(ki) : Double(qi) * Double(ki)
                    }
                    den += a
                    for j in 0..<d { num[j] += a * Double(v.data[(b * t + s) * d + j]) }
                }
                for j in 0..<d { ref[(b * t + ti) * d + j] = Float(variant == .elu ? num[j] / den : num[j]) }
            } }
            let r = Tensor(ref, shape: [bh, t, d])
            for form in [LA.Form.parallel, .chunked(3), .recurrent] {
                XCTAssertLessThan(BT.relErr(r, LA.mix(q: q, k: k, v: v, variant: variant, form: form)), 1e-5, "\(variant) \(form)")
            }
        }
    }

    /// Layer decode (token by token, and 5-token prompt + tokens) == parallel forward to 1e-5 · max|y|,
    /// both variants; perturbing token 2 on the decode side, or a fresh state mid-way, breaks it.
    func testDecodeMatchesPrefill() throws {
        let x = BT.randn([2, 13, 16], seed: 7)
        for variant in ["simple", "elu"] {
            let layer = try make(variant)
            layer.form = .parallel
            let y = withNoGrad { layer(x) }
            XCTAssertLessThan(BT.relErr(y, BT.decodeAll(layer, x)), 1e-5, variant)
            XCTAssertLessThan(BT.relErr(y, BT.decodeSplit(layer, x, prompt: 5)), 1e-5, variant)
            let bad = BT.decodeAll(layer, BT.perturbed(x, token: 2))
            XCTAssertGreaterThan(BT.maxAbsDiff(y, bad, tokens: 2, 13) / BT.maxAbs(y), 1e-2, variant)
            let st = layer.makeState(batch: 2)
            _ = layer.step(x.slicedRaw(axis: 1, 0, 6), state: st)
            let reset = layer.step(x.slicedRaw(axis: 1, 6, 13), state: layer.makeState(batch: 2))
            XCTAssertGreaterThan(BT.maxAbsDiff(y.slicedRaw(axis: 1, 6, 13), reset) / BT.maxAbs(y), 1e-2, variant)
        }
    }

    /// Changing token 7 leaves outputs 0..<7 unchanged (≤ 1e-6 · max|y|), every form and variant (on the
    /// reference kernels: the fused ones ignore `form`), and the fused kernels.
    func testCausality() throws {
        let x = BT.randn([2, 13, 16], seed: 8), x2 = BT.perturbed(x, token: 7)
        for variant in ["simple", "elu"] {
            let layer = try make(variant)
            for (form, kernels) in [(LA.Form.parallel, KernelPath.reference), (.chunked(4), .reference), (.recurrent, .reference), (.parallel, .fused)] {
                layer.form = form; layer.kernels = kernels
                let y = withNoGrad { layer(x) }, y2 = withNoGrad { layer(x2) }
                XCTAssertLessThanOrEqual(BT.maxAbsDiff(y, y2, tokens: 0, 7), 1e-6 * BT.maxAbs(y), "\(variant) \(form)")
                XCTAssertGreaterThan(BT.maxAbsDiff(y, y2, tokens: 7, 8), 1e-2 * BT.maxAbs(y), "\(variant) \(form) \(kernels)")
            }
        }
    }

    /// Finite differences on 16 entries of each projection (B=2, T=7, D=8, H=2, h 1e-2), parallel and chunked(3)
    /// forms on the reference kernels, both variants (shared check: 1e-3 relative + 1e-4·max|num| + rounding
    /// floor). A 1 % wrong gradient fails.
    /// Also: the parallel and chunked forms give the same gradients w.r.t. q, k, v (1e-5 relative).
    func testGradients() throws {
        let x = BT.randn([2, 7, 8], seed: 9)
        for variant in ["simple", "elu"] {
            let layer = try make(variant, width: 8, heads: 2, seed: 10)
            for form in [LA.Form.parallel, .chunked(3)] {
                layer.form = form; layer.kernels = .reference              // the fused kernels ignore `form`
                let ok = BT.gradCheck(layer, x: x)
        print("\(type(of: self)) grad check worst ratio \(ok.worst) at \(ok.worstWhere)")
                XCTAssertLessThanOrEqual(ok.worst, 1, "\(variant) \(form): \(ok.worstWhere)")
                XCTAssertEqual(ok.checked, 4 * 16)
                XCTAssertGreaterThan(BT.gradCheck(layer, x: x, tamper: 1.01).worst, 1, "\(variant) \(form): a 1 % wrong gradient must fail")
            }
            // d(Σ z⊙w)/d(q, k, v): parallel vs chunked(3).
            let v0 = LA.Variant(rawValue: variant)!
            let w = BT.randn([4, 7, 4], seed: 11)
            func grads(_ form: LA.Form) -> [Tensor] {
                let q = BT.randn([4, 7, 4], seed: 12).requiringGrad(), k = BT.randn([4, 7, 4], seed: 13).requiringGrad()
                let v = BT.randn([4, 7, 4], seed: 14).requiringGrad()
                (LA.mix(q: q, k: k, v: v, variant: v0, form: form) * w).sum().backward()
                return [q.grad!, k.grad!, v.grad!]
            }
            for (a, b) in zip(grads(.parallel), grads(.chunked(3))) { XCTAssertLessThan(BT.relErr(a, b), 1e-5, variant) }
        }
    }

    /// Counted GEMM FLOPs of a decode token = B·(8D² + 4Dd); state bytes = H·d·d·4 (+ H·d·4 for elu).
    func testAccounting() throws {
        let x = BT.randn([2, 3, 16], seed: 15)
        for variant in ["simple", "elu"] {
            let layer = try make(variant)
            let st = layer.makeState(batch: 2)
            _ = layer.step(x.slicedRaw(axis: 1, 0, 2), state: st)
            let f = FLOPCounter.measure { _ = layer.step(x.slicedRaw(axis: 1, 2, 3), state: st) }
            XCTAssertEqual(Double(f.matmul), 2 * layer.flopsPerToken(context: 1000))
            XCTAssertEqual(layer.flopsPerToken(context: 3), 8 * 256 + 4 * 16 * 8)
            let expected = (2 * 8 * 8 + (variant == "elu" ? 2 * 8 : 0)) * 4
            XCTAssertEqual(layer.stateBytes(context: 5), expected)
            XCTAssertEqual(st.bytes, 2 * expected)
            XCTAssertEqual(st.position, 3)
        }
        var cfg = LayerConfig(width: 16, heads: 2); cfg.linearAttention.variant = "relu"
        var rng = RNG(seed: 0)
        XCTAssertThrowsError(try LA(config: cfg, rng: &rng))
    }
}
