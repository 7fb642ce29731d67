// HFLayout.swift — which Hugging Face model class a lab language model is, its config.json, and the
// name map between the lab's parameter names and that class's state dict.
//
//   lab                                   TTTForCausalLM (ttt-lm-pytorch ttt.py)   LlamaForCausalLM          MambaForCausalLM
//   model.embed_tokens.weight             same                                    same                      backbone.embeddings.weight
//   model.layers.N.conv.*                 same (pre_conv)                         —                         —
//   model.layers.N.seq_norm.weight        same                                    ….input_layernorm.weight  backbone.layers.N.norm.weight
//   model.layers.N.seq_modeling_block.X   same                                    ….self_attn.X (q,k: RoPE  backbone.layers.N.mixer.X
//                                                                                 rows permuted per head)
//   model.layers.N.ffn_norm.weight        same                                    ….post_attention_layernorm —
//   model.layers.N.feed_forward.X         model.layers.N.mlp.X                    model.layers.N.mlp.X      —
//   model.norm.weight                     same                                    same                      backbone.norm_f.weight
//   (tied head)                           lm_head.weight omitted (tie_word_embeddings = true)
import Foundation
import Layers
import TensorCore
import Zoo

/// The Hugging Face causal-LM classes the lab writes and reads.
public enum HFArchitecture: String, CaseIterable, Sendable {
    /// ttt-lm-pytorch's `TTTForCausalLM` (`model_type` "ttt").
    case ttt = "TTTForCausalLM"
    /// transformers' `LlamaForCausalLM`.
    case llama = "LlamaForCausalLM"
    /// transformers' `MambaForCausalLM`.
    case mamba = "MambaForCausalLM"

    public var modelType: String {
        switch self { case .ttt: return "ttt"; case .llama: return "llama"; case .mamba: return "mamba" }
    }
}

/// One tensor of the HF state dict: its name there, the lab parameter it holds, and whether its rows
/// are permuted per head (q_proj / k_proj of Llama: the lab's interleaved RoPE pairs (2i, 2i+1) become
/// Llama's halves (i, i + d/2)).
struct HFTensor {
    let name: String
    let param: Param
    /// Heads whose rows are permuted, nil for none.
    let permutedHeads: Int?
}

/// The map between lab models and Hugging Face model directories (`config.json` + `model.safetensors`).
///
/// ```swift
/// let arch = try HFLayout.architecture(for: model.config)        // .ttt, .llama or .mamba, or a refusal
/// let json = try HFLayout.config(for: model.config)              // TTTConfig / LlamaConfig / MambaConfig keys
/// ```
public enum HFLayout {
    /// The lab's RMSNorm ε (every norm of every model; TensorCore `rmsNorm` default).
    public static let rmsNormEps = 1e-6
    /// The Mamba stack's dt rank, ⌈D/16⌉ (Mamba.swift).
    static func dtRank(_ width: Int) -> Int { (width + 15) / 16 }

    static func refuse(_ config: ModelConfig, _ why: String) -> LabError {
        LabError.badConfig("cannot export \(config.layer): \(why)")
    }

