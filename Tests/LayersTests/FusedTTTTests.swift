// FusedTTTTests.swift — the TTT layer's fused training node (TTTTraining.swift + the plugins'
// FusedInnerModel backward kernels) equals the reference autodiff path: the output and the gradient of
// EVERY parameter and of the input, for ttt-linear, ttt-mlp and their Mamba-backbone variants, under
// every option the fused kernel declares (`TTTLayer.fusedOptions`). Negative controls: a deliberately
// faulty backward (per-layer test hook) fails the same check. Determinism: same seed → same bits.
import XCTest
@testable import Layers
import TensorCore
import TestSupport
import Zoo

final class FusedTTTTests: XCTestCase {
    static let names = ["ttt-linear", "ttt-mlp", "ttt-linear-m", "ttt-mlp-m"]

    /// ‖a − r‖₂ / ‖r‖₂ (accumulated in Double).
    static func relNorm(_ a: Tensor, _ r: Tensor) -> Double {
        precondition(a.shape == r.shape, "relNorm: \(a.shape) vs \(r.shape)")
        return tensorError(a, r, .relNorm, floor: 1e-15).error             // shared, NaN/Inf-aware (TestSupport)
    }

    /// Tolerance for fused vs reference (relative L2 error, fp32). Both paths are fp32 with different
    /// summation orders (blocked sgemm vs op-by-op, fused LN statistics, SIMD tanh in GELU); the gradients
    /// pass through a second-order LayerNorm backward and T/b mini-batches of state carry. Measured errors
    /// are ≈1e-7…3e-6; 2e-5 leaves margin, while every fault tried (negative controls) gives ≥ 1e-2.
    ///
    /// One gradient is ill-conditioned in some configurations: dL/dλ (token scale) with W₀ = 0, where the
    /// first mini-batch's inner LN sits at variance 0 (1/s = 1/√ε = 1e3) and dL/dλ is a sum of B·H·T
    /// cancelling terms. There the reference itself moves by ~1e-4 when the input is perturbed by 1e-7
    /// (fp32 rounding). So each gradient's tolerance is max(2e-5, 20 × that sensitivity of the reference).
    static let tolerance = 2e-5
    static let sensitivityFactor = 20.0

    /// A layer at a scale where the inner loop matters (matrices ×3), B = 2, T = 19 (b = 4: four full
    /// mini-batches and a partial one of 3 rows).
    static func layer(_ name: String, seed: UInt64 = 3, configure: (inout LayerConfig) -> Void = { _ in }) throws -> TTTLayer {
        try XCTUnwrap(FusedTest.layer(name, seed: seed, scale: 3, configure: configure) as? TTTLayer)
    }

    /// Output and gradients (every parameter, then the input) of Σ y ⊙ w on the given kernels.
    static func outputAndGrads(_ l: TTTLayer, _ path: KernelPath, x x0: Tensor, w: Tensor) -> (Tensor, [(String, Tensor)]) {
        l.withKernels(path) {
            let saved = GradMode.enabled
            GradMode.enabled = true
            defer { GradMode.enabled = saved }
            for p in l.parameters { p.tensor.zeroGrad() }
            let x = x0.copy().requiringGrad()
            let y = l(x)
            (y * w).sum().backward()
            let grads = l.parameters.map { ($0.name, $0.tensor.grad ?? Tensor(zeros: $0.tensor.shape)) } + [("input", x.grad!)]
            return (y.detached(), grads)
        }
    }

    /// Worst error / tolerance over the output and all gradients, fused vs reference (`tolerance`).
    static func worstError(_ l: TTTLayer, x: Tensor, w: Tensor) -> (ratio: Double, what: String) {
        let (yr, gr) = outputAndGrads(l, .reference, x: x, w: w)
        let (yf, gf) = outputAndGrads(l, .fused, x: x, w: w)
        // the reference's own sensitivity to fp32-level input rounding (x·(1 ± 1e-7))
        let xp = x.copy()
        for i in 0..<xp.count { xp.data[i] *= 1 + 1e-7 * Float(i % 3 - 1) }
        let (_, gp) = outputAndGrads(l, .reference, x: xp, w: w)
        var worst = (relNorm(yf, yr) / tolerance, "output \(relNorm(yf, yr))")
        for (((n, a), (_, r)), (_, p)) in zip(zip(gf, gr), gp) {
            let e = relNorm(a, r), tol = max(tolerance, sensitivityFactor * relNorm(p, r))
            if e / tol > worst.0 || e.isNaN { worst = (e / tol, "\(n) rel err \(e) (tolerance \(tol))") }
        }
        return worst
    }

    static let x = randomInput([2, 19, 32], seed: 21)
    static let w = randomInput([2, 19, 32], seed: 22)

    /// fused ≡ reference for the default configuration of every variant and every declared option.
    func testFusedMatchesReferenceForEveryOption() throws {
        let options = [LayerOption("default") { _ in }] + TTTLayer.fusedOptions
        for name in Self.names {
            for opt in options {
                let l = try Self.layer(name, configure: opt.apply)
                XCTAssertTrue(l.fusedTrainingSupported, "\(name) [\(opt)]: should train on the fused kernel")
                let (ratio, what) = Self.worstError(l, x: Self.x, w: Self.w)
                XCTAssertLessThan(ratio, 1, "\(name) [\(opt)]: fused vs reference, worst \(what)")
            }
        }
    }

