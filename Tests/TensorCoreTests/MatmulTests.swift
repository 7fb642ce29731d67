// MatmulTests.swift — batched GEMM against a naive Double triple loop, gradients, FLOP counting.
import XCTest
@testable import TensorCore
import TestSupport

/// Reference op(A)·op(B) for one batch element, in Double, plus Σ|a||b| per output (error scale).
private func naiveMatmul(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, m: Int, k: Int, n: Int,
                         transA: Bool, transB: Bool) -> (c: [Double], scale: [Double]) {
    var c = [Double](repeating: 0, count: m * n), s = c
    for i in 0..<m {
        for j in 0..<n {
            var acc = 0.0, abs_ = 0.0
            for p in 0..<k {
                let av = Double(transA ? a[p * m + i] : a[i * k + p])
                let bv = Double(transB ? b[j * k + p] : b[p * n + j])
                acc += av * bv; abs_ += Swift.abs(av * bv)
            }
            c[i * n + j] = acc; s[i * n + j] = abs_
        }
    }
    return (c, s)
}

final class MatmulTests: XCTestCase {
    var savedThreads = 1
    override func setUp() { savedThreads = Parallel.threads }
    override func tearDown() { Parallel.setThreads(savedThreads) }

    /// Checks matmulRaw(a, b) on shapes (batchA?, m, k) · (batchB?, k, n) against the naive loop.
    /// Tolerance: |c − ref| ≤ 1e-4·Σ_p |a_ip b_pj| + 1e-6 (Float32 dot-product error bound, with margin).
    private func check(m: Int, k: Int, n: Int, batchA: [Int], batchB: [Int], transA: Bool, transB: Bool, seed: UInt64,
                       file: StaticString = #filePath, line: UInt = #line) {
        let a = randn(batchA + (transA ? [k, m] : [m, k]), seed: seed)
        let b = randn(batchB + (transB ? [n, k] : [k, n]), seed: seed + 1)
        let c = withNoGrad { matmul(a, b, transA: transA, transB: transB) }
        let lead = batchA.isEmpty ? batchB : batchA
        XCTAssertEqual(c.shape, lead + [m, n], file: file, line: line)
        let batch = lead.reduce(1, *)
        var worst = 0.0
        for i in 0..<batch {
            let pa = a.data + (batchA.isEmpty ? 0 : i * m * k), pb = b.data + (batchB.isEmpty ? 0 : i * k * n)
            let (ref, scale) = naiveMatmul(pa, pb, m: m, k: k, n: n, transA: transA, transB: transB)
            for j in 0..<(m * n) {
                let err = abs(Double(c.data[i * m * n + j]) - ref[j]) / (1e-4 * scale[j] + 1e-6)
                worst = worstOf(worst, err)
            }
        }
        XCTAssertLessThanOrEqual(worst, 1, "matmul \(batchA)\(m)x\(k)·\(batchB)\(k)x\(n) tA=\(transA) tB=\(transB)", file: file, line: line)
    }

    private let combos = [(false, false), (false, true), (true, false), (true, true)]

    func testOddShapesAllTransposes() {
        Parallel.setThreads(2)
        var seed: UInt64 = 10
        for (m, k, n) in [(1, 1, 1), (3, 5, 7), (17, 33, 9), (1, 7, 1), (8, 1, 5)] {
            for (ta, tb) in combos {
                check(m: m, k: k, n: n, batchA: [], batchB: [], transA: ta, transB: tb, seed: seed); seed += 2
                check(m: m, k: k, n: n, batchA: [4], batchB: [4], transA: ta, transB: tb, seed: seed); seed += 2
                check(m: m, k: k, n: n, batchA: [2, 3], batchB: [], transA: ta, transB: tb, seed: seed); seed += 2
                check(m: m, k: k, n: n, batchA: [], batchB: [3], transA: ta, transB: tb, seed: seed); seed += 2
            }
        }
    }

    func testRowSplitPathAllTransposes() {
        // m·n·k ≥ 2¹⁸ and m ≥ 2·threads: rows of C are split over two workers.
        Parallel.setThreads(2)
        var seed: UInt64 = 100
        for (ta, tb) in combos {
            check(m: 257, k: 64, n: 65, batchA: [], batchB: [], transA: ta, transB: tb, seed: seed); seed += 2
            // batch 1 < threads: each batch element through the split GEMM.
            check(m: 256, k: 64, n: 64, batchA: [1], batchB: [1], transA: ta, transB: tb, seed: seed); seed += 2
            // shared right operand folded into one tall GEMM (4·64 rows).
            check(m: 64, k: 64, n: 64, batchA: [4], batchB: [], transA: ta, transB: tb, seed: seed); seed += 2
        }
        // Same results with one thread up to rounding (OpenBLAS may block an m-row panel differently).
        let a = randn([300, 70], seed: 7), b = randn([70, 50], seed: 8)
        let c2 = withNoGrad { matmul(a, b) }
        Parallel.setThreads(1)
        let c1 = withNoGrad { matmul(a, b) }
        print("row split vs single call: max |diff| = \(tensorError(c1, c2, .absMax).error)")
        assertClose(c1, c2, tolerance: 1e-4, .absMax, "row split vs single call")
    }

