// LongContextStudy.swift — `lab study long-context`: a synthetic state-capacity test. On a dictionary stream
// where a value is predictable only from an earlier record of its key, do layers whose state is matched to
// TTT-Linear's fall behind attention as the number of distinct keys grows, and where does TTT sit? The runs
// are a declared StudyKit Sweep (lr per layer selected on a validation stream at a selection seed, the
// chosen lr trained at fresh reported seeds), so the study is a DistributedStudy: `--plan`/`--run`.
import Foundation
import Layers
import Models
import StudyKit
import TensorCore
import Zoo

/// Loss by record index on the Zipf dictionary stream, every fixed-state layer at TTT-Linear's state size
/// and every model at the Transformer's parameter count.
public struct LongContextStudy: DistributedStudy {
    public let name = "long-context"
    public let title = "Synthetic state-capacity test: loss by record index on a dictionary stream, state and parameters matched"
    public let claim = """
    The question of the paper's Fig. 2 (right) — does the loss keep falling with the token index for TTT as for \
    the Transformer, while a fixed-state layer plateaus? — asked where more context helps only a layer that \
    stores it: each sequence draws a random key → value dictionary and emits Zipf-distributed key–value records; \
    a value is predictable exactly when its key appeared earlier. Every fixed-state layer (linear attention, \
    Mamba, TTT-MLP, inner-model plugins) is given TTT-Linear's persistent state size and every model the \
    Transformer's parameter count, so the test measures state capacity, not state size or model size. It is a \
    synthetic state-capacity test, not the paper's natural-text result.
    """
    public let paperReference = "Sun et al. 2024, Fig. 2 (right) and §3; Arora et al. 2023 (associative recall)"

    /// Sizes and protocol of one preset.
    public struct Setup: Sendable {
        public var width: Int, heads: Int, blocks: Int, mlpHidden: Int
        public var task: DictionaryTask
        public var steps: Int, batch: Int
        /// The lr grid of every layer (declared cheapest-first: ties pick the first).
        public var lrs: [Float]
        public var testSequences: Int, validationSequences: Int
        /// Registry layer names to train.
        public var layers: [String]
        /// Seeds of the selection (offsets 0 … from the context's seed) and fresh reported seeds (after them).
        public var selectionSeeds: Int = 1, reportedSeeds: Int = 3
        /// A fixed-state layer counts as state-matched within this fraction of TTT-Linear's persistent state;
        /// every model's parameters must be within `parameterTolerance` of the Transformer's.
        public var stateTolerance = 0.15, parameterTolerance = 0.10

        public var matching: StateMatching {
            StateMatching(width: width, heads: heads, blocks: blocks, mlpHidden: mlpHidden, context: task.length)
        }
        public func modelConfig(layer: String) throws -> ModelConfig { try matching.config(layer: layer) }

        public func runConfig(layer: String, lr: Float, seed: UInt64) throws -> DictionaryRunConfig {
            DictionaryRunConfig(model: try modelConfig(layer: layer), task: task, steps: steps, batch: batch, lr: lr,
                                testSequences: testSequences, validationSequences: validationSequences, seed: seed)
        }
        /// The run at the first lr of the grid (tests, one-off runs).
        public func runConfig(layer: String, seed: UInt64) throws -> DictionaryRunConfig { try runConfig(layer: layer, lr: lrs[0], seed: seed) }
    }

    /// The paper's five layers, from the registry (Mamba state-matched).
    public static var defaultLayers: [String] { LayerRegistry.paperLayers }
    /// The default layers plus every other fixed-state inner-model plugin (`--full`).
    public static var allLayers: [String] {
        defaultLayers + InnerModelRegistry.names.filter { !["linear", "mlp"].contains($0) }.map { "ttt-\($0)" }
            .filter { (try? StateMatching.kind($0)) == .fixed }
    }

