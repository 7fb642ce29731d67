// StaleOutputs.swift — files an output directory holds from an earlier design of a study (a table it no
// longer makes, e.g. report/recall/accuracy-vs-pairs.csv): the lab removes what it wrote before and did
// not write this time, and never anything it did not write. "What the lab wrote" is the directory's
// output manifest (`.lab-outputs.json`, OutputOwnership on the hostile-input branch); this file holds only
// the rule and the removal, so that manifest stays the one record of ownership.
import Foundation

/// The stale-output rule.
///
/// ```swift
/// let stale = StaleOutputs.stale(previouslyWritten: ["accuracy.csv", "accuracy-vs-pairs.csv"],
///                                writtenNow: ["accuracy.csv", "runs.csv"])   // ["accuracy-vs-pairs.csv"]
/// let removed = try StaleOutputs.remove(stale, in: dir)
/// ```
public enum StaleOutputs {
    /// Names the lab wrote into the directory before (its manifest) that this run did not write, sorted.
    /// A name outside `previouslyWritten` is never stale, whatever it is: it is not the lab's.
    public static func stale(previouslyWritten: [String], writtenNow: Set<String>) -> [String] {
        Set(previouslyWritten).subtracting(writtenNow).filter(isPlainName).sorted()
    }

    /// Removes each named regular file from `dir` (a directory or a symbolic link of that name is left
    /// alone: the lab writes plain files only), returning the names removed. A name that is already gone
    /// is skipped. Throws a one-line ``StudyKitError/io(_:)`` when a removal fails.
    public static func remove(_ names: [String], in dir: URL) throws -> [String] {
        var removed: [String] = []
        for name in names where isPlainName(name) {
            let path = dir.appendingPathComponent(name).path
            guard let attrs = try? FileManager.default.attributesOfItem(atPath: path),
                  attrs[.type] as? FileAttributeType == .typeRegular else { continue }
            do { try FileManager.default.removeItem(atPath: path) } catch {
                throw StudyKitError.io("could not remove the stale output \(path): \(error.localizedDescription) — check the directory is writable, or remove it by hand")
            }
            removed.append(name)
        }
        return removed
    }

    /// One path component, not `.`/`..`, no separator: a manifest cannot name a file outside its directory.
    static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
    }
}
