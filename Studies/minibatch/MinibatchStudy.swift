// MinibatchStudy.swift — `lab study minibatch`: TTT-Linear mini-batch size b vs validation loss and
// time per training step (the paper's mini-batch figure, left panel + training-time view).
import Foundation
import Layers
import Models
import StudyKit
import TensorCore
import Zoo

/// TTT-Linear mini-batch size sweep on the text corpus (`--data DIR`, default `data`).
public struct MinibatchStudy: DistributedStudy {
    public let name = "minibatch"
    public let title = "TTT mini-batch size b: validation loss and time per training step"
    public let claim = """
    Smaller TTT mini-batches give better perplexity, because the inner loop takes more gradient steps per \
    sequence (b = T is plain batch gradient descent: one step); the paper uses b = 16 as the trade-off with \
    speed. On the paper's scale (TTT-Linear 125M, Pile 2k) batch GD (b = T) gives 14.05 and b = 16 12.35 \
    perplexity in the Table 1 ladder. This study trains the same small TTT-Linear byte-level language model \
    with the same recipe for each b ∈ {1, 2, 4, 8, 16, 32, 64, T} and reports validation loss and the median \
    time of a training step, measured in the same run — three seeds per b, and a control arm with RoPE off \
    (the paper's RoPE restarts every b tokens, so b also changes the position encoding).
    """
    public let paperReference = "Sun et al. 2024, mini-batch figure (Fig. 7 in v2; left panel) and Table 1; docs/ttt.md §6"

    public struct Setup: Sendable {
        public var width: Int, heads: Int, blocks: Int, mlpHidden: Int
        public var context: Int, batch: Int, steps: Int, lr: Float, evalEvery: Int, evalWindows: Int
        /// b ∈ {1, 2, 4, …} below the context, then b = T.
        public var miniBatches: [Int]
        /// Models per (b, arm): seeds ctx.seed, ctx.seed + 1, …
        public var seeds: Int = 3
        /// Also train every b with RoPE switched off (the control that separates the effect of b on the inner
        /// loop from its effect on the position encoding, which restarts every b tokens).
        public var ropeControl: Bool = true
        /// The values of b the RoPE-off control arm trains (nil: all of `miniBatches`). The verdict needs only
        /// b = 16 and b = T there; a few more show the shape of the curve.
        public var controlMiniBatches: [Int]? = nil
        /// The b values of one arm.
        public func miniBatches(rope: Bool) -> [Int] { rope ? miniBatches : (controlMiniBatches ?? miniBatches) }
        /// Steps left out of the median step time at the start of a session (allocator warm-up).
        public var warmupSteps: Int { min(3, max(0, steps - 1)) }

        /// The model at mini-batch size b; `rope: false` is the control arm (no RoPE at all).
        public func model(b: Int, rope: Bool = true) throws -> ModelConfig {
            var c = ModelConfig(layer: "ttt-linear", vocab: 256, width: width, heads: heads, layers: blocks, mlpHidden: mlpHidden,
                                miniBatch: b, preset: "minibatch")
            if !rope { var o = LayerConfig(width: width, heads: heads); o.ttt.rope = false; c.layerOptions = o }
            try c.validate()
            return c
        }

        public func train(seed: UInt64) -> TrainConfig {
            var t = TrainConfig(steps: steps, batch: batch, context: context, lr: lr, seed: seed)
            t.evalEvery = evalEvery
            t.evalWindows = evalWindows
            t.applyLayerDefaults(layer: "ttt-linear")
            return t
        }
    }

    static func grid(_ T: Int) -> [Int] { [1, 2, 4, 8, 16, 32, 64].filter { $0 < T } + [T] }

    public static let quickSetup = Setup(width: 16, heads: 2, blocks: 1, mlpHidden: 32, context: 16, batch: 2, steps: 3, lr: 3e-3,
                                         evalEvery: 3, evalWindows: 4, miniBatches: grid(16), seeds: 2)
    public static let standardSetup = Setup(width: 64, heads: 1, blocks: 2, mlpHidden: 172, context: 128, batch: 8, steps: 600, lr: 3e-3,
                                            evalEvery: 100, evalWindows: 64, miniBatches: grid(128))
    public static let fullSetup = Setup(width: 128, heads: 2, blocks: 4, mlpHidden: 344, context: 256, batch: 8, steps: 1000, lr: 3e-3,
                                        evalEvery: 100, evalWindows: 128, miniBatches: grid(256))

