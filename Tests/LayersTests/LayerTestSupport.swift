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

/// Finite-difference check of d(sum(f()·w))/dp on `samples` random entries of each parameter, through the
/// suite's shared check (TestSupport `checkParameterGradients`: fourth-order central differences,
/// |Δ| ≤ 1e-3·|num| + 1e-4·max|num| + Float32 rounding floor, NaN fails). Returns the worst ratio
/// error / tolerance (≤ 1 passes) and where; `vjpScale` scales the analytic gradient (negative control).
func gradCheck(_ params: [Param], samples: Int = 16, h: Float = 1e-2, vjpScale: Double = 1, seed: UInt64 = 7,
               _ f: () -> Tensor) -> (worst: Double, name: String) {
    let r = checkParameterGradients(params.map { ($0.name, $0.tensor) }, samples: samples, h: h, vjpScale: vjpScale, seed: seed, f)
    return (r.checked > 0 ? r.worst : .infinity, r.worstWhere)
}
