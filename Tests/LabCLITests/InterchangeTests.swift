// InterchangeTests.swift — `lab export` / `lab import` / `lab logits`: official names, shapes and config keys
// (against the hand-written lists in HFOfficialNames.swift), bit-identical round trips, the Llama RoPE
// permutation, refusals, damaged import directories (exit 2, one line), and logits against the lab's loss.
import Foundation
import XCTest
@testable import Layers
@testable import Models
import TensorCore

final class InterchangeTests: XCTestCase {
    static let exportable = ["ttt-linear", "ttt-mlp", "ttt-linear-m", "ttt-mlp-m", "attention", "mamba"]

    /// A tiny config: 2 blocks, D16, H2, I24, vocabulary 256 (bytes), mini-batch 4.
    func tiny(_ layer: String) -> ModelConfig {
        ModelConfig(layer: layer, vocab: 256, width: 16, heads: 2, layers: 2, mlpHidden: 24, miniBatch: 4)
    }

    /// A run directory: the model trained `steps` steps on a small generated corpus, saved by `Trainer`.
    @discardableResult
    func makeRun(_ cfg: ModelConfig, steps: Int, at dir: URL, seed: UInt64 = 3) throws -> LanguageModel {
        let text = Array(String(repeating: "the cat sat on the mat; a dog ran in the park. ", count: 40).utf8)
        let docs = (0..<10).map { Document(name: "d\($0)", source: "t", bytes: Array(text.dropFirst($0 * 7))) }
        let (train, val) = Corpus.split(docs)
        var tc = TrainConfig(steps: max(steps, 1), batch: 2, context: 16, lr: 3e-3, seed: seed)
        tc.evalWindows = 2
        tc.evalEvery = 1000
        let model = try LanguageModel(config: cfg, seed: seed)
        let trainer = try Trainer(model: model, config: tc, corpus: Corpus(train: train, validation: val))
        if steps == 0 { try trainer.save(to: dir) } else { try trainer.run(checkpointTo: dir) }
        return model
    }

    func header(_ url: URL) throws -> [String: (dtype: String, shape: [Int])] {
        try SafetensorsHeader.read(url).entries.mapValues { ($0.dtype, $0.shape) }
    }

    func configJSON(_ dir: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.json"))) as! [String: Any]
    }

    // MARK: official names, shapes, config keys

