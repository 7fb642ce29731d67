// ModelTestSupport.swift — tiny models and a small generated corpus (tests never download anything).
import Foundation
import XCTest
@testable import Layers
@testable import Models
import TensorCore
import TestSupport

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

func scratchDirectory() throws -> URL { try makeTemporaryDirectory("lab-models") }

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
/// The parameters `selected` picks are split into groups (`group`: by default the token embedding / head,
/// each block's sequence layer, each block's other parts). For every group, `directions` random unit
/// directions u over that group's parameters only (never along the gradient): `analytic` = ⟨∇L, u⟩ from one
/// `backward()`, `numeric` the fourth-order central difference of L(θ + s·u) in s (step h, TestSupport
/// `centralDifference`). A direction passes when
///     |analytic − numeric| ≤ 1e-3·|numeric| + 1e-5·‖∇L_group‖₂ + 2·|numeric(h) − numeric(2h)| + 2·ulp(L)/h
/// (the floor scales with the gradient's size, |⟨∇L, u⟩| ≤ ‖∇L_group‖; the next term is the difference
/// quotient's own error, estimated from a second step size; the last the Float32 rounding of L), h = 3e-2. `controlScale` multiplies the
/// analytic gradient: a negative control (1.01 must fail). The parameters are restored.
struct DirectionalDerivative {
    struct Direction { let group: String, analytic: Double, numeric: Double, tolerance: Double
        var ratio: Double { let r = abs(analytic - numeric) / tolerance; return r.isFinite ? r : .infinity }
    }
    let directions: [Direction]
    /// Worst |analytic − numeric| / tolerance over all directions (+∞ for NaN); ≤ 1 passes.
    var worst: Direction { directions.max { $0.ratio < $1.ratio }! }
    var passed: Bool { !directions.isEmpty && directions.allSatisfy { $0.ratio <= 1 } }
    var groups: Set<String> { Set(directions.map(\.group)) }

    static func defaultGroup(_ name: String) -> String {
        let parts = name.split(separator: ".").map(String.init)
        guard let i = parts.firstIndex(of: "layers"), i + 1 < parts.count else { return "embedding, head, final norm" }
        return "block \(parts[i + 1]) " + (name.contains("seq_modeling_block.") ? "sequence layer" : "other")
    }

    init(_ model: LanguageModel, batch B: Int, x: [Int], y: [Int], selected: (Param) -> Bool = { _ in true },
         group: (String) -> String = DirectionalDerivative.defaultGroup, directions count: Int = 4, seed: UInt64,
         h: Float = 3e-2, controlScale: Double = 1) {
        let params = model.parameters
        for p in params { p.tensor.zeroGrad() }
        let L0 = model.loss(inputs: x, targets: y, batch: B)
        L0.backward()
        let g = params.map { $0.tensor.grad ?? Tensor(zeros: $0.tensor.shape) }
        for p in params { p.tensor.zeroGrad() }
        // The Float32 loss is rounded to ½ ulp; through the difference quotient that is ≈ 1.5 ulp / h.
        let rounding = 2 * Double(L0.item.ulp) / Double(h)
        var byGroup: [String: [Int]] = [:]
        for (i, p) in params.enumerated() where selected(p) { byGroup[group(p.name), default: []].append(i) }
        var rng = RNG(seed: seed)
        func loss() -> Double { Double(withNoGrad { model.loss(inputs: x, targets: y, batch: B) }.item) }
        var out: [Direction] = []
        for name in byGroup.keys.sorted() {
            let idx = byGroup[name]!
            var gnorm = 0.0
            for i in idx { for j in 0..<g[i].count { gnorm += Double(g[i].data[j]) * Double(g[i].data[j]) } }
            gnorm = gnorm.squareRoot()
            for _ in 0..<count {
                var u = idx.map { Tensor.randn(params[$0].tensor.shape, rng: &rng) }
                let n = u.reduce(0.0) { acc, t in acc + (0..<t.count).reduce(0.0) { $0 + Double(t.data[$1]) * Double(t.data[$1]) } }.squareRoot()
                u = u.map { $0 * Float(1 / n) }
                var analytic = 0.0
                for (k, i) in idx.enumerated() { for j in 0..<u[k].count { analytic += Double(g[i].data[j]) * Double(u[k].data[j]) } }
                analytic *= controlScale
                let saved = idx.map { params[$0].tensor.copy() }
                var memo: [Double: Double] = [:]
                func L(_ s: Double) -> Double {
                    if let v = memo[s] { return v }
                    for (k, i) in idx.enumerated() {
                        let t = params[i].tensor
                        for j in 0..<t.count { t.data[j] = saved[k].data[j] + Float(s) * u[k].data[j] }
                    }
                    let v = loss(); memo[s] = v; return v
                }
                let numeric = centralDifference(step: Double(h), L)
                let coarse = centralDifference(step: 2 * Double(h), L)     // shares L(±2h): two more evaluations
                for (k, i) in idx.enumerated() { params[i].tensor.data.update(from: saved[k].data, count: saved[k].count) }
                out.append(Direction(group: name, analytic: analytic, numeric: numeric,
                                     tolerance: 1e-3 * abs(numeric) + 1e-5 * gnorm + 2 * abs(numeric - coarse) + rounding))
            }
        }
        directions = out
    }
}

