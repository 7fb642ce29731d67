// HFCheckpoint.swift — a lab run ⇄ a Hugging Face model directory (config.json + model.safetensors).
//
//   export: run/{config.json, model.safetensors} → HF names and layouts (HFLayout), written to a temp
//           directory beside DIR and renamed into place (nothing half-written)
//   import: every name, shape, dtype (F32; F16, BF16, F64 converted) and config value checked before a
//           value is copied; the lab's own config rides along in the safetensors metadata, so
//           export → import gives back the same config.json and model.safetensors, byte for byte
import Foundation
import Layers
import TensorCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Moves whole language models between the lab and Hugging Face loaders.
///
/// ```swift
/// let run = try HFCheckpoint.loadRun(URL(fileURLWithPath: "runs/tiny"))
/// try HFCheckpoint.export(run, to: URL(fileURLWithPath: "hf/tiny"))              // TTTForCausalLM.from_pretrained("hf/tiny")
/// let back = try HFCheckpoint.importDirectory(URL(fileURLWithPath: "hf/tiny"))
/// try HFCheckpoint.writeRun(back, to: URL(fileURLWithPath: "runs/tiny-again"))   // same weights, same config
/// ```
public enum HFCheckpoint {
    /// safetensors metadata keys carrying the lab's checkpoint config and step through an export.
    public static let configKey = "ttt_lab_config", stepKey = "ttt_lab_step"

    /// A model with the checkpoint config and step it belongs to.
    public struct Run {
        public let model: LanguageModel
        public let checkpoint: Trainer.CheckpointConfig
        /// The training step the weights come from ("0" for an imported model without lab metadata).
        public let step: String
        /// What an import converted or assumed (one line each), empty for a lab run.
        public var notes: [String] = []
    }

    // MARK: lab run

    /// Loads a run directory written by `lab train` or `lab import`: its config and weights.
    public static func loadRun(_ dir: URL) throws -> Run {
        let cfg = try Trainer.checkpointConfig(in: dir)
        try cfg.model.validate()
        try checkMemory(cfg.model)
        let model = try LanguageModel(config: cfg.model, seed: cfg.train.seed)
        let meta = try loadWeights(into: model.parameters, from: dir.appendingPathComponent("model.safetensors"))
        return Run(model: model, checkpoint: cfg, step: meta["step"] ?? "0")
    }

    static func checkMemory(_ m: ModelConfig) throws {
        var weightsOnly = TrainConfig(steps: 1, batch: 1, context: 1, lr: 1e-3)
        weightsOnly.evalWindows = 0
        try weightsOnly.checkFitsInMemory(model: m)
    }

    /// Writes a lab run (config.json + model.safetensors with `format`, `layer` and `step` metadata).
    public static func writeRun(_ run: Run, to dir: URL) throws {
        try placeDirectory(dir, what: "--out") { tmp in
            try saveWeights(run.model.parameters, to: tmp.appendingPathComponent("model.safetensors"),
                            metadata: ["step": run.step, "layer": run.model.config.layer, "format": "ttt-lab-checkpoint/1"])
            try AtomicFile.write(try Trainer.encoder().encode(run.checkpoint), to: tmp.appendingPathComponent("config.json"))
        }
    }

    // MARK: export

    /// Writes `run` as a Hugging Face directory; returns the class that loads it. Refuses (one line) a
    /// model no loader computes exactly (see `HFLayout.architecture(for:)`).
    @discardableResult
    public static func export(_ run: Run, to dir: URL) throws -> HFArchitecture {
        let arch = try HFLayout.architecture(for: run.model.config)
        let json = try HFLayout.config(for: run.model.config)
        var tensors: [String: Tensor] = [:]
        for t in try HFLayout.tensors(of: run.model) {
            var w = try fileLayout(t.param, path: dir.path)
            if let H = t.permutedHeads { w = HFLayout.permuteRows(w, heads: H, toHF: true) }
            tensors[t.name] = w
        }
        let labConfig = String(decoding: try Trainer.encoder().encode(run.checkpoint), as: UTF8.self)
        let file = SafetensorsFile(tensors: tensors, metadata: ["format": "pt", configKey: labConfig, stepKey: run.step])
        let configData = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        try placeDirectory(dir, what: "--out") { tmp in
            try file.write(to: tmp.appendingPathComponent("model.safetensors"))
            try AtomicFile.write(configData, to: tmp.appendingPathComponent("config.json"))
        }
        return arch
    }

    // MARK: import

    /// Weight dtypes an import accepts (converted to Float32).
    static let floatDTypes: Set<String> = ["F32", "F16", "BF16", "F64"]