    public var presets: [Preset: String] {
        func d(_ s: Setup) -> String {
            "TTT-Linear \(s.blocks) × D\(s.width), H\(s.heads) (head dim \(s.width / s.heads)), I\(s.mlpHidden); context T = \(s.context); " +
            "b ∈ {\(s.miniBatches.map(String.init).joined(separator: ", "))}; \(s.steps) steps × \(s.batch) sequences, lr \(s.lr); " +
            "validation on \(s.evalWindows) windows; \(s.seeds) seeds" + (s.ropeControl ? "; RoPE off (control) at " + (s.controlMiniBatches.map { "b ∈ {\($0.map(String.init).joined(separator: ", "))}" } ?? "every b") : "")
        }
        return [.quick: d(Self.quickSetup), .standard: d(Self.standardSetup), .full: d(Self.fullSetup)]
    }

    /// Corpus directory (`lab data fetch` writes it).
    /// The corpus directory; nil reads the context's ``StudyContext/dataDirectory`` (`lab study … --data`).
    public var dataDirectory: URL?

    /// Sizes to use instead of the preset's (tests).
    public var setup: Setup?

    /// False: assemble from the cache only (``cachedOnly()``).
    public var trainsMissing = true

    public init(dataDirectory: URL? = nil, setup: Setup? = nil) {
        self.dataDirectory = dataDirectory; self.setup = setup
    }

    /// The same study reading the corpus from `dir`.
    public func withData(_ dir: URL) -> MinibatchStudy { var s = self; s.dataDirectory = dir; return s }

    public func cachedOnly() -> MinibatchStudy { var s = self; s.trainsMissing = false; return s }

    /// One (arm, seed, b) run and its checkpoint directory `runs/b<b>-<hash>/` (the name is its `--run` key).
    struct Cell {
        let rope: Bool, seed: UInt64, b: Int
        let model: ModelConfig, train: TrainConfig, dir: URL
        var label: String { "b = \(b)\(rope ? "" : ", RoPE off"), seed \(seed)" }
    }

    /// What a run needs: sizes, corpus (and its manifest checksum), and every cell in table order (arm, seed, b).
    struct Prepared { let s: Setup, corpus: Corpus, checksum: String?, cells: [Cell] }

    func prepare(_ ctx: StudyContext) throws -> Prepared {
        let s = setup ?? ctx.pick(quick: Self.quickSetup, standard: Self.standardSetup, full: Self.fullSetup)
        let dataDirectory = self.dataDirectory ?? ctx.dataDirectory
        let corpus = try Corpus.load(from: dataDirectory)
        let checksum = Corpus.manifestChecksum(in: dataDirectory)
        let runsDir = ctx.outputDirectory.appendingPathComponent("runs")
        var cells: [Cell] = []
        for rope in s.ropeControl ? [true, false] : [true] {
            for seed in (0..<max(1, s.seeds)).map({ ctx.seed &+ UInt64($0) }) {
                for b in s.miniBatches(rope: rope) {
                    let mc = try s.model(b: b, rope: rope), tc = s.train(seed: seed)
                    cells.append(Cell(rope: rope, seed: seed, b: b, model: mc, train: tc,
                                      dir: runsDir.appendingPathComponent(Self.key(mc, tc, corpus: checksum))))
                }
            }
        }
        return Prepared(s: s, corpus: corpus, checksum: checksum, cells: cells)
    }

    /// The cell's checkpoint when it is one of exactly this run (finished or not).
    static func checkpoint(_ c: Cell, _ p: Prepared) -> Trainer? {
        guard FileManager.default.fileExists(atPath: c.dir.appendingPathComponent("train_state.json").path),
              let t = try? Trainer.resume(from: c.dir, corpus: p.corpus, corpusChecksum: p.checksum),
              t.model.config == c.model, t.config == c.train else { return nil }
        return t
    }

    /// Trains the cell into its directory (resuming its checkpoint, or reusing it when finished); `advance(n)`
    /// reports steps done (first the checkpoint's, then one per step).
    static func train(_ c: Cell, _ p: Prepared, _ ctx: StudyContext, advance: @escaping (Int) -> Void) throws -> (trainer: Trainer, cached: Bool) {
        var trainer: Trainer
        var cached = false
        if let t = checkpoint(c, p) {
            trainer = t
            cached = trainer.step >= c.train.steps
            ctx.progress("minibatch: \(c.label): \(cached ? "reusing the finished run" : "resuming at step \(trainer.step)") in \(c.dir.path)")
        } else {
            ctx.progress("minibatch: training \(c.label) (\(c.dir.lastPathComponent))")
            trainer = try Trainer(model: try LanguageModel(config: c.model, seed: c.train.seed), config: c.train, corpus: p.corpus)
            trainer.corpusChecksum = p.checksum
        }
        advance(trainer.step)
        try trainer.run(checkpointTo: c.dir, onEvent: { event in if case .step = event { advance(1) } })
        return (trainer, cached)
    }

