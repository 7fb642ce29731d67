// PerplexityStudy.swift — `lab study perplexity`: loss by token index (the paper's Fig. 2 right, in
// miniature): TTT-Linear and TTT-MLP with both backbones, Mamba, a Transformer and linear attention,
// matched in parameter count, trained at a long context on the byte corpus, evaluated at every position.
import Foundation
import Layers
import Models
import StudyKit
import TensorCore
import Zoo

/// Loss at every token position of held-out text for seven parameter-matched byte-level LMs.
public struct PerplexityStudy: DistributedStudy {
    public let name = "perplexity"
    public let title = "Loss by token index: do TTT layers keep improving with context like a Transformer?"
    public let claim = """
    In the paper (Fig. 2 right; Books, 32k context, 1.3B-scale models FLOP-matched to Mamba 1.4B) the \
    Transformer, TTT-Linear and TTT-MLP keep lowering their average perplexity as the token index grows, \
    while Mamba plateaus after 16k; TTT-MLP is worse than TTT-Linear at short context and better at long \
    context. Here, in miniature: byte-level LMs of the same parameter count trained at a long context \
    (default 2048 bytes), their mean loss at every position of held-out text, smoothed over log-spaced \
    position buckets.
    """
    public let paperReference = "Sun et al. 2024, Fig. 2 (right), §3; docs/ttt.md §6"
    public let presets: [Preset: String] = [
        .quick: "2 × D32 (H2) blocks, context 64 bytes, 3 steps × 2 sequences, 3 evaluation windows, 2 probe passages, 2 seeds — pipeline check only",
        .standard: "2 × D128 (H4) blocks (Mamba: as many blocks as match the parameters), context 2048 bytes, 180 steps × 4 sequences (1.47M bytes) per model, every held-out window, 64 repeated-passage probes, 3 seeds; the paper's seven models (plugins in --quick and --full)",
        .full: "4 × D128 (H4) blocks, context 8192 bytes, 900 steps × 2 sequences (14.7M bytes) per model, every held-out window, 32 repeated-passage probes, 3 seeds",
    ]

    /// The models: display name, registry layer — the paper's seven, then every other inner-model plugin
    /// (Transformer backbone), so a plugin added with `lab plugin new` shows up here without an edit.
    public static let models: [(name: String, layer: String)] = [
        ("TTT-Linear (M)", "ttt-linear-m"), ("TTT-Linear (T)", "ttt-linear"),
        ("TTT-MLP (M)", "ttt-mlp-m"), ("TTT-MLP (T)", "ttt-mlp"),
        ("Mamba", "mamba"), ("Transformer", "attention"), ("Linear attention", "linear-attention"),
    ] + InnerModelRegistry.names.filter { !["linear", "mlp"].contains($0) }.map { ("ttt-\($0) (plugin)", "ttt-\($0)") }
    /// The models a preset trains: the paper's seven, plus the other plugins where `Settings.plugins` is set.
    public static func models(_ s: Settings) -> [(name: String, layer: String)] {
        s.plugins ? models : models.filter { !$0.name.hasSuffix("(plugin)") }
    }
    /// Parameter counts must be within this fraction of the Transformer's.
    public static let parameterTolerance = 0.10

    /// Sizes of one preset.
    public struct Settings: Sendable {
        public var width: Int, heads: Int, layers: Int, mlpHidden: Int
        public var context: Int, steps: Int, batch: Int, lr: Float
        /// Held-out windows for the per-position curve, and sequences per forward pass.
        public var windows: Int, evalBatch: Int
        /// Windows of the trainer's own validation (start and end of training).
        public var trainerEvalWindows: Int
        public var checkpointEvery: Int
        /// Models per layer (seeds ctx.seed, ctx.seed + 1, …): curves are averaged over seeds, and the
        /// seed-to-seed spread of each gain is reported beside its standard error over windows.
        public var seeds: Int = 3
        /// Held-out passages of T/2 bytes shown twice in one window (the repeated-passage probe).
        public var probeWindows: Int = 64
        /// Also train every other inner-model plugin (beside the paper's seven). Off in the default preset
        /// to fit its time budget (3 seeds × 3 plugins ≈ +45% of its training); on in `--quick` and `--full`.
        public var plugins: Bool = true
        /// Training bytes per model = steps × batch × context: the budget. Scale `steps` to change it.
        public var trainingBytes: Int { steps * batch * context }
    }

