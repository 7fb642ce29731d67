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
