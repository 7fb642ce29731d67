// PerplexityStudy.swift — `lab study perplexity`: loss by token index (the paper's Fig. 2 right) redesigned
// to see context: three models at matched state (Transformer, TTT-Linear, Mamba; TTT-MLP in --full), 2 blocks
// × D128 with a gated short conv before every mixer, context 1024, ≈ 2.3e7 training bytes each (the scale at
// which induction heads form), a go/no-go gate on the Transformer's repeated-passage probe at half budget
// (copied spans injected into a quarter of the training windows if it fails), evaluated on the KJV text with
// the loss split into bytes an 8-byte exact-match copy predicts and the rest.
import Foundation
import Layers
import Models
import StudyKit
import TensorCore
import Zoo

/// Loss by token index on held-out KJV text for parameter- and state-matched byte-level LMs.
public struct PerplexityStudy: DistributedStudy {
    public let name = "perplexity"
    public let title = "Loss by token index on real text: does context help each layer, on the bytes a copy predicts and on the rest?"
    public let claim = """
    In the paper (Fig. 2 right; Books, 32k context, 1.3B-scale models) the Transformer, TTT-Linear and TTT-MLP keep \
    lowering their loss as the token index grows, while Mamba plateaus. Here, in miniature and on real text: \
    byte-level LMs of the same parameter count (fixed-state layers at the same state size) trained at context \
    1024 on ≈ 2.3e7 bytes — the budget at which a published scaling law expects induction heads — and their loss \
    at every position of held-out KJV text, split into the bytes an 8-byte exact-match copy of earlier context \
    predicts and the rest.
    """
    public let paperReference = "Sun et al. 2024, Fig. 2 (right), §3; Aoyama et al. 2025 (arXiv 2511.16893) for the budget"

    public var presets: [Preset: String] {
        func d(_ s: Settings) -> String {
            "\(s.layers) blocks × D\(s.width) (H\(s.heads)), gated short conv k\(s.shortConv) before every mixer, context \(s.context), " +
            "\(s.steps) steps × \(s.batch) sequences (\(String(format: "%.3g", Double(s.trainingBytes))) bytes) per model, lr \(compactScientific(Double(s.lr))), " +
            "\(s.seeds) seed\(s.seeds == 1 ? "" : "s"); gate at step \(s.gateStep) (probe drop ≥ \(s.gateDrop) nats/byte, else \(Int(100 * s.injectFraction))% of windows get a \(s.injectSpan)-byte copy); " +
            "models \(Self.models(s).map(\.name).joined(separator: ", ")); evaluation on \(s.evaluationSource.map { "the '\($0)' held-out documents" } ?? "every held-out document")"
        }
        return [.quick: d(Self.settings(.quick)) + " — pipeline check only", .standard: d(Self.settings(.standard)), .full: d(Self.settings(.full))]
    }

    /// Display name and registry layer of every model.
    public static let allModels: [(name: String, layer: String)] = [
        ("Transformer", "attention"), ("TTT-Linear", "ttt-linear"), ("Mamba", "mamba"), ("TTT-MLP", "ttt-mlp"),
    ]
    /// The models a preset trains (TTT-MLP where `Settings.tttMLP` is set).
    public static func models(_ s: Settings) -> [(name: String, layer: String)] {
        s.tttMLP ? allModels : allModels.filter { $0.layer != "ttt-mlp" }
    }
    /// Parameter counts must be within this fraction of the Transformer's; fixed states within `stateTolerance` of TTT-Linear's.
    public static let parameterTolerance = 0.10, stateTolerance = 0.15

    /// Sizes and protocol of one preset.
    public struct Settings: Sendable {
        public var width: Int, heads: Int, layers: Int, mlpHidden: Int
        public var shortConv: Int = 3
        public var context: Int, steps: Int, batch: Int, lr: Float
        /// Evaluation windows (capped) and windows per forward pass; the trainer's own validation windows.
        public var windows: Int, evalBatch: Int, trainerEvalWindows: Int
        public var checkpointEvery: Int
        /// Training seeds per model (ctx.seed, ctx.seed + 1, …): per-window values are averaged over them.
        public var seeds: Int
        /// Repeated-passage probes (held-out passages of T/2 bytes shown twice).
        public var probeWindows: Int
        /// The gate: the Transformer's probe drop must reach this (nats/byte) by `gateStep`, else copies are
        /// injected into `injectFraction` of the training windows (spans of `injectSpan` bytes) from then on.
        public var gateDrop: Double = 0.1
        public var injectFraction: Double = 0.25
        public var injectSpan: Int
        public var tttMLP: Bool
        /// Documents of this corpus source are the evaluation text ("bible": the KJV); nil: every held-out document.
        public var evaluationSource: String?
        /// The exact-match length of the copy split.
        public var copyMatch: Int = 8
        public var trainingBytes: Int { steps * batch * context }
        public var gateStep: Int { steps / 2 }
    }

