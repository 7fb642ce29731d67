// Sweep.swift — a study's training runs as a declared list: arms (layers, rungs) × candidate settings
// (lr, preset, …) trained at selection seeds, a selection rule that sees validation metrics only,
// then the selected setting of each arm trained at fresh reported seeds, whose TEST metrics are the
// reported numbers, with SEs across seeds by a declared convention and a stated comparison count.
//
//   wave 1 (selection): every arm × candidate at each selection seed   → validation metric per run
//   select:             the rule picks one candidate per arm, on validation only (audited, see below)
//   wave 2 (report):    each arm's chosen candidate at each reported seed → test metric per run
//
// The reported seeds are disjoint from the selection seeds (checked), so the seed that won the
// selection is never in a reported mean (no winner's curse).

import Foundation

/// One training run of a sweep.
///
/// ```swift
/// SweepRun(arm: "attention", candidate: "lr=3e-3", seed: 10, wave: .report)
/// ```
public struct SweepRun: Sendable, Hashable {
    public enum Wave: String, Sendable, Hashable { case selection, report }
    public var arm: String
    public var candidate: String
    public var seed: UInt64
    public var wave: Wave

    public init(arm: String, candidate: String, seed: UInt64, wave: Wave) {
        self.arm = arm; self.candidate = candidate; self.seed = seed; self.wave = wave
    }
}

/// What a finished run measured: a validation metric (selection only) and a test metric (report only).
/// The two are computed on disjoint data streams by the study.
public struct SweepMetrics: Sendable, Equatable {
    public var validation: Double
    public var test: Double
    public init(validation: Double, test: Double) { self.validation = validation; self.test = test }
}

/// How one arm's candidate is chosen from its selection runs.
///
/// The rule sees ``SweepMetrics`` (so rules over validation curves or costs stay simple), but
/// ``Sweep/select(_:)`` audits it: the choice is recomputed with every test metric replaced
/// (negated, then nan); a rule whose choice changes has read test and is rejected.
///
/// ```swift
/// SelectionRule.best(.maximize)                    // highest mean validation metric, ties → first declared
/// SelectionRule(name: "custom") { scores in … }   // returns an index into scores
/// ```
public struct SelectionRule: Sendable {
    public enum Direction: String, Sendable { case maximize, minimize }

    /// The candidates of one arm, in declaration order, with their selection runs' metrics.
    public typealias Scores = [(candidate: String, runs: [SweepMetrics])]

    public var name: String
    public var choose: @Sendable (Scores) -> Int

    public init(name: String, choose: @escaping @Sendable (Scores) -> Int) {
        self.name = name; self.choose = choose
    }

    /// The candidate with the best mean validation metric (nan-valued runs count as worst); within
    /// `tolerance` of the best, the first in declaration order (declare candidates cheapest-first).
    public static func best(_ direction: Direction, tolerance: Double = 0) -> SelectionRule {
        SelectionRule(name: "\(direction.rawValue) mean validation metric (ties within \(tolerance): first declared)") { scores in
            let means = scores.map { s -> Double in
                let v = s.runs.map(\.validation)
                let m = v.isEmpty ? Double.nan : v.reduce(0, +) / Double(v.count)
                if m.isNaN { return direction == .maximize ? -.infinity : .infinity }
                return m
            }
            guard let bestValue = direction == .maximize ? means.max() : means.min() else { return 0 }
            return means.firstIndex { direction == .maximize ? $0 >= bestValue - tolerance : $0 <= bestValue + tolerance } ?? 0
        }
    }
}

/// A declared sweep. A study builds one from its configuration; `runs(selected:)` is its plan.
///
/// ```swift
/// let sweep = try Sweep(arms: ["attention", "ttt-linear"], candidates: ["lr=1e-4", "lr=1e-3", "lr=1e-2"],
///                       selectionSeeds: [0], reportedSeeds: [1, 2, 3],
///                       rule: .best(.maximize), convention: .pairedBySeed, correction: .holm)
/// sweep.selectionRuns                                    // wave 1: 6 runs
/// let chosen = try sweep.select { run in metrics[run] }  // ["attention": "lr=1e-3", …]
/// sweep.reportRuns(chosen)                               // wave 2: 6 runs
/// ```
public struct Sweep: Sendable {
    public var arms: [String]
    /// Candidates per arm, in declaration order (cheapest or most conventional first: ties pick it).
    public var candidates: [String: [String]]
    public var selectionSeeds: [UInt64]
    public var reportedSeeds: [UInt64]
    public var rule: SelectionRule
    public var convention: SEConvention
    public var correction: MultipleComparison
    /// Confidence level of reported intervals (per comparison before correction).
    public var level: Double

