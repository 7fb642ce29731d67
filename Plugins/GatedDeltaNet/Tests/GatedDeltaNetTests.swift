// GatedDeltaNetTests.swift — the GatedDeltaNet plugin is registered and passes `lab plugin check`, outer gradients included
// (its equivalence claims are in Studies/equivalence/FamilyClaims.swift, tested by StudiesTests).
import GatedDeltaNet
import TestSupport
import XCTest

final class GatedDeltaNetTests: XCTestCase {
    func testRegisteredAndPassesPluginCheck() throws {
        XCTAssertEqual(try pluginProblems(GatedDeltaNetInner.self, mustPass: ["outer gradients"]), [])
    }
}
