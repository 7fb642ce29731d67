// PerplexityStudyTests.swift — per-position loss, evaluation windows, parameter matching, and the
// `perplexity` study's quick preset end to end on a small generated corpus (never the real data).
import Foundation
import XCTest
import Zoo
@testable import Layers
@testable import Models
@testable import Studies
import StudyKit
import TensorCore

/// A generated corpus: sentences drawn at random, `documents` documents of `bytes` bytes each
/// (every 10th is held out, indices 5, 15, …).
func studyTestCorpus(documents: Int = 20, bytes: Int = 600, seed: UInt64 = 3) -> Corpus {
    let sentences = ["the cat sat on the mat. ", "a dog ran in the park. ", "we like to read books. ", "it is cold at night. "]
    var rng = RNG(seed: seed)
    var docs: [Document] = []
    for i in 0..<documents {
        var text = "NAME\(i % 7): "
        while text.utf8.count < bytes { text += sentences[Int(rng.next() % UInt64(sentences.count))] }
        docs.append(Document(name: String(format: "doc%02d", i), source: "synthetic", bytes: Array(text.utf8.prefix(bytes))))
    }
    let (train, val) = Corpus.split(docs)
    return Corpus(train: train, validation: val)
}

func temporaryStudyDirectory(_ name: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
}

final class PerplexityStudyTests: XCTestCase {
    /// The mean of the per-token losses equals the model's mean cross-entropy (relative 1e-5, Float32
    /// logits summed in Double), and position t of sequence s sits at s·T + t.
    func testTokenLossesAverageToTheModelLoss() throws {
        let cfg = ModelConfig(layer: "ttt-linear", vocab: 32, width: 16, heads: 2, layers: 2, mlpHidden: 24, miniBatch: 4)
        let model = try LanguageModel(config: cfg, seed: 1)
        var rng = RNG(seed: 2)
        let B = 2, T = 12
        let x = (0..<(B * T)).map { _ in Int(rng.next() % 32) }, y = (0..<(B * T)).map { _ in Int(rng.next() % 32) }
        let per = model.tokenLosses(inputs: x, targets: y, batch: B)
        XCTAssertEqual(per.count, B * T)
        let mean = per.reduce(0, +) / Double(per.count)
        let ref = Double(withNoGrad { model.loss(inputs: x, targets: y, batch: B).item })
        XCTAssertEqual(mean, ref, accuracy: 1e-5 * ref)
        // Sequence 1 alone gives the same losses as its half of the batch (ordering, no cross-talk).
        let alone = model.tokenLosses(inputs: Array(x[T...]), targets: Array(y[T...]), batch: 1)
        for t in 0..<T { XCTAssertEqual(alone[t], per[T + t], accuracy: 1e-4) }
    }