    /// "Every held-out window" (the windows are capped at this many).
    public static let allWindows = 1_000_000

    public static func settings(_ preset: Preset) -> Settings {
        switch preset {
        case .quick:
            return Settings(width: 32, heads: 2, layers: 2, mlpHidden: 64, context: 64, steps: 4, batch: 2, lr: 3e-3, windows: 3, evalBatch: 3,
                            trainerEvalWindows: 2, checkpointEvery: 0, seeds: 1, probeWindows: 2, injectSpan: 8, tttMLP: true, evaluationSource: nil)
        case .standard:
            return Settings(width: 128, heads: 4, layers: 2, mlpHidden: 344, context: 1024, steps: 11_200, batch: 2, lr: 3e-3, windows: allWindows,
                            evalBatch: 4, trainerEvalWindows: 8, checkpointEvery: 200, seeds: 1, probeWindows: 64, injectSpan: 128, tttMLP: false,
                            evaluationSource: "bible")
        case .full:
            var s = settings(.standard)
            s.seeds = 3; s.tttMLP = true
            return s
        }
    }

    /// Injected corpus (tests); nil reads ``StudyData/directory`` (the one place this study reads the data directory).
    let corpus: Corpus?
    /// Overrides the preset's sizes (tests).
    let override: Settings?
    /// False: assemble from the cache only (``cachedOnly()``).
    public var trainsMissing = true

    public init(corpus: Corpus? = nil, settings: Settings? = nil) { self.corpus = corpus; self.override = settings }
    public func cachedOnly() -> PerplexityStudy { var s = self; s.trainsMissing = false; return s }

    /// The matched models: the Transformer is the parameter reference, TTT-Linear the state reference (the
    /// long-context study's ``StateMatching``, with the short conv instead of the pre-conv block).
    public static func matchedConfigs(_ s: Settings) throws -> [(name: String, config: ModelConfig)] {
        try models(s).map { ($0.name, try matching(s).config(layer: $0.layer)) }
    }
    static func matching(_ s: Settings) -> StateMatching {
        var m = StateMatching(width: s.width, heads: s.heads, blocks: s.layers, mlpHidden: s.mlpHidden, context: s.context)
        m.shortConv = s.shortConv; m.preset = nil
        return m
    }

    // MARK: stage 1 — what every run of one invocation shares

    struct Prepared {
        let s: Settings, data: StudyCorpus, configs: [(name: String, config: ModelConfig)]
        let windows: [(start: Bool, inputs: [Int], targets: [Int])], probes: [(inputs: [Int], targets: [Int])], seeds: [UInt64]
        var evaluationKey: String { "copysplit/1 T=\(s.context) k=\(s.copyMatch) n=\(windows.count) source=\(s.evaluationSource ?? "all") corpus=\(data.id)" }
        var probeKey: String { "probe/2 T=\(s.context) n=\(probes.count) source=\(s.evaluationSource ?? "all") corpus=\(data.id)" }

        func train(_ mc: ModelConfig, seed: UInt64, gate: Gate?) -> TrainConfig {
            var tc = TrainConfig(steps: s.steps, batch: s.batch, context: s.context, lr: s.lr, seed: seed)
            tc.evalEvery = s.steps; tc.evalWindows = s.trainerEvalWindows; tc.checkpointEvery = s.checkpointEvery
            tc.applyLayerDefaults(layer: mc.layer)
            if let gate, !gate.go { tc.copyInjection = CopyInjection(fromStep: s.gateStep, fraction: s.injectFraction, span: s.injectSpan) }
            return tc
        }
        var transformer: ModelConfig { configs.first { $0.config.layer == "attention" }!.config }
    }

    func prepare(_ ctx: StudyContext) throws -> Prepared {
        let s = override ?? Self.settings(ctx.preset)
        let data = try StudyCorpus.resolve(corpus, ctx)
        let docs = data.corpus.validation.filter { d in s.evaluationSource.map { d.source == $0 } ?? true }
        guard !docs.isEmpty else {
            throw LabError.badConfig("the corpus has no held-out '\(s.evaluationSource ?? "")' document to evaluate on — run 'lab data fetch' (it provides the KJV text as source 'bible')")
        }
        let windows = PositionLoss.windows(documents: docs.map(\.bytes), context: s.context, limit: s.windows)
        guard !windows.isEmpty else {
            throw LabError.badConfig("no held-out document is longer than the context \(s.context) + 1 bytes — use a corpus with longer documents (lab data fetch)")
        }
        return Prepared(s: s, data: data, configs: try Self.matchedConfigs(s), windows: windows,
                        probes: Self.probeWindows(windows, count: s.probeWindows), seeds: (0..<max(1, s.seeds)).map { ctx.seed &+ UInt64($0) })
    }

