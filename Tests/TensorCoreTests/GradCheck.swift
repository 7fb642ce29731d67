// GradCheck.swift — finite-difference gradient checker shared by the TensorCore tests.
//
// For inputs x₁…xₙ and an op f, the scalar loss is L = Σ f(x)·W with W fixed N(0,1) weights (seeded),
// so every output element contributes with a different weight. The analytic gradient comes from
// `backward()`; the numeric one from the fourth-order central difference
// (8(L(x+h) − L(x−h)) − (L(x+2h) − L(x−2h))) / 12h with L accumulated in Double (truncation O(h⁴)).
// An element passes when
//     |analytic − numeric| ≤ rtol·|numeric| + atol·G + noise,
// rtol = 1e-3, atol = 1e-4 with G = max |numeric| over that input (the gradient's size), and
// noise = 8·ε₃₂·‖f(x)⊙W‖₂ / h, the rounding of the Float32 forward (independent per output) seen through the
// difference quotient.
// A NaN or Inf anywhere (analytic or numeric) fails. Defaults: h = 1e-2.
import XCTest
@testable import TensorCore
import TestSupport

/// Result of one gradient check.
struct GradCheckReport {
    /// max over elements of |analytic − numeric| / tolerance; ≤ 1 passes (+∞ for a NaN or Inf).
    var worstRatio: Double = 0
    var worstWhere = ""
    /// Largest |numeric| seen (guards against a vacuous check where everything is zero).
    var maxNumeric: Double = 0
    var checked = 0
    var passed: Bool { checked > 0 && worstRatio <= 1 }
}

/// Fresh leaf copies of `inputs` that require grad.
func leaves(_ inputs: [Tensor]) -> [Tensor] { inputs.map { $0.copy().requiringGrad() } }

/// Computes the analytic and numeric gradients of L = Σ f(x)⊙W for every input in `wrt` (default: all).
/// `vjpScale` multiplies the analytic gradient (a negative control: 1.01 must fail).
func gradCheckReport(_ inputs: [Tensor], wrt: [Int]? = nil, h: Float = 1e-2, rtol: Double = 1e-3, atol: Double = 1e-4,
                     vjpScale: Double = 1, seed: UInt64 = 1234, _ f: ([Tensor]) -> Tensor) -> GradCheckReport {
    let xs = leaves(inputs)
    let which = wrt ?? Array(xs.indices)
    for i in xs.indices where !which.contains(i) { xs[i].requiringGrad(false) }
    // Analytic.
    let out = f(xs)
    var rng = RNG(seed: seed)
    let w = Tensor.randn(out.shape, rng: &rng)
    let loss = (out * w).sum()
    loss.backward()
    var scaleSum = 0.0
    for k in 0..<out.count { let v = Double(out.data[k]) * Double(w.data[k]); scaleSum += v * v }
    let noise = 8 * Double(Float.ulpOfOne) * scaleSum.squareRoot() / Double(h)
    // Numeric: perturb the leaves' storage in place and re-run the op without recording.
    func lossValue() -> Double {
        withNoGrad {
            let y = f(xs)
            precondition(y.shape == w.shape, "gradCheck: output shape changed")
            var s = 0.0
            for k in 0..<y.count { s += Double(y.data[k]) * Double(w.data[k]) }
            return s
        }
    }
    var rep = GradCheckReport()
    for i in which {
        let x = xs[i]
        var nums = [Double](repeating: 0, count: x.count)
        for j in 0..<x.count {
            let x0 = x.data[j]
            func at(_ dx: Float) -> Double { x.data[j] = x0 + dx; return lossValue() }
            let a = at(h) - at(-h), b = at(2 * h) - at(-2 * h)
            x.data[j] = x0
            nums[j] = (8 * a - b) / (12 * Double(h))
        }
        let G = nums.map { abs($0) }.max() ?? 0
        for j in 0..<x.count {
            let num = nums[j], ana = Double(x.grad?.data[j] ?? 0) * vjpScale
            let tol = rtol * abs(num) + atol * G + noise
            var ratio = abs(ana - num) / tol
            if !ratio.isFinite { ratio = .infinity }
            rep.maxNumeric = max(rep.maxNumeric, abs(num))
            rep.checked += 1
            if !(ratio <= rep.worstRatio) {
                rep.worstRatio = ratio
                rep.worstWhere = "input \(i) \(x.shape) element \(j): analytic \(ana), numeric \(num) (tolerance \(tol))"
            }
        }
    }
    return rep
}

/// Asserts that the gradient of `f` matches finite differences and is not identically zero.
func assertGradients(_ name: String, _ inputs: [Tensor], wrt: [Int]? = nil, h: Float = 1e-2, rtol: Double = 1e-3,
                     file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor) {
    let rep = gradCheckReport(inputs, wrt: wrt, h: h, rtol: rtol, f)
    XCTAssertTrue(rep.passed, "\(name): gradient mismatch (ratio \(rep.worstRatio)) at \(rep.worstWhere)", file: file, line: line)
    XCTAssertGreaterThan(rep.maxNumeric, 1e-3, "\(name): numeric gradient is zero everywhere (vacuous check)", file: file, line: line)
    XCTAssertGreaterThan(rep.checked, 0, "\(name): nothing checked", file: file, line: line)
}

/// Seeded N(0,1) tensor.
func randn(_ shape: [Int], seed: UInt64, std: Float = 1) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.randn(shape, std: std, rng: &rng)
}

/// Seeded uniform tensor in [lo, hi).
func uniform(_ shape: [Int], _ lo: Float, _ hi: Float, seed: UInt64) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.uniform(shape, lo, hi, rng: &rng)
}

/// Seeded tensor with |x| ∈ [lo, hi) and random sign (keeps inputs away from kinks and poles).
func awayFromZero(_ shape: [Int], _ lo: Float = 0.2, _ hi: Float = 2, seed: UInt64) -> Tensor {
    var rng = RNG(seed: seed)
    let t = Tensor.uniform(shape, lo, hi, rng: &rng)
    for i in 0..<t.count where rng.uniform() < 0.5 { t.data[i] = -t.data[i] }
    return t
}

/// Row-major multi-index of flat offset `i` in `shape`.
func multiIndex(_ i: Int, _ shape: [Int]) -> [Int] {
    var r = [Int](repeating: 0, count: shape.count), rem = i
    for d in stride(from: shape.count - 1, through: 0, by: -1) { r[d] = rem % shape[d]; rem /= shape[d] }
    return r
}

/// Flat offset of a multi-index in `shape`.
func flatIndex(_ idx: [Int], _ shape: [Int]) -> Int {
    var o = 0
    for d in 0..<shape.count { o = o * shape[d] + idx[d] }
    return o
}

/// Asserts two float arrays agree within |a − b| ≤ atol + rtol·|b| per entry, through the shared comparison
/// (TestSupport): a NaN or Inf in either fails.
func assertClose(_ a: [Float], _ b: [Double], atol: Double, rtol: Double = 0, _ msg: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    let e = arrayError(a, b, .elementwise(atol: atol, rtol: rtol))
    XCTAssertTrue(e.error <= 1, "\(msg): element \(e.index) is \(e.index >= 0 && e.index < a.count ? a[e.index] : .nan), expected \(e.index >= 0 && e.index < b.count ? b[e.index] : .nan) (\(e.error)× the tolerance\(e.problem.map { "; \($0)" } ?? ""))", file: file, line: line)
}
