// TTTPrePostTests.swift — the TTT layer's stages before and after the inner loop against an independent Double
// implementation written from the spec (§1.2–1.4, §1.7): projections and the Mamba backbone's causal convs, RoPE
// restarted in every mini-batch (position t mod b), the η gate (η_base·ρ/d)·σ(x·w_lr + β_lr), the token scale
// c_i = relu(1/i + λ_i), the post-norm, the gate and the output projection, and the mini-batch partition.
// Fused and reference paths share this code, so the fused ≡ reference tests cannot see a fault here.
// Tolerance: max |Δ| / max |ref| ≤ 1e-5 (Float32 vs Double). Controls: the same reference with the fault named
// (RoPE positions not restarted, η without 1/d, c_i = 1/(i+1), no post-norm β, no gate) must miss it.
import XCTest
@testable import Layers
import TensorCore
import TestSupport
import Zoo

final class TTTPrePostTests: XCTestCase {
    static let (B, T, D, H, b) = (2, 7, 8, 2, 4)
    static let tolerance = 1e-5

    /// A TTT layer with every parameter random (biases, λ, β_lr, post-norm β too) so that no term is zero.
    func layer(_ name: String) throws -> TTTLayer {
        var cfg = LayerConfig(width: Self.D, heads: Self.H)
        cfg.ttt.miniBatch = Self.b
        let l = try LayerRegistry.make(name, cfg, seed: 3) as! TTTLayer
        var rng = RNG(seed: 4)
        for p in l.parameters { for i in 0..<p.tensor.count { p.tensor.data[i] = 0.5 * rng.normal() + (p.name.contains("norm.weight") ? 1 : 0) } }
        return l
    }

    /// x·W for x [B, T, Din] and W [Din, Dout] (lab layout), in Double.
    func mm(_ x: [Double], _ w: Tensor, rows: Int) -> [Double] {
        let (di, dout) = (w.dim(0), w.dim(1))
        var y = [Double](repeating: 0, count: rows * dout)
        for r in 0..<rows { for o in 0..<dout { var s = 0.0; for i in 0..<di { s += x[r * di + i] * Double(w.data[i * dout + o]) }; y[r * dout + o] = s } }
        return y
    }

    /// Causal conv y[t] = bias + Σ_j w[j]·x[t − (k−1) + j] per channel, [B, T, C].
    func conv(_ x: [Double], _ w: Tensor, _ bias: Tensor) -> [Double] {
        let (k, C) = (w.dim(0), w.dim(1)), (B, T) = (Self.B, Self.T)
        var y = [Double](repeating: 0, count: B * T * C)
        for bi in 0..<B { for t in 0..<T { for c in 0..<C {
            var s = Double(bias.data[c])
            for j in 0..<k where t - (k - 1) + j >= 0 { s += Double(w.data[j * C + c]) * x[(bi * T + t - (k - 1) + j) * C + c] }
            y[(bi * T + t) * C + c] = s
        } } }
        return y
    }

    /// [B, T, H·d] → heads [B·H, T, d], RoPE (interleaved pairs, φ = pos·θ^(−2i/d)) at the given positions.
    func heads(_ x: [Double], rope positions: [Int]?, theta: Double) -> [Double] {
        let (B, T, H) = (Self.B, Self.T, Self.H), d = Self.D / H
        var out = [Double](repeating: 0, count: B * T * Self.D)
        for bi in 0..<B { for h in 0..<H { for t in 0..<T {
            let src = (bi * T + t) * Self.D + h * d, dst = ((bi * H + h) * T + t) * d
            for i in 0..<(d / 2) {
                let a = x[src + 2 * i], c = x[src + 2 * i + 1]
                let phi = positions.map { Double($0[t]) * pow(theta, -2 * Double(i) / Double(d)) } ?? 0
                out[dst + 2 * i] = a * cos(phi) - c * sin(phi)
                out[dst + 2 * i + 1] = a * sin(phi) + c * cos(phi)
            }
        } } }
        return out
    }

    func check(_ got: Tensor, _ ref: [Double], _ what: String, controls: [(String, [Double])] = []) {
        let e = arrayError(Array(UnsafeBufferPointer(start: got.data, count: got.count)), ref, shape: got.shape, .relMax)
        XCTAssertTrue(e.error <= Self.tolerance, "\(what): max|Δ|/max|ref| = \(e.error) at \(e.position)\(e.problem.map { " (\($0))" } ?? "")")
        for (fault, bad) in controls {
            let c = arrayError(Array(UnsafeBufferPointer(start: got.data, count: got.count)), bad, .relMax)
            XCTAssertTrue(c.problem == nil && c.error > 100 * Self.tolerance, "\(what): the reference with \(fault) must miss (\(c.error))")
        }
    }