    public static let quickSetup = Setup(width: 16, heads: 2, blocks: 1, mlpHidden: 32, task: DictionaryTask(records: 16, keys: 8, zipf: 1),
                                         steps: 3, batch: 4, lrs: [3e-3, 1e-2], testSequences: 6, validationSequences: 6,
                                         layers: defaultLayers)
    public static let standardSetup = Setup(width: 64, heads: 2, blocks: 2, mlpHidden: 128, task: DictionaryTask(records: 64, keys: 48, zipf: 1),
                                            steps: 1200, batch: 16, lrs: [3e-3, 1e-2, 3e-2], testSequences: 64, validationSequences: 64,
                                            layers: defaultLayers)
    public static var fullSetup: Setup {
        Setup(width: 64, heads: 2, blocks: 2, mlpHidden: 128, task: DictionaryTask(records: 256, keys: 120, zipf: 1),
              steps: 1500, batch: 16, lrs: [3e-3, 1e-2, 3e-2], testSequences: 128, validationSequences: 64, layers: allLayers)
    }

    public var presets: [Preset: String] {
        func d(_ s: Setup) -> String {
            "\(s.blocks) blocks × D\(s.width) (Mamba: blocks and width matched), heads matched to TTT-Linear H\(s.heads)'s state, SwiGLU width matched to the Transformer's I\(s.mlpHidden) parameters; " +
            "\(s.task); \(s.steps) steps × \(s.batch) sequences; lr ∈ {\(s.lrs.map { compactScientific(Double($0)) }.joined(separator: ", "))} selected on \(s.validationSequences) validation sequences at \(s.selectionSeeds) seed; " +
            "\(s.reportedSeeds) fresh reported seeds; \(s.testSequences) test sequences; layers \(s.layers.joined(separator: ", "))"
        }
        return [.quick: d(Self.quickSetup) + " — pipeline check only", .standard: d(Self.standardSetup), .full: d(Self.fullSetup)]
    }

    /// Sizes to use instead of the preset's (tests).
    public var setup: Setup?
    /// Layers to train instead of the preset's (`lab study long-context --layers …`).
    public var only: [String]?
    /// False: assemble from the cache only (``cachedOnly()``).
    public var trainsMissing = true
    public init(setup: Setup? = nil, only: [String]? = nil) { self.setup = setup; self.only = only }

    public func cachedOnly() -> LongContextStudy { var s = self; s.trainsMissing = false; return s }

    func setup(_ ctx: StudyContext) -> Setup {
        var s = setup ?? ctx.pick(quick: Self.quickSetup, standard: Self.standardSetup, full: Self.fullSetup)
        if let only { s.layers = only }
        return s
    }
    static func cacheDir(_ ctx: StudyContext) -> URL { ctx.outputDirectory.appendingPathComponent("runs") }

    // MARK: the plan: a declared Sweep

    /// The selection rule: the lowest mean last-octave value loss on the validation stream (a diverged run never).
    public static let selectionRule = SelectionRule.best(.minimize)

    /// Arms = layers, candidates = the lr grid, selection seed(s) then fresh reported seeds, paired by seed, Holm.
    func sweep(_ s: Setup, _ ctx: StudyContext) throws -> Sweep {
        try s.task.validate()
        return try Sweep(arms: s.layers, candidates: s.lrs.map { compactScientific(Double($0)) },
                         selectionSeeds: (0 ..< UInt64(s.selectionSeeds)).map { ctx.seed &+ $0 },
                         reportedSeeds: (0 ..< UInt64(s.reportedSeeds)).map { ctx.seed &+ UInt64(s.selectionSeeds) &+ $0 },
                         rule: Self.selectionRule, convention: .pairedBySeed, correction: .holm)
    }

    func config(_ s: Setup, _ run: SweepRun) throws -> DictionaryRunConfig {
        let lr = s.lrs.first { compactScientific(Double($0)) == run.candidate }!
        return try s.runConfig(layer: run.arm, lr: lr, seed: run.seed)
    }

    /// Validation: the last-octave value loss on the validation stream; test: the last-octave excess on the test stream.
    public static func metrics(_ r: DictionaryRun) -> SweepMetrics {
        let task = r.config.task
        let v = r.divergedAt == nil ? RecordMeasures(r.validationLosses, sequences: DictionaryTrainer.validationBatch(r.config), task: task).lossLast : .nan
        return SweepMetrics(validation: v, test: RecordMeasures(r.losses, sequences: DictionaryTrainer.testBatch(r.config), task: task).excessLast)
    }