    /// "Every held-out window" (the windows are capped at this many).
    public static let allWindows = 1_000_000

    public static func settings(_ preset: Preset) -> Settings {
        switch preset {
        case .quick: return Settings(width: 32, heads: 2, layers: 2, mlpHidden: 64, context: 64, steps: 3, batch: 2, lr: 3e-3,
                                     windows: 3, evalBatch: 3, trainerEvalWindows: 2, checkpointEvery: 0, seeds: 2, probeWindows: 2)
        case .standard: return Settings(width: 128, heads: 4, layers: 2, mlpHidden: 344, context: 2048, steps: 180, batch: 4, lr: 3e-3,
                                        windows: allWindows, evalBatch: 4, trainerEvalWindows: 8, checkpointEvery: 20, seeds: 3, probeWindows: 64,
                                        plugins: false)
        case .full: return Settings(width: 128, heads: 4, layers: 4, mlpHidden: 344, context: 8192, steps: 900, batch: 2, lr: 3e-3,
                                    windows: allWindows, evalBatch: 2, trainerEvalWindows: 8, checkpointEvery: 25, seeds: 3, probeWindows: 32)
        }
    }

    /// Injected corpus (tests); nil reads ``StudyData/directory``.
    let corpus: Corpus?
    /// Overrides the preset's sizes (tests).
    let override: Settings?

    /// False: assemble from the cache only (``cachedOnly()``).
    public var trainsMissing = true

    public init(corpus: Corpus? = nil, settings: Settings? = nil) { self.corpus = corpus; self.override = settings }

    public func cachedOnly() -> PerplexityStudy { var s = self; s.trainsMissing = false; return s }

    /// What every run of one invocation shares: sizes, corpus, models, held-out windows and probes.
    struct Prepared {
        let s: Settings, data: StudyCorpus, configs: [(name: String, config: ModelConfig)]
        let windows: [(start: Bool, inputs: [Int], targets: [Int])], probes: [(inputs: [Int], targets: [Int])], seeds: [UInt64]
        /// Keys of the evaluations cached beside each model (`positions.json`, `probe.json`).
        var positionsKey: String { "positions/1 T=\(s.context) windows=\(s.windows) n=\(windows.count) corpus=\(data.id)" }
        var probeKey: String { "probe/1 T=\(s.context) n=\(probes.count) corpus=\(data.id)" }

        /// The model of (layer config, seed): label `<layer>-seed<seed>` (or `<layer>` for a single seed equal to the context's).
        func model(_ mc: ModelConfig, seed: UInt64, ctxSeed: UInt64) -> ModelRun {
            var tc = TrainConfig(steps: s.steps, batch: s.batch, context: s.context, lr: s.lr, seed: seed)
            tc.evalEvery = s.steps
            tc.evalWindows = s.trainerEvalWindows
            tc.checkpointEvery = s.checkpointEvery
            tc.applyLayerDefaults(layer: mc.layer)
            let label = seed == ctxSeed && seeds.count == 1 ? mc.layer : "\(mc.layer)-seed\(seed)"
            return ModelRun(label: label, model: mc, train: tc)
        }
    }

    func prepare(_ ctx: StudyContext) throws -> Prepared {
        let s = override ?? Self.settings(ctx.preset)
        let data = try StudyCorpus.resolve(corpus, ctx)
        let windows = PositionLoss.windows(documents: data.corpus.validation.map(\.bytes), context: s.context, limit: s.windows)
        guard !windows.isEmpty else {
            throw LabError.badConfig("no held-out document is longer than the context \(s.context) + 1 bytes — use a corpus with longer documents (lab data fetch)")
        }
        return Prepared(s: s, data: data, configs: try Self.matchedConfigs(s), windows: windows,
                        probes: Self.probeWindows(windows, count: s.probeWindows), seeds: (0..<max(1, s.seeds)).map { ctx.seed &+ UInt64($0) })
    }

