// LayersCommand.swift — `lab layers`: every layer and inner-model plugin with its size and cost.
import ArgumentParser
import Foundation
import Layers
import TensorCore
import Zoo

struct LayersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layers",
        abstract: "List every sequence layer and inner-model plugin with parameters, state size and FLOPs/token.",
        discussion: "Defaults to the paper's 125M layer shape (D = 768, H = 12, b = 16) at a 2048-token context.")

    @Option(name: .long, help: "Model width D.") var width: Int = 768
    @Option(name: .long, help: "Heads H.") var heads: Int = 12
    @Option(name: [.customLong("mini-batch"), .customShort("b")], help: "TTT mini-batch size b.") var miniBatch: Int = 16
    @Option(name: .long, help: "Context length for state size and FLOPs.") var context: Int = 2048
    @Option(name: .long, help: "Attention's sliding window W (state and FLOPs of a W-row KV cache); default: full attention.") var window: Int?

    func run() throws {
        var cfg = LayerConfig(width: width, heads: heads)
        cfg.ttt.miniBatch = miniBatch
        try checkMiniBatch(miniBatch)
        try cfg.validate()
        try Validate.count(context, "--context", max: Validate.maxLength)
        var windowed = cfg                                       // attention's config (--window)
        windowed.attention.window = window
        try windowed.validate()
        print("Layers at D = \(width), H = \(heads), d = \(cfg.headDim), b = \(miniBatch), context = \(context):\n")
        let header = ["layer", "params", "state/seq", "MFLOP/token", "about"]
        var rows: [[String]] = []
        for spec in LayerRegistry.all {
            let layer = try spec.make(spec == .attention ? windowed : cfg, seed: 0)
            rows.append([spec.name, formatCount(layer.parameterCount), formatBytes(layer.stateBytes(context: context)),
                         String(format: "%.4g", layer.flopsPerToken(context: context) / 1e6), describe(spec)])
        }
        printTable(header, rows)
        print("\nInner-model plugins (Plugins/<Name>/, used as ttt-<name>):\n")
        var prow: [[String]] = []
        for m in InnerModelRegistry.all {
            let np = m is NonparametricInnerModel.Type
            prow.append([m.name, m.stateDescription(d: cfg.headDim),
                         np ? "memory (causal prefill)" : m.hasDual ? "dual + primal" : "primal only",
                         np ? "none (append)" : m.gradientIsHandWritten ? "hand-written" : "derived (exact)",
                         String(format: "%.1f", m.defaultBaseLR), m.summary])
        }
        printTable(["plugin", "state floats/head", "forms", "inner gradient", "η_base", "about"], prow)
        print("\nAdd one: lab plugin new MyModel; check one: lab plugin check NAME (see Plugins/README.md).")
    }

    func describe(_ spec: LayerSpec) -> String {
        switch spec {
        case .attention:
            if let window { return "sliding-window softmax attention (W = \(window)), RoPE, KV cache of W rows (state O(W))" }
            return "causal softmax self-attention, RoPE, KV cache (state grows with context; --window W bounds it)"
        case .linearAttention: return "causal linear attention (simple | elu+1 with normalizer)"
        case .mamba: return "Mamba S6 selective SSM block (E = 2, N = 16)"
        case .ttt(let inner, let backbone):
            let grows = inner is NonparametricInnerModel.Type
            return "TTT layer" + (backbone == .mamba ? ", Mamba backbone (shared Q/K + convs + gate)" : ", Transformer backbone")
                + (grows ? "; nonparametric: state grows with context" : "")
        }
    }
}

func formatCount(_ n: Int) -> String {
    n >= 1_000_000 ? String(format: "%.2fM", Double(n) / 1e6) : n >= 1000 ? String(format: "%.1fk", Double(n) / 1e3) : "\(n)"
}

func formatBytes(_ n: Int) -> String {
    n >= 1 << 20 ? String(format: "%.1f MiB", Double(n) / 1048576) : n >= 1024 ? String(format: "%.1f KiB", Double(n) / 1024) : "\(n) B"
}

/// Prints aligned columns (plain text for terminals and logs).
func printTable(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
    func line(_ r: [String]) -> String {
        r.enumerated().map { i, s in i == r.count - 1 ? s : s.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
    }
    print(line(header))
    print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
    rows.forEach { print(line($0)) }
}
