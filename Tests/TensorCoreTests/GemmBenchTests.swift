// GemmBenchTests.swift — the GEMM benchmark runs and reports positive throughput (no timing assertions).
import XCTest
@testable import TensorCore

final class GemmBenchTests: XCTestCase {
    func testRunsOnOneSmallSize() {
        let before = FLOPCounter.matmul
        let rows = gemmBenchmark(sizes: [(8, 16, 12)], minSeconds: 0.01)
        XCTAssertEqual(rows.count, 1)
        let r = rows[0]
        XCTAssertEqual([r.m, r.k, r.n], [8, 16, 12])
        XCTAssertGreaterThan(r.coreGFLOPs, 0)
        XCTAssertGreaterThan(r.rawGFLOPs, 0)
        XCTAssertGreaterThan(r.ratio, 0)
        XCTAssertTrue(r.coreGFLOPs.isFinite && r.rawGFLOPs.isFinite)
        XCTAssertEqual(FLOPCounter.matmul, before, "the benchmark leaves the FLOP counter as it was")
        XCTAssertGreaterThan(sgemmGFLOPs(n: 32), 0)
    }
}