    /// The HF class that computes exactly what `config` computes, or a one-line refusal saying why none does.
    public static func architecture(for config: ModelConfig) throws -> HFArchitecture {
        try config.validate()
        let lc = config.layerConfig
        guard config.layerList.count == 1, let spec = config.layerList.first else {
            throw refuse(config, "a layer list (one layer per block) has no Hugging Face loader — TTTForCausalLM, LlamaForCausalLM and MambaForCausalLM each hold one layer type per model; export a model trained with a single --layer")
        }
        switch spec {
        case .attention:
            if let w = lc.attention.window {
                throw refuse(config, "LlamaForCausalLM has no sliding window, so it would attend beyond the window W = \(w) — export attention trained without --window")
            }
            return .llama
        case .mamba:
            return .mamba
        case .linearAttention:
            throw refuse(config, "no Hugging Face loader computes the lab's linear attention (no feature map, no normalizer) — export works for ttt-linear, ttt-mlp, their -m variants, attention (Llama) and mamba")
        case .ttt(let inner, _):
            let plugin = inner.name
            guard plugin == "linear" || plugin == "mlp" else {
                throw refuse(config, "ttt-lm-pytorch's TTTForCausalLM has only the linear and mlp inner models (ttt_layer_type), so no loader exists for the '\(plugin)' plugin")
            }
            let o = lc.ttt, d = TTTOptions()
            let differing: [(Bool, String)] = [
                (o.innerLN != d.innerLN, "innerLN = \(o.innerLN)"), (o.innerResidual != d.innerResidual, "innerResidual = \(o.innerResidual)"),
                (o.innerBias != d.innerBias, "innerBias = \(o.innerBias)"), (o.learnableW0 != d.learnableW0, "learnableW0 = \(o.learnableW0)"),
                (o.tokenScaling != d.tokenScaling, "tokenScaling = \(o.tokenScaling)"), (o.fixedEta != nil, "fixedEta = \(o.fixedEta ?? 0)"),
                (o.rope != d.rope, "rope = \(o.rope)"), (o.postNorm != d.postNorm, "postNorm = \(o.postNorm)"),
                (o.lrMult != 1, "lrMult = \(o.lrMult)"),
            ]
            if let (_, what) = differing.first(where: { $0.0 }) {
                throw refuse(config, "the TTT option \(what) has no TTTConfig counterpart, so TTTForCausalLM would compute a different model — export only models with the paper's TTT layer")
            }
            return .ttt
        }
    }

    /// True when the TTT layer uses shared Q/K + convs + gate (the "-m" names, or that option on a plain name).
    static func sharesQK(_ config: ModelConfig) -> Bool {
        config.layerList.first?.isTTTMamba == true || config.layerConfig.ttt.backbone == .mamba
    }

    /// The config.json object of the HF class (every `__init__` argument of TTTConfig / LlamaConfig /
    /// MambaConfig, plus `architectures`, `model_type`, `torch_dtype`).
    public static func config(for config: ModelConfig) throws -> [String: Any] {
        let arch = try architecture(for: config)
        let lc = config.layerConfig
        var j: [String: Any] = ["architectures": [arch.rawValue], "model_type": arch.modelType, "torch_dtype": "float32",
                                "vocab_size": config.vocab, "hidden_size": config.width, "num_hidden_layers": config.layers,
                                "tie_word_embeddings": true, "initializer_range": 0.02, "use_cache": false,
                                "pad_token_id": NSNull(), "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu"]
        switch arch {
        case .ttt:
            guard let inner = config.layerList.first?.inner else { throw refuse(config, "not a TTT layer") }
            let plugin = inner.name
            let shared = sharesQK(config)
            j.merge(["intermediate_size": config.mlpHidden, "num_attention_heads": config.heads,
                     "max_position_embeddings": 2048, "rms_norm_eps": rmsNormEps, "pretraining_tp": 1,
                     "rope_theta": decimal(lc.ropeTheta), "use_gate": shared, "share_qk": shared,
                     "ttt_layer_type": plugin, "ttt_base_lr": decimal(lc.ttt.baseLR ?? inner.defaultBaseLR),
                     "mini_batch_size": config.miniBatch, "pre_conv": config.backbone == .tttMamba,
                     "conv_kernel": config.convWidth, "scan_checkpoint_group_size": 0]) { _, new in new }
        case .llama:
            j.merge(["intermediate_size": config.mlpHidden, "num_attention_heads": config.heads,
                     "num_key_value_heads": config.heads, "head_dim": config.width / config.heads,
                     "max_position_embeddings": 2048, "rms_norm_eps": rmsNormEps, "pretraining_tp": 1,
                     "rope_theta": decimal(lc.ropeTheta), "rope_scaling": NSNull(), "attention_bias": false,
                     "attention_dropout": 0.0, "mlp_bias": false]) { _, new in new }
        case .mamba:
            j.merge(["state_size": lc.mamba.state, "expand": lc.mamba.expand, "intermediate_size": lc.mamba.expand * config.width,
                     "conv_kernel": config.convWidth, "use_bias": false, "use_conv_bias": true,
                     "layer_norm_epsilon": rmsNormEps, "residual_in_fp32": true, "time_step_rank": dtRank(config.width),
                     "time_step_scale": 1.0, "time_step_min": 0.001, "time_step_max": 0.1, "time_step_init_scheme": "random",
                     "time_step_floor": 0.0001, "rescale_prenorm_residual": false, "use_mambapy": false]) { _, new in new }
            j["bos_token_id"] = 0; j["eos_token_id"] = 0; j["pad_token_id"] = 0
        }
        return j
    }

