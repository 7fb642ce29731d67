// RopeTests.swift — rotary embedding on interleaved pairs: values, norm preservation, gradients.
import XCTest
import Foundation
@testable import TensorCore

final class RopeTests: XCTestCase {
    func testValues() {
        let (t, d) = (4, 6)
        let x = randn([2, t, d], seed: 1)
        let pos = [0, 3, 5, 9]
        let y = withNoGrad { rope(x, positions: pos) }
        var expected = [Double]()
        for r in 0..<(2 * t) {
            let p = Double(pos[r % t])
            for i in 0..<(d / 2) {
                let phi = p * Foundation.pow(10000, -2 * Double(i) / Double(d))
                let a = Double(x.data[r * d + 2 * i]), b = Double(x.data[r * d + 2 * i + 1])
                expected += [a * Foundation.cos(phi) - b * Foundation.sin(phi), a * Foundation.sin(phi) + b * Foundation.cos(phi)]
            }
        }
        assertClose(y.array, expected, atol: 1e-5, rtol: 1e-5, "rope")
        // Position 0 is the identity; rotations keep each pair's norm.
        XCTAssertEqual(Array(y.array[0..<d]), Array(x.array[0..<d]))
        for r in 0..<(2 * t) { for i in 0..<(d / 2) {
            let n0 = hypot(x.data[r * d + 2 * i], x.data[r * d + 2 * i + 1]), n1 = hypot(y.data[r * d + 2 * i], y.data[r * d + 2 * i + 1])
            XCTAssertEqual(n0, n1, accuracy: 1e-5)
        } }
    }

    /// Rows split over the workers (≥ 512 rows): every row equals the one-row rotation; the VJP rotates back.
    func testManyRowsSplitOverWorkers() {
        let (t, d) = (64, 8)
        let x = randn([3, 4, t, d], seed: 4)                          // 768 rows
        let pos = (0..<t).map { $0 % 16 }
        let y = withNoGrad { rope(x, positions: pos) }
        let table = RopeTable(dim: d, positions: pos)
        var expected = x.array
        expected.withUnsafeMutableBufferPointer { e in
            for r in 0..<(x.count / d) { table.rotate(e.baseAddress! + r * d, at: r % t) }
        }
        XCTAssertEqual(y.array, expected, "rope over many rows")
        XCTAssertNotEqual(withNoGrad { rope(x, positions: pos.map { $0 + 1 }) }.array, expected, "negative control: shifted positions differ")
        assertGradients("rope many rows", [randn([2, 2, 160, 4], seed: 5)]) { rope($0[0], positions: (0..<160).map { $0 % 7 }) }
    }

    func testGradients() {
        assertGradients("rope", [randn([2, 4, 6], seed: 2)]) { rope($0[0], positions: [0, 1, 2, 3]) }
        assertGradients("rope batched heads", [randn([2, 2, 3, 4], seed: 3)]) { rope($0[0], positions: [7, 2, 11], theta: 100) }
    }
}
