// FusedInferenceTTTTests.swift — the TTT no-grad fused path (TTT/TTTFused.swift + the plugins' FusedForwardInnerModel kernels)
// equals the reference path, prefill and decode, both plugins and both backbones.
import XCTest
@testable import Layers
import TensorCore
import Zoo

final class FusedInferenceTTTTests: XCTestCase {
    static let names = ["ttt-linear", "ttt-mlp", "ttt-linear-m", "ttt-mlp-m"]

    /// Prefill: T = 19 is not a multiple of b = 4 (a trailing partial mini-batch), B = 2.
    func testPrefillMatchesReference() throws {
        for name in Self.names {
            let l = try FusedTest.layer(name)
            let x = randomInput([2, 19, 32], seed: 11)
            let ref = FusedTest.prefill(l, x, fast: false), fast = FusedTest.prefill(l, x, fast: true)
            let e = relError(fast, ref)
            XCTAssertLessThan(e, FusedTest.tolerance, "\(name): fast prefill vs reference rel err \(e)")
        }
    }

    /// Decode: chunks that start mid-mini-batch, single tokens, and full aligned mini-batches (dual inside step),
    /// against the reference step and the reference prefill.
    func testDecodeMatchesReference() throws {
        for name in Self.names {
            let l = try FusedTest.layer(name)
            let x = randomInput([2, 23, 32], seed: 12)
            let chunks = [4, 1, 2, 1, 8, 3, 4]
            let ref = FusedTest.decode(l, x, chunks: chunks, fast: false), fast = FusedTest.decode(l, x, chunks: chunks, fast: true)
            XCTAssertLessThan(relError(fast, ref), FusedTest.tolerance, "\(name): fast decode vs reference decode")
            let pre = FusedTest.prefill(l, x, fast: false)
            XCTAssertLessThan(relError(fast, pre), FusedTest.tolerance, "\(name): fast decode vs reference prefill")
        }
    }

    /// The options the fast path honours (no inner LN / residual / bias, fixed η, no token scaling, no
    /// RoPE, no post-norm, W₀ = 0) still match the reference.
    func testOptionVariantsMatchReference() throws {
        let variants: [(String, (inout LayerConfig) -> Void)] = [
            ("no LN, no residual, no bias", { $0.ttt.innerLN = false; $0.ttt.innerResidual = false; $0.ttt.innerBias = false }),
            ("fixed eta, no token scaling", { $0.ttt.fixedEta = 0.3; $0.ttt.tokenScaling = false }),
            ("no rope, no post-norm, W0 = 0", { $0.ttt.rope = false; $0.ttt.postNorm = false; $0.ttt.learnableW0 = false }),
            ("b = 1", { $0.ttt.miniBatch = 1 }),
        ]
        for name in ["ttt-linear", "ttt-mlp"] {
            for (label, cfg) in variants {
                let l = try FusedTest.layer(name, configure: cfg)
                let x = randomInput([1, 13, 32], seed: 13)
                let e = relError(FusedTest.prefill(l, x, fast: true), FusedTest.prefill(l, x, fast: false))
                XCTAssertLessThan(e, FusedTest.tolerance, "\(name) [\(label)]: rel err \(e)")
                let ed = relError(FusedTest.decode(l, x, chunks: [3, 5, 5], fast: true), FusedTest.prefill(l, x, fast: false))
                XCTAssertLessThan(ed, FusedTest.tolerance, "\(name) [\(label)] decode: rel err \(ed)")
            }
        }
    }

    /// Negative control, the fault named: a 1 % error inside the fast kernels (`FusedFault.forward`, on the
    /// inner loop's output) must fail the same fast ≡ reference check, in prefill and in decode.
    func testNegativeControlsDiffer() throws {
        for name in ["ttt-linear", "ttt-mlp", "ttt-linear-m"] {
            let x = randomInput([1, 19, 32], seed: 14)
            let l = try FusedTest.layer(name)
            let ref = FusedTest.prefill(l, x, fast: false)
            XCTAssertLessThan(relError(FusedTest.prefill(l, x, fast: true), ref), FusedTest.tolerance, "\(name): clean")
            (l as! TTTLayer).fusedFault = .forward
            XCTAssertGreaterThan(relError(FusedTest.prefill(l, x, fast: true), ref), 10 * FusedTest.tolerance, "\(name): a faulty fast prefill passed")
            XCTAssertGreaterThan(relError(FusedTest.decode(l, x, chunks: [5, 1, 13], fast: true), ref), 10 * FusedTest.tolerance, "\(name): a faulty fast decode passed")
        }
    }

    /// Grad mode on: the layer takes the differentiable reference path (gradients flow).
    func testGradModeUsesReference() throws {
        let l = try FusedTest.layer("ttt-linear", scale: 1)
        let y = l(randomInput([1, 6, 32], seed: 15))
        XCTAssertTrue(y.requiresGrad)
    }
}
