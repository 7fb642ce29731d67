// BaselineTestSupport.swift — small helpers for the baseline layer tests (attention, linear attention, Mamba).
import XCTest
import TensorCore
import TestSupport
import Layers

enum BT {
    static func randn(_ shape: [Int], std: Float = 1, seed: UInt64) -> Tensor {
        var rng = RNG(seed: seed)
        return Tensor.randn(shape, std: std, rng: &rng)
    }

    static func maxAbs(_ a: Tensor) -> Float { a.array.map { abs($0) }.max() ?? 0 }

    /// max |a − b| through the shared comparison (TestSupport): +∞ when either holds a NaN or Inf.
    static func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
        precondition(a.shape == b.shape, "maxAbsDiff: \(a.shape) vs \(b.shape)")
        return Float(tensorError(a, b, .absMax).error)
    }

    /// max |a − b| / max |a| (relative to the output scale); +∞ when either holds a NaN or Inf.
    static func relErr(_ a: Tensor, _ b: Tensor) -> Float { Float(tensorError(b, a, .relMax).error) }

    /// Max |a − b| over tokens [lo, hi) of [B, T, D] tensors.
    static func maxAbsDiff(_ a: Tensor, _ b: Tensor, tokens lo: Int, _ hi: Int) -> Float {
        maxAbsDiff(a.slicedRaw(axis: 1, lo, hi), b.slicedRaw(axis: 1, lo, hi))
    }

    /// Overwrites a parameter's values with N(0, std²) (tests use larger weights than the init so that
    /// nonlinearities and softmaxes are exercised).
    static func refill(_ p: Tensor, std: Float, rng: inout RNG) {
        for i in 0..<p.count { p.data[i] = rng.normal() * std }
    }

    /// Token-by-token `step` over x [B, T, D], starting from a fresh state.
    static func decodeAll(_ layer: SequenceLayer, _ x: Tensor) -> Tensor {
        let st = layer.makeState(batch: x.dim(0))
        return concat((0..<x.dim(1)).map { layer.step(x.slicedRaw(axis: 1, $0, $0 + 1), state: st) }, axis: 1)
    }

    /// `step` on the first `prompt` tokens at once, then token by token.
    static func decodeSplit(_ layer: SequenceLayer, _ x: Tensor, prompt: Int) -> Tensor {
        let st = layer.makeState(batch: x.dim(0))
        var outs = [layer.step(x.slicedRaw(axis: 1, 0, prompt), state: st)]
        for t in prompt..<x.dim(1) { outs.append(layer.step(x.slicedRaw(axis: 1, t, t + 1), state: st)) }
        return concat(outs, axis: 1)
    }

    /// A copy of x with token `t` of every sequence shifted by `delta`.
    static func perturbed(_ x: Tensor, token t: Int, by delta: Float = 0.5) -> Tensor {
        let y = x.copy()
        let (b, tt, d) = (x.dim(0), x.dim(1), x.dim(2))
        for bi in 0..<b { for j in 0..<d { y.data[(bi * tt + t) * d + j] += delta * (j % 2 == 0 ? 1 : -1) } }
        return y
    }

    struct GradCheck {
        /// Worst |a − n| / tolerance over the sampled entries; ≤ 1 passes (+∞ for NaN).
        var worst: Double = 0
        var worstWhere = ""
        var checked = 0
    }

    /// Finite-difference check of every parameter of `layer` for loss = Σ layer(x) ⊙ w, through the suite's
    /// shared check (TestSupport `checkParameterGradients`: `samples` entries per parameter, fourth-order central
    /// differences, |a − n| ≤ rtol·|n| + atol·G + Float32 rounding floor with G the largest |numeric| of that
    /// parameter; NaN fails). `tamper` multiplies the analytic gradient (a negative control: 1.01 must fail).
    static func gradCheck(_ layer: SequenceLayer, x: Tensor, samples: Int = 16, eps: Float = 1e-2,
                          rtol: Double = 1e-3, atol: Double = 1e-4, tamper: Double = 1, seed: UInt64 = 7,
                          forward: ((Tensor) -> Tensor)? = nil) -> GradCheck {
        let fwd: (Tensor) -> Tensor = forward ?? { layer($0) }
        let r = checkParameterGradients(layer.parameters.map { ($0.name, $0.tensor) }, samples: samples, h: eps,
                                        rtol: rtol, atol: atol, vjpScale: tamper, seed: seed) { fwd(x) }
        return GradCheck(worst: r.worst, worstWhere: r.worstWhere, checked: r.checked)
    }
}
