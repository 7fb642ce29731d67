// LogitsCommand.swift — `lab logits`: a model's logits for given token ids, as safetensors.
import ArgumentParser
import Foundation
import Layers
import Models
import TensorCore

struct LogitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logits",
        abstract: "Write a model's logits [B, T, vocab] for token ids (safetensors) and print their next-token loss.",
        discussion: """
        Input: --input FILE, a safetensors file with one I32/I64 tensor [B, T] (or [T]; named input_ids
        if there are several), or --text FILE, whose bytes are one sequence (byte vocabulary). Output: F32
        tensor "logits" [B, T, vocab], written atomically. The printed loss is the mean cross-entropy of
        predicting token t+1 from logits at t, in nats, as 'lab train' reports it.

        Examples:
          lab logits --checkpoint runs/ttt-linear-tiny --text README.md --output logits.safetensors
          lab logits --checkpoint runs/ttt-linear-tiny --input ids.safetensors --output logits.safetensors
        """)

    @Option(name: .long, help: "Run directory written by 'lab train' or 'lab import'.") var checkpoint: String
    @Option(name: .long, help: "Token ids: safetensors with one I32/I64 tensor [B, T].") var input: String?
    @Option(name: .long, help: "Text file whose bytes are the tokens (one sequence).") var text: String?
    @Option(name: .long, help: "Output safetensors file (tensor 'logits').") var output: String

    func validate() throws {
        guard (input == nil) != (text == nil) else { throw ValidationError("give exactly one of --input FILE or --text FILE") }
    }

    func run() throws {
        // The one output rule: never an input (--input, --text, the checkpoint's files), never inside the
        // checkpoint directory, never a directory; checked before anything is read or computed.
        try FileSafety.checkOutputs([("--output", output, .file)], inputs: [("--checkpoint", checkpoint), ("--input", input), ("--text", text)])
        let run = try HFCheckpoint.loadRun(URL(fileURLWithPath: checkpoint))
        let model = run.model
        var ids: [Int], batch = 1
        if let input {
            (ids, batch) = try TokenIDs.read(URL(fileURLWithPath: input), vocab: model.config.vocab)
        } else {
            // Size first: a huge file is refused before it is read.
            let size = (try? FileManager.default.attributesOfItem(atPath: text!)[.size] as? Int) ?? nil
            if let size, size > 0 { try ModelLogits.checkFitsInMemory(model.config, batch: 1, length: size) }
            guard let data = FileManager.default.contents(atPath: text!) else {
                throw LabError.missing("cannot read --text \(text!) — check the path")
            }
            ids = data.map(Int.init)
            guard !ids.isEmpty else { throw LabError.badFile(path: text!, problem: "is empty — give a file with at least one byte") }
            guard model.config.vocab >= 256 else {
                throw LabError.badConfig("--text needs the byte vocabulary (256) but the model's is \(model.config.vocab) — pass token ids with --input")
            }
        }
        try ModelLogits.checkFitsInMemory(model.config, batch: batch, length: ids.count / batch)
        let (logits, loss) = ModelLogits.compute(model, ids: ids, batch: batch)
        // A non-finite logit is never written (exit 2): the weights or config make the forward pass overflow.
        try Validate.finiteOutput(logits, name: "logits", path: output,
                                  fix: "the checkpoint's weights or config (\(model.config.summary)) make the forward pass overflow on this input — check the run's loss for divergence or retrain it")
        var meta = ["layer": model.config.layer, "step": run.step]
        if let loss { meta["next_token_loss"] = String(format: "%.8g", loss) }
        do { try SafetensorsFile(tensors: ["logits": logits], metadata: meta).write(to: URL(fileURLWithPath: output)) } catch let e as FileError {
            throw LabError.badFile(path: e.path, problem: "\(e.problem) — \(e.fix)")
        }
        let lossText = loss.map { String(format: "next-token loss %.6f nats (%.4f bits/token)", $0, $0 / log(2)) } ?? "one token per sequence: no next-token loss"
        print("logits \(logits.shape) → \(output); \(lossText)")
    }
}
