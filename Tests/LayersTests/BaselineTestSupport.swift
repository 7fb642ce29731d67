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
        /// Worst |a − n| / (rtol·max(|a|, |n|) + atol·G) over the sampled entries; ≤ 1 passes.
        var worst: Double = 0
        var worstWhere = ""
        var checked = 0
    }

    /// Central-difference check of every parameter of `layer` for loss = Σ layer(x) ⊙ w.
    ///
    /// For each parameter, `samples` random entries are moved by ±eps; the loss is evaluated in Float32
    /// and accumulated in Double. An entry passes when |a − n| ≤ rtol·max(|a|, |n|) + atol·G, with G the
    /// largest |analytic gradient| of that parameter tensor. `tamper` multiplies the analytic gradient
    /// (a negative control: 1.1 must fail).
    static func gradCheck(_ layer: SequenceLayer, x: Tensor, samples: Int = 6, eps: Float = 1e-2,
                          rtol: Double = 2e-2, atol: Double = 2e-3, tamper: Double = 1, seed: UInt64 = 7,
                          forward: ((Tensor) -> Tensor)? = nil) -> GradCheck {
        let fwd: (Tensor) -> Tensor = forward ?? { layer($0) }
        let probe = withNoGrad { fwd(x) }
        let w = randn(probe.shape, seed: seed &+ 1000)
        func lossD() -> Double {
            let y = withNoGrad { fwd(x) }
            var s = 0.0
            for i in 0..<y.count { s += Double(y.data[i]) * Double(w.data[i]) }
            return s
        }
        for p in layer.parameters { p.tensor.zeroGrad() }
        let loss = (fwd(x) * w).sum()
        loss.backward()
        var rng = RNG(seed: seed)
        var res = GradCheck()
        for p in layer.parameters {
            let t = p.tensor
            guard let g = t.grad else { res.worst = .infinity; res.worstWhere = "\(p.name): no gradient"; continue }
            let gscale = Double(maxAbs(g))
            for _ in 0..<samples {
                let i = Int(rng.next() % UInt64(t.count))
                let old = t.data[i]
                t.data[i] = old + eps; let lp = lossD()
                t.data[i] = old - eps; let lm = lossD()
                t.data[i] = old
                let num = (lp - lm) / (2 * Double(eps))
                let ana = Double(g.data[i]) * tamper
                let ratio = abs(ana - num) / (rtol * max(abs(ana), abs(num)) + atol * gscale + 1e-12)
                res.checked += 1
                if ratio > res.worst { res.worst = ratio; res.worstWhere = "\(p.name)[\(i)]: analytic \(ana), numeric \(num)" }
            }
        }
        for p in layer.parameters { p.tensor.zeroGrad() }
        return res
    }
}
