// ReportTests.swift — REPORT.md: every study appears, failures with their error, links point into folders.
import XCTest
@testable import StudyKit

final class ReportTests: XCTestCase {
    func testFailedStudyAppearsWithItsErrorAndLinksAreRewritten() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("report-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = root.appendingPathComponent("alpha")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try "# Alpha\n\n![chart](c.png) and [data](t.csv) and [web](https://x.org/a)\n".write(to: dir.appendingPathComponent("alpha.md"), atomically: true, encoding: .utf8)
        let md = Report.markdown([
            ReportEntry(name: "alpha", title: "Alpha", claim: "a", command: "lab study alpha", outcome: .finished(passed: true, reused: true)),
            ReportEntry(name: "beta", title: "Beta", claim: "b holds", command: "lab study beta", outcome: .error("corpus missing — run lab data fetch")),
        ], root: root, command: "lab figures")
        XCTAssertTrue(md.contains("| [alpha](#alpha) | PASS | cached |"))
        XCTAssertTrue(md.contains("| [beta](#beta) | ERROR | did not run |"))
        XCTAssertTrue(md.contains("**FAILED to run:** corpus missing — run lab data fetch"))
        XCTAssertTrue(md.contains("## Alpha"), "study headings move one level down")
        XCTAssertTrue(md.contains("](alpha/c.png)") && md.contains("](alpha/t.csv)") && md.contains("](https://x.org/a)"))
        // A finished study whose report file vanished is reported, not skipped.
        let gone = Report.markdown([ReportEntry(name: "gamma", title: "Gamma", claim: "", command: "lab study gamma",
                                                outcome: .finished(passed: true, reused: true))], root: root, command: "lab figures")
        XCTAssertTrue(gone.contains("**ERROR**"))
    }

    func testRunRecordRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("record-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let csv = dir.appendingPathComponent("t.csv")
        try Data("a\n1\n".utf8).write(to: csv)
        let r = RunRecord(study: "s", preset: "quick", seed: 3, passed: false, summary: ["x"], command: "lab study s", finished: Date(timeIntervalSince1970: 1_700_000_000),
                          files: ["t.csv": try XCTUnwrap(RunRecord.hash(csv))])
        try r.encoded().write(to: dir.appendingPathComponent(RunRecord.fileName))
        XCTAssertEqual(RunRecord.read(in: dir), r)
        // The record vouches for its files: another t.csv (another run's) makes it untrusted; so does no hash at all.
        try Data("a\n2\n".utf8).write(to: csv)
        XCTAssertNil(RunRecord.read(in: dir), "a changed file must not be trusted")
        try Data("a\n1\n".utf8).write(to: csv)
        XCTAssertEqual(RunRecord.read(in: dir), r)
        var unhashed = r; unhashed.files = nil
        try unhashed.encoded().write(to: dir.appendingPathComponent(RunRecord.fileName))
        XCTAssertNil(RunRecord.read(in: dir), "a record that vouches for nothing is not trusted")
        try Data("{not json".utf8).write(to: dir.appendingPathComponent(RunRecord.fileName))
        XCTAssertNil(RunRecord.read(in: dir), "an unreadable record means: run again")
    }
}