    /// Windows start at document starts first, never overlap, and are capped; octaves tile 0..<T.
    func testWindowsAndOctaves() {
        let docs: [[UInt8]] = [Array(repeating: 1, count: 100), Array(repeating: 2, count: 40), Array(repeating: 3, count: 20)]
        let w = PositionLoss.windows(documents: docs, context: 16, limit: 5)
        XCTAssertEqual(w.count, 5)
        XCTAssertEqual(w.prefix(3).map(\.start), [true, true, true])    // every document is ≥ 17 bytes: its first window comes first
        XCTAssertEqual(w.filter(\.start).count, 3)
        XCTAssertTrue(w.allSatisfy { $0.inputs.count == 16 && $0.targets.count == 16 })
        XCTAssertEqual(Array(w[0].inputs.dropFirst()), Array(w[0].targets.dropLast()))
        XCTAssertTrue(PositionLoss.windows(documents: [[1, 2, 3]], context: 16, limit: 4).isEmpty)
        for T in [1, 5, 16, 64, 100, 2048] {
            let o = PositionLoss.octaves(context: T)
            XCTAssertEqual(o.first?.lowerBound, 0)
            XCTAssertEqual(o.last?.upperBound, T)
            for (a, b) in zip(o, o.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
        }
        XCTAssertEqual(PositionLoss.octaves(context: 2048).last, 1024..<2048)
        var c = PositionLoss(context: 4)
        c.add([1, 2, 3, 4][...]); c.add([3, 2, 1, 0][...])
        XCTAssertEqual(c.mean(at: 0), 2); XCTAssertEqual(c.overall, 2)
        let g = c.windowStatistic { $0[0] - $0[2] }                    // octaves (0,1], (1,2], (2,4]
        XCTAssertEqual(g.mean, (1 - 3.5 + 3 - 0.5) / 2, accuracy: 1e-12)
    }

    /// The paper's seven models and every other registered inner-model plugin are in the study.
    func testEveryPluginIsInTheStudy() {
        let layers = Set(PerplexityStudy.models.map(\.layer))
        XCTAssertTrue(Set(["ttt-linear", "ttt-linear-m", "ttt-mlp", "ttt-mlp-m", "mamba", "attention", "linear-attention"]).isSubset(of: layers))
        for name in InnerModelRegistry.names { XCTAssertTrue(layers.contains("ttt-\(name)"), "plugin \(name) missing") }
        // The quick and full presets train them all; the default preset the paper's seven only (its time budget).
        for p in [Preset.quick, .full] { XCTAssertEqual(PerplexityStudy.models(PerplexityStudy.settings(p)).count, PerplexityStudy.models.count) }
        let standard = PerplexityStudy.models(PerplexityStudy.settings(.standard)).map(\.layer)
        XCTAssertEqual(standard, ["ttt-linear-m", "ttt-linear", "ttt-mlp-m", "ttt-mlp", "mamba", "attention", "linear-attention"])
    }

    /// Every preset's models are within 10% of the Transformer's parameter count (allocation-free).
    func testParameterMatchingWithinTenPercent() throws {
        for p in Preset.allCases {
            let configs = try PerplexityStudy.matchedConfigs(PerplexityStudy.settings(p))
            XCTAssertEqual(configs.count, PerplexityStudy.models(PerplexityStudy.settings(p)).count)
            let ref = try configs.first { $0.config.layer == "attention" }!.config.parameterCount()
            for (name, c) in configs {
                let n = try c.parameterCount()
                XCTAssertLessThanOrEqual(abs(Double(n - ref)) / Double(ref), PerplexityStudy.parameterTolerance, "\(p) \(name): \(n) vs \(ref)")
            }
        }
    }

    /// `lab study perplexity --quick` on a generated corpus: PASS, every output written, and a second run
    /// reuses the cached models (weights untouched) and reproduces the tables exactly.
    func testQuickPresetEndToEndAndCache() throws {
        let dir = temporaryStudyDirectory("perplexity-study")
        defer { try? FileManager.default.removeItem(at: dir) }
        let study = PerplexityStudy(corpus: studyTestCorpus())
        let (r1, report) = try StudyRunner().run(study, preset: .quick, seed: 0, to: dir, reporter: ProgressReporter(mode: .silent))
        XCTAssertTrue(r1.verdict.passed, r1.verdict.summary.joined(separator: "\n"))
        for f in ["perplexity.md", "models.csv", "loss-by-position.csv", "loss-by-position-document-starts.csv",
                  "loss-by-token-index.dat", "loss-by-token-index.gp", "repeated-passage.csv"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), f)
        }
        if report.chartsRendered { XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("loss-by-token-index.png").path)) }
        let n = PerplexityStudy.models.count
        XCTAssertEqual(r1.tables.first { $0.name == "models" }?.rows.count, n)
        XCTAssertEqual(r1.tables.first { $0.name == "repeated-passage" }?.rows.count, n)
        let modelDirs = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("models").path).sorted()
        XCTAssertEqual(modelDirs.count, n * PerplexityStudy.settings(.quick).seeds, "one model per layer and seed")
        func mtime(_ d: String) throws -> Date {
            try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("models/\(d)/model.safetensors").path)[.modificationDate] as! Date
        }
        let before = try modelDirs.map(mtime)
        let r2 = try study.run(StudyContext(outputDirectory: dir, preset: .quick, seed: 0, reporter: ProgressReporter(mode: .silent)))
        XCTAssertEqual(try modelDirs.map(mtime), before, "a re-run must reuse the cached models")
        XCTAssertEqual(r2.tables.map { $0.csv() }, r1.tables.map { $0.csv() })
    }

    /// `lab study perplexity --plan / --run / --cached-only`: one run per (model, seed), each its model and both
    /// evaluations (``checkPlanRunAssembly``); a run whose evaluation is missing is not cached.
    func testPlanRunAssembly() throws {
        let study = PerplexityStudy(corpus: studyTestCorpus())
        try checkPlanRunAssembly(study, runs: PerplexityStudy.models.count * PerplexityStudy.settings(.quick).seeds)
        // A trained model without its probe evaluation is still a run to do (and performing it only evaluates).
        let dir = temporaryStudyDirectory("perplexity-plan")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ctx = StudyContext(outputDirectory: dir, preset: .quick, seed: 0, reporter: ProgressReporter(mode: .silent))
        let key = try study.plan(ctx)[0].key
        XCTAssertFalse(try study.perform(key: key, ctx))
        let modelDir = dir.appendingPathComponent("models").appendingPathComponent(key)
        let weights = modelDir.appendingPathComponent("model.safetensors")
        let trainedAt = try FileManager.default.attributesOfItem(atPath: weights.path)[.modificationDate] as! Date
        try FileManager.default.removeItem(at: modelDir.appendingPathComponent("probe.json"))
        XCTAssertFalse(try study.plan(ctx)[0].cached, "the probe evaluation is part of the run")
        XCTAssertFalse(try study.perform(key: key, ctx))
        XCTAssertTrue(try study.plan(ctx)[0].cached)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: weights.path)[.modificationDate] as! Date, trainedAt, "the model was retrained")
    }

    /// An interrupted study model is resumed from its checkpoint and ends bit-identical to an uninterrupted
    /// run; a changed config gets a new cache key (never a stale model).
    func testInterruptedModelResumesExactly() throws {
        let root = temporaryStudyDirectory("trained-models")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = StudyCorpus(studyTestCorpus())
        let mc = ModelConfig(layer: "ttt-linear", vocab: 256, width: 16, heads: 2, layers: 1, mlpHidden: 24, miniBatch: 4)
        var tc = TrainConfig(steps: 4, batch: 2, context: 16, lr: 1e-2, seed: 7)
        tc.evalEvery = 4; tc.evalWindows = 2; tc.checkpointEvery = 1
        let ctx = StudyContext(outputDirectory: root, preset: .quick, seed: 0, reporter: ProgressReporter(mode: .silent))
        // Interrupt: train 2 of 4 steps into the directory `obtain` uses.
        let key = try TrainedModels.cacheKey(model: mc, train: tc, corpusID: data.id)
        let dir = root.appendingPathComponent("models/m-\(key)")
        let partial = try Trainer(model: LanguageModel(config: mc, seed: tc.seed), config: tc, corpus: data.corpus)
        try partial.run(until: 2, checkpointTo: dir)
        let resumed = try TrainedModels.obtain(label: "m", model: mc, train: tc, corpus: data, root: root, ctx: ctx)
        XCTAssertFalse(resumed.reused)
        XCTAssertEqual(resumed.trainer.step, 4)
        XCTAssertEqual(resumed.directory.lastPathComponent, dir.lastPathComponent)
        let straight = try Trainer(model: LanguageModel(config: mc, seed: tc.seed), config: tc, corpus: data.corpus)
        try straight.run(checkpointTo: nil)
        for (a, b) in zip(straight.model.parameters, resumed.model.parameters) {
            XCTAssertEqual(a.tensor.array.map(\.bitPattern), b.tensor.array.map(\.bitPattern), a.name)
        }
        XCTAssertTrue(try TrainedModels.obtain(label: "m", model: mc, train: tc, corpus: data, root: root, ctx: ctx).reused)
        var other = tc; other.lr = 2e-2
        XCTAssertNotEqual(try TrainedModels.cacheKey(model: mc, train: other, corpusID: data.id), key)
        var otherModel = mc; otherModel.layerOptions = LayerConfig(width: 16, heads: 2); otherModel.layerOptions!.ttt.rope = false
        XCTAssertNotEqual(try TrainedModels.cacheKey(model: otherModel, train: tc, corpusID: data.id), key)
    }

    /// No corpus: a one-line error that names `lab data fetch`.
    func testMissingCorpusNamesTheFix() {
        let ctx = StudyContext(outputDirectory: temporaryStudyDirectory("perplexity-none"), preset: .quick, seed: 0,
                               dataDirectory: temporaryStudyDirectory("no-corpus"), reporter: ProgressReporter(mode: .silent))
        XCTAssertThrowsError(try PerplexityStudy().run(ctx)) { e in
            XCTAssertTrue("\(e)".contains("lab data fetch"), "\(e)")
            XCTAssertFalse("\(e)".contains("\n"))
        }
    }

    /// A probe window is a passage shown twice; its targets are the inputs shifted by one.
    func testProbeWindowsRepeatThePassage() {
        let docs: [[UInt8]] = [(0..<200).map { UInt8($0) }]
        let w = PositionLoss.windows(documents: docs, context: 32, limit: 3)
        let p = PerplexityStudy.probeWindows(w, count: 2)
        XCTAssertEqual(p.count, 2)
        for (probe, win) in zip(p, w) {
            XCTAssertEqual(probe.inputs.count, 32)
            XCTAssertEqual(Array(probe.inputs[0..<16]), Array(win.inputs[0..<16]))
            XCTAssertEqual(Array(probe.inputs[16..<32]), Array(win.inputs[0..<16]))
            XCTAssertEqual(Array(probe.targets.dropLast()), Array(probe.inputs.dropFirst()))
        }
    }

    /// The probe measures first-copy minus second-copy loss: for a model, the numbers equal a direct
    /// evaluation of the same positions (relative 1e-9); control: a window of two *different* passages
    /// gives a different second-copy loss.
    func testProbeMeasuresTheSecondCopy() throws {
        let cfg = ModelConfig(layer: "attention", vocab: 256, width: 16, heads: 2, layers: 1, mlpHidden: 24)
        let model = try LanguageModel(config: cfg, seed: 2)
        var rng = RNG(seed: 4)
        let docs: [[UInt8]] = [(0..<80).map { _ in UInt8(rng.next() % 256) }]
        let w = PositionLoss.windows(documents: docs, context: 32, limit: 1)
        let probe = PerplexityStudy.probeWindows(w, count: 1)
        let m = PerplexityStudy.measureProbe(model, probes: probe, batch: 1)
        let l = model.tokenLosses(inputs: probe[0].inputs, targets: probe[0].targets, batch: 1)
        let first = (1..<15).map { l[$0] }.reduce(0, +) / 14, second = (1..<15).map { l[16 + $0] }.reduce(0, +) / 14
        XCTAssertEqual(m[0][0], first, accuracy: 1e-9 * abs(first))
        XCTAssertEqual(m[0][1], second, accuracy: 1e-9 * abs(second))
        var other = probe[0]
        for i in 16..<32 { other.inputs[i] = (other.inputs[i] + 7) % 256 }
        other.targets = Array(other.inputs.dropFirst()) + [other.targets[31]]
        let m2 = PerplexityStudy.measureProbe(model, probes: [other], batch: 1)
        XCTAssertEqual(m2[0][0], m[0][0], accuracy: 1e-9, "first copy unchanged")
        XCTAssertGreaterThan(abs(m2[0][1] - m[0][1]), 1e-3)
    }

    /// Averaging per-seed curves averages every position and every window's octave means.
    func testAverageOfCurves() {
        var a = PositionLoss(context: 4), b = PositionLoss(context: 4)
        a.add([1, 2, 3, 4][...]); b.add([3, 2, 1, 0][...])
        let m = PositionLoss.average([a, b])
        XCTAssertEqual(m.sums, [2, 2, 2, 2])
        XCTAssertEqual(m.counts, [1, 1, 1, 1])
        XCTAssertEqual(m.windowOctaves, [[2, 2, 2]])
        XCTAssertNotEqual(PositionLoss.average([a, a]).sums, m.sums)
    }

    /// The science rule of the perplexity study.
    func testScienceVerdictRule() {
        let ttt = [("TTT-Linear (T)", -0.01, 0.01)]
        XCTAssertTrue(PerplexityStudy.scienceVerdict(transformerGain: (0.1, 0.01), ttt: ttt, mamba: (-0.05, 0.01)).contains("REPRODUCES"))
        XCTAssertTrue(PerplexityStudy.scienceVerdict(transformerGain: (0.1, 0.01), ttt: ttt, mamba: (-0.01, 0.01)).contains("PARTLY"))
        XCTAssertTrue(PerplexityStudy.scienceVerdict(transformerGain: (0.01, 0.01), ttt: ttt, mamba: (-0.05, 0.01)).contains("does NOT"))
        XCTAssertTrue(PerplexityStudy.scienceVerdict(transformerGain: (0.1, 0.01), ttt: [("x", -0.05, 0.01)], mamba: (-0.01, 0.01)).contains("does NOT"))
    }
}