    /// Reads a Hugging Face directory into a lab model, checking everything first; errors are one line.
    public static func importDirectory(_ dir: URL) throws -> Run {
        let path = dir.path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            throw LabError.missing("\(path) is not a directory — pass the directory save_pretrained or 'lab export' wrote")
        }
        let configURL = dir.appendingPathComponent("config.json"), weightsURL = dir.appendingPathComponent("model.safetensors")
        guard let configData = FileManager.default.contents(atPath: configURL.path) else {
            throw LabError.missing("\(configURL.path) is missing — pass the directory save_pretrained or 'lab export' wrote")
        }
        guard FileManager.default.fileExists(atPath: weightsURL.path) else {
            let fm = FileManager.default
            if fm.fileExists(atPath: dir.appendingPathComponent("model.safetensors.index.json").path) {
                throw LabError.missing("\(path) holds a sharded checkpoint — re-save it as one file: model.save_pretrained(dir, max_shard_size=\"100GB\")")
            }
            let bin = fm.fileExists(atPath: dir.appendingPathComponent("pytorch_model.bin").path)
            throw LabError.missing("\(weightsURL.path) is missing\(bin ? " (only pytorch_model.bin is there)" : "") — re-save with model.save_pretrained(dir, safe_serialization=True)")
        }
        let json: [String: JSONValue]
        do { json = try JSONDecoder().decode([String: JSONValue].self, from: configData) } catch {
            throw LabError.badFile(path: configURL.path, problem: "not a JSON object — the file is damaged; re-save the model")
        }
        let (arch, derived, tied) = try HFLayout.modelConfig(fromHF: json, path: configURL.path)

        // Dtypes first (the Float32 reader would name them less helpfully), then the whole file.
        let header = try SafetensorsHeader.read(weightsURL)
        if let (name, e) = header.entries.sorted(by: { $0.key < $1.key }).first(where: { !floatDTypes.contains($0.value.dtype) }) {
            throw LabError.badFile(path: weightsURL.path, problem: "tensor '\(name.prefix(80))' has dtype \(e.dtype.prefix(16)) — weights must be F32, F16 or BF16")
        }
        let file: SafetensorsFile
        do { file = try SafetensorsFile.read(weightsURL) } catch let e as FileError {
            throw LabError.badFile(path: weightsURL.path, problem: "\(e.problem) — \(e.fix)")
        }

        // The lab's own config, when it came with the file and describes the same model.
        var notes: [String] = []
        var checkpoint = Trainer.CheckpointConfig(model: derived, train: TrainConfig(steps: 1, batch: 8, context: 128, lr: 3e-3))
        var step = "0"
        if let s = file.metadata[configKey], let embedded = try? Trainer.decoder().decode(Trainer.CheckpointConfig.self, from: Data(s.utf8)),
           let again = try? roundTrip(embedded.model), again == derived {
            // The embedded recipe is a file's numbers like any other: the same checks as a run's config.json.
            try embedded.check(path: weightsURL.path + " (lab metadata)")
            checkpoint = embedded
            step = file.metadata[stepKey] ?? "0"
        } else {
            notes.append("no lab metadata: training recipe set to defaults (seed 0); the weights and config come from \(path)")
        }
        try checkMemory(checkpoint.model)
        let model = try LanguageModel(config: checkpoint.model, seed: checkpoint.train.seed)
        let expected = try HFLayout.tensors(of: model)
        let embedName = expected[0].name