    /// Both waves as far as the cache allows: wave 1, the selection (once wave 1 is cached), wave 2.
    typealias Plan = SweepPlan<DictionaryRunConfig>

    func plan(_ s: Setup, _ ctx: StudyContext, runs: inout [String: DictionaryRun]) throws -> Plan {
        let dir = Self.cacheDir(ctx)
        return try sweep(s, ctx).plan(config: { try config(s, $0) }, finished: { (c: DictionaryRunConfig) -> DictionaryRun? in
            if let r = runs[c.key] { return r }
            guard let r = DictionaryTrainer.cached(c, cacheDir: dir) else { return nil }
            runs[c.key] = r
            return r
        }, metrics: Self.metrics)
    }

    static func label(_ c: DictionaryRunConfig, _ wave: SweepRun.Wave) -> String {
        "\(c.model.layer), lr \(compactScientific(Double(c.lr))), seed \(c.seed), \(wave.rawValue)"
    }

    public func plan(_ ctx: StudyContext) throws -> [PlannedRun] {
        var runs: [String: DictionaryRun] = [:]
        let p = try plan(setup(ctx), ctx, runs: &runs)
        return p.all.map { PlannedRun(key: $0.config.key, label: Self.label($0.config, $0.run.wave), cached: runs[$0.config.key] != nil) }
    }

    public func perform(key: String, _ ctx: StudyContext) throws -> Bool {
        var runs: [String: DictionaryRun] = [:]
        let p = try plan(setup(ctx), ctx, runs: &runs)
        guard let (r, c) = p.all.first(where: { $0.config.key == key }) else { throw unknownRun(key, plan: try plan(ctx)) }
        if runs[key] != nil { return true }
        _ = try train(c, r.wave, ctx)
        return false
    }

    /// Trains one run into the cache (or finds it there).
    func train(_ c: DictionaryRunConfig, _ wave: SweepRun.Wave, _ ctx: StudyContext) throws -> (DictionaryRun, Bool) {
        ctx.progress("long-context: \(Self.label(c, wave)) (\(c.key))")
        let bar = ctx.progressBar(Self.label(c, wave), total: c.steps)
        defer { bar.finish() }
        return try DictionaryTrainer.run(c, cacheDir: Self.cacheDir(ctx)) { bar.advance(by: $0 - bar.completed) }
    }

    // MARK: the study: train (both waves), measure, tabulate, judge

    public func run(_ ctx: StudyContext) throws -> StudyResult {
        let s = setup(ctx)
        var runs: [String: DictionaryRun] = [:], cachedKeys = Set<String>()
        var p = try plan(s, ctx, runs: &runs)
        cachedKeys.formUnion(runs.keys)
        if trainsMissing {
            try trainMissing(p.selection, ctx, into: &runs)
            p = try plan(s, ctx, runs: &runs)
            try trainMissing(p.report, ctx, into: &runs)
        }
        let arms = try measure(s, p, runs: runs)
        return try assemble(s, ctx, plan: p, arms: arms, runs: runs, cachedKeys: cachedKeys)
    }

    func trainMissing(_ list: [(run: SweepRun, config: DictionaryRunConfig)], _ ctx: StudyContext, into runs: inout [String: DictionaryRun]) throws {
        for (r, c) in list where runs[c.key] == nil { runs[c.key] = try train(c, r.wave, ctx).0 }
    }

    /// One layer's matched model, its selected lr and the test measures of its reported seeds.
    struct Arm {
        var layer: String
        var model: ModelConfig
        var parameters: Int, stateBytes: Int, accumulatorBytes: Int, kind: StateKind
        var lr: String?
        var selectionValidation: Double
        var reported: [UInt64: RecordMeasures]
        var reportedRuns: [UInt64: DictionaryRun]
        /// The reported measures in seed order (sums in a fixed order: bit-identical tables).
        var bySeed: [RecordMeasures] { reported.keys.sorted().map { reported[$0]! } }
    }

