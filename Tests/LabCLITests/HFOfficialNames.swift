// HFOfficialNames.swift — test fixtures: the state-dict names, shapes and config keys of the official
// loaders, written by hand from their sources (not from the lab's exporter):
//   TTT:   ttt-lm-pytorch ttt.py (github.com/test-time-training/ttt-lm-pytorch, repo head cd831db, ttt.py
//          last changed in 6990c68): TTTConfig.__init__, TTTBase/TTTLinear/TTTMLP, Conv, Block, TTTModel
//   Llama: transformers 4.46.3 models/llama/{configuration,modeling}_llama.py: LlamaConfig.__init__,
//          LlamaAttention, LlamaMLP, LlamaDecoderLayer, LlamaModel
//   Mamba: transformers 4.46.3 models/mamba/{configuration,modeling}_mamba.py: MambaConfig.__init__ (plus
//          the attribute intermediate_size it sets), MambaMixer, MambaBlock, MambaModel
//
// Format: one tensor per line, "name  [dims]  [tags]". {i} is the block index; dims are V (vocab),
// D (hidden_size), H (heads), d (D/H), I (intermediate_size), b (mini_batch_size), k (conv_kernel),
// E (Mamba expand·D), N (state_size), R (time_step_rank), with integer multiples (4d, 2E) and sums (R+2N).
// Tags: the line exists only when every tag holds (linear/mlp: ttt_layer_type; share_qk, use_gate,
// pre_conv: those flags; !share_qk: the flag is false). Tied models have no lm_head.weight.

enum HFOfficial {
    static let tttTensors = """
    model.embed_tokens.weight                                [V, D]
    model.layers.{i}.seq_norm.weight                         [D]
    model.layers.{i}.ffn_norm.weight                         [D]
    model.layers.{i}.mlp.gate_proj.weight                    [I, D]
    model.layers.{i}.mlp.up_proj.weight                      [I, D]
    model.layers.{i}.mlp.down_proj.weight                    [D, I]
    model.layers.{i}.conv.norm.weight                        [D]          pre_conv
    model.layers.{i}.conv.conv.weight                        [D, 1, k]    pre_conv
    model.layers.{i}.conv.conv.bias                          [D]          pre_conv
    model.layers.{i}.seq_modeling_block.learnable_token_idx  [b]
    model.layers.{i}.seq_modeling_block.q_proj.weight        [D, D]
    model.layers.{i}.seq_modeling_block.k_proj.weight        [D, D]       !share_qk
    model.layers.{i}.seq_modeling_block.v_proj.weight        [D, D]
    model.layers.{i}.seq_modeling_block.o_proj.weight        [D, D]
    model.layers.{i}.seq_modeling_block.conv_q.weight        [D, 1, k]    share_qk
    model.layers.{i}.seq_modeling_block.conv_q.bias          [D]          share_qk
    model.layers.{i}.seq_modeling_block.conv_k.weight        [D, 1, k]    share_qk
    model.layers.{i}.seq_modeling_block.conv_k.bias          [D]          share_qk
    model.layers.{i}.seq_modeling_block.learnable_ttt_lr_weight [H, 1, D]
    model.layers.{i}.seq_modeling_block.learnable_ttt_lr_bias   [H, 1]
    model.layers.{i}.seq_modeling_block.ttt_norm_weight      [H, d]
    model.layers.{i}.seq_modeling_block.ttt_norm_bias        [H, d]
    model.layers.{i}.seq_modeling_block.g_proj.weight        [D, D]       use_gate
    model.layers.{i}.seq_modeling_block.post_norm.weight     [D]
    model.layers.{i}.seq_modeling_block.post_norm.bias       [D]
    model.layers.{i}.seq_modeling_block.W1                   [H, d, d]    linear
    model.layers.{i}.seq_modeling_block.b1                   [H, 1, d]    linear
    model.layers.{i}.seq_modeling_block.W1                   [H, d, 4d]   mlp
    model.layers.{i}.seq_modeling_block.b1                   [H, 1, 4d]   mlp
    model.layers.{i}.seq_modeling_block.W2                   [H, 4d, d]   mlp
    model.layers.{i}.seq_modeling_block.b2                   [H, 1, d]    mlp
    model.norm.weight                                        [D]
    """