    /// fused ≡ reference at head dims that are not a multiple of the 8-lane row kernels (RowSIMD): d = 6
    /// (one padded chunk) and d = 14 (a full chunk and a padded one; d is even for RoPE), both inner models, inner LN on and off.
    func testFusedMatchesReferenceAtOddHeadDims() throws {
        for (D, H) in [(12, 2), (28, 2)] {
            let x = randomInput([2, 19, D], seed: 41), w = randomInput([2, 19, D], seed: 42)
            for name in ["ttt-linear", "ttt-mlp"] {
                for ln in [true, false] {
                    let l = try XCTUnwrap(FusedTest.layer(name, D: D, H: H, seed: 3, scale: 3) { $0.ttt.innerLN = ln } as? TTTLayer)
                    let (ratio, what) = Self.worstError(l, x: x, w: w)
                    XCTAssertLessThan(ratio, 1, "\(name) d = \(D / H), inner LN \(ln): fused vs reference, worst \(what)")
                }
            }
            // Negative control at the same shapes: the faulty backward fails.
            let bad = try XCTUnwrap(FusedTest.layer("ttt-linear", D: D, H: H, seed: 3, scale: 3) as? TTTLayer)
            bad.fusedBackwardFault = .dropStateCarry
            XCTAssertGreaterThan(Self.worstError(bad, x: x, w: w).ratio, 100, "d = \(D / H): faulty backward passed")
        }
    }

    /// Every gradient is actually non-trivial in the default configuration (so the check above compares
    /// something), including θ_init, λ (token scale), the η gate and the inner LN.
    func testGradientsAreNonZero() throws {
        for name in ["ttt-linear", "ttt-mlp"] {
            let l = try Self.layer(name)
            let (_, g) = Self.outputAndGrads(l, .fused, x: Self.x, w: Self.w)
            for (n, t) in g {
                let norm = (0..<t.count).reduce(Float(0)) { $0 + t.data[$1] * t.data[$1] }
                XCTAssertGreaterThan(norm, 0, "\(name): gradient of \(n) is zero")
            }
        }
    }

    /// Negative controls: a fault in the fused backward (state carry across mini-batches dropped; sign of
    /// dL/dc flipped) must fail the same check with the same tolerance.
    func testFaultyBackwardFailsTheCheck() throws {
        for name in ["ttt-linear", "ttt-mlp"] {
            for fault in [FusedBackwardFault.dropStateCarry, .flipTokenScale] {
                let l = try Self.layer(name)
                l.fusedBackwardFault = fault
                let (ratio, what) = Self.worstError(l, x: Self.x, w: Self.w)
                XCTAssertGreaterThan(ratio, 100, "\(name) [\(fault)]: faulty backward passed the check (worst \(what))")
            }
        }
    }

    /// Same seed, same thread count → bit-identical gradients (two fresh layers, two runs).
    func testDeterministicGradients() throws {
        for name in ["ttt-linear", "ttt-mlp-m"] {
            let a = try Self.layer(name, seed: 9), b = try Self.layer(name, seed: 9)
            let (_, ga) = Self.outputAndGrads(a, .fused, x: Self.x, w: Self.w)
            let (_, gb) = Self.outputAndGrads(b, .fused, x: Self.x, w: Self.w)
            for ((n, s), (_, t)) in zip(ga, gb) {
                XCTAssertTrue((0..<s.count).allSatisfy { s.data[$0].bitPattern == t.data[$0].bitPattern }, "\(name): \(n) differs run to run")
            }
        }
    }

    /// The reference path is what `.reference` runs (the fused node is not recorded there), and the
    /// fused node is one graph node in training.
    func testPathSelection() throws {
        let l = try Self.layer("ttt-linear")
        let saved = GradMode.enabled
        GradMode.enabled = true
        defer { GradMode.enabled = saved }
        let m = l.mixerInputs(Self.x)
        XCTAssertEqual(l.fusedInnerLoop(m, batch: 2)?.opName, "tttInnerLoop")
        XCTAssertNil(l.withKernels(.reference) { l.fusedInnerLoop(m, batch: 2) })
        var cfg = LayerConfig(width: 32, heads: 4)
        cfg.ttt.dual = false
        let primal = try XCTUnwrap(LayerRegistry.make("ttt-linear", cfg, seed: 1) as? TTTLayer)
        XCTAssertFalse(primal.fusedTrainingSupported)
    }