    func measure(_ s: Setup, _ p: Plan, runs: [String: DictionaryRun]) throws -> [Arm] {
        let m = s.matching
        return try s.layers.map { layer in
            let mc = try s.modelConfig(layer: layer)
            let lr = p.chosen[layer]
            var val = Double.nan
            if let lr, let sel = p.selection.first(where: { $0.run.arm == layer && $0.run.candidate == lr }), let r = runs[sel.config.key] {
                val = Self.metrics(r).validation
            }
            var rep: [UInt64: RecordMeasures] = [:], repRuns: [UInt64: DictionaryRun] = [:]
            for (r, c) in p.report where r.arm == layer {
                guard let x = runs[c.key] else { continue }
                repRuns[r.seed] = x
                rep[r.seed] = RecordMeasures(x.losses, sequences: DictionaryTrainer.testBatch(c), task: c.task)
            }
            return Arm(layer: layer, model: mc, parameters: try mc.parameterCount(), stateBytes: try m.persistentStateBytes(mc),
                       accumulatorBytes: try m.accumulatorBytes(mc), kind: try StateMatching.kind(layer), lr: lr,
                       selectionValidation: val, reported: rep, reportedRuns: repRuns)
        }
    }

    func assemble(_ s: Setup, _ ctx: StudyContext, plan p: Plan, arms: [Arm], runs: [String: DictionaryRun], cachedKeys: Set<String>) throws -> StudyResult {
        let target = try s.matching.targetStateBytes(), params = try s.matching.targetParameters()
        let matched = arms.filter { isMatched($0, s, target: target, params: params) }.map(\.layer)
        let pipeline = pipelineProblems(s, p, arms: arms, runs: runs, params: params)
        let judged = Dictionary(uniqueKeysWithValues: arms.filter { $0.reported.count == s.reportedSeeds && ($0.kind == .growing || matched.contains($0.layer)) }
            .map { ($0.layer, $0.reported) })
        let outcome = try LongContextCriterion.judge(judged)

        var summary: [String] = []
        let planned = p.all.count
        summary.append("Pipeline verdict: " + (pipeline.isEmpty
            ? "PASS — \(planned) runs trained and scored (\(p.selection.count) selection, \(p.report.count) reported; \(p.all.filter { cachedKeys.contains($0.config.key) }.count) reused from the cache), every layer has a finite selected run and parameters within \(Int(100 * s.parameterTolerance))% of the Transformer's"
            : "FAIL — " + pipeline.joined(separator: "; ")))
        summary.append(p.sweep.protocolSentence(comparisons: outcome.comparisons))
        summary.append("State (persistent bytes at T = \(s.task.length); target TTT-Linear's \(target)): " +
                       arms.map { "\($0.layer) \($0.stateBytes)\($0.kind == .growing ? " (grows with T)" : matched.contains($0.layer) ? "" : " (NOT matched)")" }.joined(separator: ", ") + ".")
        if ctx.preset == .quick && setup == nil {
            summary.append("Science verdict: not judged — the quick preset checks the pipeline end to end; its numbers mean nothing.")
        } else {
            summary += outcome.lines
            // The README's reading rule (stated before any run): a layer that did not learn the short-range
            // lookup says nothing about its state's capacity.
            let unlearned = arms.filter { a in a.kind == .fixed && !a.reported.isEmpty && SeedSummary(a.bySeed.map(\.lookup)).mean > 1 }.map(\.layer)
            if !unlearned.isEmpty {
                summary.append("Reading: \(unlearned.joined(separator: ", ")) did not learn the short-range lookup (loss at repeated keys among records 2–16 > 1 nat): for \(unlearned.count == 1 ? "it" : "them") the result is about training at this budget, not state capacity.")
            }
            summary.append("Science verdict (synthetic state-capacity test): \(outcome.word ?? "not judged (runs missing)").")
        }
        let tables = [modelsTable(s, arms, matched: matched, target: target, params: params), runsTable(p, runs: runs, cachedKeys: cachedKeys)]
            + (try curveTables(s, arms))
        let charts = arms.contains { !$0.reported.isEmpty } ? [chart(s, arms)] : []
        return StudyResult(tables: tables, charts: charts, verdict: Verdict(passed: pipeline.isEmpty, summary: summary), notes: notes(s))
    }

    func isMatched(_ a: Arm, _ s: Setup, target: Int, params: Int) -> Bool {
        a.kind == .fixed && abs(Double(a.stateBytes - target)) <= s.stateTolerance * Double(target)
    }

