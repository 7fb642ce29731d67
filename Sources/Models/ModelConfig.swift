// ModelConfig.swift — the shape of a language model and its presets (docs/ttt.md §3, Table 3).
import Layers
import Zoo

/// The residual-block layout around the sequence layer (docs/ttt.md §3).
public enum Backbone: String, Codable, Sendable, CaseIterable {
    /// RMSNorm → layer → residual → RMSNorm → SwiGLU → residual (every layer in its (T) form).
    case transformer
    /// The paper's "Mamba backbone" for TTT ("ttt-*-m"): a pre-conv residual sub-block
    /// `x + CConv(RMSNorm(x))`, the TTT layer with shared Q/K + convs + gate, and the SwiGLU MLP.
    case tttMamba = "ttt-mamba"
    /// A pure stack of Mamba blocks, `x + Mamba(RMSNorm(x))`, no MLP (the paper's Mamba baseline).
    case mambaStack = "mamba-stack"

    /// The backbone a layer list implies: one that names only "mamba" → a Mamba stack, only one "ttt-*-m" →
    /// the TTT Mamba backbone, everything else (a hybrid included) → the Transformer backbone (the backbone
    /// of a hybrid's blocks whose layer implies another comes from the layer, `blockBackbones`).
    public static func implied(by list: [LayerSpec]) -> Backbone {
        guard let first = list.first, list.allSatisfy({ $0 == first }) else { return .transformer }
        return implied(by: first)
    }

    /// The backbone a layer name or list implies (`implied(by:)` of the parsed list; the Transformer
    /// backbone for a name that does not parse, which `ModelConfig.validate` then refuses).
    public static func implied(by layer: String) -> Backbone {
        implied(by: (try? LayerSpec.list(layer)) ?? [])
    }

    /// The backbone a parsed layer spec implies.
    public static func implied(by spec: LayerSpec) -> Backbone {
        if spec == .mamba { return .mambaStack }
        return spec.isTTTMamba ? .tttMamba : .transformer
    }
}

/// A language model: embedding → L blocks → RMSNorm → logits tied to the embedding (docs/ttt.md §3).
///
/// ```swift
/// let cfg = try ModelConfig.preset("tiny", layer: "ttt-linear")     // 4 × D128, byte vocabulary
/// let model = try LanguageModel(config: cfg, seed: 0)
/// ```
public struct ModelConfig: Equatable, Sendable {
    /// The sequence layer of every block, parsed once: one spec, or one per block (a hybrid stack:
    /// attention, ttt-linear, ttt-linear, ttt-linear; a shorter list is repeated when its length divides L).
    /// See `blockLayers` (HybridStack.swift). Saved in config.json as the names, key `layer`.
    public var layerList: [LayerSpec] { didSet { unparsedLayer = nil } }
    /// A layer name given to `init(layer:)` or read from a config.json that is not a valid layer list;
    /// `validate()` refuses it with the parse error (so a damaged config names the bad layer in one line).
    var unparsedLayer: String? = nil
    /// The layer list as written: "ttt-linear", or "attention,ttt-linear" for a hybrid (for labels, file
    /// metadata and cache keys; code switches on `layerList`).
    public var layer: String { unparsedLayer ?? LayerSpec.name(of: layerList) }
    /// Vocabulary size V (256 for the byte tokenizer).
    public var vocab: Int
    /// Width D, heads H, blocks L.
    public var width: Int
    public var heads: Int
    public var layers: Int
    /// SwiGLU intermediate size I (0 for the Mamba stack, which has no MLP).
    public var mlpHidden: Int
    /// TTT mini-batch size b.
    public var miniBatch: Int
    /// Width of the causal convs (pre-conv, TTT convs, Mamba conv).
    public var convWidth: Int
    public var backbone: Backbone
    /// Preset this config came from (informational).
    public var preset: String?
    /// Options of the sequence layer beyond the shape (TTT switches such as `innerLN` or `fixedEta`,
    /// the linear-attention variant, …); nil uses the layer's defaults. Width, heads, the mini-batch
    /// size and the conv width always come from the fields above. (Used by the ablation study.)
    public var layerOptions: LayerConfig? = nil
    /// Kernel width of a gated short causal conv sub-block before the sequence layer in every block
    /// (Zoology's `BaseConv`, see ShortConv.swift); nil: none (every existing model). Optional so that
    /// older configs decode and hash unchanged.
    public var shortConv: Int? = nil
    /// true: blocks without the SwiGLU MLP (Zoology's MQAR models); nil/false: the backbone's MLP.
    public var noMLP: Bool? = nil

