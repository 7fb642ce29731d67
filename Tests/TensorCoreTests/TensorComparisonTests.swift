// TensorComparisonTests.swift — the suite's shared comparison (Tests/TestSupport) fails on a non-finite value
// anywhere, names the worst tensor and element, and measures what it says.
import XCTest
import TensorCore
import TestSupport

final class TensorComparisonTests: XCTestCase {
    let ref = Tensor([1, -2, 3, 4, 0.5, -1], shape: [2, 3])

    func testNonFiniteAnywhereFails() {
        for bad in [Float.nan, .infinity, -.infinity] {
            for i in 0..<ref.count {
                let a = ref.copy(); a.data[i] = bad
                for m in [ErrorMetric.relNorm, .relMax, .absMax, .elementwise(atol: 1, rtol: 1)] {
                    XCTAssertEqual(tensorError(a, ref, m).error, .infinity, "\(bad) at \(i) in the tested tensor, \(m)")
                    XCTAssertEqual(tensorError(ref, a, m).error, .infinity, "\(bad) at \(i) in the reference, \(m)")
                    XCTAssertEqual(tensorError(a, ref, m).index, i)
                }
                // In a multi-tensor comparison, a NaN in the first of several tensors still fails it.
                var cmp = TensorComparison()
                cmp.add("first", a, ref, tolerance: 1e3)
                cmp.add("second", ref, ref, tolerance: 1e-5)
                XCTAssertFalse(cmp.passed)
                XCTAssertEqual(cmp.worst?.name, "first")
            }
        }
    }

    func testValuesAndWorstNamed() {
        let a = ref.copy(); a.data[4] += 0.25                                       // element [1, 1]
        let norm = (1 + 4 + 9 + 16 + 0.25 + 1.0).squareRoot()
        XCTAssertEqual(tensorError(a, ref, .relNorm).error, 0.25 / norm, accuracy: 1e-12)
        XCTAssertEqual(tensorError(a, ref, .relMax).error, 0.25 / 4, accuracy: 1e-12)
        XCTAssertEqual(tensorError(a, ref, .absMax).error, 0.25, accuracy: 1e-12)
        XCTAssertEqual(tensorError(a, ref, .elementwise(atol: 0.1, rtol: 0.1)).error, 0.25 / 0.15, accuracy: 1e-6)
        XCTAssertEqual(tensorError(a, ref).position, "[1, 1]")
        var cmp = TensorComparison()
        cmp.add("same", ref, ref, tolerance: 1e-6)
        cmp.add("off", a, ref, tolerance: 1e-3)
        XCTAssertFalse(cmp.passed)
        XCTAssertEqual(cmp.failures.map(\.name), ["off"])
        XCTAssertTrue(cmp.summary.contains("off[1, 1]"), cmp.summary)
        XCTAssertTrue(TensorComparison().passed == false, "an empty comparison asserts nothing and must not pass")
        XCTAssertEqual(tensorError(Tensor(zeros: [3]), ref).error, .infinity, "shape mismatch")
    }
}