    /// A Float as the Double of its shortest decimal (0.1, not 0.10000000149011612): reads back as the same Float.
    static func decimal(_ x: Float) -> Double { Double("\(x)") ?? Double(x) }

    /// The HF state dict of `model`, in order (tied head: no `lm_head.weight`).
    static func tensors(of model: LanguageModel) throws -> [HFTensor] {
        let arch = try architecture(for: model.config)
        return model.parameters.map { p in
            let (name, permute) = hfName(p.name, arch)
            return HFTensor(name: name, param: p, permutedHeads: permute ? model.config.heads : nil)
        }
    }

    /// The HF name of a lab parameter name, and whether its rows are RoPE-permuted.
    static func hfName(_ lab: String, _ arch: HFArchitecture) -> (String, Bool) {
        func sub(_ s: String, _ pairs: [(String, String)]) -> String {
            pairs.reduce(s) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
        }
        switch arch {
        case .ttt:
            return (sub(lab, [(".feed_forward.", ".mlp.")]), false)
        case .llama:
            let n = sub(lab, [(".seq_norm.weight", ".input_layernorm.weight"), (".seq_modeling_block.", ".self_attn."),
                              (".ffn_norm.weight", ".post_attention_layernorm.weight"), (".feed_forward.", ".mlp.")])
            return (n, n.hasSuffix(".self_attn.q_proj.weight") || n.hasSuffix(".self_attn.k_proj.weight"))
        case .mamba:
            let n = sub(lab, [("model.embed_tokens.weight", "backbone.embeddings.weight"), ("model.norm.weight", "backbone.norm_f.weight"),
                              ("model.layers.", "backbone.layers."), (".seq_norm.weight", ".norm.weight"), (".seq_modeling_block.", ".mixer.")])
            return (n, false)
        }
    }

    /// Row r of head h in Llama's layout is row `ropeRow(r)` of that head in the lab's:
    /// [0, 2, 4, …, d−2, 1, 3, …, d−1] (the halves (i, i + d/2) are the lab's pairs (2i, 2i+1)).
    static func ropeRow(_ r: Int, headDim d: Int) -> Int { r < d / 2 ? 2 * r : 2 * (r - d / 2) + 1 }

    /// Permutes the rows of a (out, in) weight per head: `toHF` maps lab rows to Llama rows, else back.
    static func permuteRows(_ w: Tensor, heads H: Int, toHF: Bool) -> Tensor {
        let rows = w.dim(0), cols = w.count / max(rows, 1), d = rows / H
        let out = Tensor(uninitializedShape: w.shape)
        for h in 0..<H {
            for r in 0..<d {
                let hf = h * d + r, lab = h * d + ropeRow(r, headDim: d)
                let (src, dst) = toHF ? (lab, hf) : (hf, lab)
                (out.data + dst * cols).update(from: w.data + src * cols, count: cols)
            }
        }
        return out
    }
}