    /// A trained model's per-position losses ([all windows, document starts]) and probe losses, cached beside it.
    func evaluate(_ t: TrainedModel, _ p: Prepared, _ ctx: StudyContext) throws -> (curves: [PositionLoss], probe: [[Double]]) {
        let curves = try TrainedModels.cached("positions", key: p.positionsKey, in: t.directory) {
            let bar = ctx.progressBar("evaluate \(t.label)", total: p.windows.count)
            var done = 0
            let r = PositionLoss.measure(t.model, windows: p.windows, batch: p.s.evalBatch) { n in bar.advance(by: n - done); done = n }
            bar.finish()
            return [r.all, r.documentStarts]
        }
        let probe = try TrainedModels.cached("probe", key: p.probeKey, in: t.directory) {
            Self.measureProbe(t.model, probes: p.probes, batch: p.s.evalBatch)
        }
        return (curves, probe)
    }

    /// The independent runs: one per (model, seed), each training the model and storing both its evaluations.
    func studyRuns(_ p: Prepared, _ ctx: StudyContext) throws -> [StudyRun] {
        let models = p.configs.flatMap { c in p.seeds.map { p.model(c.config, seed: $0, ctxSeed: ctx.seed) } }
        return try TrainedModels.studyRuns(models, corpus: p.data, ctx: ctx,
                                           alsoCached: { TrainedModels.hasCached("positions", key: p.positionsKey, in: $0) && TrainedModels.hasCached("probe", key: p.probeKey, in: $0) },
                                           then: { _ = try evaluate($0, p, ctx) })
    }

    public func plan(_ ctx: StudyContext) throws -> [PlannedRun] { planned(try studyRuns(try prepare(ctx), ctx)) }
    public func perform(key: String, _ ctx: StudyContext) throws -> Bool { try perform(key: key, among: try studyRuns(try prepare(ctx), ctx)) }

    /// The parameter-matched model configs: the Transformer at the preset's shape is the reference;
    /// every other model gets the SwiGLU width I (a multiple of 8) that brings its parameter count
    /// closest to it; Mamba (no MLP) gets the block count and, where blocks alone cannot get within 2%,
    /// a width near D (multiple of 8, closest to D).
    public static func matchedConfigs(_ s: Settings) throws -> [(name: String, config: ModelConfig)] {
        func base(_ layer: String, layers: Int, mlp: Int) -> ModelConfig {
            ModelConfig(layer: layer, vocab: ByteTokenizer.vocab, width: s.width, heads: s.heads, layers: layers,
                        mlpHidden: mlp, miniBatch: 16, preset: nil)
        }
        let reference = try base("attention", layers: s.layers, mlp: s.mlpHidden).parameterCount()
        return try models(s).map { m in
            if Backbone.implied(by: m.layer) == .mambaStack {
                // Blocks come in big steps (≈ 7D² each): pick the block count and a width near D (multiple
                // of 8) that land within 2% of the reference, preferring the width closest to D.
                var best: (cfg: ModelConfig, key: (Int, Int, Int))?
                for L in 1...(4 * s.layers) {
                    for w in stride(from: max(8, s.width - 4 * 8), through: s.width + 4 * 8, by: 8) where w % s.heads == 0 && (w / s.heads) % 2 == 0 {
                        var c = base(m.layer, layers: L, mlp: 0); c.width = w
                        let off = abs(try c.parameterCount() - reference)
                        let key = (off * 50 > reference ? 1 : 0, abs(w - s.width), off)
                        if best == nil || key < best!.key { best = (c, key) }
                    }
                }
                return (m.name, best!.cfg)
            }
            // Parameters are affine in I: solve, then round to a multiple of 8.
            let p0 = try base(m.layer, layers: s.layers, mlp: 8).parameterCount()
            let p1 = try base(m.layer, layers: s.layers, mlp: 16).parameterCount()
            let perUnit = Double(p1 - p0) / 8
            let exact = 8 + Double(reference - p0) / perUnit
            let I = max(8, Int((exact / 8).rounded()) * 8)
            return (m.name, base(m.layer, layers: s.layers, mlp: I))
        }
    }

