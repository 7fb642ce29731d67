// LayerOptions.swift — the options that describe one layer, shared by the commands.
import ArgumentParser
import Layers
import Zoo

struct LayerOptions: ParsableArguments {
    @Option(name: .long, help: "Model width D.") var width: Int = 64
    @Option(name: .long, help: "Heads H (D must be divisible by H).") var heads: Int = 4
    @Option(name: [.customLong("mini-batch"), .customShort("b")], help: "TTT mini-batch size b.") var miniBatch: Int = 16
    @Option(name: .long, help: "TTT backbone: transformer or mamba.") var backbone: String = "transformer"
    @Option(name: .long, help: "Linear attention variant: simple or elu.") var linearVariant: String = "simple"
    @Option(name: .long, help: "Attention: sliding window W (token t attends to t−W+1…t); default: full causal attention.") var window: Int?

    func config() throws -> LayerConfig {
        var c = LayerConfig(width: width, heads: heads)
        c.ttt.miniBatch = miniBatch
        try checkMiniBatch(miniBatch)
        guard let bb = TTTOptions.Backbone(rawValue: backbone) else {
            throw LabError.unknownName(kind: "backbone", name: backbone, valid: ["transformer", "mamba"])
        }
        c.ttt.backbone = bb
        guard ["simple", "elu"].contains(linearVariant) else {
            throw LabError.unknownName(kind: "linear-attention variant", name: linearVariant, valid: ["simple", "elu"])
        }
        c.linearAttention = linearVariant
        c.window = window
        try c.validate()
        return c
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
