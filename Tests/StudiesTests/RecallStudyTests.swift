// RecallStudyTests.swift — the recall study's training pieces (masked loss, scoring, batches, cache)
// and its quick preset end to end. Asserts the pipeline, not the science.
import Foundation
import Layers
import Models
import StudyKit
import TensorCore
import XCTest
import Zoo
@testable import Studies

final class RecallStudyTests: XCTestCase {
    func scratch() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("lab-recall-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: d) }
        return d
    }

    func tinyRun(_ layer: String, steps: Int = 2) throws -> RecallRunConfig {
        var s = RecallStudy.quickSetup
        s.steps = steps
        return try s.runConfig(layer: layer, seed: 3)
    }

    /// The study covers the paper's five layers and every inner-model plugin (issue 8).
    func testLayersIncludeEveryPlugin() {
        let layers = RecallStudy.layers
        for n in LayerRegistry.paperLayers { XCTAssertTrue(layers.contains(n), n) }
        for p in InnerModelRegistry.names { XCTAssertTrue(layers.contains("ttt-\(p)"), "plugin \(p) missing") }
        XCTAssertTrue(layers.contains("ttt-deltanet") && layers.contains("ttt-momentum") && layers.contains("ttt-nadaraya-watson"))
        XCTAssertEqual(Set(layers).count, layers.count)
    }

    /// The masked loss equals the cross-entropy of the full logits restricted to the query rows
    /// (tolerance 1e-5 relative: float sums in another order), and does not see the other positions.
    func testMaskedLossIsCrossEntropyAtQueries() throws {
        let c = try tinyRun("attention")
        let model = try LanguageModel(config: c.model, seed: 1)
        let (_, b) = RecallTrainer.trainBatch(c, step: 0)
        let B = b.inputs.count, T = b.inputs[0].count, V = c.vocab
        let masked = withNoGrad { RecallTrainer.loss(model, b).item }
        let full = withNoGrad { model.logits(b.inputs.flatMap { $0 }, batch: B) }
        var nll = 0.0, n = 0
        for i in 0..<B {
            for t in 0..<T {
                guard let y = b.targets[i][t] else { continue }
                let row = (0..<V).map { Double(full.data[(i * T + t) * V + $0]) }
                let m = row.max()!
                let lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
                nll += lse - row[y]; n += 1
            }
        }
        XCTAssertEqual(n, b.queries)
        XCTAssertEqual(Double(masked), nll / Double(n), accuracy: 1e-5 * nll / Double(n))
        // Scoring agrees with the argmax of the full logits.
        let task = RecallTask(length: T, pairs: c.trainTasks[0].pairs)
        let score = RecallTrainer.score(model, b, task: task, chunk: 3)
        var correct = 0
        for i in 0..<B {
            for t in 0..<T {
                guard let y = b.targets[i][t] else { continue }
                let row = (0..<V).map { full.data[(i * T + t) * V + $0] }
                if row.indices.max(by: { row[$0] < row[$1] }) == y { correct += 1 }
            }
        }
        XCTAssertEqual(score.queries, b.queries)
        XCTAssertEqual(score.correct, correct)
    }

    /// Training batches are a function of (seed, step); held-out batches differ from training ones.
    func testBatchesAreSeededAndHeldOut() throws {
        let c = try tinyRun("attention")
        XCTAssertEqual(RecallTrainer.trainBatch(c, step: 5).1.inputs, RecallTrainer.trainBatch(c, step: 5).1.inputs)
        XCTAssertNotEqual(RecallTrainer.trainBatch(c, step: 5).1.inputs, RecallTrainer.trainBatch(c, step: 6).1.inputs)
        let t = c.testTasks[0]
        let test = RecallTrainer.testBatch(c, task: t)
        XCTAssertEqual(test.inputs.count, c.testSequences)
        let train = Set((0..<c.trainTasks.count * 4).map { RecallTrainer.trainBatch(c, step: $0).1.inputs }.joined())
        XCTAssertTrue(test.inputs.allSatisfy { !train.contains($0) }, "a held-out sequence appears in training")
    }

