// ModelTestSupport.swift — tiny models and a small generated corpus (tests never download anything).
import Foundation
import XCTest
@testable import Layers
@testable import Models
import TensorCore

/// A tiny config for `layer`: 2 blocks, D16, H2, I24, vocabulary 32, mini-batch 4.
func tinyConfig(_ layer: String, vocab: Int = 32) -> ModelConfig {
    ModelConfig(layer: layer, vocab: vocab, width: 16, heads: 2, layers: 2, mlpHidden: 24, miniBatch: 4)
}

/// Every layer kind the models are built from.
let allLayers = ["ttt-linear", "ttt-mlp", "attention", "linear-attention", "mamba", "ttt-linear-m", "ttt-mlp-m"]

/// A generated corpus of "long documents": sentences drawn at random from a few fixed ones, so the
/// text is learnable (each sentence is predictable once it has started) but not trivially periodic.
func syntheticCorpus(documents: Int = 12, bytesPerDocument: Int = 3000, seed: UInt64 = 1) -> Corpus {
    let sentences = ["the cat sat on the mat. ", "a dog ran in the park. ", "we like to read books. ", "it is cold at night. "]
    var rng = RNG(seed: seed)
    var docs: [Document] = []
    for i in 0..<documents {
        var text = ""
        while text.utf8.count < bytesPerDocument { text += sentences[Int(rng.next() % UInt64(sentences.count))] }
        docs.append(Document(name: String(format: "doc%02d", i), source: "synthetic", bytes: Array(text.utf8.prefix(bytesPerDocument))))
    }
    let (train, val) = Corpus.split(docs)
    return Corpus(train: train, validation: val)
}

func scratchDirectory() throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("lab-models-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

/// Random token ids in 0..<vocab.
func randomIDs(_ n: Int, vocab: Int, seed: UInt64) -> [Int] {
    var rng = RNG(seed: seed)
    return (0..<n).map { _ in Int(rng.next() % UInt64(vocab)) }
}

/// Bitwise equality of two tensors.
func bitsEqual(_ a: Tensor, _ b: Tensor) -> Bool {
    a.shape == b.shape && (0..<a.count).allSatisfy { a.data[$0].bitPattern == b.data[$0].bitPattern }
}

/// A directional-derivative check of an LM's loss on (x, y), B sequences (GradientTests, ShortConvTests).
///
/// u is a unit direction over the parameters `selected` picks — half random, half along the gradient,
/// renormalized, so the derivative stands well above Float32 noise. `analytic` = ⟨∇L, u⟩ from one
/// `backward()`; `numeric` = (L(θ + hu) − L(θ − hu)) / 2h; `control` = ⟨∇L', u⟩ with L' the loss of another
/// batch (x2, y2): a negative control that must miss `numeric`. The parameters are restored.
struct DirectionalDerivative {
    let analytic: Double, numeric: Double, control: Double
    /// |analytic − numeric| / max(|numeric|, 1e-3), and the same for the control.
    var error: Double { abs(analytic - numeric) / max(abs(numeric), 1e-3) }
    var controlError: Double { abs(control - numeric) / max(abs(numeric), 1e-3) }

    init(_ model: LanguageModel, batch B: Int, x: [Int], y: [Int], x2: [Int], y2: [Int],
         selected: (Param) -> Bool, seed: UInt64, h: Float = 2e-3) {
        let params = model.parameters
        func grads(_ inputs: [Int], _ targets: [Int]) -> [Tensor] {
            for p in params { p.tensor.zeroGrad() }
            model.loss(inputs: inputs, targets: targets, batch: B).backward()
            let g = params.map { $0.tensor.grad ?? Tensor(zeros: $0.tensor.shape) }
            for p in params { p.tensor.zeroGrad() }
            return g
        }
        let g = grads(x, y), gOther = grads(x2, y2)
        var rng = RNG(seed: seed)
        func unit(_ ts: [Tensor]) -> [Tensor] {
            let masked = zip(params, ts).map { p, t in selected(p) ? t : Tensor(zeros: t.shape) }
            let n = masked.reduce(0.0) { acc, t in acc + (0..<t.count).reduce(0.0) { $0 + Double(t.data[$1] * t.data[$1]) } }.squareRoot()
            return masked.map { $0 * Float(1 / n) }
        }
        let u = unit(zip(unit(params.map { Tensor.randn($0.tensor.shape, rng: &rng) }), unit(g)).map { $0 + $1 })
        func dot(_ gs: [Tensor]) -> Double {
            zip(gs, u).reduce(0.0) { acc, gu in acc + (0..<gu.0.count).reduce(0.0) { $0 + Double(gu.0.data[$1]) * Double(gu.1.data[$1]) } }
        }
        func loss() -> Double { Double(withNoGrad { model.loss(inputs: x, targets: y, batch: B) }.item) }
        func shift(_ s: Float) { for (p, d) in zip(params, u) { for i in 0..<p.tensor.count { p.tensor.data[i] += s * d.data[i] } } }
        shift(h); let lp = loss()
        shift(-2 * h); let lm = loss()
        shift(h)
        numeric = (lp - lm) / Double(2 * h)
        analytic = dot(g)
        control = dot(gOther)
    }
}