    // MARK: stage 2 — the gate (wave 1): the Transformer at the first seed, natural data, to half its budget

    /// The gate's record: the probe drop measured during the Transformer's training and the decision.
    public struct Gate: Codable, Sendable, Equatable {
        /// (step, mean drop, SE over passages) at each measurement.
        public var probes: [[Double]]
        /// True: the drop reached the threshold by the gate step (natural data throughout); false: copies are injected.
        public var go: Bool
    }

    func gateDirectory(_ p: Prepared, _ ctx: StudyContext) throws -> URL {
        try TrainedModels.directory(label: "attention-seed\(p.seeds[0])", model: p.transformer, train: p.train(p.transformer, seed: p.seeds[0], gate: nil),
                                    corpus: p.data, root: ctx.outputDirectory)
    }
    func gateKey(_ p: Prepared) -> String { "gate/1 step=\(p.s.gateStep) threshold=\(p.s.gateDrop) \(p.probeKey)" }

    /// The cached gate, if decided.
    func gate(_ p: Prepared, _ ctx: StudyContext) throws -> Gate? {
        let dir = try gateDirectory(p, ctx)
        guard TrainedModels.hasCached("gate", key: gateKey(p), in: dir) else { return nil }
        return try TrainedModels.cached("gate", key: gateKey(p), in: dir) { Gate(probes: [], go: true) }
    }

