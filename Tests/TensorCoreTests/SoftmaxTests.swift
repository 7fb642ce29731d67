// SoftmaxTests.swift — softmax, logSoftmax, crossEntropy against Double references, and gradients.
import XCTest
import Foundation
@testable import TensorCore

final class SoftmaxTests: XCTestCase {
    private func naiveLogSoftmax(_ x: Tensor) -> [Double] {
        let m = x.shape.last!
        var out = [Double]()
        for r in 0..<(x.count / m) {
            let row = (0..<m).map { Double(x.data[r * m + $0]) }
            let mx = row.max()!
            let lse = mx + Foundation.log(row.map { Foundation.exp($0 - mx) }.reduce(0, +))
            out += row.map { $0 - lse }
        }
        return out
    }

    func testValues() {
        let x = randn([3, 5], seed: 1, std: 3)
        let ref = naiveLogSoftmax(x)
        assertClose(withNoGrad { x.softmax() }.array, ref.map { Foundation.exp($0) }, atol: 1e-6, rtol: 1e-5, "softmax")
        assertClose(withNoGrad { x.logSoftmax() }.array, ref, atol: 1e-5, rtol: 1e-5, "logSoftmax")
        // Large logits do not overflow.
        let big = Tensor([1000, 1001, 999], shape: [1, 3])
        assertClose(withNoGrad { big.softmax() }.array, naiveLogSoftmax(big).map { Foundation.exp($0) }, atol: 1e-6, "softmax large")
        let targets = [4, 0, 2]
        let ce = withNoGrad { x.crossEntropy(targets: targets) }
        var expected = 0.0
        for r in 0..<3 { expected -= ref[r * 5 + targets[r]] / 3 }
        XCTAssertEqual(Double(ce.item), expected, accuracy: 1e-5)
    }

    func testGradients() {
        for shape in [[3, 5], [2, 2, 4]] {
            let x = randn(shape, seed: 2)
            assertGradients("softmax \(shape)", [x]) { $0[0].softmax() }
            assertGradients("logSoftmax \(shape)", [x]) { $0[0].logSoftmax() }
        }
        assertGradients("crossEntropy", [randn([4, 6], seed: 3, std: 2)]) { $0[0].crossEntropy(targets: [5, 0, 0, 3]) }
        assertGradients("crossEntropy 3-D", [randn([2, 2, 3], seed: 4)]) { $0[0].crossEntropy(targets: [2, 1, 0, 2]) }
    }
}
