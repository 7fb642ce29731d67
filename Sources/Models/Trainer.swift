// Trainer.swift — the outer training loop (spec §3 recipe), validation, checkpoints, exact resume.
import Foundation
import Layers
import TensorCore

/// Training recipe (spec §3, paper App. C): AdamW β = (0.9, 0.95), weight decay 0.1 on matrices,
/// clipping at 1.0, linear warmup over 10% of the steps then cosine decay to 1e-5;
/// tokens per step = batch × context.
public struct TrainConfig: Codable, Equatable, Sendable {
    public var steps: Int
    public var batch: Int
    public var context: Int
    /// Peak learning rate.
    public var lr: Float
    public var minLR: Float = 1e-5
    public var warmupFraction: Double = 0.1
    public var weightDecay: Float = 0.1
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var eps: Float = 1e-8
    public var clip: Float = 1.0
    /// Seeds the initial weights and (with the step number) every training batch.
    public var seed: UInt64 = 0
    /// Validate every this many steps (and at step 0 and at the end).
    public var evalEvery: Int = 50
    /// Windows of `context` tokens in the fixed validation set.
    public var evalWindows: Int = 64
    /// Save a checkpoint every this many steps (0: at every validation), and always at the end.
    public var checkpointEvery: Int = 0
    /// TTT-MLP: ρ = ttt_lr_mult warms up linearly from this value to 1 over the warmup (spec §3:
    /// η 0.01 → 0.1 with η_base 0.1); nil keeps ρ = 1.
    public var tttLRMultStart: Float? = nil

    public init(steps: Int, batch: Int, context: Int, lr: Float, seed: UInt64 = 0) {
        self.steps = steps; self.batch = batch; self.context = context; self.lr = lr; self.seed = seed
    }

    public var tokensPerStep: Int { batch * context }
    public var warmupSteps: Int { min(steps, max(1, Int((Double(steps) * warmupFraction).rounded()))) }
    public var schedule: LRSchedule { LRSchedule(peak: lr, floor: min(minLR, lr), warmup: warmupSteps, total: steps) }

    /// ρ at a step (1 when no TTT-MLP warmup is configured).
    public func tttLRMult(step: Int) -> Float {
        guard let s = tttLRMultStart else { return 1 }
        return s + (1 - s) * schedule.warmupFraction(step: step)
    }

    /// The recipe's defaults for a layer: TTT-MLP layers get the ρ warmup (spec §3).
    public mutating func applyLayerDefaults(layer: String) {
        tttLRMultStart = layer.hasPrefix("ttt-mlp") ? 0.1 : nil
    }

    public func validate() throws {
        func positive(_ v: Int, _ what: String, _ flag: String) throws {
            guard v > 0 else { throw LabError.badConfig("\(what) = \(v) must be ≥ 1; pass \(flag) N") }
        }
        try positive(steps, "steps", "--steps"); try positive(batch, "batch", "--batch")
        try positive(context, "context", "--context"); try positive(evalEvery, "eval interval", "--eval-every")
        try positive(evalWindows, "validation windows", "--eval-windows")
        guard lr > 0, lr.isFinite else { throw LabError.badConfig("learning rate \(lr) must be a positive number; pass --lr 3e-3") }
        guard checkpointEvery >= 0 else { throw LabError.badConfig("checkpoint interval \(checkpointEvery) must be ≥ 0") }
    }
}

/// One optimizer step.
public struct StepRecord: Codable, Equatable, Sendable {
    /// Steps completed after this one (1-based).
    public var step: Int
    public var lr: Float
    /// Mean training loss of the step's batch before the update (nats per byte).
    public var loss: Float
    public var gradNorm: Double
    /// Wall time of the step (forward, backward, update).
    public var seconds: Double
}

/// One validation pass.
public struct EvalRecord: Codable, Equatable, Sendable {
    public var step: Int
    /// Mean validation loss (nats per byte).
    public var loss: Double
}

/// What a running trainer reports.
public enum TrainEvent {
    case step(StepRecord)
    case evaluation(EvalRecord)
    case checkpoint(step: Int, dir: URL)
    case warning(String)
}

