// FusedModelPartsTests.swift — the fused SwiGLU and cross-entropy nodes equal their readable op chains
// (output and every gradient), and a whole LM's loss and gradients on `.fused` equal `.reference`.
// Each check has a negative control showing it can fail.
import XCTest
@testable import Layers
@testable import Models
import TensorCore
import TestSupport

final class FusedModelPartsTests: XCTestCase {
    /// ‖a − r‖₂ / ‖r‖₂ through the shared comparison (TestSupport): +∞ when either holds a NaN or Inf.
    func relNorm(_ a: Tensor, _ r: Tensor) -> Double { tensorError(a, r, .relNorm, floor: 1e-15).error }

    /// Output and gradients of `f` (an L = Σ y ⊙ w loss) into `inputs`.
    func run(_ inputs: [Tensor], seedWeights w: Tensor?, _ f: () -> Tensor) -> [Tensor] {
        let saved = GradMode.enabled
        GradMode.enabled = true
        defer { GradMode.enabled = saved }
        for t in inputs { t.zeroGrad() }
        let y = f()
        y.backward(seed: w)
        return [y.copy()] + inputs.map { $0.grad ?? Tensor(zeros: $0.shape) }
    }

    /// SwiGLU, fused ≡ reference at 1e-5 relative (output, du, dW1, dW3, dW2), with odd sizes so the
    /// SIMD tails run (N = 3·7 rows, I = 13); weights at std 0.5 so silu is far from linear.
    /// Negative control: the reference with W1 and W3 swapped differs by > 1e-2.
    func testSwiGLUFusedMatchesReference() {
        var rng = RNG(seed: 3)
        let (D, I) = (10, 13)
        let mlp = SwiGLU(width: D, hidden: I, rng: &rng)
        for w in [mlp.w1, mlp.w3, mlp.w2] { for i in 0..<w.count { w.data[i] *= 25 } }   // std 0.02 → 0.5
        let u = Tensor.randn([3, 7, D], rng: &rng).requiringGrad()
        let seed = Tensor.randn([3, 7, D], rng: &rng)
        let inputs = [u, mlp.w1, mlp.w3, mlp.w2]
        let ref = run(inputs, seedWeights: seed) { mlp.reference(u) }
        let fus = run(inputs, seedWeights: seed) { mlp.fused(u) }
        for (i, name) in ["y", "du", "dW1", "dW3", "dW2"].enumerated() {
            XCTAssertLessThan(relNorm(fus[i], ref[i]), 1e-5, "SwiGLU \(name) fused vs reference")
        }
        // Negative control.
        let swapped = SwiGLU(width: D, hidden: I, rng: &rng)
        swapped.w1.data.update(from: mlp.w3.data, count: D * I)
        swapped.w3.data.update(from: mlp.w1.data, count: D * I)
        swapped.w2.data.update(from: mlp.w2.data, count: I * D)
        let bad = run([u, swapped.w1, swapped.w3, swapped.w2], seedWeights: seed) { swapped.reference(u) }
        XCTAssertGreaterThan(relNorm(fus[0], bad[0]), 1e-2, "negative control: output")
        XCTAssertGreaterThan(relNorm(fus[1], bad[1]), 1e-2, "negative control: du")
    }

    /// Under no-grad the fused SwiGLU records nothing and gives the same numbers.
    func testSwiGLUFusedNoGrad() {
        var rng = RNG(seed: 4)
        let mlp = SwiGLU(width: 8, hidden: 16, rng: &rng)
        let u = Tensor.randn([2, 5, 8], rng: &rng)
        let (a, b) = withNoGrad { (mlp.fused(u), mlp.reference(u)) }
        XCTAssertEqual(a.opName, "leaf")
        XCTAssertLessThan(relNorm(a, b), 1e-5)
    }

    /// Cross-entropy, fused ≡ reference at 1e-5 relative (loss and dlogits), V = 13 (a SIMD tail) and
    /// V = 256 (the byte vocabulary), logits at std 3 (peaked rows). Negative control: targets shifted by one.
    func testCrossEntropyFusedMatchesReference() {
        for V in [13, 256] {
            var rng = RNG(seed: UInt64(V))
            let N = 37
            let x = Tensor.randn([N, V], std: 3, rng: &rng).requiringGrad()
            let t = (0..<N).map { _ in Int(rng.next() % UInt64(V)) }
            let ref = run([x], seedWeights: nil) { x.crossEntropy(targets: t) }
            let fus = run([x], seedWeights: nil) { fusedCrossEntropy(x, targets: t) }
            XCTAssertLessThan(relNorm(fus[0], ref[0]), 1e-5, "V \(V): loss")
            XCTAssertLessThan(relNorm(fus[1], ref[1]), 1e-5, "V \(V): dlogits")
            let shifted = t.map { ($0 + 1) % V }
            let bad = run([x], seedWeights: nil) { x.crossEntropy(targets: shifted) }
            XCTAssertGreaterThan(relNorm(fus[1], bad[1]), 1e-2, "V \(V): negative control")
        }
    }

    /// A whole LM (attention, TTT-Linear): `kernels` reaches every block and mixer; with the mixers held on
    /// `.reference`, the fused SwiGLU and loss give the loss and every parameter gradient of `.reference` to
    /// 1e-4 relative (the mixers' own fused ≡ reference check is FusedTrainingTests); a model whose fused SwiGLU has W2 perturbed
    /// by 1 % fails that check (negative control).
    func testLanguageModelFusedPartsMatchReference() throws {
        let ids = randomIDs(2 * 12, vocab: 32, seed: 9), next = randomIDs(2 * 12, vocab: 32, seed: 10)
        for layer in ["attention", "ttt-linear"] {
            let m = try LanguageModel(config: tinyConfig(layer), seed: 2)
            func grads(_ k: KernelPath) -> [Tensor] {
                m.kernels = k
                XCTAssertTrue(m.blocks.allSatisfy { $0.kernels == k && $0.mixer.kernels == k })
                for b in m.blocks { b.mixer.kernels = .reference }    // only SwiGLU and the loss differ
                return run(m.parameters.map(\.tensor), seedWeights: nil) { m.loss(inputs: ids, targets: next, batch: 2) }
            }
            let r = grads(.reference), f = grads(.fused)
            var worst = 0.0
            for (a, b) in zip(f, r) { worst = worstOf(worst, relNorm(a, b)) }
            XCTAssertLessThan(worst, 1e-4, "\(layer): fused vs reference")
            let w2 = m.blocks[0].mlp!.w2
            for i in 0..<w2.count { w2.data[i] *= 1.01 }
            let bad = grads(.fused)
            XCTAssertGreaterThan(zip(bad, r).map { relNorm($0, $1) }.max()!, 1e-3, "\(layer): negative control")
        }
    }
}