    public func run(_ ctx: StudyContext) throws -> StudyResult {
        let p = try prepare(ctx)
        if !trainsMissing, let missing = missingRuns(try studyRuns(p, ctx)) { return missing }
        let s = p.s, data = p.data, configs = p.configs, windows = p.windows, probes = p.probes, seeds = p.seeds
        let reference = try configs.first { $0.config.layer == "attention" }!.config.parameterCount()
        let starts = windows.filter(\.start).count

        struct Row {
            let name: String; let trained: TrainedModel; let params: Int; let flops: Double
            /// Per seed: all windows, document-start windows, probe (first-copy, second-copy) means per passage.
            let seedCurves: [PositionLoss]; let seedStarts: [PositionLoss]; let seedProbes: [[[Double]]]
            /// Averaged over seeds (per window, so standard errors over windows stay paired).
            let curve: PositionLoss, starts: PositionLoss
            /// Per probe passage, the drop (first-copy loss − second-copy loss), averaged over seeds.
            let probeDrop: [Double]
            /// Mean loss on the first copy.
            let probeFirst: Double
            init(name: String, trained: TrainedModel, params: Int, flops: Double, seedCurves: [PositionLoss], seedStarts: [PositionLoss], seedProbes: [[[Double]]]) {
                self.name = name; self.trained = trained; self.params = params; self.flops = flops
                self.seedCurves = seedCurves; self.seedStarts = seedStarts; self.seedProbes = seedProbes
                curve = PositionLoss.average(seedCurves); starts = PositionLoss.average(seedStarts)
                let nProbe = seedProbes.first?.count ?? 0, k = Double(max(1, seedProbes.count))
                var drop = [Double](repeating: 0, count: nProbe)
                for sp in seedProbes { for w in 0..<nProbe { drop[w] += (sp[w][0] - sp[w][1]) / k } }
                probeDrop = drop
                let firsts = seedProbes.flatMap { $0.map { $0[0] } }
                probeFirst = firsts.reduce(0, +) / Double(max(1, firsts.count))
            }
        }
        var rows: [Row] = []
        var failures: [String] = []
        for (name, mc) in configs {
            var trained: [TrainedModel] = [], curves: [[PositionLoss]] = [], probed: [[[Double]]] = []
            for seed in seeds {
                let m = p.model(mc, seed: seed, ctxSeed: ctx.seed)
                let t = try TrainedModels.obtain(label: m.label, model: m.model, train: m.train, corpus: data, root: ctx.outputDirectory, ctx: ctx)
                let e = try evaluate(t, p, ctx)
                curves.append(e.curves)
                probed.append(e.probe)
                if t.trainer.step < s.steps { failures.append("\(name), seed \(seed): trained \(t.trainer.step)/\(s.steps) steps") }
                trained.append(t)
            }
            let params = trained[0].model.parameterCount
            let row = Row(name: name, trained: trained[0], params: params, flops: trained[0].model.flopsPerToken(context: s.context),
                          seedCurves: curves.map { $0[0] }, seedStarts: curves.map { $0[1] }, seedProbes: probed)
            if !row.curve.overall.isFinite || !row.probeDrop.allSatisfy(\.isFinite) { failures.append("\(name): loss is not finite") }
            if abs(Double(params - reference)) / Double(reference) > Self.parameterTolerance {
                failures.append("\(name): \(params) parameters, more than 10% from the Transformer's \(reference)")
            }
            rows.append(row)
        }

        let T = s.context
        let octaves = PositionLoss.octaves(context: T)
        // Table positions: 16, 128, 512, 1k, 2k, 4k, … up to T (each the octave bucket ending there).
        let marks = octaves.map(\.upperBound).filter { $0 == 16 || $0 == 128 || ($0 >= 512 && $0.nonzeroBitCount == 1) || $0 == T }
        func octaveIndex(_ x: Int) -> Int { octaves.firstIndex { $0.upperBound == x }! }
        let lastO = octaves.count - 1
        let o128 = octaves.firstIndex { $0.upperBound >= 128 } ?? 0

        var models = Table(name: "models", title: "Models: parameter-matched (±\(Int(Self.parameterTolerance * 100))% of the Transformer), trained alike", columns: [
            .init("model"), .init("layer"), .init("backbone"), .init("blocks", format: .integer), .init("D", format: .integer),
            .init("SwiGLU I", format: .integer), .init("parameters", format: .integer), .init("Δ params vs Transformer", format: .percent(1)),
            .init("fwd FLOPs/token at T", unit: "MFLOP", format: .significant(3)), .init("training bytes", format: .integer),
            .init("train time", unit: "s", format: .fixed(0)), .init("final val loss", unit: "nats/byte", format: .fixed(4)),
            .init("mean loss, all positions", unit: "nats/byte", format: .fixed(4)), .init("ppl/byte", format: .fixed(3)),
        ])
        for r in rows {
            let c = r.trained.model.config
            models.append([.text(r.name), .text(c.layer), .text(c.backbone.rawValue), .integer(c.layers), .integer(c.width),
                           .integer(c.mlpHidden), .integer(r.params), .number(Double(r.params - reference) / Double(reference)),
                           .number(r.flops / 1e6), .integer(s.steps * s.batch * s.context), .number(r.trained.trainer.elapsed),
                           .number(r.trained.validationLoss), .number(r.curve.overall), .number(perplexity(r.curve.overall))])
        }
        models.notes = [
            "Parameter matching: the Transformer (\(s.layers) × D\(s.width), H\(s.heads), SwiGLU I = \(s.mlpHidden)) is the reference; every other " +
            "model keeps the shape and gets the SwiGLU width I (multiple of 8) closest to the reference's parameter count; Mamba (a pure stack, " +
            "no MLP) gets the number of blocks, and if needed a width within ±32 of D, that lands within 2% (the width closest to D wins). FLOPs/token: analytic forward count at context T = \(T) (docs/ttt.md §5; attention " +
            "charged for the full context, 8D² + 4DT per layer, as its dense prefill computes). Train time is the wall time of the training steps " +
            "(2 cores shared with other work, so only roughly comparable). With several seeds, train time and final val loss are the first seed's; " +
            "the mean loss over all positions is the mean over seeds.",
        ]

        var byPos = Table(name: "loss-by-position", title: "Mean loss (nats/byte) in the octave of token indices ending at x: x = tokens of context seen (\(windows.count) held-out windows of \(T) bytes; mean of \(seeds.count) seed\(seeds.count == 1 ? "" : "s"))",
                          columns: [.init("model")] + marks.map { .init("x ≤ \($0)", format: .fixed(3)) }
                              + [.init("gain \(octaves[o128].upperBound)→\(T)", format: .fixed(3)), .init("gain in last octave", format: .printf("%+.3f")), .init("gain in last octave SE", format: .fixed(3)),
                                 .init("gain \(octaves[o128].upperBound)→\(T) minus Transformer's", format: .printf("%+.3f")), .init("minus Transformer's SE", format: .fixed(3)),
                                 .init("same, seed-to-seed SD", format: .fixed(3))])
        var gains: [(String, Double, Double)] = []
        let refRow = rows.first { $0.trained.model.config.layer == "attention" }!
        var relative: [(String, Double, Double)] = []
        var relativeSeedSD: [String: Double] = [:]
        for r in rows {
            let c = r.curve
            let g = c.windowStatistic { $0[o128] - $0[lastO] }
            let last = c.windowStatistic { $0[lastO - 1] - $0[lastO] }
            gains.append((r.name, last.mean, last.se))
            // Paired over the same windows: (model's gain − Transformer's gain) per window.
            var paired = PositionLoss(context: 1)
            paired.windowOctaves = zip(c.windowOctaves, refRow.curve.windowOctaves).map { a, b in [(a[o128] - a[lastO]) - (b[o128] - b[lastO])] }
            let rel = paired.windowStatistic { $0[0] }
            // Seed-to-seed: the same paired gain per seed (mean over windows), its SD over seeds.
            let perSeed = zip(r.seedCurves, refRow.seedCurves).map { c, t in
                zip(c.windowOctaves, t.windowOctaves).map { a, b in (a[o128] - a[lastO]) - (b[o128] - b[lastO]) }.reduce(0, +) / Double(max(1, c.windowOctaves.count))
            }
            let seedSD = meanSE(perSeed).sd
            if r.name != refRow.name { relative.append((r.name, rel.mean, rel.se)); relativeSeedSD[r.name] = seedSD }
            byPos.append([.text(r.name)] + marks.map { .number(c.mean(octaves[octaveIndex($0)].lowerBound, octaves[octaveIndex($0)].upperBound)) }
                         + [.number(g.mean), .number(last.mean), .number(last.se),
                            r.name == refRow.name ? .empty : .number(rel.mean), r.name == refRow.name ? .empty : .number(rel.se),
                            r.name == refRow.name || seedSD.isNaN ? .empty : .number(seedSD)])
        }
        byPos.notes = [
            "Column 'x ≤ N' is the mean loss over token indices x in (N/2, N] (position t = x − 1 predicts byte t + 1 having seen x bytes), " +
            "over all \(windows.count) windows: every held-out document cut into consecutive \(T)-byte windows from its first byte, each window " +
            "evaluated as a fresh sequence (state reset), the \(starts) document-start windows first and the later windows spread evenly. " +
            "'gain A→B' = loss in the octave ending at A minus the octave ending at B (positive = still improving); the last column is the " +
            "gain from the octave ending at \(T / 2) to the one ending at \(T), mean ± standard error of the paired per-window difference. " +
            "The last column compares a model's gain with the Transformer's on the same windows (per-window difference of the two gains, mean ± SE): " +
            "the position effect of the text itself (headers, lists of names at document starts) cancels there.",
            "Seeds: each model is trained with seeds \(seeds.map(String.init).joined(separator: ", ")) (initial weights and batches); every number is the " +
            "mean over seeds, per window, so ± is the standard error over windows of the seed-averaged value; 'seed-to-seed SD' is the standard " +
            "deviation over seeds of the window-mean of the same paired gain (the training noise the window SE does not see).",
        ]

        // The repeated-passage probe.
        var probe = Table(name: "repeated-passage", title: "Repeated-passage probe: a held-out passage of \(T / 2) bytes shown twice in one window (\(probes.count) passages, mean of \(seeds.count) seeds)", columns: [
            .init("model"), .init("loss, first copy", unit: "nats/byte", format: .fixed(3)), .init("loss, second copy", unit: "nats/byte", format: .fixed(3)),
            .init("drop", format: .printf("%+.3f")), .init("drop SE", format: .fixed(3)),
            .init("drop minus Transformer's", format: .printf("%+.3f")), .init("drop minus Transformer's SE", format: .fixed(3)),
        ])
        let refDrop = refRow.probeDrop
        var drops: [(String, Double, Double, Double, Double)] = []   // name, drop, se, vs transformer, se
        for r in rows {
            let d = meanSE(r.probeDrop)
            let v = meanSE(zip(r.probeDrop, refDrop).map { $0 - $1 })
            drops.append((r.name, d.mean, d.se, v.mean, v.se))
            probe.append([.text(r.name), .number(r.probeFirst), .number(r.probeFirst - d.mean), .number(d.mean), .number(d.se),
                          r.name == refRow.name ? .empty : .number(v.mean), r.name == refRow.name ? .empty : .number(v.se)])
        }
        probe.notes = [
            "Each probe window is P = \(T / 2) bytes of a held-out window followed by the same P bytes again (a fresh sequence of T bytes). " +
            "'drop' = loss on the first copy minus loss on the same positions of the second copy (position j vs P + j, the first and last byte of " +
            "each copy left out), per passage, averaged over seeds; ± = standard error over passages. A layer that remembers the first copy " +
            "predicts the second almost for free (drop close to the first-copy loss); a layer that forgets gains only what its state kept.",
        ]

        var docStarts = Table(name: "loss-by-position-document-starts", title: "The same, document-start windows only (\(starts) windows: position 0 = a document's first byte)",
                              columns: [.init("model")] + marks.map { .init("x ≤ \($0)", format: .fixed(3)) })
        for r in rows where r.starts.counts.first ?? 0 > 0 {
            docStarts.append([.text(r.name)] + marks.map { .number(r.starts.mean(octaves[octaveIndex($0)].lowerBound, octaves[octaveIndex($0)].upperBound)) })
        }

        // Chart: 4 buckets per octave of x, each plotted at its geometric centre.
        var edges: [Int] = [0]
        var j = 1
        while edges.last! < T {
            let e = min(T, Int(pow(2, Double(j) / 4).rounded()))
            if e > edges.last! { edges.append(e) }
            j += 1
        }
        func curvePoints(_ c: PositionLoss) -> [(Double, Double)] {
            zip(edges.dropLast(), edges.dropFirst()).map { lo, hi in
                ((Double(lo + 1) * Double(hi)).squareRoot(), c.mean(lo, hi))
            }
        }
        let ref = rows.first { $0.trained.model.config.layer == "attention" }!
        let refPoints = curvePoints(ref.curve)
        let styleKeys = Dictionary(uniqueKeysWithValues: Self.models.map { ($0.name, $0.layer) })
        let panel1 = Chart.Panel(title: "loss per byte by token index", x: .init("token index (bytes of context seen)", log: true, range: 1...Double(T)),
                                 y: .init("loss", unit: "nats/byte"),
                                 series: rows.map { .init($0.name, styleKey: styleKeys[$0.name], points: curvePoints($0.curve), mark: .lines) })
        let panel2 = Chart.Panel(title: "difference from the Transformer", x: .init("token index (bytes of context seen)", log: true, range: 1...Double(T)),
                                 y: .init("loss − Transformer's loss", unit: "nats/byte"),
                                 series: rows.filter { $0.name != ref.name }.map { r in
                                     .init(r.name, styleKey: styleKeys[r.name], points: zip(curvePoints(r.curve), refPoints).map { ($0.0, $0.1 - $1.1) }, mark: .lines)
                                 },
                                 referenceLines: [.init(y: 0, label: "Transformer")])
        let chart = Chart(name: "loss-by-token-index", title: "Loss by token index, \(rows.count) parameter-matched byte-level LMs (context \(T))",
                          panels: [panel1, panel2], rows: 1, columns: 2)

        // What the data show.
        var summary: [String] = []
        summary.append("\(rows.count) models, \(Set(rows.map(\.params)).count > 1 ? "parameters \(rows.map(\.params).min()!)–\(rows.map(\.params).max()!)" : "\(reference) parameters") (Transformer \(reference)), context \(T), \(s.steps) steps × \(s.batch) × \(T) bytes each; \(windows.count) held-out windows (\(starts) at document starts).")
        let ordered = rows.sorted { $0.curve.overall < $1.curve.overall }
        summary.append("Mean loss over all positions (nats/byte): " + ordered.map { String(format: "%@ %.3f", $0.name, $0.curve.overall) }.joined(separator: ", ") + ".")
        summary.append("Gain in the last octave (x ≤ \(T / 2) → x ≤ \(T), nats/byte, ± SE): " +
                       gains.map { String(format: "%@ %+.3f ± %.3f", $0.0, $0.1, $0.2) }.joined(separator: ", ") + ".")
        let still = gains.filter { $0.1 > 2 * $0.2 }.map(\.0), flat = gains.filter { $0.1 <= 2 * $0.2 }.map(\.0)
        summary.append("Still improving in the last octave (gain > 2 SE): \(still.isEmpty ? "none" : still.joined(separator: ", ")); " +
                       "flat within noise: \(flat.isEmpty ? "none" : flat.joined(separator: ", ")).")
        summary.append("Gain from x ≤ \(octaves[o128].upperBound) to x ≤ \(T) relative to the Transformer's (paired over windows, ± SE; negative = gains less from long context): " +
                       relative.map { String(format: "%@ %+.3f ± %.3f", $0.0, $0.1, $0.2) }.joined(separator: ", ") + ".")
        summary.append("Repeated-passage probe, drop from the first to the second copy (nats/byte, ± SE over \(probes.count) passages): " +
                       drops.map { String(format: "%@ %+.3f ± %.3f", $0.0, $0.1, $0.2) }.joined(separator: ", ") + ".")
        if ctx.preset == .quick {
            summary.append("Science: not judged at the quick preset (3 training steps; the numbers mean nothing).")
        } else {
            let refGain = refRow.curve.windowStatistic { $0[o128] - $0[lastO] }
            let rel = Dictionary(uniqueKeysWithValues: relative.map { ($0.0, ($0.1, $0.2)) })
            let tttNames = rows.map(\.name).filter { ["TTT-Linear (M)", "TTT-Linear (T)", "TTT-MLP (M)", "TTT-MLP (T)"].contains($0) }
            summary.append(Self.scienceVerdict(transformerGain: (refGain.mean, refGain.se), ttt: tttNames.compactMap { n in rel[n].map { (n, $0.0, $0.1) } },
                                               mamba: rel["Mamba"]))
        }
        summary += failures
        let notes = Self.notes(s, windows: windows.count, starts: starts, parameters: reference)
        return StudyResult(tables: [models, byPos, docStarts, probe], charts: [chart],
                           verdict: Verdict(passed: failures.isEmpty, summary: summary), notes: notes)
    }

