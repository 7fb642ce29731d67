// EquivalenceStudyTests.swift — the study's verdict logic: it passes on the lab's layers and fails
// when a claim is broken or a control is blind.
import XCTest
@testable import Studies
import StudyKit
import TensorCore

final class EquivalenceStudyTests: XCTestCase {
    func context() -> StudyContext {
        StudyContext(outputDirectory: FileManager.default.temporaryDirectory, preset: .quick, seed: 0,
                     reporter: ProgressReporter(mode: .silent))
    }

    /// Every claim holds (rel err ≤ its tolerance) and every control differs (> 10× tolerance) at T = 16, 64.
    func testAllClaimsHoldAndControlsFailAtQuickPreset() throws {
        let r = try EquivalenceStudy().run(context())
        XCTAssertTrue(r.verdict.passed, r.verdict.summary.joined(separator: "\n"))
        let claims = r.tables.first { $0.name == "claims" }!
        XCTAssertEqual(claims.rows.count, EquivalenceClaims.all.reduce(0) { $0 + $1.miniBatches(16).count + $1.miniBatches(64).count })
    }

    /// Negative control of the study itself: a claim whose "reference" is off, and one whose control
    /// matches, must each turn the verdict to FAIL.
    func testBrokenClaimOrBlindControlFailsTheStudy() throws {
        let wrong = Claim(id: "wrong", statement: "x equals 1.01·x", reference: "test", tolerance: 1e-5, controls: [],
                          miniBatches: { _ in [1] }) { s in
            let x = Tensor(repeating: 1, shape: [s.T]), y = x * 1.01
            return (ErrorPair(x, y), [])
        }
        XCTAssertFalse(try EquivalenceStudy(claims: [wrong]).run(context()).verdict.passed)
        let blind = Claim(id: "blind", statement: "x equals x", reference: "test", tolerance: 1e-5, controls: ["x again"],
                          miniBatches: { _ in [1] }) { s in
            let x = Tensor(repeating: 1, shape: [s.T])
            return (ErrorPair(x, x), [ErrorPair(x, x)])
        }
        let r = try EquivalenceStudy(claims: [blind]).run(context())
        XCTAssertFalse(r.verdict.passed)
        XCTAssertTrue(r.verdict.summary.joined().contains("matched"))
    }
}
