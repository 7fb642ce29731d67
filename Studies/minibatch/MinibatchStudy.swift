// MinibatchStudy.swift — `lab study minibatch`: TTT-Linear mini-batch size b vs validation loss and
// time per training step (the paper's mini-batch figure, left panel + training-time view).
import Foundation
import Layers
import Models
import StudyKit
import TensorCore
import Zoo

/// TTT-Linear mini-batch size sweep on the text corpus (`--data DIR`, default `data`).
public struct MinibatchStudy: Study {
    public let name = "minibatch"
    public let title = "TTT mini-batch size b: validation loss and time per training step"
    public let claim = """
    Smaller TTT mini-batches give better perplexity, because the inner loop takes more gradient steps per \
    sequence (b = T is plain batch gradient descent: one step); the paper uses b = 16 as the trade-off with \
    speed. On the paper's scale (TTT-Linear 125M, Pile 2k) batch GD (b = T) gives 14.05 and b = 16 12.35 \
    perplexity in the Table 1 ladder. This study trains the same small TTT-Linear byte-level language model \
    with the same recipe for each b ∈ {1, 2, 4, 8, 16, 32, 64, T} and reports validation loss and the median \
    time of a training step, measured in the same run.
    """
    public let paperReference = "Sun et al. 2024, mini-batch figure (Fig. 7 in v2; left panel) and Table 1; ttt-spec.md §6"

    public struct Setup: Sendable {
        public var width: Int, heads: Int, blocks: Int, mlpHidden: Int
        public var context: Int, batch: Int, steps: Int, lr: Float, evalEvery: Int, evalWindows: Int
        /// b ∈ {1, 2, 4, …} below the context, then b = T.
        public var miniBatches: [Int]
        /// Steps left out of the median step time at the start of a session (allocator warm-up).
        public var warmupSteps: Int { min(3, max(0, steps - 1)) }

        public func model(b: Int) throws -> ModelConfig {
            let c = ModelConfig(layer: "ttt-linear", vocab: 256, width: width, heads: heads, layers: blocks, mlpHidden: mlpHidden,
                                miniBatch: b, preset: "minibatch")
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
                                         evalEvery: 3, evalWindows: 4, miniBatches: grid(16))
    public static let standardSetup = Setup(width: 64, heads: 1, blocks: 2, mlpHidden: 172, context: 128, batch: 8, steps: 600, lr: 3e-3,
                                            evalEvery: 100, evalWindows: 64, miniBatches: grid(128))
    public static let fullSetup = Setup(width: 128, heads: 2, blocks: 4, mlpHidden: 344, context: 256, batch: 8, steps: 1000, lr: 3e-3,
                                        evalEvery: 100, evalWindows: 128, miniBatches: grid(256))

    public var presets: [Preset: String] {
        func d(_ s: Setup) -> String {
            "TTT-Linear \(s.blocks) × D\(s.width), H\(s.heads) (head dim \(s.width / s.heads)), I\(s.mlpHidden); context T = \(s.context); " +
            "b ∈ {\(s.miniBatches.map(String.init).joined(separator: ", "))}; \(s.steps) steps × \(s.batch) sequences, lr \(s.lr); " +
            "validation on \(s.evalWindows) windows"
        }
        return [.quick: d(Self.quickSetup), .standard: d(Self.standardSetup), .full: d(Self.fullSetup)]
    }

    /// Corpus directory (`lab data fetch` writes it).
    /// The corpus directory; nil reads ``StudyData/directory`` (set by `lab study … --data`).
    public var dataDirectory: URL?

    /// Sizes to use instead of the preset's (tests).
    public var setup: Setup?

    public init(dataDirectory: URL? = nil, setup: Setup? = nil) {
        self.dataDirectory = dataDirectory; self.setup = setup
    }

    /// The same study reading the corpus from `dir`.
    public func withData(_ dir: URL) -> MinibatchStudy { MinibatchStudy(dataDirectory: dir, setup: setup) }

    /// One b's finished run.
    public struct Point: Sendable {
        public var b: Int
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
        let s = setup ?? ctx.pick(quick: Self.quickSetup, standard: Self.standardSetup, full: Self.fullSetup)
        let dataDirectory = self.dataDirectory ?? StudyData.directory
        let corpus = try Corpus.load(from: dataDirectory)
        let checksum = Corpus.manifestChecksum(in: dataDirectory)
        let runsDir = ctx.outputDirectory.appendingPathComponent("runs")
        let bar = ctx.progressBar("minibatch", total: s.miniBatches.count * s.steps)
        var points: [Point] = []
        var unigram = 0.0
        for b in s.miniBatches {
            let mc = try s.model(b: b), tc = s.train(seed: ctx.seed)
            let dir = runsDir.appendingPathComponent(Self.key(mc, tc, corpus: checksum))
            var trainer: Trainer
            var cached = false
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("train_state.json").path),
               let t = try? Trainer.resume(from: dir, corpus: corpus, corpusChecksum: checksum),
               t.model.config == mc, t.config == tc {
                trainer = t
                cached = trainer.step >= tc.steps
                ctx.progress("minibatch: b = \(b): \(cached ? "reusing the finished run" : "resuming at step \(trainer.step)") in \(dir.path)")
            } else {
                ctx.progress("minibatch: training b = \(b) (\(dir.lastPathComponent))")
                trainer = try Trainer(model: try LanguageModel(config: mc, seed: tc.seed), config: tc, corpus: corpus)
                trainer.corpusChecksum = checksum
            }
            bar.advance(by: trainer.step)
            try trainer.run(checkpointTo: dir) { event in if case .step = event { bar.advance() } }
            unigram = trainer.unigramLoss
            let evals = trainer.evaluations.sorted { $0.step < $1.step }
            let times = trainer.history.dropFirst(s.warmupSteps).map(\.seconds)
            let tail = trainer.history.suffix(max(1, trainer.history.count / 10))
            points.append(Point(b: b, validationLoss: evals.last?.loss ?? .nan, curve: evals.map { ($0.step, $0.loss) },
                                medianStepSeconds: median(times), trainSeconds: trainer.elapsed,
                                finalTrainLoss: tail.reduce(0) { $0 + Double($1.loss) } / Double(tail.count),
                                parameters: trainer.model.parameterCount, cached: cached))
        }
        bar.finish()
        return result(points, setup: s, unigram: unigram, preset: ctx.preset)
    }

    func result(_ points: [Point], setup s: Setup, unigram: Double, preset: Preset) -> StudyResult {
        let T = s.context
        func label(_ b: Int) -> String { b == T ? "\(b) (= T)" : "\(b)" }
        var table = Table(name: "minibatch", title: "TTT-Linear: mini-batch size b vs validation loss and time per training step (T = \(T))", columns: [
            .init("b"), .init("inner GD steps per sequence", format: .integer),
            .init("validation loss", unit: "nats/byte", format: .fixed(4)), .init("bits/byte", format: .fixed(4)),
            .init("Δ vs b = 16", unit: "nats", format: .printf("%+.4f")),
            .init("final train loss", unit: "nats/byte", format: .fixed(4)),
            .init("median step", unit: "ms", format: .fixed(1)), .init("step time vs b = 16", format: .printf("%.2fx")),
            .init("train time", unit: "s", format: .fixed(0)), .init("cached"),
        ])
        let ref = points.first { $0.b == 16 }
        for p in points {
            table.append([.text(label(p.b)), .integer((T + p.b - 1) / p.b), .number(p.validationLoss), .number(bitsPerByte(p.validationLoss)),
                          ref.map { .number(p.validationLoss - $0.validationLoss) } ?? .empty, .number(p.finalTrainLoss),
                          .number(1000 * p.medianStepSeconds), ref.map { .number(p.medianStepSeconds / $0.medianStepSeconds) } ?? .empty,
                          .number(p.trainSeconds), .text(p.cached ? "yes" : "no")])
        }
        table.notes = [
            "Validation loss at the last step on the fixed validation windows (unigram baseline \(String(format: "%.4f", unigram)) nats/byte). " +
            "Median step = median wall time of a training step (forward, backward, AdamW update on \(s.batch) × \(T) bytes), " +
            "the first \(s.warmupSteps) steps of a session left out; measured in the run that trained the model, on 2 shared CPU cores.",
        ]

        var curves = Table(name: "curves", title: "Validation loss (nats/byte) during training", columns:
            [.init("step", format: .integer)] + points.map { .init("b=\(label($0.b))", format: .fixed(4)) })
        let steps = Array(Set(points.flatMap { $0.curve.map(\.step) })).sorted()
        for st in steps {
            curves.append([.integer(st)] + points.map { p in p.curve.first { $0.step == st }.map { .number($0.loss) } ?? .empty })
        }

        let xs = points.map { Double($0.b) }
        let bRange = 0.7...(1.4 * Double(T))
        let ms = points.map { 1000 * $0.medianStepSeconds }.filter { $0 > 0 && $0.isFinite }
        let msRange = 0...(ms.max() ?? 10) * 1.15
        let chart = Chart(name: "minibatch", title: "TTT-Linear \(s.blocks) × D\(s.width), T = \(T): mini-batch size b", panels: [
            .init(title: "validation loss after \(s.steps) steps", x: .init("mini-batch size b", log: true, range: bRange),
                  y: .init("validation loss", unit: "nats/byte"),
                  series: [.init("ttt-linear", x: xs, y: points.map(\.validationLoss))], key: .topLeft),
            .init(title: "time per training step (median)", x: .init("mini-batch size b", log: true, range: bRange),
                  y: .init("time per step", unit: "ms", range: msRange),
                  series: [.init("ttt-linear", x: xs, y: points.map { 1000 * $0.medianStepSeconds })], key: .bottomLeft),
        ], rows: 1, columns: 2)

        var failures: [String] = []
        for p in points where !p.validationLoss.isFinite || !(p.medianStepSeconds > 0) {
            failures.append("b = \(p.b): no finite validation loss or step time")
        }
        var summary: [String] = []
        let full = points.first { $0.b == T }
        if preset == .quick {
            summary.append("Quick preset: checks the pipeline end to end (every b trains, validates, is timed and cached); the numbers mean nothing at this size.")
        } else if let ref, let full {
            let better = ref.validationLoss < full.validationLoss
            summary.append("b = 16 vs b = T = \(T) (batch GD): validation \(String(format: "%.4f", ref.validationLoss)) vs \(String(format: "%.4f", full.validationLoss)) nats/byte " +
                           "(Δ \(String(format: "%+.4f", ref.validationLoss - full.validationLoss))): smaller b is \(better ? "better, as in the paper" : "NOT better here").")
            if !better { failures.append("b = 16 is not better than b = T at this size") }
        }
        let byLoss = points.sorted { $0.validationLoss < $1.validationLoss }
        summary.append("Validation loss by b: " + points.map { "b=\($0.b) \(String(format: "%.4f", $0.validationLoss))" }.joined(separator: ", ") +
                       "; best b = \(byLoss.first.map { String($0.b) } ?? "–").")
        let fastest = points.min { $0.medianStepSeconds < $1.medianStepSeconds }
        summary.append("Median step time: " + points.map { "b=\($0.b) \(String(format: "%.0f", 1000 * $0.medianStepSeconds)) ms" }.joined(separator: ", ") +
                       "; fastest b = \(fastest.map { String($0.b) } ?? "–").")
        if let rank = spearman(points.map { Double($0.b) }, points.map(\.validationLoss)) {
            summary.append("Spearman rank correlation of b with validation loss: \(String(format: "%+.2f", rank)) (+1: loss rises steadily with b).")
        }
        summary += failures
        let notes = """
        Same model (seed), same batches (seed, step) and the same recipe for every b: AdamW (0.9, 0.95), weight decay \
        0.1 on matrices, clip 1.0, warmup 10% then cosine to 1e-5, peak lr \(s.lr), TTT-Linear dual form with its \
        learnable η — only `TTTOptions.miniBatch` changes. The number of inner gradient steps per \
        sequence is ⌈T/b⌉. One seed per b: differences of a few thousandths of a nat are within run-to-run noise. \
        Time per step includes the whole model (embedding, SwiGLU MLPs, head, backward, optimizer), not only the \
        TTT layers; the paper's right panel (forward time of one TTT layer split into the W part and the z part) \
        is the latency study's job. Runs are cached under `runs/b<b>-<config hash>/` in the \
        output directory (a `lab train` checkpoint: the run is resumed if it was interrupted and reused when finished).
        """
        return StudyResult(tables: [table, curves], charts: [chart], verdict: Verdict(passed: failures.isEmpty, summary: summary), notes: notes)
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
