// RecallStudy.swift — `lab study recall`: multi-query associative recall (MQAR) trained Zoology's way
// (short conv before every mixer, no MLP, a length mixture dominated by short sequences, fresh data
// every step, a per-layer lr sweep, early stop at the target), for the paper's layers and every plugin.
// Its runs are independent (layer × width × lr × seed), so it is a DistributedStudy: `--plan`/`--run`.
import Foundation
import Layers
import Models
import StudyKit
import TensorCore
import Zoo

public struct RecallStudy: DistributedStudy {
    public let name = "recall"
    public let title = "Multi-query associative recall (MQAR), Zoology's recipe: attention vs fixed-state layers"
    public let claim = """
    Zoology (Arora et al. 2023) finds that attention solves multi-query associative recall (≈ 100% at \
    (T, pairs) = (64, 4), (128, 8), (256, 16) with two blocks of width 64), while layers with a fixed-size \
    linear state (linear attention, Mamba-like SSMs) fall far behind as the number of pairs grows at equal \
    width; delta-rule layers sit between. The TTT paper argues that a hidden state that is itself a model \
    trained at test time (TTT-Linear, TTT-MLP) is more expressive than a linear recurrence. This study \
    trains the same two-block model around each layer — the paper's five and every inner-model plugin — \
    with Zoology's recipe and measures exact-match recall on held-out sequences.
    """
    public let paperReference = "Arora et al. 2023 (Zoology), MQAR; Sun et al. 2024 §2 (expressive hidden states); docs/ttt.md §6"

    /// The layers of the study: the paper's five, then the other inner-model plugins (as `ttt-<name>`).
    public static var layers: [String] {
        LayerRegistry.paperLayers + InnerModelRegistry.names.filter { !["linear", "mlp"].contains($0) }.map { "ttt-\($0)" }
    }

    /// Sizes and recipe of one preset.
    public struct Setup: Sendable {
        /// Model widths D (each layer is run at each).
        public var widths: [Int]
        public var heads: Int, blocks: Int
        /// SwiGLU width; 0: blocks without the MLP (Zoology's MQAR models).
        public var mlpHidden: Int
        /// Gated short conv kernel before every mixer (nil: none).
        public var shortConv: Int?
        public var vocab: Int
        /// The training mixture and its weights (one task per step, drawn ∝ weight).
        public var trainTasks: [RecallTask]
        public var trainWeights: [Double]
        /// Scored settings; `zoologyTasks` are the headline ones (time/examples to 90%/99% are measured on them).
        public var testTasks: [RecallTask]
        public var zoologyTasks: [RecallTask]
        /// Step budget, sequences per step, the lr sweep.
        public var steps: Int, batch: Int
        public var lrs: [Float]
        public var testSequences: Int
        /// Early stop: validate every `evalEvery` steps on `evalSequences` per setting; stop at `stopAt` on all.
        public var evalEvery: Int, evalSequences: Int
        public var stopAt: Double?
        /// Extra seeds (at the best lr) for layers within `closeMargin` of another layer at the hardest
        /// setting, among layers at or above `seedFloor` there (layers all at chance are not worth seeds).
        public var extraSeeds: Int
        public var closeMargin: Double = 0.10
        public var seedFloor: Double = 0.05

        /// The hardest setting (last test task): the ordering is judged there.
        public var hardest: RecallTask { testTasks[testTasks.count - 1] }

        public func modelConfig(layer: String, width: Int) throws -> ModelConfig {
            // Mamba blocks have no MLP of their own: twice as many of them, as in the lab's presets.
            let L = Backbone.implied(by: layer) == .mambaStack ? 2 * blocks : blocks
            var c = ModelConfig(layer: layer, vocab: vocab, width: width, heads: heads, layers: L, mlpHidden: max(mlpHidden, 1),
                                miniBatch: 16, preset: "recall")
            if mlpHidden == 0 { c.noMLP = true }
            c.shortConv = shortConv
            try c.validate()
            return c
        }

