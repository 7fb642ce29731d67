// ImportCommand.swift — `lab import`: a Hugging Face model directory as a lab run directory.
import ArgumentParser
import Foundation
import Layers
import Models
import TensorCore

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Read a Hugging Face directory (TTTForCausalLM, LlamaForCausalLM, MambaForCausalLM) into a run directory.",
        discussion: """
        Every tensor name, shape and dtype (F32; F16 and BF16 are converted) and every config value that
        changes the model is checked first; unknown or missing tensors, NaN weights and settings the lab
        cannot compute (e.g. rms_norm_eps ≠ 1e-6, grouped-query heads, an untied head) are refused in one
        line. The run works with 'lab generate', 'lab logits' and 'lab export'. A directory 'lab export'
        wrote comes back bit-identical (weights and config).

        Example:
          lab import --from hf/ttt-linear-tiny --out runs/ttt-linear-tiny-again
        """)

    @Option(name: .long, help: "Hugging Face model directory (config.json + model.safetensors).") var from: String
    @Option(name: .long, help: "Run directory to write (must not exist or be empty).") var out: String

    func run() throws {
        try FileSafety.checkOutputs([("--out", out, .directory)], inputs: [("--from", from)])
        let run = try HFCheckpoint.importDirectory(URL(fileURLWithPath: from))
        try HFCheckpoint.writeRun(run, to: URL(fileURLWithPath: out))
        for n in run.notes { print("note: \(n)") }
        print("\(from) → \(out): \(run.model.config.summary), \(run.model.parameterCount) parameters")
    }
}
