// BroadcastTests.swift — broadcast shapes, broadcast(to:) and its reverse sum(to:).
import XCTest
@testable import TensorCore

final class BroadcastTests: XCTestCase {
    func testBroadcastShape() {
        XCTAssertEqual(broadcastShape([2, 3, 4], [4]), [2, 3, 4])
        XCTAssertEqual(broadcastShape([2, 1, 4], [3, 1]), [2, 3, 4])
        XCTAssertEqual(broadcastShape([1], [5, 1]), [5, 1])
        XCTAssertEqual(broadcastShape([], [2, 2]), [2, 2])
        XCTAssertEqual(broadcastStrides([3, 1], into: [2, 3, 4]), [0, 1, 0])
        XCTAssertEqual(broadcastStrides([2, 1, 4], into: [2, 3, 4]), [4, 0, 1])
    }

    /// Reference Σ of `x` over the entries that map onto each entry of `target`.
    private func naiveSumTo(_ x: Tensor, _ target: [Int]) -> [Double] {
        var out = [Double](repeating: 0, count: target.reduce(1, *))
        let off = x.rank - target.count
        for i in 0..<x.count {
            let idx = multiIndex(i, x.shape)
            let ti = (0..<target.count).map { target[$0] == 1 ? 0 : idx[$0 + off] }
            out[flatIndex(ti, target)] += Double(x.data[i])
        }
        return out
    }

    static let targets: [[Int]] = [[4], [3, 1], [2, 1, 4], [1], [], [1, 3, 4], [2, 3, 1], [1, 1, 1], [3, 4], [2, 3, 4]]

    func testSumToMatchesNaive() {
        let x = randn([2, 3, 4], seed: 3)
        for t in Self.targets {
            let s = x.sumRaw(to: t)
            XCTAssertEqual(s.shape, t)
            assertClose(s.array, naiveSumTo(x, t), atol: 1e-5, rtol: 1e-5, "sum(to: \(t))")
        }
        // Fewer dims than the source with a broadcast middle dim.
        let y = randn([2, 5, 3, 2], seed: 4)
        for t in [[3, 2], [5, 1, 2], [5, 3, 1], [1, 1]] {
            assertClose(y.sumRaw(to: t).array, naiveSumTo(y, t), atol: 1e-5, rtol: 1e-5, "sum(to: \(t)) of \(y.shape)")
        }
    }

    func testBroadcastToMatchesNaive() {
        let target = [2, 3, 4]
        for s in Self.targets {
            let x = randn(s, seed: 5)
            let y = x.broadcastRaw(to: target)
            XCTAssertEqual(y.shape, target)
            var expected = [Double]()
            for i in 0..<y.count {
                let idx = multiIndex(i, target), off = target.count - s.count
                expected.append(Double(x.data[flatIndex((0..<s.count).map { s[$0] == 1 ? 0 : idx[$0 + off] }, s)]))
            }
            assertClose(y.array, expected, atol: 0, "broadcast \(s) to \(target)")
        }
    }

    func testGradients() {
        let x = randn([2, 3, 4], seed: 6)
        for t in Self.targets where t != [2, 3, 4] {
            assertGradients("sum(to: \(t))", [x]) { $0[0].sum(to: t) }
            assertGradients("broadcast(to:) from \(t)", [randn(t, seed: 7)]) { $0[0].broadcast(to: [2, 3, 4]) }
        }
    }
}