    func testExportHasExactlyTheOfficialNamesShapesAndConfigKeys() throws {
        let dir = try temporaryDirectory()
        for layer in Self.exportable {
            let cfg = tiny(layer)
            try makeRun(cfg, steps: layer == "ttt-linear" ? 2 : 0, at: dir.appendingPathComponent("run-\(layer)"))
            let r = try lab(["export", "--checkpoint", "run-\(layer)", "--format", "hf", "--out", "hf-\(layer)"], cwd: dir)
            XCTAssertEqual(r.status, 0, "\(layer): \(r.stderr)")
            let hf = dir.appendingPathComponent("hf-\(layer)")
            let found = try header(hf.appendingPathComponent("model.safetensors"))
            XCTAssertTrue(found.values.allSatisfy { $0.dtype == "F32" }, layer)
            let (D, H, k) = (cfg.width, cfg.heads, cfg.convWidth)
            let sizes = ["V": cfg.vocab, "D": D, "H": H, "d": D / H, "I": cfg.mlpHidden, "b": cfg.miniBatch, "k": k,
                         "E": 2 * D, "N": 16, "R": (D + 15) / 16]
            let list: String, keys: String
            var tags: Set<String> = []
            switch layer {
            case "attention": (list, keys) = (HFOfficial.llamaTensors, HFOfficial.llamaConfigKeys)
            case "mamba": (list, keys) = (HFOfficial.mambaTensors, HFOfficial.mambaConfigKeys)
            default:
                (list, keys) = (HFOfficial.tttTensors, HFOfficial.tttConfigKeys)
                tags.insert(layer.contains("mlp") ? "mlp" : "linear")
                if layer.hasSuffix("-m") { tags.formUnion(["share_qk", "use_gate", "pre_conv"]) }
            }
            let want = HFOfficial.expand(list, layers: cfg.layers, sizes: sizes, tags: tags)
            XCTAssertEqual(Set(found.keys), Set(want.keys), "\(layer): names")
            for (name, shape) in want { XCTAssertEqual(found[name]?.shape, shape, "\(layer): \(name)") }
            let json = try configJSON(hf)
            XCTAssertEqual(Set(json.keys), HFOfficial.keys(keys).union(["architectures", "model_type", "torch_dtype"]), "\(layer): config keys")
            XCTAssertEqual(json["hidden_size"] as? Int, D)
            XCTAssertEqual(json["vocab_size"] as? Int, cfg.vocab)
            XCTAssertEqual(json["num_hidden_layers"] as? Int, cfg.layers)
            XCTAssertEqual(json["tie_word_embeddings"] as? Bool, true)
            if layer.hasPrefix("ttt-") {
                XCTAssertEqual(json["ttt_layer_type"] as? String, layer.contains("mlp") ? "mlp" : "linear")
                XCTAssertEqual(json["pre_conv"] as? Bool, layer.hasSuffix("-m"))
                XCTAssertEqual(json["share_qk"] as? Bool, layer.hasSuffix("-m"))
                XCTAssertEqual(json["use_gate"] as? Bool, layer.hasSuffix("-m"))
                XCTAssertEqual(json["mini_batch_size"] as? Int, 4)
                XCTAssertEqual(json["ttt_base_lr"] as? Double, layer.contains("mlp") ? 0.1 : 1.0)
            }
        }
        // Negative control: the comparison sees a renamed tensor and a changed shape.
        var want = HFOfficial.expand(HFOfficial.llamaTensors, layers: 2, sizes: ["V": 256, "D": 16, "I": 24], tags: [])
        let found = try header(dir.appendingPathComponent("hf-attention/model.safetensors"))
        want["model.layers.0.mlp.up_proj.weight"] = [16, 24]
        XCTAssertNotEqual(found["model.layers.0.mlp.up_proj.weight"]?.shape, want["model.layers.0.mlp.up_proj.weight"])
        want["model.layers.0.self_attn.rotary_emb.inv_freq"] = [4]
        XCTAssertNotEqual(Set(found.keys), Set(want.keys))
    }

    // MARK: round trip

