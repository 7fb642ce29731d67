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
    /// The default preset trains Transformer, TTT-Linear and Mamba; --full and --quick add TTT-MLP. Every model
    /// within 10% of the Transformer's parameters and every fixed state within 15% of TTT-Linear's, with the short
    /// conv before every mixer (controls: the Transformer's KV cache grows with T; TTT-MLP at the setup's heads is off).
    func testModelsMatchedInParametersAndState() throws {
        XCTAssertEqual(PerplexityStudy.models(PerplexityStudy.settings(.standard)).map(\.layer), ["attention", "ttt-linear", "mamba"])
        for p in [Preset.quick, .full] { XCTAssertEqual(PerplexityStudy.models(PerplexityStudy.settings(p)).count, 4) }
        let std = PerplexityStudy.settings(.standard)
        XCTAssertEqual(std.context, 1024)
        XCTAssertEqual(Double(std.trainingBytes), 2.3e7, accuracy: 0.05 * 2.3e7)
        for p in Preset.allCases {
            let s = PerplexityStudy.settings(p), m = PerplexityStudy.matching(s)
            let ref = Double(try m.targetParameters()), target = Double(try m.targetStateBytes())
            for (name, c) in try PerplexityStudy.matchedConfigs(s) {
                let n = Double(try c.parameterCount())
                XCTAssertLessThanOrEqual(abs(n - ref), PerplexityStudy.parameterTolerance * ref, "\(p) \(name): \(n) vs \(ref)")
                if c.backbone != .mambaStack { XCTAssertEqual(c.shortConv, 3, name) }
                if try StateMatching.kind(c.layer) == .fixed, p != .quick {
                    XCTAssertLessThanOrEqual(abs(Double(try m.persistentStateBytes(c)) - target), PerplexityStudy.stateTolerance * target, "\(p) \(name)")
                }
            }
            if p != .quick {
                XCTAssertGreaterThan(abs(Double(try m.persistentStateBytes(m.base("ttt-mlp"))) - target), PerplexityStudy.stateTolerance * target, "control")
            }
        }
    }

    /// The copy split: a byte is copy-predictable exactly when the k bytes before it occurred earlier and were
    /// followed there by it (most recent occurrence); control: change the byte after the first occurrence.
    func testCopyPredictable() {
        let w = Array("abcdefgh1xyzabcdefgh1".utf8).map(Int.init)            // T = 20
        let c = CopySplit.copyPredictable(w, match: 8)
        XCTAssertEqual(c.count, 20)
        XCTAssertEqual(c.indices.filter { c[$0] }, [19], "only the target '1' after the second 'abcdefgh'")
        var other = w; other[8] = Int(UInt8(ascii: "2"))
        XCTAssertEqual(CopySplit.copyPredictable(other, match: 8).filter { $0 }.count, 0, "control: a different continuation")
        XCTAssertEqual(CopySplit.copyPredictable(w, match: 2).filter { $0 }.count, CopySplit.copyPredictable(w, match: 2).indices.filter { t in
            t >= 1 && (0..<(t - 1)).last(where: { w[$0] == w[t - 1] && w[$0 + 1] == w[t] }).map { w[$0 + 2] == w[t + 1] } ?? false }.count, "brute force at k = 2")
    }

    /// Copy injection: deterministic, only from its step, about the declared fraction of windows, and a copied
    /// window repeats its span with targets still the inputs shifted by one; control: before the step nothing changes.
    func testCopyInjection() throws {
        let T = 64, B = 400
        var rng = RNG(seed: 1)
        let x0 = (0..<(B * T)).map { _ in Int(rng.next() % 256) }
        let y0 = (0..<(B * T)).map { i in i % T == T - 1 ? Int(rng.next() % 256) : x0[i + 1] }
        let ci = CopyInjection(fromStep: 10, fraction: 0.25, span: 8)
        try ci.validate(context: T)
        XCTAssertThrowsError(try CopyInjection(fromStep: 0, fraction: 0.25, span: 40).validate(context: T))
        var x = x0, y = y0
        XCTAssertTrue(ci.apply(inputs: &x, targets: &y, batch: B, context: T, seed: 3, step: 9).allSatisfy { $0 == nil })
        XCTAssertEqual(x, x0)
        let copies = ci.apply(inputs: &x, targets: &y, batch: B, context: T, seed: 3, step: 10)
        let n = copies.compactMap { $0 }.count
        XCTAssertEqual(Double(n) / Double(B), 0.25, accuracy: 0.06)
        for (b, c) in copies.enumerated() {
            let w = Array(x[(b * T)..<((b + 1) * T)]) + [y[(b + 1) * T - 1]]
            XCTAssertEqual(Array(y[(b * T)..<((b + 1) * T)]), Array(w.dropFirst()))
            if let (src, dst) = c { XCTAssertEqual(Array(w[dst..<(dst + 8)]), Array(w[src..<(src + 8)])); XCTAssertGreaterThanOrEqual(dst, src + 8) }
            else { XCTAssertEqual(Array(x[(b * T)..<((b + 1) * T)]), Array(x0[(b * T)..<((b + 1) * T)])) }
        }
        var x2 = x0, y2 = y0
        ci.apply(inputs: &x2, targets: &y2, batch: B, context: T, seed: 3, step: 10)
        XCTAssertEqual(x2, x)
        // A TrainConfig without injection encodes as before (cache keys of other studies unchanged).
        let plain = TrainConfig(steps: 4, batch: 2, context: 64, lr: 3e-3)
        XCTAssertFalse(String(decoding: try JSONEncoder().encode(plain), as: UTF8.self).contains("copyInjection"))
    }

    /// `lab study perplexity --quick` on a generated corpus: the gate (no-go at this size: copies injected), every
    /// model trained and evaluated, numeric CSV cells; a second run reuses every model and gives the same tables.
    func testQuickPresetEndToEndAndCache() throws {
        let dir = temporaryStudyDirectory("perplexity-study")
        defer { try? FileManager.default.removeItem(at: dir) }
        let study = PerplexityStudy(corpus: studyTestCorpus())
        let (r1, report) = try StudyRunner(locateGnuplot: { throw StudyKitError.invalid("no gnuplot in tests") })
            .run(study, preset: .quick, seed: 0, to: dir, reporter: ProgressReporter(mode: .silent))
        XCTAssertTrue(r1.verdict.passed, r1.verdict.summary.joined(separator: "\n"))
        for f in ["perplexity.md", "models.csv", "loss-by-position.csv", "gains.csv", "repeated-passage.csv", "gate.csv", "loss-by-token-index.dat"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), f)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: report.markdown.path))
        let n = PerplexityStudy.models(PerplexityStudy.settings(.quick)).count
        XCTAssertEqual(r1.tables.first { $0.name == "models" }?.rows.count, n)
        XCTAssertEqual(r1.tables.first { $0.name == "loss-by-position" }?.rows.count, 1 + 3 * n)
        XCTAssertEqual(r1.tables.first { $0.name == "gate" }?.rows.count, 2, "the probe at a quarter and at half the budget")
        for t in r1.tables { XCTAssertGreaterThan(assertNumericCSV(t), 0, t.name) }
        XCTAssertTrue(r1.verdict.summary[1].contains("Gate at step 2"), r1.verdict.summary[1])
        let modelDirs = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("models").path)
        let injected = r1.verdict.summary[1].contains("NO-GO")
        XCTAssertEqual(modelDirs.count, n + (injected ? 1 : 0), "one model per layer (+ the gate's natural Transformer when copies were injected)")
        let r2 = try study.run(StudyContext(outputDirectory: dir, preset: .quick, seed: 0, reporter: ProgressReporter(mode: .silent)))
        XCTAssertEqual(r2.tables.map { withoutTimings($0).csv() }, r1.tables.map { withoutTimings($0).csv() })
    }

    /// `--plan` in waves: first the gate alone, then (once it is cached) one run per model; performing every key
    /// and assembling from the cache equals a direct run (``checkPlanRunAssembly`` needs one wave, so by hand).
    func testPlanGateThenModels() throws {
        let study = PerplexityStudy(corpus: studyTestCorpus())
        let silent = ProgressReporter(mode: .silent)
        let shared = temporaryStudyDirectory("ppl-plan"), local = temporaryStudyDirectory("ppl-direct")
        defer { try? FileManager.default.removeItem(at: shared); try? FileManager.default.removeItem(at: local) }
        let ctx = StudyContext(outputDirectory: shared, preset: .quick, seed: 0, reporter: silent)
        XCTAssertFalse(try study.cachedOnly().run(ctx).verdict.passed, "an empty cache cannot pass")
        let first = try study.plan(ctx)
        XCTAssertEqual(first.count, 1)
        XCTAssertTrue(first[0].key.hasPrefix("gate-"))
        XCTAssertFalse(try study.perform(key: first[0].key, ctx))
        let second = try study.plan(ctx)
        XCTAssertEqual(second.count, 1 + PerplexityStudy.models(PerplexityStudy.settings(.quick)).count)
        for r in second where !r.cached { XCTAssertFalse(try study.perform(key: r.key, ctx)) }
        XCTAssertTrue(try study.plan(ctx).allSatisfy(\.cached))
        XCTAssertThrowsError(try study.perform(key: "gate-nothing", ctx))
        let assembled = try study.cachedOnly().run(ctx)
        XCTAssertTrue(assembled.verdict.passed, assembled.verdict.summary.joined(separator: "\n"))
        let direct = try study.run(StudyContext(outputDirectory: local, preset: .quick, seed: 0, reporter: silent))
        XCTAssertEqual(assembled.tables.map { withoutTimings($0) }, direct.tables.map { withoutTimings($0) })
    }

    /// Evaluation on one source's held-out documents; a corpus without it is a one-line error naming `lab data fetch`.
    func testEvaluationSource() throws {
        var s = PerplexityStudy.settings(.quick)
        s.evaluationSource = "bible"; s.windows = PerplexityStudy.allWindows
        let ctx = StudyContext(outputDirectory: temporaryStudyDirectory("ppl-src"), preset: .quick, seed: 0, reporter: ProgressReporter(mode: .silent))
        XCTAssertThrowsError(try PerplexityStudy(corpus: studyTestCorpus(), settings: s).prepare(ctx)) { e in
            XCTAssertTrue("\(e)".contains("lab data fetch"), "\(e)")
        }
        var c = studyTestCorpus()
        c.validation[0].source = "bible"
        let p = try PerplexityStudy(corpus: c, settings: s).prepare(ctx)
        var every = s; every.evaluationSource = nil
        let all = try PerplexityStudy(corpus: c, settings: every).prepare(ctx)
        XCTAssertLessThan(p.windows.count, all.windows.count, "control: only the bible document's windows")
        XCTAssertEqual(p.windows[0].inputs, Array(c.validation[0].bytes.prefix(s.context)).map(Int.init))
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

    /// Averaging evaluations of the same windows averages every value; nan (no copy byte) stays nan.
    func testAverageOfEvaluations() {
        let a = CopySplit.Evaluation(byPosition: [1, 2], all: [[1, 3]], copy: [[.nan, 2]], rest: [[1, 4]], copyCount: [[0, 1]])
        let b = CopySplit.Evaluation(byPosition: [3, 2], all: [[3, 1]], copy: [[.nan, 4]], rest: [[3, 0]], copyCount: [[0, 1]])
        let m = CopySplit.average([a, b])
        XCTAssertEqual(m.byPosition, [2, 2]); XCTAssertEqual(m.all, [[2, 2]]); XCTAssertEqual(m.rest, [[2, 2]])
        XCTAssertTrue(m.copy[0][0].isNaN); XCTAssertEqual(m.copy[0][1], 3)
        XCTAssertNotEqual(CopySplit.average([a, a]).all, m.all)
        let w = WindowStatistic([1, 2, 3, .nan])
        XCTAssertEqual(w.n, 3); XCTAssertEqual(w.mean, 2); XCTAssertEqual(w.se, 1 / 3.0.squareRoot(), accuracy: 1e-12)
    }
}
