// AblationStudy.swift — `lab study ablation`: the paper's Table 1 ladder from linear attention to
// TTT-Linear (M), one small byte-level LM per rung, same recipe and seed, beside the paper's numbers.
import Foundation
import Layers
import Models
import StudyKit
import TensorCore
import Zoo

/// Table 1 of the paper at small scale.
public struct AblationStudy: DistributedStudy {
    public let name = "ablation"
    public let title = "Table 1 ablation ladder: from linear attention to TTT-Linear (M), at small scale"
    public let claim = """
    Starting from linear attention with a feature map and normalizer (ppl 15.91 at 125M on the Pile, 2k context), \
    each change of the paper's Table 1 — simplest linear attention (15.23), the same model as a TTT layer by \
    Theorem 1 (15.23), learnable W₀ (15.27), LN and residual in the inner model (14.05), mini-batch TTT with \
    b = 16 (12.35, the largest gain), learnable η (11.99), the Mamba backbone (11.09) — lowers perplexity \
    except learnable W₀. Here: the same ladder as byte-level LMs of a few hundred thousand parameters, same recipe, \
    three seeds per rung (noise = seed-to-seed variation), plus a control rung that separates "η learnable" from \
    "step size changed".
    """
    public let paperReference = "Sun et al. 2024, Table 1 (§3.1 ablations); docs/ttt.md §4"
    public let presets: [Preset: String] = [
        .quick: "2 × D32 (H2) blocks, context 32 bytes, 3 steps × 2 sequences, 2 seeds — pipeline check only",
        .standard: "2 × D128 (H4) blocks, SwiGLU I = 344, context 512 bytes, 360 steps × 8 sequences (1.47M bytes) per model, validation on 64 windows, 3 seeds",
        .full: "4 × D128 (H4) blocks, context 2048 bytes (the paper's), 400 steps × 4 sequences (3.3M bytes) per model, validation on 64 windows, 3 seeds",
    ]

    /// One rung: what changes, the paper's perplexity (nil for the lab's extra control rung), and the model.
    public struct Rung: Sendable {
        public let row: String
        public let change: String
        public let paper: Double?
        public let layer: String
        /// TTT switches / linear-attention variant, and the mini-batch size, for context T and head dim d.
        public let options: @Sendable (_ T: Int, _ d: Int) -> (LayerConfig?, Int)
        public let optionsText: String
    }

    static func ttt(_ edit: @escaping @Sendable (inout TTTOptions, Int, Int) -> Void) -> @Sendable (Int, Int) -> (LayerConfig?, Int) {
        { T, d in
            var c = LayerConfig(width: 1, heads: 1)
            // Theorem 1's conditions (the rung-3 starting point): f(x) = x·W, W₀ = 0 fixed, no bias, no LN,
            // no residual, c_i = 1, fixed η = 1 (the code's ½-loss), no RoPE, no post-norm; b = T (batch GD).
            c.ttt.innerLN = false; c.ttt.innerResidual = false; c.ttt.innerBias = false; c.ttt.learnableW0 = false
            c.ttt.tokenScaling = false; c.ttt.fixedEta = 1; c.ttt.rope = false; c.ttt.postNorm = false
            c.ttt.miniBatch = T
            edit(&c.ttt, T, d)
            return (c, c.ttt.miniBatch)
        }
    }

    /// Rungs 5–6's switches on top of Theorem 1's (LN, residual, post-norm, learnable W₀ and bias, b = 16).
    static func miniBatchTTT(_ o: inout TTTOptions) {
        lnResidual(&o)
        o.miniBatch = 16; o.tokenScaling = true; o.rope = true
    }

    /// Rung 5's switches (learnable W₀ and bias, inner LN + residual, post-norm): the base of the rung-6 split.
    static func lnResidual(_ o: inout TTTOptions) {
        o.learnableW0 = true; o.innerBias = true; o.innerLN = true; o.innerResidual = true; o.postNorm = true
    }

