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
        try plan(ctx).filter { !$0.cached }.map { "\(command) --run \($0.key)  # \($0.label)" }
    }

    /// The error for a key that is not in the current plan.
    public func unknownRun(_ key: String, plan: [PlannedRun]) -> StudyKitError {
        let waiting = plan.isEmpty ? "" : " (\(plan.count) planned, e.g. \(plan[0].key))"
        return .invalid("'\(key)' is not a run of study '\(name)' with these options\(waiting) — take the keys from 'lab study \(name) --plan' with the same --quick/--full/--seed/--out, and run a later wave only after the earlier one is cached")
    }
}

/// Quotes a word for a POSIX shell when it has characters other than letters, digits and `-_./=:,+@%`.
public func shellQuoted(_ s: String) -> String {
    let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
    if !s.isEmpty && s.allSatisfy({ safe.contains($0) }) { return s }
    return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
