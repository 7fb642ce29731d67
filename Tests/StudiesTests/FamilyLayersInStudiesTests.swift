// FamilyLayersInStudiesTests.swift — the family plugins (gated-deltanet, gla, titans, lact) are layers of the
// recall study (its list comes from the registry) and train in it and in the long-context study by name.
import XCTest
@testable import Studies
import TensorCore

final class FamilyLayersInStudiesTests: XCTestCase {
    static let family = ["ttt-gated-deltanet", "ttt-gla", "ttt-titans", "ttt-lact"]

    func testRecallStudyListsTheFamily() {
        for l in Self.family { XCTAssertTrue(RecallStudy.layers.contains(l), l) }
    }

    /// Two recall steps and two long-context steps per layer, by name: finite losses.
    func testFamilyTrainsInRecallAndLongContext() throws {
        for l in Self.family {
            var r = RecallStudy.quickSetup
            r.steps = 2; r.evalEvery = 0
            let recall = try RecallTrainer.run(try r.runConfig(layer: l, width: 16, lr: 3e-3, seed: 3), cacheDir: nil).run
            XCTAssertTrue(recall.lossCurve.allSatisfy { $0[1].isFinite } && !recall.lossCurve.isEmpty, "recall \(l)")
            var s = LongContextStudy.quickSetup
            s.layers = [l]; s.steps = 2; s.testSequences = 2
            let long = try DictionaryTrainer.run(try s.runConfig(layer: l, seed: 0), cacheDir: nil).run
            XCTAssertTrue(long.losses.joined().allSatisfy { $0.isFinite } && !long.losses.isEmpty, "long-context \(l)")
        }
    }
}
