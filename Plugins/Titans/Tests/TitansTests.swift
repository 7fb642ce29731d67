// TitansTests.swift — the Titans plugin is registered and passes `lab plugin check` (its equivalence
// claims are in Studies/equivalence/FamilyClaims.swift, tested by StudiesTests).
import Layers
import TensorCore
import XCTest
import Zoo
import Titans

final class TitansTests: XCTestCase {
    func testRegisteredByName() throws {
        XCTAssertTrue(InnerModelRegistry.names.contains("titans"))
        let layer = try LayerRegistry.make("ttt-titans", LayerConfig(width: 16, heads: 2), seed: 0)
        XCTAssertEqual(layer.kind, "ttt-titans")
    }

    func testPluginCheckPasses() throws {
        let report = try PluginCheck.run(TitansInner.self)
        for row in report.rows {
            XCTAssertNotEqual(row.verdict, .fail, "\(row.check): error \(row.error ?? 0), \(row.note)")
        }
        XCTAssertEqual(report.rows[4].verdict, .pass, "outer gradients")
    }
}