    /// Science verdict (criterion in Studies/perplexity/README.md, fixed before the default run): C1 the
    /// Transformer gains from x ≤ 128 to x ≤ T by > 2 SE; C2 every TTT model's gain is not below the Transformer's
    /// by more than 2 SE (paired); C3 Mamba's gain is below the Transformer's by more than 2 SE (it plateaus).
    /// Reproduces: C1, C2 and C3; partly: C1 and one of C2, C3; does not: otherwise.
    public static func scienceVerdict(transformerGain: (Double, Double), ttt: [(String, Double, Double)], mamba: (Double, Double)?) -> String {
        let c1 = transformerGain.0 > 2 * transformerGain.1
        let c2 = !ttt.isEmpty && ttt.allSatisfy { $0.1 >= -2 * $0.2 }
        let c3 = mamba.map { $0.0 < -2 * $0.1 } ?? false
        let verdict = c1 && c2 && c3 ? "REPRODUCES" : c1 && (c2 || c3) ? "PARTLY reproduces" : "does NOT reproduce"
        return String(format: "Science verdict: %@ — C1 Transformer keeps gaining (%+.3f ± %.3f): %@; C2 no TTT model gains less than the Transformer by > 2 SE: %@; C3 Mamba gains less by > 2 SE: %@.",
                      verdict, transformerGain.0, transformerGain.1, c1 ? "yes" : "no", c2 ? "yes" : "no (\(ttt.filter { $0.1 < -2 * $0.2 }.map(\.0).joined(separator: ", ")))", c3 ? "yes" : "no")
    }

