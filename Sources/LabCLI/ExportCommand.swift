// ExportCommand.swift — `lab export`: a run directory as a Hugging Face model directory.
import ArgumentParser
import Foundation
import Layers
import Models
import TensorCore

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a trained model as a Hugging Face directory (config.json + model.safetensors).",
        discussion: """
        TTT models (ttt-linear, ttt-mlp and their -m variants) load with ttt-lm-pytorch's TTTForCausalLM,
        the attention model with transformers' LlamaForCausalLM (q/k rows permuted from the lab's
        interleaved RoPE pairs to Llama's halves), the Mamba stack with MambaForCausalLM. Models no loader
        computes exactly (linear attention, other plugins, non-default TTT options) are refused.
        DIR must not exist (or be empty); it appears complete or not at all.

        Examples:
          lab export --checkpoint runs/ttt-linear-tiny --format hf --out hf/ttt-linear-tiny
          lab import --from hf/ttt-linear-tiny --out runs/ttt-linear-tiny-again
        """)

    @Option(name: .long, help: "Run directory written by 'lab train' or 'lab import'.") var checkpoint: String
    @Option(name: .long, help: "Output format: hf (Hugging Face).") var format: String = "hf"
    @Option(name: .long, help: "Directory to write (must not exist or be empty).") var out: String

    func validate() throws {
        guard format == "hf" else { throw ValidationError("--format \(format) is not supported; use --format hf") }
    }

    func run() throws {
        try FileSafety.checkOutputs([("--out", out, .directory)], inputs: [("--checkpoint", checkpoint)])
        let run = try HFCheckpoint.loadRun(URL(fileURLWithPath: checkpoint))
        let arch = try HFCheckpoint.export(run, to: URL(fileURLWithPath: out))
        print("\(run.model.config.summary) → \(out) (\(arch.rawValue), \(run.model.parameterCount) parameters, F32)")
    }
}
