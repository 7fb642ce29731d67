// NormTests.swift — LayerNorm (γ/β broadcast per head) and RMSNorm against Double references, and gradients.
import XCTest
@testable import TensorCore

final class NormTests: XCTestCase {
    /// LN in Double over the last axis (two-pass, biased variance, ε = 1e-6), before the affine part.
    private func naiveLNHat(_ x: Tensor) -> [Double] {
        let m = x.shape.last!
        var out = [Double]()
        for r in 0..<(x.count / m) {
            let row = (0..<m).map { Double(x.data[r * m + $0]) }
            let mu = row.reduce(0, +) / Double(m)
            let v = row.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(m)
            out += row.map { ($0 - mu) / (v + 1e-6).squareRoot() }
        }
        return out
    }

    func testLayerNormValuesPerHead() {
        let x = randn([2, 3, 5, 8], seed: 1, std: 2)
        let gamma = randn([3, 1, 8], seed: 2), beta = randn([3, 1, 8], seed: 3)
        let y = withNoGrad { x.layerNorm(gamma: gamma, beta: beta) }
        let hat = naiveLNHat(x)
        let expected = (0..<x.count).map { i -> Double in
            let idx = multiIndex(i, x.shape)
            let g = flatIndex([idx[1], 0, idx[3]], [3, 1, 8])
            return hat[i] * Double(gamma.data[g]) + Double(beta.data[g])
        }
        assertClose(y.array, expected, atol: 1e-5, rtol: 1e-5, "layerNorm per head")
    }

    func testLayerNormGradients() {
        assertGradients("layerNorm [2,3,5,8] γ,β [3,1,8]",
                        [randn([2, 3, 5, 8], seed: 4), randn([3, 1, 8], seed: 5), randn([3, 1, 8], seed: 6)]) {
            $0[0].layerNorm(gamma: $0[1], beta: $0[2])
        }
        assertGradients("layerNorm [4,6] γ,β [6]", [randn([4, 6], seed: 7), randn([6], seed: 8), randn([6], seed: 9)]) {
            $0[0].layerNorm(gamma: $0[1], beta: $0[2])
        }
    }

    func testRMSNorm() {
        let x = randn([3, 5], seed: 10), w = randn([5], seed: 11)
        let y = withNoGrad { x.rmsNorm(weight: w) }
        var expected = [Double]()
        for r in 0..<3 {
            let row = (0..<5).map { Double(x.data[r * 5 + $0]) }
            let rs = 1 / (row.map { $0 * $0 }.reduce(0, +) / 5 + 1e-6).squareRoot()
            expected += (0..<5).map { row[$0] * rs * Double(w.data[$0]) }
        }
        assertClose(y.array, expected, atol: 1e-5, rtol: 1e-5, "rmsNorm")
        assertGradients("rmsNorm", [x, w]) { $0[0].rmsNorm(weight: $0[1]) }
        assertGradients("rmsNorm 3-D", [randn([2, 3, 4], seed: 12), randn([4], seed: 13)]) { $0[0].rmsNorm(weight: $0[1]) }
    }

    /// Output and gradients (x, then each weight) of `f` under the loss Σ f(x, ws) ⊙ seed.
    private func outAndGrads(_ x: Tensor, _ ws: [Tensor], seed: Tensor, _ f: (Tensor, [Tensor]) -> Tensor) -> [[Float]] {
        for t in [x] + ws { t.zeroGrad() }
        let y = f(x, ws)
        (y * seed).sum().backward()
        return [y.array, x.grad!.array] + ws.map { $0.grad!.array }
    }

    /// Rows enough for several worker chunks (rows ≥ 128 per chunk split): the γ, β [m] fast path of layerNorm
    /// (row-loop affine, chunked dγ/dβ partials) equals the general broadcast path (γ, β given as [1, m]), and
    /// rmsNorm's chunked backward equals the op chain x·rsqrt(mean(x²) + ε)·w, to 1e-5. Negative control: a
    /// different seed gradient changes dγ by far more than the tolerance.
    func testNormsChunkedBackwardMatchOpChains() {
        let (rows, m) = (300, 24)
        let x = randn([rows, m], seed: 21, std: 2).requiringGrad(), seed = randn([rows, m], seed: 22)
        let g = randn([m], seed: 23).requiringGrad(), b = randn([m], seed: 24).requiringGrad()
        let g2 = g.copy().reshaped([1, m]).requiringGrad(), b2 = b.copy().reshaped([1, m]).requiringGrad()
        let fast = outAndGrads(x, [g, b], seed: seed) { $0.layerNorm(gamma: $1[0], beta: $1[1]) }
        let general = outAndGrads(x, [g2, b2], seed: seed) { $0.layerNorm(gamma: $1[0], beta: $1[1]) }
        for (i, name) in ["y", "dx", "dγ", "dβ"].enumerated() {
            assertClose(fast[i], general[i].map(Double.init), atol: 1e-5, rtol: 1e-5, "layerNorm [m] fast path: \(name)")
        }
        let rms = outAndGrads(x, [g], seed: seed) { $0.rmsNorm(weight: $1[0]) }
        let chain = outAndGrads(x, [g], seed: seed) { x, w in x * ((x * x).mean(axis: 1, keepDims: true) + 1e-6).rsqrt() * w[0] }
        for (i, name) in ["y", "dx", "dw"].enumerated() {
            assertClose(rms[i], chain[i].map(Double.init), atol: 1e-4, rtol: 1e-4, "rmsNorm chunked: \(name)")
        }
        let other = outAndGrads(x, [g, b], seed: randn([rows, m], seed: 25)) { $0.layerNorm(gamma: $1[0], beta: $1[1]) }
        let diff = zip(other[2], fast[2]).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(diff, 1e-2, "negative control")
    }

    /// The VJPs read per-row statistics saved in the forward pass; they must stay alive until backward
    /// even when the allocator reuses freed memory in between.
    func testSavedStatisticsSurviveOtherAllocations() {
        for which in 0..<2 {
            func run(churn: Bool) -> [Float] {
                let x = randn([64, 16], seed: 14).requiringGrad()
                let g = Tensor(repeating: 1.5, shape: [16]), b = Tensor(zeros: [16])
                let y = which == 0 ? x.layerNorm(gamma: g, beta: b) : x.rmsNorm(weight: g)
                var keep: [Tensor] = []
                if churn { for _ in 0..<64 { keep.append(Tensor(repeating: 1e6, shape: [64])) } }
                (y * randn([64, 16], seed: 15)).sum().backward()
                _ = keep.count
                return x.grad!.array
            }
            XCTAssertEqual(run(churn: false), run(churn: true), which == 0 ? "layerNorm" : "rmsNorm")
        }
    }
}