    /// Every arm gets the same candidates.
    public init(arms: [String], candidates: [String], selectionSeeds: [UInt64], reportedSeeds: [UInt64],
                rule: SelectionRule, convention: SEConvention = .pairedBySeed,
                correction: MultipleComparison = .holm, level: Double = 0.95) throws {
        try self.init(arms: arms, candidatesByArm: Dictionary(uniqueKeysWithValues: arms.map { ($0, candidates) }),
                      selectionSeeds: selectionSeeds, reportedSeeds: reportedSeeds, rule: rule,
                      convention: convention, correction: correction, level: level)
    }

    /// Throws a one-line error for a sweep a reviewer would reject: fewer than 3 reported seeds, a
    /// selection seed among the reported ones, an arm without candidates, duplicate names.
    public init(arms: [String], candidatesByArm: [String: [String]], selectionSeeds: [UInt64], reportedSeeds: [UInt64],
                rule: SelectionRule, convention: SEConvention = .pairedBySeed,
                correction: MultipleComparison = .holm, level: Double = 0.95) throws {
        guard !arms.isEmpty, Set(arms).count == arms.count else {
            throw StudyKitError.invalid("a sweep needs at least one arm and distinct arm names (got \(arms)) — name each layer once")
        }
        for a in arms {
            guard let c = candidatesByArm[a], !c.isEmpty, Set(c).count == c.count else {
                throw StudyKitError.invalid("arm '\(a)' has no candidates or repeats one — declare its settings (e.g. lr values) once each")
            }
        }
        guard !selectionSeeds.isEmpty else {
            throw StudyKitError.invalid("a sweep needs at least one selection seed — declare e.g. selectionSeeds: [0]")
        }
        guard reportedSeeds.count >= 3, Set(reportedSeeds).count == reportedSeeds.count else {
            throw StudyKitError.invalid("a sweep reports at least 3 distinct training seeds per arm, got \(reportedSeeds) — declare 3 or more")
        }
        let overlap = Set(selectionSeeds).intersection(reportedSeeds)
        guard overlap.isEmpty else {
            throw StudyKitError.invalid("seed(s) \(overlap.sorted()) both select and are reported (winner's curse) — report fresh seeds only")
        }
        guard level > 0, level < 1 else {
            throw StudyKitError.invalid("confidence level \(level) is not in (0, 1) — use e.g. 0.95")
        }
        self.arms = arms; self.candidates = candidatesByArm; self.selectionSeeds = selectionSeeds
        self.reportedSeeds = reportedSeeds; self.rule = rule; self.convention = convention
        self.correction = correction; self.level = level
    }

    /// Wave 1: every arm × candidate × selection seed, in declaration order.
    public var selectionRuns: [SweepRun] {
        arms.flatMap { a in candidates[a]!.flatMap { c in selectionSeeds.map { SweepRun(arm: a, candidate: c, seed: $0, wave: .selection) } } }
    }

    /// Wave 2: each arm's chosen candidate at each reported seed (arms missing from `chosen` are left out).
    public func reportRuns(_ chosen: [String: String]) -> [SweepRun] {
        arms.flatMap { a in chosen[a].map { c in reportedSeeds.map { SweepRun(arm: a, candidate: c, seed: $0, wave: .report) } } ?? [] }
    }

    /// Applies the rule to each arm whose selection runs all have metrics (`metrics` returns nil for a
    /// run not finished). Throws if the rule's choice depends on test metrics.
    public func select(_ metrics: (SweepRun) -> SweepMetrics?) throws -> [String: String] {
        var chosen: [String: String] = [:]
        for a in arms {
            var scores: SelectionRule.Scores = []
            var complete = true
            for c in candidates[a]! {
                let runs = selectionSeeds.map { SweepRun(arm: a, candidate: c, seed: $0, wave: .selection) }
                let m = runs.compactMap(metrics)
                if m.count != runs.count { complete = false; break }
                scores.append((c, m))
            }
            guard complete else { continue }
            let i = rule.choose(scores)
            guard scores.indices.contains(i) else {
                throw StudyKitError.invalid("selection rule '\(rule.name)' returned index \(i) for \(scores.count) candidates of '\(a)' — return an index into its scores")
            }
            for poison in [{ (x: Double) in -x }, { (_: Double) in Double.nan }] {
                let blinded = scores.map { s in (s.candidate, s.runs.map { SweepMetrics(validation: $0.validation, test: poison($0.test)) }) }
                if rule.choose(blinded) != i {
                    throw StudyKitError.invalid("selection rule '\(rule.name)' changes its choice for '\(a)' when only test metrics change — it reads test; select on validation only")
                }
            }
            chosen[a] = scores[i].candidate
        }
        return chosen
    }

