// LayerTestSupport.swift — shared helpers for the layer tests.
import XCTest
@testable import Layers
import TensorCore
import TestSupport

/// Max |a − b| / max(1e-6, max |b|): relative error over a whole tensor.
/// Through the suite's shared comparison (TestSupport): +∞ when either tensor holds a NaN or Inf.
func relError(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "relError: \(a.shape) vs \(b.shape)")
    return Float(tensorError(a, b, .relMax, floor: 1e-6).error)
}

func randomInput(_ shape: [Int], seed: UInt64, std: Float = 1) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.randn(shape, std: std, rng: &rng)
}

/// Finite-difference check of d(sum(f()·w))/dp on `samples` random entries of each parameter.
/// Central differences with step `h`, loss accumulated in Double. For each parameter the error is
/// ‖analytic − numeric‖₂ / max(scale, ‖numeric‖₂) over its sampled entries (robust to the Float32
/// rounding noise of single entries); returns the worst parameter.
func gradCheck(_ params: [Param], samples: Int = 6, h: Float = 1e-2, scale: Float = 1e-3, seed: UInt64 = 7,
               _ f: () -> Tensor) -> (worst: Float, name: String) {
    let y0 = f()
    let w = randomInput(y0.shape, seed: seed)
    func loss() -> Double {
        let y = withNoGrad { f() }
        var s: Double = 0
        for i in 0..<y.count { s += Double(y.data[i]) * Double(w.data[i]) }
        return s
    }
    for p in params { p.tensor.zeroGrad() }
    (y0 * w).sum().backward()
    var rng = RNG(seed: seed + 1)
    var worst: Float = 0, worstName = ""
    for p in params {
        guard let g = p.tensor.grad else { return (.infinity, "\(p.name) (no gradient)") }
        var diff: Float = 0, norm: Float = 0, detail = ""
        for _ in 0..<min(samples, p.tensor.count) {
            let i = Int(rng.next() % UInt64(p.tensor.count))
            let old = p.tensor.data[i]
            p.tensor.data[i] = old + h; let lp = loss()
            p.tensor.data[i] = old - h; let lm = loss()
            p.tensor.data[i] = old
            let num = Float((lp - lm) / Double(2 * h))
            diff += (g.data[i] - num) * (g.data[i] - num); norm += num * num
            detail += " [\(i)] \(g.data[i]) vs \(num)"
        }
        let err = diff.squareRoot() / max(scale, norm.squareRoot())
        if err > worst { worst = err; worstName = "\(p.name): analytic vs numeric\(detail)" }
    }
    return (worst, worstName)
}
