// FLOPsTests.swift — the FLOP counters.
import XCTest
@testable import TensorCore

final class FLOPsTests: XCTestCase {
    func testMatmulCountsTwoMNK() {
        for (m, k, n) in [(1, 1, 1), (3, 5, 7), (16, 64, 32)] {
            let a = randn([m, k], seed: 1), b = randn([k, n], seed: 2)
            let f = FLOPCounter.measure { _ = withNoGrad { matmul(a, b) } }
            XCTAssertEqual(f.matmul, 2 * m * n * k)
        }
    }

    func testElementwiseCountedSeparately() {
        let a = randn([4, 5], seed: 3)
        let f = FLOPCounter.measure { _ = withNoGrad { a + a } }
        XCTAssertEqual(f.matmul, 0)
        XCTAssertEqual(f.elementwise, 20)
        let before = FLOPCounter.total
        _ = withNoGrad { matmul(a, a, transB: true) }
        XCTAssertEqual(FLOPCounter.total - before, 2 * 4 * 4 * 5)
    }
}
