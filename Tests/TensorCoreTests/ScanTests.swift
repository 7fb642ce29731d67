// ScanTests.swift — selective scan (S6) against the recurrence in Double, and gradients of all six inputs.
import XCTest
import Foundation
@testable import TensorCore

final class ScanTests: XCTestCase {
    /// (u, delta, A, B, C, D) with Δ > 0 and A < 0 as in Mamba.
    private func inputs(b: Int, t: Int, c: Int, n: Int, seed: UInt64) -> [Tensor] {
        [randn([b, t, c], seed: seed), uniform([b, t, c], 0.1, 0.6, seed: seed + 1), uniform([c, n], -1.5, -0.2, seed: seed + 2),
         randn([b, t, n], seed: seed + 3), randn([b, t, n], seed: seed + 4), randn([c], seed: seed + 5)]
    }

    private func scan(_ x: [Tensor]) -> Tensor { selectiveScan(x[0], delta: x[1], A: x[2], Bm: x[3], Cm: x[4], Dskip: x[5]) }

    func testValuesMatchRecurrence() {
        let (b, t, c, n) = (2, 7, 3, 4)
        let x = inputs(b: b, t: t, c: c, n: n, seed: 1)
        let y = withNoGrad { scan(x) }
        let (u, dl, A, B, C, D) = (x[0], x[1], x[2], x[3], x[4], x[5])
        var expected = [Double](repeating: 0, count: b * t * c)
        for bi in 0..<b { for ch in 0..<c {
            var s = [Double](repeating: 0, count: n)
            for ti in 0..<t {
                let i = (bi * t + ti) * c + ch
                let dt = Double(dl.data[i]), ut = Double(u.data[i])
                var acc = 0.0
                for k in 0..<n {
                    s[k] = Foundation.exp(dt * Double(A.data[ch * n + k])) * s[k] + dt * Double(B.data[(bi * t + ti) * n + k]) * ut
                    acc += s[k] * Double(C.data[(bi * t + ti) * n + k])
                }
                expected[i] = acc + Double(D.data[ch]) * ut
            }
        } }
        assertClose(y.array, expected, atol: 1e-5, rtol: 1e-5, "selectiveScan")
    }

    func testGradientsAllInputs() {
        assertGradients("selectiveScan", inputs(b: 2, t: 4, c: 3, n: 4, seed: 10)) { scan($0) }
        assertGradients("selectiveScan b=1 c=1", inputs(b: 1, t: 5, c: 1, n: 2, seed: 20)) { scan($0) }
    }

    func testGradientsEachInputAlone() {
        // With only one input requiring grad (the others are constants).
        let x = inputs(b: 1, t: 3, c: 2, n: 3, seed: 30)
        for i in 0..<6 { assertGradients("selectiveScan input \(i)", x, wrt: [i]) { scan($0) } }
    }

    func testBackwardIndependentOfThreadCount() {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved) }
        func grads(_ threads: Int) -> [[Float]] {
            Parallel.setThreads(threads)
            let x = leaves(inputs(b: 2, t: 5, c: 3, n: 4, seed: 40))
            (scan(x) * randn([2, 5, 3], seed: 41)).sum().backward()
            return x.map { $0.grad!.array }
        }
        let g1 = grads(1), g2 = grads(2), g3 = grads(3)
        for i in 0..<6 {
            assertClose(g2[i], g1[i].map(Double.init), atol: 1e-5, rtol: 1e-5, "input \(i), 2 threads")
            assertClose(g3[i], g1[i].map(Double.init), atol: 1e-5, rtol: 1e-5, "input \(i), 3 threads")
        }
    }
}