/// Trains a `LanguageModel` on a `Corpus` with the spec's recipe; saves and resumes checkpoints so
/// that a resumed run equals an uninterrupted one bit for bit (same thread count).
///
/// ```swift
/// let trainer = try Trainer(model: model, config: cfg, corpus: corpus)
/// try trainer.run(checkpointTo: URL(fileURLWithPath: "runs/tiny")) { event in print(event) }
/// let again = try Trainer.resume(from: URL(fileURLWithPath: "runs/tiny"), corpus: corpus)
/// ```
public final class Trainer {
    public let model: LanguageModel
    public let config: TrainConfig
    public let optimizer: AdamW
    public let sampler: WindowSampler
    public let validation: ValidationSet
    /// Cross-entropy of the training set's unigram distribution on the validation windows.
    public let unigramLoss: Double
    /// Identifies the corpus (SHA-256 of its manifest) in checkpoints; nil for in-memory corpora.
    public var corpusChecksum: String?
    /// Steps completed.
    public private(set) var step = 0
    public private(set) var history: [StepRecord] = []
    public private(set) var evaluations: [EvalRecord] = []
    /// Training wall time over all sessions (seconds, steps only).
    public private(set) var elapsed: Double = 0

    public init(model: LanguageModel, config: TrainConfig, corpus: Corpus) throws {
        try config.validate()
        let maxID = corpus.train.lazy.flatMap { $0.bytes }.max().map(Int.init) ?? 0
        guard maxID < model.config.vocab else {
            throw LabError.badConfig("the corpus has byte \(maxID) but the model's vocabulary is \(model.config.vocab); use vocab 256 (byte tokenizer)")
        }
        self.model = model
        self.config = config
        optimizer = AdamW(params: model.parameters, beta1: config.beta1, beta2: config.beta2, eps: config.eps,
                          weightDecay: config.weightDecay, clip: config.clip)
        sampler = try WindowSampler(documents: corpus.train.map(\.bytes), context: config.context)
        validation = try ValidationSet(documents: corpus.validation.map(\.bytes), context: config.context, count: config.evalWindows)
        unigramLoss = validation.unigramLoss(train: corpus.train.map(\.bytes), vocab: model.config.vocab)
    }

    // MARK: steps

    /// One optimizer step on the batch for the current step number; returns its record.
    @discardableResult
    public func trainStep() -> StepRecord {
        let t0 = Date()
        let (x, y) = sampler.batch(step: step, seed: config.seed, batch: config.batch)
        model.setTTTLearningRateMultiplier(config.tttLRMult(step: step))
        let loss = model.loss(inputs: x, targets: y, batch: config.batch)
        loss.backward()
        let lr = config.schedule.lr(step: step)
        let norm = optimizer.step(lr: lr)
        step += 1
        let dt = Date().timeIntervalSince(t0)
        elapsed += dt
        let rec = StepRecord(step: step, lr: lr, loss: loss.item, gradNorm: norm, seconds: dt)
        history.append(rec)
        return rec
    }

    /// Mean validation loss (nats per byte) on the fixed validation windows, no gradient.
    public func evaluate() -> Double {
        withNoGrad {
            var total: Double = 0, n = 0
            let rows = validation.inputs.count
            for lo in stride(from: 0, to: rows, by: config.batch) {
                let hi = min(rows, lo + config.batch)
                let x = validation.inputs[lo..<hi].flatMap { $0 }, y = validation.targets[lo..<hi].flatMap { $0 }
                let l = model.loss(inputs: x, targets: y, batch: hi - lo).item
                total += Double(l) * Double(y.count); n += y.count
            }
            return total / Double(max(n, 1))
        }
    }

    @discardableResult
    func recordEvaluation() -> EvalRecord {
        let e = EvalRecord(step: step, loss: evaluate())
        evaluations.removeAll { $0.step == e.step }
        evaluations.append(e)
        return e
    }