    /// What makes the pipeline fail: planned runs missing, an arm without a selection, a selected or reported
    /// run that diverged or has non-finite losses, parameters off by more than the tolerance.
    func pipelineProblems(_ s: Setup, _ p: Plan, arms: [Arm], runs: [String: DictionaryRun], params: Int) -> [String] {
        var out: [String] = []
        let missing = p.all.filter { runs[$0.config.key] == nil }
        if !missing.isEmpty {
            out.append("\(missing.count) of \(p.all.count) planned runs not in the cache: " + missing.map { Self.label($0.config, $0.run.wave) }.joined(separator: "; "))
        }
        let unselected = p.sweep.arms.filter { p.chosen[$0] == nil }
        if !unselected.isEmpty { out.append("no lr selected yet for \(unselected.joined(separator: ", ")) (the report wave is planned once the selection wave is cached)") }
        for a in arms where a.lr != nil && !a.selectionValidation.isFinite { out.append("\(a.layer): every lr of the sweep diverged") }
        for a in arms {
            for (seed, r) in a.reportedRuns.sorted(by: { $0.key < $1.key }) where r.divergedAt != nil || !r.losses.joined().allSatisfy(\.isFinite) || r.losses.count != s.testSequences {
                out.append("\(a.layer) seed \(seed): \(r.divergedAt.map { "diverged at step \($0)" } ?? "test losses missing or not finite")")
            }
            if abs(Double(a.parameters - params)) > s.parameterTolerance * Double(params) {
                out.append("\(a.layer): \(a.parameters) parameters, more than \(Int(100 * s.parameterTolerance))% from the Transformer's \(params)")
            }
        }
        return out
    }

    // MARK: tables and chart (numeric cells: mean, SE and n in their own columns; lr as 3e-3)

    func modelsTable(_ s: Setup, _ arms: [Arm], matched: [String], target: Int, params: Int) -> Table {
        let attn = arms.first { $0.layer == StateMatching.parameterReference }?.reported.mapValues(\.excessLast)
        var t = Table(name: "models", title: "Models (state and parameters matched), the lr selected on validation, and test measures over the reported seeds", columns: [
            .init("layer"), .init("blocks", format: .integer), .init("width", format: .integer), .init("heads", format: .integer),
            .init("mamba N", format: .integer), .init("mlp hidden", format: .integer),
            .init("parameters", format: .integer), .init("parameters / Transformer's", format: .fixed(3)),
            .init("state", unit: "bytes", format: .integer), .init("state / TTT-Linear's", format: .fixed(3)), .init("state kind"), .init("state matched"),
            .init("TTT accumulators", unit: "bytes", format: .integer),
            .init("lr"), .init("validation loss at selection", unit: "nats", format: .fixed(3)), .init("seeds", format: .integer),
            .init("excess last octave mean", unit: "nats", format: .fixed(3)), .init("excess last octave SE", unit: "nats", format: .fixed(3)),
            .init("excess growth mean", unit: "nats", format: .fixed(3)), .init("excess growth SE", unit: "nats", format: .fixed(3)),
            .init("gain early to last mean", unit: "nats", format: .fixed(3)), .init("gain early to last SE", unit: "nats", format: .fixed(3)),
            .init("excess minus Transformer's mean", unit: "nats", format: .fixed(3)), .init("excess minus Transformer's SE", unit: "nats", format: .fixed(3)),
            .init("excess minus Transformer's p", format: .significant(3)),
            .init("loss at repeated keys x le 16 mean", unit: "nats", format: .fixed(3)),
        ])
        for a in arms {
            func stat(_ f: (RecordMeasures) -> Double) -> [Table.Cell] {
                let x = SeedSummary(a.bySeed.map(f))
                return [x.n > 0 ? .number(x.mean) : .empty, x.n > 1 ? .number(x.se) : .empty]
            }
            var diff: [Table.Cell] = [.empty, .empty, .empty]
            if let attn, a.layer != StateMatching.parameterReference,
               let c = try? SeedComparison(a: a.reported.mapValues(\.excessLast), b: attn, convention: .pairedBySeed) {
                diff = [.number(c.difference), .number(c.se), .number(c.pValue)]
            }
            t.append([.text(a.layer), .integer(a.model.layers), .integer(a.model.width), .integer(a.model.heads),
                      a.model.backbone == .mambaStack ? .integer(a.model.layerConfig.mambaState) : .empty,
                      a.model.hasMLP ? .integer(a.model.mlpHidden) : .empty,
                      .integer(a.parameters), .number(Double(a.parameters) / Double(params)),
                      .integer(a.stateBytes), .number(Double(a.stateBytes) / Double(target)), .text(a.kind.rawValue),
                      .text(a.kind == .growing ? "not applicable" : matched.contains(a.layer) ? "yes" : "no"),
                      .integer(a.accumulatorBytes), a.lr.map { .text($0) } ?? .empty,
                      a.selectionValidation.isFinite ? .number(a.selectionValidation) : .empty, .integer(a.reported.count)]
                     + stat(\.excessLast) + stat(\.growth) + stat(\.gain) + diff + [stat(\.lookup)[0]])
        }
        t.notes = [
            "State: persistent bytes at T = \(s.task.length) (the model's `stateBytes` without the TTT gradient accumulators, which are listed apart): " +
            "attention's KV cache, linear attention's S, Mamba's scan state and conv history, TTT's W and b, plus every block's pre-conv history. " +
            "A fixed-state layer is matched when within \(Int(100 * s.stateTolerance))% of TTT-Linear's \(target) bytes (heads chosen for it; Mamba: N, width and blocks); " +
            "parameters within \(Int(100 * s.parameterTolerance))% of the Transformer's \(params) (SwiGLU width chosen for it).",
            "Test measures on \(s.testSequences) held-out sequences (the same for every layer and seed), per reported seed, then mean and SE across the \(s.reportedSeeds) seeds; " +
            "'excess' = loss minus the oracle's in the last octave of records; 'growth' = its rise from the octave ending at x = \(RecordMeasures.octaves(s.task)[RecordMeasures.early(s.task)].upperBound); " +
            "'minus Transformer's' paired by seed, p two-sided, uncorrected (the criterion's Holm-corrected values are in the verdict).",
        ]
        return t
    }

