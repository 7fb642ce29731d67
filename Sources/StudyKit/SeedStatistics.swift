// SeedStatistics.swift — summaries across training seeds and comparisons between arms (layers,
// rungs): paired by seed where both arms share seeds and data, unpaired (Welch) otherwise, with
// t-quantile confidence intervals and a stated multiple-comparison correction.

/// Mean, SD, SE and count over training seeds, with a t confidence interval for that count.
///
/// ```swift
/// let s = SeedSummary([0.61, 0.64, 0.70])
/// s.mean; s.se; s.n                      // 0.65, 0.026…, 3
/// s.interval(level: 0.95)                // mean ± t_{0.975,2}·se
/// ```
public struct SeedSummary: Sendable, Equatable {
    public var mean: Double
    public var sd: Double
    public var se: Double
    public var n: Int

    /// The values are summed in ascending order (nan last), so the result does not depend on the order a
    /// caller passes them in (a dictionary's `values` come in a different order in every instance, and a
    /// sum's last bit with them).
    public init(_ values: [Double]) {
        let s = meanSE(values.sorted { $0 < $1 || (!$0.isNaN && $1.isNaN) })
        mean = s.mean; sd = s.sd; se = s.se; n = values.count
    }

    /// `mean ± t_{1−(1−level)/2, n−1} · se`; nan bounds with fewer than 2 values.
    public func interval(level: Double = 0.95) -> (low: Double, high: Double) {
        guard n >= 2 else { return (.nan, .nan) }
        let h = StudentT.critical(level: level, df: Double(n - 1)) * se
        return (mean - h, mean + h)
    }
}

/// How the SE of a difference between two arms is computed.
public enum SEConvention: String, Sendable, Equatable, CaseIterable {
    /// Differences taken seed by seed (both arms trained with the same seeds and data streams):
    /// SE = sd(a_s − b_s) / √n, df = n − 1. The seed's shared luck cancels.
    case pairedBySeed = "paired by seed"
    /// Welch: SE = √(se_a² + se_b²), Welch–Satterthwaite df. For arms that do not share seeds.
    case unpaired = "unpaired (Welch)"
}

/// How p-values of several comparisons are corrected; the number of comparisons is always reported.
public enum MultipleComparison: String, Sendable, Equatable, CaseIterable {
    case none
    /// p · m, capped at 1.
    case bonferroni
    /// Holm's step-down: sort p ascending, p_(i) · (m − i + 1), running maximum, capped at 1.
    case holm

    /// The adjusted p-values, in the input order (nan stays nan and counts as a comparison).
    ///
    /// ```swift
    /// MultipleComparison.holm.adjust([0.01, 0.04, 0.03])   // [0.03, 0.06, 0.06]
    /// ```
    public func adjust(_ p: [Double]) -> [Double] {
        let m = Double(p.count)
        switch self {
        case .none: return p
        case .bonferroni: return p.map { $0.isNaN ? .nan : min(1, $0 * m) }
        case .holm:
            let order = p.indices.sorted { (p[$0].isNaN ? 2 : p[$0]) < (p[$1].isNaN ? 2 : p[$1]) }
            var out = [Double](repeating: .nan, count: p.count)
            var running = 0.0
            for (rank, i) in order.enumerated() where !p[i].isNaN {
                running = max(running, min(1, p[i] * (m - Double(rank))))
                out[i] = running
            }
            return out
        }
    }
}

/// The difference a − b between two arms across seeds.
///
/// ```swift
/// let d = try SeedComparison(a: [0: 0.9, 1: 0.8, 2: 0.85], b: [0: 0.7, 1: 0.62, 2: 0.66], convention: .pairedBySeed)
/// d.difference; d.se; d.pValue     // 0.19, 0.0058, 0.0009
/// ```
public struct SeedComparison: Sendable, Equatable {
    public var difference: Double
    public var se: Double
    public var df: Double
    /// Seeds used (paired: the shared seeds; unpaired: n_a + n_b).
    public var n: Int
    public var convention: SEConvention

    /// Two-sided p-value of difference = 0 (uncorrected).
    public var pValue: Double { StudentT.twoSidedP(t: difference / se, df: df) }

    /// Confidence interval of the difference at `level`, per comparison (apply a correction by
    /// passing `level = 1 − α/m` for Bonferroni).
    public func interval(level: Double = 0.95) -> (low: Double, high: Double) {
        let h = StudentT.critical(level: level, df: df) * se
        return (difference - h, difference + h)
    }

    /// Paired: both dictionaries must hold the same seeds (at least 2); unpaired: at least 2 values each.
    /// Throws a one-line error otherwise (e.g. pairing an arm of one seed with a mean of three).
    public init(a: [UInt64: Double], b: [UInt64: Double], convention: SEConvention) throws {
        self.convention = convention
        switch convention {
        case .pairedBySeed:
            guard Set(a.keys) == Set(b.keys) else {
                throw StudyKitError.invalid("paired comparison needs the same seeds in both arms (a: \(a.keys.sorted()), b: \(b.keys.sorted())) — train the missing seeds or compare unpaired")
            }
            guard a.count >= 2 else {
                throw StudyKitError.invalid("paired comparison needs at least 2 shared seeds, got \(a.count) — train more seeds")
            }
            let diffs = a.keys.sorted().map { a[$0]! - b[$0]! }
            let s = meanSE(diffs)
            difference = s.mean; se = s.se; df = Double(diffs.count - 1); n = diffs.count
        case .unpaired:
            guard a.count >= 2, b.count >= 2 else {
                throw StudyKitError.invalid("unpaired comparison needs at least 2 seeds per arm (a: \(a.count), b: \(b.count)) — train more seeds")
            }
            // In seed order: a dictionary's order varies between runs, a sum's rounding with it.
            let sa = meanSE(a.keys.sorted().map { a[$0]! }), sb = meanSE(b.keys.sorted().map { b[$0]! })
            let va = sa.se * sa.se, vb = sb.se * sb.se
            difference = sa.mean - sb.mean
            se = (va + vb).squareRoot()
            let na = Double(a.count), nb = Double(b.count)
            df = (va + vb) * (va + vb) / (va * va / (na - 1) + vb * vb / (nb - 1))
            n = a.count + b.count
        }
    }
}