        public func runConfig(layer: String, width: Int, lr: Float, seed: UInt64) throws -> RecallRunConfig {
            var c = RecallRunConfig(model: try modelConfig(layer: layer, width: width), trainTasks: trainTasks, trainWeights: trainWeights,
                                    testTasks: testTasks, steps: steps, batch: batch, lr: lr, testSequences: testSequences, seed: seed)
            c.evalEvery = evalEvery; c.evalSequences = evalSequences; c.stopAt = stopAt
            return c
        }
    }

    public static let quickSetup = Setup(
        widths: [16], heads: 1, blocks: 1, mlpHidden: 0, shortConv: 3, vocab: 64,
        trainTasks: [RecallTask(length: 16, pairs: 2), RecallTask(length: 32, pairs: 4)], trainWeights: [3, 1],
        testTasks: [RecallTask(length: 16, pairs: 2), RecallTask(length: 32, pairs: 4)],
        zoologyTasks: [RecallTask(length: 16, pairs: 2)],
        steps: 4, batch: 4, lrs: [3e-3, 1e-2], testSequences: 8, evalEvery: 2, evalSequences: 8, stopAt: 0.99,
        extraSeeds: 2, seedFloor: 0)

    /// Zoology's training mixture (its MQAR configs: 100k examples at (64, 4), 20k at each longer one).
    static let zoologyMixture: (tasks: [RecallTask], weights: [Double]) = (
        [RecallTask(length: 64, pairs: 4), RecallTask(length: 128, pairs: 8), RecallTask(length: 256, pairs: 16),
         RecallTask(length: 256, pairs: 32), RecallTask(length: 256, pairs: 64)], [5, 1, 1, 1, 1])
    static let zoologySettings = [RecallTask(length: 64, pairs: 4), RecallTask(length: 128, pairs: 8), RecallTask(length: 256, pairs: 16)]

    public static let standardSetup = Setup(
        widths: [64], heads: 1, blocks: 2, mlpHidden: 0, shortConv: 3, vocab: 256,
        trainTasks: zoologyMixture.tasks, trainWeights: zoologyMixture.weights,
        testTasks: zoologySettings + [RecallTask(length: 256, pairs: 64)], zoologyTasks: zoologySettings,
        steps: 2000, batch: 64, lrs: [1e-3, 3e-3, 1e-2], testSequences: 256, evalEvery: 50, evalSequences: 64, stopAt: 0.99,
        extraSeeds: 2)

    public static let fullSetup: Setup = {
        var s = standardSetup
        s.widths = [64, 128]; s.steps = 3000; s.batch = 64; s.testSequences = 256; s.evalSequences = 128
        return s
    }()

    /// The row/series of the copy baseline (accuracy 1/pairs).
    static let copyBaseline = "baseline: a random value from the context"

    public var presets: [Preset: String] {
        func d(_ s: Setup) -> String {
            let mix = zip(s.trainTasks, s.trainWeights).map { "(\($0.length),\($0.pairs))×\(Int($1))" }.joined(separator: " ")
            return "\(s.blocks) blocks (Mamba \(2 * s.blocks)) × D\(s.widths.map(String.init).joined(separator: "/")), H\(s.heads), " +
                (s.mlpHidden == 0 ? "no MLP" : "I\(s.mlpHidden)") + (s.shortConv.map { ", gated short conv k\($0)" } ?? "") + ", V\(s.vocab); " +
                "train mixture \(mix); ≤ \(s.steps) steps × \(s.batch) sequences, lr ∈ {\(s.lrs.map { "\($0)" }.joined(separator: ", "))}, " +
                "stop at \(Int(100 * (s.stopAt ?? 1)))% (validated every \(s.evalEvery) steps); \(s.testSequences) held-out sequences per setting; " +
                "+\(s.extraSeeds) seeds for close layers"
        }
        return [.quick: d(Self.quickSetup), .standard: d(Self.standardSetup), .full: d(Self.fullSetup)]
    }

    /// Layers to run (default: all of ``layers``).
    public var only: [String]?
    /// Sizes to use instead of the preset's (tests).
    public var setup: Setup?