    func testExportImportIsBitIdentical() throws {
        let dir = try temporaryDirectory()
        for layer in Self.exportable {
            let run = dir.appendingPathComponent("run-\(layer)")
            try makeRun(tiny(layer), steps: 2, at: run)
            XCTAssertEqual(try lab(["export", "--checkpoint", "run-\(layer)", "--out", "hf-\(layer)"], cwd: dir).status, 0)
            let r = try lab(["import", "--from", "hf-\(layer)", "--out", "back-\(layer)"], cwd: dir)
            XCTAssertEqual(r.status, 0, "\(layer): \(r.stderr)")
            XCTAssertFalse(r.stdout.contains("note:"), "\(layer): the lab metadata was not used: \(r.stdout)")
            let back = dir.appendingPathComponent("back-\(layer)")
            for f in ["model.safetensors", "config.json"] {
                XCTAssertEqual(try Data(contentsOf: run.appendingPathComponent(f)), try Data(contentsOf: back.appendingPathComponent(f)), "\(layer): \(f)")
            }
            // Same lab loss: logits of both runs, byte for byte.
            for r in ["run", "back"] {
                XCTAssertEqual(try lab(["logits", "--checkpoint", "\(r)-\(layer)", "--text", "run-\(layer)/loss.csv", "--output", "\(r)-\(layer).logits"], cwd: dir).status, 0)
            }
            XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("run-\(layer).logits")),
                           try Data(contentsOf: dir.appendingPathComponent("back-\(layer).logits")), layer)
        }
        // Without the lab's metadata the config still comes back from config.json alone.
        let hf = dir.appendingPathComponent("hf-ttt-mlp-m/model.safetensors")
        var f = try SafetensorsFile.read(hf)
        f.metadata = ["format": "pt"]
        try f.write(to: hf)
        let r = try lab(["import", "--from", "hf-ttt-mlp-m", "--out", "bare"], cwd: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("note: no lab metadata"), r.stdout)
        let a = try HFCheckpoint.loadRun(dir.appendingPathComponent("run-ttt-mlp-m")), b = try HFCheckpoint.loadRun(dir.appendingPathComponent("bare"))
        XCTAssertEqual(a.checkpoint.model, b.checkpoint.model)
        for (p, q) in zip(a.model.parameters, b.model.parameters) { XCTAssertTrue(bitsEqual(p.tensor, q.tensor), p.name) }
        // Negative control: one changed weight in the HF file is seen after import.
        f.tensors["model.layers.1.mlp.up_proj.weight"]!.data[3] += 1e-3
        try f.write(to: hf)
        XCTAssertEqual(try lab(["import", "--from", "hf-ttt-mlp-m", "--out", "changed"], cwd: dir).status, 0)
        let c = try HFCheckpoint.loadRun(dir.appendingPathComponent("changed"))
        XCTAssertFalse(zip(a.model.parameters, c.model.parameters).allSatisfy { bitsEqual($0.tensor, $1.tensor) })
    }

    // MARK: Llama RoPE convention

    /// Attention scores q_s·k_t with the exported Llama weights and rotate-half RoPE equal the lab's with
    /// its own weights and interleaved RoPE (tolerance 1e-5); unpermuted weights fail the same check.
    func testLlamaExportPermutesQKForRotateHalf() throws {
        let dir = try temporaryDirectory()
        let model = try makeRun(tiny("attention"), steps: 0, at: dir.appendingPathComponent("run"))
        XCTAssertEqual(try lab(["export", "--checkpoint", "run", "--out", "hf"], cwd: dir).status, 0)
        let f = try SafetensorsFile.read(dir.appendingPathComponent("hf/model.safetensors"))
        let attn = model.blocks[0].mixer as! SelfAttention
        let (D, H) = (16, 2), d = D / H
        var rng = RNG(seed: 9)
        let x = (0..<D).map { _ in rng.uniform() - 0.5 }, y = (0..<D).map { _ in rng.uniform() - 0.5 }
        // project: out[o] = Σ_i x[i]·W[o, i] with W (out, in); lab weights are [in, out].
        func projHF(_ w: Tensor, _ v: [Float]) -> [Float] { (0..<D).map { o in (0..<D).reduce(0) { $0 + v[$1] * w.data[o * D + $1] } } }
        func projLab(_ w: Tensor, _ v: [Float]) -> [Float] { (0..<D).map { o in (0..<D).reduce(0) { $0 + v[$1] * w.data[$1 * D + o] } } }
        func angle(_ i: Int, _ p: Int) -> Double { Double(p) * pow(10000, -2 * Double(i) / Double(d)) }
        func ropeHalf(_ v: [Float], _ p: Int) -> [Float] {
            var out = v
            for h in 0..<H { for i in 0..<(d / 2) {
                let (a, b) = (Double(v[h * d + i]), Double(v[h * d + i + d / 2])), c = cos(angle(i, p)), s = sin(angle(i, p))
                out[h * d + i] = Float(a * c - b * s); out[h * d + i + d / 2] = Float(b * c + a * s)
            } }
            return out
        }
        func ropePairs(_ v: [Float], _ p: Int) -> [Float] {
            var out = v
            for h in 0..<H { for i in 0..<(d / 2) {
                let (a, b) = (Double(v[h * d + 2 * i]), Double(v[h * d + 2 * i + 1])), c = cos(angle(i, p)), s = sin(angle(i, p))
                out[h * d + 2 * i] = Float(a * c - b * s); out[h * d + 2 * i + 1] = Float(b * c + a * s)
            } }
            return out
        }
        func scores(_ q: [Float], _ k: [Float]) -> [Float] { (0..<H).map { h in (0..<d).reduce(0) { $0 + q[h * d + $1] * k[h * d + $1] } } }
        let qHF = f.tensors["model.layers.0.self_attn.q_proj.weight"]!, kHF = f.tensors["model.layers.0.self_attn.k_proj.weight"]!
        let (ps, pt) = (7, 3)
        let labScores = scores(ropePairs(projLab(attn.wq, x), ps), ropePairs(projLab(attn.wk, y), pt))
        let hf = scores(ropeHalf(projHF(qHF, x), ps), ropeHalf(projHF(kHF, y), pt))
        for h in 0..<H { XCTAssertEqual(labScores[h], hf[h], accuracy: 1e-5) }
        // Negative control: the lab's weights transposed but not permuted give other scores under rotate-half.
        let qT = Tensor(uninitializedShape: [D, D]), kT = Tensor(uninitializedShape: [D, D])
        transposeLastTwo(attn.wq.data, into: qT.data, batch: 1, rows: D, cols: D)
        transposeLastTwo(attn.wk.data, into: kT.data, batch: 1, rows: D, cols: D)
        let wrong = scores(ropeHalf(projHF(qT, x), ps), ropeHalf(projHF(kT, y), pt))
        XCTAssertGreaterThan((0..<H).map { abs(wrong[$0] - labScores[$0]) }.max()!, 1e-4)
    }

    // MARK: refusals

    func testExportRefusesModelsNoLoaderComputes() throws {
        let dir = try temporaryDirectory()
        var innerLN = tiny("ttt-linear")
        var o = LayerConfig(width: 16, heads: 2); o.ttt.innerLN = false
        innerLN.layerOptions = o
        let cases: [(String, ModelConfig, String)] = [
            ("linear-attention", tiny("linear-attention"), "no Hugging Face loader computes the lab's linear attention"),
            ("plugin", tiny("ttt-deltanet"), "no loader exists for the 'deltanet' plugin"),
            ("innerLN", innerLN, "innerLN = false has no TTTConfig counterpart"),
        ]
        for (name, cfg, why) in cases {
            try makeRun(cfg, steps: 0, at: dir.appendingPathComponent("run-\(name)"))
            let r = try lab(["export", "--checkpoint", "run-\(name)", "--out", "hf-\(name)"], cwd: dir)
            XCTAssertEqual(r.status, 2, name)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(why), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("hf-\(name)").path), "nothing written")
        }
        // Negative control: the same model with default options exports.
        try makeRun(tiny("ttt-linear"), steps: 0, at: dir.appendingPathComponent("run-ok"))
        XCTAssertEqual(try lab(["export", "--checkpoint", "run-ok", "--out", "hf-ok"], cwd: dir).status, 0)
        // An existing non-empty --out is refused and left alone.
        let again = try lab(["export", "--checkpoint", "run-ok", "--out", "hf-ok"], cwd: dir)
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.stderr.contains("already exists"), again.stderr)
        XCTAssertEqual(try lab(["export", "--checkpoint", "run-ok", "--format", "gguf", "--out", "x"], cwd: dir).status, 2)
    }

    // MARK: damaged import directories

    /// Writes a safetensors file whose tensors have the given dtype and raw bytes.
    func writeRaw(_ url: URL, _ entries: [(name: String, dtype: String, shape: [Int], bytes: [UInt8])], metadata: String = "") throws {
        var parts: [String] = [], data: [UInt8] = [], off = 0
        if !metadata.isEmpty { parts.append("\"__metadata__\":\(metadata)") }
        for e in entries {
            parts.append("\"\(e.name)\":{\"dtype\":\"\(e.dtype)\",\"shape\":[\(e.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(off),\(off + e.bytes.count)]}")
            data += e.bytes; off += e.bytes.count
        }
        var header = Array(("{" + parts.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var out = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) }
        out += header + data
        try Data(out).write(to: url)
    }

    func testImportRefusesDamagedDirectoriesInOneLine() throws {
        let dir = try temporaryDirectory()
        let model = try makeRun(tiny("ttt-linear"), steps: 0, at: dir.appendingPathComponent("run"))
        XCTAssertEqual(try lab(["export", "--checkpoint", "run", "--out", "hf"], cwd: dir).status, 0)
        let good = try SafetensorsFile.read(dir.appendingPathComponent("hf/model.safetensors"))
        let goodConfig = try configJSON(dir.appendingPathComponent("hf"))
        func variant(_ name: String, tensors: [String: Tensor]? = nil, config: [String: Any]? = nil) throws -> String {
            let d = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            try SafetensorsFile(tensors: tensors ?? good.tensors, metadata: ["format": "pt"]).write(to: d.appendingPathComponent("model.safetensors"))
            try JSONSerialization.data(withJSONObject: config ?? goodConfig).write(to: d.appendingPathComponent("config.json"))
            return name
        }
        var missing = good.tensors; missing["model.layers.1.seq_modeling_block.W1"] = nil
        var extra = good.tensors; extra["model.layers.0.seq_modeling_block.rotary_emb.inv_freq"] = Tensor(zeros: [4])
        var shape = good.tensors; shape["model.norm.weight"] = Tensor(zeros: [17])
        var nan = good.tensors; let n = good.tensors["model.layers.0.mlp.up_proj.weight"]!.copy(); n.data[5] = .nan
        nan["model.layers.0.mlp.up_proj.weight"] = n
        var untied = good.tensors; let head = good.tensors["model.embed_tokens.weight"]!.copy(); head.data[0] += 1
        untied["lm_head.weight"] = head
        var eps = goodConfig; eps["rms_norm_eps"] = 1e-5
        var unknown = goodConfig; unknown["sliding_window"] = 128
        var gqa = goodConfig; gqa["architectures"] = ["LlamaForCausalLM"]; gqa["model_type"] = "llama"
        var badType = goodConfig; badType["ttt_layer_type"] = "transformer"
        let cases: [(String, String)] = [
            (try variant("missing", tensors: missing), "missing 1 tensor of TTTForCausalLM ('model.layers.1.seq_modeling_block.W1')"),
            (try variant("extra", tensors: extra), "unknown tensor ('model.layers.0.seq_modeling_block.rotary_emb.inv_freq')"),
            (try variant("shape", tensors: shape), "tensor 'model.norm.weight' has shape [17] but config.json implies [16]"),
            (try variant("nan", tensors: nan), "tensor 'model.layers.0.mlp.up_proj.weight' holds nan at element 5"),
            (try variant("untied", tensors: untied), "lm_head.weight differs from model.embed_tokens.weight"),
            (try variant("eps", config: eps), "rms_norm_eps = 1e-05"),
            (try variant("unknown", config: unknown), "key 'sliding_window' is not one the lab knows"),
            (try variant("llama-from-ttt", config: gqa), "not one the lab knows for LlamaForCausalLM"),
            (try variant("badtype", config: badType), "ttt_layer_type 'transformer'"),
            ("no-such-dir", "is not a directory"),
        ]
        // Wrong dtype: the norm weight as I32.
        let w = dir.appendingPathComponent("dtype")
        try FileManager.default.createDirectory(at: w, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: dir.appendingPathComponent("hf/config.json"), to: w.appendingPathComponent("config.json"))
        try writeRaw(w.appendingPathComponent("model.safetensors"), good.tensors.keys.sorted().map { name in
            let t = good.tensors[name]!
            return name == "model.norm.weight" ? (name, "I32", t.shape, [UInt8](repeating: 0, count: 4 * t.count))
                                               : (name, "F32", t.shape, t.data.withMemoryRebound(to: UInt8.self, capacity: 4 * t.count) { Array(UnsafeBufferPointer(start: $0, count: 4 * t.count)) })
        })
        for (name, why) in cases + [("dtype", "tensor 'model.norm.weight' has dtype I32 — weights must be F32, F16 or BF16")] {
            let r = try lab(["import", "--from", name, "--out", "out-\(name)"], cwd: dir)
            XCTAssertEqual(r.status, 2, "\(name): \(r.stdout)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(name): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(why), "\(name): \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out-\(name)").path), "\(name): nothing written")
        }
        // Negative control: the untouched files import, and so does an lm_head.weight equal to the embedding.
        var tiedHead = good.tensors; tiedHead["lm_head.weight"] = good.tensors["model.embed_tokens.weight"]!.copy()
        XCTAssertEqual(try lab(["import", "--from", try variant("good", tensors: tiedHead), "--out", "out-good"], cwd: dir).status, 0)
        _ = model
    }

    /// Llama settings the lab's attention cannot compute, and checkpoints in formats the lab does not read.
    func testImportRefusesLlamaSettingsAndOtherFormats() throws {
        let dir = try temporaryDirectory()
        try makeRun(tiny("attention"), steps: 0, at: dir.appendingPathComponent("run"))
        XCTAssertEqual(try lab(["export", "--checkpoint", "run", "--out", "hf"], cwd: dir).status, 0)
        let hf = dir.appendingPathComponent("hf")
        let good = try configJSON(hf)
        func variant(_ name: String, _ change: (inout [String: Any]) -> Void, weights: String? = "model.safetensors") throws -> String {
            let d = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            var c = good; change(&c)
            try JSONSerialization.data(withJSONObject: c).write(to: d.appendingPathComponent("config.json"))
            if let weights { try FileManager.default.copyItem(at: hf.appendingPathComponent("model.safetensors"), to: d.appendingPathComponent(weights)) }
            return name
        }
        let cases: [(String, String)] = [
            (try variant("gqa") { $0["num_key_value_heads"] = 1 }, "num_key_value_heads = 1 ≠ num_attention_heads = 2"),
            (try variant("scaling") { $0["rope_scaling"] = ["type": "linear", "factor": 2.0] }, "rope_scaling is set"),
            (try variant("bias") { $0["attention_bias"] = true }, "attention_bias = true"),
            (try variant("act") { $0["hidden_act"] = "gelu" }, "hidden_act 'gelu'"),
            (try variant("sharded", { _ in }, weights: "model.safetensors.index.json"), "holds a sharded checkpoint"),
            (try variant("bin", { _ in }, weights: "pytorch_model.bin"), "only pytorch_model.bin is there"),
        ]
        for (name, why) in cases {
            let r = try lab(["import", "--from", name, "--out", "out-\(name)"], cwd: dir)
            XCTAssertEqual(r.status, 2, name)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(name): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(why), "\(name): \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out-\(name)").path))
        }
        // Negative control: the unchanged config imports.
        XCTAssertEqual(try lab(["import", "--from", try variant("same") { _ in }, "--out", "out-same"], cwd: dir).status, 0)
    }

    /// F16 and BF16 weights are converted (values equal the rounded originals); I64 is not a weight dtype.
    func testImportConvertsHalfPrecisionWeights() throws {
        let dir = try temporaryDirectory()
        try makeRun(tiny("mamba"), steps: 0, at: dir.appendingPathComponent("run"))
        XCTAssertEqual(try lab(["export", "--checkpoint", "run", "--out", "hf"], cwd: dir).status, 0)
        let good = try SafetensorsFile.read(dir.appendingPathComponent("hf/model.safetensors"))
        func bf16(_ x: Float) -> UInt16 { UInt16(x.bitPattern >> 16) }                      // truncation
        func f16(_ x: Float) -> UInt16 { Float16(x).bitPattern }
        for (dtype, enc, dec) in [("BF16", bf16, { (h: UInt16) in Float(bitPattern: UInt32(h) << 16) }),
                                  ("F16", f16, { (h: UInt16) in Float(Float16(bitPattern: h)) })] {
            let d = dir.appendingPathComponent(dtype)
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: dir.appendingPathComponent("hf/config.json"), to: d.appendingPathComponent("config.json"))
            try writeRaw(d.appendingPathComponent("model.safetensors"), good.tensors.keys.sorted().map { name in
                let t = good.tensors[name]!
                return (name, dtype, t.shape, (0..<t.count).flatMap { i in withUnsafeBytes(of: enc(t.data[i]).littleEndian) { Array($0) } })
            })
            let r = try lab(["import", "--from", dtype, "--out", "run-\(dtype)"], cwd: dir)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("converted \(dtype) weights to F32"), r.stdout)
            let back = try HFCheckpoint.loadRun(dir.appendingPathComponent("run-\(dtype)"))
            let w = back.model.parameters.first { $0.name == "model.layers.0.seq_modeling_block.A_log" }!.tensor
            let orig = good.tensors["backbone.layers.0.mixer.A_log"]!
            XCTAssertEqual((0..<w.count).map { w.data[$0] }, (0..<orig.count).map { dec(enc(orig.data[$0])) })
            // Negative control: rounding changed some value.
            let embed = back.model.embedding, e0 = good.tensors["backbone.embeddings.weight"]!
            XCTAssertFalse(bitsEqual(embed, e0), dtype)
        }
    }

    // MARK: lab logits

    func testLogitsAgreeWithTheLabsLoss() throws {
        let dir = try temporaryDirectory()
        for layer in ["ttt-linear", "mamba"] {
            let model = try makeRun(tiny(layer), steps: 2, at: dir.appendingPathComponent("run-\(layer)"))
            let (B, T) = (2, 20)
            var rng = RNG(seed: 4)
            let ids = (0..<(B * T)).map { _ in Int(rng.next() % 256) }
            // I64 [B, T] token file.
            try writeRaw(dir.appendingPathComponent("ids.safetensors"),
                         [("input_ids", "I64", [B, T], ids.flatMap { withUnsafeBytes(of: Int64($0).littleEndian) { Array($0) } })])
            let r = try lab(["logits", "--checkpoint", "run-\(layer)", "--input", "ids.safetensors", "--output", "out.safetensors"], cwd: dir)
            XCTAssertEqual(r.status, 0, r.stderr)
            let logits = try SafetensorsFile.read(dir.appendingPathComponent("out.safetensors")).tensors["logits"]!
            XCTAssertEqual(logits.shape, [B, T, 256])
            // The lab's own loss on the same predictions (inputs t < T−1, targets t+1).
            var x: [Int] = [], y: [Int] = []
            for b in 0..<B { x += ids[(b * T)..<(b * T + T - 1)]; y += ids[(b * T + 1)..<(b * T + T)] }
            let labLoss = Double(withNoGrad { model.loss(inputs: x, targets: y, batch: B) }.item)
            let fromLogits = ModelLogits.nextTokenLoss(logits, ids: ids)!
            XCTAssertEqual(fromLogits, labLoss, accuracy: 1e-5, layer)
            print("logits vs loss, \(layer): |Δ| = \(abs(fromLogits - labLoss))")
            XCTAssertTrue(r.stdout.contains(String(format: "next-token loss %.6f", fromLogits)), r.stdout)
            // Negative control: the same logits scored against the targets shifted by one more token differ
            // by far more than the tolerance (the 2-step model is still close to uniform, so not by much more).
            var shifted = ids; shifted.removeFirst(); shifted.append(0)
            XCTAssertGreaterThan(abs(ModelLogits.nextTokenLoss(logits, ids: shifted)! - labLoss), 1e-3)
        }
        // --text: bytes as one sequence; I32 ids of the same bytes give the same file.
        let text = Array("ROMEO: what light through yonder window breaks".utf8)
        try Data(text).write(to: dir.appendingPathComponent("t.txt"))
        try writeRaw(dir.appendingPathComponent("t.safetensors"), [("ids", "I32", [text.count], text.flatMap { withUnsafeBytes(of: Int32($0).littleEndian) { Array($0) } })])
        XCTAssertEqual(try lab(["logits", "--checkpoint", "run-mamba", "--text", "t.txt", "--output", "a.safetensors"], cwd: dir).status, 0)
        XCTAssertEqual(try lab(["logits", "--checkpoint", "run-mamba", "--input", "t.safetensors", "--output", "b.safetensors"], cwd: dir).status, 0)
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("a.safetensors")), try Data(contentsOf: dir.appendingPathComponent("b.safetensors")))
        // A (sparse) 64 GiB text is refused before it is read.
        let huge = dir.appendingPathComponent("huge.txt")
        XCTAssertTrue(FileManager.default.createFile(atPath: huge.path, contents: nil))
        let h = try FileHandle(forWritingTo: huge)
        try h.truncate(atOffset: 64 << 30)
        try h.close()
        defer { try? FileManager.default.removeItem(at: huge) }
        // Bad inputs: one line, exit 2, no output file.
        try writeRaw(dir.appendingPathComponent("f.safetensors"), [("ids", "F32", [2], [UInt8](repeating: 0, count: 8))])
        try writeRaw(dir.appendingPathComponent("big.safetensors"), [("ids", "I32", [1], withUnsafeBytes(of: Int32(300).littleEndian) { Array($0) })])
        for (args, why) in [(["--input", "f.safetensors"], "token ids must be I32 or I64"),
                            (["--input", "big.safetensors"], "token id 300 is outside the model's vocabulary"),
                            (["--input", "nope.safetensors"], "no such file"),
                            (["--input", "t.safetensors", "--text", "t.txt"], "exactly one of --input FILE or --text FILE"),
                            (["--text", "huge.txt"], "pass fewer or shorter sequences")] {
            let r = try lab(["logits", "--checkpoint", "run-mamba"] + args + ["--output", "bad.safetensors"], cwd: dir)
            XCTAssertEqual(r.status, 2, why)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(why), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("bad.safetensors").path))
        }
    }
}

func bitsEqual(_ a: Tensor, _ b: Tensor) -> Bool {
    a.shape == b.shape && (0..<a.count).allSatisfy { a.data[$0].bitPattern == b.data[$0].bitPattern }
}
