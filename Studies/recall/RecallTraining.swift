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
    /// The training mixture: each step draws one of these tasks with probability ∝ `trainWeights`
    /// (from (seed, step) alone), then a fresh batch of it.
    public var trainTasks: [RecallTask]
    /// Mixture weights, one per train task (need not sum to 1).
    public var trainWeights: [Double]
    /// Accuracy is measured on each of these.
    public var testTasks: [RecallTask]
    /// Step budget (the cosine schedule runs over it; a run may stop earlier, see `stopAt`).
    public var steps: Int
    /// Sequences per step.
    public var batch: Int
    public var lr: Float
    public var weightDecay: Float = 0.1
    public var warmupFraction: Double = 0.1
    /// Held-out sequences per test task.
    public var testSequences: Int
    public var seed: UInt64
    /// Evaluate on a validation stream (disjoint from the test one) every this many steps; 0: never.
    public var evalEvery: Int = 0
    /// Validation sequences per test task at each evaluation.
    public var evalSequences: Int = 64
    /// Stop once every test task's validation accuracy is ≥ this (e.g. 0.99); nil: run every step.
    public var stopAt: Double? = nil
    /// TTT-MLP: ρ = ttt_lr_mult warms up linearly from this value to 1 over the lr warmup, as `lab train`
    /// does (docs/ttt.md §3); nil keeps ρ = 1. `RecallRunConfig.init` sets it from the layer name.
    public var tttLRMultStart: Float? = nil
    public var vocab: Int { model.vocab }
    public var format: String = "ttt-lab-recall-run/2"

    public init(model: ModelConfig, trainTasks: [RecallTask], trainWeights: [Double]? = nil, testTasks: [RecallTask],
                steps: Int, batch: Int, lr: Float, testSequences: Int, seed: UInt64) {
        self.model = model; self.trainTasks = trainTasks; self.testTasks = testTasks; self.steps = steps
        self.trainWeights = trainWeights ?? Array(repeating: 1, count: trainTasks.count)
        self.batch = batch; self.lr = lr; self.testSequences = testSequences; self.seed = seed
        var t = TrainConfig(steps: 1, batch: 1, context: 1, lr: lr)
        t.applyLayerDefaults(model: model)
        tttLRMultStart = t.tttLRMultStart
    }

    public var schedule: LRSchedule { LRSchedule(peak: lr, warmupFraction: warmupFraction, total: steps) }

    /// ρ (the TTT inner-loop lr multiplier) at a step: `s + (1 − s)·warmup fraction` (1 without a warmup).
    public func tttLRMult(step: Int) -> Float {
        guard let s = tttLRMultStart else { return 1 }
        return s + (1 - s) * schedule.warmupFraction(step: step)
    }

    /// `<layer>-<12 hex digits of SHA-256 of the config JSON>`: a directory name per configuration.
    public var key: String {
        runKey(layer: model.layer, config: self)
    }
}

/// One evaluation during training (on the validation stream).
public struct RecallEval: Codable, Equatable, Sendable {
    /// Steps done, sequences seen, training seconds so far (evaluation time excluded).
    public var step: Int
    public var examples: Int
    public var seconds: Double
    /// Validation accuracy per test task, in the order of `testTasks`.
    public var accuracy: [Double]
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
    /// Steps actually run (< config.steps when the run stopped at the target).
    public var stepsRun: Int
    /// Validation accuracy during training (every `evalEvery` steps and at the end).
    public var evals: [RecallEval]
    /// The step whose loss was not finite (the run stopped there; its lr is too high), nil if none.
    public var divergedAt: Int?

    public func score(_ t: RecallTask) -> RecallScore? { scores.first { $0.task == t } }

    /// The first evaluation at which every task of `tasks` has validation accuracy ≥ `target` (nil: never).
    public func firstReaching(_ target: Double, on tasks: [RecallTask]) -> RecallEval? {
        let idx = tasks.compactMap { config.testTasks.firstIndex(of: $0) }
        guard idx.count == tasks.count else { return nil }
        return evals.first { e in idx.allSatisfy { e.accuracy[$0] >= target } }
    }

    /// Mean test accuracy over `tasks` (NaN when one is missing).
    public func meanAccuracy(_ tasks: [RecallTask]) -> Double {
        let xs = tasks.map { score($0)?.accuracy ?? .nan }
        return xs.reduce(0, +) / Double(max(1, xs.count))
    }
}

public enum RecallTrainer {
    /// Activation recompute of the study's models: never. `.auto` recomputes above ≈ 512 MiB of kept
    /// activations, which a 4-block D 64 model at 64 × 256 tokens passes (≈ 0.7 GB; D 128: ≈ 1.4 GB): it then
    /// paid one more block forward and a heap trim (page faults on every next buffer) per block per step for
    /// memory a study machine has. Loss and gradients are bit-identical either way (BlockRecomputeTests).
    public static let recompute: ActivationRecompute = .never

    /// Chance accuracy when guessing among the values (vocab/2 of them).
    public static func chance(vocab: Int) -> Double { 1 / Double(vocab - vocab / 2) }

    /// The mixture sampler: the task of `step`, drawn with probability ∝ weight from `rng`.
    public static func sampleTask(_ tasks: [RecallTask], weights: [Double], rng: inout RNG) -> RecallTask {
        precondition(tasks.count == weights.count && !tasks.isEmpty, "recall: one weight per train task")
        let total = weights.reduce(0, +)
        var u = Double(rng.next() >> 11) / Double(1 << 53) * total
        for (t, w) in zip(tasks, weights) { if u < w { return t }; u -= w }
        return tasks[tasks.count - 1]
    }