    static let llamaTensors = """
    model.embed_tokens.weight                         [V, D]
    model.layers.{i}.self_attn.q_proj.weight          [D, D]
    model.layers.{i}.self_attn.k_proj.weight          [D, D]
    model.layers.{i}.self_attn.v_proj.weight          [D, D]
    model.layers.{i}.self_attn.o_proj.weight          [D, D]
    model.layers.{i}.mlp.gate_proj.weight             [I, D]
    model.layers.{i}.mlp.up_proj.weight               [I, D]
    model.layers.{i}.mlp.down_proj.weight             [D, I]
    model.layers.{i}.input_layernorm.weight           [D]
    model.layers.{i}.post_attention_layernorm.weight  [D]
    model.norm.weight                                 [D]
    """

    static let mambaTensors = """
    backbone.embeddings.weight                  [V, D]
    backbone.layers.{i}.norm.weight             [D]
    backbone.layers.{i}.mixer.in_proj.weight    [2E, D]
    backbone.layers.{i}.mixer.conv1d.weight     [E, 1, k]
    backbone.layers.{i}.mixer.conv1d.bias       [E]
    backbone.layers.{i}.mixer.x_proj.weight     [R+2N, E]
    backbone.layers.{i}.mixer.dt_proj.weight    [E, R]
    backbone.layers.{i}.mixer.dt_proj.bias      [E]
    backbone.layers.{i}.mixer.A_log             [E, N]
    backbone.layers.{i}.mixer.D                 [E]
    backbone.layers.{i}.mixer.out_proj.weight   [D, E]
    backbone.norm_f.weight                      [D]
    """

    /// `__init__` arguments of each config class (config.json also carries architectures, model_type, torch_dtype).
    static let tttConfigKeys = """
    vocab_size hidden_size intermediate_size num_hidden_layers num_attention_heads hidden_act max_position_embeddings
    initializer_range rms_norm_eps use_cache pad_token_id bos_token_id eos_token_id pretraining_tp tie_word_embeddings
    rope_theta use_gate share_qk ttt_layer_type ttt_base_lr mini_batch_size pre_conv conv_kernel scan_checkpoint_group_size
    """
    static let llamaConfigKeys = """
    vocab_size hidden_size intermediate_size num_hidden_layers num_attention_heads num_key_value_heads hidden_act
    max_position_embeddings initializer_range rms_norm_eps use_cache pad_token_id bos_token_id eos_token_id pretraining_tp
    tie_word_embeddings rope_theta rope_scaling attention_bias attention_dropout mlp_bias head_dim
    """
    static let mambaConfigKeys = """
    vocab_size hidden_size state_size num_hidden_layers layer_norm_epsilon pad_token_id bos_token_id eos_token_id expand
    conv_kernel use_bias use_conv_bias hidden_act initializer_range residual_in_fp32 time_step_rank time_step_scale
    time_step_min time_step_max time_step_init_scheme time_step_floor rescale_prenorm_residual use_cache use_mambapy
    intermediate_size tie_word_embeddings
    """

    /// Expands a tensor list for `layers` blocks, the given sizes and the tags that hold → name: shape.
    static func expand(_ list: String, layers: Int, sizes: [String: Int], tags: Set<String>) -> [String: [Int]] {
        func dim(_ s: String) -> Int {
            s.split(separator: "+").reduce(0) { sum, term in
                let digits = term.prefix { $0.isNumber }
                let sym = String(term.dropFirst(digits.count))
                return sum + (Int(digits) ?? 1) * (sym.isEmpty ? 1 : sizes[sym]!)
            }
        }
        var out: [String: [Int]] = [:]
        for line in list.split(separator: "\n") {
            let open = line.firstIndex(of: "[")!, close = line.firstIndex(of: "]")!
            let name = line[..<open].trimmingCharacters(in: .whitespaces)
            let shape = line[line.index(after: open)..<close].split(separator: ",").map { dim($0.trimmingCharacters(in: .whitespaces)) }
            let needs = line[line.index(after: close)...].split(separator: " ").map(String.init)
            guard needs.allSatisfy({ $0.hasPrefix("!") ? !tags.contains(String($0.dropFirst())) : tags.contains($0) }) else { continue }
            if name.contains("{i}") {
                for i in 0..<layers { out[name.replacingOccurrences(of: "{i}", with: "\(i)")] = shape }
            } else {
                out[name] = shape
            }
        }
        return out
    }

    static func keys(_ list: String) -> Set<String> { Set(list.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)) }
}