    /// Both waves as far as finished runs allow: wave 1 with its configurations, the choice per arm (for
    /// arms whose wave 1 is finished), wave 2 with its configurations. `finished` returns a run's result
    /// when it has one (a study's cache lookup; it is asked for every run of both waves), `metrics` scores it.
    ///
    /// ```swift
    /// let p = try sweep.plan(config: { try cfg($0) }, finished: { cache[$0.key] }, metrics: score)
    /// p.all.filter { cache[$0.config.key] == nil }   // what is left to train
    /// ```
    public func plan<Config, Result>(config: (SweepRun) throws -> Config, finished: (Config) -> Result?,
                                     metrics: (Result) -> SweepMetrics) throws -> SweepPlan<Config> {
        let selection = try selectionRuns.map { (run: $0, config: try config($0)) }
        var byRun: [SweepRun: Result] = [:]
        for (r, c) in selection { if let x = finished(c) { byRun[r] = x } }
        let chosen = try select { byRun[$0].map(metrics) }
        let report = try reportRuns(chosen).map { (run: $0, config: try config($0)) }
        for (_, c) in report { _ = finished(c) }
        return SweepPlan(sweep: self, selection: selection, chosen: chosen, report: report)
    }

    /// Test-metric summary over the reported seeds of each arm (nil where a run is missing).
    public func report(_ chosen: [String: String], _ metrics: (SweepRun) -> SweepMetrics?) -> [String: [UInt64: Double]] {
        var out: [String: [UInt64: Double]] = [:]
        for a in arms {
            guard let c = chosen[a] else { continue }
            var bySeed: [UInt64: Double] = [:]
            for s in reportedSeeds {
                if let m = metrics(SweepRun(arm: a, candidate: c, seed: s, wave: .report)) { bySeed[s] = m.test }
            }
            if bySeed.count == reportedSeeds.count { out[a] = bySeed }
        }
        return out
    }

    /// The declared comparisons (a − b), by the sweep's SE convention, with p-values corrected for
    /// their number. Pairs whose arms are not both reported are skipped (and not counted).
    public func compare(_ pairs: [(a: String, b: String)], tests: [String: [UInt64: Double]]) throws
        -> [(a: String, b: String, comparison: SeedComparison, adjustedP: Double)]
    {
        let done = pairs.filter { tests[$0.a] != nil && tests[$0.b] != nil }
        let cs = try done.map { try SeedComparison(a: tests[$0.a]!, b: tests[$0.b]!, convention: convention) }
        let adjusted = correction.adjust(cs.map(\.pValue))
        return zip(done, zip(cs, adjusted)).map { ($0.0.a, $0.0.b, $0.1.0, $0.1.1) }
    }

    /// One sentence for a README or report: what is selected on what, seeds, SE convention, correction.
    public func protocolSentence(comparisons: Int) -> String {
        "Selection: \(rule.name) over \(candidates[arms[0]]!.count) candidates per arm at seed(s) \(selectionSeeds.map(String.init).joined(separator: ", ")) on the validation stream; "
            + "reported: test metric at \(reportedSeeds.count) fresh seeds (\(reportedSeeds.map(String.init).joined(separator: ", "))), mean ± SE across seeds; "
            + "differences \(convention.rawValue), \(Int((level * 100).rounded()))% intervals with t_{n−1}; "
            + "\(comparisons) comparison\(comparisons == 1 ? "" : "s"), p-values \(correction == .none ? "uncorrected" : "\(correction.rawValue)-corrected")."
    }
}

/// A learning rate (or any positive setting) as a short, exact-looking cell: `3e-3`, `1e-4`, `2.15e-3`.
/// Float-rounded inputs (`0.003000000026`) come out as declared (`3e-3`).
///
/// ```swift
/// compactScientific(0.003)                  // "3e-3"
/// compactScientific(Double(Float(0.003)))   // "3e-3"
/// compactScientific(0.0021544)              // "2.15e-3"
/// ```
public func compactScientific(_ x: Double, significant: Int = 3) -> String {
    guard x.isFinite, x != 0 else { return x == 0 ? "0" : "\(x)" }
    let s = String(format: "%.\(max(0, significant - 1))e", x)   // "3.00e-03"
    guard let e = s.firstIndex(of: "e") else { return s }
    var mantissa = String(s[..<e])
    if mantissa.contains(".") {
        while mantissa.hasSuffix("0") { mantissa.removeLast() }
        if mantissa.hasSuffix(".") { mantissa.removeLast() }
    }
    let exponent = Int(s[s.index(after: e)...]) ?? 0
    return "\(mantissa)e\(exponent)"
}

/// A sweep's runs with their configurations, as far as finished runs allow (`Sweep.plan`).
public struct SweepPlan<Config> {
    public var sweep: Sweep
    /// Wave 1: every selection run.
    public var selection: [(run: SweepRun, config: Config)]
    /// The chosen candidate per arm whose wave 1 is finished.
    public var chosen: [String: String]
    /// Wave 2: each chosen candidate at the reported seeds.
    public var report: [(run: SweepRun, config: Config)]
    /// Both waves.
    public var all: [(run: SweepRun, config: Config)] { selection + report }
}
