// LayerSpec.swift — a layer name parsed once into a typed value (Zoology-style: a mixer named by a string
// in a config, parsed once; everything downstream switches on the value, never on the string).
import Foundation
import Layers
import TensorCore

/// What a layer name means: one of the baselines, or a TTT layer over an inner-model plugin on a backbone.
///
/// ```swift
/// let spec = try LayerSpec("ttt-mlp-m")        // .ttt(inner: MLPInner.self, backbone: .mamba)
/// spec.name                                     // "ttt-mlp-m"
/// let layer = try spec.make(LayerConfig(width: 64, heads: 4), seed: 0)
/// ```
public enum LayerSpec: Equatable, Hashable, CustomStringConvertible, @unchecked Sendable {   // Sendable: metatypes are immutable
    case attention
    case linearAttention
    case mamba
    /// A TTT layer over `inner`; `.mamba` is the paper's Mamba backbone variant ("-m").
    case ttt(inner: InnerModel.Type, backbone: TTTOptions.Backbone)

    /// Parses a registry name; unknown names throw with the nearest valid one suggested.
    public init(_ name: String) throws {
        switch name {
        case "attention": self = .attention
        case "linear-attention": self = .linearAttention
        case "mamba": self = .mamba
        default:
            if name.hasPrefix("ttt-") {
                let rest = String(name.dropFirst(4))
                if let inner = InnerModelRegistry.all.first(where: { $0.name == rest }) { self = .ttt(inner: inner, backbone: .transformer); return }
                if rest.hasSuffix("-m"), let inner = InnerModelRegistry.all.first(where: { $0.name == String(rest.dropLast(2)) }) {
                    self = .ttt(inner: inner, backbone: .mamba); return
                }
            }
            throw LabError.unknownName(kind: "layer", name: name, valid: LayerRegistry.names)
        }
    }

    /// The registry name ("ttt-linear", "ttt-mlp-m", "attention", …).
    public var name: String {
        switch self {
        case .attention: return "attention"
        case .linearAttention: return "linear-attention"
        case .mamba: return "mamba"
        case .ttt(let inner, let backbone): return "ttt-\(inner.name)" + (backbone == .mamba ? "-m" : "")
        }
    }
    public var description: String { name }
    public func hash(into h: inout Hasher) { h.combine(name) }

    /// The inner-model plugin of a TTT layer (nil for the baselines).
    public var inner: InnerModel.Type? { if case .ttt(let i, _) = self { return i }; return nil }
    /// True for TTT layers on the Mamba backbone.
    public var isTTTMamba: Bool { if case .ttt(_, .mamba) = self { return true }; return false }

    public static func == (a: LayerSpec, b: LayerSpec) -> Bool { a.name == b.name }

    /// Parses a layer list, one name per block or a pattern to repeat ("attention, ttt-linear"): names
    /// trimmed, an empty name or an unknown one refused in one line. A single name is a list of one.
    ///
    /// ```swift
    /// try LayerSpec.list("attention,ttt-linear")   // [.attention, .ttt(inner: LinearInner.self, backbone: .transformer)]
    /// ```
    public static func list(_ text: String) throws -> [LayerSpec] {
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        if names.count > 1, names.contains(where: \.isEmpty) {
            throw LabError.badConfig("the layer list '\(text.prefix(200))' has an empty name — separate layer names by single commas, e.g. attention,ttt-linear")
        }
        return try names.map { try LayerSpec($0) }
    }

    /// The list as written in a config (`list` reads it back): "attention,ttt-linear".
    public static func name(of list: [LayerSpec]) -> String { list.map(\.name).joined(separator: ",") }

    /// Builds the layer (the spec's backbone overrides `config.ttt.backbone`).
    public func make(_ config: LayerConfig, rng: inout RNG) throws -> SequenceLayer {
        try config.validate()
        if let w = config.attention.window, self != .attention {
            throw LabError.badConfig("a sliding window (W = \(w)) applies to attention only; drop the window for \(name)")
        }
        switch self {
        case .attention: return try SelfAttention(config: config, rng: &rng)
        case .linearAttention: return try LinearAttention(config: config, rng: &rng)
        case .mamba: return try Mamba(config: config, rng: &rng)
        case .ttt(let inner, let backbone):
            var cfg = config
            cfg.ttt.backbone = backbone
            return try TTTLayer(config: cfg, inner: inner, rng: &rng)
        }
    }

    public func make(_ config: LayerConfig, seed: UInt64) throws -> SequenceLayer {
        var rng = RNG(seed: seed)
        return try make(config, rng: &rng)
    }
}