    func runsTable(_ p: Plan, runs: [String: DictionaryRun], cachedKeys: Set<String>) -> Table {
        var t = Table(name: "runs", title: "Every run (layer × lr × seed; wave = selection or report)", columns: [
            .init("layer"), .init("lr"), .init("seed", format: .integer), .init("wave"), .init("parameters", format: .integer),
            .init("validation loss last octave", unit: "nats", format: .fixed(3)), .init("test excess last octave", unit: "nats", format: .fixed(3)),
            .init("final train loss", unit: "nats", format: .fixed(3)), .init("diverged at step", format: .integer),
            .init("train", unit: "s", format: .fixed(0)), .init("median step", unit: "ms", format: .fixed(1)), .init("cached"),
        ])
        for (r, c) in p.all {
            guard let x = runs[c.key] else { continue }
            let m = Self.metrics(x)
            func num(_ v: Double) -> Table.Cell { v.isFinite ? .number(v) : .empty }
            t.append([.text(c.model.layer), .text(r.candidate), .integer(Int(c.seed)), .text(r.wave.rawValue), .integer(x.parameters),
                      num(m.validation), num(m.test), num(x.finalTrainLoss), x.divergedAt.map { .integer($0) } ?? .empty,
                      .number(x.trainSeconds), .number(1000 * x.medianStepSeconds), .text(cachedKeys.contains(c.key) ? "yes" : "no")])
        }
        t.notes = ["Train time is the original run's (a cached run is reused, not retrained); compare times within one machine only."]
        return t
    }

