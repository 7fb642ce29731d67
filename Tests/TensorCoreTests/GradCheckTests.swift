// GradCheckTests.swift — the gradient checker itself: it passes a known-correct VJP and fails wrong ones.
import XCTest
@testable import TensorCore

/// x² with a VJP scaled by `factor` (factor 1 is correct).
private func squareWithVJP(_ x: Tensor, factor: Float) -> Tensor {
    let out = Tensor(uninitializedShape: x.shape)
    for i in 0..<x.count { out.data[i] = x.data[i] * x.data[i] }
    return out.recorded("testSquare", [x]) { g in
        let r = Tensor(uninitializedShape: x.shape)
        for i in 0..<x.count { r.data[i] = factor * 2 * x.data[i] * g.data[i] }
        return [r]
    }
}

/// a·b elementwise whose VJP forgets the gradient of `b` (returns nil).
private func mulMissingGrad(_ a: Tensor, _ b: Tensor) -> Tensor {
    binaryRaw(a, b, .mul).recorded("testMul", [a, b]) { g in [binaryRaw(g, b, .mul), nil] }
}

final class GradCheckTests: XCTestCase {
    func testCorrectCustomVJPPasses() {
        let rep = gradCheckReport([randn([3, 4], seed: 1)]) { squareWithVJP($0[0], factor: 1) }
        XCTAssertTrue(rep.passed, rep.worstWhere)
        XCTAssertGreaterThan(rep.maxNumeric, 0.1)
    }

    func testScaledVJPFails() {
        // Off by 10 %: every element with |grad| ≥ 0.1 violates the 1e-2 tolerance.
        let rep = gradCheckReport([randn([3, 4], seed: 1)]) { squareWithVJP($0[0], factor: 1.1) }
        XCTAssertFalse(rep.passed, "a VJP off by 10 % must fail the check")
        XCTAssertGreaterThan(rep.worstRatio, 2)
    }

    func testSmallErrorIsStillCaught() {
        // Off by 3 %: still above the stated tolerance for gradients of size ≥ 1.
        let x = Tensor([1.5, -2, 3, 0.7], shape: [4])
        XCTAssertFalse(gradCheckReport([x]) { squareWithVJP($0[0], factor: 1.03) }.passed)
    }

    func testMissingGradientFails() {
        let rep = gradCheckReport([randn([5], seed: 2), randn([5], seed: 3)]) { mulMissingGrad($0[0], $0[1]) }
        XCTAssertFalse(rep.passed, "a missing gradient for b must fail")
        // … while the gradient of a alone is right.
        XCTAssertTrue(gradCheckReport([randn([5], seed: 2), randn([5], seed: 3)], wrt: [0]) { mulMissingGrad($0[0], $0[1]) }.passed)
    }
}
