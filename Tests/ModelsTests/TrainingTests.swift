// TrainingTests.swift — resume determinism, learning a synthetic text, checkpoint integrity, schedule.
import Foundation
import XCTest
@testable import Layers
@testable import Models
import TensorCore
import TestSupport

final class TrainingTests: XCTestCase {
    func microTrainConfig(steps: Int) -> TrainConfig {
        var c = TrainConfig(steps: steps, batch: 2, context: 16, lr: 1e-2, seed: 5)
        c.evalEvery = 3
        c.evalWindows = 4
        return c
    }

    /// Train 6 steps straight vs. 3 steps, checkpoint, resume in a fresh trainer, 3 more steps: every
    /// parameter, both Adam moments and every recorded loss must be bit-identical. Checked for
    /// TTT-Linear, and for TTT-MLP whose ρ warmup depends on the step.
    func testResumeEqualsUninterruptedRunBitForBit() throws {
        let corpus = syntheticCorpus(documents: 12, bytesPerDocument: 400)
        for layer in ["ttt-linear", "ttt-mlp-m"] {
            var tc = microTrainConfig(steps: 6)
            tc.applyLayerDefaults(layer: layer)
            let cfg = ModelConfig(layer: layer, vocab: 256, width: 16, heads: 2, layers: 2, mlpHidden: 24, miniBatch: 4)
            try assertResumeIsBitIdentical(cfg, tc, corpus: corpus, layer)
        }
    }

    /// A damaged or mismatched checkpoint is refused with a one-line message naming the fix.
    func testCorruptCheckpointIsRefused() throws {
        let corpus = syntheticCorpus(documents: 12, bytesPerDocument: 400)
        let cfg = tinyConfig("ttt-linear", vocab: 256)
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let t = try Trainer(model: LanguageModel(config: cfg, seed: 1), config: microTrainConfig(steps: 4), corpus: corpus)
        try t.run(until: 2, checkpointTo: dir)
        // Flip one byte of the weights: the checksum in train_state.json no longer matches.
        let url = dir.appendingPathComponent("model.safetensors")
        var bytes = try [UInt8](Data(contentsOf: url))
        bytes[bytes.count - 1] ^= 1
        try Data(bytes).write(to: url)
        XCTAssertThrowsError(try Trainer.resume(from: dir, corpus: corpus)) { e in
            let msg = "\(e)"
            XCTAssertTrue(msg.contains("do not match train_state.json"), msg)
            XCTAssertFalse(msg.contains("\n"))
        }
        XCTAssertThrowsError(try Trainer.resume(from: dir.appendingPathComponent("nothing"), corpus: corpus)) { e in
            XCTAssertTrue("\(e)".contains("config.json missing"), "\(e)")
        }
    }

    /// A tiny TTT-Linear model learns the synthetic text: starting at ln 256 ≈ 5.55 nats, validation
    /// loss must fall below 1.2 nats/byte within 200 steps — far under the text's unigram
    /// cross-entropy (≈ 2.7 nats), so it has learned more than byte frequencies. (Measured: 0.68.)
    func testTinyModelLearnsSyntheticText() throws {
        let corpus = syntheticCorpus(documents: 20, bytesPerDocument: 2000)
        let cfg = ModelConfig(layer: "ttt-linear", vocab: 256, width: 32, heads: 2, layers: 2, mlpHidden: 64, miniBatch: 8)
        var tc = TrainConfig(steps: 200, batch: 4, context: 32, lr: 1e-2, seed: 0)
        tc.evalEvery = 200
        tc.evalWindows = 16
        let t = try Trainer(model: LanguageModel(config: cfg, seed: 0), config: tc, corpus: corpus)
        try t.run(checkpointTo: nil)
        let first = t.evaluations.first!.loss, last = t.evaluations.last!.loss
        print("synthetic text: validation \(first) → \(last) nats/byte, unigram \(t.unigramLoss)")
        XCTAssertGreaterThan(first, 5.0)
        XCTAssertGreaterThan(t.unigramLoss, 2.5)
        XCTAssertLessThan(last, 1.2)
    }

    func testScheduleWarmupAndCosine() {
        let s = LRSchedule(peak: 1e-3, floor: 1e-5, warmup: 10, total: 100)
        XCTAssertEqual(s.lr(step: 0), 1e-4, accuracy: 1e-9)
        XCTAssertEqual(s.lr(step: 9), 1e-3, accuracy: 1e-9)
        XCTAssertEqual(s.lr(step: 10), 1e-3, accuracy: 1e-9)
        XCTAssertEqual(s.lr(step: 55), (1e-3 + 1e-5) / 2, accuracy: 1e-8)        // half way through the decay
        XCTAssertEqual(s.lr(step: 100), 1e-5, accuracy: 1e-9)
        var tc = TrainConfig(steps: 100, batch: 1, context: 8, lr: 1e-3)
        tc.applyLayerDefaults(layer: "ttt-mlp")
        XCTAssertEqual(tc.tttLRMult(step: 0), 0.1 + 0.9 / 10, accuracy: 1e-6)      // ρ: 0.1 → 1 over the warmup
        XCTAssertEqual(tc.tttLRMult(step: 50), 1)
        tc.applyLayerDefaults(layer: "ttt-linear")
        XCTAssertEqual(tc.tttLRMult(step: 0), 1)
    }

