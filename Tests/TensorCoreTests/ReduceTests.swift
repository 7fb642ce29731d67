// ReduceTests.swift — sum, mean, max over an axis and over everything.
import XCTest
@testable import TensorCore

final class ReduceTests: XCTestCase {
    func testValues() {
        let x = Tensor((0..<24).map { Float($0 % 7) - 3 + Float($0) * 0.01 }, shape: [2, 3, 4])
        for axis in [0, 1, 2, -1] {
            let a = axis < 0 ? axis + 3 : axis
            var outShape = x.shape; outShape.remove(at: a)
            var sum = [Double](repeating: 0, count: outShape.reduce(1, *))
            var mx = [Double](repeating: -.infinity, count: sum.count)
            for i in 0..<x.count {
                var idx = multiIndex(i, x.shape); idx.remove(at: a)
                let o = flatIndex(idx, outShape)
                sum[o] += Double(x.data[i]); mx[o] = max(mx[o], Double(x.data[i]))
            }
            let s = x.sumRaw(axis: axis)
            XCTAssertEqual(s.shape, outShape)
            assertClose(s.array, sum, atol: 1e-5, "sum axis \(axis)")
            assertClose(withNoGrad { x.mean(axis: axis) }.array, sum.map { $0 / Double(x.shape[a]) }, atol: 1e-5, "mean axis \(axis)")
            assertClose(withNoGrad { x.max(axis: axis) }.array, mx, atol: 0, "max axis \(axis)")
            var kept = x.shape; kept[a] = 1
            XCTAssertEqual(x.sumRaw(axis: axis, keepDims: true).shape, kept)
            XCTAssertEqual(withNoGrad { x.max(axis: axis, keepDims: true) }.shape, kept)
        }
        XCTAssertEqual(Double(x.sum().item), x.array.reduce(0.0) { $0 + Double($1) }, accuracy: 1e-5)
        XCTAssertEqual(Double(withNoGrad { x.mean() }.item), x.array.reduce(0.0) { $0 + Double($1) } / 24, accuracy: 1e-6)
    }

    func testGradients() {
        let x = randn([2, 3, 4], seed: 31)
        for axis in [0, 1, 2, -1] {
            for keep in [false, true] {
                assertGradients("sum axis \(axis) keep \(keep)", [x]) { $0[0].sum(axis: axis, keepDims: keep) }
                assertGradients("mean axis \(axis) keep \(keep)", [x]) { $0[0].mean(axis: axis, keepDims: keep) }
            }
        }
        assertGradients("sum all", [x]) { $0[0].sum() }
        assertGradients("mean all", [x]) { $0[0].mean() }
    }

    func testMaxGradients() {
        // Distinct values ≥ 0.1 apart, so h = 1e-2 never changes the argmax.
        var rng = RNG(seed: 5)
        var vals = (0..<24).map { Float($0) * 0.1 }
        vals.shuffle(using: &rng)
        let x = Tensor(vals, shape: [2, 3, 4])
        for axis in [0, 1, 2] {
            for keep in [false, true] {
                assertGradients("max axis \(axis) keep \(keep)", [x]) { $0[0].max(axis: axis, keepDims: keep) }
            }
        }
    }

    func testMaxTiesGoToFirst() {
        let x = Tensor([1, 3, 3, 2], shape: [1, 4]).requiringGrad()
        x.max(axis: 1).sum().backward()
        XCTAssertEqual(x.grad!.array, [0, 1, 0, 0])
    }
}
