// SweepTests.swift — Student-t quantiles against table values, paired vs unpaired SEs, multiple-comparison
// corrections, and the declared sweep: selection on validation only, fresh reported seeds.

import XCTest
@testable import StudyKit

final class SweepTests: XCTestCase {
    // MARK: Student t

    /// Published two-sided 95% / 99% critical values (any statistics table), to the table's 3 decimals.
    func testTQuantileMatchesTableValues() {
        let table: [(p: Double, df: Double, t: Double)] = [
            (0.975, 1, 12.706), (0.975, 2, 4.303), (0.975, 3, 3.182), (0.975, 4, 2.776),
            (0.975, 9, 2.262), (0.975, 29, 2.045), (0.995, 2, 9.925), (0.995, 4, 4.604), (0.95, 2, 2.920),
        ]
        for row in table {
            let q = StudentT.quantile(row.p, df: row.df)
            XCTAssertTrue(abs(q - row.t) <= 6e-4, "t_{\(row.p),\(row.df)} = \(q), table \(row.t)")
        }
        // df = 1 is the Cauchy distribution: t_p = tan(π(p − ½)) exactly.
        let cauchy = tan(Double.pi * (0.9 - 0.5))
        XCTAssertTrue(abs(StudentT.quantile(0.9, df: 1) - cauchy) <= 1e-9 * cauchy)
        // Large df tends to the normal quantile 1.959964.
        XCTAssertTrue(abs(StudentT.quantile(0.975, df: 1e6) - 1.959964) <= 1e-5)
        // Negative control: the normal quantile is not the t quantile at 2 seeds' df — using 1.96 would
        // understate the interval by more than half.
        XCTAssertFalse(abs(StudentT.quantile(0.975, df: 2) - 1.96) <= 6e-4)
    }

    func testTQuantileInvertsCDFAndIsSymmetric() {
        for df in [1.0, 2, 3, 7, 30] {
            for p in [0.6, 0.9, 0.975, 0.999] {
                let q = StudentT.quantile(p, df: df)
                XCTAssertTrue(abs(StudentT.cdf(q, df: df) - p) <= 1e-10, "df \(df) p \(p)")
                XCTAssertTrue(abs(StudentT.quantile(1 - p, df: df) + q) <= 1e-9)
            }
        }
        XCTAssertTrue(abs(StudentT.twoSidedP(t: 2.776, df: 4) - 0.05) <= 2e-4)
        XCTAssertTrue(StudentT.quantile(1.2, df: 3).isNaN)
        XCTAssertTrue(StudentT.quantile(0.9, df: 0).isNaN)
    }

    // MARK: Seed comparisons

    /// Two layers trained with the same 4 seeds and data: a large seed effect shared by both.
    private let a: [UInt64: Double] = [1: 0.50, 2: 0.80, 3: 0.62, 4: 0.95]
    private let b: [UInt64: Double] = [1: 0.45, 2: 0.74, 3: 0.58, 4: 0.88]

    func testPairedSEIsTheSEOfPerSeedDifferences() throws {
        let d = try SeedComparison(a: a, b: b, convention: .pairedBySeed)
        let diffs = [0.05, 0.06, 0.04, 0.07]
        let s = meanSE(diffs)
        XCTAssertTrue(abs(d.difference - s.mean) <= 1e-12)
        XCTAssertTrue(abs(d.se - s.se) <= 1e-12)
        XCTAssertEqual(d.df, 3)
        XCTAssertTrue(d.pValue < 0.01, "shared seed effect cancels: p = \(d.pValue)")
    }

    /// Negative control: the unpaired (Welch) SE on the same paired data is a different, much larger
    /// number — the seed effect is counted as noise, and the same difference is not significant.
    func testUnpairedSEOnPairedDataIsLarger() throws {
        let paired = try SeedComparison(a: a, b: b, convention: .pairedBySeed)
        let unpaired = try SeedComparison(a: a, b: b, convention: .unpaired)
        XCTAssertTrue(abs(paired.difference - unpaired.difference) <= 1e-12)
        XCTAssertTrue(unpaired.se > 5 * paired.se, "unpaired \(unpaired.se) vs paired \(paired.se)")
        XCTAssertTrue(unpaired.pValue > 0.5)
        let sa = meanSE(Array(a.values)), sb = meanSE(Array(b.values))
        XCTAssertTrue(abs(unpaired.se - (sa.se * sa.se + sb.se * sb.se).squareRoot()) <= 1e-12)
    }

