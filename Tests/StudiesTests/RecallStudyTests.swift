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
        return try s.runConfig(layer: layer, width: 16, lr: 3e-3, seed: 3)
    }

    /// The study covers the paper's five layers and every inner-model plugin (issue 8).
    func testLayersIncludeEveryPlugin() {
        let layers = RecallStudy.layers
        for n in LayerRegistry.paperLayers { XCTAssertTrue(layers.contains(n), n) }
        for p in InnerModelRegistry.names { XCTAssertTrue(layers.contains("ttt-\(p)"), "plugin \(p) missing") }
        XCTAssertTrue(layers.contains("ttt-deltanet") && layers.contains("ttt-momentum") && layers.contains("ttt-nadaraya-watson"))
        XCTAssertEqual(Set(layers).count, layers.count)
    }

    /// The default preset plans exactly the layers the criteria judge (the ≤ 4 h budget); `--full` plans every
    /// registry layer, and `--layers` overrides either. Control: the quick preset (no preset list) plans all.
    func testPresetLayers() throws {
        let silent = ProgressReporter(mode: .silent)
        func planned(_ preset: Preset, only: [String]? = nil) throws -> Set<String> {
            let ctx = StudyContext(outputDirectory: try scratch(), preset: preset, seed: 0, reporter: silent)
            return Set(try RecallStudy(only: only).plan(ctx).map { String($0.label.split(separator: ",")[0]) })
        }
        XCTAssertEqual(try planned(.standard), Set(RecallStudy.criterionLayers))
        XCTAssertEqual(try planned(.full), Set(RecallStudy.layers))
        XCTAssertEqual(try planned(.quick), Set(RecallStudy.layers))
        XCTAssertEqual(try planned(.standard, only: ["ttt-mlp"]), ["ttt-mlp"])
        XCTAssertTrue(Set(RecallStudy.criterionLayers).isSubset(of: Set(RecallStudy.layers)))
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

    /// Training lowers the masked loss on a single easy setting below guessing among the values
    /// (ln 32 ≈ 3.47 nats at vocab 64; the untrained model is above it).
    func testTrainingLearnsSomething() throws {
        var s = RecallStudy.quickSetup
        s.trainTasks = [RecallTask(length: 16, pairs: 2)]; s.trainWeights = [1]; s.testTasks = s.trainTasks; s.zoologyTasks = s.trainTasks
        s.steps = 300; s.batch = 8; s.evalEvery = 0
        let c = try s.runConfig(layer: "attention", width: 16, lr: 1e-2, seed: 0)
        let run = try RecallTrainer.run(c, cacheDir: nil).run
        XCTAssertGreaterThan(run.lossCurve.first![1], log(32.0))
        XCTAssertLessThan(run.lossCurve.last![1], log(32.0) - 0.1, "loss \(run.lossCurve.first![1]) → \(run.lossCurve.last![1])")
    }

    /// Fresh data every step: 60 steps of the mixture give 60 × batch distinct sequences (none reused),
    /// and the same (seed, step) gives the same batch. Negative control: a sampler that reused one
    /// step's batch would be caught by the same count.
    func testFreshDataEveryStep() throws {
        let c = try tinyRun("attention")
        var seen = Set<[Int]>(), total = 0
        for step in 0..<60 { for x in RecallTrainer.trainBatch(c, step: step).1.inputs { seen.insert(x); total += 1 } }
        XCTAssertEqual(seen.count, total, "a training sequence was reused")
        XCTAssertEqual(RecallTrainer.trainBatch(c, step: 7).1.inputs, RecallTrainer.trainBatch(c, step: 7).1.inputs)
        var reused = Set<[Int]>()
        for _ in 0..<2 { for x in RecallTrainer.trainBatch(c, step: 0).1.inputs { reused.insert(x) } }
        XCTAssertLessThan(reused.count, 2 * c.batch, "control: reusing a batch must be detectable")
    }

    /// The mixture sampler draws each task with frequency ∝ weight: over 40 000 draws every frequency
    /// is within 1 percentage point (> 5 standard errors) of its weight share. Negative control: the same
    /// check against uniform shares fails for Zoology's 5:1:1:1:1 mixture.
    func testMixtureSamplerFollowsWeights() {
        let tasks = RecallStudy.zoologyMixture.tasks, weights = RecallStudy.zoologyMixture.weights
        var rng = RNG(seed: 4), counts = [RecallTask: Int]()
        let n = 40_000
        for _ in 0..<n { counts[RecallTrainer.sampleTask(tasks, weights: weights, rng: &rng), default: 0] += 1 }
        func maxGap(_ shares: [Double]) -> Double {
            zip(tasks, shares).map { abs(Double(counts[$0] ?? 0) / Double(n) - $1) }.max()!
        }
        let total = weights.reduce(0, +)
        XCTAssertLessThan(maxGap(weights.map { $0 / total }), 0.01)
        XCTAssertGreaterThan(maxGap(tasks.map { _ in 1 / Double(tasks.count) }), 0.01, "control: uniform shares must fail")
        // Short sequences dominate, and the training batch of a step uses the sampled task's length.
        XCTAssertGreaterThan(Double(counts[tasks[0]]!) / Double(n), 0.5)
        let c = try! tinyRun("attention")
        for step in 0..<20 {
            let (t, b) = RecallTrainer.trainBatch(c, step: step)
            XCTAssertTrue(b.inputs.allSatisfy { $0.count == t.length } && b.queries == c.batch * t.pairs)
        }
    }

    /// Early stop: with a target every accuracy meets (0) the run stops at the first validation (step
    /// `evalEvery`); with no target, or an unreachable one (1.01), it runs the whole budget.
    func testEarlyStopAtTarget() throws {
        var c = try tinyRun("attention", steps: 6)
        c.evalEvery = 2; c.stopAt = 0
        let stopped = try RecallTrainer.run(c, cacheDir: nil).run
        XCTAssertEqual(stopped.stepsRun, 2)
        XCTAssertEqual(stopped.evals.map(\.step), [2])
        XCTAssertEqual(stopped.evals[0].examples, 2 * c.batch)
        for target in [nil, 1.01] as [Double?] {
            c.stopAt = target
            let full = try RecallTrainer.run(c, cacheDir: nil).run
            XCTAssertEqual(full.stepsRun, 6, "target \(String(describing: target))")
            XCTAssertEqual(full.evals.map(\.step), [2, 4, 6])
        }
    }

    /// A synthetic finished run with the given test accuracies and first step reaching 99%.
    func fakeRun(lr: Float, acc: [Double], reach99: Int?, diverged: Bool = false, validation: [Double]? = nil) throws -> RecallRun {
        var c = try tinyRun("attention"); c.lr = lr
        let scores = zip(c.testTasks, acc).map { RecallScore(task: $0, correct: Int(($1 * 1000).rounded()), queries: 1000) }
        var evals = [RecallEval(step: 1, examples: 10, seconds: 1, accuracy: acc.map { _ in 0 })]
        if let r = reach99 { evals.append(RecallEval(step: r, examples: r * 10, seconds: 2, accuracy: acc.map { _ in 1 })) }
        if let v = validation { evals.append(RecallEval(step: 10, examples: 100, seconds: 3, accuracy: v)) }
        return RecallRun(config: c, parameters: 0, scores: scores, lossCurve: [], finalTrainLoss: diverged ? .infinity : 1,
                         trainSeconds: 1, medianStepSeconds: 0, stepsRun: 10, evals: evals, divergedAt: diverged ? 3 : nil)
    }

    /// The lr is selected on the validation stream only: the run with the highest mean final validation
    /// accuracy, ties within 0.5 points to the lower lr, a diverged run never; test accuracies do not move
    /// the choice (the sweep's audit would reject a rule that read them).
    func testLrSelectionUsesValidationOnly() throws {
        func scores(_ runs: [RecallRun]) -> SelectionRule.Scores { runs.map { (compactScientific(Double($0.config.lr)), [RecallStudy.metrics($0)]) } }
        // validation (last eval) favours b; test favours c.
        let a = try fakeRun(lr: 1e-3, acc: [0.5, 0.4], reach99: nil, validation: [0.3, 0.3])
        let b = try fakeRun(lr: 3e-3, acc: [0.6, 0.5], reach99: nil, validation: [0.9, 0.8])
        let c = try fakeRun(lr: 1e-2, acc: [0.99, 0.99], reach99: nil, validation: [0.7, 0.6])
        XCTAssertEqual(RecallStudy.selectionRule.choose(scores([a, b, c])), 1)
        let tie = try fakeRun(lr: 1e-2, acc: [1, 1], reach99: nil, validation: [0.898, 0.798])
        XCTAssertEqual(RecallStudy.selectionRule.choose(scores([b, tie])), 0, "within 0.5 points: the lower lr")
        let blown = try fakeRun(lr: 3e-2, acc: [1, 1], reach99: 5, diverged: true, validation: [1, 1])
        XCTAssertTrue(RecallStudy.metrics(blown).validation.isNaN)
        XCTAssertEqual(RecallStudy.selectionRule.choose(scores([a, blown])), 0)
        // Control: ranking by test would pick c — the two streams disagree here, so the check above is not vacuous.
        XCTAssertTrue(RecallStudy.metrics(c).test > RecallStudy.metrics(b).test)
        XCTAssertEqual(RecallStudy.logspaceLRs.map { compactScientific(Double($0)) }, ["1e-4", "4.64e-4", "2.15e-3", "1e-2"])
        XCTAssertEqual(RecallStudy.standardSetup.depth("attention"), 2)
        XCTAssertEqual(RecallStudy.standardSetup.depth("ttt-linear"), 4)
        XCTAssertEqual(try RecallStudy.standardSetup.modelConfig(layer: "mamba", width: 64).layers, 4)
    }

    /// TTT-MLP gets the ρ warmup of `lab train` (ρ = 0.1 → 1 over the lr warmup, seen by the model at
    /// every step); other layers keep ρ = 1 (their config has no warmup).
    func testTTTMLPRhoWarmupApplied() throws {
        var c = try tinyRun("ttt-mlp", steps: 10)
        c.warmupFraction = 0.5
        XCTAssertEqual(c.tttLRMultStart, 0.1)
        var seen: [Float] = []
        _ = try RecallTrainer.run(c, cacheDir: nil, observe: { _, m in seen.append((m.blocks[0].mixer as! TTTLayer).lrMult) })
        XCTAssertEqual(seen.count, 10)
        for (s, rho) in seen.enumerated() { XCTAssertEqual(rho, c.tttLRMult(step: s), accuracy: 1e-7) }
        XCTAssertEqual(seen[0], 0.1 + 0.9 / 5, accuracy: 1e-6)
        XCTAssertEqual(seen[4], 1, accuracy: 1e-6)
        XCTAssertLessThan(seen[0], 0.5, "control: warmup starts well below 1")
        XCTAssertNil(try tinyRun("ttt-linear").tttLRMultStart)
        XCTAssertNil(try tinyRun("attention").tttLRMultStart)
    }

    /// Tables with the time columns (seconds: not reproducible) dropped.
    func timeless(_ t: Table) -> Table {
        var t = t
        let keep = t.columns.indices.filter { !["s", "ms"].contains(t.columns[$0].unit ?? "") && t.columns[$0].name != "cached" }
        t.columns = keep.map { t.columns[$0] }
        t.rows = t.rows.map { r in keep.map { r[$0] } }
        return t
    }

    /// --plan/--run round trip: performing every planned key (wave 1, then the wave 2 the plan shows once
    /// wave 1 is cached) into one directory, then assembling there, gives the same tables as running the
    /// study in-process in another directory; nothing is retrained at assembly. Unknown keys are refused.
    func testPlanRunRoundTrip() throws {
        let study = RecallStudy(only: ["attention", "ttt-linear"])
        let silent = ProgressReporter(mode: .silent)
        let shared = try scratch(), local = try scratch()
        let ctx = StudyContext(outputDirectory: shared, preset: .quick, seed: 0, reporter: silent)
        var waves = 0, performed = Set<String>()
        while true {
            let lines = try study.planLines(ctx, command: "lab study recall --quick")
            if lines.isEmpty { break }
            waves += 1
            for line in lines {
                XCTAssertTrue(line.hasPrefix("lab study recall --quick --run "))
                let words = line.split(separator: " ").map(String.init)
                let key = words[words.firstIndex(of: "--run")! + 1]
                XCTAssertTrue(line.contains("  # "), "the label follows as a shell comment")
                XCTAssertFalse(try study.perform(key: key, ctx), "planned runs are not cached yet")
                performed.insert(key)
            }
            XCTAssertLessThan(waves, 4)
        }
        XCTAssertEqual(waves, 2, "selection wave, then the report wave at fresh seeds")
        XCTAssertEqual(performed.count, 2 * 2 + 2 * 3, "2 layers × 2 lrs at the selection seed, then 2 layers × 3 fresh seeds")
        XCTAssertTrue(try study.plan(ctx).allSatisfy(\.cached))
        XCTAssertThrowsError(try study.perform(key: "attention-000000000000", ctx))
        // Assembling from the cache only equals assembling with training allowed (all is cached) ...
        let assembled = try study.cachedOnly().run(ctx)
        XCTAssertTrue(assembled.verdict.summary[0].hasPrefix("Pipeline verdict: PASS"), assembled.verdict.summary[0])
        // ... and with a run missing it trains nothing and says which run is missing.
        let partial = try scratch()
        let pctx = StudyContext(outputDirectory: partial, preset: .quick, seed: 0, reporter: silent)
        let firstKey = try study.plan(pctx)[0].key
        _ = try study.perform(key: firstKey, pctx)
        let incomplete = try study.cachedOnly().run(pctx)
        XCTAssertFalse(incomplete.verdict.passed)
        XCTAssertTrue(incomplete.verdict.summary[0].contains("3 of 4 planned runs not in the cache"), incomplete.verdict.summary[0])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: partial.appendingPathComponent("runs").path).count, 1)
        let direct = try study.run(StudyContext(outputDirectory: local, preset: .quick, seed: 0, reporter: silent))
        for name in ["accuracy", "runs"] {
            let a = try XCTUnwrap(assembled.tables.first { $0.name == name }), d = try XCTUnwrap(direct.tables.first { $0.name == name })
            XCTAssertEqual(timeless(a), timeless(d), name)
        }
        XCTAssertTrue(assembled.tables.first { $0.name == "runs" }!.rows.allSatisfy { $0.last == .text("yes") }, "assembly retrained a run")
        XCTAssertTrue(direct.tables.first { $0.name == "runs" }!.rows.allSatisfy { $0.last == .text("no") })
        // Control: a different seed gives different tables, so the equality above is not vacuous.
        let other = try study.run(StudyContext(outputDirectory: try scratch(), preset: .quick, seed: 1, reporter: silent))
        XCTAssertNotEqual(timeless(other.tables.first { $0.name == "runs" }!), timeless(direct.tables.first { $0.name == "runs" }!))
    }

    /// The quick preset end to end through the runner: every layer trained, scored, charted, cached.
    func testQuickPresetEndToEnd() throws {
        let dir = try scratch()
        let silent = ProgressReporter(mode: .silent)
        let runner = StudyRunner(locateGnuplot: { throw StudyKitError.invalid("no gnuplot in tests") })
        let (r, report) = try runner.run(RecallStudy(), preset: .quick, seed: 0, to: dir, reporter: silent)
        XCTAssertTrue(r.verdict.passed, r.verdict.summary.joined(separator: "\n"))
        let acc = r.tables.first { $0.name == "accuracy" }!, runs = r.tables.first { $0.name == "runs" }!
        XCTAssertEqual(acc.rows.count, RecallStudy.layers.count + 1, "one row per layer + the copy baseline")
        XCTAssertEqual(runs.rows.count, RecallStudy.layers.count * (2 + 3), "2 lrs at the selection seed + 3 reported seeds per layer")
        // Machine-readable cells: lr as a short text like 3e-3, means and SEs as numbers in their own columns.
        let csv = acc.csv()
        XCTAssertFalse(csv.contains("±"), csv)
        XCTAssertTrue(csv.contains(",3e-3,") || csv.contains(",1e-2,"), csv)
        XCTAssertTrue(acc.columns.contains { $0.name.hasSuffix(" SE") })
        XCTAssertEqual(r.charts.first?.panels.count, 2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: report.markdown.path))
        XCTAssertTrue(runs.rows.allSatisfy { $0.last == .text("no") })
        let (r2, _) = try runner.run(RecallStudy(), preset: .quick, seed: 0, to: dir, reporter: silent)
        XCTAssertTrue(r2.tables.first { $0.name == "runs" }!.rows.allSatisfy { $0.last == .text("yes") })
        XCTAssertEqual(timeless(r2.tables.first { $0.name == "accuracy" }!), timeless(acc))
    }
}