    /// Trains until `config.steps` (or `stop`, whichever is first), validating every `evalEvery`
    /// steps and saving checkpoints to `dir`. `interrupted` is polled after every step: when it
    /// returns true the run saves a checkpoint and returns early.
    public func run(until stop: Int? = nil, checkpointTo dir: URL?, interrupted: () -> Bool = { false },
                    onEvent: (TrainEvent) -> Void = { _ in }) throws {
        let end = min(config.steps, stop ?? config.steps)
        if step == 0 && !evaluations.contains(where: { $0.step == 0 }) { onEvent(.evaluation(recordEvaluation())) }
        if let dir, step == 0 { try save(to: dir) }
        while step < end {
            onEvent(.step(trainStep()))
            let last = step == config.steps
            let evalNow = step % config.evalEvery == 0 || last
            if evalNow { onEvent(.evaluation(recordEvaluation())) }
            let stopping = interrupted()
            if let dir {
                let periodic = config.checkpointEvery > 0 ? step % config.checkpointEvery == 0 : evalNow
                if periodic || step == end || stopping {
                    try save(to: dir)
                    onEvent(.checkpoint(step: step, dir: dir))
                }
            }
            if stopping { break }
        }
        model.setTTTLearningRateMultiplier(1)
    }

    // MARK: checkpoints

    /// `config.json`: everything needed to rebuild the model and continue training.
    public struct CheckpointConfig: Codable, Equatable {
        public var model: ModelConfig
        public var train: TrainConfig
        public var tokenizer: String = "bytes"
        public var corpusSHA256: String?
        public var format: String = "ttt-lab-checkpoint/1"
    }