    func testInputsToTheInnerLoopMatchTheSpec() throws {
        for name in ["ttt-linear", "ttt-mlp-m"] {
            let l = try layer(name)
            let (B, T, D, H, b) = (Self.B, Self.T, Self.D, Self.H, Self.b), d = D / H
            let x = randomInput([B, T, D], seed: 9)
            let xd = (0..<x.count).map { Double(x.data[$0]) }
            let m = withNoGrad { l.mixerInputs(x) }
            // Projections (and the Mamba backbone's convs on the shared projection), then RoPE at t mod b.
            var q = mm(xd, l.wq, rows: B * T), k = l.wk.map { mm(xd, $0, rows: B * T) } ?? q
            if let cq = l.convQ, let ck = l.convK { let u = q; q = conv(u, cq.w, cq.b); k = conv(u, ck.w, ck.b) }
            let v = mm(xd, l.wv, rows: B * T), theta = Double(l.config.ropeTheta)
            let pos = (0..<T).map { $0 % b }, noRestart = Array(0..<T)
            check(m.q, heads(q, rope: pos, theta: theta), "\(name) q", controls: [("RoPE positions not restarted per mini-batch", heads(q, rope: noRestart, theta: theta))])
            check(m.k, heads(k, rope: pos, theta: theta), "\(name) k", controls: [("RoPE positions not restarted per mini-batch", heads(k, rope: noRestart, theta: theta))])
            check(m.v, heads(v, rope: nil, theta: theta), "\(name) v")
            // η_t = (η_base·ρ/d)·σ(x_t·w_lr + β_lr) per head, [B·H, T, 1].
            let s = mm(xd, l.lrWeight, rows: B * T)
            func eta(scale: Double) -> [Double] {
                var e = [Double](repeating: 0, count: B * H * T)
                for bi in 0..<B { for h in 0..<H { for t in 0..<T {
                    let z = s[(bi * T + t) * H + h] + Double(l.lrBias.data[h])
                    e[(bi * H + h) * T + t] = scale / (1 + exp(-z))
                } } }
                return e
            }
            let base = Double(l.baseLR) * Double(l.lrMult)
            check(m.eta, eta(scale: base / Double(d)), "\(name) η", controls: [("η_base without 1/d", eta(scale: base))])
            // c_i = relu(1/i + λ_i), i = 1…b.
            let c = (0..<b).map { max(0, 1 / Double($0 + 1) + Double(l.tokenIdx.data[$0])) }
            let cOff = (0..<b).map { max(0, 1 / Double($0 + 2) + Double(l.tokenIdx.data[$0])) }
            check(m.c, c, "\(name) c", controls: [("c_i = 1/(i+1)", cOff)])
        }
    }

    func testOutputStageMatchesTheSpec() throws {
        for name in ["ttt-linear", "ttt-mlp-m"] {
            let l = try layer(name)
            let (B, T, D, H) = (Self.B, Self.T, Self.D, Self.H), d = D / H
            let x = randomInput([B, T, D], seed: 10), o = randomInput([B * H, T, d], seed: 11)
            let xd = (0..<x.count).map { Double(x.data[$0]) }
            let y = withNoGrad { l.outputProjection(o, h: x) }
            func reference(postBeta: Bool = true, gate: Bool = true) -> [Double] {
                var merged = [Double](repeating: 0, count: B * T * D)
                for bi in 0..<B { for h in 0..<H { for t in 0..<T { for j in 0..<d {
                    merged[(bi * T + t) * D + h * d + j] = Double(o.data[((bi * H + h) * T + t) * d + j])
                } } } }
                for r in 0..<(B * T) {                                           // post-norm (LN, ε = 1e-6)
                    let row = Array(merged[(r * D)..<((r + 1) * D)])
                    let mu = row.reduce(0, +) / Double(D), v = row.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(D)
                    for j in 0..<D { merged[r * D + j] = (row[j] - mu) / (v + 1e-6).squareRoot() * Double(l.postGamma.data[j]) + (postBeta ? Double(l.postBeta.data[j]) : 0) }
                }
                if let wg = l.wg, gate {                                         // gate: GELU(x·W_g) ⊙ o
                    let g = mm(xd, wg, rows: B * T)
                    for i in 0..<merged.count {
                        let z = g[i]
                        merged[i] *= 0.5 * z * (1 + tanh((2 / Double.pi).squareRoot() * (z + 0.044715 * z * z * z)))
                    }
                }
                return mm(merged, l.wo, rows: B * T)
            }
            var controls = [("post-norm without β", reference(postBeta: false))]
            if l.wg != nil { controls.append(("no output gate", reference(gate: false))) }
            check(y, reference(), "\(name) output stage", controls: controls)
        }
    }

    func testMiniBatchPartition() throws {
        let l = try layer("ttt-linear")
        XCTAssertEqual(l.miniBatches(from: 0, count: 7).map { [$0.lo, $0.hi] }, [[0, 4], [4, 7]])
        XCTAssertEqual(l.miniBatches(from: 2, count: 7).map { [$0.lo, $0.hi] }, [[0, 2], [2, 6], [6, 7]], "decode from position 2")
        XCTAssertEqual(l.miniBatches(from: 0, count: 4).map { [$0.lo, $0.hi] }, [[0, 4]])
    }
}
