// GoldenFixtureTests.swift — the lab against fixtures written by the official implementations
// (ttt-lm-pytorch's TTT layers and TTTForCausalLM, transformers' LlamaForCausalLM and MambaForCausalLM).
//
// The fixtures (Tests/Fixtures/golden/, written by scripts/make-golden.sh, not in CI) hold inputs, weights,
// outputs and gradients computed by the official code in float64; this file checks the lab against them with
// its own safetensors reader (`loadWeights`, the layout `lab run-layer --weights` reads) and Hugging Face
// import (`HFCheckpoint.importDirectory`), no Python. This is the independent check of what feeds the inner
// loop — the η gate, c_i, RoPE within mini-batches, the Mamba-backbone convolutions and gate, the post-norm —
// and of the whole models around it.
//
// Tolerance (every comparison): per tensor, max |lab − official| ≤ 1e-5 · max |official| (absolute 1e-5
// when the official tensor is all zeros); any non-finite value in either tensor, or a shape mismatch, fails.
// Each check has negative controls that perturb the loaded config or weights by the fault they name.
import Foundation
import XCTest
@testable import Layers
@testable import Models
import TensorCore
import Zoo

/// Where the fixtures are: Tests/Fixtures/golden beside this test target's folder (found from this file's
/// path, so `swift test` reads them in place in any clone).
let goldenFixtureDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/golden")

/// Per-tensor errors of the lab against an official fixture, worst first.
///
/// ```swift
/// var c = GoldenComparison()
/// c.add("output", lab: y, official: golden["output"]!)
/// XCTAssertTrue(c.passes, c.report)        // every tensor ≤ 1e-5 relative to its own max |value|, all finite
/// ```
struct GoldenComparison {
    /// Relative tolerance: max |lab − official| / max |official| per tensor.
    static let tolerance = 1e-5
    private(set) var errors: [(name: String, error: Double)] = []

    /// Adds one tensor's error (+∞ for a shape mismatch or any non-finite value in either tensor).
    mutating func add(_ name: String, lab: Tensor, official: Tensor) {
        errors.append((name, GoldenComparison.error(lab, official)))
    }

    static func error(_ a: Tensor, _ b: Tensor) -> Double {
        guard a.shape == b.shape else { return .infinity }
        var diff = 0.0, scale = 0.0
        for i in 0..<a.count {
            let x = Double(a.data[i]), y = Double(b.data[i])
            guard x.isFinite, y.isFinite else { return .infinity }
            diff = max(diff, abs(x - y)); scale = max(scale, abs(y))
        }
        return diff / (scale > 0 ? scale : 1)
    }

    /// The worst tensor and its error.
    var worst: (name: String, error: Double) { errors.max { $0.error < $1.error } ?? ("(nothing compared)", .infinity) }
    /// True when at least one tensor was compared and every error is within the tolerance (NaN fails).
    var passes: Bool { !errors.isEmpty && errors.allSatisfy { $0.error <= GoldenComparison.tolerance } }
    /// True when the tensor `name` was compared and is outside the tolerance (a control's expected result).
    func fails(_ name: String) -> Bool { errors.contains { $0.name == name && !($0.error <= GoldenComparison.tolerance) } }
    /// The error of tensor `name` (nil when it was not compared), as text.
    func error(of name: String) -> String { errors.first { $0.name == name }.map { String(format: "%.2e", $0.error) } ?? "—" }
    var report: String {
        "worst \(worst.name) \(String(format: "%.2e", worst.error)) (tolerance \(GoldenComparison.tolerance)) over \(errors.count) tensors"
    }
}

/// A fixture file and its metadata.
struct GoldenFile {
    let url: URL
    let file: SafetensorsFile
    init(_ url: URL) throws { self.url = url; file = try SafetensorsFile.read(url) }
    func tensor(_ name: String) throws -> Tensor {
        guard let t = file.tensors[name] else { throw LabError.badFile(path: url.path, problem: "no tensor '\(name)' — regenerate with scripts/make-golden.sh") }
        return t
    }
    func meta(_ key: String) throws -> String {
        guard let v = file.metadata[key], !v.isEmpty else { throw LabError.badFile(path: url.path, problem: "no metadata '\(key)' — regenerate with scripts/make-golden.sh") }
        return v
    }
    func int(_ key: String) throws -> Int { try Int(meta(key)).orThrow(url, key) }
    func float(_ key: String) throws -> Float { try Float(meta(key)).orThrow(url, key) }
    func bool(_ key: String) throws -> Bool { try meta(key) == "True" }
    /// The names after "grad." of the stored gradients.
    var gradientNames: Set<String> { Set(file.tensors.keys.filter { $0.hasPrefix("grad.") }.map { String($0.dropFirst(5)) }) }
}