    /// Trains the natural Transformer to a quarter and half of its budget (checkpointed where its full run
    /// continues if the gate passes), measuring the probe at both; decides at half.
    func decideGate(_ p: Prepared, _ ctx: StudyContext) throws -> Gate {
        let dir = try gateDirectory(p, ctx), mc = p.transformer, tc = p.train(mc, seed: p.seeds[0], gate: nil)
        return try TrainedModels.cached("gate", key: gateKey(p), in: dir) {
            var trainer: Trainer?
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("train_state.json").path),
               let t = try? Trainer.resume(from: dir, corpus: p.data.corpus), t.model.config == mc, t.config == tc { trainer = t }
            let t = try trainer ?? Trainer(model: LanguageModel(config: mc, seed: tc.seed), config: tc, corpus: p.data.corpus)
            let bar = ctx.progressBar("gate: Transformer to step \(p.s.gateStep)", total: p.s.gateStep)
            bar.advance(by: min(t.step, p.s.gateStep))
            var probes: [[Double]] = []
            for stop in [p.s.gateStep / 2, p.s.gateStep] where t.step <= stop {
                try t.run(until: stop, checkpointTo: dir, onEvent: { if case .step = $0 { bar.advance() } })
                let drops = Self.measureProbe(t.model, probes: p.probes, batch: p.s.evalBatch).map { $0[0] - $0[1] }
                let d = WindowStatistic(drops)
                probes.append([Double(t.step), d.mean, d.se])
            }
            bar.finish()
            return Gate(probes: probes, go: (probes.last?[1] ?? -.infinity) >= p.s.gateDrop)
        }
    }

    // MARK: stage 3 — the models (wave 2, once the gate is decided): train, evaluate, probe

    func modelRuns(_ p: Prepared, gate: Gate) -> [(name: String, run: ModelRun)] {
        p.configs.flatMap { c in p.seeds.map { seed in
            (c.name, ModelRun(label: "\(c.config.layer)-seed\(seed)", model: c.config, train: p.train(c.config, seed: seed, gate: gate)))
        } }
    }

    func evaluate(_ t: TrainedModel, _ p: Prepared, _ ctx: StudyContext) throws -> (split: CopySplit.Evaluation, probe: [[Double]]) {
        let split = try TrainedModels.cached("copysplit", key: p.evaluationKey, in: t.directory) {
            let bar = ctx.progressBar("evaluate \(t.label)", total: p.windows.count)
            defer { bar.finish() }
            return CopySplit.evaluate(t.model, windows: p.windows, batch: p.s.evalBatch, match: p.s.copyMatch) { bar.advance(by: $0 - bar.completed) }
        }
        let probe = try TrainedModels.cached("probe", key: p.probeKey, in: t.directory) { Self.measureProbe(t.model, probes: p.probes, batch: p.s.evalBatch) }
        return (split, probe)
    }

    /// The gate run, then (once it is cached) every model × seed: the plan `--plan` prints, in waves.
    func studyRuns(_ p: Prepared, _ ctx: StudyContext) throws -> [StudyRun] {
        let gateDir = try gateDirectory(p, ctx)
        let gateRun = StudyRun(key: "gate-" + gateDir.lastPathComponent, label: "gate: Transformer to step \(p.s.gateStep), probe",
                               isCached: { TrainedModels.hasCached("gate", key: self.gateKey(p), in: gateDir) },
                               perform: { _ = try self.decideGate(p, ctx) })
        guard let g = try gate(p, ctx) else { return [gateRun] }
        let models = try TrainedModels.studyRuns(modelRuns(p, gate: g).map(\.run), corpus: p.data, ctx: ctx,
                                                 alsoCached: { TrainedModels.hasCached("copysplit", key: p.evaluationKey, in: $0) && TrainedModels.hasCached("probe", key: p.probeKey, in: $0) },
                                                 then: { _ = try self.evaluate($0, p, ctx) })
        return [gateRun] + models
    }

    public func plan(_ ctx: StudyContext) throws -> [PlannedRun] { planned(try studyRuns(try prepare(ctx), ctx)) }
    public func perform(key: String, _ ctx: StudyContext) throws -> Bool { try perform(key: key, among: try studyRuns(try prepare(ctx), ctx)) }

    // MARK: the study

    public func run(_ ctx: StudyContext) throws -> StudyResult {
        let p = try prepare(ctx)
        if !trainsMissing {
            if let missing = missingRuns(try studyRuns(p, ctx)) { return missing }
        }
        let g = try decideGate(p, ctx)
        var rows: [Row] = []
        for (name, m) in modelRuns(p, gate: g) {
            let t = try TrainedModels.obtain(label: m.label, model: m.model, train: m.train, corpus: p.data, root: ctx.outputDirectory, ctx: ctx)
            let e = try evaluate(t, p, ctx)
            if let i = rows.firstIndex(where: { $0.name == name }) { rows[i].add(t, e) } else { var r = Row(name: name, config: m.model); r.add(t, e); rows.append(r) }
        }
        return try PerplexityReport(s: p.s, windows: p.windows, probes: p.probes.count, gate: g, rows: rows, quick: ctx.preset == .quick && override == nil,
                                    matching: Self.matching(p.s)).result()
    }

    /// One model's seeds.
    struct Row {
        let name: String, config: ModelConfig
        var trained: [TrainedModel] = [], splits: [CopySplit.Evaluation] = [], probes: [[[Double]]] = []
        mutating func add(_ t: TrainedModel, _ e: (split: CopySplit.Evaluation, probe: [[Double]])) { trained.append(t); splits.append(e.split); probes.append(e.probe) }
        var split: CopySplit.Evaluation { CopySplit.average(splits) }
        /// Per passage, the drop (first copy − second copy), averaged over seeds.
        var probeDrop: [Double] {
            guard let n = probes.first?.count else { return [] }
            return (0..<n).map { w in probes.map { $0[w][0] - $0[w][1] }.reduce(0, +) / Double(probes.count) }
        }
        var probeFirst: Double { let f = probes.flatMap { $0.map { $0[0] } }; return f.reduce(0, +) / Double(max(1, f.count)) }
    }

    // MARK: the repeated-passage probe

    /// Probe windows: the first P = T/2 bytes of each of the first `count` windows, shown twice.
    static func probeWindows(_ windows: [(start: Bool, inputs: [Int], targets: [Int])], count: Int) -> [(inputs: [Int], targets: [Int])] {
        windows.prefix(count).map { w in
            let T = w.inputs.count, P = T / 2
            let p = Array(w.inputs.prefix(P))
            let inputs = p + p + Array(w.inputs[(2 * P)..<T])        // T odd: one extra byte at the end
            var targets = Array(inputs.dropFirst())
            targets.append(w.targets[T - 1])
            return (inputs, targets)
        }
    }

    /// Per probe window: [mean loss over the first copy, mean loss over the same positions of the second copy]
    /// (positions 1…P−2 against P+1…2P−2: the boundaries left out).
    static func measureProbe(_ model: LanguageModel, probes: [(inputs: [Int], targets: [Int])], batch: Int) -> [[Double]] {
        guard let T = probes.first?.inputs.count else { return [] }
        let P = T / 2
        model.setTTTLearningRateMultiplier(1)
        var out: [[Double]] = []
        for lo in stride(from: 0, to: probes.count, by: max(1, batch)) {
            let part = probes[lo..<min(probes.count, lo + max(1, batch))]
            let l = model.tokenLosses(inputs: part.flatMap(\.inputs), targets: part.flatMap(\.targets), batch: part.count)
            for i in 0..<part.count {
                let js = 1..<max(2, P - 1)
                let first = js.reduce(0.0) { $0 + l[i * T + $1] } / Double(js.count)
                let second = js.reduce(0.0) { $0 + l[i * T + P + $1] } / Double(js.count)
                out.append([first, second])
            }
        }
        return out
    }
}
