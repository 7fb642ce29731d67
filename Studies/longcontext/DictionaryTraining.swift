// DictionaryTraining.swift — trains a small LM on the dictionary stream (loss on the values only) and
// measures the loss at every record of held-out sequences. Finished runs are cached on disk.
import Foundation
import Layers
import Models
import TensorCore
import Zoo

/// Everything that determines a long-context run (and its cache key).
public struct DictionaryRunConfig: Codable, Equatable, Sendable {
    public var model: ModelConfig
    public var task: DictionaryTask
    public var steps: Int
    /// Sequences per step.
    public var batch: Int
    public var lr: Float
    public var weightDecay: Float = 0.1
    public var warmupFraction: Double = 0.1
    /// Held-out sequences scored at the end.
    public var testSequences: Int
    /// Validation sequences scored at the end (a stream disjoint from training and test): what the lr
    /// selection reads.
    public var validationSequences: Int
    public var seed: UInt64
    public var format: String = "ttt-lab-long-context-run/2"

    public init(model: ModelConfig, task: DictionaryTask, steps: Int, batch: Int, lr: Float, testSequences: Int,
                validationSequences: Int = 0, seed: UInt64) {
        self.model = model; self.task = task; self.steps = steps; self.batch = batch; self.lr = lr
        self.testSequences = testSequences; self.validationSequences = validationSequences; self.seed = seed
    }

    public var schedule: LRSchedule { LRSchedule(peak: lr, warmupFraction: warmupFraction, total: steps) }

    /// `<layer>-<12 hex digits of SHA-256 of the config JSON>`.
    public var key: String {
        runKey(layer: model.layer, config: self)
    }
}

/// A finished run: per held-out sequence, the loss (nats) at each record's value.
public struct DictionaryRun: Codable, Sendable {
    public var config: DictionaryRunConfig
    public var parameters: Int
    /// Bytes of recurrent state of the whole model at context T (sum of the blocks' `stateBytes`).
    public var stateBytes: Int
    /// `losses[s][r]`: loss at the value of record r of test sequence s (empty when the run diverged).
    public var losses: [[Double]]
    /// The same on the validation sequences (the lr selection's only input).
    public var validationLosses: [[Double]]
    /// The step whose training loss was not finite (training stopped there; its lr is too high), nil if none.
    public var divergedAt: Int?
    /// Mean training loss per block of steps: (last step of block, loss).
    public var lossCurve: [[Double]]
    public var finalTrainLoss: Double
    public var trainSeconds: Double
    public var medianStepSeconds: Double
}

public enum DictionaryTrainer {
    /// Training sequences of a step: a function of (seed, step) only.
    public static func trainBatch(_ c: DictionaryRunConfig, step: Int) -> [(tokens: [Int], isNew: [Bool])] {
        var rng = WindowSampler.rng(seed: c.seed, step: step)
        return c.task.batch(count: c.batch, rng: &rng)
    }

    /// Held-out sequences: a stream disjoint from the training one (independent of the seed, so every
    /// seed and every layer is scored on the same sequences).
    public static func testBatch(_ c: DictionaryRunConfig) -> [(tokens: [Int], isNew: [Bool])] {
        var rng = RNG(seed: 0x10C0_57E5_7000 ^ UInt64(c.task.records))
        return c.task.batch(count: c.testSequences, rng: &rng)
    }

    /// Validation sequences: a third stream, disjoint from training and test, also independent of the seed
    /// (every seed and layer is selected on the same sequences).
    public static func validationBatch(_ c: DictionaryRunConfig) -> [(tokens: [Int], isNew: [Bool])] {
        var rng = RNG(seed: 0x0A11_D000_5E1E_C700 ^ UInt64(c.task.records))
        return c.task.batch(count: c.validationSequences, rng: &rng)
    }

    /// Logits [B·R, V] at the value positions (input position 2r predicts value r), differentiable.
    static func valueLogits(_ model: LanguageModel, _ seqs: [(tokens: [Int], isNew: [Bool])]) -> (Tensor, [Int]) {
        let B = seqs.count, T = seqs[0].tokens.count - 1, R = T / 2
        let h = model.hidden(seqs.flatMap { $0.tokens.prefix(T) }, batch: B).reshape([B * T, model.config.width])
        var rows: [Int] = [], targets: [Int] = []
        rows.reserveCapacity(B * R); targets.reserveCapacity(B * R)
        for (s, seq) in seqs.enumerated() {
            for r in 0..<R { rows.append(s * T + 2 * r); targets.append(seq.tokens[2 * r + 1]) }
        }
        let q = embedding(h, rows)                                                   // [B·R, D]
        return (matmul(q.rmsNorm(weight: model.finalNorm), model.embedding, transB: true), targets)   // [B·R, V]
    }

