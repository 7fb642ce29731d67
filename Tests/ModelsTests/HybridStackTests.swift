// HybridStackTests.swift — one layer per block (`ModelConfig.layerList` naming more than one layer): the block
// list and its refusals, parameter and FLOP counts without allocating ≡ the allocated model, decode ≡
// prefill, the gradient of the LM loss, resume bit for bit, and a list naming one layer ≡ that layer.
import Foundation
import XCTest
@testable import Layers
@testable import Models
import TensorCore
import Zoo

final class HybridStackTests: XCTestCase {
    /// Every backbone in one micro stack: attention (windowed), TTT-Linear, a Mamba block (no MLP), TTT-MLP on
    /// the Mamba backbone (pre-conv, shared Q/K): 4 blocks, D16, H2, I24, b = 4, vocabulary 32.
    static func microHybrid(window: Int? = 3) -> ModelConfig {
        var c = ModelConfig(layer: "attention,ttt-linear,mamba,ttt-mlp-m", vocab: 32, width: 16, heads: 2, layers: 4, mlpHidden: 24, miniBatch: 4)
        if let window { var lc = LayerConfig(width: 16, heads: 2); lc.attention.window = window; c.layerOptions = lc }
        return c
    }

    func testBlockLayersBackbonesAndRefusals() throws {
        let c = Self.microHybrid()
        XCTAssertEqual(c.blockLayers.map(\.name), ["attention", "ttt-linear", "mamba", "ttt-mlp-m"])
        XCTAssertEqual(c.blockBackbones, [.transformer, .transformer, .mambaStack, .tttMamba])
        XCTAssertEqual((0..<4).map { c.hasMLP(block: $0) }, [true, true, false, true])
        XCTAssertEqual((0..<4).map { c.layerConfig(block: $0).attention.window }, [3, nil, nil, nil])
        XCTAssertTrue(c.isHybrid)
        XCTAssertEqual(c.backbone, .transformer)
        XCTAssertTrue(c.summary.contains("hybrid stack"), c.summary)
        XCTAssertEqual(c.blockDescriptions.count, 4)
        XCTAssertTrue(c.blockDescriptions[2].contains("mamba") && c.blockDescriptions[2].contains("no MLP"), c.blockDescriptions[2])
        // A pattern whose length divides L repeats; spaces around names are ignored.
        var r = try ModelConfig.preset("tiny", layer: "attention, ttt-linear")
        XCTAssertEqual(r.blockLayers.map(\.name), ["attention", "ttt-linear", "attention", "ttt-linear"])
        // A single name: every block as before.
        r = try ModelConfig.preset("tiny", layer: "ttt-linear-m")
        XCTAssertEqual(r.blockLayers.map(\.name), Array(repeating: "ttt-linear-m", count: 4))
        XCTAssertEqual(r.blockBackbones, Array(repeating: .tttMamba, count: 4))
        XCTAssertFalse(r.isHybrid)
        // Refusals, one line each, naming both numbers / the bad name and the fix.
        let bad: [(String, String)] = [
            ("attention,ttt-linear,mamba", "names 3 layers for L = 4 blocks — give one per block (4) or a pattern whose length divides 4 (1, 2, 4)"),
            ("attention,,mamba,mamba", "has an empty name"),
            ("attention,ttt-lnear", "unknown layer 'ttt-lnear'. Did you mean 'ttt-linear'?"),
            ("a,b,c,d,e,f,g,h", "unknown layer 'a'"),
        ]
        for (layer, why) in bad {
            XCTAssertThrowsError(try ModelConfig.preset("tiny", layer: layer), layer) { e in
                XCTAssertTrue("\(e)".contains(why), "\(layer): \(e)")
                XCTAssertFalse("\(e)".contains("\n"))
            }
        }
        XCTAssertThrowsError(try ModelConfig.preset("tiny", layer: "attention,attention,attention,attention,attention,attention,attention,attention")) { e in
            XCTAssertTrue("\(e)".contains("names 8 layers for L = 4 blocks"), "\(e)")
        }
        // A window needs an attention block.
        var noAttention = ModelConfig(layer: "ttt-linear,mamba", vocab: 32, width: 16, heads: 2, layers: 2, mlpHidden: 24, miniBatch: 4)
        var lc = LayerConfig(width: 16, heads: 2); lc.attention.window = 4; noAttention.layerOptions = lc
        XCTAssertThrowsError(try noAttention.validate()) { XCTAssertTrue("\($0)".contains("applies to attention blocks"), "\($0)") }
    }

