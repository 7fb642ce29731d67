// NewcomerPathTests.swift — the fresh-machine path never stops without saying the one command that fixes it:
// `lab data fetch` without the Bible program and no way to install it, and a study without a corpus.
import Foundation
import XCTest

final class NewcomerPathTests: XCTestCase {
    func testDataFetchWithoutBibleNamesTheOneCommand() throws {
        let dir = try temporaryDirectory()
        // No 'bible', no apt-get, no sudo on this PATH.
        let r = try lab(["data", "fetch", "--source", "bible", "--data", "corpus"], cwd: dir, env: ["PATH": dir.appendingPathComponent("empty").path])
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("run: sudo apt-get install -y bible-kjv bible-kjv-text"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("corpus/manifest.json").path))
        // Negative control: with a (broken) 'bible' program on the PATH the fetch gets past that point and fails differently.
        let bin = dir.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let fake = bin.appendingPathComponent("bible")
        try "#!/bin/sh\necho 'Genesis 1'\necho '  1 In the beginning'\n".write(to: fake, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fake.path)
        let f = try lab(["data", "fetch", "--source", "bible", "--no-install", "--data", "corpus"], cwd: dir, env: ["PATH": bin.path + ":/bin:/usr/bin"])
        XCTAssertEqual(f.status, 2)
        XCTAssertTrue(f.stderr.contains("expected the 66 books"), f.stderr)
        XCTAssertEqual(try lab(["data", "fetch", "--apt", "--no-install"], cwd: dir).status, 2)
    }

    func testStudyWithoutCorpusNamesDataFetch() throws {
        let dir = try temporaryDirectory()
        let r = try lab(["study", "perplexity", "--quick", "--data", "nocorpus"], cwd: dir)
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("run 'lab data fetch --data ") && r.stderr.contains("nocorpus' first"), r.stderr)
    }
}