private extension Optional {
    func orThrow(_ url: URL, _ key: String) throws -> Wrapped {
        guard let v = self else { throw LabError.badFile(path: url.path, problem: "metadata '\(key)' is not a number") }
        return v
    }
}

/// A gradient in the layout its parameter has in files (PyTorch's), e.g. (out, in) for a linear map.
func fileLayoutGradient(_ p: Param) throws -> Tensor {
    let g = p.tensor.grad ?? Tensor(zeros: p.tensor.shape)
    return try fileLayout(Param(p.name, g, transposeInFile: p.transposeInFile, fileShape: p.fileShape), path: "(gradient)")
}

/// Copies a file tensor's values into a parameter as they lie, skipping the layout change the loader applies
/// (the "read without transposing" fault of the negative controls).
func copyRaw(_ src: Tensor, into dst: Tensor) {
    precondition(src.count == dst.count, "copyRaw: \(src.count) vs \(dst.count) values")
    dst.data.update(from: src.data, count: dst.count)
}

final class GoldenFixtureTests: XCTestCase {
    // MARK: TTT layers (ttt-lm-pytorch TTTLinear / TTTMLP, both backbones, a partial last mini-batch)

    static let layerCases = ["ttt-linear", "ttt-mlp", "ttt-linear-m", "ttt-mlp-m"]

    /// The lab layer of fixture `name` with the official weights loaded by `loadWeights`, its fixture, and the
    /// raw weights file (for the controls). `change` edits the config before the layer is built.
    func layerCase(_ name: String, kernels: KernelPath, change: (inout LayerConfig) -> Void = { _ in }) throws
        -> (layer: TTTLayer, golden: GoldenFile, weights: SafetensorsFile) {
        let dir = goldenFixtureDirectory.appendingPathComponent("layer-\(name)")
        let g = try GoldenFile(dir.appendingPathComponent("golden.safetensors"))
        XCTAssertEqual(try g.meta("layer"), name)
        var cfg = LayerConfig(width: try g.int("hidden_size"), heads: try g.int("num_attention_heads"))
        cfg.ttt.miniBatch = try g.int("mini_batch_size")
        cfg.ttt.baseLR = try g.float("ttt_base_lr")
        cfg.ropeTheta = try g.float("rope_theta")
        cfg.convWidth = try g.int("conv_kernel")
        XCTAssertEqual(try g.bool("share_qk"), name.hasSuffix("-m"))
        XCTAssertEqual(try g.bool("use_gate"), name.hasSuffix("-m"))
        XCTAssertEqual(try g.meta("ttt_layer_type"), name.contains("mlp") ? "mlp" : "linear")
        cfg.kernels = kernels
        change(&cfg)
        let layer = try XCTUnwrap(try LayerRegistry.make(name, cfg, seed: 0) as? TTTLayer)
        let weightsURL = dir.appendingPathComponent("weights.safetensors")
        try loadWeights(into: layer.parameters, from: weightsURL)            // exact official names, shapes, layouts
        return (layer, g, try SafetensorsFile.read(weightsURL))
    }

    /// Output and every gradient of L = Σ y·dy (training forward), the no-grad output, and the token-by-token
    /// decode output, each compared with the official values.
    func compareLayer(_ layer: TTTLayer, _ g: GoldenFile) throws -> GoldenComparison {
        var c = GoldenComparison()
        let x = try g.tensor("input"), official = try g.tensor("output")
        c.add("output (no grad)", lab: withNoGrad { layer(x) }, official: official)
        let xg = x.copy().requiringGrad()
        for p in layer.parameters { p.tensor.zeroGrad() }
        let y = layer(xg)
        y.backward(seed: try g.tensor("dy"))
        c.add("output", lab: y.detached(), official: official)
        c.add("grad.input", lab: xg.grad ?? Tensor(zeros: x.shape), official: try g.tensor("grad.input"))
        XCTAssertEqual(Set(layer.parameters.map(\.name)), g.gradientNames.subtracting(["input"]),
                       "the fixture's gradients are the layer's parameters, all of them")
        for p in layer.parameters { c.add("grad.\(p.name)", lab: try fileLayoutGradient(p), official: try g.tensor("grad.\(p.name)")) }
        for p in layer.parameters { p.tensor.zeroGrad() }
        // Decode: the primal form token by token from an empty state equals the official (dual-form) prefill.
        let state = layer.makeState(batch: x.dim(0))
        let steps = (0..<x.dim(1)).map { t in layer.step(x.slice(axis: 1, t, t + 1).copy(), state: state) }
        c.add("output (decode)", lab: concat(steps, axis: 1), official: official)
        return c
    }

