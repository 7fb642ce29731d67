// TensorComparison.swift — the one tensor comparison of the test suite (every test target depends on it).
//
// NaN- and Inf-aware: a non-finite value anywhere, in the tested tensor OR in the reference, makes the error
// +∞, so it fails every finite tolerance (no `if e > worst` running maximum a NaN can slip through; Swift's
// `max(x, .nan)` returns x). Sums are in Double. A comparison of several tensors reports the worst one by
// name, with the flat index and multi-index of its worst element.
//
// ```swift
// var cmp = TensorComparison()
// cmp.add("output", yFused, yRef, tolerance: 1e-5)
// cmp.add("d/dWq", gFused, gRef, tolerance: 1e-5)
// assertPasses(cmp, "fused vs reference")        // fails naming the worst tensor, e.g. "d/dWq[1, 3]"
// ```
import XCTest
import TensorCore

/// How the error of `a` against the reference `r` is measured.
public enum ErrorMetric: Sendable, CustomStringConvertible {
    /// ‖a − r‖₂ / max(‖r‖₂, floor) — relative over the whole tensor (robust to rounding of single entries).
    case relNorm
    /// max |a − r| / max(max |r|, floor) — worst entry relative to the tensor's scale.
    case relMax
    /// max |a − r| — absolute.
    case absMax
    /// max over entries of |a − r| / (atol + rtol·|r|) — passes at tolerance 1 (numpy's `allclose` per entry).
    case elementwise(atol: Double, rtol: Double)

    public var description: String {
        switch self {
        case .relNorm: "‖Δ‖/‖ref‖"
        case .relMax: "max|Δ|/max|ref|"
        case .absMax: "max|Δ|"
        case let .elementwise(atol, rtol): "max|Δ|/(\(atol) + \(rtol)·|ref|)"
        }
    }
}

/// The error of one tensor against its reference.
public struct TensorError: Sendable {
    /// The error under `metric`; +∞ when a value of either tensor is NaN or ±∞, or the shapes differ.
    public let error: Double
    /// Flat index of the largest |a − r| (or of the first non-finite value); −1 for empty tensors.
    public let index: Int
    /// Shape of the compared tensors (for the multi-index in messages).
    public let shape: [Int]
    /// Why the error is +∞ when it is not a plain difference (a NaN, an Inf, a shape mismatch), else nil.
    public let problem: String?

    /// The worst element's multi-index, e.g. "[1, 3, 0]".
    public var position: String {
        guard index >= 0, !shape.isEmpty else { return "[]" }
        var r = [Int](repeating: 0, count: shape.count), rem = index
        for d in stride(from: shape.count - 1, through: 0, by: -1) { r[d] = rem % max(shape[d], 1); rem /= max(shape[d], 1) }
        return "[" + r.map(String.init).joined(separator: ", ") + "]"
    }
}

/// The error of `a` against the reference `r` (see `ErrorMetric`); non-finite values anywhere give +∞.
///
/// ```swift
/// let e = tensorError(fused, ref, .relNorm).error     // +∞ if either holds a NaN
/// ```
public func tensorError(_ a: Tensor, _ r: Tensor, _ metric: ErrorMetric = .relNorm, floor: Double = 1e-30) -> TensorError {
    guard a.shape == r.shape else {
        return TensorError(error: .infinity, index: -1, shape: r.shape, problem: "shape \(a.shape) vs reference \(r.shape)")
    }
    return arrayError(UnsafeBufferPointer(start: a.data, count: a.count), UnsafeBufferPointer(start: r.data, count: r.count),
                      shape: r.shape, metric, floor: floor)
}

/// Same as `tensorError` for a Float array against a Double reference (the Float64 loop references).
public func arrayError(_ a: [Float], _ r: [Double], shape: [Int]? = nil, _ metric: ErrorMetric = .relNorm, floor: Double = 1e-30) -> TensorError {
    guard a.count == r.count else {
        return TensorError(error: .infinity, index: -1, shape: [r.count], problem: "length \(a.count) vs reference \(r.count)")
    }
    return a.withUnsafeBufferPointer { pa in r.withUnsafeBufferPointer { pr in
        arrayError(pa, pr, shape: shape ?? [r.count], metric, floor: floor)
    } }
}

func arrayError<A: BinaryFloatingPoint, R: BinaryFloatingPoint>(_ a: UnsafeBufferPointer<A>, _ r: UnsafeBufferPointer<R>, shape: [Int],
                                                               _ metric: ErrorMetric, floor: Double) -> TensorError {
    var num = 0.0, den = 0.0, worst = -1.0, at = a.isEmpty ? -1 : 0
    for i in 0..<a.count {
        let x = Double(a[i]), y = Double(r[i])
        guard x.isFinite else { return TensorError(error: .infinity, index: i, shape: shape, problem: "tested value \(x)") }
        guard y.isFinite else { return TensorError(error: .infinity, index: i, shape: shape, problem: "reference value \(y)") }
        var d = abs(x - y)
        switch metric {
        case .relNorm: num += d * d; den += y * y
        case .relMax: den = Swift.max(den, abs(y))
        case .absMax: break
        case let .elementwise(atol, rtol): d /= atol + rtol * abs(y)
        }
        if d > worst { worst = d; at = i }
    }
    let w = Swift.max(worst, 0)
    let e: Double
    switch metric {
    case .relNorm: e = num.squareRoot() / Swift.max(den.squareRoot(), floor)
    case .relMax: e = w / Swift.max(den, floor)
    case .absMax, .elementwise: e = w
    }
    return TensorError(error: e.isNaN ? .infinity : e, index: at, shape: shape, problem: nil)
}

