// Registry.swift — every sequence layer and inner-model plugin by name (Zoology-style).
import Layers
import TensorCore

/// Inner-model plugins (one per folder under `Plugins/`), listed in `InnerModelList.swift`, which
/// `lab plugin new` and `lab plugin remove` edit (Plugins/README.md, "How registration works").
///
/// ```swift
/// let mlp = try InnerModelRegistry.named("mlp")     // MLPInner.self
/// ```
public enum InnerModelRegistry {
    /// The paper's two plugins first, then the rest by folder name.
    static let paperOrder = ["linear", "mlp"]

    /// All plugins, in display order.
    public static let all: [InnerModel.Type] = {
        let found = innerModelList.sorted { module(of: $0) < module(of: $1) }
        let paper = paperOrder.compactMap { n in found.first { $0.name == n } }
        return paper + found.filter { !paperOrder.contains($0.name) }
    }()

    public static var names: [String] { all.map { $0.name } }

    /// The folder under `Plugins/` that holds the plugin `name` (its module's name).
    public static func folder(of name: String) -> String? {
        all.first { $0.name == name }.map(module(of:))
    }

    /// The module that declares `type`: "TTTMLP" for `MLPInner.self`.
    static func module(of type: InnerModel.Type) -> String {
        String(String(reflecting: type).prefix { $0 != "." })
    }

    /// The plugin called `name`, or an error suggesting the nearest one.
    public static func named(_ name: String) throws -> InnerModel.Type {
        guard let m = all.first(where: { $0.name == name }) else {
            throw LabError.unknownName(kind: "inner-model plugin", name: name, valid: names)
        }
        return m
    }
}

/// Sequence layers by name. "ttt-<plugin>" builds a TTT layer over that inner model; a "-m" suffix
/// selects the Mamba backbone variant (shared Q/K + convs + gate).
///
/// ```swift
/// let layer = try LayerRegistry.make("ttt-mlp", LayerConfig(width: 64, heads: 4), seed: 1)
/// LayerRegistry.paper.map(\.name)   // ["ttt-linear", "ttt-mlp", "attention", "linear-attention", "mamba"]
/// ```
/// Studies and benchmarks take their layer lists from here (`paper`, `paperWithBackbones`, `pluginTTT`, `all`).
public enum LayerRegistry {
    /// The three baselines.
    public static let baselines: [LayerSpec] = [.attention, .linearAttention, .mamba]
    /// Every layer, in display order: TTT over each plugin, the baselines, then the Mamba-backbone TTT layers.
    public static var all: [LayerSpec] {
        InnerModelRegistry.all.map { .ttt(inner: $0, backbone: .transformer) } + baselines
            + InnerModelRegistry.all.map { .ttt(inner: $0, backbone: .mamba) }
    }
    /// The paper's two TTT layers, TTT-Linear and TTT-MLP (Transformer backbone).
    public static var paperTTT: [LayerSpec] { paperInner.map { .ttt(inner: $0, backbone: .transformer) } }
    /// The same on the paper's Mamba backbone, TTT-Linear (M) and TTT-MLP (M).
    public static var paperTTTMamba: [LayerSpec] { paperInner.map { .ttt(inner: $0, backbone: .mamba) } }
    /// The five layers the paper sets side by side: TTT-Linear, TTT-MLP and the three baselines.
    public static var paper: [LayerSpec] { paperTTT + baselines }
    /// The paper's seven: its two TTT layers on both backbones, then the baselines (what the benchmarks time).
    public static var paperWithBackbones: [LayerSpec] { paperTTT + paperTTTMamba + baselines }
    /// The TTT layers over the plugins beyond the paper's two (Transformer backbone).
    public static var pluginTTT: [LayerSpec] {
        InnerModelRegistry.all.filter { !InnerModelRegistry.paperOrder.contains($0.name) }.map { .ttt(inner: $0, backbone: .transformer) }
    }
    static var paperInner: [InnerModel.Type] { InnerModelRegistry.all.filter { InnerModelRegistry.paperOrder.contains($0.name) } }

    public static var baselineNames: [String] { baselines.map(\.name) }
    public static var tttNames: [String] { InnerModelRegistry.names.flatMap { ["ttt-\($0)", "ttt-\($0)-m"] } }
    /// Every name `make` accepts.
    public static var names: [String] { all.map(\.name) }
    /// The names of `paper`.
    public static var paperLayers: [String] { paper.map(\.name) }

    public static func make(_ name: String, _ config: LayerConfig, seed: UInt64) throws -> SequenceLayer {
        var rng = RNG(seed: seed)
        return try make(name, config, rng: &rng)
    }

    public static func make(_ name: String, _ config: LayerConfig, rng: inout RNG) throws -> SequenceLayer {
        try config.validate()
        return try LayerSpec(name).make(config, rng: &rng)
    }
}