    /// A run is cached under its key and reused (same numbers, nothing retrained); a changed config is not reused.
    func testRunsAreCachedByConfig() throws {
        let dir = try scratch()
        let c = try tinyRun("ttt-linear")
        var steps = 0
        let (first, cached1) = try RecallTrainer.run(c, cacheDir: dir) { _ in steps += 1 }
        XCTAssertFalse(cached1); XCTAssertEqual(steps, c.steps)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(c.key).appendingPathComponent("model.safetensors").path))
        steps = 0
        let (again, cached2) = try RecallTrainer.run(c, cacheDir: dir) { _ in steps += 1 }
        XCTAssertTrue(cached2); XCTAssertEqual(steps, 0)
        XCTAssertEqual(again.scores, first.scores)
        // The cached weights score the same as the run that trained them.
        let model = try RecallTrainer.loadModel(c, from: dir)
        let t = c.testTasks[0]
        XCTAssertEqual(RecallTrainer.score(model, RecallTrainer.testBatch(c, task: t), task: t), first.score(t))
        var other = c; other.steps += 1
        XCTAssertNotEqual(other.key, c.key)
        XCTAssertFalse(try RecallTrainer.run(other, cacheDir: dir).cached)
    }

    /// Training lowers the masked loss on a single easy setting below guessing among the 128 values
    /// (ln 128 ≈ 4.85 nats; the untrained model is above it).
    func testTrainingLearnsSomething() throws {
        var s = RecallStudy.quickSetup
        s.pairsGrid = [2]; s.lengthGrid = [16]; s.lengthPairs = 2; s.pairsLength = 16
        s.steps = 300; s.batch = 8; s.lr = 1e-2
        let c = try s.runConfig(layer: "attention", seed: 0)
        let run = try RecallTrainer.run(c, cacheDir: nil).run
        print("loss \(run.lossCurve.first![1]) → \(run.lossCurve.last![1])")
        XCTAssertGreaterThan(run.lossCurve.first![1], log(128.0))
        XCTAssertLessThan(run.lossCurve.last![1], log(128.0) - 0.1, "loss \(run.lossCurve.first![1]) → \(run.lossCurve.last![1])")
    }

    /// The supplementary longer runs: a table with each layer's main run and its long run, cached separately.
    func testLongRunsSupplement() throws {
        var s = RecallStudy.quickSetup
        s.longLayers = ["attention", "not-in-the-study"]; s.longSteps = 5
        let dir = try scratch()
        let ctx = StudyContext(outputDirectory: dir, preset: .quick, reporter: ProgressReporter(mode: .silent))
        let r = try RecallStudy(only: ["attention", "ttt-linear"], setup: s).run(ctx)
        let t = try XCTUnwrap(r.tables.first { $0.name == "long-runs" })
        XCTAssertEqual(t.rows.map { $0[0] }, [.text("attention"), .text("attention")])
        XCTAssertEqual(t.rows.map { $0[1] }, [.integer(s.steps), .integer(5)])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("runs").path).count, 3)
    }

    /// The quick preset end to end through the runner: every layer trained, scored, charted, cached.
    func testQuickPresetEndToEnd() throws {
        let dir = try scratch()
        let silent = ProgressReporter(mode: .silent)
        let runner = StudyRunner(locateGnuplot: { throw StudyKitError.invalid("no gnuplot in tests") })
        let (r, report) = try runner.run(RecallStudy(), preset: .quick, seed: 0, to: dir, reporter: silent)
        XCTAssertTrue(r.verdict.passed, r.verdict.summary.joined(separator: "\n"))
        let pairs = r.tables.first { $0.name == "accuracy-vs-pairs" }!, runs = r.tables.first { $0.name == "runs" }!
        XCTAssertEqual(pairs.rows.count, RecallStudy.layers.count + 1, "one row per layer + the copy baseline")
        XCTAssertEqual(pairs.rows.last?.last, .number(1.0 / Double(RecallStudy.quickSetup.pairsGrid.last!)))
        XCTAssertEqual(pairs.columns.count, 1 + RecallStudy.quickSetup.pairsGrid.count)
        for row in pairs.rows { for cell in row.dropFirst() { if case .number(let a) = cell { XCTAssertTrue((0...1).contains(a)) } else { XCTFail("\(cell)") } } }
        XCTAssertEqual(r.charts.first?.panels.count, 2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: report.markdown.path))
        XCTAssertTrue(runs.rows.allSatisfy { $0.last == .text("no") })
        // Second run: everything comes from the cache, with the same accuracies.
        let (r2, _) = try runner.run(RecallStudy(), preset: .quick, seed: 0, to: dir, reporter: silent)
        XCTAssertTrue(r2.tables.first { $0.name == "runs" }!.rows.allSatisfy { $0.last == .text("yes") })
        XCTAssertEqual(r2.tables.first { $0.name == "accuracy-vs-pairs" }, pairs)
    }
}
