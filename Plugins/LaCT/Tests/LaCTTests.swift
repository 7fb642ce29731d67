// LaCTTests.swift — the LaCT plugin is registered and passes `lab plugin check`, outer gradients included
// (its equivalence claims are in Studies/equivalence/FamilyClaims.swift, tested by StudiesTests).
import LaCT
import TestSupport
import XCTest

final class LaCTTests: XCTestCase {
    func testRegisteredAndPassesPluginCheck() throws {
        XCTAssertEqual(try pluginProblems(LaCTInner.self, mustPass: ["outer gradients"]), [])
    }
}
