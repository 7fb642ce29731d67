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
/// `backward()`, `numeric` the fourth-order central difference n(h) of L(θ + s·u) in s (TestSupport
/// `centralDifference`). The step is chosen per group on its first direction (Ridders' rule): of
/// h = 2⁰ … 2⁻⁶ (a unit direction over hundreds of entries moves each by ≲ h/10), the one where n(h) and
/// n(2h) agree best, so small block derivatives are not lost in the loss's Float32 rounding. A direction passes when
///     |analytic − numeric| ≤ 1e-3·|numeric| + 1e-5·‖∇L_group‖₂ + 2·|n(h) − n(2h)| + 2·ulp(L)/h
/// (the floor scales with the gradient's size, |⟨∇L, u⟩| ≤ ‖∇L_group‖; the next term is the difference
/// quotient's own error; the last the rounding of L, which is evaluated in Double from the Float32 logits —
/// not quantised to ulp(L) ≈ 2.4e-7, which hid the Mamba-backbone blocks' derivatives of ≈ 1e-4…1e-3 —
/// σ_L = ε₃₂‖(p − y)⊙z‖₂/N). `passes(analyticScale: 1.01)` is the negative control (must fail).
/// The parameters are restored.
struct DirectionalDerivative {
    struct Direction { let group: String, analytic: Double, numeric: Double, tolerance: Double
        var ratio: Double { let r = abs(analytic - numeric) / tolerance; return r.isFinite ? r : .infinity }
    }
    let directions: [Direction]
    /// Worst |analytic − numeric| / tolerance over all directions (+∞ for NaN); ≤ 1 passes.
    var worst: Direction { directions.max { $0.ratio < $1.ratio }! }
    var passed: Bool { !directions.isEmpty && directions.allSatisfy { $0.ratio <= 1 } }
    var groups: Set<String> { Set(directions.map(\.group)) }

    /// The same check with every analytic derivative scaled by `scale` (the negative control's fault: a
    /// gradient off by 1 % for scale 1.01), on the same numeric derivatives and tolerances.
    func passes(analyticScale scale: Double) -> Bool {
        !directions.isEmpty && directions.allSatisfy { d in
            let r = abs(d.analytic * scale - d.numeric) / d.tolerance
            return r <= 1
        }
    }

    /// Directions whose tolerance is below 0.5 % of the derivative: a 1 % error fails them.
    var sharp: [Direction] { directions.filter { $0.tolerance < 5e-3 * abs($0.numeric) } }

    static func defaultGroup(_ name: String) -> String {
        let parts = name.split(separator: ".").map(String.init)
        guard let i = parts.firstIndex(of: "layers"), i + 1 < parts.count else { return "embedding, head, final norm" }
        return "block \(parts[i + 1]) " + (name.contains("seq_modeling_block.") ? "sequence layer" : "other")
    }

    /// Row `i` of logits with `V` columns, in Double: its maximum `m` and Σ_j exp(z_j − m).
    static func rowMaxAndExpSum(_ z: Tensor, row i: Int, columns V: Int) -> (m: Double, e: Double) {
        var m = -Double.infinity
        for j in 0..<V { m = max(m, Double(z.data[i * V + j])) }
        var e = 0.0
        for j in 0..<V { e += exp(Double(z.data[i * V + j]) - m) }
        return (m, e)
    }

    /// Mean next-token cross-entropy of Float32 logits [B, T, V], in Double (the model's `loss`, unrounded).
    static func crossEntropy(_ z: Tensor, targets: [Int]) -> Double {
        let V = z.shape.last!, n = targets.count
        var s = 0.0
        for i in 0..<n {
            let (m, e) = rowMaxAndExpSum(z, row: i, columns: V)
            s += m + log(e) - Double(z.data[i * V + targets[i]])
        }
        return s / Double(n)
    }

