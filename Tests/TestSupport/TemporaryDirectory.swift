// TemporaryDirectory.swift — a fresh, empty directory for one test (every test target's scratch space).
import Foundation

/// Creates and returns `<tmp>/<prefix>-<pid>-<UUID>/`; the test removes it when done.
///
/// ```swift
/// let dir = try makeTemporaryDirectory("weights")
/// defer { try? FileManager.default.removeItem(at: dir) }
/// ```
public func makeTemporaryDirectory(_ prefix: String) throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(getpid())-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}