    /// The training batch of a step — fresh data, a function of (seed, step) only: the task from the
    /// mixture sampler, then `batch` new sequences of it.
    public static func trainBatch(_ c: RecallRunConfig, step: Int) -> (RecallTask, MQARBatch) {
        var rng = WindowSampler.rng(seed: c.seed, step: step)
        let task = sampleTask(c.trainTasks, weights: c.trainWeights, rng: &rng)
        return (task, MQAR.batch(count: c.batch, length: task.length, pairs: task.pairs, vocab: c.vocab, rng: &rng))
    }

    /// Held-out sequences of a test task: a stream disjoint from the training one (different seed mixing).
    public static func testBatch(_ c: RecallRunConfig, task: RecallTask) -> MQARBatch {
        var rng = RNG(seed: (c.seed &+ 0x7E57_0000_0000) ^ (UInt64(task.length) << 20) ^ UInt64(task.pairs))
        return MQAR.batch(count: c.testSequences, length: task.length, pairs: task.pairs, vocab: c.vocab, rng: &rng)
    }

    /// Validation sequences of a task (for early stopping): a third stream, disjoint from training and test.
    public static func validationBatch(_ c: RecallRunConfig, task: RecallTask) -> MQARBatch {
        var rng = RNG(seed: (c.seed &+ 0x0A11_D000_0000_0000) ^ (UInt64(task.length) << 24) ^ (UInt64(task.pairs) << 4) ^ 0x5A)
        return MQAR.batch(count: c.evalSequences, length: task.length, pairs: task.pairs, vocab: c.vocab, rng: &rng)
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
    public static func run(_ c: RecallRunConfig, cacheDir: URL?, onStep: (Int) -> Void = { _ in },
                           observe: ((Int, LanguageModel) -> Void)? = nil) throws -> (run: RecallRun, cached: Bool) {
        let dir = cacheDir?.appendingPathComponent(c.key)
        if let dir, let cached = try? load(from: dir), cached.config == c { return (cached, true) }
        let model = try LanguageModel(config: c.model, seed: c.seed)
        model.recompute = recompute
        let opt = AdamW(params: model.parameters, weightDecay: c.weightDecay)
        let sched = c.schedule
        let validation = c.evalEvery > 0 ? c.testTasks.map { validationBatch(c, task: $0) } : []
        var losses: [Double] = [], seconds: [Double] = [], evals: [RecallEval] = []
        var trained = 0.0, stepsRun = 0, divergedAt: Int? = nil
        func evaluate(_ step: Int) -> RecallEval {
            let acc = zip(c.testTasks, validation).map { score(model, $1, task: $0).accuracy }
            let e = RecallEval(step: step, examples: step * c.batch, seconds: trained, accuracy: acc)
            evals.append(e)
            return e
        }
        for step in 0..<c.steps {
            let t0 = Date()
            let (_, b) = trainBatch(c, step: step)
            if c.tttLRMultStart != nil { model.setTTTLearningRateMultiplier(c.tttLRMult(step: step)) }
            observe?(step, model)
            let l = loss(model, b)
            l.backward()
            opt.step(lr: sched.lr(step: step))
            let dt = Date().timeIntervalSince(t0)
            seconds.append(dt); trained += dt; stepsRun = step + 1
            let v = Double(l.item)
            // A diverged run is a result of the lr sweep, not an error: it stops and is reported as such.
            guard v.isFinite else { divergedAt = step + 1; break }
            losses.append(v)
            onStep(step + 1)
            if c.evalEvery > 0 && (step + 1) % c.evalEvery == 0 && step + 1 < c.steps {
                let e = evaluate(step + 1)
                if let target = c.stopAt, e.accuracy.allSatisfy({ $0 >= target }) { break }
            }
        }
        if c.evalEvery > 0 && evals.last?.step != stepsRun && divergedAt == nil { _ = evaluate(stepsRun) }
        let scores = c.testTasks.map { score(model, testBatch(c, task: $0), task: $0) }
        let curve = lossCurve(losses, steps: stepsRun)
        let tail = losses.suffix(max(1, losses.count / 10))
        let run = RecallRun(config: c, parameters: model.parameterCount, scores: scores, lossCurve: curve,
                            finalTrainLoss: divergedAt != nil || tail.isEmpty ? .infinity : tail.reduce(0, +) / Double(tail.count),
                            trainSeconds: trained, medianStepSeconds: median(seconds), stepsRun: stepsRun, evals: evals,
                            divergedAt: divergedAt)
        if let dir {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try saveWeights(model.parameters, to: dir.appendingPathComponent("model.safetensors"),
                            metadata: ["layer": c.model.layer, "format": c.format])
            let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            // Written last: its presence marks a finished run.
            try AtomicFile.write(try enc.encode(run), to: dir.appendingPathComponent("run.json"))
        }
        return (run, false)
    }

    /// A finished run from `dir/run.json` (nil if absent or unreadable; the model file must exist too).
    public static func load(from dir: URL) throws -> RecallRun? {
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path),
              let data = FileManager.default.contents(atPath: dir.appendingPathComponent("run.json").path) else { return nil }
        let dec = JSONDecoder()
        dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try dec.decode(RecallRun.self, from: data)
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