    /// Assemble from the cache only (``DistributedStudy/cachedOnly()``).
    public var trainsMissing = true

    public init(only: [String]? = nil, setup: Setup? = nil) { self.only = only; self.setup = setup }

    public func cachedOnly() -> RecallStudy { var s = self; s.trainsMissing = false; return s }

    func setup(_ ctx: StudyContext) -> Setup {
        setup ?? ctx.pick(quick: Self.quickSetup, standard: Self.standardSetup, full: Self.fullSetup)
    }
    static func cacheDir(_ ctx: StudyContext) -> URL { ctx.outputDirectory.appendingPathComponent("runs") }

    // MARK: the plan

    /// The sweep's runs (wave 1): every layer × width × lr at the context's seed.
    func sweepConfigs(_ s: Setup, _ ctx: StudyContext) throws -> [RecallRunConfig] {
        var out: [RecallRunConfig] = []
        for w in s.widths { for l in only ?? Self.layers { for lr in s.lrs { out.append(try s.runConfig(layer: l, width: w, lr: lr, seed: ctx.seed)) } } }
        return out
    }

    /// Wave 2: extra seeds at the best lr for the close layers of each width whose sweep is complete in `runs`.
    func seedConfigs(_ s: Setup, _ ctx: StudyContext, sweep: [RecallRunConfig], runs: [String: RecallRun]) throws -> [RecallRunConfig] {
        guard s.extraSeeds > 0 else { return [] }
        var out: [RecallRunConfig] = []
        for w in s.widths {
            let mine = sweep.filter { $0.model.width == w }
            guard mine.allSatisfy({ runs[$0.key] != nil }) else { continue }
            var best: [String: RecallRun] = [:]
            for l in only ?? Self.layers {
                if let b = Self.bestRun(mine.filter { $0.model.layer == l }.compactMap { runs[$0.key] }, zoology: s.zoologyTasks, all: s.testTasks) { best[l] = b }
            }
            let acc = best.mapValues { $0.score(s.hardest)?.accuracy ?? 0 }
            for l in Self.closeLayers(acc, margin: s.closeMargin, floor: s.seedFloor) {
                let lr = best[l]!.config.lr
                for k in 1...s.extraSeeds { out.append(try s.runConfig(layer: l, width: w, lr: lr, seed: ctx.seed &+ UInt64(k))) }
            }
        }
        return out
    }

    /// Layers (in `acc`'s key order, sorted) at or above `floor` with another such layer within `margin`.
    public static func closeLayers(_ acc: [String: Double], margin: Double, floor: Double) -> [String] {
        let eligible = acc.filter { $0.value >= floor }
        return eligible.keys.sorted().filter { l in eligible.contains { $0.key != l && abs($0.value - eligible[l]!) <= margin } }
    }

    /// The lr sweep's pick among runs of one layer (same width and seed): diverged runs are out; then
    /// the highest mean test accuracy over every setting; within 0.5 points of it, the fewest examples
    /// to reach 99% on the Zoology settings; then the lower lr.
    public static func bestRun(_ runs: [RecallRun], zoology: [RecallTask], all: [RecallTask]) -> RecallRun? {
        let ok = runs.filter { $0.divergedAt == nil }
        guard let top = ok.map({ $0.meanAccuracy(all) }).max() else { return runs.min { $0.config.lr < $1.config.lr } }
        let near = ok.filter { $0.meanAccuracy(all) >= top - 0.005 }
        return near.min { a, b in
            let ea = a.firstReaching(0.99, on: zoology)?.examples ?? .max, eb = b.firstReaching(0.99, on: zoology)?.examples ?? .max
            return ea != eb ? ea < eb : a.config.lr < b.config.lr
        }
    }

