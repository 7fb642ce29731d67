// Study.swift — what a study is: a claim from the paper, a run that measures it, and a result.

import Foundation
import TensorCore

/// How much work a run does. Studies map each preset to their own sizes.
///
/// The command-line spelling is `quick`, `default`, `full` (`standard` is accepted too).
///
/// ```swift
/// Preset(argument: "default")   // .standard
/// Preset.quick.rawValue          // "quick"
/// ```
public enum Preset: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Seconds: smoke-test sizes, used by the test suite.
    case quick
    /// Minutes: the sizes the reports are made with.
    case standard = "default"
    /// As close to the paper's sizes as a CPU allows.
    case full

    /// Parses `quick`, `default`/`standard`, `full` (case-insensitive).
    public init?(argument: String) {
        switch argument.lowercased() {
        case "quick": self = .quick
        case "default", "standard": self = .standard
        case "full": self = .full
        default: return nil
        }
    }

    public var description: String { rawValue }
}

/// A study checks one claim of the paper and reports tables, charts and a verdict.
///
/// Studies are plain values (instance-based), so a registry is just an array:
/// `let all: [any Study] = [EquivalenceStudy(), …]`, looked up by ``name``.
///
/// ```swift
/// struct EquivalenceStudy: Study {
///     let name = "equivalence"
///     let title = "Dual form equals primal form"
///     let claim = "The dual form computes the same outputs as the primal form, up to float error."
///     let paperReference = "Sun et al. 2024, §2.5 (dual form)"
///     let presets: [Preset: String] = [.quick: "T=64", .standard: "T=512", .full: "T=2048"]
///     func run(_ ctx: StudyContext) throws -> StudyResult {
///         ctx.progress("comparing forms")
///         var t = Table(name: "max-diff", title: "Max |dual − primal|",
///                       columns: [.init("layer"), .init("max |Δ|", format: .scientific(2))])
///         t.append(["ttt-linear", 3e-7])
///         return StudyResult(tables: [t], verdict: .init(passed: true, summary: ["max |Δ| 3e-7 ≤ 1e-5"]))
///     }
/// }
/// ```
public protocol Study {
    /// Short file- and CLI-safe name (`equivalence`): lowercase letters, digits, `-`, `_`, `.`.
    var name: String { get }
    /// Human title for the report.
    var title: String { get }
    /// The paper's claim this study checks, in one paragraph.
    var claim: String { get }
    /// Where in the paper the claim is made (section, figure, table).
    var paperReference: String { get }
    /// What each preset runs (sizes, steps), shown in the report. Default: empty.
    var presets: [Preset: String] { get }
    /// Runs the study. Throw a ``StudyKitError`` (or any error with a one-line message) on bad input.
    func run(_ ctx: StudyContext) throws -> StudyResult
}

extension Study {
    public var presets: [Preset: String] { [:] }
}

/// Everything a run needs from outside: where outputs go, how big to run, the seed, where the corpus of
/// the studies that train models is (`lab study … --data DIR`), and progress.
///
/// ```swift
/// let ctx = StudyContext(outputDirectory: URL(fileURLWithPath: "results/equivalence"), preset: .quick, seed: 0)
/// var rng = ctx.makeRNG()                 // TensorCore.RNG seeded with ctx.seed
/// let bar = ctx.progressBar("training", total: 100)
/// for _ in 0..<100 { bar.advance() }
/// bar.finish()
/// ```
public final class StudyContext: @unchecked Sendable {
    public let outputDirectory: URL
    public let preset: Preset
    public let seed: UInt64
    /// The corpus directory (written by `lab data fetch`) the training studies read; `data` unless given.
    public let dataDirectory: URL
    /// Where progress goes; ``ProgressReporter/automatic()`` unless given.
    public let reporter: ProgressReporter

    public init(outputDirectory: URL, preset: Preset = .standard, seed: UInt64 = 0,
                dataDirectory: URL = URL(fileURLWithPath: "data"), reporter: ProgressReporter = .automatic()) {
        self.outputDirectory = outputDirectory
        self.preset = preset
        self.seed = seed
        self.dataDirectory = dataDirectory
        self.reporter = reporter
    }

    /// A generator seeded with ``seed``; pass `stream` to get independent streams for parts of a study.
    public func makeRNG(stream: UInt64 = 0) -> RNG {
        RNG(seed: seed &+ stream &* 0x9E37_79B9_7F4A_7C15)
    }

    /// Picks the value for the current preset: `ctx.pick(quick: 64, standard: 512, full: 2048)`.
    public func pick<T>(quick: T, standard: T, full: T) -> T {
        switch preset {
        case .quick: return quick
        case .standard: return standard
        case .full: return full
        }
    }

    /// Reports a step ("training ttt-mlp, T=2048"). Shown on a terminal; silent otherwise.
    public func progress(_ message: String) { reporter.message(message) }

    /// A progress bar for `total` units of work, redrawn in place on a terminal.
    public func progressBar(_ label: String, total: Int) -> ProgressBar {
        ProgressBar(label: label, total: total, reporter: reporter)
    }
}

/// The outcome of a claim check: passed or not, with one-line reasons.
public struct Verdict: Sendable, Equatable {
    public var passed: Bool
    /// One line each, e.g. `"max |Δ| = 3.1e-07 ≤ tolerance 1e-05 at every length"`.
    public var summary: [String]

    public init(passed: Bool, summary: [String]) {
        self.passed = passed
        self.summary = summary
    }

    public static func pass(_ summary: String...) -> Verdict { Verdict(passed: true, summary: summary) }
    public static func fail(_ summary: String...) -> Verdict { Verdict(passed: false, summary: summary) }
}

/// What a study run produced: tables, charts, a verdict, and free-form Markdown notes.
public struct StudyResult: Sendable, Equatable {
    public var tables: [Table]
    public var charts: [Chart]
    public var verdict: Verdict
    /// Markdown appended under "Notes" (method details, caveats, deviations from the paper).
    public var notes: String

    public init(tables: [Table] = [], charts: [Chart] = [], verdict: Verdict, notes: String = "") {
        self.tables = tables
        self.charts = charts
        self.verdict = verdict
        self.notes = notes
    }
}