    /// The learnable gate's η at initialization: (η_base/d)·σ(θ_lr·x + β_lr) with θ_lr ~ N(0, 0.02), β_lr = 0,
    /// so σ(·) ≈ ½ and η ≈ η_base/(2d) (η_base = 1 for TTT-Linear). The extra rung fixes η there.
    public static func initialGateEta(headDim d: Int) -> Float { 0.5 / Float(d) }

    /// Index of the lab's extra rung ("fixed η at the gate's initial value"), between b = 16 and learnable η.
    public static let stepSizeRung = 8

    /// Index of the rung that completes the paper's "+ mini-batch TTT" row (b = 16 + RoPE + c_i).
    public static let miniBatchRung = 7

    /// The split of the paper's "+ mini-batch TTT" row, in this order: b = T → 16 alone (rung 6a), then RoPE
    /// within mini-batches (6b), then the token scaling c_i = 1/i + λ_i (6c = the paper's row).
    public static let miniBatchSplit = [5, 6, 7]

    /// The ladder. Each rung adds its change to the one above (rung 3 on is a TTT layer). Rung 7 is the lab's
    /// control, not in the paper: it changes only the step size (η = 1 → the learnable gate's initial value),
    /// so rung 8 → 9 is "step size changed" and rung 9 → 10 is "η learnable" at the same initial size.
    /// The paper's "+ mini-batch TTT" row is split into rungs 6–8 (b = 16, + RoPE, + c_i, in that order).
    public static let rungs: [Rung] = [
        Rung(row: "Linear attention [Katharopoulos]", change: "feature map φ = elu + 1 and normalizer", paper: 15.91, layer: "linear-attention",
             options: { _, _ in var c = LayerConfig(width: 1, heads: 1); c.linearAttention.variant = "elu"; return (c, 16) },
             optionsText: "linearAttention = elu"),
        Rung(row: "Linear attention, simplest", change: "drop feature map and normalizer", paper: 15.23, layer: "linear-attention",
             options: { _, _ in var c = LayerConfig(width: 1, heads: 1); c.linearAttention.variant = "simple"; return (c, 16) },
             optionsText: "linearAttention = simple"),
        Rung(row: "TTT equivalence (Theorem 1)", change: "the same model as a TTT layer: f(x) = x·W, W₀ = 0, batch GD b = T, c_i = 1, η = 1", paper: 15.23,
             layer: "ttt-linear", options: ttt { _, _, _ in },
             optionsText: "b = T, W₀ = 0 fixed, no bias/LN/residual/RoPE/post-norm, c_i = 1, fixedEta = 1"),
        Rung(row: "+ learnable W₀", change: "θ_init = (W₀, b₀) learned", paper: 15.27, layer: "ttt-linear",
             options: ttt { o, _, _ in o.learnableW0 = true; o.innerBias = true }, optionsText: "+ learnableW0, innerBias"),
        Rung(row: "+ LN and residual", change: "f(x) = x + LN(f_res(x)), LN before O", paper: 14.05, layer: "ttt-linear",
             options: ttt { o, _, _ in o.learnableW0 = true; o.innerBias = true; o.innerLN = true; o.innerResidual = true; o.postNorm = true },
             optionsText: "+ innerLN, innerResidual, postNorm"),
        Rung(row: "(split 6a) mini-batch b = 16 alone", change: "b = T → 16; c_i = 1, no RoPE", paper: nil, layer: "ttt-linear",
             options: ttt { o, _, _ in lnResidual(&o); o.miniBatch = 16 }, optionsText: "+ b = 16"),
        Rung(row: "(split 6b) + RoPE within mini-batches", change: "RoPE with phases reset per mini-batch", paper: nil, layer: "ttt-linear",
             options: ttt { o, _, _ in lnResidual(&o); o.miniBatch = 16; o.rope = true }, optionsText: "+ rope"),
        Rung(row: "+ mini-batch TTT (6c: + token scaling c_i)", change: "c_i = 1/i + λ_i: with 6a and 6b, the paper's \"+ mini-batch TTT\" row", paper: 12.35, layer: "ttt-linear",
             options: ttt { o, _, _ in miniBatchTTT(&o) }, optionsText: "+ tokenScaling (= b = 16, rope, tokenScaling)"),
        Rung(row: "(lab control) fixed η at the gate's initial value", change: "η = 1 → 1/(2d), the learnable gate's value at initialization; still fixed",
             paper: nil, layer: "ttt-linear",
             options: ttt { o, _, d in miniBatchTTT(&o); o.fixedEta = initialGateEta(headDim: d) }, optionsText: "+ fixedEta = 1/(2d)"),
        Rung(row: "+ learnable η", change: "η(x) = (η_base/d)·σ(θ_lr·x), η_base = 1", paper: 11.99, layer: "ttt-linear",
             options: ttt { o, _, _ in miniBatchTTT(&o); o.fixedEta = nil }, optionsText: "+ fixedEta = nil (= default TTT-Linear (T))"),
        Rung(row: "+ Mamba backbone", change: "pre-conv block, shared Q/K with causal convs, output gate", paper: 11.09, layer: "ttt-linear-m",
             options: { _, _ in (nil, 16) }, optionsText: "layer ttt-linear-m (= default TTT-Linear (M))"),
    ]

