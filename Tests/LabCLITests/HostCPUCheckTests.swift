// HostCPUCheckTests.swift — `lab` built for Haswell refuses an older CPU in one line (Sources/HostCPU).
import Foundation
import HostCPU
import XCTest

/// A CPU-tuned build (`LAB_TARGET_CPU=haswell`) on a CPU without the features it was compiled for stops
/// before any Swift code with one line and exit status 2 instead of SIGILL; `LAB_HOST_CPU_MASK=0` hides
/// this CPU's features to show it. A portable build (the default) ignores the mask and runs.
final class HostCPUCheckTests: XCTestCase {
    func testATunedBuildRefusesACPUWithoutItsFeaturesInOneLine() throws {
        let r = try lab(["study", "list"], env: ["LAB_HOST_CPU_MASK": "0"])
        if lab_host_cpu_required() == 0 {
            XCTAssertEqual(r.status, 0, r.stderr)                  // portable: runs whatever the CPU lacks
            XCTAssertEqual(try lab(["study", "list"]).stdout, r.stdout)
        } else {
            XCTAssertEqual(r.status, 2)
            XCTAssertEqual(r.stdout, "")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.hasPrefix("error: ") && r.stderr.contains("avx2") && r.stderr.contains("LAB_TARGET_CPU"), r.stderr)
            XCTAssertEqual(try lab(["study", "list"], env: ["LAB_HOST_CPU_MASK": "ffffffff"]).status, 0, "control: nothing hidden")
        }
    }
}
