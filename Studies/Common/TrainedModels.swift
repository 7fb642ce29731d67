// TrainedModels.swift — training language models inside a study, with every finished (or interrupted)
// model cached under the study's output directory, keyed by a hash of its whole configuration.
//
// Self-contained: the perplexity and ablation studies use it; other studies may too.
import Foundation
import Layers
import Models
import StudyKit
import TensorCore

/// A corpus and a string that identifies its contents (part of every cache key).
public struct StudyCorpus: Sendable {
    public let corpus: Corpus
    public let id: String

    /// The corpus a study trains on: `corpus` if given (tests), else the one in the context's
    /// ``StudyContext/dataDirectory`` (`lab study … --data DIR`). A missing corpus is a one-line error
    /// that names `lab data fetch`.
    public static func resolve(_ corpus: Corpus?, _ ctx: StudyContext) throws -> StudyCorpus {
        if let corpus { return StudyCorpus(corpus) }
        let dir = ctx.dataDirectory
        let c = try Corpus.load(from: dir)
        return StudyCorpus(corpus: c, id: "manifest:" + (Corpus.manifestChecksum(in: dir) ?? "?"))
    }

    public init(corpus: Corpus, id: String) { self.corpus = corpus; self.id = id }

    /// An in-memory corpus, identified by the SHA-256 of its documents' names and bytes.
    public init(_ corpus: Corpus) {
        var all: [UInt8] = []
        for (split, docs) in [("train", corpus.train), ("validation", corpus.validation)] {
            for d in docs { all += Array("\(split)/\(d.source)/\(d.name)/\(d.bytes.count)\n".utf8); all += d.bytes }
        }
        self.init(corpus: corpus, id: "memory:" + SHA256.hex(all))
    }
}

/// A trained model of a study and where it lives.
public struct TrainedModel {
    public let label: String
    public let trainer: Trainer
    /// `<study output>/models/<label>-<key>/` — a `lab train` checkpoint directory.
    public let directory: URL
    /// True when nothing was trained in this run (the checkpoint was complete).
    public let reused: Bool
    public var model: LanguageModel { trainer.model }
    /// Validation loss (nats per byte) at the last step.
    public var validationLoss: Double { trainer.evaluations.max { $0.step < $1.step }?.loss ?? .nan }
}

public enum TrainedModels {
    /// Bump when the meaning of a cached model changes (training code, evaluation) to retrain everything.
    public static let formatVersion = "study-model/1"

    /// Hex key of a run: SHA-256 of the model config, the training config, the corpus id and the format.
    public static func cacheKey(model: ModelConfig, train: TrainConfig, corpusID: String) throws -> String {
        struct Key: Encodable { let format: String; let model: ModelConfig; let train: TrainConfig; let corpus: String }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let data = try enc.encode(Key(format: formatVersion, model: model, train: train, corpus: corpusID))
        return String(SHA256.hex([UInt8](data)).prefix(16))
    }

