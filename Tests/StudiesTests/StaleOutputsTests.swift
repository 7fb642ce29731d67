// StaleOutputsTests.swift — an earlier design's outputs are removed; a user's files never are.

import Foundation
import XCTest
@testable import StudyKit

final class StaleOutputsTests: XCTestCase {
    func testOnlyLabWrittenFilesNotWrittenNowAreStale() {
        let stale = StaleOutputs.stale(previouslyWritten: ["accuracy.csv", "accuracy-vs-pairs.csv", "recall.png"],
                                       writtenNow: ["accuracy.csv", "recall.png", "runs.csv"])
        XCTAssertEqual(stale, ["accuracy-vs-pairs.csv"])
        // A manifest entry that escapes the directory is never stale.
        XCTAssertEqual(StaleOutputs.stale(previouslyWritten: ["../REPORT.md", "..", "a/b"], writtenNow: []), [])
    }

    func testRemovalKeepsUserFilesDirectoriesAndLinks() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stale-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for f in ["accuracy.csv", "accuracy-vs-pairs.csv", "my-notes.md"] {
            try "x".write(to: dir.appendingPathComponent(f), atomically: true, encoding: .utf8)
        }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("old-dir"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("old-link").path, withDestinationPath: "my-notes.md")
        let stale = StaleOutputs.stale(previouslyWritten: ["accuracy.csv", "accuracy-vs-pairs.csv", "old-dir", "old-link", "gone.csv"],
                                       writtenNow: ["accuracy.csv"])
        let removed = try StaleOutputs.remove(stale, in: dir)
        XCTAssertEqual(removed, ["accuracy-vs-pairs.csv"])
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertEqual(left, ["accuracy.csv", "my-notes.md", "old-dir", "old-link"])
        // Control: the user's file, had it been named by the manifest, would have gone — the rule, not the
        // remover, is what protects it.
        XCTAssertEqual(try StaleOutputs.remove(["my-notes.md"], in: dir), ["my-notes.md"])
    }
}

/// The manifest side (OutputOwnership.finish(writtenNow:)): what the lab wrote before and not now goes; a
/// name handed over by --force and a foreign name never do.
final class OutputOwnershipPruningTests: XCTestCase {
    func scratch() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("own-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: d) }
        return d
    }
    func write(_ name: String, in d: URL) throws { try "x".write(to: d.appendingPathComponent(name), atomically: true, encoding: .utf8) }
    func names(_ d: URL) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: d.path).filter { !$0.hasPrefix(".") }.sorted() }

    func testPrunesOnlyEarlierLabFiles() throws {
        let d = try scratch()
        let earlier = try OutputOwnership.claim(d, force: false)              // an earlier run wrote these three
        for f in ["accuracy.csv", "accuracy-vs-pairs.csv"] { try write(f, in: d) }
        try FileManager.default.createDirectory(at: d.appendingPathComponent("runs"), withIntermediateDirectories: true)
        try earlier.finish()
        let own = try OutputOwnership.claim(d, force: false)
        try write("accuracy.csv", in: d)
        XCTAssertEqual(try own.finish(writtenNow: ["accuracy.csv"]), ["accuracy-vs-pairs.csv"])
        XCTAssertEqual(try names(d), ["accuracy.csv", "runs"])
        XCTAssertEqual(OutputOwnership.foreignEntries(in: d), [], "the manifest still covers what is left")
        // Nothing to prune the second time.
        XCTAssertEqual(try OutputOwnership.claim(d, force: false).finish(writtenNow: ["accuracy.csv"]), [])
    }

    func testForcedAndForeignFilesAreNeverPruned() throws {
        let d = try scratch()
        let earlier = try OutputOwnership.claim(d, force: false)
        try write("a.csv", in: d)
        try earlier.finish()
        try write("notes.md", in: d)                                          // the user's
        XCTAssertThrowsError(try OutputOwnership.claim(d, force: false))
        XCTAssertEqual(try OutputOwnership.claim(d, force: true).finish(writtenNow: ["b.csv"]), ["a.csv"])
        XCTAssertEqual(try OutputOwnership.claim(d, force: false).finish(writtenNow: []), [], "handed over by --force: kept")
        XCTAssertEqual(try names(d), ["notes.md"])
        // Control: had the manifest recorded notes.md as the lab's own (no --force), it would have gone.
        let e = try scratch()
        try write("notes.md", in: e)
        try OutputOwnership.claim(e, force: true).finish()
        try OutputOwnership.write(OutputOwnership.Manifest(files: ["notes.md"], pendingSince: nil), to: e)
        XCTAssertEqual(try OutputOwnership.claim(e, force: false).finish(writtenNow: []), ["notes.md"])
    }
}
