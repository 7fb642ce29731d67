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
        // Off by 10 %: every element violates the 1e-3 relative tolerance.
        let rep = gradCheckReport([randn([3, 4], seed: 1)]) { squareWithVJP($0[0], factor: 1.1) }
        XCTAssertFalse(rep.passed, "a VJP off by 10 % must fail the check")
        XCTAssertGreaterThan(rep.worstRatio, 2)
    }

    func testOnePercentErrorOnSmallGradientsIsCaught() {
        // The fault named: the VJP scaled by 1.01, on gradients 2x of size 0.1 … 1 (|x| ∈ [0.05, 0.5)), the same
        // input as the passing check below.
        let x = awayFromZero([3, 5], 0.05, 0.5, seed: 9)
        XCTAssertTrue(gradCheckReport([x]) { squareWithVJP($0[0], factor: 1) }.passed, "the correct VJP on small gradients")
        let bad = gradCheckReport([x]) { squareWithVJP($0[0], factor: 1.01) }
        XCTAssertFalse(bad.passed, "a VJP off by 1 % on gradients < 1 must fail (\(bad.worstWhere))")
        XCTAssertGreaterThan(bad.worstRatio, 2)
        // The same 1 % fault through the checker's own scaling hook, on an op with gradients < 1.
        let y = uniform([4, 6], 0.1, 0.9, seed: 3)
        XCTAssertTrue(gradCheckReport([y]) { $0[0].sigmoid() }.passed)
        XCTAssertFalse(gradCheckReport([y], vjpScale: 1.01) { $0[0].sigmoid() }.passed, "sigmoid's gradient (≤ 0.25) off by 1 %")
    }

    func testNaNGradientFails() {
        let rep = gradCheckReport([randn([4], seed: 5)]) { squareWithVJP($0[0], factor: .nan) }
        XCTAssertFalse(rep.passed, "a NaN gradient must fail")
        XCTAssertEqual(rep.worstRatio, .infinity)
    }

    func testMissingGradientFails() {
        let rep = gradCheckReport([randn([5], seed: 2), randn([5], seed: 3)]) { mulMissingGrad($0[0], $0[1]) }
        XCTAssertFalse(rep.passed, "a missing gradient for b must fail")
        // … while the gradient of a alone is right.
        XCTAssertTrue(gradCheckReport([randn([5], seed: 2), randn([5], seed: 3)], wrt: [0]) { mulMissingGrad($0[0], $0[1]) }.passed)
    }
}
