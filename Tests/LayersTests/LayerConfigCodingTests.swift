// LayerConfigCodingTests.swift — LayerConfig and its option groups (LayerConfig.swift, LayerKindOptions.swift)
// in a config.json: every option round-trips, every option absent from a file takes its default, and the flat
// form written before the groups still decodes.
import Foundation
import XCTest
@testable import Layers
import TensorCore

final class LayerConfigCodingTests: XCTestCase {
    /// A config with every option of every group away from its default.
    static func everyOptionSet() -> LayerConfig {
        var c = LayerConfig(width: 24, heads: 3)
        c.ropeTheta = 500; c.convWidth = 3
        c.ttt.miniBatch = 5; c.ttt.backbone = .mamba; c.ttt.innerLN = false; c.ttt.innerResidual = false
        c.ttt.innerBias = false; c.ttt.learnableW0 = false; c.ttt.tokenScaling = false; c.ttt.fixedEta = 0.5
        c.ttt.baseLR = 0.25; c.ttt.lrMult = 0.75; c.ttt.rope = false; c.ttt.postNorm = false; c.ttt.dual = false
        c.attention.window = 9
        c.linearAttention.variant = "elu"; c.linearAttention.chunk = 7
        c.mamba.expand = 3; c.mamba.state = 5
        return c
    }

    /// The stored properties of `value` whose values equal those of `reference` (by their printed form).
    static func unchanged<T>(_ value: T, _ reference: T) -> [String] {
        zip(Mirror(reflecting: value).children, Mirror(reflecting: reference).children)
            .filter { "\($0.value)" == "\($1.value)" }.compactMap { $0.0.label }
    }

    /// `everyOptionSet` really sets every stored option (so an option added later must be added there, and
    /// then the round trip below covers it); the kernel path is not saved.
    func testSampleSetsEveryOption() {
        let c = Self.everyOptionSet(), d = LayerConfig(width: 16, heads: 2)
        XCTAssertEqual(Self.unchanged(c, d), ["kernels"])
        XCTAssertEqual(Self.unchanged(c.ttt, d.ttt), [])
        XCTAssertEqual(Self.unchanged(c.attention, d.attention), [])
        XCTAssertEqual(Self.unchanged(c.linearAttention, d.linearAttention), [])
        XCTAssertEqual(Self.unchanged(c.mamba, d.mamba), [])
    }

    /// Every option survives encode → decode; a negative control shows the comparison sees one lost option.
    func testEveryOptionRoundTrips() throws {
        let c = Self.everyOptionSet()
        let back = try JSONDecoder().decode(LayerConfig.self, from: JSONEncoder().encode(c))
        XCTAssertEqual(back, c)
        var lost = c; lost.mamba.state = MambaOptions().state
        XCTAssertNotEqual(back, lost)
    }

    /// A file that lacks an option (written before it existed) decodes it as its default: only width and heads
    /// are required, and every group decodes from `{}`.
    func testAbsentOptionsTakeTheirDefaults() throws {
        let c = try JSONDecoder().decode(LayerConfig.self, from: Data(#"{"width": 16, "heads": 2}"#.utf8))
        XCTAssertEqual(c, LayerConfig(width: 16, heads: 2))
        XCTAssertEqual(try JSONDecoder().decode(TTTOptions.self, from: Data("{}".utf8)), TTTOptions())
        XCTAssertEqual(try JSONDecoder().decode(AttentionOptions.self, from: Data("{}".utf8)), AttentionOptions())
        XCTAssertEqual(try JSONDecoder().decode(LinearAttentionOptions.self, from: Data("{}".utf8)), LinearAttentionOptions())
        XCTAssertEqual(try JSONDecoder().decode(MambaOptions.self, from: Data("{}".utf8)), MambaOptions())
        let partial = try JSONDecoder().decode(TTTOptions.self, from: Data(#"{"miniBatch": 4, "dual": false}"#.utf8))
        XCTAssertEqual(partial.miniBatch, 4)
        XCTAssertFalse(partial.dual)
        XCTAssertTrue(partial.innerLN)
        XCTAssertThrowsError(try JSONDecoder().decode(LayerConfig.self, from: Data(#"{"width": 16}"#.utf8)))
    }

    /// The flat form of the lab before the groups (as its checkpoints hold it) decodes into the groups.
    func testFlatFormBeforeTheGroupsDecodes() throws {
        let flat = #"""
        {"chunk": 7, "convWidth": 3, "heads": 3, "innerModel": "mlp", "linearAttention": "elu", "mambaExpand": 3,
         "mambaState": 5, "ropeTheta": 500, "width": 24, "window": 9,
         "ttt": {"backbone": "mamba", "dual": false, "innerBias": false, "innerLN": false, "innerResidual": false,
                 "learnableW0": false, "lrMult": 0.75, "miniBatch": 5, "postNorm": false, "rope": false,
                 "tokenScaling": false, "fixedEta": 0.5, "baseLR": 0.25}}
        """#
        XCTAssertEqual(try JSONDecoder().decode(LayerConfig.self, from: Data(flat.utf8)), Self.everyOptionSet())
        let noWindow = flat.replacingOccurrences(of: #""window": 9"#, with: #""windowSize": 9"#)
        XCTAssertNotEqual(try JSONDecoder().decode(LayerConfig.self, from: Data(noWindow.utf8)), Self.everyOptionSet())
    }
}
