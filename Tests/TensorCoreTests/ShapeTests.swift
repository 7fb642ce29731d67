// ShapeTests.swift — reshape, permute/transpose, slice, concat, tril: values and gradients.
import XCTest
@testable import TensorCore

final class ShapeTests: XCTestCase {
    func testReshape() {
        let x = randn([2, 3, 4], seed: 1)
        let y = x.reshaped([6, -1])
        XCTAssertEqual(y.shape, [6, 4])
        XCTAssertEqual(y.array, x.array)
        assertGradients("reshape", [x]) { $0[0].reshape([4, -1, 2]) }
    }

    /// Naive permutation: out[i₀…] = x[…] with out axis d = input axis perm[d].
    private func naivePermute(_ x: Tensor, _ perm: [Int]) -> [Double] {
        let outShape = perm.map { x.shape[$0] }
        return (0..<x.count).map { i in
            let o = multiIndex(i, outShape)
            var idx = [Int](repeating: 0, count: x.rank)
            for d in 0..<perm.count { idx[perm[d]] = o[d] }
            return Double(x.data[flatIndex(idx, x.shape)])
        }
    }

    static let perms: [[Int]] = [[0, 1, 2], [2, 0, 1], [1, 0, 2], [0, 2, 1], [2, 1, 0], [1, 2, 0]]

    func testPermuteValues() {
        let x = randn([2, 3, 4], seed: 2)
        for p in Self.perms {
            let y = x.permutedRaw(p)
            XCTAssertEqual(y.shape, p.map { x.shape[$0] })
            assertClose(y.array, naivePermute(x, p), atol: 0, "permute \(p)")
        }
        let z = randn([2, 3, 2, 5], seed: 3)
        for p in [[0, 2, 1, 3], [3, 2, 1, 0], [1, 3, 0, 2]] {
            assertClose(z.permutedRaw(p).array, naivePermute(z, p), atol: 0, "permute \(p)")
        }
        let v = randn([5], seed: 4)
        XCTAssertEqual(v.permutedRaw([0]).array, v.array)
        // transpose(a, b) swaps two axes.
        let t = withNoGrad { x.transpose(0, 2) }
        assertClose(t.array, naivePermute(x, [2, 1, 0]), atol: 0, "transpose(0,2)")
        assertClose(withNoGrad { x.transpose() }.array, naivePermute(x, [0, 2, 1]), atol: 0, "transpose()")
    }

    /// Large permutations run as slices of the first output axis on separate workers: exact against the
    /// index formula (the head split of [B, T, D] activations and a 4-D shuffle); negative control: the
    /// inverse permutation's layout differs.
    func testLargePermuteSplitOverWorkers() {
        let x = randn([4, 64, 8, 20], seed: 7)                       // 40960 floats ≥ the split threshold
        XCTAssertGreaterThan(Parallel.threads, 1, "this test needs two workers to cover the split")
        for p in [[0, 2, 1, 3], [3, 1, 0, 2], [2, 0, 3, 1]] {
            assertClose(x.permutedRaw(p).array, naivePermute(x, p), atol: 0, "large permute \(p)")
        }
        let wrong = naivePermute(x, [0, 2, 1, 3])
        let y = x.permutedRaw([0, 1, 3, 2]).array
        XCTAssertTrue(zip(y, wrong).contains { Double($0) != $1 }, "negative control: another permutation differs")
    }

    func testPermuteMovingOnlyUnitAxesSharesStorage() {
        // One head: [B, T, 1, d] → [B, 1, T, d] keeps the memory order, so no copy is made; same values as a copy.
        let x = randn([2, 3, 1, 4], seed: 21)
        let y = x.permutedRaw([0, 2, 1, 3])
        XCTAssertEqual(y.shape, [2, 1, 3, 4])
        XCTAssertTrue(y.storage === x.storage)
        XCTAssertEqual(y.array, x.array)
        // Negative control: two heads reorder memory — a copy with the values moved.
        let x2 = randn([2, 3, 2, 4], seed: 22)
        let y2 = x2.permutedRaw([0, 2, 1, 3])
        XCTAssertFalse(y2.storage === x2.storage)
        XCTAssertNotEqual(y2.array, x2.array)
        XCTAssertEqual(y2.data[4], x2.data[8])                  // y2[0, 0, 1, 0] = x2[0, 1, 0, 0]
        assertGradients("permute of unit axes", [randn([2, 3, 1, 4], seed: 23)]) { v in (v[0].permute([0, 2, 1, 3]) * v[0].permute([0, 2, 1, 3])).sum() }
    }

    func testPermuteGradients() {
        let x = randn([2, 3, 4], seed: 5)
        for p in Self.perms { assertGradients("permute \(p)", [x]) { $0[0].permute(p) } }
        assertGradients("permute 4-D", [randn([2, 3, 2, 2], seed: 6)]) { $0[0].permute([0, 2, 1, 3]) }
        assertGradients("transpose", [x]) { $0[0].transpose() }
        assertGradients("transpose(0,2)", [x]) { $0[0].transpose(0, 2) }
    }

    func testSlice() {
        let x = randn([3, 4, 5], seed: 7)
        for (axis, s, e) in [(0, 1, 3), (1, 0, 2), (2, 2, 5), (-1, 1, 2), (1, 3, 4)] {
            let y = x.slicedRaw(axis: axis, s, e)
            let a = axis < 0 ? axis + 3 : axis
            var shape = x.shape; shape[a] = e - s
            XCTAssertEqual(y.shape, shape)
            let expected = (0..<y.count).map { i -> Double in
                var idx = multiIndex(i, shape); idx[a] += s
                return Double(x.data[flatIndex(idx, x.shape)])
            }
            assertClose(y.array, expected, atol: 0, "slice \(axis) \(s)..<\(e)")
            assertGradients("slice \(axis) \(s)..<\(e)", [x]) { $0[0].slice(axis: axis, s, e) }
        }
    }

    func testConcat() {
        let a = randn([2, 1, 3], seed: 8), b = randn([2, 2, 3], seed: 9), c = randn([2, 3, 3], seed: 10)
        let y = withNoGrad { concat([a, b, c], axis: 1) }
        XCTAssertEqual(y.shape, [2, 6, 3])
        for (t, start) in [(a, 0), (b, 1), (c, 3)] {
            XCTAssertEqual(y.slicedRaw(axis: 1, start, start + t.shape[1]).array, t.array)
        }
        assertGradients("concat axis 1", [a, b, c]) { concat($0, axis: 1) }
        let p = randn([2, 3], seed: 11), q = randn([2, 2], seed: 12)
        XCTAssertEqual(withNoGrad { concat([p, q], axis: -1) }.array,
                       [p.data[0], p.data[1], p.data[2], q.data[0], q.data[1], p.data[3], p.data[4], p.data[5], q.data[2], q.data[3]])
        assertGradients("concat axis -1", [p, q]) { concat($0, axis: -1) }
        assertGradients("concat axis 0", [p, randn([1, 3], seed: 13)]) { concat($0, axis: 0) }
    }

    func testTril() {
        let x = randn([2, 3, 4], seed: 14)
        for k in [0, -1, 1] {
            let y = withNoGrad { x.tril(k) }
            let expected = (0..<x.count).map { i -> Double in
                let idx = multiIndex(i, x.shape)
                return idx[2] <= idx[1] + k ? Double(x.data[i]) : 0
            }
            assertClose(y.array, expected, atol: 0, "tril(\(k))")
            assertGradients("tril(\(k))", [x]) { $0[0].tril(k) }
        }
    }
}