    /// `train_state.json`: progress, history and checksums of the weight and optimizer files
    /// (written last, so it names a consistent set).
    public struct TrainState: Codable {
        public var step: Int
        public var elapsed: Double
        public var threads: Int
        public var unigramLoss: Double
        public var modelSHA256: String
        public var optimizerSHA256: String
        public var history: [StepRecord]
        public var evaluations: [EvalRecord]
    }

    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    /// Writes `model.safetensors`, `optimizer.safetensors`, `config.json`, `loss.csv` and, last,
    /// `train_state.json` into `dir`, each atomically.
    public func save(to dir: URL) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let modelURL = dir.appendingPathComponent("model.safetensors")
        try saveWeights(model.parameters, to: modelURL, metadata: ["step": String(step), "layer": model.config.layer,
                                                                    "format": "ttt-lab-checkpoint/1"])
        let optURL = dir.appendingPathComponent("optimizer.safetensors")
        do { try optimizer.stateFile().write(to: optURL) } catch let e as FileError {
            throw LabError.badFile(path: optURL.path, problem: "\(e.problem) — \(e.fix)")
        }
        let cfg = CheckpointConfig(model: model.config, train: config, corpusSHA256: corpusChecksum)
        try AtomicFile.write(try Trainer.encoder().encode(cfg), to: dir.appendingPathComponent("config.json"))
        try AtomicFile.write(lossCSV(), to: dir.appendingPathComponent("loss.csv"))
        let state = TrainState(step: step, elapsed: elapsed, threads: Parallel.threads, unigramLoss: unigramLoss,
                               modelSHA256: try Trainer.fileChecksum(modelURL), optimizerSHA256: try Trainer.fileChecksum(optURL),
                               history: history, evaluations: evaluations)
        try AtomicFile.write(try Trainer.encoder().encode(state), to: dir.appendingPathComponent("train_state.json"))
    }

    static func fileChecksum(_ url: URL) throws -> String {
        guard let d = FileManager.default.contents(atPath: url.path) else {
            throw LabError.missing("checkpoint file \(url.path) is missing — the checkpoint is incomplete; start a new run")
        }
        return SHA256.hex([UInt8](d))
    }

    /// Reads `config.json` of a checkpoint directory.
    public static func checkpointConfig(in dir: URL) throws -> CheckpointConfig {
        let url = dir.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw LabError.missing("no checkpoint in \(dir.path) (config.json missing) — pass the directory a 'lab train' run wrote (its --out)")
        }
        do { return try decoder().decode(CheckpointConfig.self, from: data) } catch {
            throw LabError.badFile(path: url.path, problem: "not a lab checkpoint config (\(error.localizedDescription)) — pass the directory a 'lab train' run wrote")
        }
    }

    /// Loads a model (weights only) from a checkpoint directory, for generation.
    public static func loadModel(from dir: URL) throws -> LanguageModel {
        let cfg = try checkpointConfig(in: dir)
        let model = try LanguageModel(config: cfg.model, seed: cfg.train.seed)
        try loadWeights(into: model.parameters, from: dir.appendingPathComponent("model.safetensors"))
        return model
    }

    /// Rebuilds the trainer of a checkpoint directory: model, optimizer state, step and history.
    /// The corpus must be the one the run started with (its manifest checksum is compared).
    public static func resume(from dir: URL, corpus: Corpus, corpusChecksum: String? = nil,
                              onWarning: (String) -> Void = { _ in }) throws -> Trainer {
        let cfg = try checkpointConfig(in: dir)
        let stateURL = dir.appendingPathComponent("train_state.json")
        guard let sdata = FileManager.default.contents(atPath: stateURL.path) else {
            throw LabError.missing("\(stateURL.path) is missing — the checkpoint is incomplete; start a new run")
        }
        let state: TrainState
        do { state = try decoder().decode(TrainState.self, from: sdata) } catch {
            throw LabError.badFile(path: stateURL.path, problem: "unreadable training state (\(error.localizedDescription)) — the checkpoint is damaged; start a new run")
        }
        if let want = cfg.corpusSHA256, let have = corpusChecksum, want != have {
            throw LabError.badConfig("the corpus differs from the one this run started with (manifest checksum) — pass the original --data DIR, or start a new run")
        }
        let modelURL = dir.appendingPathComponent("model.safetensors"), optURL = dir.appendingPathComponent("optimizer.safetensors")
        guard try fileChecksum(modelURL) == state.modelSHA256, try fileChecksum(optURL) == state.optimizerSHA256 else {
            throw LabError.badFile(path: dir.path, problem: "model/optimizer files do not match train_state.json (a save was interrupted) — start a new run or restore the directory")
        }
        let model = try LanguageModel(config: cfg.model, seed: cfg.train.seed)
        try loadWeights(into: model.parameters, from: modelURL)
        let trainer = try Trainer(model: model, config: cfg.train, corpus: corpus)
        let opt: SafetensorsFile
        do { opt = try SafetensorsFile.read(optURL) } catch let e as FileError {
            throw LabError.badFile(path: optURL.path, problem: "\(e.problem) — \(e.fix)")
        }
        try trainer.optimizer.load(opt, path: optURL.path)
        guard trainer.optimizer.t == state.step else {
            throw LabError.badFile(path: dir.path, problem: "optimizer step \(trainer.optimizer.t) ≠ training step \(state.step) — the checkpoint is inconsistent; start a new run")
        }
        trainer.step = state.step
        trainer.elapsed = state.elapsed
        trainer.history = state.history
        trainer.evaluations = state.evaluations
        trainer.corpusChecksum = cfg.corpusSHA256
        if state.threads != Parallel.threads {
            onWarning("the run was trained with \(state.threads) thread(s), this one uses \(Parallel.threads): the result will not be bit-identical to an uninterrupted run (set LAB_THREADS=\(state.threads))")
        }
        return trainer
    }

    // MARK: outputs

    /// `loss.csv`: one row per step (and step 0), validation columns where a validation ran.
    public func lossCSV() -> String {
        var out = "step,tokens,lr,train_loss,train_bpb,grad_norm,val_loss,val_bpb,step_seconds\n"
        let evals = Dictionary(evaluations.map { ($0.step, $0.loss) }, uniquingKeysWith: { a, _ in a })
        func f(_ x: Double) -> String { String(format: "%.6g", x) }
        if let v = evals[0] { out += "0,0,,,,,\(f(v)),\(f(bitsPerByte(v))),\n" }
        for r in history {
            let v = evals[r.step]
            out += "\(r.step),\(r.step * config.tokensPerStep),\(f(Double(r.lr))),\(f(Double(r.loss))),\(f(bitsPerByte(Double(r.loss)))),"
            out += "\(f(r.gradNorm)),\(v.map(f) ?? ""),\(v.map { f(bitsPerByte($0)) } ?? ""),\(String(format: "%.4f", r.seconds))\n"
        }
        return out
    }

    /// Training tokens per second over the recorded steps (all sessions).
    public var tokensPerSecond: Double { elapsed > 0 ? Double(history.count * config.tokensPerStep) / elapsed : 0 }
}