/// Trains `cfg` under `tc` (6 steps) straight through, and again stopped with a checkpoint at step 3 and
/// resumed: the resumed run must equal the straight one bit for bit (weights, Adam moments, losses,
/// evaluations). Negative control: a run with another seed differs (the comparison is not vacuous).
func assertResumeIsBitIdentical(_ cfg: ModelConfig, _ tc: TrainConfig, corpus: Corpus, _ label: String,
                                file: StaticString = #filePath, line: UInt = #line) throws {
    let straight = try Trainer(model: LanguageModel(config: cfg, seed: tc.seed), config: tc, corpus: corpus)
    try straight.run(checkpointTo: nil)
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let first = try Trainer(model: LanguageModel(config: cfg, seed: tc.seed), config: tc, corpus: corpus)
    try first.run(until: 3, checkpointTo: dir)
    XCTAssertEqual(first.step, 3, label, file: file, line: line)
    let resumed = try Trainer.resume(from: dir, corpus: corpus)
    XCTAssertEqual(resumed.step, 3, label, file: file, line: line)
    XCTAssertEqual(resumed.model.config, cfg, label, file: file, line: line)
    try resumed.run(checkpointTo: dir)
    XCTAssertEqual(resumed.step, 6, label, file: file, line: line)
    for (a, b) in zip(straight.model.parameters, resumed.model.parameters) {
        XCTAssertEqual(a.name, b.name, label, file: file, line: line)
        XCTAssertTrue(bitsEqual(a.tensor, b.tensor), "\(label): parameter \(a.name) differs after resume", file: file, line: line)
    }
    for i in straight.optimizer.m.indices {
        XCTAssertTrue(bitsEqual(straight.optimizer.m[i], resumed.optimizer.m[i]) && bitsEqual(straight.optimizer.v[i], resumed.optimizer.v[i]),
                      "\(label): Adam moments of \(straight.optimizer.params[i].name) differ", file: file, line: line)
    }
    XCTAssertEqual(straight.history.map(\.loss.bitPattern), resumed.history.map(\.loss.bitPattern), "\(label): losses differ", file: file, line: line)
    XCTAssertTrue(straight.history.allSatisfy { $0.loss.isFinite }, label, file: file, line: line)
    XCTAssertEqual(straight.evaluations.map(\.loss), resumed.evaluations.map(\.loss), label, file: file, line: line)
    var other = tc; other.seed = tc.seed &+ 1
    let different = try Trainer(model: LanguageModel(config: cfg, seed: other.seed), config: other, corpus: corpus)
    try different.run(checkpointTo: nil)
    XCTAssertFalse(zip(straight.model.parameters, different.model.parameters).allSatisfy { bitsEqual($0.tensor, $1.tensor) },
                   "\(label): another seed gives the same weights", file: file, line: line)
}
