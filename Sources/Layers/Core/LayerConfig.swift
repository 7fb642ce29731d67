// LayerConfig.swift — the configuration of one sequence layer: the shape every layer has, the two numbers
// two kinds share, and one group of options per layer kind (LayerKindOptions.swift).
import Foundation
import TensorCore

/// A sequence layer's configuration: width and heads, RoPE θ and conv width (each read by two kinds), and
/// one option group per layer kind — `ttt`, `attention`, `linearAttention`, `mamba` — of which a layer reads
/// only its own (`LayerSpec.make` refuses a sliding window for a layer other than attention).
///
/// ```swift
/// var cfg = LayerConfig(width: 64, heads: 4)
/// cfg.ttt.miniBatch = 8                 // TTT layers
/// cfg.attention.window = 32             // attention only
/// cfg.mamba.state = 8                   // Mamba only
/// let layer = try LayerRegistry.make("ttt-linear", cfg, seed: 0)
/// ```
///
/// In a `config.json` the groups are objects under their names; a config written before the groups (keys
/// `linearAttention` as a string, `chunk`, `mambaExpand`, `mambaState`, `window`, `innerModel`) still decodes,
/// and every key absent from a file takes its default.
public struct LayerConfig: Equatable, Sendable {
    /// Model width D.
    public var width: Int
    /// Heads H (head dim d = D/H).
    public var heads: Int
    /// RoPE base θ (attention; TTT within mini-batches).
    public var ropeTheta: Float = 10000
    /// Causal conv width k (Mamba's conv; the TTT layer's Q/K convs on the Mamba backbone).
    public var convWidth: Int = 4
    /// Options of the TTT layers.
    public var ttt = TTTOptions()
    /// Options of softmax attention.
    public var attention = AttentionOptions()
    /// Options of linear attention.
    public var linearAttention = LinearAttentionOptions()
    /// Options of the Mamba layer.
    public var mamba = MambaOptions()
    /// Fused kernels (default) or the reference path; an execution choice, not part of the model, so it is
    /// not saved with a checkpoint or hashed into a cache key.
    public var kernels: KernelPath = .fused

    /// Mamba's state size N, as `mamba.state` (kept for Studies/longcontext until it reads `mamba.state`).
    public var mambaState: Int { get { mamba.state } set { mamba.state = newValue } }

    public var headDim: Int { width / max(heads, 1) }

    public init(width: Int, heads: Int) { self.width = width; self.heads = heads }

    /// Checks the numbers that must hold for any layer; the message names the fix.
    public func validate() throws {
        guard width > 0 else { throw LabError.badConfig("width D = \(width) must be positive") }
        guard heads > 0 else { throw LabError.badConfig("heads H = \(heads) must be positive") }
        guard width % heads == 0 else {
            throw LabError.badConfig("width D = \(width) is not divisible by heads H = \(heads); choose H dividing D (e.g. H = \(bestHeads(width)))")
        }
        guard headDim % 2 == 0 else { throw LabError.badConfig("head dim d = D/H = \(headDim) must be even for RoPE; change D or H") }
        if let w = attention.window, w < 1 {
            throw LabError.badConfig("sliding window W = \(w) must be ≥ 1 (token t attends to t−W+1…t); omit the window for full attention")
        }
        guard ttt.miniBatch > 0 else { throw LabError.badConfig("mini-batch size b = \(ttt.miniBatch) must be ≥ 1") }
        guard ttt.miniBatch <= 1 << 20 else {
            throw LabError.badConfig("mini-batch size b = \(ttt.miniBatch) is larger than 2^20; use b ≤ T (b ≥ T is batch GD)")
        }
        try validateNumbers()
    }

    /// Bounds for the sizes a config (a flag or a config.json) may give; far beyond any real model, and
    /// small enough that products of them stay far from `Int` overflow.
    public static let maxWidth = 1 << 20, maxMambaExpand = 256, maxMambaState = 1 << 16, maxConvWidth = 1 << 12