    /// Whether blocks have the SwiGLU MLP (for a hybrid: its blocks other than Mamba blocks; `hasMLP(block:)`
    /// answers per block).
    public var hasMLP: Bool { backbone != .mambaStack && noMLP != true }

    /// A model whose blocks run `layerList` (one spec, or a pattern repeated over the L blocks).
    public init(layerList: [LayerSpec], vocab: Int = 256, width: Int, heads: Int, layers: Int, mlpHidden: Int,
                miniBatch: Int = 16, convWidth: Int = 4, preset: String? = nil) {
        self.layerList = layerList; self.vocab = vocab; self.width = width; self.heads = heads; self.layers = layers
        self.backbone = Backbone.implied(by: layerList)
        self.mlpHidden = backbone == .mambaStack ? 0 : mlpHidden
        self.miniBatch = miniBatch; self.convWidth = convWidth; self.preset = preset
    }

    /// The same from a layer name or list written in code ("ttt-linear", "attention,ttt-linear"), parsed
    /// here once; a name that does not parse is kept for `validate()` to refuse (a command parses its
    /// `--layer` with `LayerSpec.list` first, so the user sees the error there).
    public init(layer: String, vocab: Int = 256, width: Int, heads: Int, layers: Int, mlpHidden: Int,
                miniBatch: Int = 16, convWidth: Int = 4, preset: String? = nil) {
        let list = try? LayerSpec.list(layer)
        self.init(layerList: list ?? [], vocab: vocab, width: width, heads: heads, layers: layers, mlpHidden: mlpHidden,
                  miniBatch: miniBatch, convWidth: convWidth, preset: preset)
        if list == nil { unparsedLayer = layer }
    }

    /// The sequence layer's config.
    public var layerConfig: LayerConfig {
        var c = layerOptions ?? LayerConfig(width: width, heads: heads)
        c.width = width; c.heads = heads
        c.ttt.miniBatch = miniBatch
        c.convWidth = convWidth
        return c
    }

    /// Largest vocabulary and depth a config may give (far beyond any real model; products stay in range).
    public static let maxVocab = 1 << 24, maxLayers = 1 << 12

    /// Checks every number and the layer name(s); errors name the fix.
    public func validate() throws {
        if let unparsedLayer { _ = try LayerSpec.list(unparsedLayer) }     // throws the name's own error
        try validateBlockLayers()
        guard vocab > 1 else { throw LabError.badConfig("vocabulary V = \(vocab) must be ≥ 2") }
        guard layers > 0 else { throw LabError.badConfig("layers L = \(layers) must be ≥ 1") }
        guard !(isHybrid ? blockBackbones.indices.contains { hasMLP(block: $0) } : hasMLP) || mlpHidden > 0 else {
            throw LabError.badConfig("MLP width I = \(mlpHidden) must be ≥ 1 for the \(backbone.rawValue) backbone")
        }
        if let k = shortConv, !(2...16).contains(k) {
            throw LabError.badConfig("short conv kernel = \(k) must be in 2…16 (Zoology uses 3), or nil for none")
        }
        guard convWidth > 0 else { throw LabError.badConfig("conv width = \(convWidth) must be ≥ 1 (the paper uses 4)") }
        guard vocab <= ModelConfig.maxVocab else { throw LabError.badConfig("vocabulary V = \(vocab) must be ≤ \(ModelConfig.maxVocab)") }
        guard layers <= ModelConfig.maxLayers else { throw LabError.badConfig("layers L = \(layers) must be ≤ \(ModelConfig.maxLayers)") }
        guard mlpHidden >= 0 && mlpHidden <= LayerConfig.maxWidth * 16 else {
            throw LabError.badConfig("MLP width I = \(mlpHidden) must be in 0…\(LayerConfig.maxWidth * 16)")
        }
        guard heads > 0 && heads <= LayerConfig.maxWidth else { throw LabError.badConfig("heads H = \(heads) must be in 1…\(LayerConfig.maxWidth)") }
        guard miniBatch > 0 && miniBatch <= 1 << 20 else { throw LabError.badConfig("mini-batch size b = \(miniBatch) must be in 1…2^20") }
        if backbone != .mambaStack { try layerConfig.validate() } else { try layerConfig.validateNumbers() }
        try validateWindow()
        try validateOptionGroups()
    }

