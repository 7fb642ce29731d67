// BinaryTests.swift — add/sub/mul/div (broadcasting) and the scalar forms: values and gradients.
import XCTest
@testable import TensorCore

final class BinaryTests: XCTestCase {
    /// Shape pairs exercised for every op (both operand orders).
    static let pairs: [([Int], [Int])] = [
        ([2, 3, 4], [2, 3, 4]), ([2, 3, 4], [4]), ([2, 3, 4], [3, 1]), ([2, 3, 4], [2, 1, 4]),
        ([2, 3, 4], [1]), ([2, 3, 4], []), ([2, 1, 4], [3, 1]), ([3, 1], [1, 4]),
    ]
    static let ops: [(String, (Tensor, Tensor) -> Tensor, (Double, Double) -> Double)] = [
        ("add", { $0 + $1 }, { $0 + $1 }), ("sub", { $0 - $1 }, { $0 - $1 }),
        ("mul", { $0 * $1 }, { $0 * $1 }), ("div", { $0 / $1 }, { $0 / $1 }),
    ]

    func testForwardMatchesNaiveBroadcast() {
        var seed: UInt64 = 1
        for (sa, sb) in Self.pairs + Self.pairs.map({ ($0.1, $0.0) }) {
            let a = awayFromZero(sa, 0.5, 1.5, seed: seed), b = awayFromZero(sb, 0.5, 1.5, seed: seed + 1); seed += 2
            for (name, op, ref) in Self.ops {
                let c = withNoGrad { op(a, b) }
                let shape = broadcastShape(sa, sb)
                XCTAssertEqual(c.shape, shape, "\(name) \(sa) \(sb)")
                // Index each operand independently: dims of size 1 (or missing) are read at index 0.
                var expected = [Double]()
                for i in 0..<shape.reduce(1, *) {
                    let idx = multiIndex(i, shape)
                    func read(_ t: Tensor) -> Double {
                        let off = shape.count - t.rank
                        let ti = (0..<t.rank).map { t.shape[$0] == 1 ? 0 : idx[$0 + off] }
                        return Double(t.data[flatIndex(ti, t.shape)])
                    }
                    expected.append(ref(read(a), read(b)))
                }
                assertClose(c.array, expected, atol: 1e-6, rtol: 1e-6, "\(name) \(sa) \(sb)")
            }
        }
    }

    func testGradientsWithBroadcasting() {
        var seed: UInt64 = 50
        for (sa, sb) in Self.pairs + Self.pairs.map({ ($0.1, $0.0) }) {
            // Divisors in ±[0.5, 1.5]: far from the pole for h = 1e-2.
            let a = awayFromZero(sa, 0.5, 1.5, seed: seed), b = awayFromZero(sb, 0.5, 1.5, seed: seed + 1); seed += 2
            for (name, op, _) in Self.ops {
                assertGradients("\(name) \(sa) with \(sb)", [a, b]) { op($0[0], $0[1]) }
            }
        }
    }

    func testGradientOnlyOneOperandRequiresGrad() {
        let a = randn([2, 3], seed: 1), b = awayFromZero([3], 0.5, 1.5, seed: 2)
        for (name, op, _) in Self.ops {
            assertGradients("\(name) wrt a", [a, b], wrt: [0]) { op($0[0], $0[1]) }
            assertGradients("\(name) wrt b", [a, b], wrt: [1]) { op($0[0], $0[1]) }
        }
    }

    func testScalarOps() {
        let x = awayFromZero([2, 3], 0.5, 1.5, seed: 9)
        let cases: [(String, (Tensor) -> Tensor, (Double) -> Double)] = [
            ("x*s", { $0 * 1.5 }, { $0 * 1.5 }), ("s*x", { -0.7 * $0 }, { -0.7 * $0 }),
            ("x/s", { $0 / 4 }, { $0 / 4 }), ("x+s", { $0 + 2 }, { $0 + 2 }), ("s+x", { 3 + $0 }, { 3 + $0 }),
            ("x-s", { $0 - 2 }, { $0 - 2 }), ("s-x", { 1 - $0 }, { 1 - $0 }), ("-x", { -$0 }, { -$0 }),
        ]
        for (name, f, ref) in cases {
            let y = withNoGrad { f(x) }
            assertClose(y.array, x.array.map { ref(Double($0)) }, atol: 1e-6, rtol: 1e-6, name)
            assertGradients(name, [x]) { f($0[0]) }
        }
    }
}