    /// AdamW: decay on matrices only; clipping to the global norm; a hand-computed first step.
    func testAdamWFirstStepAndDecayMask() {
        let w = Tensor([1, 2, 3, 4], shape: [2, 2]).requiringGrad(), b = Tensor([1, -1], shape: [2]).requiringGrad()
        let opt = AdamW(params: [Param("m.weight", w), Param("m.bias", b)], weightDecay: 0.1, clip: 1.0)
        XCTAssertEqual(opt.decays, [true, false])
        XCTAssertFalse(AdamW.decays(Param("x.ttt_norm_weight", Tensor(zeros: [2, 4]))))
        XCTAssertFalse(AdamW.decays(Param("x.b1", Tensor(zeros: [2, 1, 4]))))
        w.grad = Tensor([3, 0, 0, 0], shape: [2, 2]); b.grad = Tensor([4, 0], shape: [2])   // norm 5 → clipped to 1
        let norm = opt.step(lr: 0.01)
        XCTAssertEqual(norm, 5, accuracy: 1e-9)
        // First Adam step: m̂/√v̂ = sign(g) = 1 where g ≠ 0 (ε negligible), 0 elsewhere.
        XCTAssertEqual(w.data[0], 1 - 0.01 * (1 + 0.1 * 1), accuracy: 1e-6)
        XCTAssertEqual(w.data[1], 2 - 0.01 * (0.1 * 2), accuracy: 1e-6)
        XCTAssertEqual(b.data[0], 1 - 0.01, accuracy: 1e-6)
        XCTAssertEqual(b.data[1], -1, accuracy: 1e-7)
        XCTAssertNil(w.grad)
    }
}
extension TrainingTests {
    /// AdamW over parameters large enough for the update to be split across workers (one flat index space,
    /// splits falling inside parameters): every element equals the scalar AdamW formula for two steps; a
    /// parameter with no gradient is left alone; the clip norm is the global norm. Negative control: the
    /// formula without bias correction misses by far more than the tolerance.
    func testAdamWSplitAcrossWorkersMatchesFormula() {
        var rng = RNG(seed: 3)
        let shapes = [[100, 200], [7], [150, 210], [3, 5]]
        let ws = shapes.map { Tensor.randn($0, std: 1, rng: &rng).requiringGrad() }
        let names = ["a.weight", "a.bias", "b.weight", "c.weight"]
        let opt = AdamW(params: zip(names, ws).map { Param($0, $1) }, weightDecay: 0.1, clip: 1.0)
        var ref = ws.map { $0.array.map(Double.init) }
        var m = ws.map { [Double](repeating: 0, count: $0.count) }, v = m
        for step in 1...2 {
            var norm2 = 0.0
            var gs: [[Float]?] = []
            for (i, w) in ws.enumerated() {
                if i == 3 { gs.append(nil); continue }                 // c.weight: no gradient this step
                let g = Tensor.randn(w.shape, std: 0.01, rng: &rng)
                w.grad = g; gs.append(g.array)
                norm2 += g.array.reduce(0) { $0 + Double($1) * Double($1) }
            }
            let norm = opt.step(lr: 0.01)
            XCTAssertEqual(norm, norm2.squareRoot(), accuracy: 1e-6 * norm2.squareRoot())
            let scale = norm > 1 ? 1 / (norm + 1e-6) : 1
            var worst = 0.0, worstNoBC = 0.0
            for i in 0..<ws.count {
                guard let g = gs[i] else { XCTAssertEqual(ws[i].array.map(Double.init), ref[i], "no gradient: unchanged"); continue }
                let wd = opt.decays[i] ? 0.1 : 0
                for j in 0..<g.count {
                    let gj = Double(g[j]) * scale
                    m[i][j] = 0.9 * m[i][j] + 0.1 * gj
                    v[i][j] = 0.95 * v[i][j] + 0.05 * gj * gj
                    let bc1 = 1 - pow(0.9, Double(step)), bc2 = 1 - pow(0.95, Double(step))
                    let upd = (m[i][j] / bc1) / ((v[i][j] / bc2).squareRoot() + 1e-8) + wd * ref[i][j]
                    let noBC = m[i][j] / (v[i][j].squareRoot() + 1e-8) + wd * ref[i][j]
                    let old = ref[i][j]
                    ref[i][j] -= 0.01 * upd
                    worst = worstOf(worst, abs(Double(ws[i].data[j]) - ref[i][j]))
                    worstNoBC = worstOf(worstNoBC, abs(Double(ws[i].data[j]) - (old - 0.01 * noBC)))
                }
            }
            XCTAssertLessThan(worst, 1e-5, "step \(step): AdamW split over workers vs the formula")
            XCTAssertGreaterThan(worstNoBC, 1e-3, "step \(step): negative control (no bias correction) should miss")
        }
    }
}
