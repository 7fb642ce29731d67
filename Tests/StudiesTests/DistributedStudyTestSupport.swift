// DistributedStudyTestSupport.swift — one check of the `lab study NAME --plan / --run KEY / --cached-only`
// contract, used by the test file of every training study made of independent runs.
import Foundation
import StudyKit
import XCTest

/// Files under `dir` (relative path → modification date and size); empty when `dir` does not exist.
func fileSnapshot(_ dir: URL) -> [String: String] {
    var out: [String: String] = [:]
    guard let e = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: [.contentModificationDateKey, .fileSizeKey]) else { return out }
    for case let url as URL in e {
        let v = try? url.resourceValues(forKeys: [.contentModificationDateKey, .fileSizeKey, .isDirectoryKey])
        if v?.isDirectory == true { continue }
        out[String(url.path.dropFirst(dir.path.count))] = "\(v?.contentModificationDate?.timeIntervalSince1970 ?? 0) \(v?.fileSize ?? -1)"
    }
    return out
}

/// `t` without the columns that measure wall time or say whether a run was cached (they differ between a run
/// that trained and one that reused the cache; every other cell must not).
func withoutTimings(_ t: Table) -> Table {
    var t = t
    let keep = t.columns.indices.filter { i in
        let c = t.columns[i]
        return !["s", "ms"].contains(c.unit ?? "") && !c.name.contains("time") && c.name != "cached"
    }
    t.columns = keep.map { t.columns[$0] }
    t.rows = t.rows.map { r in keep.map { r[$0] } }
    return t
}

/// The contract, on the quick preset: (negative control) assembling from an empty cache fails, names every
/// run and writes nothing; `plan` lists `runs` distinct shell-safe keys, none cached; an unknown key throws
/// and trains nothing; performing every key (each not cached before) makes the whole plan cached, and a
/// second perform of a key is a no-op; assembling from the cache only then writes nothing, passes, and
/// gives the same tables (timings aside) as a plain run in another directory.
func checkPlanRunAssembly<S: DistributedStudy>(_ study: S, runs expected: Int, file: StaticString = #filePath, line: UInt = #line) throws {
    let silent = ProgressReporter(mode: .silent)
    let shared = FileManager.default.temporaryDirectory.appendingPathComponent("plan-\(study.name)-\(UUID().uuidString)")
    let local = FileManager.default.temporaryDirectory.appendingPathComponent("direct-\(study.name)-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: shared); try? FileManager.default.removeItem(at: local) }
    let ctx = StudyContext(outputDirectory: shared, preset: .quick, seed: 0, reporter: silent)

    let empty = try study.cachedOnly().run(ctx)
    XCTAssertFalse(empty.verdict.passed, "an empty cache cannot pass", file: file, line: line)
    XCTAssertTrue(empty.verdict.summary[0].contains("\(expected) of \(expected) planned runs not in the cache"), empty.verdict.summary[0], file: file, line: line)
    XCTAssertTrue(fileSnapshot(shared).isEmpty, "--cached-only wrote into the cache", file: file, line: line)

    let plan = try study.plan(ctx)
    XCTAssertEqual(plan.count, expected, file: file, line: line)
    XCTAssertEqual(Set(plan.map(\.key)).count, expected, "keys are distinct", file: file, line: line)
    XCTAssertTrue(plan.allSatisfy { !$0.cached && shellQuoted($0.key) == $0.key && !$0.key.contains("/") }, "\(plan.map(\.key))", file: file, line: line)
    XCTAssertTrue(plan.allSatisfy { !$0.label.contains("'") && !$0.label.contains("\"") }, "labels go through xargs", file: file, line: line)
    XCTAssertEqual(try study.plan(ctx).map(\.key), plan.map(\.key), "the same options give the same keys", file: file, line: line)
    XCTAssertEqual(try study.planLines(ctx, command: "lab study \(study.name) --quick").count, expected, file: file, line: line)
    XCTAssertThrowsError(try study.perform(key: plan[0].key + "0", ctx), file: file, line: line) { error in
        XCTAssertTrue("\(error)".contains("--plan"), "\(error)", file: file, line: line)
    }
    XCTAssertTrue(fileSnapshot(shared).isEmpty, "an unknown key trained something", file: file, line: line)

    for run in plan { XCTAssertFalse(try study.perform(key: run.key, ctx), "\(run.label) was not cached yet", file: file, line: line) }
    XCTAssertTrue(try study.plan(ctx).allSatisfy(\.cached), file: file, line: line)
    XCTAssertTrue(try study.planLines(ctx, command: "lab study \(study.name)").isEmpty, file: file, line: line)
    let before = fileSnapshot(shared)
    XCTAssertTrue(try study.perform(key: plan[0].key, ctx), "a second --run of a key finds it cached", file: file, line: line)

    let assembled = try study.cachedOnly().run(ctx)
    XCTAssertEqual(fileSnapshot(shared), before, "assembling from the cache changed it", file: file, line: line)
    XCTAssertTrue(assembled.verdict.passed, assembled.verdict.summary.joined(separator: "\n"), file: file, line: line)
    let direct = try study.run(StudyContext(outputDirectory: local, preset: .quick, seed: 0, reporter: silent))
    XCTAssertTrue(direct.verdict.passed, direct.verdict.summary.joined(separator: "\n"), file: file, line: line)
    XCTAssertFalse(assembled.tables.isEmpty, file: file, line: line)
    XCTAssertEqual(assembled.tables.map(\.name), direct.tables.map(\.name), file: file, line: line)
    for (a, d) in zip(assembled.tables, direct.tables) {
        XCTAssertFalse(a.rows.isEmpty, a.name, file: file, line: line)
        XCTAssertEqual(withoutTimings(a), withoutTimings(d), a.name, file: file, line: line)
    }
}
