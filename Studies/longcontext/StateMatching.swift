// StateMatching.swift — the long-context study's models at matched state and matched parameters: every
// fixed-state layer gets the head count (Mamba: the state size N, width and block count) that brings its
// persistent state closest to TTT-Linear (T)'s, then the SwiGLU width (Mamba: none) that brings its
// parameter count closest to the Transformer's.
import Foundation
import Layers
import Models
import Zoo

/// How a layer's state is compared with the reference's.
public enum StateKind: String, Sendable, Equatable {
    /// Constant in the context (linear attention, Mamba, a parametric TTT inner model): matched.
    case fixed = "fixed"
    /// Grows with the context (attention's KV cache, a nonparametric inner model's memory): not matched.
    case growing = "grows with T"
}

/// The state-and-parameter matching of one study setup.
///
/// ```swift
/// let m = StateMatching(width: 64, heads: 2, blocks: 2, mlpHidden: 128, context: 128)
/// let c = try m.config(layer: "ttt-mlp")          // 16 heads of d_h 4, SwiGLU width matched
/// try m.persistentStateBytes(c)                   // within 15% of TTT-Linear (T)'s
/// ```
public struct StateMatching: Sendable {
    public var width: Int, heads: Int, blocks: Int, mlpHidden: Int
    /// Tokens per sequence T (attention's KV cache is counted at T).
    public var context: Int
    /// A gated short conv of this kernel before every mixer instead of the TTT Mamba backbone's pre-conv
    /// block (the perplexity study); nil: the pre-conv block (the long-context study).
    public var shortConv: Int? = nil
    /// The `preset` name recorded in each ModelConfig.
    public var preset: String? = "long-context"
    /// The layer whose persistent state every fixed-state layer is matched to.
    public static let stateReference = "ttt-linear"
    /// The model whose parameter count every model is matched to.
    public static let parameterReference = "attention"

    public init(width: Int, heads: Int, blocks: Int, mlpHidden: Int, context: Int) {
        self.width = width; self.heads = heads; self.blocks = blocks; self.mlpHidden = mlpHidden; self.context = context
    }

    /// The backbone before matching: `blocks` × D, SwiGLU, the TTT Mamba backbone's pre-conv sub-block for
    /// every non-Mamba layer (a value token then carries its key).
    func base(_ layer: String, heads h: Int? = nil, mlp: Int? = nil) -> ModelConfig {
        var c = ModelConfig(layer: layer, vocab: 256, width: width, heads: h ?? heads, layers: blocks, mlpHidden: mlp ?? mlpHidden,
                            miniBatch: 16, preset: preset)
        if let k = shortConv { c.shortConv = k } else if c.backbone == .transformer { c.backbone = .tttMamba }
        return c
    }

    public static func kind(_ layer: String) throws -> StateKind {
        let spec = try LayerSpec(layer)
        if case .attention = spec { return .growing }
        if let inner = spec.inner, inner is NonparametricInnerModel.Type { return .growing }
        return .fixed
    }

    /// Bytes the model carries from one token to the next at context T: `stateBytes` without the TTT
    /// layers' gradient accumulators (transient within a mini-batch; reported in their own column).
    public func persistentStateBytes(_ c: ModelConfig) throws -> Int {
        try c.stateBytes(context: context) - accumulatorBytes(c)
    }

    /// The TTT gradient accumulators of `c` (0 for other layers).
    public func accumulatorBytes(_ c: ModelConfig) throws -> Int {
        guard let inner = try LayerSpec(c.layer).inner, !(inner is NonparametricInnerModel.Type) else { return 0 }
        return 4 * c.layers * c.heads * inner.accumulatorFloats(d: c.width / c.heads)
    }

    /// The persistent state every fixed-state layer is matched to (TTT-Linear (T) at the setup's heads).
    public func targetStateBytes() throws -> Int { try persistentStateBytes(base(Self.stateReference)) }

    /// The parameter count every model is matched to (the Transformer at the setup's shape).
    public func targetParameters() throws -> Int { try base(Self.parameterReference).parameterCount() }

    /// The matched model of `layer`.
    public func config(layer: String) throws -> ModelConfig {
        let target = try targetStateBytes(), params = try targetParameters()
        if Backbone.implied(by: layer) == .mambaStack { return try mamba(layer, state: target, parameters: params) }
        var h = heads
        if try Self.kind(layer) == .fixed && layer != Self.stateReference {
            // Heads: every divisor of D with an even head dim (RoPE), the closest persistent state wins.
            var best: (h: Int, off: Int)?
            for cand in 1...width where width % cand == 0 && (width / cand) % 2 == 0 {
                let off = abs(try persistentStateBytes(base(layer, heads: cand)) - target)
                if best == nil || off < best!.off { best = (cand, off) }
            }
            h = best?.h ?? heads
        }
        if layer == Self.parameterReference { return base(layer) }
        // Parameters are affine in the SwiGLU width I: solve, then round to a multiple of 8.
        let p0 = try base(layer, heads: h, mlp: 8).parameterCount(), p1 = try base(layer, heads: h, mlp: 16).parameterCount()
        let perUnit = Double(p1 - p0) / 8
        let I = perUnit > 0 ? max(8, Int(((8 + Double(params - p0) / perUnit) / 8).rounded()) * 8) : mlpHidden
        let c = base(layer, heads: h, mlp: I)
        try c.validate()
        return c
    }

    /// Mamba (a stack of Mamba blocks, no MLP): over block counts and widths near D (multiples of 8), the
    /// state size N that matches the state, then the (blocks, width) whose state is within 15% and whose
    /// parameters are closest to the reference (ties: the width closest to D).
    func mamba(_ layer: String, state target: Int, parameters: Int) throws -> ModelConfig {
        var best: (cfg: ModelConfig, key: (Int, Double, Int))?
        for L in 1...(4 * blocks) {
            for w in stride(from: max(8, width - 4 * 8), through: width + 4 * 8, by: 8) where w % heads == 0 && (w / heads) % 2 == 0 {
                var c = ModelConfig(layer: layer, vocab: 256, width: w, heads: heads, layers: L, mlpHidden: 0, miniBatch: 16, preset: preset)
                // State bytes are affine in N: measure at N = 1 and 2, solve.
                func state(_ n: Int) throws -> Int {
                    var o = LayerConfig(width: w, heads: heads); o.mambaState = n; c.layerOptions = o
                    return try persistentStateBytes(c)
                }
                let s1 = try state(1), s2 = try state(2)
                guard s2 > s1 else { continue }
                let n = max(1, Int((1 + Double(target - s1) / Double(s2 - s1)).rounded()))
                let off = Double(abs(try state(n) - target)) / Double(target)
                let pOff = abs(try c.parameterCount() - parameters)
                let key = (off <= 0.15 ? 0 : 1, off <= 0.15 ? Double(pOff) : off, abs(w - width))
                if best == nil || key < best!.key { best = (c, key) }
            }
        }
        try best!.cfg.validate()
        return best!.cfg
    }
}