    public func plan(_ ctx: StudyContext) throws -> [PlannedRun] {
        let s = setup(ctx), dir = Self.cacheDir(ctx)
        let sweep = try sweepConfigs(s, ctx)
        var runs: [String: RecallRun] = [:]
        for c in sweep { if let r = try? RecallTrainer.load(from: dir.appendingPathComponent(c.key)), r.config == c { runs[c.key] = r } }
        let seeds = try seedConfigs(s, ctx, sweep: sweep, runs: runs)
        func cached(_ c: RecallRunConfig) -> Bool {
            runs[c.key] != nil || ((try? RecallTrainer.load(from: dir.appendingPathComponent(c.key)))??.config == c)
        }
        return (sweep + seeds).map { PlannedRun(key: $0.key, label: Self.label($0), cached: cached($0)) }
    }

    public func perform(key: String, _ ctx: StudyContext) throws -> Bool {
        let s = setup(ctx), dir = Self.cacheDir(ctx)
        let sweep = try sweepConfigs(s, ctx)
        var config = sweep.first { $0.key == key }
        if config == nil {
            var runs: [String: RecallRun] = [:]
            for c in sweep { if let r = try? RecallTrainer.load(from: dir.appendingPathComponent(c.key)), r.config == c { runs[c.key] = r } }
            config = try seedConfigs(s, ctx, sweep: sweep, runs: runs).first { $0.key == key }
        }
        guard let c = config else { throw unknownRun(key, plan: try plan(ctx)) }
        ctx.progress("recall: \(Self.label(c)) (\(c.key))")
        let bar = ctx.progressBar(Self.label(c), total: c.steps)
        let (_, cached) = try RecallTrainer.run(c, cacheDir: dir) { _ in bar.advance() }
        bar.finish()
        return cached
    }

    static func label(_ c: RecallRunConfig) -> String { "\(c.model.layer), D\(c.model.width), lr \(c.lr), seed \(c.seed)" }

    // MARK: the study

    public func run(_ ctx: StudyContext) throws -> StudyResult {
        let s = setup(ctx), dir = Self.cacheDir(ctx)
        let layers = only ?? Self.layers
        var runs: [String: RecallRun] = [:], cachedKeys = Set<String>()
        func train(_ configs: [RecallRunConfig]) throws {
            for c in configs {
                if !trainsMissing {
                    if let r = try? RecallTrainer.load(from: dir.appendingPathComponent(c.key)), r.config == c { runs[c.key] = r; cachedKeys.insert(c.key) }
                    continue
                }
                ctx.progress("recall: \(Self.label(c)) (\(c.key))")
                let bar = ctx.progressBar(Self.label(c), total: c.steps)
                let (r, cached) = try RecallTrainer.run(c, cacheDir: dir) { _ in bar.advance() }
                bar.finish()
                runs[c.key] = r
                if cached { cachedKeys.insert(c.key) }
            }
        }
        let sweep = try sweepConfigs(s, ctx)
        try train(sweep)
        let seedRuns = try seedConfigs(s, ctx, sweep: sweep, runs: runs)
        try train(seedRuns)
        return assemble(s, ctx, layers: layers, sweep: sweep, seedRuns: seedRuns, runs: runs, cachedKeys: cachedKeys)
    }