/// One named tensor compared with a tolerance.
public struct TensorCheck: Sendable, CustomStringConvertible {
    public let name: String
    public let result: TensorError
    public let tolerance: Double
    public let metric: ErrorMetric
    /// error ≤ tolerance; false for NaN (the error is +∞ then anyway).
    public var passed: Bool { result.error <= tolerance }
    /// error / tolerance (+∞ for a zero tolerance with a non-zero error).
    public var ratio: Double { result.error == 0 ? 0 : result.error / tolerance }
    public var description: String {
        "\(name)\(result.position): \(metric) = \(result.error) (tolerance \(tolerance))" + (result.problem.map { " — \($0)" } ?? "")
    }
}

/// Several named tensors, each against its reference with its own tolerance; reports the worst by name.
///
/// ```swift
/// var cmp = TensorComparison()
/// for (name, g, r) in grads { cmp.add("d/d\(name)", g, r, tolerance: 1e-5) }
/// XCTAssertTrue(cmp.passed, cmp.summary)
/// ```
public struct TensorComparison: Sendable {
    public private(set) var checks: [TensorCheck] = []
    public init() {}

    /// Compares `a` with the reference `r`.
    @discardableResult
    public mutating func add(_ name: String, _ a: Tensor, _ r: Tensor, tolerance: Double, _ metric: ErrorMetric = .relNorm,
                             floor: Double = 1e-30) -> TensorCheck {
        let c = TensorCheck(name: name, result: tensorError(a, r, metric, floor: floor), tolerance: tolerance, metric: metric)
        checks.append(c)
        return c
    }

    /// True when every tensor passed (and at least one was compared).
    public var passed: Bool { !checks.isEmpty && checks.allSatisfy(\.passed) }
    /// The check with the largest error / tolerance (a non-finite one first).
    public var worst: TensorCheck? { checks.max { $0.ratio < $1.ratio || ($1.ratio.isNaN && !$0.ratio.isNaN) } }
    /// The checks that failed.
    public var failures: [TensorCheck] { checks.filter { !$0.passed } }
    /// The check of the tensor named `name`.
    public subscript(name: String) -> TensorCheck? { checks.first { $0.name == name } }
    /// "worst: <name>[index]: … ; N of M failed".
    public var summary: String {
        guard let w = worst else { return "nothing compared" }
        return "worst \(w); \(failures.count) of \(checks.count) failed" + (failures.isEmpty ? "" : ": " + failures.map(\.name).joined(separator: ", "))
    }
}

/// Asserts that every tensor of `cmp` passed, naming the worst one.
public func assertPasses(_ cmp: TensorComparison, _ context: @autoclosure () -> String = "",
                         file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertTrue(cmp.passed, "\(context()): \(cmp.summary)", file: file, line: line)
}

/// Asserts `a` ≈ reference `r` within `tolerance` under `metric`; NaN or Inf in either fails.
///
/// ```swift
/// assertClose(fused, ref, tolerance: 1e-5, "attention output")
/// ```
public func assertClose(_ a: Tensor, _ r: Tensor, tolerance: Double, _ metric: ErrorMetric = .relNorm, _ name: @autoclosure () -> String = "",
                        file: StaticString = #filePath, line: UInt = #line) {
    var cmp = TensorComparison()
    cmp.add(name(), a, r, tolerance: tolerance, metric)
    assertPasses(cmp, name(), file: file, line: line)
}

/// Asserts `a` differs from `r` by MORE than `tolerance` (a negative control). A NaN or Inf does not count as
/// a difference: a control must fail by the size of the fault it injects, not by a broken computation.
public func assertDiffers(_ a: Tensor, _ r: Tensor, by tolerance: Double, _ metric: ErrorMetric = .relNorm, _ name: @autoclosure () -> String = "",
                          file: StaticString = #filePath, line: UInt = #line) {
    let e = tensorError(a, r, metric)
    XCTAssertTrue(e.problem == nil && e.error > tolerance,
                  "\(name()): negative control — expected an error > \(tolerance), got \(e.error)\(e.problem.map { " (\($0))" } ?? "")",
                  file: file, line: line)
}

/// The larger of two errors for a running worst case, NaN-aware: a NaN in either gives +∞ (Swift's
/// `max(x, .nan)` returns x, so a plain running `max` lets a NaN through).
///
/// ```swift
/// var worst = 0.0
/// for e in errors { worst = worstOf(worst, e) }      // +∞ if any e is NaN
/// ```
public func worstOf<F: BinaryFloatingPoint>(_ a: F, _ b: F) -> F { (a.isNaN || b.isNaN) ? .infinity : Swift.max(a, b) }

/// max_p ‖a_p − b_p‖∞ / max_p ‖b_p‖∞ over a list of tensors (every parameter's gradient, say), NaN → +∞.
///
/// ```swift
/// XCTAssertLessThanOrEqual(worstRelative(remat, opByOp), 1e-5)
/// ```
public func worstRelative(_ a: [Tensor], _ b: [Tensor]) -> Float {
    var e: Float = 0, m: Float = 0
    for (s, t) in zip(a, b) {
        for i in 0..<t.count { let d = abs(s.data[i] - t.data[i]); e = d.isNaN ? .infinity : max(e, d); m = max(m, abs(t.data[i])) }
    }
    return e / max(m, 1e-30)
}