    func testTTTLayersMatchOfficialOutputsAndGradients() throws {
        for name in Self.layerCases {
            for kernels in KernelPath.allCases {
                let (layer, g, _) = try layerCase(name, kernels: kernels)
                let c = try compareLayer(layer, g)
                XCTAssertTrue(c.passes, "\(name) \(kernels): \(c.report)")
                print("golden \(name) \(kernels): \(c.report)")
            }
        }
    }

    /// Each control perturbs one input of the inner loop by the fault it names; the comparison must fail
    /// on the output (and so cannot be passing by accident).
    func testTTTLayerControlsFailByTheirFault() throws {
        typealias Control = (name: String, applies: (String) -> Bool, change: (inout LayerConfig) -> Void,
                             damage: (TTTLayer, SafetensorsFile) throws -> Void)
        let all: (String) -> Bool = { _ in true }, mamba: (String) -> Bool = { $0.hasSuffix("-m") }
        let controls: [Control] = [
            ("η gate: base lr ×1.01", all, { $0.ttt.baseLR! *= 1.01 }, { _, _ in }),
            ("c_i token scaling dropped (c_i = 1)", all, { $0.ttt.tokenScaling = false }, { _, _ in }),
            ("RoPE θ 10000 → 10100", all, { $0.ropeTheta = 10100 }, { _, _ in }),
            ("post-norm dropped", all, { $0.ttt.postNorm = false }, { _, _ in }),
            ("inner LN γ, β swapped between heads 0 and 1", all, { _ in }, { l, _ in
                for t in [l.innerGamma, l.innerBeta] {
                    let d = l.d, row0 = Array(UnsafeBufferPointer(start: t.data, count: d))
                    (t.data).update(from: t.data + d, count: d); (t.data + d).update(from: row0, count: d)
                }
            }),
            ("conv_q / conv_k read without the (D,1,k) → (k,D) transpose", mamba, { _ in }, { l, w in
                copyRaw(w.tensors["conv_q.weight"]!, into: l.convQ!.w); copyRaw(w.tensors["conv_k.weight"]!, into: l.convK!.w)
            }),
            ("gate g_proj read without the (out,in) → (in,out) transpose", mamba, { _ in }, { l, w in
                copyRaw(w.tensors["g_proj.weight"]!, into: l.wg!)
            }),
        ]
        for name in Self.layerCases {
            for control in controls where control.applies(name) {
                let (layer, g, w) = try layerCase(name, kernels: .fused, change: control.change)
                try control.damage(layer, w)
                let c = try compareLayer(layer, g)
                XCTAssertTrue(c.fails("output") && c.fails("output (no grad)") && c.fails("output (decode)"),
                              "control '\(control.name)' on \(name) went undetected: \(c.report)")
                print("golden control \(name) '\(control.name)': output \(c.error(of: "output")); \(c.report)")
            }
            // A fault inside the fused backward only: the outputs still match, a gradient must not.
            let (layer, g, _) = try layerCase(name, kernels: .fused)
            layer.fusedBackwardFault = .dropStateCarry
            let c = try compareLayer(layer, g)
            XCTAssertFalse(c.fails("output"), "\(name): the backward fault changed the forward: \(c.report)")
            XCTAssertTrue(c.fails("grad.input") || c.fails("grad.W1"), "\(name): dL/dθ not carried across mini-batches went undetected: \(c.report)")
            print("golden control \(name) 'fused backward drops dL/dθ across mini-batches': output \(c.error(of: "output")), grad.input \(c.error(of: "grad.input")); \(c.report)")
        }
    }

