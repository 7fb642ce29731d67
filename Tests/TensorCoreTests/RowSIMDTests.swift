// RowSIMDTests.swift — the 8-lane row helpers (RowSIMD.swift) at every row length 1…19 (no chunk, one
// padded chunk, full chunks plus a padded one) against Double sums, stores that never write past the row,
// and the norms built on them at a length with a full and a padded chunk (values and gradients).
import XCTest
@testable import TensorCore

final class RowSIMDTests: XCTestCase {
    /// Sums and dots match a Double accumulation to fp32 rounding (tolerance 1e-5 relative to Σ|x·y|);
    /// negative control: dropping the last element of the row fails the same check.
    func testSumAndDotEveryLength() {
        let x = randn([19], seed: 1), y = randn([19], seed: 2)
        for i in 0..<19 { x.data[i] += x.data[i] < 0 ? -1 : 1 }     // |x| ≥ 1: every element is visible in a sum
        for m in 1...19 {
            let sx = (0..<m).reduce(0.0) { $0 + Double(x.data[$1]) }
            let sxy = (0..<m).reduce(0.0) { $0 + Double(x.data[$1]) * Double(y.data[$1]) }
            let tol = 1e-5 * (0..<m).reduce(0.0) { $0 + abs(Double(x.data[$1])) * max(1, abs(Double(y.data[$1]))) }
            XCTAssertEqual(Double(RowSIMD.sum(x.data, m)), sx, accuracy: tol, "sum, m = \(m)")
            XCTAssertEqual(Double(RowSIMD.dot(x.data, y.data, m)), sxy, accuracy: tol, "dot, m = \(m)")
            // Negative control: a row one element short misses the check by |x[m−1]| ≥ 1 ≫ tol.
            XCTAssertGreaterThan(abs(Double(RowSIMD.sum(x.data, m - 1)) - sx), tol, "negative control, m = \(m)")
        }
    }

    /// load pads with zeros past m; store writes exactly the lanes inside the row; mask is 1 inside, 0 past.
    func testLoadStoreMaskNeverCrossTheRowEnd() {
        let src = (0..<24).map { Float($0 + 1) }
        for m in 1...19 {
            var j = 0
            while j < m {
                let v = src.withUnsafeBufferPointer { RowSIMD.load($0.baseAddress!, j, m) }
                let k = RowSIMD.mask(j, m)
                for l in 0..<8 {
                    let inside = j + l < m
                    XCTAssertEqual(v[l], inside ? src[j + l] : 0, "load m = \(m) j = \(j) lane \(l)")
                    XCTAssertEqual(k[l], inside ? 1 : 0, "mask m = \(m) j = \(j) lane \(l)")
                }
                var dst = [Float](repeating: -7, count: 24)
                dst.withUnsafeMutableBufferPointer { RowSIMD.store(v * 2, $0.baseAddress!, j, m) }
                for i in 0..<24 {
                    let written = i >= j && i < min(j + 8, m)
                    XCTAssertEqual(dst[i], written ? 2 * src[i] : -7, "store m = \(m) j = \(j) index \(i)")
                }
                j += RowSIMD.width
            }
        }
    }

    /// LayerNorm statistics at m = 13 (a full chunk and a padded one) match Double; the padded lanes do not
    /// enter the variance (an unmasked version would add 3·μ² to it, which the check would catch).
    func testLayerNormRowStatsPaddedChunk() {
        let x = randn([13], seed: 3, std: 2)
        for i in 0..<13 { x.data[i] += 3 }                          // μ ≈ 3: padding without the mask would show
        let row = (0..<13).map { Double(x.data[$0]) }
        let mu = row.reduce(0, +) / 13
        let v = row.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / 13
        let (m, rs) = layerNormRowStats(x.data, 13, eps: 1e-6)
        XCTAssertEqual(Double(m), mu, accuracy: 1e-5)
        XCTAssertEqual(Double(rs), 1 / (v + 1e-6).squareRoot(), accuracy: 1e-5)
        let unmasked = 1 / ((v * 13 + 3 * mu * mu) / 13 + 1e-6).squareRoot()
        XCTAssertGreaterThan(abs(unmasked - 1 / (v + 1e-6).squareRoot()), 1e-2, "negative control: the mask matters here")
    }

    /// The norms' gradients at m = 13 (their SIMD backward loops with a padded chunk), by finite differences.
    func testNormGradientsPaddedChunk() {
        assertGradients("layerNorm [3,13] γ,β [13]", [randn([3, 13], seed: 4), randn([13], seed: 5), randn([13], seed: 6)]) {
            $0[0].layerNorm(gamma: $0[1], beta: $0[2])
        }
        assertGradients("rmsNorm [3,13] w [13]", [randn([3, 13], seed: 7), randn([13], seed: 8)]) {
            $0[0].rmsNorm(weight: $0[1])
        }
    }
}
