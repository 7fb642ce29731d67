// LayerSettings.swift — which layer settings each kind of layer actually reads, so that a command can
// refuse an option that would be silently ignored (an accepted option must take effect).
import Layers
import TensorCore

/// A layer setting a command line can give; `LayerSpec.uses` says whether a layer kind reads it.
///
/// ```swift
/// try LayerSpec("mamba").uses(.primal)          // false: `--primal` is refused for mamba
/// try LayerSpec("ttt-linear").uses(.miniBatch)  // true
/// ```
public enum LayerSetting: String, CaseIterable, Sendable {
    /// Heads H (the Mamba baseline has none: its state is per channel).
    case heads
    /// TTT mini-batch size b.
    case miniBatch
    /// TTT backbone (transformer or mamba).
    case backbone
    /// Linear-attention feature map (simple or elu).
    case linearVariant
    /// TTT primal form instead of the dual form (only where the inner model has a dual form).
    case primal

    /// Why a layer ignores this setting, for the one-line refusal.
    func ignoredBy(_ spec: LayerSpec) -> String {
        switch self {
        case .heads: return "\(spec.name) has no heads (its state is per channel)"
        case .miniBatch: return "\(spec.name) is not a TTT layer, so it has no mini-batch size"
        case .backbone: return "\(spec.name) is not a TTT layer, so it has no backbone to choose"
        case .linearVariant: return "\(spec.name) is not linear attention, so it has no feature-map variant"
        case .primal:
            if let inner = spec.inner { return "the inner model '\(inner.name)' has no dual form, so \(spec.name) always runs the primal form" }
            return "\(spec.name) is not a TTT layer, so it has no dual/primal distinction"
        }
    }
}

extension LayerSpec {
    /// Whether this kind of layer reads `setting` (an option setting it changes what runs).
    public func uses(_ setting: LayerSetting) -> Bool {
        switch (self, setting) {
        case (.attention, .heads), (.linearAttention, .heads), (.linearAttention, .linearVariant): return true
        case (.ttt, .heads), (.ttt, .miniBatch), (.ttt, .backbone): return true
        case (.ttt, .primal): return hasDualForm
        default: return false
        }
    }

    /// True for TTT layers whose inner model has a dual form (so primal and dual are two ways to run it):
    /// asked of the plugin itself on a tiny zero state, without building or changing any real layer.
    public var hasDualForm: Bool {
        guard case .ttt(let inner, _) = self else { return false }
        var rng = RNG(seed: 0)
        var cfg = LayerConfig(width: 4, heads: 2)
        cfg.ttt.miniBatch = 2
        guard let layer = try? TTTLayer(config: cfg, inner: inner, rng: &rng) else { return true }
        let θ = layer.initialState(batch: 1)
        let q = Tensor(zeros: [2, 2, 2]), k = Tensor(zeros: [2, 2, 2]), e = Tensor(zeros: [2, 2, 2])
        return withNoGrad { inner.dual(θ, q: q, k: k, E: e, bias: true, delta: { $0 }) } != nil
    }

    /// The layer that runs when a TTT layer is asked for on `backbone`: "ttt-linear" on the Mamba backbone
    /// is "ttt-linear-m". Throws for a non-TTT layer (no backbone) and for a name that already fixes the
    /// other backbone ("ttt-linear-m" with backbone transformer).
    public func on(backbone: TTTOptions.Backbone) throws -> LayerSpec {
        guard case .ttt(let inner, let own) = self else {
            throw LabError.badConfig("--backbone does not apply: \(LayerSetting.backbone.ignoredBy(self)) — drop --backbone")
        }
        if own == .mamba {
            if backbone == .mamba {
                throw LabError.badConfig("--backbone mamba repeats what the layer name \(name) already says — drop --backbone (or use --layer ttt-\(inner.name) --backbone mamba)")
            }
            throw LabError.badConfig("--backbone \(backbone.rawValue) contradicts the layer name \(name), which is the Mamba-backbone layer — use --layer ttt-\(inner.name) (or drop --backbone)")
        }
        return .ttt(inner: inner, backbone: backbone)      // transformer on ttt-X: the default, as given
    }

    /// Refuses each given setting this layer does not read: `given` pairs the option as typed with the
    /// setting it sets. One line: "--primal does not apply: mamba is not a TTT layer … — drop --primal".
    public func refuseUnused(_ given: [(option: String, setting: LayerSetting)]) throws {
        for (option, setting) in given where !uses(setting) {
            throw LabError.badConfig("\(option) does not apply: \(setting.ignoredBy(self)) — drop \(option)")
        }
    }
}