    /// RoPE within mini-batches: the layer's own stages (projections, RoPE, η, c, inner LN, inner loop, output
    /// projection) assembled by hand with RoPE at t mod b match the official output; the same assembly with the
    /// positions not reset per mini-batch (t), or shifted by one ((t + 1) mod b), must not.
    func testRoPEPositionsWithinMiniBatchesAgainstOfficial() throws {
        for name in Self.layerCases {
            let (layer, g, _) = try layerCase(name, kernels: .reference)
            let x = try g.tensor("input"), official = try g.tensor("output")
            let (T, b) = (x.dim(1), layer.b)
            XCTAssertNotEqual(T % b, 0, "the fixture ends in a partial mini-batch")
            func assembled(_ positions: [Int]) -> Tensor {
                withNoGrad {
                    var none: Tensor? = nil
                    let m = layer.mixerInputs(x, start: 0, ropePositions: positions, convHistory: &none)
                    return layer.outputProjection(layer.innerLoop(m, batch: x.dim(0)), h: x)
                }
            }
            let right = GoldenComparison.error(assembled((0..<T).map { $0 % b }), official)
            XCTAssertTrue(right <= GoldenComparison.tolerance, "\(name): the hand-assembled layer is off by \(right)")
            let notReset = GoldenComparison.error(assembled(Array(0..<T)), official)
            let shifted = GoldenComparison.error(assembled((0..<T).map { ($0 + 1) % b }), official)
            XCTAssertFalse(notReset <= GoldenComparison.tolerance, "\(name): RoPE at t instead of t mod b went undetected (\(notReset))")
            XCTAssertFalse(shifted <= GoldenComparison.tolerance, "\(name): RoPE at (t + 1) mod b went undetected (\(shifted))")
            print(String(format: "golden RoPE %@: t mod b %.2e; control t %.2e; control (t+1) mod b %.2e", name, right, notReset, shifted))
        }
    }

    // MARK: whole models (TTTForCausalLM both backbones, LlamaForCausalLM, MambaForCausalLM)

    static let modelCases = ["ttt-linear", "ttt-mlp-m", "llama", "mamba"]

    /// The imported model of fixture `name`, its fixture, the token ids and batch, and the raw model file.
    func modelCase(_ name: String) throws -> (model: LanguageModel, golden: GoldenFile, ids: [Int], batch: Int, weights: SafetensorsFile) {
        let dir = goldenFixtureDirectory.appendingPathComponent("lm-\(name)")
        let run = try HFCheckpoint.importDirectory(dir)
        let g = try GoldenFile(dir.appendingPathComponent("golden.safetensors"))
        let idsT = try g.tensor("input_ids")
        XCTAssertEqual(idsT.rank, 2)
        let ids = (0..<idsT.count).map { Int(idsT.data[$0]) }
        XCTAssertTrue((0..<idsT.count).allSatisfy { Float(ids[$0]) == idsT.data[$0] && ids[$0] >= 0 && ids[$0] < run.model.config.vocab },
                      "\(name): input_ids are not token ids")
        return (run.model, g, ids, idsT.dim(0), try SafetensorsFile.read(dir.appendingPathComponent("model.safetensors")))
    }

    /// Logits (no grad, and of the decode form), the next-token loss and every parameter's gradient under HF names.
    func compareModel(_ model: LanguageModel, _ g: GoldenFile, ids: [Int], batch B: Int) throws -> GoldenComparison {
        var c = GoldenComparison()
        let official = try g.tensor("logits")
        c.add("logits", lab: withNoGrad { model.logits(ids, batch: B) }, official: official)
        c.add("logits (decode)", lab: model.step(ids, batch: B, state: model.makeState(batch: B)), official: official)
        let T = ids.count / B
        let inputs = (0..<B).flatMap { b in ids[(b * T)..<(b * T + T - 1)] }, targets = (0..<B).flatMap { b in ids[(b * T + 1)..<(b * T + T)] }
        for p in model.parameters { p.tensor.zeroGrad() }
        let loss = model.loss(inputs: inputs, targets: targets, batch: B)
        loss.backward()
        c.add("loss", lab: loss.detached().reshape([1]), official: try g.tensor("loss"))
        let hf = try HFLayout.tensors(of: model)
        XCTAssertEqual(Set(hf.map(\.name)), g.gradientNames, "the fixture's gradients are the model's parameters, all of them")
        for t in hf {
            var grad = try fileLayoutGradient(t.param)
            if let H = t.permutedHeads { grad = HFLayout.permuteRows(grad, heads: H, toHF: true) }
            c.add("grad.\(t.name)", lab: grad, official: try g.tensor("grad.\(t.name)"))
        }
        for p in model.parameters { p.tensor.zeroGrad() }
        return c
    }

    func testModelsMatchOfficialLogitsLossAndGradients() throws {
        for name in Self.modelCases {
            for kernels in KernelPath.allCases {
                let (model, g, ids, B, _) = try modelCase(name)
                model.kernels = kernels
                let c = try compareModel(model, g, ids: ids, batch: B)
                XCTAssertTrue(c.passes, "lm \(name) \(kernels): \(c.report)")
                print("golden lm \(name) \(kernels): \(c.report)")
            }
        }
    }