    // MARK: presets

    /// Preset names: small ones to train here, then the paper's shapes (Table 3) for FLOP tables.
    public static let presetNames = ["micro", "tiny", "small", "125m", "350m", "760m", "1.3b"]

    /// A preset for `layer`. `micro` (2 × D32) is for tests, `tiny` (4 × D128, H4) trains in minutes
    /// on 2 cores, `small` is 6 × D256. `125m` … `1.3b` are the paper's shapes (docs/ttt.md §3 Table 3,
    /// SwiGLU width I as in the configs); for the Mamba stack they are the Mamba paper's
    /// 130M/370M/790M/1.4B shapes (24/48/48/48 blocks of width 768/1024/1536/2048, no MLP).
    /// `vocab` defaults to the byte tokenizer's 256; FLOP tables pass the paper's 32000.
    public static func preset(_ name: String, layer: String, vocab: Int = 256) throws -> ModelConfig {
        try preset(name, layerList: LayerSpec.list(layer), vocab: vocab)
    }

    /// The same for a parsed layer list.
    public static func preset(_ name: String, layerList: [LayerSpec], vocab: Int = 256) throws -> ModelConfig {
        let stack = Backbone.implied(by: layerList) == .mambaStack
        let shape: (L: Int, D: Int, H: Int, I: Int)
        switch name {
        case "micro": shape = (2, 32, 2, 64)
        case "tiny": shape = (4, 128, 4, 344)
        case "small": shape = (6, 256, 4, 688)
        case "125m": shape = stack ? (24, 768, 12, 0) : (12, 768, 12, 2048)
        case "350m": shape = stack ? (48, 1024, 16, 0) : (24, 1024, 16, 2736)
        case "760m": shape = stack ? (48, 1536, 16, 0) : (24, 1536, 16, 4096)
        case "1.3b": shape = stack ? (48, 2048, 32, 0) : (24, 2048, 32, 5504)
        default: throw LabError.unknownName(kind: "preset", name: name, valid: presetNames)
        }
        let L = stack && ["micro", "tiny", "small"].contains(name) ? 2 * shape.L : shape.L   // Mamba blocks have no MLP: twice as many
        let c = ModelConfig(layerList: layerList, vocab: vocab, width: shape.D, heads: shape.H, layers: L, mlpHidden: shape.I, preset: name)
        try c.validate()
        return c
    }

    /// One line: "ttt-linear, 4 × D128 (H4, I344), transformer backbone, V256"; a hybrid says
    /// "hybrid stack (transformer backbone; Mamba blocks without MLP)" (`blockDescriptions` lists the blocks).
    public var summary: String {
        let mlp = hasMLP ? "I\(mlpHidden)" : "no MLP"
        let conv = shortConv.map { ", short conv k\($0)" } ?? ""
        let window = layerConfig.attention.window.map { ", attention window \($0)" } ?? ""
        let bb = isHybrid ? "hybrid stack (\(backbone.rawValue) backbone\(blockBackbones.contains(.mambaStack) ? "; Mamba blocks without MLP" : ""))"
                          : "\(backbone.rawValue) backbone"
        return "\(layer), \(layers) × D\(width) (H\(heads), \(mlp)\(conv)\(window)), \(bb), V\(vocab)"
    }
}