    /// Few rows, long reduction (k ≥ 4m, the weight-gradient shape): the reduction is split over the
    /// workers and the partials added. Checked at 2 and 3 workers (uneven slices), every transpose; negative
    /// control: the product over the first slice only (a partial dropped) misses the same tolerance.
    func testReductionSplitPathAllTransposes() {
        var seed: UInt64 = 200
        for threads in [2, 3] {
            Parallel.setThreads(threads)
            for (ta, tb) in combos {
                check(m: 40, k: 1001, n: 33, batchA: [], batchB: [], transA: ta, transB: tb, seed: seed); seed += 2
            }
        }
        let a = randn([1001, 40], seed: 9), b = randn([1001, 33], seed: 10)         // Aᵀ·B, as dW = Xᵀ·G
        Parallel.setThreads(2)
        let c = withNoGrad { matmul(a, b, transA: true) }
        let (ref, scale) = naiveMatmul(a.data, b.data, m: 40, k: 500, n: 33, transA: true, transB: false)
        var worst = 0.0
        for j in 0..<(40 * 33) { worst = worstOf(worst, abs(Double(c.data[j]) - ref[j]) / (1e-4 * scale[j] + 1e-6)) }
        XCTAssertGreaterThan(worst, 1, "negative control: half the reduction must fail the check")
    }

    func testEmptyInnerDimensionGivesZeros() {
        let c = withNoGrad { matmul(Tensor(zeros: [3, 0]), Tensor(zeros: [0, 4])) }
        XCTAssertEqual(c.shape, [3, 4])
        XCTAssertEqual(c.array, [Float](repeating: 0, count: 12))
    }

    func testGradients2DAllTransposes() {
        for (ta, tb) in combos {
            let a = randn(ta ? [4, 3] : [3, 4], seed: 1), b = randn(tb ? [5, 4] : [4, 5], seed: 2)
            assertGradients("matmul 2-D tA=\(ta) tB=\(tb)", [a, b]) { matmul($0[0], $0[1], transA: ta, transB: tb) }
        }
    }

    func testGradientsBatchedAllTransposes() {
        for (ta, tb) in combos {
            let a = randn(ta ? [2, 4, 3] : [2, 3, 4], seed: 3), b = randn(tb ? [2, 5, 4] : [2, 4, 5], seed: 4)
            assertGradients("matmul batched tA=\(ta) tB=\(tb)", [a, b]) { matmul($0[0], $0[1], transA: ta, transB: tb) }
        }
    }

    func testGradientsSharedRightOperand() {
        for (ta, tb) in combos {
            let a = randn(ta ? [2, 2, 4, 3] : [2, 2, 3, 4], seed: 5), b = randn(tb ? [5, 4] : [4, 5], seed: 6)
            assertGradients("matmul [..]·2-D tA=\(ta) tB=\(tb)", [a, b]) { matmul($0[0], $0[1], transA: ta, transB: tb) }
        }
    }

    func testGradientsSharedLeftOperand() {
        for (ta, tb) in combos {
            let a = randn(ta ? [4, 3] : [3, 4], seed: 7), b = randn(tb ? [3, 5, 4] : [3, 4, 5], seed: 8)
            assertGradients("matmul 2-D·[..] tA=\(ta) tB=\(tb)", [a, b]) { matmul($0[0], $0[1], transA: ta, transB: tb) }
        }
    }

    func testFLOPCounter() {
        let a = randn([6, 7], seed: 1), b = randn([7, 5], seed: 2)
        let f = FLOPCounter.measure { _ = withNoGrad { matmul(a, b) } }
        XCTAssertEqual(f.matmul, 2 * 6 * 5 * 7)
        XCTAssertEqual(f.elementwise, 0)
        let fb = FLOPCounter.measure { _ = withNoGrad { matmul(randn([3, 7, 6], seed: 3), b, transA: true) } }
        XCTAssertEqual(fb.matmul, 3 * 2 * 6 * 5 * 7)
        // Backward of a 2-D product costs two more products of the same size.
        let x = a.copy().requiringGrad(), y = b.copy().requiringGrad()
        let z = matmul(x, y)
        let fz = FLOPCounter.measure { z.backward(seed: Tensor(repeating: 1, shape: [6, 5])) }
        XCTAssertEqual(fz.matmul, 2 * 2 * 6 * 5 * 7)
    }
}
