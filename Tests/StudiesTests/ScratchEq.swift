import XCTest
@testable import Studies

final class ScratchEq: XCTestCase {
    func testPrint() throws {
        for c in EquivalenceClaims.all {
            for T in [16, 64] {
                for b in c.miniBatches(T) {
                    let t0 = Date()
                    let (m, ctl) = try c.run(Setting(T: T, b: b, seed: 0))
                    print("EQ", c.id, T, b, m.maxAbs, m.maxRel, ctl.map { $0.maxRel }, Date().timeIntervalSince(t0))
                }
            }
        }
    }
}