    /// `parameterCount()`, `flopsPerToken(context:)` and `stateBytes(context:)` computed without allocating the
    /// model equal the allocated hybrid's own counts; block 2 (Mamba) has no MLP, block 3 a pre-conv.
    func testCountsWithoutAllocatingEqualTheAllocatedModel() throws {
        for cfg in [Self.microHybrid(), Self.microHybrid(window: nil), tinyConfig("ttt-linear"), tinyConfig("mamba")] {
            let model = try LanguageModel(config: cfg, seed: 0)
            XCTAssertEqual(try cfg.parameterCount(), model.parameterCount, cfg.layer)
            for ctx in [1, 7, 64] {
                XCTAssertEqual(try cfg.flopsPerToken(context: ctx), model.flopsPerToken(context: ctx), "\(cfg.layer) at \(ctx)")
                let st = model.makeState(batch: 1)
                _ = model.step(randomIDs(ctx, vocab: cfg.vocab, seed: 1), batch: 1, state: st)
                XCTAssertEqual(try cfg.stateBytes(context: ctx), st.bytes, "\(cfg.layer): state after \(ctx) tokens")
            }
        }
        let names = try LanguageModel(config: Self.microHybrid(), seed: 0).parameters.map(\.name)
        XCTAssertTrue(names.contains("model.layers.0.feed_forward.gate_proj.weight"))
        XCTAssertFalse(names.contains { $0.hasPrefix("model.layers.2.feed_forward") || $0.hasPrefix("model.layers.2.ffn_norm") })
        XCTAssertTrue(names.contains("model.layers.2.seq_modeling_block.A_log"))
        XCTAssertTrue(names.contains("model.layers.3.conv.conv.weight"))
        XCTAssertFalse(names.contains("model.layers.1.conv.conv.weight"))
        // Negative control: the count of a different hybrid (no Mamba block) differs.
        let other = ModelConfig(layer: "attention,ttt-linear,ttt-linear,ttt-mlp-m", vocab: 32, width: 16, heads: 2, layers: 4, mlpHidden: 24, miniBatch: 4)
        XCTAssertNotEqual(try other.parameterCount(), try Self.microHybrid().parameterCount())
    }

    /// Decode (a 4-token prompt, then one token at a time) ≡ the parallel forward for the hybrid, to 1e-4
    /// relative (as ModelTests for single layers), with the attention window 3 < T; the attention block's
    /// cache holds 3 rows. Negative control: a fresh state for the last token changes the logits.
    func testDecodeMatchesPrefillForHybrid() throws {
        let T = 11
        for cfg in [Self.microHybrid(), Self.microHybrid(window: nil)] {
            let model = try LanguageModel(config: cfg, seed: 2)
            for p in model.parameters where p.tensor.rank >= 2 && !p.name.hasSuffix("A_log") { for i in 0..<p.tensor.count { p.tensor.data[i] *= 5 } }
            let ids = randomIDs(2 * T, vocab: 32, seed: 4)
            let full = withNoGrad { model.logits(ids, batch: 2) }
            let state = model.makeState(batch: 2)
            var chunks = [model.step((0..<2).flatMap { r in ids[(r * T)..<(r * T + 4)] }, batch: 2, state: state)]
            for t in 4..<T { chunks.append(model.step([ids[t], ids[T + t]], batch: 2, state: state)) }
            let stepped = concat(chunks, axis: 1)
            XCTAssertLessThan(relErr(stepped, full), 1e-4, "\(cfg.layer), window \(cfg.layerConfig.attention.window ?? 0)")
            if cfg.layerConfig.attention.window != nil {
                XCTAssertEqual(state.blocks[0].mixer.bytes, 2 * 2 * 16 * 3 * 4, "the attention cache holds W = 3 rows")
            }
            let alone = model.step([ids[T - 1], ids[2 * T - 1]], batch: 2, state: model.makeState(batch: 2))
            XCTAssertGreaterThan(relErr(alone, full.slice(axis: 1, T - 1, T)), 1e-3, "\(cfg.layer): the state is not used")
        }
    }