    /// The independent runs: one per (arm, seed, b).
    func studyRuns(_ p: Prepared, _ ctx: StudyContext) -> [StudyRun] {
        p.cells.map { c in
            StudyRun(key: c.dir.lastPathComponent, label: c.label,
                     isCached: { Self.checkpoint(c, p).map { $0.step >= c.train.steps } ?? false },
                     perform: {
                         let bar = ctx.progressBar("minibatch \(c.label)", total: c.train.steps)
                         _ = try Self.train(c, p, ctx) { bar.advance(by: $0) }
                         bar.finish()
                     })
        }
    }

    public func plan(_ ctx: StudyContext) throws -> [PlannedRun] { planned(studyRuns(try prepare(ctx), ctx)) }
    public func perform(key: String, _ ctx: StudyContext) throws -> Bool { try perform(key: key, among: studyRuns(try prepare(ctx), ctx)) }

    /// One (b, arm, seed)'s finished run.
    public struct Point: Sendable {
        public var b: Int
        /// False: the control arm (RoPE off).
        public var rope: Bool = true
        public var seed: UInt64 = 0
        public var validationLoss: Double
        public var curve: [(step: Int, loss: Double)]
        public var medianStepSeconds: Double
        public var trainSeconds: Double
        public var finalTrainLoss: Double
        public var parameters: Int
        public var cached: Bool
    }

    /// `b<b>-<12 hex of SHA-256 of (model, train config, corpus checksum)>`.
    static func key(_ m: ModelConfig, _ t: TrainConfig, corpus: String?) -> String {
        let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
        var bytes = [UInt8]((try? enc.encode(m)) ?? Data()) + [UInt8]((try? enc.encode(t)) ?? Data())
        bytes += Array((corpus ?? "in-memory").utf8)
        return "b\(m.miniBatch)-" + String(SHA256.hex(bytes).prefix(12))
    }

    public func run(_ ctx: StudyContext) throws -> StudyResult {
        let p = try prepare(ctx), s = p.s
        if !trainsMissing, let missing = missingRuns(studyRuns(p, ctx)) { return missing }
        let bar = ctx.progressBar("minibatch", total: p.cells.count * s.steps)
        var points: [Point] = []
        var unigram = 0.0
        for c in p.cells {
            let (trainer, cached) = try Self.train(c, p, ctx) { bar.advance(by: $0) }
            unigram = trainer.unigramLoss
            let evals = trainer.evaluations.sorted { $0.step < $1.step }
            let times = trainer.history.dropFirst(s.warmupSteps).map(\.seconds)
            let tail = trainer.history.suffix(max(1, trainer.history.count / 10))
            points.append(Point(b: c.b, rope: c.rope, seed: c.seed, validationLoss: evals.last?.loss ?? .nan, curve: evals.map { ($0.step, $0.loss) },
                                medianStepSeconds: median(times), trainSeconds: trainer.elapsed,
                                finalTrainLoss: tail.reduce(0) { $0 + Double($1.loss) } / Double(tail.count),
                                parameters: trainer.model.parameterCount, cached: cached))
        }
        bar.finish()
        return result(points, setup: s, unigram: unigram, preset: ctx.preset)
    }

    /// The b effect of one arm: per seed (paired), loss at b = 16 minus loss at b = T; mean ± SE over seeds.
    static func bEffect(_ points: [Point], rope: Bool, T: Int) -> (mean: Double, sd: Double, se: Double)? {
        let seeds = Array(Set(points.map(\.seed))).sorted()
        let d: [Double] = seeds.compactMap { sd in
            guard let a = points.first(where: { $0.rope == rope && $0.seed == sd && $0.b == 16 }),
                  let c = points.first(where: { $0.rope == rope && $0.seed == sd && $0.b == T }) else { return nil }
            return a.validationLoss - c.validationLoss
        }
        return d.isEmpty ? nil : meanSE(d)
    }