    /// Mean cross-entropy (nats) over every value of the batch.
    public static func loss(_ model: LanguageModel, _ seqs: [(tokens: [Int], isNew: [Bool])]) -> Tensor {
        let (lg, tg) = valueLogits(model, seqs)
        return lg.crossEntropy(targets: tg)
    }

    /// Loss at every value of every sequence, `[s][r]`, no gradient, `chunk` sequences per forward pass.
    public static func valueLosses(_ model: LanguageModel, _ seqs: [(tokens: [Int], isNew: [Bool])], chunk: Int = 16) -> [[Double]] {
        withNoGrad {
            var out: [[Double]] = []
            let V = model.config.vocab
            for lo in stride(from: 0, to: seqs.count, by: chunk) {
                let part = Array(seqs[lo..<min(seqs.count, lo + chunk)])
                let (lg, tg) = valueLogits(model, part)
                let R = tg.count / part.count
                let p = lg.data
                var flat = [Double](repeating: 0, count: tg.count)
                for i in 0..<tg.count {
                    let row = p + i * V
                    var m = -Float.infinity
                    for j in 0..<V { m = max(m, row[j]) }
                    var s = 0.0
                    for j in 0..<V { s += Double(expf(row[j] - m)) }
                    flat[i] = Double(m) + log(s) - Double(row[tg[i]])
                }
                for s in 0..<part.count { out.append(Array(flat[(s * R)..<((s + 1) * R)])) }
            }
            return out
        }
    }

    /// Bytes of state of `config`'s model at context `T`: the blocks' sequence layers plus the TTT
    /// Mamba backbone's pre-conv history.
    public static func stateBytes(_ config: ModelConfig, context T: Int) throws -> Int {
        try config.stateBytes(context: T)                                    // per block (hybrid stacks too)
    }

    static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    /// The finished run of `c` in `cacheDir/<key>/` (its `run.json`, written last), if there is one.
    public static func cached(_ c: DictionaryRunConfig, cacheDir: URL) -> DictionaryRun? {
        guard let data = FileManager.default.contents(atPath: cacheDir.appendingPathComponent(c.key).appendingPathComponent("run.json").path),
              let run = try? decoder.decode(DictionaryRun.self, from: data), run.config == c else { return nil }
        return run
    }

    /// Trains `c` from scratch, or returns the finished run cached in `cacheDir/<key>/`.
    public static func run(_ c: DictionaryRunConfig, cacheDir: URL?, onStep: (Int) -> Void = { _ in }) throws -> (run: DictionaryRun, cached: Bool) {
        let dir = cacheDir?.appendingPathComponent(c.key)
        if let cacheDir, let cached = cached(c, cacheDir: cacheDir) { return (cached, true) }
        try c.task.validate()
        let model = try LanguageModel(config: c.model, seed: c.seed)
        let opt = AdamW(params: model.parameters, weightDecay: c.weightDecay)
        let sched = c.schedule
        var losses: [Double] = [], seconds: [Double] = [], divergedAt: Int?
        for step in 0..<c.steps {
            let t0 = Date()
            let l = loss(model, trainBatch(c, step: step))
            l.backward()
            opt.step(lr: sched.lr(step: step))
            seconds.append(Date().timeIntervalSince(t0))
            let v = Double(l.item)
            // A diverged run is a result of the lr sweep (the selection never picks it), not an error.
            guard v.isFinite else { divergedAt = step + 1; break }
            losses.append(v)
            onStep(step + 1)
        }
        let test = divergedAt == nil ? valueLosses(model, testBatch(c)) : []
        let validation = divergedAt == nil && c.validationSequences > 0 ? valueLosses(model, validationBatch(c)) : []
        let curve = lossCurve(losses, steps: max(1, losses.count))
        let tail = losses.suffix(max(1, losses.count / 10))
        let sorted = seconds.sorted()
        let run = DictionaryRun(config: c, parameters: model.parameterCount, stateBytes: try stateBytes(c.model, context: c.task.length),
                                losses: test, validationLosses: validation, divergedAt: divergedAt,
                                lossCurve: curve, finalTrainLoss: divergedAt != nil || tail.isEmpty ? .infinity : tail.reduce(0, +) / Double(tail.count),
                                trainSeconds: seconds.reduce(0, +), medianStepSeconds: sorted.isEmpty ? 0 : sorted[sorted.count / 2])
        if let dir {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try saveWeights(model.parameters, to: dir.appendingPathComponent("model.safetensors"),
                            metadata: ["layer": c.model.layer, "format": c.format])
            let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
            enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            // Written last: its presence marks a finished run.
            try AtomicFile.write(try enc.encode(run), to: dir.appendingPathComponent("run.json"))
        }
        return (run, false)
    }
}