    /// Loss and excess by octave of record index, mean over the reported seeds (with the oracle and the
    /// expected number of distinct keys).
    func curveTables(_ s: Setup, _ arms: [Arm]) throws -> [Table] {
        let oct = RecordMeasures.octaves(s.task)
        let test = DictionaryTrainer.testBatch(try s.runConfig(layer: StateMatching.stateReference, seed: 0))
        let oracle = oct.map { r in test.reduce(0.0) { acc, seq in acc + r.reduce(0.0) { $0 + s.task.oracleLoss(isNew: seq.isNew[$1]) } } / Double(test.count * r.count) }
        let cols = [Table.Column("model")] + oct.map { Table.Column("x le \($0.upperBound)", format: .fixed(3)) }
        var loss = Table(name: "loss-by-record", title: "Mean loss (nats) at the values, by octave of record index x, mean over the reported seeds", columns: cols)
        var excess = Table(name: "excess-by-record", title: "Excess loss over the oracle (nats) by octave of record index, mean over the reported seeds", columns: cols)
        loss.append([.text("oracle")] + oracle.map { .number($0) })
        loss.append([.text("expected distinct keys")] + oct.map { .number(s.task.expectedDistinct(after: $0.upperBound)) })
        for a in arms where !a.reported.isEmpty {
            let ms = a.bySeed
            func mean(_ f: (RecordMeasures) -> [Double], _ o: Int) -> Table.Cell { .number(ms.map { f($0)[o] }.reduce(0, +) / Double(ms.count)) }
            loss.append([.text(a.layer)] + oct.indices.map { mean(\.loss, $0) })
            excess.append([.text(a.layer)] + oct.indices.map { mean(\.excess, $0) })
        }
        loss.notes = ["Column 'x le N': octave (N/2, N] of record indices. The two first rows are the oracle (ln 128 × the fraction of new keys) and the expected number of distinct keys by x = N."]
        return [loss, excess]
    }

    func chart(_ s: Setup, _ arms: [Arm]) -> Chart {
        let oct = RecordMeasures.octaves(s.task)
        let xs = oct.map { Double($0.upperBound) }, xr = 0.8...(Double(s.task.records) * 1.25)
        func mean(_ a: Arm, _ f: (RecordMeasures) -> [Double]) -> [Double] {
            let ms = a.bySeed
            return oct.indices.map { o in ms.map { f($0)[o] }.reduce(0, +) / Double(max(1, ms.count)) }
        }
        let shown = arms.filter { !$0.reported.isEmpty }
        return Chart(name: "loss-by-record-index", title: "Dictionary stream (\(s.task)): loss at the values by record index, mean of \(s.reportedSeeds) seeds", panels: [
            .init(title: "loss (octave means)", x: .init("record index x", log: true, range: xr), y: .init("loss at the value", unit: "nats"),
                  series: shown.map { .init("\($0.layer), \($0.stateBytes) B", styleKey: $0.layer, x: xs, y: mean($0, \.loss)) }, key: .below),
            .init(title: "excess over the oracle", x: .init("record index x", log: true, range: xr), y: .init("loss − oracle", unit: "nats"),
                  series: shown.map { .init($0.layer, styleKey: $0.layer, x: xs, y: mean($0, \.excess)) },
                  referenceLines: [.init(y: 0, label: "oracle")], key: .below),
        ], rows: 1, columns: 2)
    }

    func notes(_ s: Setup) -> String {
        """
        **Verdict** = the pipeline (every planned run trained, every layer selected, every reported run finite, \
        parameters matched). The science verdict is judged against the criterion in Studies/longcontext/README.md, \
        written before any run of this design.

        **Task.** \(s.task.description). Keys are byte tokens 1…127, values 128…255; each sequence has its own random \
        dictionary, so a value is predictable only from an earlier record of the same key in the same sequence. \
        Training minimizes the cross-entropy at the values only. Streams: training (a function of seed and step), \
        validation (\(s.validationSequences) sequences) and test (\(s.testSequences)), three disjoint streams, \
        the last two the same for every layer and seed.

        **Protocol.** lr per layer over {\(s.lrs.map { compactScientific(Double($0)) }.joined(separator: ", "))}, selected on \
        the validation stream's last-octave value loss at the selection seed; the selected lr trained at \(s.reportedSeeds) \
        fresh seeds, whose test measures are reported (mean, SE across seeds; differences paired by seed). \
        \(s.steps) steps × \(s.batch) sequences, AdamW, warmup 10% then cosine. Runs are cached under `runs/<layer>-<hash>/`; \
        `lab study long-context --plan` prints one `--run KEY` line per run not yet cached (wave 2 once wave 1 is cached).
        """
    }
}
