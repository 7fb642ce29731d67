// DistributedStudy.swift — a study whose work is a set of independent runs that share a cache
// directory, so any job runner (GNU parallel, xargs -P, a SLURM array) can spread them over machines:
//
//   lab study NAME --plan                   one `lab study NAME --run KEY` line per run not yet cached
//   lab study NAME --plan | parallel -j 8   (or xargs -P, or one array task per line)
//   lab study NAME                          assembles tables and figures from the cache (trains what is missing)
//
// No scheduler here: the cache (one directory per run key, its completion file written last) is the
// only coordination. A plan may come in waves: runs that depend on earlier results (e.g. extra seeds
// for close layers) appear in `--plan` once the runs they depend on are cached.
import Foundation

/// One independent unit of a study's work, named by a file- and shell-safe key.
public struct PlannedRun: Sendable, Equatable {
    /// Stable key: the same configuration always gets the same key (e.g. a hash of it).
    public var key: String
    /// One line for humans ("attention, D64, lr 3e-3, seed 0").
    public var label: String
    /// True when the run's result is already in the cache.
    public var cached: Bool

    public init(key: String, label: String, cached: Bool) { self.key = key; self.label = label; self.cached = cached }
}

/// A study that can list its independent runs and perform one of them by key.
///
/// ```swift
/// extension MyStudy: DistributedStudy {
///     func plan(_ ctx: StudyContext) throws -> [PlannedRun] { configs(ctx).map { PlannedRun(key: $0.key, label: $0.label, cached: isCached($0, ctx)) } }
///     func perform(key: String, _ ctx: StudyContext) throws -> Bool { try train(config(for: key, ctx), ctx) }
/// }
/// let lines = try MyStudy().planLines(ctx, command: "lab study mine")   // ["lab study mine --run mine-3fa2…", …]
/// ```
public protocol DistributedStudy: Study {
    /// Every run the study needs now, cached or not, given what the cache holds (later waves appear
    /// once the runs they depend on are cached).
    func plan(_ ctx: StudyContext) throws -> [PlannedRun]
    /// Performs the run named `key` into the shared cache under `ctx.outputDirectory` (or finds it
    /// there); returns true when it was already cached. An unknown key throws a one-line error.
    func perform(key: String, _ ctx: StudyContext) throws -> Bool
    /// The same study, assembling its report from the cached runs only (nothing is trained; the runs
    /// not cached are reported as missing and fail the pipeline verdict).
    func cachedOnly() -> Self
}

extension DistributedStudy {
    /// `<command> --run KEY  # label` for each planned run that is not cached yet, in plan order (the
    /// label is a shell comment: a job runner that passes lines to a shell ignores it; grep can select by it).
    public func planLines(_ ctx: StudyContext, command: String) throws -> [String] {
        try plan(ctx).filter { !$0.cached }.map { run in
            // The label is a comment: control characters (a newline would end it) become spaces.
            let label = String(run.label.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : Character($0) })
            return "\(command) --run \(shellQuoted(run.key))  # \(label)"
        }
    }

    /// The error for a key that is not in the current plan.
    public func unknownRun(_ key: String, plan: [PlannedRun]) -> StudyKitError {
        let waiting = plan.isEmpty ? "" : " (\(plan.count) planned, e.g. \(plan[0].key))"
        return .invalid("'\(key)' is not a run of study '\(name)' with these options\(waiting) — take the keys from 'lab study \(name) --plan' with the same --quick/--full/--seed/--out, and run a later wave only after the earlier one is cached")
    }
}

/// One independent run as a study defines it: its key and label, a look at the cache, and the work.
/// A study lists its runs once (``DistributedStudy/planned(_:)``, ``DistributedStudy/perform(key:among:)``
/// and ``DistributedStudy/missingRuns(_:)`` do the rest), so plan, run and assembly cannot disagree.
///
/// ```swift
/// let runs = configs.map { c in
///     StudyRun(key: c.key, label: "\(c.layer), seed \(c.seed)",
///              isCached: { cache.has(c) }, perform: { try train(c) })
/// }
/// let plan = study.planned(runs)                       // [PlannedRun], cached or not
/// let wasCached = try study.perform(key: plan[0].key, among: runs)
/// ```
public struct StudyRun {
    /// File- and shell-safe, stable (the same configuration always gets the same key).
    public var key: String
    /// One line for humans, shown after `#` in `--plan` (keep quotes out: xargs parses them).
    public var label: String
    /// True when the run's result is complete in the cache (reads only).
    public var isCached: () -> Bool
    /// Computes the run into the cache (resuming a partial one where the study can).
    public var perform: () throws -> Void

    public init(key: String, label: String, isCached: @escaping () -> Bool, perform: @escaping () throws -> Void) {
        self.key = key; self.label = label; self.isCached = isCached; self.perform = perform
    }
}

extension DistributedStudy {
    /// The plan of `runs`, each looked up in the cache.
    public func planned(_ runs: [StudyRun]) -> [PlannedRun] {
        runs.map { PlannedRun(key: $0.key, label: $0.label, cached: $0.isCached()) }
    }

    /// Performs the run named `key` among `runs`; true when it was cached already (nothing is done then).
    /// A key that is not among them throws ``unknownRun(_:plan:)``.
    public func perform(key: String, among runs: [StudyRun]) throws -> Bool {
        guard let run = runs.first(where: { $0.key == key }) else { throw unknownRun(key, plan: planned(runs)) }
        if run.isCached() { return true }
        try run.perform()
        return false
    }

    /// For an assembly from the cache only: nil when every run is cached (assemble as usual: nothing will be
    /// trained), else a failing result that names the missing runs and how to compute them.
    public func missingRuns(_ runs: [StudyRun]) -> StudyResult? {
        let missing = runs.filter { !$0.isCached() }
        guard !missing.isEmpty else { return nil }
        return StudyResult(verdict: .fail(
            "Pipeline: FAIL — \(missing.count) of \(runs.count) planned runs not in the cache (assembling from the cache only, nothing trained): " +
                missing.map { $0.key.hasPrefix($0.label) ? $0.key : "\($0.label) [\($0.key)]" }.joined(separator: "; ") + ".",
            "Compute them with 'lab study \(name) --plan' (same --quick/--full/--seed/--data/--out) and any job runner, then assemble again."))
    }
}

/// One shell command line from an argument vector: each argument `shellQuoted`. An argument holding a
/// newline or another control character is refused (line-oriented runners such as `parallel` would split
/// the command there), as `StudyKitError.invalid` naming the argument.
///
/// ```swift
/// try shellCommand(["lab", "study", "recall", "--data", "my data;x"])   // "lab study recall --data 'my data;x'"
/// ```
public func shellCommand(_ argv: [String]) throws -> String {
    for a in argv where a.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
        let shown = a.unicodeScalars.prefix(60).map { $0.value < 0x20 || $0.value == 0x7F ? "?" : String($0) }.joined()
        throw StudyKitError.invalid("argument '\(shown)' holds a newline or control character, which a plan line cannot carry — rename the path")
    }
    return argv.map(shellQuoted).joined(separator: " ")
}

/// Quotes a word for a POSIX shell when it has characters other than letters, digits and `-_./=:,+@%`.
public func shellQuoted(_ s: String) -> String {
    let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
    if !s.isEmpty && s.allSatisfy({ safe.contains($0) }) { return s }
    return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
