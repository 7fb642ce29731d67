// MambaTests.swift — S6 block: decode == prefill, naive Double reference, causality, gradients, accounting.
import XCTest
import Foundation
import TensorCore
import TestSupport
@testable import Layers

final class MambaTests: XCTestCase {
    /// D=16 (D_in = 32, R = 1), N = `state`, k = 4. Projections refilled at std 1/√fan_in so the block is
    /// far from linear; the other parameters keep their (upstream) init.
    func make(width: Int = 16, state: Int = 16, conv: Int = 4, seed: UInt64 = 1) throws -> Mamba {
        var cfg = LayerConfig(width: width, heads: 1)
        cfg.mamba.state = state
        cfg.convWidth = conv
        var rng = RNG(seed: seed)
        let m = try Mamba(config: cfg, rng: &rng)
        for t in [m.inProj, m.xProj, m.outProj] { BT.refill(t, std: 1 / Float(t.dim(0)).squareRoot(), rng: &rng) }
        return m
    }

    /// Token-by-token decode and a 5-token prompt + decode equal the parallel forward to 1e-5 · max|y|
    /// (B=2, T=13, D=16); perturbing token 2 on the decode side, or a fresh state mid-way, breaks it.
    func testDecodeMatchesPrefill() throws {
        let m = try make()
        let x = BT.randn([2, 13, 16], seed: 2)
        let y = withNoGrad { m(x) }
        XCTAssertLessThan(BT.relErr(y, BT.decodeAll(m, x)), 1e-5)
        XCTAssertLessThan(BT.relErr(y, BT.decodeSplit(m, x, prompt: 5)), 1e-5)
        let bad = BT.decodeAll(m, BT.perturbed(x, token: 2))
        XCTAssertGreaterThan(BT.maxAbsDiff(y, bad, tokens: 2, 13) / BT.maxAbs(y), 1e-2)
        XCTAssertLessThan(BT.maxAbsDiff(y, bad, tokens: 0, 2) / BT.maxAbs(y), 1e-5)
        let st = m.makeState(batch: 2)
        _ = m.step(x.slicedRaw(axis: 1, 0, 6), state: st)
        let reset = m.step(x.slicedRaw(axis: 1, 6, 13), state: m.makeState(batch: 2))
        XCTAssertGreaterThan(BT.maxAbsDiff(y.slicedRaw(axis: 1, 6, 13), reset) / BT.maxAbs(y), 1e-2)
    }

    /// The whole block (in_proj, conv, silu, x/dt projections, softplus, the per-channel scan loop, gate,
    /// out_proj) written as explicit Double loops equals the parallel forward and the decode to 1e-5 relative.
    func testMatchesNaiveReference() throws {
        let (b, t, d, n, k) = (2, 9, 8, 4, 3)
        let m = try make(width: d, state: n, conv: k, seed: 3)
        // Larger D and dt so the scan's decay and input terms both matter.
        var rng = RNG(seed: 33)
        BT.refill(m.dSkip, std: 1, rng: &rng)
        for c in 0..<m.inner { m.dtBias.data[c] = Float(-1 + Double(c % 3)) }
        let x = BT.randn([b, t, d], seed: 4)
        let y = withNoGrad { m(x) }
        let (di, r) = (m.inner, m.dtRank)
        func at(_ w: Tensor, _ i: Int, _ j: Int) -> Double { Double(w.data[i * w.dim(1) + j]) }
        func silu(_ v: Double) -> Double { v / (1 + exp(-v)) }
        var ref = [Float](repeating: 0, count: b * t * d)
        for bi in 0..<b {
            let h = (0..<t).map { ti in (0..<d).map { Double(x.data[(bi * t + ti) * d + $0]) } }
            let xz = h.map { row in (0..<(2 * di)).map { o in (0..<d).reduce(0.0) { $0 + row[$1] * at(m.inProj, $1, o) } } }
            // conv: weight[j, c] multiplies x[t − (k−1) + j]
            let xc = (0..<t).map { ti in (0..<di).map { c in
                silu(Double(m.convBias.data[c]) + (0..<k).reduce(0.0) { acc, j in
                    let s = ti - (k - 1) + j
                    return s < 0 ? acc : acc + at(m.convWeight, j, c) * xz[s][c]
                })
            } }
            let xdbl = xc.map { row in (0..<(r + 2 * n)).map { o in (0..<di).reduce(0.0) { $0 + row[$1] * at(m.xProj, $1, o) } } }
            var s = [[Double]](repeating: [Double](repeating: 0, count: n), count: di)
            for ti in 0..<t {
                var g = [Double](repeating: 0, count: di)
                for c in 0..<di {
                    let pre = (0..<r).reduce(Double(m.dtBias.data[c])) { $0 + xdbl[ti][$1] * at(m.dtProj, $1, c) }
                    let delta = log1p(exp(pre))
                    var yc = 0.0
                    for j in 0..<n {
                        let a = -exp(at(m.aLog, c, j))
                        s[c][j] = exp(delta * a) * s[c][j] + delta * xdbl[ti][r + j] * xc[ti][c]
                        yc += s[c][j] * xdbl[ti][r + n + j]
                    }
                    yc += Double(m.dSkip.data[c]) * xc[ti][c]
                    g[c] = yc * silu(xz[ti][di + c])
                }
                for o in 0..<d { ref[(bi * t + ti) * d + o] = Float((0..<di).reduce(0.0) { $0 + g[$1] * at(m.outProj, $1, o) }) }
            }
        }
        let rt = Tensor(ref, shape: [b, t, d])
        XCTAssertLessThan(BT.relErr(rt, y), 1e-5)
        XCTAssertLessThan(BT.relErr(rt, BT.decodeAll(m, x)), 1e-5)
        // Negative control: D = 0 (no skip) gives a clearly different output.
        let saved = m.dSkip.copy()
        m.dSkip.buffer.update(repeating: 0)
        XCTAssertGreaterThan(BT.relErr(rt, withNoGrad { m(x) }), 1e-2)
        m.dSkip.data.update(from: saved.data, count: saved.count)
    }

