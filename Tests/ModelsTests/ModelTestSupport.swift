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
