// FamilyClaimsTests.swift — the family plugins' equivalence claims (Studies/equivalence/FamilyClaims.swift):
// each holds within its tolerance and each negative control, which injects the named fault, differs.
import XCTest
@testable import Studies
import TensorCore

final class FamilyClaimsTests: XCTestCase {
    /// gla ≡ its recurrence and (α ≡ 1) linear attention; gated-deltanet at b = 1 ≡ the gated delta rule
    /// and (α ≡ 1) the deltanet plugin; titans (η ≡ α ≡ 0) ≡ mini-batch GD; lact (b = 1, no NS) ≡ online GD.
    /// T = 16 and 37 (a partial last mini-batch), two seeds.
    func testFamilyClaimsHoldAndTheirControlsDiffer() throws {
        XCTAssertEqual(EquivalenceClaims.family.count, 6)
        for c in EquivalenceClaims.family {
            for T in [16, 37] {
                for seed: UInt64 in [0, 1] {
                    for b in c.miniBatches(T) {
                        let (m, controls) = try c.run(Setting(T: T, b: b, seed: seed))
                        XCTAssertLessThanOrEqual(m.maxRel, c.tolerance, "\(c.id) T = \(T) seed \(seed)")
                        XCTAssertTrue(m.maxRel.isFinite, "\(c.id)")
                        XCTAssertEqual(controls.count, c.controls.count, c.id)
                        // As in the study: a control that blows up (NaN) differs — e.g. online GD on the unbounded
                        // −⟨f(k), v⟩ without LaCT's renormalization, the fault that control names.
                        for (name, e) in zip(c.controls, controls) {
                            XCTAssertGreaterThan(e.maxRel.isNaN ? .infinity : e.maxRel, c.controlThreshold, "\(c.id): control \(name) matched")
                        }
                    }
                }
            }
        }
    }

    /// The family's claims run in the study (its `all` list).
    func testFamilyClaimsAreInTheStudy() {
        let ids = Set(EquivalenceClaims.all.map(\.id))
        for c in EquivalenceClaims.family { XCTAssertTrue(ids.contains(c.id), c.id) }
    }
}