    /// Probe windows: the first P = T/2 bytes of each of the first `count` windows, shown twice (inputs T bytes,
    /// targets the next byte; the last target is the byte after the passage in its window).
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

    static func notes(_ s: Settings, windows: Int, starts: Int, parameters: Int) -> String {
        """
        **Verdict** = the pipeline: every model trained to its step count, finite losses, parameter counts within \
        10% of the Transformer's. The science is in the tables and the chart, whatever they show.

        **Method.** Every model is trained with the lab's recipe (AdamW β = (0.9, 0.95), weight decay 0.1, clip 1.0, \
        10% warmup then cosine to 1e-5, peak lr \(s.lr); TTT-MLP warms ρ up over the warmup) on the same batches \
        (same seed), \(s.steps) steps of \(s.batch) × \(s.context) bytes of the training documents. Evaluation: \
        \(windows) windows of \(s.context) bytes from the held-out documents (\(starts) of them starting at a \
        document's first byte), each a fresh sequence, so position t has seen exactly t + 1 bytes. Trained models \
        are cached under `models/<layer>-<hash>/` of the output directory (a `lab train` checkpoint, keyed by the \
        SHA-256 of model config, training config and corpus) with their per-position losses (`positions.json`); \
        a re-run reuses them, and an interrupted run resumes from the last checkpoint.

        **How far this is from the paper.** Fig. 2 (right) uses 1.3B-parameter models (Mamba 1.4B) trained on \
        Books3 with a 32k-token Llama-2 context and billions of tokens, FLOP-matched. Here the models have \
        \(String(format: "%.2fM", Double(parameters) / 1e6)) parameters, a byte \
        vocabulary (a Llama token is ≈ 4 bytes of English, so \(s.context) bytes ≈ \(s.context / 4) tokens — \
        far below the 16k tokens where the paper's Mamba plateaus), and see \(s.steps * s.batch * s.context / 1000)k \
        training bytes: they are severely undertrained, so most of what they learn is spelling and short-range \
        statistics, and whether any of them copies from earlier in a window is measured by the repeated-passage probe (its table), not assumed. \
        Models are matched in parameters, not FLOPs (FLOPs/token are listed); the Transformer is trained at the \
        evaluation context (the paper's "TF finetune" is a long-context finetune of a 2k model). Treat the \
        curves as a check that the machinery reproduces the *shape* of the question, not as evidence about \
        the paper's scale.
        """
    }
}

extension PositionLoss {
    /// The per-window average of curves measured on the same windows (e.g. one per seed).
    static func average(_ curves: [PositionLoss]) -> PositionLoss {
        guard var out = curves.first, curves.count > 1 else { return curves.first ?? PositionLoss(context: 0) }
        let k = Double(curves.count)
        for c in curves.dropFirst() {
            for t in out.sums.indices { out.sums[t] += c.sums[t] }
            for w in out.windowOctaves.indices { for o in out.windowOctaves[w].indices { out.windowOctaves[w][o] += c.windowOctaves[w][o] } }
        }
        for t in out.sums.indices { out.sums[t] /= k }
        for w in out.windowOctaves.indices { for o in out.windowOctaves[w].indices { out.windowOctaves[w][o] /= k } }
        return out
    }
}
