// AtomicFileTests.swift — AtomicFile writes all or nothing, and its errors are one line with a fix.
import Foundation
import XCTest
import TestSupport
@testable import TensorCore

final class AtomicFileTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory("atomic")
    }

    override func tearDownWithError() throws {
        if let dir {
            // Undo any chmod so the tree can be removed.
            _ = chmod(dir.path, 0o755)
            try? FileManager.default.removeItem(at: dir)
        }
    }

    /// Every path under `root`, relative, sorted (hidden files included).
    private func listing(_ root: URL) -> [String] {
        let e = FileManager.default.enumerator(atPath: root.path)
        var out: [String] = []
        while let p = e?.nextObject() as? String { out.append(p) }
        return out.sorted()
    }

    func testWritesAndReplacesContentWithNoTempLeft() throws {
        let url = dir.appendingPathComponent("out.csv")
        try AtomicFile.write("a,b\n1,2\n", to: url)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "a,b\n1,2\n")
        try AtomicFile.write(Data([0, 1, 2, 255]), to: url)
        XCTAssertEqual([UInt8](try Data(contentsOf: url)), [0, 1, 2, 255])
        try AtomicFile.write(Data(), to: url)
        XCTAssertEqual(try Data(contentsOf: url).count, 0)
        XCTAssertEqual(listing(dir), ["out.csv"])
        // Negative control of the check itself: a leftover hidden temp file would be listed.
        XCTAssertTrue(FileManager.default.createFile(atPath: dir.appendingPathComponent(".out.csv.tmp-1-2").path, contents: Data()))
        XCTAssertEqual(listing(dir), [".out.csv.tmp-1-2", "out.csv"])
    }

    func testCreatesMissingParentDirectories() throws {
        let url = dir.appendingPathComponent("a/b/c/report.md")
        try AtomicFile.write("# ok\n", to: url)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "# ok\n")
        XCTAssertEqual(listing(dir), ["a", "a/b", "a/b/c", "a/b/c/report.md"])
    }

    func testStringIsWrittenAsUTF8() throws {
        let url = dir.appendingPathComponent("u.txt")
        try AtomicFile.write("θ ≥ 0 — ü", to: url)
        XCTAssertEqual([UInt8](try Data(contentsOf: url)), Array("θ ≥ 0 — ü".utf8))
    }

    func testParentIsARegularFileFailsCleanly() throws {
        let blocker = dir.appendingPathComponent("results")
        try AtomicFile.write("I am a file", to: blocker)
        for target in [blocker.appendingPathComponent("x.csv"), blocker.appendingPathComponent("deeper/x.csv")] {
            XCTAssertThrowsError(try AtomicFile.write("data", to: target)) { e in
                guard let fe = e as? FileError else { return XCTFail("not a FileError: \(e)") }
                XCTAssertEqual(fe.operation, .write)
                XCTAssertTrue(fe.description.hasPrefix("cannot write \(target.path): "), fe.description)
                XCTAssertTrue(fe.description.contains("is a file, not a directory"), fe.description)
                XCTAssertTrue(fe.description.contains("choose another output path"), fe.description)
                XCTAssertFalse(fe.description.contains("\n"))
            }
        }
        XCTAssertEqual(listing(dir), ["results"], "nothing half-written, no temp file")
        XCTAssertEqual(try String(contentsOf: blocker, encoding: .utf8), "I am a file", "blocker untouched")
    }

    /// The temp file is created and written, then the rename fails: the temp file must be removed.
    func testTargetIsADirectoryFailsCleanly() throws {
        let target = dir.appendingPathComponent("taken")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false)
        try AtomicFile.write("inside", to: target.appendingPathComponent("keep.txt"))
        XCTAssertThrowsError(try AtomicFile.write("data", to: target)) { e in
            XCTAssertTrue("\(e)".contains("a directory already exists at this path — remove it"), "\(e)")
        }
        XCTAssertEqual(listing(dir), ["taken", "taken/keep.txt"])
    }

    func testFailedReplaceKeepsTheOldFile() throws {
        // A 250-byte name is legal, but the temp name beside it (".<name>.tmp-…") exceeds the 255-byte
        // limit, so the write fails before touching the target — also when running as root.
        let url = dir.appendingPathComponent(String(repeating: "k", count: 246) + ".csv")
        XCTAssertTrue(FileManager.default.createFile(atPath: url.path, contents: Data("old".utf8)))
        XCTAssertThrowsError(try AtomicFile.write("new", to: url)) { e in
            XCTAssertTrue("\(e)".hasPrefix("cannot write"), "\(e)")
            XCTAssertFalse("\(e)".contains("\n"), "one line: \(e)")
        }
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "old")
        XCTAssertEqual(listing(dir), [url.lastPathComponent])
    }

    func testErrorDescriptionFormat() {
        let e = FileError(.write, path: "results/x.csv", problem: "directory is read-only", fix: "choose another --out")
        XCTAssertEqual(e.description, "cannot write results/x.csv: directory is read-only — choose another --out")
        XCTAssertEqual(FileError(.read, path: "m", problem: "p", fix: "f").description, "cannot read m: p — f")
    }
}