    /// The rung the paper's delta of rung `i` is measured from (the previous rung that is in the paper).
    public static func paperPredecessor(_ i: Int) -> Int? {
        guard i > 0, rungs[i].paper != nil else { return nil }
        return (0..<i).last { rungs[$0].paper != nil }
    }

    /// Sizes of one preset. The training budget of each model is `steps × batch × context` bytes; `seeds`
    /// models per rung (seeds ctx.seed, ctx.seed + 1, …) give the seed-to-seed noise.
    public struct Settings: Sendable {
        public var width: Int, heads: Int, layers: Int, mlpHidden: Int
        public var context: Int, steps: Int, batch: Int, lr: Float
        public var evalWindows: Int, checkpointEvery: Int
        public var seeds: Int = 3
    }

    public static func settings(_ preset: Preset) -> Settings {
        switch preset {
        case .quick: return Settings(width: 32, heads: 2, layers: 2, mlpHidden: 64, context: 32, steps: 3, batch: 2, lr: 3e-3, evalWindows: 2, checkpointEvery: 0, seeds: 2)
        case .standard: return Settings(width: 128, heads: 4, layers: 2, mlpHidden: 344, context: 512, steps: 360, batch: 8, lr: 3e-3, evalWindows: 64, checkpointEvery: 60, seeds: 3)
        case .full: return Settings(width: 128, heads: 4, layers: 4, mlpHidden: 344, context: 2048, steps: 400, batch: 4, lr: 3e-3, evalWindows: 64, checkpointEvery: 50, seeds: 3)
        }
    }

    /// Rung 3 must start from the same function as rung 2 (Theorem 1): step-0 validation losses within this.
    public static let theorem1Tolerance = 1e-4

    let corpus: Corpus?
    let override: Settings?
    /// False: assemble from the cache only (``cachedOnly()``).
    public var trainsMissing = true
    public init(corpus: Corpus? = nil, settings: Settings? = nil) { self.corpus = corpus; self.override = settings }

    public func cachedOnly() -> AblationStudy { var s = self; s.trainsMissing = false; return s }

    /// Every model of the ladder, `[seed][rung]`: label `rung<i>-<layer>-seed<seed>` (its cache directory name
    /// `<label>-<hash>` is the key of `lab study ablation --run`).
    func models(_ s: Settings, seeds: [UInt64]) -> [[ModelRun]] {
        seeds.map { seed in
            Self.rungs.enumerated().map { i, rung in
                let mc = Self.config(rung, s)
                var tc = TrainConfig(steps: s.steps, batch: s.batch, context: s.context, lr: s.lr, seed: seed)
                tc.evalEvery = s.steps
                tc.evalWindows = s.evalWindows
                tc.checkpointEvery = s.checkpointEvery
                tc.applyLayerDefaults(layer: mc.layer)
                return ModelRun(label: "rung\(i + 1)-\(mc.layer)-seed\(seed)", model: mc, train: tc)
            }
        }
    }

