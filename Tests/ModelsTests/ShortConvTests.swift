// ShortConvTests.swift — the gated short-conv and no-MLP backbone options: gradient, recurrent form,
// parameter accounting, and that existing configs (and their cache keys) are unchanged.
import Foundation
import XCTest
@testable import Layers
@testable import Models
import TensorCore

final class ShortConvTests: XCTestCase {
    func convConfig(_ layer: String) -> ModelConfig {
        var c = tinyConfig(layer)
        c.shortConv = 3; c.noMLP = true
        return c
    }

    /// Directional derivative over the short conv's parameters (every block) vs the central difference,
    /// h = 2e-3, relative error < 1%. Negative control: another batch's gradient misses by > 10%.
    func testShortConvGradientMatchesFiniteDifferences() throws {
        let (B, T) = (2, 10)
        for layer in ["attention", "ttt-linear"] {
            let model = try LanguageModel(config: convConfig(layer), seed: 5)
            let params = model.parameters
            for p in params where p.tensor.rank >= 2 { for i in 0..<p.tensor.count { p.tensor.data[i] *= 5 } }
            let x = randomIDs(B * T, vocab: 32, seed: 1), y = randomIDs(B * T, vocab: 32, seed: 2)
            let x2 = randomIDs(B * T, vocab: 32, seed: 3), y2 = randomIDs(B * T, vocab: 32, seed: 4)
            func grads(_ i: [Int], _ t: [Int]) -> [Tensor] {
                for p in params { p.tensor.zeroGrad() }
                model.loss(inputs: i, targets: t, batch: B).backward()
                let g = params.map { $0.tensor.grad ?? Tensor(zeros: $0.tensor.shape) }
                for p in params { p.tensor.zeroGrad() }
                return g
            }
            let g = grads(x, y), gOther = grads(x2, y2)
            let selected = params.map { $0.name.contains("short_conv.") }
            XCTAssertEqual(selected.filter { $0 }.count, 2 * 5, "5 tensors per block's short conv")
            var rng = RNG(seed: 9)
            func unit(_ ts: [Tensor]) -> [Tensor] {
                let m = zip(selected, ts).map { s, t in s ? t : Tensor(zeros: t.shape) }
                let n = m.reduce(0.0) { a, t in a + (0..<t.count).reduce(0.0) { $0 + Double(t.data[$1] * t.data[$1]) } }.squareRoot()
                return m.map { $0 * Float(1 / n) }
            }
            let u = unit(zip(unit(params.map { Tensor.randn($0.tensor.shape, rng: &rng) }), unit(g)).map { $0 + $1 })
            func dot(_ gs: [Tensor]) -> Double {
                zip(gs, u).reduce(0.0) { a, p in a + (0..<p.0.count).reduce(0.0) { $0 + Double(p.0.data[$1]) * Double(p.1.data[$1]) } }
            }
            func loss() -> Double { Double(withNoGrad { model.loss(inputs: x, targets: y, batch: B) }.item) }
            let h: Float = 2e-3
            func shift(_ s: Float) { for (p, d) in zip(params, u) { for i in 0..<p.tensor.count { p.tensor.data[i] += s * d.data[i] } } }
            shift(h); let lp = loss(); shift(-2 * h); let lm = loss(); shift(h)
            let numeric = (lp - lm) / Double(2 * h)
            let err = abs(dot(g) - numeric) / max(abs(numeric), 1e-3)
            let control = abs(dot(gOther) - numeric) / max(abs(numeric), 1e-3)
            XCTAssertGreaterThan(abs(numeric), 1e-3, "\(layer): derivative too small to test")
            XCTAssertLessThan(err, 0.01, "\(layer): analytic \(dot(g)) vs numeric \(numeric)")
            XCTAssertGreaterThan(control, 0.1, "\(layer): negative control too close")
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
