// OutputOwnership.swift — a study or figures output directory holds only what the lab wrote there: a
// manifest (`.lab-outputs.json`) names every top-level entry the lab wrote, and a directory holding
// anything else (a user's REPORT.md, notes) is refused unless --force. A run that says what it wrote
// (`finish(writtenNow:)`) also removes the files an earlier run wrote and this one did not (an earlier
// design's tables, StaleOutputs), never a file the lab did not write nor one handed over by --force.
import Foundation
import TensorCore

/// The manifest of what the lab wrote into an output directory, and the check that it owns the rest.
///
/// ```swift
/// let own = try OutputOwnership.claim(URL(fileURLWithPath: "results/flops"), force: false, flag: "--out")
/// // … write results/flops/* …
/// try own.finish()                       // every top-level entry now in the manifest
/// try own.finish(writtenNow: ["flops.md", "flops.csv", "run.json"])   // … and earlier runs' other files removed
/// ```
public struct OutputOwnership {
    /// The manifest's file name (hidden; it is itself lab-written).
    public static let fileName = ".lab-outputs.json"

    struct Manifest: Codable {
        /// Top-level names the lab wrote.
        var files: [String]
        /// Set while a run writes (cleared by `finish`): entries newer than this belong to that run,
        /// even when it was killed before recording them.
        var pendingSince: Date?
        /// Names handed over by --force (a user's files the lab now tolerates): never removed as stale.
        var forced: [String]?
    }

    public let directory: URL
    /// What the manifest recorded as lab-written when this run claimed the directory, less the names
    /// handed over by --force: the only names ``finish(writtenNow:)`` may remove.
    let previouslyWritten: [String]

    init(directory: URL, previouslyWritten: [String] = []) {
        self.directory = directory; self.previouslyWritten = previouslyWritten
    }

    /// Names never counted as foreign: the manifest, the lock, temp files of atomic writes.
    static func exempt(_ name: String) -> Bool {
        name == fileName || name == DirectoryLock.fileName || (name.hasPrefix(".") && name.contains(".tmp-"))
    }

    static func read(_ dir: URL) -> Manifest? {
        guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent(fileName).path) else { return nil }
        let d = JSONDecoder(); d.dateDecodingStrategy = .iso8601
        return try? d.decode(Manifest.self, from: data)
    }

    static func write(_ m: Manifest, to dir: URL) throws {
        let e = JSONEncoder(); e.dateEncodingStrategy = .iso8601; e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicOutput.write(try e.encode(m), to: dir.appendingPathComponent(fileName))
    }

    /// The entries of `dir` the lab did not write (sorted), per its manifest; [] for a missing or empty directory.
    public static func foreignEntries(in dir: URL) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        let entries = names.filter { !exempt($0) }
        guard !entries.isEmpty else { return [] }
        guard let m = read(dir) else { return entries.sorted() }
        let known = Set(m.files)
        return entries.filter { n in
            if known.contains(n) { return false }
            // Written by a run that was interrupted before it recorded its files.
            if let since = m.pendingSince, let attrs = try? FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(n).path),
               let mtime = attrs[.modificationDate] as? Date, mtime >= since.addingTimeInterval(-1) { return false }
            return true
        }.sorted()
    }

    /// Refuses `dir` when it holds entries the lab did not write (unless `force`), then marks it as being
    /// written (creating it). `flag` names the option in the message ("--out").
    public static func claim(_ dir: URL, force: Bool, flag: String = "--out") throws -> OutputOwnership {
        let foreign = foreignEntries(in: dir)
        if !foreign.isEmpty && !force {
            let shown = foreign.prefix(3).joined(separator: ", ") + (foreign.count > 3 ? ", … (\(foreign.count) in all)" : "")
            throw StudyKitError.invalid("\(dir.path) holds files the lab did not write (\(shown)) — choose another \(flag), or pass --force to write there anyway")
        }
        try AtomicOutput.ensureDirectory(dir)
        var m = read(dir) ?? Manifest(files: [], pendingSince: nil)
        let previous = Set(m.files).subtracting(m.forced ?? []).subtracting(foreign)
        if force && !foreign.isEmpty {                                       // --force: the user hands them over
            m.files = Array(Set(m.files).union(foreign)).sorted()
            m.forced = Array(Set(m.forced ?? []).union(foreign)).sorted()
        }
        if m.pendingSince == nil { m.pendingSince = Date() }
        try write(m, to: dir)
        return OutputOwnership(directory: dir, previouslyWritten: previous.sorted())
    }

    /// Removes the regular files an earlier run of the lab wrote here that this run did not (`writtenNow`:
    /// the top-level names it wrote), then records the directory as ``finish()`` does. Returns the names removed.
    @discardableResult
    public func finish(writtenNow: Set<String>) throws -> [String] {
        let stale = StaleOutputs.stale(previouslyWritten: previouslyWritten, writtenNow: writtenNow)
        let removed = try StaleOutputs.remove(stale, in: directory)
        if !removed.isEmpty, var m = OutputOwnership.read(directory) {
            m.files = Array(Set(m.files).subtracting(removed)).sorted()
            try OutputOwnership.write(m, to: directory)
        }
        try finish()
        return removed
    }

    /// Records every top-level entry now in the directory as lab-written and clears the pending mark.
    public func finish() throws {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { !OutputOwnership.exempt($0) }
        var m = OutputOwnership.read(directory) ?? Manifest(files: [], pendingSince: nil)
        m.files = Array(Set(m.files).union(names)).sorted()
        m.pendingSince = nil
        try OutputOwnership.write(m, to: directory)
    }
}
