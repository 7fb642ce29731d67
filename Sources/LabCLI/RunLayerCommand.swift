// RunLayerCommand.swift — `lab run-layer`: one layer's prefill on a safetensors input, for outside checks.
import ArgumentParser
import Foundation
import Layers
import TensorCore
import Zoo

struct RunLayerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-layer",
        abstract: "Run one layer's prefill on a safetensors input and write the output tensor.",
        discussion: """
        The input file holds one F32 tensor [B, T, D] (named "input", or the only tensor). Weights use
        the official PyTorch names and layouts (q_proj.weight as (out, in), W1, b1, learnable_ttt_lr_weight
        as (H, 1, D), …), so they move between the lab and the reference code. Without --weights the
        layer is initialised from --seed; --save-weights writes the weights used.

        Example:
          lab run-layer --layer ttt-linear --width 64 --heads 4 --save-weights w.safetensors --input x.safetensors --output y.safetensors
        """)

    @Option(name: .long, help: "Layer name (see 'lab layers').") var layer: String
    @OptionGroup var shape: LayerOptions
    @Option(name: .long, help: "Weights to load (safetensors).") var weights: String?
    @Option(name: .long, help: "Write the layer's weights here (safetensors).") var saveWeights: String?
    @Option(name: .long, help: "Input tensor file (safetensors).") var input: String
    @Option(name: .long, help: "Output tensor file (safetensors), written atomically.") var output: String
    @Option(name: .long, help: "Seed for the initial weights (default 0; not with --weights, which replaces them).") var seed: UInt64?
    @Flag(name: .long, help: "Use the primal form instead of the dual form (TTT layers whose inner model has a dual form).") var primal = false

    func run() throws {
        // Every option takes effect or is refused: --backbone mamba builds ttt-X-m, and an option the
        // layer does not read (--primal on mamba, -b on attention, …) is one line naming why.
        let (spec, cfg) = try shape.resolve(layer: layer, primal: primal)
        if weights != nil && seed != nil {
            throw LabError.badConfig("--seed sets the initial weights, but --weights replaces every one of them — drop --seed or --weights")
        }
        // Never write over a file that is also an input (or the other output), however it is spelled.
        try FileSafety.checkOutputs([("--output", output, .file), ("--save-weights", saveWeights, .file)],
                                    inputs: [("--input", input), ("--weights", weights)])
        var rng = RNG(seed: seed ?? 0)
        let l = try spec.make(cfg, rng: &rng)
        if let weights { try loadWeights(into: l.parameters, from: URL(fileURLWithPath: weights)) }
        let file = try SafetensorsFile.read(URL(fileURLWithPath: input))
        guard let x = file.tensors["input"] ?? (file.tensors.count == 1 ? file.tensors.values.first : nil) else {
            throw LabError.badFile(path: input, problem: "holds \(file.tensors.count) tensors and none is named 'input' — name the input tensor 'input'")
        }
        guard x.rank == 3, x.dim(2) == cfg.width, x.dim(1) > 0, x.dim(0) > 0 else {
            throw LabError.badFile(path: input, problem: "input has shape \(x.shape), expected [B, T, \(cfg.width)] with B, T ≥ 1 — check --width")
        }
        try Validate.finite(["input": x], in: input, fix: "the input holds non-finite numbers; pass finite values")
        // Activations of one prefill: ≈ 64 floats per width per token, plus attention's scores per query tile.
        try Validate.memory(bytes: 4 * Double(x.count) * 64, for: "running \(spec.name) on an input of shape \(x.shape)",
                            fix: "split the input into shorter sequences or smaller batches")
        let y = withNoGrad { l(x) }
        // An output that overflowed is never written (exit 2, naming the tensor), nor are the weights.
        try Validate.finiteOutput(y, name: "output", path: output, fix: "scale the input down or check the weights")
        if let saveWeights {
            try Layers.saveWeights(l.parameters, to: URL(fileURLWithPath: saveWeights), metadata: ["layer": spec.name, "width": "\(cfg.width)", "heads": "\(cfg.heads)", "mini_batch": "\(cfg.ttt.miniBatch)"])
        }
        try SafetensorsFile(tensors: ["output": y], metadata: ["layer": spec.name]).write(to: URL(fileURLWithPath: output))
        print("\(spec.name)\(primal ? " (primal form)" : ""): \(x.shape) → \(y.shape) written to \(output)")
    }
}