    /// The LM loss gradient through the hybrid (every backbone, windowed attention) against finite differences
    /// along 4 random directions per parameter group (ModelTestSupport's DirectionalDerivative, its tolerance),
    /// on all parameters and on the sequence layers' alone; a 1 % error must be visible in every group (a sharp
    /// direction). Negative control: the analytic gradient scaled by 1.01 must fail.
    func testLossGradientThroughHybrid() throws {
        let (B, T) = (2, 10)
        let cfg = Self.microHybrid()
        let model = try LanguageModel(config: cfg, seed: 3)
        for p in model.parameters where p.tensor.rank >= 2 && !p.name.hasSuffix("A_log") { for i in 0..<p.tensor.count { p.tensor.data[i] *= 5 } }
        let x = randomIDs(B * T, vocab: cfg.vocab, seed: 11), y = randomIDs(B * T, vocab: cfg.vocab, seed: 12)
        for kernels in [KernelPath.fused, .reference] {
            model.kernels = kernels
            for (label, selected) in [("all parameters", { (_: Param) in true }), ("sequence layers", { (p: Param) in p.name.contains("seq_modeling_block.") })] {
                let c = DirectionalDerivative(model, batch: B, x: x, y: y, selected: selected, seed: 99)
                let w = c.worst
                print("hybrid \(kernels), \(label): worst \(w.group) analytic \(w.analytic) numeric \(w.numeric) ratio \(w.ratio)")
                XCTAssertTrue(c.passed, "\(kernels), \(label): \(w.group) analytic \(w.analytic) vs numeric \(w.numeric)")
                XCTAssertEqual(Set(c.sharp.map(\.group)), c.groups, "\(kernels), \(label): groups where a 1 % error cannot show")
                XCTAssertFalse(c.passes(analyticScale: 1.01), "\(kernels), \(label): negative control (gradient × 1.01) passed")
            }
        }
    }

    /// 6 steps straight ≡ 3 steps, checkpoint, `Trainer.resume`, 3 more: every parameter, both Adam moments
    /// and every loss bit for bit, for the hybrid (its layer list and window come back from config.json).
    /// Negative control: another seed differs.
    func testResumeIsBitIdenticalForHybrid() throws {
        let corpus = syntheticCorpus(documents: 12, bytesPerDocument: 400)
        var cfg = Self.microHybrid(); cfg.vocab = 256
        var tc = TrainConfig(steps: 6, batch: 2, context: 16, lr: 1e-2, seed: 5)
        tc.evalEvery = 3; tc.evalWindows = 4
        tc.applyLayerDefaults(model: cfg)
        XCTAssertEqual(tc.tttLRMultStart, 0.1, "the TTT-MLP block's ρ warmup applies")
        try assertResumeIsBitIdentical(cfg, tc, corpus: corpus, "hybrid")
    }

    /// A list naming one layer ("ttt-linear,ttt-linear") builds the single-layer model bit for bit (same
    /// weights, same logits). Negative control: "attention,ttt-linear" differs.
    func testUniformListEqualsTheSingleName() throws {
        let ids = randomIDs(2 * 9, vocab: 32, seed: 7)
        let single = try LanguageModel(config: tinyConfig("ttt-linear"), seed: 1)
        let listed = try LanguageModel(config: tinyConfig("ttt-linear,ttt-linear"), seed: 1)
        XCTAssertEqual(single.parameters.map(\.name), listed.parameters.map(\.name))
        XCTAssertTrue(zip(single.parameters, listed.parameters).allSatisfy { bitsEqual($0.tensor, $1.tensor) })
        XCTAssertTrue(bitsEqual(withNoGrad { single.logits(ids, batch: 2) }, withNoGrad { listed.logits(ids, batch: 2) }))
        let mixed = try LanguageModel(config: tinyConfig("attention,ttt-linear"), seed: 1)
        XCTAssertFalse(bitsEqual(withNoGrad { single.logits(ids, batch: 2) }, withNoGrad { mixed.logits(ids, batch: 2) }))
    }

    /// ‖a − b‖∞ / ‖b‖∞, +∞ when a value is not finite.
    func relErr(_ a: Tensor, _ b: Tensor) -> Float {
        XCTAssertEqual(a.shape, b.shape)
        var num: Float = 0, den: Float = 0
        for i in 0..<min(a.count, b.count) {
            guard a.data[i].isFinite, b.data[i].isFinite else { return .infinity }
            num = max(num, abs(a.data[i] - b.data[i])); den = max(den, abs(b.data[i]))
        }
        return num / max(den, 1e-30)
    }
}
