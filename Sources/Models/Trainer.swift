// Trainer.swift — the outer training loop (docs/ttt.md §3 recipe), validation, checkpoints, exact resume.
import Foundation
import Layers
import TensorCore
import Zoo
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Training recipe (docs/ttt.md §3, paper App. C): AdamW β = (0.9, 0.95), weight decay 0.1 on matrices,
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
    /// TTT-MLP: ρ = ttt_lr_mult warms up linearly from this value to 1 over the warmup (docs/ttt.md §3:
    /// η 0.01 → 0.1 with η_base 0.1); nil keeps ρ = 1.
    public var tttLRMultStart: Float? = nil
    /// Copied spans pasted into a fraction of the windows from a step on (the perplexity study's gate);
    /// nil (the default, left out of the JSON and of every cache key) trains on the windows as sampled.
    public var copyInjection: CopyInjection? = nil

    public init(steps: Int, batch: Int, context: Int, lr: Float, seed: UInt64 = 0) {
        self.steps = steps; self.batch = batch; self.context = context; self.lr = lr; self.seed = seed
    }

    public var tokensPerStep: Int { batch * context }
    public var schedule: LRSchedule { LRSchedule(peak: lr, floor: minLR, warmupFraction: warmupFraction, total: steps) }
    public var warmupSteps: Int { schedule.warmup }

    /// ρ at a step (1 when no TTT-MLP warmup is configured).
    public func tttLRMult(step: Int) -> Float {
        guard let s = tttLRMultStart else { return 1 }
        return s + (1 - s) * schedule.warmupFraction(step: step)
    }

    /// The recipe's defaults for a model's layers: a TTT layer whose plugin declares a ρ warmup gets it
    /// (TTT-MLP, docs/ttt.md §3); in a hybrid stack the first TTT layer that warms ρ up sets the start.
    ///
    /// ```swift
    /// var tc = TrainConfig(steps: 600, batch: 8, context: 256, lr: 3e-3)
    /// tc.applyLayerDefaults(model: try .preset("tiny", layer: "ttt-mlp"))   // tttLRMultStart = ρ warmup start
    /// ```
    public mutating func applyLayerDefaults(model: ModelConfig) {
        tttLRMultStart = model.layerList.lazy.compactMap { $0.inner?.lrMultWarmupStart }.first
    }

    /// The same for a layer name or list written in code ("ttt-mlp"; nil start for a name that does not parse).
    public mutating func applyLayerDefaults(layer: String) {
        tttLRMultStart = ((try? LayerSpec.list(layer)) ?? []).lazy.compactMap { $0.inner?.lrMultWarmupStart }.first
    }

    public func validate() throws {
        func positive(_ v: Int, _ what: String, _ flag: String) throws {
            guard v > 0 else { throw LabError.badConfig("\(what) = \(v) must be ≥ 1; pass \(flag) N") }
            // Bounded so that step and token counts cannot overflow.
            guard v <= 1_000_000_000 else { throw LabError.badConfig("\(what) = \(v) must be ≤ 1000000000; pass a smaller \(flag)") }
        }
        try positive(steps, "steps", "--steps"); try positive(batch, "batch", "--batch")
        try positive(context, "context", "--context"); try positive(evalEvery, "eval interval", "--eval-every")
        try positive(evalWindows, "validation windows", "--eval-windows")
        guard lr > 0, lr.isFinite else { throw LabError.badConfig("learning rate \(lr) must be a positive number; pass --lr 3e-3") }
        guard checkpointEvery >= 0 else { throw LabError.badConfig("checkpoint interval \(checkpointEvery) must be ≥ 0") }
        // The recipe's constants (only a damaged config.json can get these wrong).
        func inRange(_ ok: Bool, _ what: String) throws {
            guard ok else { throw LabError.badConfig("\(what) is out of range — the run's config.json is damaged; start a new run") }
        }
        try inRange(minLR >= 0 && minLR.isFinite && minLR <= lr, "min lr \(minLR) (must be ≥ 0 and ≤ lr \(lr))")
        try inRange(warmupFraction >= 0 && warmupFraction <= 1, "warmup fraction \(warmupFraction)")
        try inRange(weightDecay >= 0 && weightDecay <= 1 && weightDecay.isFinite, "weight decay \(weightDecay) (must be in 0…1)")
        try inRange(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "AdamW betas (\(beta1), \(beta2))")
        try inRange(eps > 0 && eps.isFinite && clip > 0 && clip.isFinite, "AdamW eps \(eps) / clip \(clip)")
        try inRange(tttLRMultStart.map { $0.isFinite && $0 >= 0 && $0 <= 1e4 } ?? true, "ttt lr multiplier start \(tttLRMultStart ?? 0)")
        try copyInjection?.validate(context: context)
    }

    /// Rough memory (bytes) training `model` with this config takes, computed without allocating
    /// (in Double, so absurd sizes cannot overflow): weights, gradients and the two AdamW moments
    /// (16 bytes per parameter, the sequence layer bounded by 16·D² + conv weights), activations kept
    /// for the backward pass (≈ 200 floats per width per token per block, measured ≈ 90–180 on
    /// the tiny presets), attention scores (B·H·T² per block) and the logits.
    public func estimatedMemoryBytes(model m: ModelConfig) -> Double {
        let D = Double(m.width), L = Double(m.layers), V = Double(m.vocab), I = Double(m.mlpHidden), cw = Double(m.convWidth)
        _ = cw
        let mixer = m.layerConfig.weightFloats + 64 * D      // every weight of the layer, Mamba's E·D·N included
        let b = Double(m.miniBatch)   // TTT: a length-b token-index parameter and b×b mini-batch matrices
        let params = V * D + L * (mixer + 3 * D * I + (cw + 4) * D + b) + D
        let tokens = Double(batch) * Double(context)
        var activations = tokens * L * (200 * D + 4 * I) + 4 * tokens * V
        // Blocks of each kind: the share of the layer list (one name: all L blocks), counted without a per-block array.
        let specs = m.layerList
        let share = { (n: Int) -> Double in L * Double(n) / Double(max(specs.count, 1)) }
        let tttBlocks = share(specs.filter { $0.inner != nil }.count), attentionBlocks = share(specs.filter { $0 == .attention }.count)
        let mambaBlocks = share(specs.filter { $0 == .mamba }.count)
        if tttBlocks > 0 { activations += 4 * Double(batch) * Double(m.heads) * min(b, Double(context)) * Double(context) * tttBlocks }
        if mambaBlocks > 0 {       // the selective scan keeps its [E·D, N] state per token for the backward pass
            activations += tokens * mambaBlocks * Double(m.layerConfig.mamba.expand) * D * Double(m.layerConfig.mamba.state)
        }
        if attentionBlocks > 0 { activations += 2 * Double(batch) * Double(m.heads) * Double(context) * Double(context) * attentionBlocks }
        let validation = Double(evalWindows) * Double(context) * 16
        return 4 * (4 * params + activations) + validation
    }

    /// Refuses, before anything is allocated, a model and config whose estimated memory exceeds
    /// this machine's: the message names the estimate and the options that shrink it.
    public func checkFitsInMemory(model m: ModelConfig, available: Double = Double(ProcessInfo.processInfo.physicalMemory)) throws {
        let need = estimatedMemoryBytes(model: m)
        guard need.isFinite, need <= available else {
            let gib = 1073741824.0
            throw LabError.badConfig(String(format: "training %@ at batch %ld × context %ld needs ≈ %.1f GiB of memory, more than this machine's %.1f GiB — use a smaller --preset, --batch or --context",
                                            m.summary, batch, context, need / gib, available / gib))
        }
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

/// Trains a `LanguageModel` on a `Corpus` with the recipe of docs/ttt.md §3; saves and resumes checkpoints so
/// that a resumed run equals an uninterrupted one bit for bit (same thread count).
///
/// ```swift
/// let trainer = try Trainer(model: model, config: cfg, corpus: corpus)
/// try trainer.run(checkpointTo: URL(fileURLWithPath: "runs/tiny"), onEvent: { event in print(event) })
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
    /// The corpus directory the run was started with (absolute), saved so that `--resume` reads the same one.
    public var corpusDirectory: String?
    /// Steps completed.
    public private(set) var step = 0
    public private(set) var history: [StepRecord] = []
    public private(set) var evaluations: [EvalRecord] = []
    /// Training wall time over all sessions (seconds, steps only).
    public private(set) var elapsed: Double = 0
    /// Step of the last checkpoint this trainer wrote or resumed from (nil before any).
    public private(set) var lastCheckpointStep: Int?

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
        var (x, y) = sampler.batch(step: step, seed: config.seed, batch: config.batch)
        config.copyInjection?.apply(inputs: &x, targets: &y, batch: config.batch, context: config.context, seed: config.seed, step: step)
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
        defer { model.setTTTLearningRateMultiplier(1) }
        if step == 0 && !evaluations.contains(where: { $0.step == 0 }) {
            let e = recordEvaluation()
            try checkFinite(e.loss, what: "the validation loss", step: e.step, dir: dir)
            onEvent(.evaluation(e))
        }
        if let dir, step == 0 { try save(to: dir) }
        while step < end {
            let r = trainStep()
            // A NaN or Inf stops the run before anything is saved: the last checkpoint stays the last good one.
            try checkFinite(Double(r.loss), what: "the training loss", step: r.step, dir: dir)
            try checkFinite(r.gradNorm, what: "the gradient norm", step: r.step, dir: dir)
            onEvent(.step(r))
            let last = step == config.steps
            let evalNow = step % config.evalEvery == 0 || last
            if evalNow {
                let e = recordEvaluation()
                try checkFinite(e.loss, what: "the validation loss", step: e.step, dir: dir)
                onEvent(.evaluation(e))
            }
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
    }

    /// Throws a one-line error naming the step when `x` is NaN or infinite (the run diverged).
    func checkFinite(_ x: Double, what: String, step: Int, dir: URL?) throws {
        guard !x.isFinite else { return }
        let kept: String
        if let dir, let k = lastCheckpointStep { kept = "the last good checkpoint (step \(k)) is kept in \(dir.path)" }
        else { kept = "no checkpoint was written" }
        throw LabError.failed("training diverged at step \(step): \(what) is \(x) — stopped; \(kept); start again with a smaller --lr (now \(config.lr)) or another --seed")
    }

    // MARK: checkpoints

    /// `config.json`: everything needed to rebuild the model and continue training.
    public struct CheckpointConfig: Codable, Equatable {
        public var model: ModelConfig
        public var train: TrainConfig
        public var tokenizer: String = "bytes"
        public var corpusSHA256: String?
        public var format: String = "ttt-lab-checkpoint/1"
        /// Absolute path of the corpus directory the run started with (nil in older checkpoints).
        public var corpusDirectory: String? = nil

        /// Refuses an unknown format version or tokenizer, and any number out of range (model sizes,
        /// RoPE θ, inner learning rates, the recipe's rates, decay, betas), as a flag would be:
        /// "config.json: … — the file is damaged or from another version".
        public func check(path: String) throws {
            guard Trainer.knownFormats.contains(format) else {
                throw LabError.badFile(path: path, problem: "checkpoint format '\(format.prefix(40))' is not one this lab reads (\(Trainer.knownFormats.sorted().joined(separator: ", "))) — write it with this lab, or import it with 'lab import'")
            }
            guard Trainer.knownTokenizers.contains(tokenizer) else {
                throw LabError.badFile(path: path, problem: "tokenizer '\(tokenizer.prefix(40))' is not one the lab has (bytes) — the run cannot be read")
            }
            do {
                try model.validate()
                try train.validate()
            } catch let e as LabError {
                throw LabError.badFile(path: path, problem: "\(e) — the file is damaged or was edited; fix the value or start a new run")
            }
        }
    }

    /// Checkpoint format versions this lab reads, and the tokenizers it has.
    public static let knownFormats: Set<String> = ["ttt-lab-checkpoint/1"], knownTokenizers: Set<String> = ["bytes"]

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
    ///
    /// A kill at any moment leaves a checkpoint to resume from: the previous weight and optimizer
    /// files are kept as hard links (`*.prev`) until the new `train_state.json` is in place, and
    /// `resume` falls back to them when the newer files do not match the state.
    public func save(to dir: URL) throws {
        // The real cause from errno: a parent that is a file, a symlink loop, a name too long, no permission.
        do { try AtomicFile.createDirectories(dir.path, for: dir.path) } catch let e as FileError {
            throw LabError.badFile(path: dir.path, problem: "cannot create the run directory: \(e.problem) — choose another --out")
        }
        let modelURL = dir.appendingPathComponent("model.safetensors")
        let optURL = dir.appendingPathComponent("optimizer.safetensors")
        // A non-finite weight or moment is never written: the last checkpoint stays the last good one.
        for (i, p) in model.parameters.enumerated() {
            for (what, t) in [("parameter", p.tensor), ("AdamW first moment of", optimizer.m[i]), ("AdamW second moment of", optimizer.v[i])] {
                if let (k, v) = Validate.firstNonFinite(t) {
                    let kept = lastCheckpointStep.map { "the last good checkpoint (step \($0)) is kept in \(dir.path)" } ?? "no checkpoint was written"
                    throw LabError.failed("training diverged at step \(step): \(what) '\(p.name)' is \(v) at \(Validate.position(k, in: t.shape)) — not saved; \(kept); start again with a smaller --lr (now \(config.lr)) or another --seed")
                }
            }
        }
        for url in [modelURL, optURL] {
            let prev = Trainer.previous(url)
            unlink(prev.path)
            if FileManager.default.fileExists(atPath: url.path), link(url.path, prev.path) != 0 {
                try? FileManager.default.copyItem(at: url, to: prev)
            }
        }
        try saveWeights(model.parameters, to: modelURL, metadata: ["step": String(step), "layer": model.config.layer,
                                                                    "format": "ttt-lab-checkpoint/1"])
        do { try optimizer.stateFile().write(to: optURL) } catch let e as FileError {
            throw LabError.badFile(path: optURL.path, problem: "\(e.problem) — \(e.fix)")
        }
        var cfg = CheckpointConfig(model: model.config, train: config, corpusSHA256: corpusChecksum)
        cfg.corpusDirectory = corpusDirectory
        try AtomicFile.write(try Trainer.encoder().encode(cfg), to: dir.appendingPathComponent("config.json"))
        try AtomicFile.write(lossCSV(), to: dir.appendingPathComponent("loss.csv"))
        let state = TrainState(step: step, elapsed: elapsed, threads: Parallel.threads, unigramLoss: unigramLoss,
                               modelSHA256: try Trainer.fileChecksum(modelURL), optimizerSHA256: try Trainer.fileChecksum(optURL),
                               history: history, evaluations: evaluations)
        try AtomicFile.write(try Trainer.encoder().encode(state), to: dir.appendingPathComponent("train_state.json"))
        lastCheckpointStep = step
        for url in [modelURL, optURL] { unlink(Trainer.previous(url).path) }
    }

    /// Where `save` keeps the previous checkpoint's copy of a file while it writes the new one.
    static func previous(_ url: URL) -> URL { url.appendingPathExtension("prev") }

    static func fileChecksum(_ url: URL) throws -> String {
        guard let d = FileManager.default.contents(atPath: url.path) else {
            throw LabError.missing("checkpoint file \(url.path) is missing — the checkpoint is incomplete; start a new run")
        }
        return SHA256.hex([UInt8](d))
    }

    /// Reads `config.json` of a checkpoint directory.
    public static func checkpointConfig(in dir: URL) throws -> CheckpointConfig {
        let url = dir.appendingPathComponent("config.json")
        if let e = FileSafety.unreadableBeyondMissing(url.path, what: "checkpoint config") { throw e }   // ELOOP is not "missing"
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw LabError.missing("no checkpoint in \(dir.path) (config.json missing) — pass the directory a 'lab train' run wrote (its --out)")
        }
        let cfg: CheckpointConfig
        do { cfg = try decoder().decode(CheckpointConfig.self, from: data) } catch {
            throw LabError.badFile(path: url.path, problem: "not a lab checkpoint config (\(error.localizedDescription)) — pass the directory a 'lab train' run wrote")
        }
        // Every number read from the file gets the checks a flag gets; unknown versions and names are refused.
        try cfg.check(path: url.path)
        return cfg
    }

    /// Loads a model (weights only) from a checkpoint directory, for generation.
    public static func loadModel(from dir: URL) throws -> LanguageModel {
        let cfg = try checkpointConfig(in: dir)
        try cfg.model.validate()
        var weightsOnly = cfg.train
        (weightsOnly.batch, weightsOnly.context, weightsOnly.evalWindows) = (1, 1, 0)
        try weightsOnly.checkFitsInMemory(model: cfg.model)
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
        // The files train_state.json names: the current ones, or the previous ones a killed save left.
        func matching(_ url: URL, _ sha: String) -> URL? {
            [url, previous(url)].first { (try? fileChecksum($0)) == sha }
        }
        guard let modelFile = matching(modelURL, state.modelSHA256), let optFile = matching(optURL, state.optimizerSHA256) else {
            throw LabError.badFile(path: dir.path, problem: "model/optimizer files do not match train_state.json (a save was interrupted) — start a new run or restore the directory")
        }
        // Temp files of a writer killed mid-save (AtomicFile names them ".<file>.tmp-<pid>-<n>") are garbage now.
        let names = ["model.safetensors", "optimizer.safetensors", "config.json", "loss.csv", "train_state.json"]
        for f in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        where names.contains(where: { f.hasPrefix(".\($0).tmp-") }) {
            unlink(dir.appendingPathComponent(f).path)
        }
        for (found, url) in [(modelFile, modelURL), (optFile, optURL)] where found != url {
            guard rename(found.path, url.path) == 0 else {
                throw LabError.badFile(path: url.path, problem: "cannot restore it from \(found.lastPathComponent) (\(String(cString: strerror(errno)))) — check the directory's permissions")
            }
            onWarning("a save was interrupted: restored \(url.lastPathComponent) of step \(state.step) from \(found.lastPathComponent)")
        }
        try cfg.model.validate()
        try cfg.train.validate()
        try cfg.train.checkFitsInMemory(model: cfg.model)
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
        trainer.corpusDirectory = cfg.corpusDirectory
        trainer.lastCheckpointStep = state.step
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