    func seeds(_ s: Settings, _ ctx: StudyContext) -> [UInt64] { (0..<max(1, s.seeds)).map { ctx.seed &+ UInt64($0) } }

    /// The independent runs: one per (rung, seed).
    func studyRuns(_ ctx: StudyContext) throws -> [StudyRun] {
        let s = override ?? Self.settings(ctx.preset)
        return try TrainedModels.studyRuns(models(s, seeds: seeds(s, ctx)).flatMap { $0 }, corpus: try StudyCorpus.resolve(corpus, ctx), ctx: ctx)
    }

    public func plan(_ ctx: StudyContext) throws -> [PlannedRun] { planned(try studyRuns(ctx)) }
    public func perform(key: String, _ ctx: StudyContext) throws -> Bool { try perform(key: key, among: try studyRuns(ctx)) }

    /// The model config of a rung.
    public static func config(_ rung: Rung, _ s: Settings) -> ModelConfig {
        let (opts, b) = rung.options(s.context, s.width / s.heads)
        var mc = ModelConfig(layer: rung.layer, vocab: ByteTokenizer.vocab, width: s.width, heads: s.heads, layers: s.layers,
                             mlpHidden: s.mlpHidden, miniBatch: b)
        mc.layerOptions = opts
        return mc
    }

    /// Science verdict of the ladder (criterion in Studies/ablation/README.md): each step the paper makes
    /// (Δ ≠ 0) is measured as the paired mean over seeds ± SE; a step counts when |Δ| > 2 SE.
    /// Reproduces: every counted step goes the paper's way and the mini-batch step (the paper's largest gain)
    /// is counted; partly: at least half of the counted steps go the paper's way; else does not.
    public static func scienceVerdict(agree: Int, counted: Int, miniBatchCountedRight: Bool) -> String {
        if counted > 0 && agree == counted && miniBatchCountedRight { return "REPRODUCES" }
        if counted > 0 && 2 * agree >= counted { return "PARTLY reproduces" }
        return "does NOT reproduce"
    }

    public func run(_ ctx: StudyContext) throws -> StudyResult {
        let s = override ?? Self.settings(ctx.preset)
        let data = try StudyCorpus.resolve(corpus, ctx)
        let seeds = seeds(s, ctx)
        if !trainsMissing, let missing = missingRuns(try studyRuns(ctx)) { return missing }
        // trained[seed][rung]
        let trained: [[TrainedModel]] = try models(s, seeds: seeds).map { row in
            try row.map { try TrainedModels.obtain(label: $0.label, model: $0.model, train: $0.train, corpus: data, root: ctx.outputDirectory, ctx: ctx) }
        }
        let ladder = Ladder(losses: trained.map { $0.map(\.validationLoss) })   // [seed][rung]
        var failures: [String] = []
        let thm1 = Self.checkPipeline(trained, ladder, s, seeds: seeds, failures: &failures)
        let (table, tally) = Self.ladderTable(trained, ladder, s, seeds: seeds)
        let summary = Self.summary(ladder, tally, thm1: thm1, unigram: trained[0][0].trainer.unigramLoss, s, seeds: seeds, ctx, failures: failures)
        return StudyResult(tables: [table, Self.perSeedTable(ladder, seeds: seeds), Self.optionsTable(trained)],
                           charts: [Self.ladderChart(ladder, seeds: seeds)],
                           verdict: Verdict(passed: failures.isEmpty, summary: summary), notes: Self.notes(s, seeds: seeds, trained: trained))
    }
}
