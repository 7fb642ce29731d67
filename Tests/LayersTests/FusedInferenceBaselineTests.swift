// FusedInferenceBaselineTests.swift — the no-grad fused paths of softmax attention (streaming softmax, tiles),
// linear attention (chunked, raw buffers) and Mamba (raw scan, SIMD exp) equal their reference paths.
import XCTest
@testable import Layers
import TensorCore
import TestSupport
import Zoo

final class FusedInferenceBaselineTests: XCTestCase {
    static let names = ["attention", "linear-attention", "mamba"]

    /// Prefill at T = 37 with small tiles (query 8, key 16; chunk 5) so that every tile case occurs:
    /// skipped, diagonal (masked inside), full, and ragged ends.
    func testPrefillMatchesReference() throws {
        try FusedTest.withTiles(FusedTest.smallTiles(query: 8, key: 16, linear: 5)) { for name in Self.names {
            let l = try FusedTest.layer(name, scale: name == "mamba" ? 3 : 10)
            let x = randomInput([2, 37, 32], seed: 21)
            let e = relError(FusedTest.prefill(l, x, fast: true), FusedTest.prefill(l, x, fast: false))
            XCTAssertLessThan(e, FusedTest.tolerance, "\(name): fast prefill vs reference rel err \(e)")
        } }
    }

    /// Decode in uneven chunks (multi-token steps start anywhere) against reference decode and prefill.
    func testDecodeMatchesReference() throws {
        try FusedTest.withTiles(FusedTest.smallTiles(query: 4, key: 8)) { for name in Self.names {
            let l = try FusedTest.layer(name, scale: name == "mamba" ? 3 : 10)
            let x = randomInput([2, 29, 32], seed: 22)
            let chunks = [7, 1, 1, 12, 3, 5]
            let fast = FusedTest.decode(l, x, chunks: chunks, fast: true)
            XCTAssertLessThan(relError(fast, FusedTest.decode(l, x, chunks: chunks, fast: false)), FusedTest.tolerance, "\(name): decode")
            XCTAssertLessThan(relError(fast, FusedTest.prefill(l, x, fast: false)), FusedTest.tolerance, "\(name): decode vs prefill")
        } }
    }

    /// Negative controls, the fault named: a 1 % error inside the fast kernels (`FusedFault.forward`, on the
    /// mixing output) must fail the fast ≡ reference check, in prefill and in decode; and the comparison sees
    /// the sequence mixing (one token changed at t = 10 changes every later output).
    func testNegativeControlsDiffer() throws {
        for name in Self.names {
            let l = try FusedTest.layer(name, scale: name == "mamba" ? 3 : 10)
            let x = randomInput([1, 24, 32], seed: 23)
            let ref = FusedTest.prefill(l, x, fast: false)
            XCTAssertLessThan(relError(FusedTest.prefill(l, x, fast: true), ref), FusedTest.tolerance, "\(name): clean")
            (l as! any FusedTraining).fusedFault = .forward
            XCTAssertGreaterThan(relError(FusedTest.prefill(l, x, fast: true), ref), 10 * FusedTest.tolerance, "\(name): a faulty fast prefill passed")
            XCTAssertGreaterThan(relError(FusedTest.decode(l, x, chunks: [7, 1, 16], fast: true), ref), 10 * FusedTest.tolerance, "\(name): a faulty fast decode passed")
            (l as! any FusedTraining).fusedFault = nil
            let x2 = x.copy()
            for j in 0..<32 { x2.data[10 * 32 + j] += 1 }
            let a = FusedTest.prefill(l, x2, fast: true).slicedRaw(axis: 1, 11, 24)
            XCTAssertGreaterThan(relError(a, ref.slicedRaw(axis: 1, 11, 24)), FusedTest.controlFloor, "\(name): a changed past token must change later outputs")
        }
    }

    /// The SIMD exp / log / softplus / tanh agree with Foundation to a few ulp over their working ranges.
    func testFastMathAccuracy() {
        var worst: (exp: Float, log: Float, sp: Float, gelu: Float) = (0, 0, 0, 0)
        var x: Float = -80
        while x < 80 {
            let v = FastMath.V(repeating: x)
            worst.exp = worstOf(worst.exp, abs(FastMath.exp(v)[0] - Foundation.exp(x)) / Foundation.exp(x))
            let sp = x > 20 ? x : Foundation.log1p(Foundation.exp(x))
            worst.sp = worstOf(worst.sp, abs(FastMath.softplus(v)[0] - sp) / max(sp, 1e-30))
            worst.gelu = worstOf(worst.gelu, abs(FastMath.gelu(v)[0] - GELU.f(x)) / max(abs(GELU.f(x)), 1))
            let p = Foundation.exp(x / 2)
            worst.log = worstOf(worst.log, abs(FastMath.log(FastMath.V(repeating: p))[0] - Foundation.log(p)) / max(abs(Foundation.log(p)), 1))
            x += 0.0137
        }
        XCTAssertLessThan(worst.exp, 1e-6, "exp"); XCTAssertLessThan(worst.log, 1e-6, "log")
        XCTAssertLessThan(worst.sp, 1e-6, "softplus"); XCTAssertLessThan(worst.gelu, 1e-6, "gelu")
    }
}
