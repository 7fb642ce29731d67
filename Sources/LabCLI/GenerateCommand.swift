// GenerateCommand.swift — `lab generate`: sample text from a trained checkpoint (prefill, then decode).
import ArgumentParser
import Foundation
import Layers
import Models

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Sample text from a checkpoint: the prompt is prefilled through the recurrent form, then decoded byte by byte.",
        discussion: """
        Prints the prompt and its continuation on stdout as it is produced; timings go to stderr.

        Examples:
          lab generate --checkpoint runs/ttt-linear-tiny --prompt "ROMEO:"
          lab generate --checkpoint runs/ttt-linear-tiny --prompt "And God said" --tokens 400 --temperature 0
        """)

    @Option(name: .long, help: "Run directory written by 'lab train'.") var checkpoint: String
    @Option(name: .long, help: "Text to continue.") var prompt: String
    @Option(name: .long, help: "Bytes to generate.") var tokens: Int = 200
    @Option(name: .long, help: "Sampling temperature (0 = greedy).") var temperature: Float = 0.8
    @Option(name: .long, help: "Sample among the k most likely bytes (0 = all).") var topK: Int = 0
    @Option(name: .long, help: "Sampling seed.") var seed: UInt64 = 0

    func validate() throws {
        if prompt.isEmpty { throw ValidationError("--prompt is empty; give at least one character") }
        if tokens < 0 { throw ValidationError("--tokens \(tokens) must be ≥ 0") }
        if tokens > 1_000_000 { throw ValidationError("--tokens \(tokens) must be ≤ 1000000; generate in several runs") }
        if topK > 256 { throw ValidationError("--top-k \(topK) must be ≤ 256 (the byte vocabulary; 0 = no limit)") }
        if temperature < 0 || !temperature.isFinite { throw ValidationError("--temperature \(temperature) must be a finite number ≥ 0 (0 = greedy)") }
        if topK < 0 { throw ValidationError("--top-k \(topK) must be ≥ 0 (0 = no limit)") }
    }

    func run() throws {
        let ids = ByteTokenizer.encode(prompt)
        // Refuse before the weights are read: a context (prompt + tokens) whose caches (attention's KV
        // cache grows with it: 2·L·T·D floats, ×4 for working copies) would not fit.
        let mc = try Trainer.checkpointConfig(in: URL(fileURLWithPath: checkpoint)).model
        try Validate.memory(bytes: 32 * Double(mc.layers) * Double(ids.count + tokens) * Double(mc.width),
                            for: "generating \(tokens) bytes after a \(ids.count)-byte prompt with \(mc.summary)", fix: "use a smaller --tokens or a shorter --prompt")
        // Weights with NaN or Inf are refused at load (loadWeights names the tensor).
        let model = try Trainer.loadModel(from: URL(fileURLWithPath: checkpoint))
        print(prompt, terminator: "")
        fflush(stdout)
        // Print whole UTF-8 characters as they complete.
        var pending: [UInt8] = []
        let g = try generate(model, prompt: ids, options: SamplingOptions(tokens: tokens, temperature: temperature, topK: topK, seed: seed)) { id in
            pending.append(UInt8(id))
            if let s = String(validating: pending, as: UTF8.self) { print(s, terminator: ""); fflush(stdout); pending.removeAll() }
            else if pending.count >= 4 { print(String(decoding: pending, as: UTF8.self), terminator: ""); fflush(stdout); pending.removeAll() }
        }
        if !pending.isEmpty { print(String(decoding: pending, as: UTF8.self), terminator: "") }
        print()
        let decodeRate = g.decodeSeconds > 0 ? Double(max(g.ids.count - 1, 0)) / g.decodeSeconds : 0
        fputs(String(format: "lab: %@ — prefill %d bytes in %.3fs, decode %d bytes at %.1f bytes/s\n",
                     model.config.summary, ids.count, g.prefillSeconds, g.ids.count, decodeRate), stderr)
    }
}