    /// ε₃₂·‖(softmax(z) − onehot)⊙z‖₂ / N: the standard deviation of `crossEntropy` under independent
    /// Float32 rounding of the logits.
    static func logitRounding(_ z: Tensor, targets: [Int]) -> Double {
        let V = z.shape.last!, n = targets.count
        var s = 0.0
        for i in 0..<n {
            let (m, e) = rowMaxAndExpSum(z, row: i, columns: V)
            for j in 0..<V {
                let zj = Double(z.data[i * V + j]), p = exp(zj - m) / e - (j == targets[i] ? 1 : 0)
                s += p * p * zj * zj
            }
        }
        return Double(Float.ulpOfOne) * s.squareRoot() / Double(n)
    }

    init(_ model: LanguageModel, batch B: Int, x: [Int], y: [Int], selected: (Param) -> Bool = { _ in true },
         group: (String) -> String = DirectionalDerivative.defaultGroup, directions count: Int = 4, seed: UInt64,
         ) {
        let params = model.parameters
        for p in params { p.tensor.zeroGrad() }
        let L0 = model.loss(inputs: x, targets: y, batch: B)
        L0.backward()
        let g = params.map { $0.tensor.grad ?? Tensor(zeros: $0.tensor.shape) }
        for p in params { p.tensor.zeroGrad() }
        // L is evaluated in Double from the Float32 logits (`loss()`), so it is not quantised to ulp(L); its
        // rounding is that of the logits, ε₃₂|z| each, seen through ∂L/∂z = (softmax − onehot)/N as independent
        // errors: σ_L = ε₃₂·‖(p − y)⊙z‖₂/N (at θ₀), ≈ 1.5σ_L/h through the difference quotient.
        let sigmaL = DirectionalDerivative.logitRounding(withNoGrad { model.logits(x, batch: B) }, targets: y)
        var byGroup: [String: [Int]] = [:]
        for (i, p) in params.enumerated() where selected(p) { byGroup[group(p.name), default: []].append(i) }
        var rng = RNG(seed: seed)
        func loss() -> Double { DirectionalDerivative.crossEntropy(withNoGrad { model.logits(x, batch: B) }, targets: y) }
        var out: [Direction] = []
        for name in byGroup.keys.sorted() {
            let idx = byGroup[name]!
            var gnorm = 0.0
            for i in idx { for j in 0..<g[i].count { gnorm += Double(g[i].data[j]) * Double(g[i].data[j]) } }
            gnorm = gnorm.squareRoot()
            var levels = Array(0...6)                            // h = 2⁻ᵏ; scanned on the group's first direction
            for _ in 0..<count {
                var u = idx.map { Tensor.randn(params[$0].tensor.shape, rng: &rng) }
                let n = u.reduce(0.0) { acc, t in acc + (0..<t.count).reduce(0.0) { $0 + Double(t.data[$1]) * Double(t.data[$1]) } }.squareRoot()
                u = u.map { $0 * Float(1 / n) }
                var analytic = 0.0
                for (k, i) in idx.enumerated() { for j in 0..<u[k].count { analytic += Double(g[i].data[j]) * Double(u[k].data[j]) } }
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
                var best = (numeric: Double.nan, spread: Double.infinity, h: 1.0, level: 0)
                var coarse = centralDifference(step: 2 / Double(1 << levels[0]), L)
                for k in levels {
                    let h = 1 / Double(1 << k), numeric = centralDifference(step: h, L)
                    let spread = abs(numeric - coarse)
                    if !(spread >= best.spread) { best = (numeric, spread, h, k) }
                    coarse = numeric
                }
                levels = [best.level]
                for (k, i) in idx.enumerated() { params[i].tensor.data.update(from: saved[k].data, count: saved[k].count) }
                out.append(Direction(group: name, analytic: analytic, numeric: best.numeric,
                                     tolerance: 1e-3 * abs(best.numeric) + 1e-5 * gnorm + 2 * best.spread + 4 * sigmaL / best.h))
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
