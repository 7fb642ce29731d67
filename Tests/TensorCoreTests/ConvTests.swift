// ConvTests.swift — causal depthwise conv1d against its definition, causality, gradients.
import XCTest
@testable import TensorCore

final class ConvTests: XCTestCase {
    func testValuesAndCausality() {
        let (b, t, c, k) = (2, 6, 3, 4)
        let x = randn([b, t, c], seed: 1), w = randn([k, c], seed: 2), bias = randn([c], seed: 3)
        let y = withNoGrad { causalConv1d(x, weight: w, bias: bias) }
        var expected = [Double]()
        for bi in 0..<b { for ti in 0..<t { for ch in 0..<c {
            var s = Double(bias.data[ch])
            for j in 0..<k where ti - (k - 1) + j >= 0 {
                s += Double(w.data[j * c + ch]) * Double(x.data[(bi * t + ti - (k - 1) + j) * c + ch])
            }
            expected.append(s)
        } } }
        assertClose(y.array, expected, atol: 1e-5, rtol: 1e-5, "causalConv1d")
        // Changing a future token leaves earlier outputs unchanged.
        let x2 = x.copy(); x2.data[(0 * t + 4) * c + 1] += 10
        let y2 = withNoGrad { causalConv1d(x2, weight: w, bias: bias) }
        XCTAssertEqual(Array(y2.array[0..<(4 * c)]), Array(y.array[0..<(4 * c)]))
        XCTAssertNotEqual(y2.data[4 * c + 1], y.data[4 * c + 1])
    }

    func testGradients() {
        assertGradients("causalConv1d k=3", [randn([2, 5, 3], seed: 4), randn([3, 3], seed: 5), randn([3], seed: 6)]) {
            causalConv1d($0[0], weight: $0[1], bias: $0[2])
        }
        // Kernel longer than the sequence.
        assertGradients("causalConv1d k>T", [randn([1, 3, 2], seed: 7), randn([4, 2], seed: 8), randn([2], seed: 9)]) {
            causalConv1d($0[0], weight: $0[1], bias: $0[2])
        }
    }
}