    /// Trains `model` with `train` on `corpus`, or reuses the checkpoint of an identical earlier run under
    /// `root/models/` (continuing it if it was interrupted). Checkpoints every `train.checkpointEvery`
    /// steps, so a killed study resumes where it stopped. Progress: a bar per model on a terminal.
    public static func obtain(label: String, model mc: ModelConfig, train tc: TrainConfig, corpus: StudyCorpus,
                              root: URL, ctx: StudyContext) throws -> TrainedModel {
        let dir = try directory(label: label, model: mc, train: tc, corpus: corpus, root: root)
        var trainer: Trainer?
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("train_state.json").path) {
            do {
                let t = try Trainer.resume(from: dir, corpus: corpus.corpus)
                if t.model.config == mc && t.config == tc { trainer = t }
            } catch {
                ctx.progress("\(label): cached checkpoint unusable (\(error)) — training again")
            }
        }
        let reused = trainer.map { $0.step >= tc.steps } ?? false
        if reused {
            ctx.progress("\(label): reusing \(dir.lastPathComponent) (\(tc.steps) steps)")
            return TrainedModel(label: label, trainer: trainer!, directory: dir, reused: true)
        }
        let t: Trainer
        if let trainer {
            t = trainer
            ctx.progress("\(label): resuming \(dir.lastPathComponent) at step \(t.step)/\(tc.steps)")
        } else {
            try? FileManager.default.removeItem(at: dir)
            t = try Trainer(model: LanguageModel(config: mc, seed: tc.seed), config: tc, corpus: corpus.corpus)
            ctx.progress("\(label): training \(mc.summary), \(t.model.parameterCount) parameters, \(tc.steps) steps × \(tc.batch) × \(tc.context)")
        }
        let bar = ctx.progressBar("train \(label)", total: tc.steps)
        bar.advance(by: t.step)
        try t.run(checkpointTo: dir, onEvent: { event in
            if case .step = event { bar.advance() }
        })
        bar.finish()
        return TrainedModel(label: label, trainer: t, directory: dir, reused: false)
    }

    /// `root/models/<label>-<hash>/`: where ``obtain(label:model:train:corpus:root:ctx:)`` keeps the model. Its
    /// last component is file- and shell-safe, and is the run's key in `lab study … --run KEY`.
    public static func directory(label: String, model mc: ModelConfig, train tc: TrainConfig, corpus: StudyCorpus, root: URL) throws -> URL {
        let key = try cacheKey(model: mc, train: tc, corpusID: corpus.id)
        let safe = String(label.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "-" })
        return root.appendingPathComponent("models").appendingPathComponent("\(safe)-\(key)")
    }

    /// True when `dir` holds a checkpoint of exactly this model and training config that has reached
    /// `tc.steps` (what ``obtain(label:model:train:corpus:root:ctx:)`` reuses without training).
    public static func isTrained(in dir: URL, model mc: ModelConfig, train tc: TrainConfig, corpus: StudyCorpus) -> Bool {
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("train_state.json").path),
              let t = try? Trainer.resume(from: dir, corpus: corpus.corpus) else { return false }
        return t.model.config == mc && t.config == tc && t.step >= tc.steps
    }

    /// True when ``cached(_:key:in:compute:)`` would return the value stored for `key` without computing.
    public static func hasCached(_ name: String, key: String, in dir: URL) -> Bool {
        struct KeyOnly: Decodable { let key: String }
        guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent("\(name).json").path) else { return false }
        return (try? JSONDecoder().decode(KeyOnly.self, from: data))?.key == key
    }

    static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    /// A JSON value cached next to a model (e.g. an evaluation), keyed by `key`; computed when absent.
    public static func cached<T: Codable>(_ name: String, key: String, in dir: URL, compute: () throws -> T) throws -> T {
        let url = dir.appendingPathComponent("\(name).json")
        if let data = FileManager.default.contents(atPath: url.path),
           let box = try? decoder().decode(CacheBox<T>.self, from: data), box.key == key {
            return box.value
        }
        let value = try compute()
        let enc = JSONEncoder()
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try AtomicFile.write(try enc.encode(CacheBox(key: key, value: value)), to: url)
        return value
    }
}

/// One model a study trains with ``TrainedModels/obtain(label:model:train:corpus:root:ctx:)``.
public struct ModelRun {
    public var label: String
    public var model: ModelConfig
    public var train: TrainConfig
    public init(label: String, model: ModelConfig, train: TrainConfig) { self.label = label; self.model = model; self.train = train }
}

extension TrainedModels {
    /// The models of a study as independent runs for `lab study … --plan / --run KEY`: the key is the model's
    /// cache directory name `<label>-<hash>`; a run is cached when its checkpoint has reached the step budget
    /// and `alsoCached(directory)` holds (e.g. its evaluations are stored); performing it obtains the model,
    /// then calls `then` (e.g. evaluations cached beside it).
    ///
    /// ```swift
    /// let runs = try TrainedModels.studyRuns([ModelRun(label: "attention-seed0", model: mc, train: tc)],
    ///                                        corpus: data, ctx: ctx)
    /// runs[0].key        // "attention-seed0-3fa2…" (16 hex digits)
    /// ```
    public static func studyRuns(_ models: [ModelRun], corpus: StudyCorpus, ctx: StudyContext,
                                 alsoCached: @escaping (URL) -> Bool = { _ in true },
                                 then: @escaping (TrainedModel) throws -> Void = { _ in }) throws -> [StudyRun] {
        try models.map { m in
            let dir = try directory(label: m.label, model: m.model, train: m.train, corpus: corpus, root: ctx.outputDirectory)
            return StudyRun(key: dir.lastPathComponent, label: m.label,
                            isCached: { isTrained(in: dir, model: m.model, train: m.train, corpus: corpus) && alsoCached(dir) },
                            perform: { try then(try obtain(label: m.label, model: m.model, train: m.train, corpus: corpus, root: ctx.outputDirectory, ctx: ctx)) })
        }
    }
}

/// A cached value and the key it was computed for.
struct CacheBox<V: Codable>: Codable { let key: String; let value: V }

/// `exp(nats)`: perplexity per byte.
public func perplexity(_ nats: Double) -> Double { exp(nats) }