    /// Science verdict (criterion in Studies/minibatch/README.md): with RoPE off (b changes only the inner
    /// loop), b = 16 beats b = T by more than 2 SE over seeds → reproduces; only with RoPE on → partly
    /// (the gain may be the position encoding's); neither → does not.
    public static func scienceVerdict(ropeOn: (mean: Double, se: Double)?, ropeOff: (mean: Double, se: Double)?) -> String {
        func wins(_ e: (mean: Double, se: Double)?) -> Bool { e.map { $0.mean < 0 && -$0.mean > 2 * $0.se } ?? false }
        if wins(ropeOff) { return "REPRODUCES (b = 16 beats batch GD with RoPE off, so the gain is the inner loop's)" }
        if wins(ropeOn) { return "PARTLY reproduces (b = 16 beats batch GD only with RoPE within mini-batches, where b also changes the position encoding)" }
        return "does NOT reproduce (b = 16 does not beat batch GD by more than 2 SE in either arm)"
    }

    func result(_ points: [Point], setup s: Setup, unigram: Double, preset: Preset) -> StudyResult {
        let aggs = Self.aggregates(points, s)
        var failures: [String] = []
        for p in points where !p.validationLoss.isFinite || !(p.medianStepSeconds > 0) {
            failures.append("b = \(p.b)\(p.rope ? "" : " (RoPE off)"), seed \(p.seed): no finite validation loss or step time")
        }
        let summary = Self.summary(points, aggs, s, preset: preset, failures: failures)
        return StudyResult(tables: [Self.table(points, aggs, s, unigram: unigram), Self.curves(points, aggs, s)], charts: [Self.chart(points, aggs, s)],
                           verdict: Verdict(passed: failures.isEmpty, summary: summary), notes: Self.notes(s))
    }

    /// b as a column label: "256 (= T)" at b = T.
    static func label(_ b: Int, _ T: Int) -> String { b == T ? "\(b) (= T)" : "\(b)" }
    static func armName(_ rope: Bool) -> String { rope ? "RoPE within mini-batches" : "RoPE off (control)" }
    /// The arms present, RoPE on first.
    static func arms(_ points: [Point]) -> [Bool] { Array(Set(points.map(\.rope))).sorted { $0 && !$1 } }

    /// One (arm, b) over its seeds: the loss's mean/SD/SE, mean step and train time, mean final train loss.
    struct Agg { let b: Int; let rope: Bool; let loss: (mean: Double, sd: Double, se: Double); let ms: Double; let train: Double; let finalTrain: Double; let cached: Bool }

    static func aggregates(_ points: [Point], _ s: Setup) -> [Agg] {
        let arms = arms(points)
        var aggs: [Agg] = []
        for rope in arms {
            for b in s.miniBatches {
                let ps = points.filter { $0.rope == rope && $0.b == b }
                guard !ps.isEmpty else { continue }
                aggs.append(Agg(b: b, rope: rope, loss: meanSE(ps.map(\.validationLoss)),
                                ms: ps.map(\.medianStepSeconds).reduce(0, +) / Double(ps.count),
                                train: ps.map(\.trainSeconds).reduce(0, +) / Double(ps.count),
                                finalTrain: ps.map(\.finalTrainLoss).reduce(0, +) / Double(ps.count),
                                cached: ps.allSatisfy(\.cached)))
            }
        }
        return aggs
    }

