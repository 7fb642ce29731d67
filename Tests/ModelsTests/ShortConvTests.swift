// ShortConvTests.swift — the gated short-conv and no-MLP backbone options: gradient, recurrent form,
// parameter accounting, and that existing configs (and their cache keys) are unchanged.
import Foundation
import XCTest
@testable import Layers
@testable import Models
import TensorCore
import TestSupport

final class ShortConvTests: XCTestCase {
    func convConfig(_ layer: String) -> ModelConfig {
        var c = tinyConfig(layer)
        c.shortConv = 3; c.noMLP = true
        return c
    }

    /// Directional derivatives over the short conv's parameters (4 random directions per block, see
    /// `DirectionalDerivative`) vs fourth-order central differences, a 1 % error visible in every block.
    /// Negative control: the analytic gradient scaled by 1.01 must fail.
    func testShortConvGradientMatchesFiniteDifferences() throws {
        let (B, T) = (2, 10)
        for layer in ["attention", "ttt-linear"] {
            let model = try LanguageModel(config: convConfig(layer), seed: 5)
            let params = model.parameters
            for p in params where p.tensor.rank >= 2 { for i in 0..<p.tensor.count { p.tensor.data[i] *= 5 } }
            let x = randomIDs(B * T, vocab: 32, seed: 1), y = randomIDs(B * T, vocab: 32, seed: 2)
            let selected = { (p: Param) in p.name.contains("short_conv.") }
            XCTAssertEqual(params.filter(selected).count, 2 * 5, "5 tensors per block's short conv")
            let c = DirectionalDerivative(model, batch: B, x: x, y: y, selected: selected, seed: 9)
            XCTAssertEqual(c.groups.count, 2, "\(layer): one group per block")
            XCTAssertTrue(c.passed, "\(layer): \(c.worst.group) analytic \(c.worst.analytic) vs numeric \(c.worst.numeric) (tolerance \(c.worst.tolerance))")
            XCTAssertEqual(Set(c.sharp.map(\.group)), c.groups, "\(layer): groups where a 1 % error cannot show")
            XCTAssertFalse(c.passes(analyticScale: 1.01), "\(layer): a gradient off by 1 % passed")
        }
    }

    /// The recurrent form (prefill 3 tokens, then one at a time) equals the parallel forward, within 1e-4
    /// (float sums in another order). Negative control: without the conv history (a fresh state per
    /// chunk) the outputs differ by more than that.
    func testShortConvRecurrentFormMatchesParallel() throws {
        let model = try LanguageModel(config: convConfig("attention"), seed: 2)
        let T = 7, ids = randomIDs(T, vocab: 32, seed: 8)
        let full = withNoGrad { model.logits(ids, batch: 1) }
        let state = model.makeState(batch: 1)
        var rows = model.step(Array(ids[0..<3]), batch: 1, state: state).array
        for t in 3..<T { rows += model.step([ids[t]], batch: 1, state: state).array }
        let diff = zip(rows, full.array).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(diff, 1e-4)
        // Control: reset the short-conv history before the last token.
        let s2 = model.makeState(batch: 1)
        _ = model.step(Array(ids[0..<(T - 1)]), batch: 1, state: s2)
        for b in s2.blocks { b.shortConvHistory = Tensor(zeros: b.shortConvHistory!.shape) }
        let last = model.step([ids[T - 1]], batch: 1, state: s2).array
        let V = 32, ref = Array(full.array[((T - 1) * V)..<(T * V)])
        XCTAssertGreaterThan(zip(last, ref).map { abs($0 - $1) }.max()!, 1e-4)
    }

    /// Parameter count and FLOPs without allocating agree with the built model; no MLP means no
    /// `feed_forward`/`ffn_norm` parameters; a default config encodes without the new keys (so every
    /// existing checkpoint and study cache key is unchanged) and decodes from JSON lacking them.
    func testAccountingAndBackwardCompatibility() throws {
        for layer in ["attention", "mamba", "ttt-linear"] {
            let c = convConfig(layer)
            let m = try LanguageModel(config: c, seed: 0)
            XCTAssertEqual(try c.parameterCount(), m.parameterCount, layer)
            XCTAssertEqual(try c.flopsPerToken(context: 16), m.flopsPerToken(context: 16), accuracy: 1e-6, layer)
            XCTAssertFalse(m.parameters.contains { $0.name.contains("feed_forward") || $0.name.contains("ffn_norm") }, layer)
        }
        let plain = tinyConfig("attention")
        XCTAssertTrue(try LanguageModel(config: plain, seed: 0).parameters.contains { $0.name.contains("feed_forward") })
        let json = String(decoding: try JSONEncoder().encode(plain), as: UTF8.self)
        XCTAssertFalse(json.contains("shortConv") || json.contains("noMLP"), json)
        XCTAssertEqual(try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8)), plain)
        // Control: the option does change the encoding (so the check above can fail).
        XCTAssertTrue(String(decoding: try JSONEncoder().encode(convConfig("attention")), as: UTF8.self).contains("shortConv"))
        var bad = plain; bad.shortConv = 1
        XCTAssertThrowsError(try bad.validate())
    }
}
