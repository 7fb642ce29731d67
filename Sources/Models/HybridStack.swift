// HybridStack.swift — one sequence layer per block: `ModelConfig.layerList` holds more than one spec.
//
//   "attention,ttt-linear,ttt-linear,ttt-linear" with L = 4   → block 0 attention, blocks 1–3 TTT-Linear
//   "attention,ttt-linear" with L = 4                          → the pattern repeated: a, t, a, t
//   block ℓ's backbone: its own layer's (mamba → a Mamba block, no MLP; ttt-*-m → pre-conv + shared Q/K),
//   else the config's `backbone` (transformer, or ttt-mamba when a study asks every block for a pre-conv)
//
// config.json keeps the list as its names under `layer` (ModelConfigCoding.swift), so every existing config,
// checkpoint and cache key decodes and hashes unchanged; a single name is the old model exactly (every block
// gets `backbone`, as before).
import Layers
import Zoo

extension ModelConfig {
    /// Each block's layer, L of them (the list repeated when its length divides L; `validate` refuses
    /// any other length).
    ///
    /// ```swift
    /// var c = try ModelConfig.preset("tiny", layer: "attention,ttt-linear")   // L = 4
    /// c.blockLayers.map(\.name)                // ["attention", "ttt-linear", "attention", "ttt-linear"]
    /// ```
    public var blockLayers: [LayerSpec] {
        guard !layerList.isEmpty else { return [] }
        return (0..<max(layers, 0)).map { layerList[$0 % layerList.count] }
    }

    /// True when the blocks do not all have the same layer.
    public var isHybrid: Bool { Set(layerList).count > 1 }

    /// Each block's backbone: for a single layer, `backbone` (as always); for a hybrid, the block's own
    /// layer's (`Backbone.implied`), and `backbone` for the blocks whose layer implies the Transformer one.
    public var blockBackbones: [Backbone] {
        guard isHybrid else { return Array(repeating: backbone, count: max(layers, 0)) }
        return blockLayers.map { spec in
            let own = Backbone.implied(by: spec)
            return own == .transformer ? backbone : own
        }
    }

    /// Whether block `i` has the SwiGLU MLP (not in Mamba blocks, nor with `noMLP`).
    public func hasMLP(block i: Int) -> Bool { blockBackbones[i] != .mambaStack && noMLP != true }

    /// The sequence-layer config of block `i`: `layerConfig`, with the attention window kept for attention
    /// blocks only (the other layers refuse a window).
    public func layerConfig(block i: Int) -> LayerConfig {
        var c = layerConfig
        if blockLayers[i] != .attention { c.attention.window = nil }
        return c
    }

    /// One line per block: "block 0: attention (transformer backbone, SwiGLU I344, window 64)".
    public var blockDescriptions: [String] {
        let names = blockLayers, bbs = blockBackbones
        return names.indices.map { i in
            var parts = ["\(bbs[i].rawValue) backbone", hasMLP(block: i) ? "SwiGLU I\(mlpHidden)" : "no MLP"]
            if let w = layerConfig(block: i).attention.window { parts.append("window \(w)") }
            return "block \(i): \(names[i]) (\(parts.joined(separator: ", ")))"
        }
    }

    /// Decode-state bytes of one sequence after `context` tokens: every block's sequence layer plus the
    /// pre-conv history of the TTT Mamba backbone (one layer built per distinct layer; nothing else allocated).
    public func stateBytes(context: Int) throws -> Int {
        try validate()
        let mixers = try blockMixers()
        let bbs = blockBackbones
        return blockLayers.indices.reduce(0) { sum, i in
            sum + mixers[i].stateBytes(context: context) + (bbs[i] == .tttMamba ? 4 * (convWidth - 1) * width : 0)
        }
    }

    /// One sequence layer per block, built once per distinct (layer, config) and shared by the blocks that
    /// use it (for FLOPs, parameter and state counts without allocating the model).
    func blockMixers() throws -> [SequenceLayer] {
        var built: [LayerSpec: SequenceLayer] = [:]
        return try blockLayers.indices.map { i in
            let spec = blockLayers[i]
            if let m = built[spec] { return m }
            let m = try spec.make(layerConfig(block: i), seed: 0)
            built[spec] = m
            return m
        }
    }

    /// The layer list (parsed already): not empty, a length that is L or divides L, and no Mamba-stack
    /// backbone for the Transformer-style blocks of a hybrid.
    func validateBlockLayers() throws {
        let names = layerList
        guard !names.isEmpty else { throw LabError.badConfig("the model names no layer — give one, e.g. --layer ttt-linear") }
        guard layers <= 0 || names.count == 1 || layers % names.count == 0 else {
            let divisors = (1...max(layers, 1)).filter { layers % $0 == 0 }.map(String.init).joined(separator: ", ")
            throw LabError.badConfig("the layer list names \(names.count) layers for L = \(layers) blocks — give one per block (\(layers)) or a pattern whose length divides \(layers) (\(divisors)) to repeat")
        }
        if isHybrid && backbone == .mambaStack {
            throw LabError.badConfig("a hybrid's backbone is \(backbone.rawValue); use transformer (or ttt-mamba) — Mamba blocks come from the layer name 'mamba'")
        }
    }

    /// A sliding window needs an attention block to apply to.
    func validateWindow() throws {
        guard let w = layerConfig.attention.window else { return }
        guard layerList.contains(.attention) else {
            throw LabError.badConfig("a sliding window (W = \(w)) applies to attention blocks, and '\(layer)' has none — drop the window or add attention to the layer list")
        }
    }

    /// `layerOptions` sets no option group of a layer kind the model does not have (an accepted option
    /// takes effect): "the layer options set Mamba options (expand, state), and 'ttt-linear' has no mamba
    /// block — drop them". The TTT mini-batch and backbone are not options here (`miniBatch` and the layer
    /// names set them).
    func validateOptionGroups() throws {
        guard let o = layerOptions else { return }
        let d = LayerConfig(width: o.width, heads: o.heads)
        var ttt = o.ttt
        (ttt.miniBatch, ttt.backbone) = (d.ttt.miniBatch, d.ttt.backbone)
        let groups: [(set: Bool, what: String, kind: String, has: (LayerSpec) -> Bool)] = [
            (ttt != d.ttt, "TTT options", "TTT", { $0.inner != nil }),
            (o.attention != d.attention, "attention options (window)", "attention", { $0 == .attention }),
            (o.linearAttention != d.linearAttention, "linear-attention options (variant, chunk)", "linear-attention", { $0 == .linearAttention }),
            (o.mamba != d.mamba, "Mamba options (expand, state)", "mamba", { $0 == .mamba }),
        ]
        for g in groups where g.set && !layerList.contains(where: g.has) {
            throw LabError.badConfig("the layer options set \(g.what), and '\(layer)' has no \(g.kind) block — drop them (or add such a layer to the list)")
        }
    }
}
