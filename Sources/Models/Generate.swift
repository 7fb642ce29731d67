// Generate.swift — sampling: prefill the prompt through the recurrent form, then decode token by token.
import Foundation
import Layers
import TensorCore

/// Sampling settings: temperature 0 is greedy; `topK` 0 keeps the whole vocabulary.
public struct SamplingOptions: Sendable {
    public var tokens: Int
    public var temperature: Float
    public var topK: Int
    public var seed: UInt64
    public init(tokens: Int, temperature: Float = 0.8, topK: Int = 0, seed: UInt64 = 0) {
        self.tokens = tokens; self.temperature = temperature; self.topK = topK; self.seed = seed
    }
}

/// Result of `generate`: the new ids and the time spent in prefill and decode.
public struct Generation: Sendable {
    public var ids: [Int]
    public var prefillSeconds: Double
    public var decodeSeconds: Double
}

/// Samples `options.tokens` ids after `prompt` (prefill with the layers' multi-token `step`, then
/// one-token decode steps from the state). `onToken` sees each new id as it is produced.
///
/// ```swift
/// let g = try generate(model, prompt: ByteTokenizer.encode("ROMEO:"), options: .init(tokens: 200))
/// print(ByteTokenizer.decode(g.ids))
/// ```
public func generate(_ model: LanguageModel, prompt: [Int], options: SamplingOptions,
                     onToken: (Int) -> Void = { _ in }) throws -> Generation {
    guard !prompt.isEmpty else { throw LabError.badConfig("the prompt is empty; pass --prompt with at least one character") }
    guard options.tokens >= 0 else { throw LabError.badConfig("tokens = \(options.tokens) must be ≥ 0") }
    guard options.temperature >= 0, options.temperature.isFinite else {
        throw LabError.badConfig("temperature \(options.temperature) must be ≥ 0 (0 = greedy)")
    }
    if let bad = prompt.first(where: { $0 < 0 || $0 >= model.config.vocab }) {
        throw LabError.badConfig("prompt id \(bad) is outside the vocabulary 0..<\(model.config.vocab)")
    }
    var rng = RNG(seed: options.seed)
    let state = model.makeState(batch: 1)
    let t0 = Date()
    var logits = model.step(prompt, batch: 1, state: state)                 // [1, P, V]
    let t1 = Date()
    var out: [Int] = []
    let V = model.config.vocab
    for i in 0..<options.tokens {
        let last = logits.dim(1) - 1
        let row = Array(UnsafeBufferPointer(start: logits.data + last * V, count: V))
        let id = sample(row, temperature: options.temperature, topK: options.topK, rng: &rng)
        out.append(id)
        onToken(id)
        if i + 1 < options.tokens { logits = model.step([id], batch: 1, state: state) }
    }
    return Generation(ids: out, prefillSeconds: t1.timeIntervalSince(t0), decodeSeconds: Date().timeIntervalSince(t1))
}

/// One id from logits: greedy at temperature 0, otherwise softmax(logits / T) restricted to the top k.
public func sample(_ logits: [Float], temperature: Float, topK: Int, rng: inout RNG) -> Int {
    if temperature == 0 { return logits.indices.max { logits[$0] < logits[$1] } ?? 0 }
    var idx = Array(logits.indices)
    if topK > 0 && topK < idx.count {
        idx.sort { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }
        idx = Array(idx.prefix(topK))
    }
    let mx = idx.map { logits[$0] }.max() ?? 0
    let w = idx.map { Foundation.exp(Double(logits[$0] - mx) / Double(temperature)) }
    let total = w.reduce(0, +)
    var u = Double(rng.next() >> 11) * (1.0 / Double(1 << 53)) * total
    for (j, wj) in zip(idx, w) { u -= wj; if u < 0 { return j } }
    return idx.last ?? 0
}
