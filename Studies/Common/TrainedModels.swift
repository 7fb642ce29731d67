// TrainedModels.swift — training language models inside a study, with every finished (or interrupted)
// model cached under the study's output directory, keyed by a hash of its whole configuration.
//
// Self-contained: the perplexity and ablation studies use it; other studies may too.
import Foundation
import Layers
import Models
import StudyKit
import TensorCore

/// Where the training studies read their corpus (`lab study … --data DIR` sets it; default `data`).
public enum StudyData {
    nonisolated(unsafe) public static var directory = URL(fileURLWithPath: "data")
}

/// A corpus and a string that identifies its contents (part of every cache key).
public struct StudyCorpus: Sendable {
    public let corpus: Corpus
    public let id: String

    /// The corpus a study trains on: `corpus` if given (tests), else the one in ``StudyData/directory``.
    /// A missing corpus is a one-line error that names `lab data fetch`.
    public static func resolve(_ corpus: Corpus?) throws -> StudyCorpus {
        if let corpus { return StudyCorpus(corpus) }
        let dir = StudyData.directory
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
        let key = try cacheKey(model: mc, train: tc, corpusID: corpus.id)
        let safe = String(label.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "-" })
        let dir = root.appendingPathComponent("models").appendingPathComponent("\(safe)-\(key)")
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

/// A cached value and the key it was computed for.
struct CacheBox<V: Codable>: Codable { let key: String; let value: V }

/// `exp(nats)`: perplexity per byte.
public func perplexity(_ nats: Double) -> Double { exp(nats) }
