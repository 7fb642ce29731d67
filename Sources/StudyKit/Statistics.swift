// Statistics.swift — the sample statistics every study reports: mean, standard deviation, standard error.

/// Mean, sample standard deviation (n − 1) and standard error of the mean of `v`; nan where undefined
/// (no values: all nan; one value: sd and se nan).
///
/// ```swift
/// let s = meanSE([1.0, 2.0, 3.0])      // (mean: 2, sd: 1, se: 0.577…)
/// ```
public func meanSE(_ v: [Double]) -> (mean: Double, sd: Double, se: Double) {
    let n = Double(v.count)
    guard !v.isEmpty else { return (.nan, .nan, .nan) }
    let m = v.reduce(0, +) / n
    guard v.count > 1 else { return (m, .nan, .nan) }
    let sd = (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (n - 1)).squareRoot()
    return (m, sd, sd / n.squareRoot())
}
