// TitansTests.swift — the Titans plugin is registered and passes `lab plugin check`, outer gradients included
// (its equivalence claims are in Studies/equivalence/FamilyClaims.swift, tested by StudiesTests).
import Titans
import TestSupport
import XCTest

final class TitansTests: XCTestCase {
    func testRegisteredAndPassesPluginCheck() throws {
        XCTAssertEqual(try pluginProblems(TitansInner.self, mustPass: ["outer gradients"]), [])
    }
}