    /// The numbers every layer kind reads, range-checked before anything is allocated (also for the Mamba
    /// stack, which does not use the head rules of `validate()`): sizes bounded, learning rates,
    /// multipliers and RoPE θ finite and in range, and the weights of one layer (every tensor that
    /// allocates, Mamba's E·D·N included) within half of this machine's memory.
    public func validateNumbers() throws {
        guard width > 0 else { throw LabError.badConfig("width D = \(width) must be positive") }
        guard width <= LayerConfig.maxWidth else { throw LabError.badConfig("width D = \(width) must be ≤ \(LayerConfig.maxWidth); choose a smaller width") }
        guard (1...LayerConfig.maxMambaExpand).contains(mamba.expand) else {
            throw LabError.badConfig("Mamba expand E = \(mamba.expand) must be in 1…\(LayerConfig.maxMambaExpand) (upstream uses 2)")
        }
        guard (1...LayerConfig.maxMambaState).contains(mamba.state) else {
            throw LabError.badConfig("Mamba state N = \(mamba.state) must be in 1…\(LayerConfig.maxMambaState) (upstream uses 16)")
        }
        guard (1...LayerConfig.maxConvWidth).contains(convWidth) else {
            throw LabError.badConfig("conv width k = \(convWidth) must be in 1…\(LayerConfig.maxConvWidth) (the paper uses 4)")
        }
        let chunk = linearAttention.chunk
        guard chunk >= 0 && chunk <= 1 << 30 else { throw LabError.badConfig("linear attention chunk = \(chunk) must be in 0…2^30 (0 = parallel form)") }
        guard ["simple", "elu"].contains(linearAttention.variant) else {
            throw LabError.badConfig("linear attention variant '\(linearAttention.variant.prefix(40))' is not one the lab has — use simple or elu")
        }
        guard ropeTheta.isFinite && ropeTheta > 0 else {
            throw LabError.badConfig("RoPE θ = \(ropeTheta) must be a finite number > 0 (the paper uses 10000)")
        }
        let maxRate: Float = 1e4
        if let lr = ttt.baseLR, !(lr.isFinite && lr > 0 && lr <= maxRate) {
            throw LabError.badConfig("TTT base learning rate η_base = \(lr) must be finite, > 0 and ≤ \(Int(maxRate)) (the paper uses 1 for linear, 0.1 for MLP)")
        }
        if let eta = ttt.fixedEta, !(eta.isFinite && eta >= 0 && eta <= maxRate) {
            throw LabError.badConfig("fixed inner learning rate η = \(eta) must be finite, ≥ 0 and ≤ \(Int(maxRate))")
        }
        guard ttt.lrMult.isFinite && ttt.lrMult >= 0 && ttt.lrMult <= maxRate else {
            throw LabError.badConfig("TTT learning-rate multiplier ρ = \(ttt.lrMult) must be finite, ≥ 0 and ≤ \(Int(maxRate)) (1 at inference)")
        }
        // Refuse before allocating: no layer here holds more than ~16·D² weights (TTT-MLP with the
        // Mamba backbone: Q, V, O, gate, lr gate, 8·D·d inner state; attention ≈ 4·D²), except Mamba,
        // whose E·D-wide projections and E·D×N state matrix grow with E and N.
        let bytes = 4 * weightFloats
        let available = Double(ProcessInfo.processInfo.physicalMemory)
        guard bytes < available / 2 else {
            throw LabError.badConfig(String(format: "width D = %ld (Mamba E = %ld, N = %ld) needs ≈ %.1f GiB of weights per layer, more than half of this machine's %.1f GiB — choose a smaller width, expand or state size",
                                            width, mamba.expand, mamba.state, bytes / 1073741824, available / 1073741824))
        }
    }

    /// An upper bound (in Double: no overflow) on the floats one layer of any kind allocates for its
    /// weights: 16·D² for the TTT and attention layers; for Mamba, in/out projections 3·E·D², x_proj
    /// E·D·(R + 2N), dt_proj R·E·D, A E·D·N, conv E·D·k and the vectors.
    public var weightFloats: Double {
        let D = Double(width), E = Double(mamba.expand), N = Double(mamba.state), k = Double(convWidth)
        let R = (D + 15) / 16
        let mamba = 3 * E * D * D + E * D * (R + 2 * N) + R * E * D + E * D * N + E * D * (k + 3)
        return max(16 * D * D, mamba) + 4 * (k + 1) * D
    }
}

func bestHeads(_ d: Int) -> Int { [12, 8, 4, 2, 1].first { d % $0 == 0 && (d / $0) % 2 == 0 } ?? 1 }

extension LayerConfig: Codable {
    enum CodingKeys: String, CodingKey {
        case width, heads, ropeTheta, convWidth, ttt, attention, linearAttention, mamba
    }
    /// The keys of a config written before the option groups (the lab's checkpoints up to 9bdf248).
    enum LegacyKeys: String, CodingKey { case chunk, mambaExpand, mambaState, window }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let old = try decoder.container(keyedBy: LegacyKeys.self)
        self.init(width: try c.decode(Int.self, forKey: .width), heads: try c.decode(Int.self, forKey: .heads))
        ropeTheta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? ropeTheta
        convWidth = try c.decodeIfPresent(Int.self, forKey: .convWidth) ?? convWidth
        ttt = try c.decodeIfPresent(TTTOptions.self, forKey: .ttt) ?? ttt
        if let a = try c.decodeIfPresent(AttentionOptions.self, forKey: .attention) { attention = a }
        else { attention.window = try old.decodeIfPresent(Int.self, forKey: .window) }
        if let variant = try? c.decode(String.self, forKey: .linearAttention) {      // before the groups: the variant alone
            linearAttention.variant = variant
            linearAttention.chunk = try old.decodeIfPresent(Int.self, forKey: .chunk) ?? linearAttention.chunk
        } else {
            linearAttention = try c.decodeIfPresent(LinearAttentionOptions.self, forKey: .linearAttention) ?? linearAttention
        }
        if let m = try c.decodeIfPresent(MambaOptions.self, forKey: .mamba) { mamba = m }
        else {
            mamba.expand = try old.decodeIfPresent(Int.self, forKey: .mambaExpand) ?? mamba.expand
            mamba.state = try old.decodeIfPresent(Int.self, forKey: .mambaState) ?? mamba.state
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(width, forKey: .width)
        try c.encode(heads, forKey: .heads)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encode(convWidth, forKey: .convWidth)
        try c.encode(ttt, forKey: .ttt)
        try c.encode(attention, forKey: .attention)
        try c.encode(linearAttention, forKey: .linearAttention)
        try c.encode(mamba, forKey: .mamba)
    }
}