    /// Changing token 7 leaves outputs 0..<7 unchanged (≤ 1e-6 · max|y|) and changes token 7.
    func testCausality() throws {
        let m = try make()
        let x = BT.randn([2, 13, 16], seed: 5)
        let y = withNoGrad { m(x) }, y2 = withNoGrad { m(BT.perturbed(x, token: 7)) }
        XCTAssertLessThanOrEqual(BT.maxAbsDiff(y, y2, tokens: 0, 7), 1e-6 * BT.maxAbs(y))
        XCTAssertGreaterThan(BT.maxAbsDiff(y, y2, tokens: 7, 8), 1e-2 * BT.maxAbs(y))
    }

    /// Finite differences on 16 entries of each of the 9 parameters (B=2, T=6, D=8, N=4, k=3), through the shared
    /// check (`BT.gradCheck`: fourth-order differences, |a − n| ≤ 1e-3·|n| + 1e-4·max|n| + Float32 rounding floor,
    /// NaN fails). Negative control: the analytic gradient × 1.01 fails the same check.
    func testGradients() throws {
        let m = try make(width: 8, state: 4, conv: 3, seed: 6)
        // Δ ≈ softplus(−1…1) ∈ [0.3, 1.3] so that A (and A_log) move the output measurably, random D.
        for c in 0..<m.inner { m.dtBias.data[c] = Float(-1 + Double(c % 3)) }
        var rng = RNG(seed: 66)
        BT.refill(m.dSkip, std: 1, rng: &rng)
        let x = BT.randn([2, 6, 8], seed: 7)
        let ok = BT.gradCheck(m, x: x)
        print("Mamba grad check worst ratio \(ok.worst) at \(ok.worstWhere)")
        XCTAssertLessThanOrEqual(ok.worst, 1, ok.worstWhere)
        XCTAssertEqual(ok.checked, m.parameters.map { min(16, $0.tensor.count) }.reduce(0, +))
        XCTAssertGreaterThan(BT.gradCheck(m, x: x, tamper: 1.01).worst, 1, "a 1 % wrong gradient must fail the check")
    }

    /// Sizes, names, file layouts and init; state bytes; counted FLOPs of a 64-token step within 5% of
    /// the §5 formula (the GEMM part exactly).
    func testAccountingAndInit() throws {
        var rng = RNG(seed: 9)
        let m = try Mamba(config: LayerConfig(width: 64, heads: 1), rng: &rng)
        let (di, n, r, k) = (128, 16, 4, 4)
        XCTAssertEqual([m.inner, m.stateSize, m.dtRank, m.convWidth], [di, n, r, k])
        XCTAssertEqual(m.parameters.map(\.name), ["in_proj.weight", "conv1d.weight", "conv1d.bias", "x_proj.weight",
                                                  "dt_proj.weight", "dt_proj.bias", "A_log", "D", "out_proj.weight"])
        XCTAssertEqual(m.parameters.map(\.tensor.shape), [[64, 256], [4, 128], [128], [128, 36], [4, 128], [128], [128, 16], [128], [128, 64]])
        XCTAssertEqual(m.parameters[1].fileShape, [128, 1, 4])
        XCTAssertEqual(m.aLog.data[5 * 16 + 3], log(4), accuracy: 1e-6)
        // softplus(b_dt) = dt ∈ [1e-3, 0.1]
        for c in 0..<di { let dt = log1p(exp(Double(m.dtBias.data[c]))); XCTAssert(dt > 0.99e-3 && dt < 0.101, "dt \(dt)") }
        XCTAssert(BT.maxAbs(m.dtProj) <= 0.5)   // ±R^{-1/2} = ±0.5
        XCTAssertEqual(m.stateBytes(context: 7), (di * 3 + di * n) * 4)
        let st = m.makeState(batch: 2)
        XCTAssertEqual(st.bytes, 2 * m.stateBytes(context: 0))
        let formula = Double(6 * 2 * 64 * 64 + 2 * di * (r + 2 * n) + 2 * r * di + 9 * di * n + 2 * di * k)
        XCTAssertEqual(m.flopsPerToken(context: 10), formula)
        let x = BT.randn([1, 64, 64], seed: 10)
        let f = FLOPCounter.measure { _ = m.step(x, state: m.makeState(batch: 1)) }
        XCTAssertEqual(Double(f.matmul) / 64, Double(6 * 2 * 64 * 64 + 2 * di * (r + 2 * n) + 2 * r * di))
        XCTAssertEqual(Double(f.matmul + f.elementwise) / 64, formula, accuracy: 0.05 * formula)
        XCTAssertEqual(st.position, 0)
    }
}
