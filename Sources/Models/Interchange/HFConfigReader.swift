// HFConfigReader.swift — a Hugging Face config.json (TTTConfig, LlamaConfig, MambaConfig) back to a ModelConfig,
// checking every value that changes what the model computes and refusing keys it does not know.
import Foundation
import Layers
import Zoo

extension HFLayout {
    /// Keys that change nothing the forward pass computes (initialisation, caching, tokens ids, bookkeeping).
    static let inertKeys: Set<String> = [
        "architectures", "model_type", "torch_dtype", "dtype", "transformers_version", "_name_or_path", "initializer_range",
        "use_cache", "pad_token_id", "bos_token_id", "eos_token_id", "max_position_embeddings", "pretraining_tp",
        "scan_checkpoint_group_size", "residual_in_fp32", "time_step_scale", "time_step_min", "time_step_max",
        "time_step_init_scheme", "time_step_floor", "rescale_prenorm_residual", "use_mambapy", "output_attentions",
        "output_hidden_states", "return_dict", "is_decoder", "tokenizer_class", "auto_map", "id2label", "label2id",
    ]

    /// Keys each class reads that the reader checks (besides the inert ones).
    static let checkedKeys: [HFArchitecture: Set<String>] = [
        .ttt: ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "hidden_act",
               "rms_norm_eps", "tie_word_embeddings", "rope_theta", "use_gate", "share_qk", "ttt_layer_type", "ttt_base_lr",
               "mini_batch_size", "pre_conv", "conv_kernel"],
        .llama: ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                 "head_dim", "hidden_act", "rms_norm_eps", "tie_word_embeddings", "rope_theta", "rope_scaling", "attention_bias",
                 "attention_dropout", "mlp_bias"],
        .mamba: ["vocab_size", "hidden_size", "state_size", "num_hidden_layers", "layer_norm_epsilon", "expand", "intermediate_size",
                 "conv_kernel", "use_bias", "use_conv_bias", "hidden_act", "time_step_rank", "tie_word_embeddings"],
    ]

    /// Reads a config.json object: the architecture, the lab model config, and whether the head is tied.
    /// Errors are one line naming the key, the value found and why the lab refuses it.
    ///
    /// ```swift
    /// let (arch, cfg, tied) = try HFLayout.modelConfig(fromHF: json, path: "hf/config.json")
    /// ```
    public static func modelConfig(fromHF j: [String: JSONValue], path: String) throws -> (HFArchitecture, ModelConfig, tied: Bool) {
        func fail(_ problem: String) -> LabError { LabError.badFile(path: path, problem: problem) }
        let arch: HFArchitecture
        if case .array(let list)? = j["architectures"], case .string(let a)? = list.first {
            guard let x = HFArchitecture(rawValue: a) else {
                throw fail("architecture '\(a.prefix(60))' has no lab counterpart — the lab imports \(HFArchitecture.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            arch = x
        } else if case .string(let t)? = j["model_type"], let x = HFArchitecture.allCases.first(where: { $0.modelType == t }) {
            arch = x
        } else {
            throw fail("no 'architectures' or known 'model_type' — the lab imports \(HFArchitecture.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let known = inertKeys.union(checkedKeys[arch]!)
        if let unknown = j.keys.sorted().first(where: { !known.contains($0) }) {
            throw fail("key '\(unknown.prefix(60))' is not one the lab knows for \(arch.rawValue) and may change the model — remove it if it does not, else this model cannot be imported")
        }
        func present(_ k: String) -> JSONValue? { if let v = j[k], v != .null { return v }; return nil }
        func int(_ k: String, _ def: Int? = nil) throws -> Int {
            guard let v = present(k) else {
                if let def { return def }
                throw fail("key '\(k)' is missing — the file is not a complete \(arch.rawValue) config")
            }
            guard case .int(let n) = v, n > 0 else { throw fail("key '\(k)' is \(v) but must be a positive integer") }
            // Bounded before any arithmetic (E × D, D / H, …) or allocation; validate() narrows each further.
            guard n <= 1 << 30 else { throw fail("key '\(k)' is \(n), far beyond any model the lab can hold (≤ 2^30)") }
            return n
        }
        func double(_ k: String, _ def: Double) throws -> Double {
            guard let v = present(k) else { return def }
            switch v {
            case .int(let n): return Double(n)
            case .double(let x) where x.isFinite: return x
            default: throw fail("key '\(k)' is \(v) but must be a number")
            }
        }
        func bool(_ k: String, _ def: Bool) throws -> Bool {
            guard let v = present(k) else { return def }
            guard case .bool(let b) = v else { throw fail("key '\(k)' is \(v) but must be true or false") }
            return b
        }
        func string(_ k: String, _ def: String) throws -> String {
            guard let v = present(k) else { return def }
            guard case .string(let s) = v else { throw fail("key '\(k)' is \(v) but must be a string") }
            return s
        }
        func require(_ ok: Bool, _ problem: @autoclosure () -> String) throws { if !ok { throw fail(problem()) } }

        let V = try int("vocab_size"), D = try int("hidden_size"), L = try int("num_hidden_layers")
        try require(try string("hidden_act", "silu") == "silu", "hidden_act \(j["hidden_act"]!) — the lab's SwiGLU / Mamba use silu")
        let epsKey = arch == .mamba ? "layer_norm_epsilon" : "rms_norm_eps"
        let eps = try double(epsKey, arch == .mamba ? 1e-5 : 1e-6)
        try require(abs(eps - rmsNormEps) <= 1e-12, "\(epsKey) = \(eps) — the lab's RMSNorm uses ε = 1e-6, so no lab model computes this one")
        let tied = try bool("tie_word_embeddings", arch != .llama)

        var cfg: ModelConfig
        var options = LayerConfig(width: D, heads: 1)
        var customOptions = false
        switch arch {
        case .ttt:
            let H = try int("num_attention_heads"), I = try int("intermediate_size")
            let plugin = try string("ttt_layer_type", "linear")
            try require(plugin == "linear" || plugin == "mlp", "ttt_layer_type '\(plugin.prefix(40))' — TTTForCausalLM has only 'linear' and 'mlp'")
            let preConv = try bool("pre_conv", false), shareQK = try bool("share_qk", false), gate = try bool("use_gate", false)
            try require(shareQK == gate, "share_qk = \(shareQK) with use_gate = \(gate) — the lab's TTT layer has the shared Q/K convs and the gate together or neither")
            try require(!preConv || shareQK, "pre_conv = true with share_qk = false — the lab's TTT Mamba backbone always shares Q/K")
            let layer = "ttt-\(plugin)" + (preConv ? "-m" : "")
            cfg = ModelConfig(layer: layer, vocab: V, width: D, heads: H, layers: L, mlpHidden: I,
                              miniBatch: try int("mini_batch_size", 16), convWidth: try int("conv_kernel", 4))
            options.heads = H
            if shareQK && !preConv { options.ttt.backbone = .mamba; customOptions = true }
            let lr = Float(try double("ttt_base_lr", 1.0))
            if lr != (try InnerModelRegistry.named(plugin)).defaultBaseLR { options.ttt.baseLR = lr; customOptions = true }
            let theta = Float(try double("rope_theta", 10000))
            if theta != options.ropeTheta { options.ropeTheta = theta; customOptions = true }
        case .llama:
            let H = try int("num_attention_heads"), I = try int("intermediate_size")
            try require(try int("num_key_value_heads", H) == H, "num_key_value_heads = \(j["num_key_value_heads"]!) ≠ num_attention_heads = \(H) — the lab's attention has no grouped-query heads")
            if let hd = present("head_dim") {
                try require(D % H == 0 && (try int("head_dim")) == D / H, "head_dim = \(hd) ≠ hidden_size / num_attention_heads — the lab's heads split the width evenly")
            }
            try require(present("rope_scaling") == nil, "rope_scaling is set — the lab's RoPE has no scaling")
            try require(!(try bool("attention_bias", false)), "attention_bias = true — the lab's attention has no biases")
            try require(!(try bool("mlp_bias", false)), "mlp_bias = true — the lab's SwiGLU has no biases")
            try require(try double("attention_dropout", 0) == 0, "attention_dropout ≠ 0 — the lab has no dropout")
            cfg = ModelConfig(layer: "attention", vocab: V, width: D, heads: H, layers: L, mlpHidden: I)
            options.heads = H
            let theta = Float(try double("rope_theta", 10000))
            if theta != options.ropeTheta { options.ropeTheta = theta; customOptions = true }
        case .mamba:
            let E = try int("expand", 2), N = try int("state_size", 16), k = try int("conv_kernel", 4)
            try require(try int("intermediate_size", E * D) == E * D, "intermediate_size = \(j["intermediate_size"]!) ≠ expand × hidden_size = \(E * D)")
            if let r = present("time_step_rank"), r != .string("auto") {
                try require(try int("time_step_rank") == dtRank(D), "time_step_rank = \(r) — the lab's Mamba uses ⌈hidden_size/16⌉ = \(dtRank(D))")
            }
            try require(!(try bool("use_bias", false)), "use_bias = true — the lab's Mamba projections have no biases")
            try require(try bool("use_conv_bias", true), "use_conv_bias = false — the lab's Mamba conv has a bias")
            // Heads play no part in Mamba; the lab's config needs a count, so one.
            cfg = ModelConfig(layer: "mamba", vocab: V, width: D, heads: 1, layers: L, mlpHidden: 0, convWidth: k)
            if E != options.mamba.expand || N != options.mamba.state { options.mamba.expand = E; options.mamba.state = N; customOptions = true }
        }
        if customOptions { cfg.layerOptions = options }
        do { try cfg.validate() } catch let e as LabError { throw fail("the config describes no valid lab model: \(e)") }
        return (arch, cfg, tied)
    }
}

/// A JSON value, decoded strictly (true is not 1, 1 is not "1").
///
/// ```swift
/// let j = try JSONDecoder().decode([String: JSONValue].self, from: data)
/// if case .int(let d)? = j["hidden_size"] { … }
/// ```
public enum JSONValue: Decodable, Equatable, CustomStringConvertible, Sendable {
    case bool(Bool), int(Int), double(Double), string(String), null, array([JSONValue]), object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Int.self) { self = .int(n) }
        else if let x = try? c.decode(Double.self) { self = .double(x) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public var description: String {
        switch self {
        case .bool(let b): return "\(b)"
        case .int(let n): return "\(n)"
        case .double(let x): return "\(x)"
        case .string(let s): return "'\(s.prefix(40))'"
        case .null: return "null"
        case .array: return "a list"
        case .object: return "an object"
        }
    }
}
