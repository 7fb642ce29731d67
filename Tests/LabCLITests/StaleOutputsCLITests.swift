// StaleOutputsCLITests.swift — `lab figures` / `lab study` remove what an earlier run of the lab wrote and this
// design no longer writes (an old table such as recall/accuracy-vs-pairs.csv), never a file the lab did not
// write, nor one a user handed over with --force.
import Foundation
import XCTest
@testable import StudyKit

final class StaleOutputsCLITests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }
    func path(_ p: String) -> String { dir.appendingPathComponent(p).path }
    func exists(_ p: String) -> Bool { FileManager.default.fileExists(atPath: path(p)) }

    /// An earlier run's extra table (recorded in the manifest as lab-written) is removed by the next
    /// `lab figures`; a cache directory the lab wrote stays; control: a user's file beside it is refused without
    /// --force and, handed over with --force, survives every later run.
    func testFiguresRemovesAnEarlierDesignsTableOnly() throws {
        let args = ["figures", "--quick", "--only", "equivalence", "--out", "f"]
        XCTAssertEqual(try lab(args, cwd: dir).status, 0)
        // What an earlier design of the study wrote (a lab run: claim, write, finish): a table and a cache directory.
        let owners = try ["f/equivalence", "f"].map { try OutputOwnership.claim(dir.appendingPathComponent($0), force: false) }
        try "old,table\n1,2\n".write(toFile: path("f/equivalence/old-design.csv"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: path("f/equivalence/runs"), withIntermediateDirectories: true)
        try "old root file\n".write(toFile: path("f/OLD.md"), atomically: true, encoding: .utf8)
        for o in owners { try o.finish() }
        let again = try lab(args + ["--force"], cwd: dir)      // --force: recompute (the cache would be reused otherwise)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("removed 2 stale outputs"), again.stdout)
        XCTAssertFalse(exists("f/equivalence/old-design.csv"))
        XCTAssertFalse(exists("f/OLD.md"))
        XCTAssertTrue(exists("f/equivalence/runs"), "a directory the lab wrote is never removed")
        XCTAssertTrue(exists("f/equivalence/equivalence.md") && exists("f/REPORT.md"))
        // The study cached: the files its record vouches for stay (nothing removed).
        let cached = try lab(args, cwd: dir)
        XCTAssertTrue(cached.stdout.contains("equivalence: cached") && !cached.stdout.contains("removed"), cached.stdout)
        XCTAssertTrue(exists("f/equivalence/equivalence.md"))

        // A user's file: refused without --force (unchanged), kept when handed over with --force, and later.
        try "my notes\n".write(toFile: path("f/equivalence/notes.md"), atomically: true, encoding: .utf8)
        XCTAssertNotEqual(try lab(args, cwd: dir).status, 0)
        XCTAssertEqual(try lab(args + ["--force"], cwd: dir).status, 0)
        XCTAssertEqual(try lab(args + ["--force"], cwd: dir).status, 0)
        XCTAssertEqual(try String(contentsOfFile: path("f/equivalence/notes.md"), encoding: .utf8), "my notes\n")
    }

    /// `lab study` prunes its own directory the same way.
    func testStudyRemovesAnEarlierDesignsTable() throws {
        let args = ["study", "equivalence", "--quick", "--out", "s"]
        XCTAssertEqual(try lab(args, cwd: dir).status, 0)
        let o = try OutputOwnership.claim(dir.appendingPathComponent("s"), force: false)
        try "x\n".write(toFile: path("s/accuracy-vs-pairs.csv"), atomically: true, encoding: .utf8)
        try o.finish()
        let r = try lab(args, cwd: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(exists("s/accuracy-vs-pairs.csv"), r.stdout)
        XCTAssertTrue(exists("s/equivalence.md"))
    }
}