    /// Loss and step time per (arm, b), paired by seed against b = 16.
    static func table(_ points: [Point], _ aggs: [Agg], _ s: Setup, unigram: Double) -> Table {
        let T = s.context, nSeeds = Set(points.map(\.seed)).count
        var table = Table(name: "minibatch", title: "TTT-Linear: mini-batch size b vs validation loss (mean of \(nSeeds) seeds) and time per training step (T = \(T))", columns: [
            .init("arm"), .init("b"), .init("inner GD steps per sequence", format: .integer),
            .init("validation loss", unit: "nats/byte", format: .fixed(4)), .init("seed SD", unit: "nats/byte", format: .fixed(4)),
            .init("bits/byte", format: .fixed(4)), .init("Δ vs b = 16 (paired)", format: .printf("%+.4f")), .init("Δ vs b = 16 SE", format: .fixed(4)),
            .init("final train loss", unit: "nats/byte", format: .fixed(4)),
            .init("median step", unit: "ms", format: .fixed(1)), .init("step time vs b = 16", format: .printf("%.2fx")),
            .init("train time", unit: "s", format: .fixed(0)), .init("cached"),
        ])
        for a in aggs {
            let ref = aggs.first { $0.rope == a.rope && $0.b == 16 }
            let paired: [Table.Cell] = {
                guard ref != nil else { return [.empty, .empty] }
                let d = points.filter { $0.rope == a.rope && $0.b == a.b }.compactMap { p in
                    points.first { $0.rope == a.rope && $0.b == 16 && $0.seed == p.seed }.map { p.validationLoss - $0.validationLoss }
                }
                let m = meanSE(d)
                return [.number(m.mean), .number(m.se.isNaN ? 0 : m.se)]
            }()
            table.append([.text(Self.armName(a.rope)), .text(Self.label(a.b, T)), .integer((T + a.b - 1) / a.b), .number(a.loss.mean), .number(a.loss.sd),
                          .number(bitsPerByte(a.loss.mean))] + paired + [.number(a.finalTrain),
                          .number(1000 * a.ms), ref.map { .number(a.ms / $0.ms) } ?? .empty,
                          .number(a.train), .text(a.cached ? "yes" : "no")])
        }
        table.notes = [
            "Validation loss at the last step on the fixed validation windows (unigram baseline \(String(format: "%.4f", unigram)) nats/byte), mean over " +
            "\(nSeeds) seeds (a seed fixes the initial weights and the batches; every b of one seed shares both, so differences are paired by seed). " +
            "Median step = median wall time of a training step (forward, backward, AdamW update on \(s.batch) × \(T) bytes), " +
            "the first \(s.warmupSteps) steps of a session left out, averaged over seeds; measured in the run that trained the model, on 2 shared CPU cores.",
            "Arms: 'RoPE within mini-batches' is the paper's TTT-Linear (RoPE phases restart every b tokens, so b also changes the position " +
            "encoding); 'RoPE off' trains the same models without RoPE, so b changes only the inner loop.",
        ]

        return table
    }

    /// Validation loss during training, mean over seeds, per (arm, b).
    static func curves(_ points: [Point], _ aggs: [Agg], _ s: Setup) -> Table {
        let T = s.context
        var curves = Table(name: "curves", title: "Validation loss (nats/byte) during training, mean over seeds", columns:
            [.init("step", format: .integer)] + aggs.map { .init("b=\(Self.label($0.b, T))\($0.rope ? "" : " no RoPE")", format: .fixed(4)) })
        let steps = Array(Set(points.flatMap { $0.curve.map(\.step) })).sorted()
        for st in steps {
            curves.append([.integer(st)] + aggs.map { a in
                let v = points.filter { $0.rope == a.rope && $0.b == a.b }.compactMap { p in p.curve.first { $0.step == st }?.loss }
                return v.isEmpty ? .empty : .number(v.reduce(0, +) / Double(v.count))
            })
        }

        return curves
    }

    /// Loss and step time against b, one series per arm.
    static func chart(_ points: [Point], _ aggs: [Agg], _ s: Setup) -> Chart {
        let T = s.context, nSeeds = Set(points.map(\.seed)).count, arms = arms(points)
        let bRange = 0.7...(1.4 * Double(T))
        let ms = aggs.map { 1000 * $0.ms }.filter { $0 > 0 && $0.isFinite }
        let msRange = 0...(ms.max() ?? 10) * 1.15
        func series(_ rope: Bool, _ y: (Agg) -> Double) -> Chart.Series {
            let a = aggs.filter { $0.rope == rope }
            return .init(Self.armName(rope), styleKey: rope ? "ttt-linear" : "control", x: a.map { Double($0.b) }, y: a.map(y))
        }
        return Chart(name: "minibatch", title: "TTT-Linear \(s.blocks) × D\(s.width), T = \(T): mini-batch size b (mean of \(nSeeds) seeds)", panels: [
            .init(title: "validation loss after \(s.steps) steps", x: .init("mini-batch size b", log: true, range: bRange),
                  y: .init("validation loss", unit: "nats/byte"),
                  series: arms.map { r in series(r) { $0.loss.mean } }, key: .topLeft),
            .init(title: "time per training step (median)", x: .init("mini-batch size b", log: true, range: bRange),
                  y: .init("time per step", unit: "ms", range: msRange),
                  series: arms.map { r in series(r) { 1000 * $0.ms } }, key: .bottomLeft),
        ], rows: 1, columns: 2)

    }

