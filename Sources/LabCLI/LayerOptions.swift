// LayerOptions.swift — the options that describe one layer, shared by the commands.
import ArgumentParser
import Layers
import TensorCore
import Zoo

/// Options given as nil are the defaults; one given for a layer that does not read it is refused
/// (`LayerSpec.refuseUnused`), so an accepted option always changes what runs.
struct LayerOptions: ParsableArguments {
    @Option(name: .long, help: "Model width D (default 64).") var width: Int?
    @Option(name: .long, help: "Heads H (D must be divisible by H; default 4; not for mamba).") var heads: Int?
    @Option(name: [.customLong("mini-batch"), .customShort("b")], help: "TTT mini-batch size b (default 16; TTT layers only).") var miniBatch: Int?
    @Option(name: .long, help: "TTT backbone: transformer or mamba (mamba runs ttt-X as ttt-X-m; TTT layers only).") var backbone: String?
    @Option(name: .long, help: "Linear attention variant: simple or elu (default simple; linear-attention only).") var linearVariant: String?
    @Option(name: .long, help: "Attention: sliding window W (token t attends to t−W+1…t); default: full causal attention.") var window: Int?

    /// The layer to build for `layer` with these options, and its configuration: `--backbone mamba`
    /// turns ttt-X into ttt-X-m; options the layer does not read are refused, naming why.
    func resolve(layer: String, primal: Bool = false) throws -> (spec: LayerSpec, config: LayerConfig) {
        var spec = try LayerSpec(layer)
        var given: [(option: String, setting: LayerSetting)] = []
        if heads != nil { given.append(("--heads", .heads)) }
        if miniBatch != nil { given.append(("--mini-batch", .miniBatch)) }
        if linearVariant != nil { given.append(("--linear-variant", .linearVariant)) }
        if primal { given.append(("--primal", .primal)) }
        try spec.refuseUnused(given)
        var c = LayerConfig(width: width ?? 64, heads: heads ?? (spec == .mamba ? 1 : 4))
        let b = miniBatch ?? 16
        try checkMiniBatch(b)
        c.ttt.miniBatch = b
        if let backbone {
            guard let bb = TTTOptions.Backbone(rawValue: backbone) else {
                throw LabError.unknownName(kind: "backbone", name: backbone, valid: ["transformer", "mamba"])
            }
            spec = try spec.on(backbone: bb)
        }
        if case .ttt(_, let bb) = spec { c.ttt.backbone = bb }
        let variant = linearVariant ?? "simple"
        guard ["simple", "elu"].contains(variant) else {
            throw LabError.unknownName(kind: "linear-attention variant", name: variant, valid: ["simple", "elu"])
        }
        c.linearAttention.variant = variant
        c.ttt.dual = !primal
        c.attention.window = window
        try c.validate()
        return (spec, c)
    }
}

/// The TTT layer holds a length-b parameter and b×b mini-batch matrices: an absurd b is refused before
/// any layer is built (LayerConfig.validate checks b ≥ 1 only). The memory estimate counts b×b floats
/// with the b given (not min(b, T)), so it holds whether or not the layer clamps b to T.
func checkMiniBatch(_ b: Int) throws {
    let limit = 1 << 20
    guard b <= limit else {
        throw LabError.badConfig("mini-batch size b = \(b) is larger than \(limit); b ≥ T already gives batch gradient descent — choose b ≤ the sequence length")
    }
    try Validate.memory(bytes: 16 * Double(b) * Double(b), for: "mini-batch size b = \(b) (b×b matrices)",
                        fix: "choose b ≤ the sequence length (b ≥ T already gives batch gradient descent)", fraction: 0.5)
}