    func testPairingRejectsMismatchedSeeds() {
        // One seed against three: the comparison the issue names. Paired is refused, with the fix.
        XCTAssertThrowsError(try SeedComparison(a: [0: 0.1], b: [0: 0.2, 1: 0.3, 2: 0.1], convention: .pairedBySeed)) {
            XCTAssertTrue("\($0)".contains("same seeds"))
        }
        XCTAssertThrowsError(try SeedComparison(a: [0: 0.1], b: [0: 0.2, 1: 0.3], convention: .unpaired))
    }

    func testSeedSummaryIntervalUsesTQuantile() {
        let s = SeedSummary([1, 2, 3])
        let (lo, hi) = s.interval()
        XCTAssertTrue(abs((hi - lo) / 2 - 4.302653 * s.se) <= 1e-5)
        XCTAssertEqual(s.n, 3)
        XCTAssertTrue(SeedSummary([1]).interval().low.isNaN)
    }

    func testMultipleComparisonCorrections() {
        let p = [0.01, 0.04, 0.03]
        XCTAssertEqual(MultipleComparison.none.adjust(p), p)
        let bonf = MultipleComparison.bonferroni.adjust(p)
        XCTAssertTrue(zip(bonf, [0.03, 0.12, 0.09]).allSatisfy { abs($0 - $1) <= 1e-12 })
        let holm = MultipleComparison.holm.adjust(p)
        XCTAssertTrue(zip(holm, [0.03, 0.06, 0.06]).allSatisfy { abs($0 - $1) <= 1e-12 }, "\(holm)")
        // Holm is never more conservative than Bonferroni, and a single comparison is not adjusted.
        XCTAssertTrue(zip(holm, bonf).allSatisfy { $0 <= $1 })
        XCTAssertEqual(MultipleComparison.holm.adjust([0.02]), [0.02])
        XCTAssertTrue(MultipleComparison.bonferroni.adjust([0.5, .nan])[1].isNaN)
    }

    // MARK: Sweep declaration

    private func sweep(rule: SelectionRule = .best(.maximize)) throws -> Sweep {
        try Sweep(arms: ["attention", "ttt-linear"], candidates: ["1e-4", "1e-3", "1e-2"],
                  selectionSeeds: [0], reportedSeeds: [1, 2, 3], rule: rule)
    }

    /// Validation favours 1e-3 for both arms; test favours 1e-2 (a different stream, a different answer).
    private func metrics(_ r: SweepRun) -> SweepMetrics? {
        let v: [String: Double] = ["1e-4": 0.2, "1e-3": 0.9, "1e-2": 0.5]
        let t: [String: Double] = ["1e-4": 0.1, "1e-3": 0.6, "1e-2": 0.95]
        let armShift = r.arm == "attention" ? 0.05 : 0.0
        return SweepMetrics(validation: v[r.candidate]! + armShift, test: t[r.candidate]! + armShift + 0.01 * Double(r.seed))
    }

    func testSweepPlansSelectionThenFreshSeeds() throws {
        let s = try sweep()
        XCTAssertEqual(s.selectionRuns.count, 6)
        XCTAssertTrue(s.selectionRuns.allSatisfy { $0.seed == 0 && $0.wave == .selection })
        let chosen = try s.select(metrics)
        XCTAssertEqual(chosen, ["attention": "1e-3", "ttt-linear": "1e-3"])
        let report = s.reportRuns(chosen)
        XCTAssertEqual(report.count, 6)
        XCTAssertFalse(report.contains { $0.seed == 0 }, "the selection seed is not reported")
        let tests = s.report(chosen, metrics)
        XCTAssertEqual(tests["attention"], [1: 0.66, 2: 0.67, 3: 0.68].mapValues { $0 })
        let cmp = try s.compare([("attention", "ttt-linear")], tests: tests)
        XCTAssertEqual(cmp.count, 1)
        XCTAssertTrue(abs(cmp[0].comparison.difference - 0.05) <= 1e-12)
        XCTAssertTrue(s.protocolSentence(comparisons: 1).contains("1 comparison,"))
    }

