// GradientCheck.swift — the suite's finite-difference check of parameter gradients (layers and models).
//
// The loss is L = Σ forward() ⊙ W (W fixed N(0,1), seeded), accumulated in Double. For `samples` random
// entries of each parameter, the numeric derivative is the fourth-order central difference
// (8(L(θ+h) − L(θ−h)) − (L(θ+2h) − L(θ−2h))) / 12h (truncation O(h⁴)). An entry passes when
//     |analytic − numeric| ≤ rtol·|numeric| + atol·G + noise,
// with G = max |numeric| over that parameter's samples (the gradient's size) and
// noise = 8·ε₃₂·‖forward()⊙W‖₂ / h (the Float32 forward's rounding, independent per output, through the
// difference quotient).
// A NaN or Inf anywhere fails (+∞ ratio). Defaults: rtol = 1e-3, atol = 1e-4, 16 samples, h = 1e-2.
//
// ```swift
// let r = checkParameterGradients(layer.parameters.map { ($0.name, $0.tensor) }) { layer(x) }
// XCTAssertTrue(r.passed, r.worstWhere)
// ```
import TensorCore

/// Fourth-order central difference of f at 0: (8(f(h) − f(−h)) − (f(2h) − f(−2h))) / 12h.
public func centralDifference(step h: Double, _ f: (Double) -> Double) -> Double {
    let a = f(h) - f(-h), b = f(2 * h) - f(-2 * h)
    return (8 * a - b) / (12 * h)
}

/// The outcome of a gradient check: the worst |analytic − numeric| / tolerance over the checked entries.
public struct GradientCheckResult: Sendable {
    /// ≤ 1 passes; +∞ for a NaN or Inf or a missing gradient.
    public var worst: Double = 0
    public var worstWhere = ""
    public var checked = 0
    /// Largest |numeric| seen (a check of all-zero gradients is vacuous).
    public var maxNumeric = 0.0
    public var passed: Bool { checked > 0 && worst <= 1 }

    public init() {}

    /// Records one entry; `G` is the parameter's gradient size, `noise` the rounding floor.
    public mutating func add(_ name: String, analytic: Double, numeric: Double, G: Double, noise: Double,
                             rtol: Double, atol: Double) {
        let tol = rtol * abs(numeric) + atol * G + noise
        var ratio = abs(analytic - numeric) / tol
        if !ratio.isFinite { ratio = .infinity }
        checked += 1
        maxNumeric = max(maxNumeric, abs(numeric).isFinite ? abs(numeric) : .infinity)
        if !(ratio <= worst) { worst = ratio; worstWhere = "\(name): analytic \(analytic), numeric \(numeric) (tolerance \(tol))" }
    }
}

/// Finite-difference check of d(Σ forward()·W)/dθ for `samples` random entries of each parameter (see the
/// file header). `vjpScale` multiplies the analytic gradient: a negative control (1.01 must fail).
public func checkParameterGradients(_ params: [(String, Tensor)], samples: Int = 16, h: Float = 1e-2,
                                    rtol: Double = 1e-3, atol: Double = 1e-4, vjpScale: Double = 1, seed: UInt64 = 7,
                                    _ forward: () -> Tensor) -> GradientCheckResult {
    let y0 = forward()
    var wrng = RNG(seed: seed &+ 1000)
    let w = Tensor.randn(y0.shape, rng: &wrng)
    var scaleSum = 0.0
    for i in 0..<y0.count { let v = Double(y0.data[i]) * Double(w.data[i]); scaleSum += v * v }
    let noise = 8 * Double(Float.ulpOfOne) * scaleSum.squareRoot() / Double(h)
    func loss() -> Double {
        let y = withNoGrad { forward() }
        var s = 0.0
        for i in 0..<y.count { s += Double(y.data[i]) * Double(w.data[i]) }
        return s
    }
    for (_, t) in params { t.zeroGrad() }
    (y0 * w).sum().backward()
    var rng = RNG(seed: seed)
    var res = GradientCheckResult()
    for (name, t) in params {
        guard let g = t.grad else { res.worst = .infinity; res.worstWhere = "\(name): no gradient"; res.checked += 1; continue }
        var picks: [(Int, Double)] = []
        for _ in 0..<min(samples, t.count) {
            let i = Int(rng.next() % UInt64(t.count)), old = t.data[i]
            let num = centralDifference(step: Double(h)) { dx in t.data[i] = old + Float(dx); return loss() }
            t.data[i] = old
            picks.append((i, num))
        }
        let G = picks.map { abs($0.1) }.max() ?? 0
        for (i, num) in picks {
            res.add("\(name)[\(i)]", analytic: Double(g.data[i]) * vjpScale, numeric: num, G: G, noise: noise, rtol: rtol, atol: atol)
        }
    }
    for (_, t) in params { t.zeroGrad() }
    return res
}