    func assemble(_ s: Setup, _ ctx: StudyContext, layers: [String], sweep: [RecallRunConfig], seedRuns: [RecallRunConfig],
                  runs: [String: RecallRun], cachedKeys: Set<String>) -> StudyResult {
        let chance = RecallTrainer.chance(vocab: s.vocab)
        let tasks = s.testTasks
        func tname(_ t: RecallTask) -> String { "(\(t.length), \(t.pairs))" }

        // Per (width, layer): the sweep's best run, and its seeds.
        struct Pick { var layer: String; var width: Int; var best: RecallRun; var seeds: [RecallRun] }
        var picks: [Pick] = []
        for w in s.widths {
            for l in layers {
                let mine = sweep.filter { $0.model.width == w && $0.model.layer == l }.compactMap { runs[$0.key] }
                guard let b = Self.bestRun(mine, zoology: s.zoologyTasks, all: tasks) else { continue }
                let extra = seedRuns.filter { $0.model.width == w && $0.model.layer == l }.compactMap { runs[$0.key] }
                picks.append(Pick(layer: l, width: w, best: b, seeds: [b] + extra))
            }
        }
        func stats(_ xs: [Double]) -> (mean: Double, se: Double?) {
            let m = xs.reduce(0, +) / Double(xs.count)
            guard xs.count > 1 else { return (m, nil) }
            let v = xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(xs.count - 1)
            return (m, (v / Double(xs.count)).squareRoot())
        }
        func cell(_ xs: [Double]) -> Table.Cell {
            let (m, se) = stats(xs)
            guard let se else { return .number(m) }
            return .text(String(format: "%.1f ± %.1f%%", 100 * m, 100 * se))
        }
        func reach(_ r: RecallRun, _ target: Double) -> RecallEval? { r.firstReaching(target, on: s.zoologyTasks) }

        var accTable = Table(name: "accuracy", title: "Recall accuracy at the best lr of the sweep (held-out test sequences)", columns:
            [.init("layer"), .init("D", format: .integer), .init("best lr", format: .scientific(0)), .init("seeds", format: .integer)]
            + tasks.map { .init("T, pairs = \(tname($0))", format: .percent(1)) }
            + [.init("examples to 90%", format: .integer), .init("examples to 99%", format: .integer),
               .init("to 90%", unit: "s", format: .fixed(0)), .init("to 99%", unit: "s", format: .fixed(0))])
        for p in picks {
            let r90 = reach(p.best, 0.9), r99 = reach(p.best, 0.99)
            accTable.append([.text(p.layer), .integer(p.width), .float(p.best.config.lr), .integer(p.seeds.count)]
                            + tasks.map { t in cell(p.seeds.map { $0.score(t)?.accuracy ?? .nan }) }
                            + [r90.map { .integer($0.examples) } ?? .text("—"), r99.map { .integer($0.examples) } ?? .text("—"),
                               r90.map { .number($0.seconds) } ?? .text("—"), r99.map { .number($0.seconds) } ?? .text("—")])
        }
        accTable.append([.text(Self.copyBaseline), .empty, .empty, .empty] + tasks.map { .number(1 / Double($0.pairs)) } + [.empty, .empty, .empty, .empty])
        accTable.notes = ["Exact match of the argmax over all \(s.vocab) tokens at each query, on \(s.testSequences) held-out sequences per setting; chance = \(String(format: "%.2f%%", 100 * chance)). " +
                          "With more than one seed: mean ± standard error over seeds (seed 0 of the sweep + \(s.extraSeeds) more at the best lr). " +
                          "'examples/s to 90%/99%': the first validation point (every \(s.evalEvery) steps × \(s.batch) sequences) with every Zoology setting " +
                          "(\(s.zoologyTasks.map(tname).joined(separator: ", "))) at or above the target, for the sweep's best run; '—': not reached. Seconds count training only, on a shared machine."]

        var runTable = Table(name: "runs", title: "Every run (layer × D × lr × seed)", columns:
            [.init("layer"), .init("D", format: .integer), .init("lr", format: .scientific(0)), .init("seed", format: .integer)]
            + tasks.map { .init(tname($0), format: .percent(1)) }
            + [.init("steps", format: .integer), .init("examples to 99%", format: .integer), .init("final loss", unit: "nats", format: .fixed(3)),
               .init("train", unit: "s", format: .fixed(0)), .init("median step", unit: "ms", format: .fixed(0)), .init("note"), .init("cached")])
        for c in sweep + seedRuns {
            guard let r = runs[c.key] else { continue }
            let note = r.divergedAt.map { "diverged at step \($0)" } ?? (r.stepsRun < c.steps ? "stopped at target" : "")
            runTable.append([.text(c.model.layer), .integer(c.model.width), .float(c.lr), .integer(Int(c.seed))]
                            + tasks.map { .number(r.score($0)?.accuracy ?? .nan) }
                            + [.integer(r.stepsRun), reach(r, 0.99).map { .integer($0.examples) } ?? .text("—"), .number(r.finalTrainLoss),
                               .number(r.trainSeconds), .number(1000 * r.medianStepSeconds), .text(note), .text(cachedKeys.contains(c.key) ? "yes" : "no")])
        }
        runTable.notes = ["Train time is the original run's (a cached run is reused, not retrained); the machine was shared, so compare times within one run only."]

        // Chart: validation accuracy vs training examples for each layer's best run.
        let zoologyIdx = s.zoologyTasks.compactMap { tasks.firstIndex(of: $0) }
        let hardIdx = tasks.count - 1
        func curve(_ r: RecallRun, _ f: (RecallEval) -> Double) -> [(Double, Double)] {
            [(0, 100 * chance)] + r.evals.map { (Double($0.examples) / 1000, 100 * f($0)) }
        }
        let multiWidth = s.widths.count > 1
        func sname(_ p: Pick) -> String { multiWidth ? "\(p.layer) D\(p.width)" : p.layer }
        let xMax = Double(s.steps * s.batch) / 1000
        let chart = Chart(name: "recall", title: "MQAR validation accuracy during training (best lr per layer)", panels: [
            .init(title: "worst of the Zoology settings \(s.zoologyTasks.map(tname).joined(separator: ", "))",
                  x: .init("training sequences", unit: "thousands", range: 0...xMax), y: .init("accuracy", unit: "%", range: 0...105),
                  series: picks.map { p in Chart.Series(sname(p), styleKey: p.layer, points: curve(p.best) { e in zoologyIdx.map { e.accuracy[$0] }.min() ?? .nan }) },
                  referenceLines: [.init(y: 99, label: "99%")], key: .outsideRight),
            .init(title: "hardest setting \(tname(s.hardest))",
                  x: .init("training sequences", unit: "thousands", range: 0...xMax), y: .init("accuracy", unit: "%", range: 0...105),
                  series: picks.map { p in Chart.Series(sname(p), styleKey: p.layer, points: curve(p.best) { $0.accuracy[hardIdx] }) },
                  referenceLines: [.init(y: 100 * chance, label: "chance")], key: .outsideRight),
        ], rows: 2, columns: 1)

        // Verdicts. Pipeline: every run trained, finite (or flagged diverged), scored; every layer has a non-diverged pick.
        var pipeline: [String] = []
        let missing = (sweep + seedRuns).filter { runs[$0.key] == nil }
        if !missing.isEmpty {
            pipeline.append("\(missing.count) of \(sweep.count + seedRuns.count) planned runs not in the cache: " + missing.map(Self.label).joined(separator: "; "))
        }
        for c in sweep + seedRuns {
            guard let r = runs[c.key] else { continue }
            if r.scores.count != tasks.count || r.scores.contains(where: { $0.queries == 0 }) { pipeline.append("\(Self.label(c)): a setting was not scored") }
        }
        for p in picks where p.best.divergedAt != nil || !p.best.finalTrainLoss.isFinite {
            pipeline.append("\(p.layer) D\(p.width): every lr of the sweep diverged")
        }
        var summary: [String] = []
        summary.append("Pipeline verdict: " + (pipeline.isEmpty ? "PASS — \(sweep.count + seedRuns.count) runs trained and scored, every layer has a finite best run" : "FAIL — " + pipeline.joined(separator: "; ")))
        if ctx.preset == .quick && setup == nil {
            summary.append("Science verdict: not judged — the quick preset checks the pipeline end to end; its accuracies mean nothing.")
        } else {
            let w = s.widths[0]
            func mean(_ l: String, _ t: RecallTask) -> Double? {
                picks.first { $0.layer == l && $0.width == w }.map { p in stats(p.seeds.map { $0.score(t)?.accuracy ?? 0 }).mean }
            }
            let attnOpt = s.zoologyTasks.map { mean("attention", $0) }
            let attn = attnOpt.map { $0 ?? 0 }
            let headline = attnOpt.allSatisfy { $0 != nil } && attn.allSatisfy { $0 >= 0.99 }
            let h = s.hardest
            let weakNames = ["linear-attention", "mamba"], strongNames = ["attention", "ttt-linear", "ttt-deltanet"]
            let absent = (weakNames + strongNames).filter { mean($0, h) == nil }
            let weak = weakNames.compactMap { mean($0, h) }.max() ?? 0
            let strong = strongNames.compactMap { l in mean(l, h).map { (l, $0) } }
            let ordering = absent.isEmpty && strong.allSatisfy { $0.1 - weak >= 0.10 }
            let word = headline && ordering ? "reproduces" : headline || ordering ? "partly reproduces" : "does not reproduce"
            summary.append("Science verdict (D\(w)): \(word) — attention at the Zoology settings " +
                           zip(s.zoologyTasks, attnOpt).map { "\(tname($0)) \($1.map(pctString) ?? "not run")" }.joined(separator: ", ") + " (criterion ≥ 99% each: \(headline ? "met" : "not met")); " +
                           "at \(tname(h)) " + strong.map { "\($0.0) \(pctString($0.1))" }.joined(separator: ", ") +
                           " vs the better of " + weakNames.filter { mean($0, h) != nil }.joined(separator: "/") + " \(pctString(weak))" +
                           (absent.isEmpty ? "" : " (not run: \(absent.joined(separator: ", ")), so the ordering criterion is not judged)") +
                           " (criterion: each ≥ 10 points above: \(ordering ? "met" : absent.isEmpty ? "not met" : "not judged")).")
        }
        for p in picks {
            let r99 = reach(p.best, 0.99)
            summary.append("\(sname(p)) (lr \(p.best.config.lr)\(p.seeds.count > 1 ? ", \(p.seeds.count) seeds" : "")): " +
                           tasks.map { t in "\(tname(t)) \(pctString(stats(p.seeds.map { $0.score(t)?.accuracy ?? .nan }).mean))" }.joined(separator: ", ") +
                           (r99.map { "; 99% on the Zoology settings after \($0.examples) sequences, \(Int($0.seconds.rounded())) s" } ?? ""))
        }
        let mix = zip(s.trainTasks, s.trainWeights).map { "\(tname($0)) × \(Int($1))" }.joined(separator: ", ")
        let notes = """
        Data (Studies/recall/MQAR.swift): vocabulary \(s.vocab); 0 is filler, keys 1–\(s.vocab / 2 - 1), values \(s.vocab / 2)–\(s.vocab - 1), \
        keys and values drawn without replacement within a sequence. The pairs come first, then each key is queried once at a uniformly \
        random even position after them (Zoology favours near positions with a power law: this is the harder variant), followed by its \
        value (teacher forcing); the loss is only at the query positions. Fresh data every step: each step draws one setting from the \
        mixture \(mix) (weights, Zoology's 100k:20k:… example counts) and \(s.batch) new sequences, all a function of (seed, step). \
        Model: embedding → \(s.blocks) blocks (x + GatedShortConv_k\(s.shortConv.map(String.init) ?? "-")(RMSNorm x), then x + Layer(RMSNorm x)\(s.mlpHidden == 0 ? ", no MLP" : ", SwiGLU")) \
        → RMSNorm → tied head; one head (head dim = D); TTT mini-batch 16; the Mamba stack has twice the blocks. Training: AdamW (0.9, 0.95), \
        weight decay 0.1 on matrices, clip 1, warmup 10% then cosine over the \(s.steps)-step budget, TTT-MLP's ρ warmup 0.1 → 1 over the lr \
        warmup (as `lab train`); lr swept over {\(s.lrs.map { "\($0)" }.joined(separator: ", "))} per layer, the best kept (`bestRun`). \
        A run validates every \(s.evalEvery) steps on \(s.evalSequences) sequences per setting (a stream disjoint from training and test) and \
        stops once every setting is ≥ \(Int(100 * (s.stopAt ?? 1)))%. Runs are cached under `runs/<layer>-<config hash>/` and can be spread \
        over machines: `lab study recall --plan` prints one `--run KEY` line per run not yet cached.
        """
        return StudyResult(tables: [accTable, runTable], charts: [chart],
                           verdict: Verdict(passed: pipeline.isEmpty, summary: summary), notes: notes)
    }
}

func pctString(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }
