// RecallTraining.swift — trains a small language model on MQAR with a loss on the query positions
// only, and measures exact-match recall accuracy on held-out sequences. Runs are cached on disk.
import Foundation
import Layers
import Models
import TensorCore

/// One MQAR setting: sequence length T and number of key–value pairs.
public struct RecallTask: Codable, Hashable, Sendable, CustomStringConvertible {
    public var length: Int
    public var pairs: Int
    public init(length: Int, pairs: Int) { self.length = length; self.pairs = pairs }
    public var description: String { "T=\(length), \(pairs) pairs" }
}

/// Everything that determines a recall run (and its cache key).
public struct RecallRunConfig: Codable, Equatable, Sendable {
    public var model: ModelConfig
    /// Training batches cycle through these tasks, one task per step (`tasks[step % count]`).
    public var trainTasks: [RecallTask]
    /// Accuracy is measured on each of these.
    public var testTasks: [RecallTask]
    public var steps: Int
    /// Sequences per step.
    public var batch: Int
    public var lr: Float
    public var weightDecay: Float = 0.1
    public var warmupFraction: Double = 0.1
    /// Held-out sequences per test task.
    public var testSequences: Int
    public var seed: UInt64
    public var vocab: Int { model.vocab }
    public var format: String = "ttt-lab-recall-run/1"

    public init(model: ModelConfig, trainTasks: [RecallTask], testTasks: [RecallTask], steps: Int, batch: Int,
                lr: Float, testSequences: Int, seed: UInt64) {
        self.model = model; self.trainTasks = trainTasks; self.testTasks = testTasks; self.steps = steps
        self.batch = batch; self.lr = lr; self.testSequences = testSequences; self.seed = seed
    }

    public var schedule: LRSchedule {
        LRSchedule(peak: lr, floor: min(1e-5, lr), warmup: min(steps, max(1, Int((Double(steps) * warmupFraction).rounded()))), total: steps)
    }

    /// `<layer>-<12 hex digits of SHA-256 of the config JSON>`: a directory name per configuration.
    public var key: String {
        let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
        let data = (try? enc.encode(self)) ?? Data()
        return "\(model.layer)-" + String(SHA256.hex([UInt8](data)).prefix(12))
    }
}

/// Accuracy on one test task.
public struct RecallScore: Codable, Equatable, Sendable {
    public var task: RecallTask
    public var correct: Int
    public var queries: Int
    public var accuracy: Double { queries > 0 ? Double(correct) / Double(queries) : 0 }
}

/// A finished run: its config, accuracies, loss curve and timing (`run.json` beside `model.safetensors`).
public struct RecallRun: Codable, Sendable {
    public var config: RecallRunConfig
    public var parameters: Int
    public var scores: [RecallScore]
    /// Mean training loss (nats, query positions only) per block of steps: (last step of block, loss).
    public var lossCurve: [[Double]]
    /// Mean training loss over the last 10% of the steps.
    public var finalTrainLoss: Double
    public var trainSeconds: Double
    public var medianStepSeconds: Double

    public func score(_ t: RecallTask) -> RecallScore? { scores.first { $0.task == t } }
}

public enum RecallTrainer {
    /// Chance accuracy when guessing among the values (vocab/2 of them).
    public static func chance(vocab: Int) -> Double { 1 / Double(vocab - vocab / 2) }

    /// The training batch of a step: a function of (seed, step) only.
    public static func trainBatch(_ c: RecallRunConfig, step: Int) -> (RecallTask, MQARBatch) {
        let task = c.trainTasks[step % c.trainTasks.count]
        var rng = WindowSampler.rng(seed: c.seed, step: step)
        return (task, MQAR.batch(count: c.batch, length: task.length, pairs: task.pairs, vocab: c.vocab, rng: &rng))
    }

    /// Held-out sequences of a test task: a stream disjoint from the training one (different seed mixing).
    public static func testBatch(_ c: RecallRunConfig, task: RecallTask) -> MQARBatch {
        var rng = RNG(seed: (c.seed &+ 0x7E57_0000_0000) ^ (UInt64(task.length) << 20) ^ UInt64(task.pairs))
        return MQAR.batch(count: c.testSequences, length: task.length, pairs: task.pairs, vocab: c.vocab, rng: &rng)
    }

    /// Flattened row indices (into [B·T]) and targets of the query positions.
    static func queries(_ b: MQARBatch) -> (rows: [Int], targets: [Int]) {
        var rows: [Int] = [], tg: [Int] = []
        let T = b.inputs.first?.count ?? 0
        for (i, t) in b.targets.enumerated() {
            for (j, v) in t.enumerated() { if let v { rows.append(i * T + j); tg.append(v) } }
        }
        return (rows, tg)
    }

    /// Logits [Q, V] at the query positions (differentiable).
    static func queryLogits(_ model: LanguageModel, _ b: MQARBatch, rows: [Int]) -> Tensor {
        let B = b.inputs.count, T = b.inputs[0].count
        let h = model.hidden(b.inputs.flatMap { $0 }, batch: B).reshape([B * T, model.config.width])
        let q = embedding(h, rows)                                       // gather the query rows [Q, D]
        return matmul(q.rmsNorm(weight: model.finalNorm), model.embedding, transB: true)
    }

    /// Mean cross-entropy (nats) at the query positions only — the masked loss of Zoology.
    public static func loss(_ model: LanguageModel, _ b: MQARBatch) -> Tensor {
        let (rows, tg) = queries(b)
        return queryLogits(model, b, rows: rows).crossEntropy(targets: tg)
    }

    /// Exact-match accuracy of the argmax prediction (over the whole vocabulary) at the query positions.
    public static func score(_ model: LanguageModel, _ b: MQARBatch, task: RecallTask, chunk: Int = 32) -> RecallScore {
        withNoGrad {
            var correct = 0, total = 0
            for lo in stride(from: 0, to: b.inputs.count, by: chunk) {
                let hi = min(b.inputs.count, lo + chunk)
                let part = MQARBatch(inputs: Array(b.inputs[lo..<hi]), targets: Array(b.targets[lo..<hi]))
                let (rows, tg) = queries(part)
                let lg = queryLogits(model, part, rows: rows)
                let V = model.config.vocab
                for (r, t) in tg.enumerated() {
                    let p = lg.data + r * V
                    var best = 0
                    for v in 1..<V where p[v] > p[best] { best = v }
                    if best == t { correct += 1 }
                }
                total += tg.count
            }
            return RecallScore(task: task, correct: correct, queries: total)
        }
    }

    /// Trains `config` from scratch, or returns the cached run in `cacheDir/<key>/` when it exists
    /// with the same config. `onStep(step)` is called after every step (progress).
    public static func run(_ c: RecallRunConfig, cacheDir: URL?, onStep: (Int) -> Void = { _ in }) throws -> (run: RecallRun, cached: Bool) {
        let dir = cacheDir?.appendingPathComponent(c.key)
        if let dir, let cached = try? load(from: dir), cached.config == c { return (cached, true) }
        let model = try LanguageModel(config: c.model, seed: c.seed)
        let opt = AdamW(params: model.parameters, weightDecay: c.weightDecay)
        let sched = c.schedule
        var losses: [Double] = [], seconds: [Double] = []
        for step in 0..<c.steps {
            let t0 = Date()
            let (_, b) = trainBatch(c, step: step)
            let l = loss(model, b)
            l.backward()
            opt.step(lr: sched.lr(step: step))
            seconds.append(Date().timeIntervalSince(t0))
            let v = Double(l.item)
            guard v.isFinite else {
                throw LabError.badConfig("recall: \(c.model.layer) diverged (loss \(v)) at step \(step + 1) — lower the learning rate")
            }
            losses.append(v)
            onStep(step + 1)
        }
        let scores = c.testTasks.map { score(model, testBatch(c, task: $0), task: $0) }
        let block = max(1, c.steps / 50)
        var curve: [[Double]] = []
        for lo in stride(from: 0, to: losses.count, by: block) {
            let part = losses[lo..<min(losses.count, lo + block)]
            curve.append([Double(lo + part.count), part.reduce(0, +) / Double(part.count)])
        }
        let tail = losses.suffix(max(1, losses.count / 10))
        let run = RecallRun(config: c, parameters: model.parameterCount, scores: scores, lossCurve: curve,
                            finalTrainLoss: tail.reduce(0, +) / Double(tail.count),
                            trainSeconds: seconds.reduce(0, +), medianStepSeconds: median(seconds))
        if let dir {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try saveWeights(model.parameters, to: dir.appendingPathComponent("model.safetensors"),
                            metadata: ["layer": c.model.layer, "format": "ttt-lab-recall-run/1"])
            let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            // Written last: its presence marks a finished run.
            try AtomicFile.write(try enc.encode(run), to: dir.appendingPathComponent("run.json"))
        }
        return (run, false)
    }

    /// A finished run from `dir/run.json` (nil if absent or unreadable; the model file must exist too).
    public static func load(from dir: URL) throws -> RecallRun? {
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path),
              let data = FileManager.default.contents(atPath: dir.appendingPathComponent("run.json").path) else { return nil }
        return try JSONDecoder().decode(RecallRun.self, from: data)
    }

    /// Loads the weights of a cached run into a fresh model.
    public static func loadModel(_ c: RecallRunConfig, from cacheDir: URL) throws -> LanguageModel {
        let model = try LanguageModel(config: c.model, seed: c.seed)
        try loadWeights(into: model.parameters, from: cacheDir.appendingPathComponent(c.key).appendingPathComponent("model.safetensors"))
        return model
    }
}

/// Median of a list (0 for an empty list).
func median(_ xs: [Double]) -> Double {
    guard !xs.isEmpty else { return 0 }
    let s = xs.sorted(), n = s.count
    return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
}
