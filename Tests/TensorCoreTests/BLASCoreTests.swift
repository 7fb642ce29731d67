// BLASCoreTests.swift — the OpenBLAS core chosen for CPUs OpenBLAS falls back on (pure mapping).
import XCTest
@testable import TensorCore

final class BLASCoreTests: XCTestCase {
    func testBetterCoreFromFlags() {
        let avx512: Set<String> = ["avx2", "fma", "avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512cd"]
        XCTAssertEqual(BLASCore.betterCore(current: "Prescott", flags: avx512.union(["avx512_bf16"])), "Cooperlake")
        XCTAssertEqual(BLASCore.betterCore(current: "Prescott", flags: avx512), "SkylakeX")
        XCTAssertEqual(BLASCore.betterCore(current: "Prescott", flags: ["avx2", "fma"]), "Haswell")
        XCTAssertNil(BLASCore.betterCore(current: "Prescott", flags: ["sse3"]))
        // A recognised CPU keeps OpenBLAS's own choice.
        XCTAssertNil(BLASCore.betterCore(current: "SkylakeX", flags: avx512))
        XCTAssertFalse(BLASCore.name.isEmpty)
    }
}