    /// Pipeline, the b effect with and without RoPE, loss by b, step times, the science verdict, failures.
    static func summary(_ points: [Point], _ aggs: [Agg], _ s: Setup, preset: Preset, failures: [String]) -> [String] {
        let T = s.context, nSeeds = Set(points.map(\.seed)).count, arms = arms(points)
        var summary: [String] = []
        summary.append("Pipeline: \(points.count) runs (" + arms.map { "\(s.miniBatches(rope: $0).count) values of b \($0 ? "with RoPE" : "with RoPE off")" }.joined(separator: " + ") + ", × \(nSeeds) seeds) trained \(s.steps) steps, validated and timed; finite: \(failures.isEmpty ? "yes" : "NO").")
        let on = bEffect(points, rope: true, T: T), off = bEffect(points, rope: false, T: T)
        func fmt(_ e: (mean: Double, sd: Double, se: Double)?) -> String { e.map { String(format: "%+.4f ± %.4f", $0.mean, $0.se) } ?? "–" }
        summary.append("b = 16 minus b = T = \(T) (batch GD), paired by seed (nats/byte, ± SE): RoPE within mini-batches \(fmt(on)); RoPE off \(fmt(off)).")
        if let on, let off {
            summary.append(String(format: "Share of the b effect that goes with the position encoding (RoPE-on effect − RoPE-off effect): %+.4f nats/byte.", on.mean - off.mean))
        }
        for rope in arms {
            let a = aggs.filter { $0.rope == rope }
            summary.append("\(Self.armName(rope)): validation loss by b: " + a.map { "b=\($0.b) \(String(format: "%.4f", $0.loss.mean))" }.joined(separator: ", ") +
                           "; best b = \(a.min { $0.loss.mean < $1.loss.mean }.map { String($0.b) } ?? "–").")
            if let rank = spearman(a.map { Double($0.b) }, a.map(\.loss.mean)) {
                summary.append("\(Self.armName(rope)): Spearman rank correlation of b with validation loss \(String(format: "%+.2f", rank)) (+1: loss rises steadily with b).")
            }
        }
        let rt = aggs.filter(\.rope)
        summary.append("Median step time (RoPE on): " + rt.map { "b=\($0.b) \(String(format: "%.0f", 1000 * $0.ms)) ms" }.joined(separator: ", ") + ".")
        if preset == .quick {
            summary.append("Science: not judged at the quick preset (3 training steps; the numbers mean nothing).")
        } else {
            summary.append("Science verdict: \(scienceVerdict(ropeOn: on.map { ($0.mean, $0.se) }, ropeOff: off.map { ($0.mean, $0.se) })).")
        }
        summary += failures
        return summary
    }

    /// The recipe every b shares.
    static func notes(_ s: Setup) -> String {
        """
        **Verdict** = the pipeline (every run trained, validated and timed, finite). The science verdict (last summary \
        line) is judged against the criterion in Studies/minibatch/README.md.

        Same model (seed), same batches (seed, step) and the same recipe for every b: AdamW (0.9, 0.95), weight decay \
        0.1 on matrices, clip 1.0, warmup 10% then cosine to 1e-5, peak lr \(s.lr), TTT-Linear dual form with its \
        learnable η — only `TTTOptions.miniBatch` changes (and, in the control arm, `rope = false` for every b). The number \
        of inner gradient steps per sequence is ⌈T/b⌉. Time per step includes the whole model (embedding, SwiGLU MLPs, \
        head, backward, optimizer), not only the TTT layers; the paper's right panel (forward time of one TTT layer split \
        into the W part and the z part) is the latency study's job. Runs are cached under `runs/b<b>-<config hash>/` in the \
        output directory (a `lab train` checkpoint: the run is resumed if it was interrupted and reused when finished).
        """
    }
}

/// Spearman rank correlation (nil for fewer than 3 points or a constant list).
func spearman(_ a: [Double], _ b: [Double]) -> Double? {
    guard a.count == b.count, a.count >= 3 else { return nil }
    func ranks(_ x: [Double]) -> [Double] {
        let order = x.indices.sorted { x[$0] < x[$1] }
        var r = [Double](repeating: 0, count: x.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && x[order[j + 1]] == x[order[i]] { j += 1 }
            for k in i...j { r[order[k]] = Double(i + j) / 2 }
            i = j + 1
        }
        return r
    }
    let ra = ranks(a), rb = ranks(b), n = Double(a.count)
    let ma = ra.reduce(0, +) / n, mb = rb.reduce(0, +) / n
    var num = 0.0, da = 0.0, db = 0.0
    for i in ra.indices { num += (ra[i] - ma) * (rb[i] - mb); da += (ra[i] - ma) * (ra[i] - ma); db += (rb[i] - mb) * (rb[i] - mb) }
    guard da > 0, db > 0 else { return nil }
    return num / (da * db).squareRoot()
}