    func testSelectionWaitsForEverySelectionRun() throws {
        let s = try sweep()
        let chosen = try s.select { $0.arm == "ttt-linear" && $0.candidate == "1e-2" ? nil : metrics($0) }
        XCTAssertEqual(chosen, ["attention": "1e-3"])
    }

    /// Negative control: a rule that picks on test metrics is detected and rejected.
    func testRuleThatPeeksAtTestIsRejected() throws {
        let peeking = SelectionRule(name: "best test") { scores in
            scores.indices.max { scores[$0].runs[0].test < scores[$1].runs[0].test } ?? 0
        }
        XCTAssertThrowsError(try sweep(rule: peeking).select(metrics)) {
            XCTAssertTrue("\($0)".contains("reads test"), "\($0)")
        }
        // The same rule on validation passes the audit.
        let honest = SelectionRule(name: "best validation") { scores in
            scores.indices.max { scores[$0].runs[0].validation < scores[$1].runs[0].validation } ?? 0
        }
        XCTAssertEqual(try sweep(rule: honest).select(metrics)["attention"], "1e-3")
    }

    /// Negative controls for the declaration: the selection seed among the reported ones (winner's
    /// curse) and fewer than 3 reported seeds are refused with the fix.
    func testDeclarationRejectsWinnersCurseAndTooFewSeeds() {
        XCTAssertThrowsError(try Sweep(arms: ["a"], candidates: ["x"], selectionSeeds: [0], reportedSeeds: [0, 1, 2],
                                       rule: .best(.maximize))) { XCTAssertTrue("\($0)".contains("winner's curse")) }
        XCTAssertThrowsError(try Sweep(arms: ["a"], candidates: ["x"], selectionSeeds: [0], reportedSeeds: [1, 2],
                                       rule: .best(.maximize))) { XCTAssertTrue("\($0)".contains("at least 3")) }
        XCTAssertNoThrow(try Sweep(arms: ["a"], candidates: ["x"], selectionSeeds: [0], reportedSeeds: [1, 2, 3],
                                   rule: .best(.maximize)))
    }

    func testBestRuleTieToleranceAndNaN() {
        let rule = SelectionRule.best(.maximize, tolerance: 0.01)
        let scores: SelectionRule.Scores = [("a", [SweepMetrics(validation: 0.895, test: 0)]),
                                            ("b", [SweepMetrics(validation: 0.9, test: 0)]),
                                            ("c", [SweepMetrics(validation: .nan, test: 0)])]
        XCTAssertEqual(rule.choose(scores), 0, "within tolerance: first declared")
        XCTAssertEqual(SelectionRule.best(.maximize).choose(scores), 1, "nan never wins")
        XCTAssertEqual(SelectionRule.best(.minimize).choose(scores), 0)
    }

    func testCompactScientific() {
        XCTAssertEqual(compactScientific(0.003), "3e-3")
        XCTAssertEqual(compactScientific(Double(Float(0.003))), "3e-3")
        XCTAssertEqual(compactScientific(1e-4), "1e-4")
        XCTAssertEqual(compactScientific(0.0021544), "2.15e-3")
        XCTAssertEqual(compactScientific(0.01), "1e-2")
    }

    /// A seed summary does not depend on the order of its values (a dictionary's `values` come in another
    /// order in every instance): bit-identical in every order; control: a plain sum in those orders differs.
    func testSeedSummaryIsOrderIndependent() {
        let orders: [[Double]] = [[0.1, 0.2, 0.3], [0.3, 0.2, 0.1], [0.2, 0.3, 0.1]]
        let s = orders.map { SeedSummary($0) }
        XCTAssertTrue(s.allSatisfy { $0.mean.bitPattern == s[0].mean.bitPattern && $0.se.bitPattern == s[0].se.bitPattern })
        XCTAssertNotEqual(Set(orders.map { meanSE($0).mean.bitPattern }).count, 1, "control: summation order matters")
        let u = try? SeedComparison(a: [3: 0.3, 1: 0.1, 2: 0.2], b: [5: 0.0, 4: 0.1, 6: 0.2], convention: .unpaired)
        let v = try? SeedComparison(a: [1: 0.1, 2: 0.2, 3: 0.3], b: [4: 0.1, 5: 0.0, 6: 0.2], convention: .unpaired)
        XCTAssertEqual(u?.se.bitPattern, v?.se.bitPattern)
    }
}
