// GLATests.swift — the GLA plugin is registered and passes `lab plugin check`, outer gradients included
// (its equivalence claims are in Studies/equivalence/FamilyClaims.swift, tested by StudiesTests).
import GLA
import TestSupport
import XCTest

final class GLATests: XCTestCase {
    func testRegisteredAndPassesPluginCheck() throws {
        XCTAssertEqual(try pluginProblems(GLAInner.self, mustPass: ["outer gradients"]), [])
    }
}
