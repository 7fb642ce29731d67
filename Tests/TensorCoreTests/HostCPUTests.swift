// HostCPUTests.swift — the start-up CPU check of a tuned build (Sources/HostCPU): which features a build
// requires, which this CPU has, and the one-line refusal's decision, with fabricated feature sets as controls.
import HostCPU
import XCTest

final class HostCPUTests: XCTestCase {
    func missing(_ required: UInt32, _ have: UInt32) -> (Int32, String) {
        var buf = [CChar](repeating: 0, count: 96)
        let n = lab_host_cpu_missing(required, have, &buf, Int32(buf.count))
        return (n, String(cString: buf))
    }

    /// A portable build requires nothing; a tuned one the Haswell set — which this CPU must then have, or
    /// this process would have stopped before the test ran.
    func testTheBuildRequiresWhatItTargetsAndThisCPUHasIt() {
        let required = lab_host_cpu_required(), target = String(cString: lab_host_cpu_target())
        if target == "haswell" {
            XCTAssertEqual(required, UInt32(LAB_CPU_HASWELL))
        } else {
            XCTAssertEqual(required, 0, "a portable build (\(target)) must run on any x86-64 CPU")
        }
        XCTAssertEqual(missing(required, lab_host_cpu_features()).0, 0)
    }

    /// The decision: everything present → nothing missing; the control — the same set without FMA, or
    /// without anything — names exactly what is missing, in a fixed order.
    func testMissingFeaturesAreNamedAndTheControlsFail() {
        let haswell = UInt32(LAB_CPU_HASWELL), fma = UInt32(LAB_CPU_FMA), avx2 = UInt32(LAB_CPU_AVX2)
        XCTAssertEqual(missing(haswell, haswell).0, 0)
        XCTAssertEqual(missing(haswell, haswell).1, "")
        XCTAssertTrue(missing(haswell, haswell & ~fma) == (1, "fma"))
        XCTAssertTrue(missing(haswell, haswell & ~(fma | avx2)) == (2, "avx2 fma"))
        XCTAssertTrue(missing(haswell, 0) == (9, "avx avx2 fma bmi1 bmi2 f16c movbe lzcnt popcnt"))
        XCTAssertEqual(missing(0, 0).0, 0, "a portable build runs on a CPU with none of them")
        // A short buffer is truncated but still counts every missing feature and stays NUL-terminated.
        var small = [CChar](repeating: 1, count: 5)
        XCTAssertEqual(lab_host_cpu_missing(haswell, 0, &small, 5), 9)
        XCTAssertEqual(String(cString: small).count, 4)
    }
}
