// LayerKindOptions.swift — the options of each kind of sequence layer, one group per kind (the groups of
// `LayerConfig`). Every group decodes a key that a file lacks as its default, so an option added later
// reads from every config saved before it.
import TensorCore

/// Options of the TTT layer (docs/ttt.md §1). Defaults are the paper's TTT layer, Transformer backbone.
///
/// ```swift
/// var o = TTTOptions(); o.miniBatch = 8; o.dual = false      // primal form, b = 8
/// ```
public struct TTTOptions: Codable, Equatable, Sendable {
    public enum Backbone: String, Codable, Sendable { case transformer, mamba }
    /// Mini-batch size b (docs/ttt.md §1.6). Set ≥ T for batch GD.
    public var miniBatch: Int = 16
    /// Transformer backbone (separate Q/K) or Mamba backbone (shared Q/K + convs + GELU gate), docs/ttt.md §1.2.
    public var backbone: Backbone = .transformer
    /// f(x) = x + LN(f_res(x)); switch off either part (Theorem 1 / DeltaNet need both off).
    public var innerLN: Bool = true
    public var innerResidual: Bool = true
    /// Bias terms in the inner model (Theorem 1 uses none).
    public var innerBias: Bool = true
    /// θ_init learned (true) or fixed at zero (W₀ = 0).
    public var learnableW0: Bool = true
    /// c_i = max(0, 1/i + λ_i) (true) or c_i = 1.
    public var tokenScaling: Bool = true
    /// When set, E_ij = fixedEta · c_i (no gate, no η_base/d); otherwise the learnable gate (docs/ttt.md §1.4).
    public var fixedEta: Float? = nil
    /// η_base; nil takes the plugin's default (1.0 linear, 0.1 MLP).
    public var baseLR: Float? = nil
    /// ρ = ttt_lr_mult (1 at inference).
    public var lrMult: Float = 1
    /// RoPE on q, k within mini-batch positions.
    public var rope: Bool = true
    /// LN over D before the output projection.
    public var postNorm: Bool = true
    /// Prefill with the dual form (true) or the primal form (false).
    public var dual: Bool = true
    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        miniBatch = try c.value(.miniBatch, or: miniBatch)
        backbone = try c.value(.backbone, or: backbone)
        innerLN = try c.value(.innerLN, or: innerLN)
        innerResidual = try c.value(.innerResidual, or: innerResidual)
        innerBias = try c.value(.innerBias, or: innerBias)
        learnableW0 = try c.value(.learnableW0, or: learnableW0)
        tokenScaling = try c.value(.tokenScaling, or: tokenScaling)
        fixedEta = try c.value(.fixedEta, or: fixedEta)
        baseLR = try c.value(.baseLR, or: baseLR)
        lrMult = try c.value(.lrMult, or: lrMult)
        rope = try c.value(.rope, or: rope)
        postNorm = try c.value(.postNorm, or: postNorm)
        dual = try c.value(.dual, or: dual)
    }
}

/// Options of softmax attention.
///
/// ```swift
/// var cfg = LayerConfig(width: 64, heads: 4); cfg.attention.window = 32   // sliding-window attention
/// ```
public struct AttentionOptions: Codable, Equatable, Sendable {
    /// A sliding window of W tokens (token t attends to t−W+1…t; the KV cache holds W rows), nil for full
    /// causal attention. `LayerSpec.make` refuses it for other layers.
    public var window: Int? = nil
    public init(window: Int? = nil) { self.window = window }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        window = try c.value(.window, or: window)
    }
}

/// Options of linear attention.
///
/// ```swift
/// var cfg = LayerConfig(width: 64, heads: 4); cfg.linearAttention.variant = "elu"; cfg.linearAttention.chunk = 0
/// ```
public struct LinearAttentionOptions: Codable, Equatable, Sendable {
    /// "simple" (Theorem 1, no feature map/normalizer) or "elu" (Katharopoulos).
    public var variant: String = "simple"
    /// Chunk size of the chunked form (0 = parallel form).
    public var chunk: Int = 64
    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        variant = try c.value(.variant, or: variant)
        chunk = try c.value(.chunk, or: chunk)
    }
}

/// Options of the Mamba layer (its conv width is `LayerConfig.convWidth`, shared with the TTT convs).
///
/// ```swift
/// var cfg = LayerConfig(width: 64, heads: 1); cfg.mamba.state = 8; cfg.mamba.expand = 1
/// ```
public struct MambaOptions: Codable, Equatable, Sendable {
    /// Expansion E (inner width E·D).
    public var expand: Int = 2
    /// State size N per channel.
    public var state: Int = 16
    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        expand = try c.value(.expand, or: expand)
        state = try c.value(.state, or: state)
    }
}

extension KeyedDecodingContainer {
    /// The value at `key`, or `fallback` when the file has no such key (an option added after it was written).
    func value<T: Decodable>(_ key: Key, or fallback: T) throws -> T { try decodeIfPresent(T.self, forKey: key) ?? fallback }
}