    /// One named fault per model, made by perturbing a loaded weight; logits and gradients must both fail.
    func testModelControlsFailByTheirFault() throws {
        let controls: [String: (fault: String, damage: (LanguageModel, SafetensorsFile) throws -> Void)] = [
            "ttt-linear": ("c_i offsets λ (learnable_token_idx) of block 0 ignored", { m, _ in
                let t = try XCTUnwrap(m.parameters.first { $0.name == "model.layers.0.seq_modeling_block.learnable_token_idx" }).tensor
                for i in 0..<t.count { t.data[i] = 0 }
            }),
            "ttt-mlp-m": ("pre-conv weight read without the (D,1,k) → (k,D) transpose", { m, w in
                copyRaw(w.tensors["model.layers.0.conv.conv.weight"]!, into: try XCTUnwrap(m.blocks[0].preConv).weight)
            }),
            "llama": ("q/k rows left in Llama's half-split RoPE order (not permuted to the lab's pairs)", { m, w in
                for t in try HFLayout.tensors(of: m) where t.permutedHeads != nil {
                    let src = w.tensors[t.name]!, s = t.param.tensor.shape
                    transposeLastTwo(src.data, into: t.param.tensor.data, batch: 1, rows: s[1], cols: s[0])
                }
            }),
            "mamba": ("conv1d weight read without the (E·D,1,k) → (k,E·D) transpose", { m, w in
                for t in try HFLayout.tensors(of: m) where t.name.hasSuffix("mixer.conv1d.weight") { copyRaw(w.tensors[t.name]!, into: t.param.tensor) }
            }),
        ]
        XCTAssertEqual(Set(controls.keys), Set(Self.modelCases))
        for name in Self.modelCases {
            let control = controls[name]!
            let (model, g, ids, B, w) = try modelCase(name)
            try control.damage(model, w)
            let c = try compareModel(model, g, ids: ids, batch: B)
            XCTAssertTrue(c.fails("logits") && c.fails("logits (decode)") && c.fails("loss"),
                          "lm \(name): control '\(control.fault)' went undetected in the logits: \(c.report)")
            XCTAssertTrue(c.errors.contains { $0.name.hasPrefix("grad.") && !($0.error <= GoldenComparison.tolerance) },
                          "lm \(name): control '\(control.fault)' went undetected in the gradients: \(c.report)")
            print("golden control lm \(name) '\(control.fault)': logits \(c.error(of: "logits")); \(c.report)")
        }
    }

    // MARK: the fixtures themselves

    /// Every fixture records what made it, and the comparison refuses NaN, ±Inf and shape mismatches.
    func testFixturesRecordVersionsAndTheComparisonFailsOnNonFinite() throws {
        let files = Self.layerCases.map { "layer-\($0)/golden.safetensors" } + Self.modelCases.map { "lm-\($0)/golden.safetensors" }
        for f in files {
            let g = try GoldenFile(goldenFixtureDirectory.appendingPathComponent(f))
            for key in ["torch", "transformers", "ttt_lm_pytorch_commit"] { XCTAssertFalse(try g.meta(key).isEmpty, "\(f): \(key)") }
            XCTAssertEqual(try g.meta("ttt_lm_pytorch_commit").count, 40, "\(f): a full commit hash")
        }
        let a = Tensor([1, 2, 3, 4], shape: [4])
        for bad in [Float.nan, .infinity, -.infinity] {
            let b = a.copy(); b.data[0] = bad                                      // not the last element
            var c = GoldenComparison()
            c.add("lab side", lab: b, official: a); XCTAssertFalse(c.passes)
            c = GoldenComparison()
            c.add("official side", lab: a, official: b); XCTAssertFalse(c.passes)
            c = GoldenComparison()
            c.add("bad", lab: b, official: a); c.add("good", lab: a, official: a)   // a later good tensor hides nothing
            XCTAssertFalse(c.passes); XCTAssertEqual(c.worst.name, "bad")
        }
        var c = GoldenComparison()
        c.add("shape", lab: a, official: a.reshape([2, 2])); XCTAssertFalse(c.passes)
        XCTAssertFalse(GoldenComparison().passes, "an empty comparison passes nothing")
        c = GoldenComparison()
        let near = a.copy(); near.data[3] = 4 * (1 + 2e-5)                         // 2e-5 relative: outside 1e-5
        c.add("near", lab: near, official: a); XCTAssertFalse(c.passes)
        c = GoldenComparison()
        near.data[3] = 4 * (1 + 5e-6); c.add("near", lab: near, official: a); XCTAssertTrue(c.passes)
    }
}