        // Names: exactly the expected ones (lm_head.weight only as a copy of the embedding).
        var names = Set(expected.map(\.name))
        if let head = file.tensors["lm_head.weight"] {
            guard let e = file.tensors[embedName], head.shape == e.shape,
                  (0..<e.count).allSatisfy({ head.data[$0].bitPattern == e.data[$0].bitPattern }) else {
                throw LabError.badFile(path: weightsURL.path, problem: "lm_head.weight differs from \(embedName) — the lab's models tie the output head to the embedding, so this untied model cannot be imported")
            }
            names.insert("lm_head.weight")
        } else if !tied {
            throw LabError.badFile(path: configURL.path, problem: "tie_word_embeddings = false but model.safetensors has no lm_head.weight — set it to true if the head is the embedding")
        }
        let missing = expected.map(\.name).filter { file.tensors[$0] == nil }
        if !missing.isEmpty {
            throw LabError.badFile(path: weightsURL.path, problem: "missing \(missing.count) tensor\(missing.count == 1 ? "" : "s") of \(arch.rawValue) (\(few(missing))) — the file does not match its config.json")
        }
        let extra = file.tensors.keys.filter { !names.contains($0) }.sorted()
        if !extra.isEmpty {
            throw LabError.badFile(path: weightsURL.path, problem: "\(extra.count) unknown tensor\(extra.count == 1 ? "" : "s") (\(few(extra))) — not part of \(arch.rawValue) as config.json describes it")
        }
        for t in expected {
            let want = try fileShape(of: t.param, path: weightsURL.path), found = file.tensors[t.name]!.shape
            guard want == found else {
                throw LabError.badFile(path: weightsURL.path, problem: "tensor '\(t.name)' has shape \(found) but config.json implies \(want) — the file does not match its config")
            }
        }
        for name in names.sorted() {
            let t = file.tensors[name]!
            if let i = (0..<t.count).first(where: { !t.data[$0].isFinite }) {
                throw LabError.badFile(path: weightsURL.path, problem: "tensor '\(name)' holds \(t.data[i]) at element \(i) — the weights are damaged; re-save a finite model")
            }
        }
        let converted = Set(header.entries.values.map(\.dtype)).subtracting(["F32"])
        if !converted.isEmpty { notes.append("converted \(converted.sorted().joined(separator: ", ")) weights to F32") }

        // Copy: HF layout → (unpermute) → lab file layout → lab layout.
        for t in expected {
            var src = file.tensors[t.name]!
            if let H = t.permutedHeads { src = HFLayout.permuteRows(src, heads: H, toHF: false) }
            let p = t.param, s = p.tensor.shape
            if p.transposeInFile {
                transposeLastTwo(src.data, into: p.tensor.data, batch: s.dropLast(2).reduce(1, *), rows: s[s.count - 1], cols: s[s.count - 2])
            } else {
                p.tensor.data.update(from: src.data, count: p.tensor.count)
            }
        }
        return Run(model: model, checkpoint: checkpoint, step: step, notes: notes)
    }

    /// The model config an export of `m` reads back as (nil when `m` cannot be exported).
    static func roundTrip(_ m: ModelConfig) throws -> ModelConfig {
        let data = try JSONSerialization.data(withJSONObject: try HFLayout.config(for: m))
        let json = try JSONDecoder().decode([String: JSONValue].self, from: data)
        return try HFLayout.modelConfig(fromHF: json, path: "(round trip)").1
    }

    // MARK: helpers

    /// Builds a directory in a temporary sibling and renames it to `dir` (which must not exist, or be
    /// empty): a failure or a kill leaves no half-written `dir`.
    static func placeDirectory(_ dir: URL, what flag: String, build: (URL) throws -> Void) throws {
        let fm = FileManager.default
        let dir = dir.standardizedFileURL
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: dir.path, isDirectory: &isDir) {
            guard isDir.boolValue, ((try? fm.contentsOfDirectory(atPath: dir.path)) ?? ["?"]).isEmpty else {
                throw LabError.badConfig("\(dir.path) already exists — choose another \(flag) or remove it")
            }
        }
        let parent = dir.deletingLastPathComponent()
        do { try fm.createDirectory(at: parent, withIntermediateDirectories: true) } catch {
            throw LabError.badFile(path: parent.path, problem: "cannot create the directory (\(error.localizedDescription)) — choose another \(flag)")
        }
        StaleTemporaries.removeLeftovers(of: dir.lastPathComponent, in: parent.path)   // left by a killed export/import
        let tmp = parent.appendingPathComponent(".\(dir.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        try? fm.removeItem(at: tmp)
        do { try fm.createDirectory(at: tmp, withIntermediateDirectories: false) } catch {
            throw LabError.badFile(path: parent.path, problem: "cannot write here (\(error.localizedDescription)) — choose another \(flag)")
        }
        do {
            try build(tmp)
            if fm.fileExists(atPath: dir.path) { rmdir(dir.path) }
            guard rename(tmp.path, dir.path) == 0 else {
                throw LabError.badFile(path: dir.path, problem: "cannot move the finished directory into place (\(String(cString: strerror(errno)))) — choose another \(flag)")
            }
        } catch {
            try? fm.removeItem(at: tmp)
            if let e = error as? FileError { throw LabError.badFile(path: e.path, problem: "\(e.problem) — \(e.fix)") }
            throw error
        }
    }

    static func few(_ names: [String]) -> String {
        let shown = names.prefix(4).map { "'\($0.prefix(80))'" }.joined(separator: ", ")
        return names.count > 4 ? "\(shown), … \(names.count - 4) more" : shown
    }
}