    /// b far above T behaves as b = T (one partial mini-batch) on every path, without b-sized scratch.
    func testHugeMiniBatchActsAsT() throws {
        for name in ["ttt-linear", "ttt-mlp"] {
            let big = try Self.layer(name) { $0.ttt.miniBatch = 1 << 20 }
            let small = try Self.layer(name) { $0.ttt.miniBatch = 19 }
            let (yb, gb) = Self.outputAndGrads(big, .fused, x: Self.x, w: Self.w)
            let (ys, gs) = Self.outputAndGrads(small, .fused, x: Self.x, w: Self.w)
            XCTAssertLessThan(Self.relNorm(yb, ys), 1e-6, "\(name): b ≫ T output")
            for ((n, a), (_, r)) in zip(gb, gs) where n != "learnable_token_idx" {
                XCTAssertLessThan(Self.relNorm(a, r), 1e-6, "\(name): b ≫ T gradient of \(n)")
            }
            let e = Float(Self.relNorm(FusedTest.prefill(big, Self.x, fast: true), FusedTest.prefill(small, Self.x, fast: false)))
            XCTAssertLessThan(e, Float(Self.tolerance), "\(name): b ≫ T no-grad fused prefill")
        }
    }

    /// fastGelu (the Mamba-backbone gate's op) equals TensorCore's gelu, value and gradient (≤ 1e-6 relative).
    /// Negative controls on the same input, the fault a SIMD kernel has: the scalar tail (n mod 8 = 5 of
    /// 1221 elements) left out of the value, then out of the gradient, must fail.
    func testFastGeluMatchesGelu() {
        let saved = GradMode.enabled
        GradMode.enabled = true
        defer { GradMode.enabled = saved }
        let x0 = randomInput([3, 37, 11], seed: 31, std: 2), w = randomInput([3, 37, 11], seed: 32)
        func run(_ f: (Tensor) -> Tensor, _ x0: Tensor) -> (Tensor, Tensor) {
            let x = x0.copy().requiringGrad()
            let y = f(x)
            (y * w).sum().backward()
            return (y.detached(), x.grad!)
        }
        let (yr, gr) = run({ $0.gelu() }, x0), (yf, gf) = run({ $0.fastGelu() }, x0)
        XCTAssertLessThan(Self.relNorm(yf, yr), 1e-6)
        XCTAssertLessThan(Self.relNorm(gf, gr), 1e-6)
        let n = x0.count, lanes = n / 8 * 8
        XCTAssertGreaterThan(n - lanes, 0, "the shape must leave a scalar tail")
        let tailless = x0.copy()
        GeluKernels.gelu(tailless.data, lanes)                               // the tail keeps x: never activated
        XCTAssertGreaterThan(Self.relNorm(tailless, yr), 1e-4, "negative control: a value without its tail must fail")
        let gTailless = w.copy()
        GeluKernels.timesPrime(x0.data, gTailless.data, lanes)              // the tail keeps g: gelu' never applied
        XCTAssertGreaterThan(Self.relNorm(gTailless, gr), 1e-4, "negative control: a gradient without its tail must fail")
    }

    /// The θ-snapshot buffer is reused across steps only when no graph holds it: two steps in a row give
    /// bit-identical gradients, and two calls in ONE graph (the first node still alive) give the sum of
    /// the separate gradients (rel err ≤ 1e-6; fp32 sums of two terms in another order). Negative control,
    /// the fault named, on the same two calls: reusing the buffer while the first node still holds it
    /// (`snapshotReuseFault`: the second call overwrites the first's snapshots) must miss the sum.
    func testSnapshotBufferReuse() throws {
        let l = try Self.layer("ttt-mlp")
        let x2 = randomInput([2, 19, 32], seed: 23)
        let (_, g1) = Self.outputAndGrads(l, .fused, x: Self.x, w: Self.w)
        let (_, g1again) = Self.outputAndGrads(l, .fused, x: Self.x, w: Self.w)
        for ((n, a), (_, b)) in zip(g1, g1again) where n != "input" {
            XCTAssertTrue((0..<a.count).allSatisfy { a.data[$0].bitPattern == b.data[$0].bitPattern }, "\(n): second step differs")
        }
        let (_, g2) = Self.outputAndGrads(l, .fused, x: x2, w: Self.w)
        let saved = GradMode.enabled
        GradMode.enabled = true
        defer { GradMode.enabled = saved }
        func twoCallsInOneGraph() -> [Tensor] {
            for p in l.parameters { p.tensor.zeroGrad() }
            let loss = (l(Self.x) * Self.w).sum() + (l(x2) * Self.w).sum()       // both nodes alive until backward
            loss.backward()
            return l.parameters.map { $0.tensor.grad ?? Tensor(zeros: $0.tensor.shape) }
        }
        let got = twoCallsInOneGraph()
        l.snapshotReuseFault = true
        let faulty = twoCallsInOneGraph()
        l.snapshotReuseFault = false
        var worstFaulty = 0.0
        for ((((n, a), (_, b)), g), f) in zip(zip(zip(g1, g2), got), faulty) {
            let sum = withNoGrad { a + b }
            XCTAssertLessThan(Self.relNorm(g, sum), 1e-6, "\(n): two calls in one graph")
            worstFaulty = worstOf(worstFaulty, Self.relNorm(f, sum))
        }
        XCTAssertGreaterThan(worstFaulty, 1e-3, "negative control: snapshots overwritten while the first node holds them")
    }
}
