// FusedRegistryTests.swift — one test generated from the registry: for every layer the lab can build
// (the baselines, every inner-model plugin on both backbones) × every option toggle its fused kernels declare
// (`FusedTraining.fusedOptions`), the fused path ≡ the reference path for the output and for the gradient of
// every parameter and of the input, and fused decode ≡ fused prefill. A new layer, plugin or option is covered
// without editing this file (except `fusedLayers`, which states which layers must train on a fused kernel).
//
// What it asserts, beyond the equivalence:
// * which cases ran fused (the set of layers and the count); the reference-only cases are listed apart;
// * negative controls inside every fused kernel, for every fused case and option: a `.forward` fault (1 % on
//   the odd features of the fused node's output) must fail the output comparison, and a `.backward` fault
//   (1 % on the gradient the fused backward returns for the queries, or for `D` in Mamba) must fail the
//   comparison of the parameter it reaches (`fusedFaultTarget`) while the output still passes;
// * a tolerance capped at 1e-3, loosened only for the tensors listed in `loosenable`;
// * every parameter's gradient (and the input's) non-zero and finite on both paths;
// * lengths that cross every tile and chunk with a ragged last one: T = 11 on small tiles (query tile 4,
//   key tile 8, backward tile 4, chunks 5 and 6, mini-batch 4), and T = 261 on the default tiles;
// * decode ≡ prefill, with a control: a decode whose state is reset mid-sequence must fail it.
// Comparisons go through the suite's shared, NaN/Inf-aware `TensorComparison` (Tests/TestSupport).
import XCTest
@testable import Layers
import TensorCore
import TestSupport
import Zoo

final class FusedRegistryTests: XCTestCase {
    /// ‖fused − reference‖ / ‖reference‖ over each compared tensor. Both paths are Float32; they differ only
    /// by the order of summation (sgemm blockings, fused loops, the SIMD exp/tanh), which stays near 1e-6.
    static let tolerance = 1e-5
    /// Some gradients are ill-conditioned at initialisation (dL/dλ and dL/dβ_lr of a TTT layer: sums of B·H·T
    /// cancelling terms behind an inner LayerNorm whose input variance is near 0, so 1/s ≈ 1/√ε): there the
    /// reference itself moves when its input is perturbed at fp32 rounding (x·(1 ± 1e-7)). Such a tensor's
    /// tolerance is max(`tolerance`, `sensitivityFactor` × that movement), capped at `noiseCap` for every
    /// tensor and at `toleranceCap` for the tensors listed in `loosenable`.
    static let sensitivityFactor = 20.0
    static let noiseCap = 1e-4
    static let toleranceCap = 1e-3
    /// The only tensors whose tolerance may exceed `noiseCap` (asserted): the TTT layer's η-gate and
    /// inner-norm parameters (see above) and the token scale c, whose gradient is a sum over the batch.
    static let loosenable: Set<String> = ["learnable_ttt_lr_weight", "learnable_ttt_lr_bias", "learnable_token_idx",
                                          "ttt_norm_weight", "ttt_norm_bias"]
    /// The layers that must train on a fused kernel under every declared option (asserted: the set and the count).
    static let fusedLayers: Set<String> = ["attention", "linear-attention", "mamba", "ttt-linear", "ttt-mlp", "ttt-linear-m", "ttt-mlp-m"]
    /// Decode (token by token) vs prefill on the fused kernels, max |Δ| / max |prefill|.
    static let decodeTolerance = 2e-5

    struct Case: CustomStringConvertible {
        let layer: String, option: LayerOption?
        var description: String { layer + (option.map { " [\($0.name)]" } ?? "") }
    }

    /// Every registry layer × (default + each declared fused option).
    static func cases() throws -> [Case] {
        var out: [Case] = []
        for name in LayerRegistry.names {
            out.append(Case(layer: name, option: nil))
            let probe = try LayerRegistry.make(name, baseConfig(), seed: 0)
            if let fused = type(of: probe) as? any FusedTraining.Type {
                out += fused.fusedOptions.map { Case(layer: name, option: $0) }
            }
        }
        return out
    }

    /// Small but not trivial: several mini-batches / chunks / tiles and a partial last one.
    static func baseConfig() -> LayerConfig {
        var c = LayerConfig(width: 16, heads: 2)
        c.ttt.miniBatch = 4
        c.linearAttention.chunk = 4
        return c
    }

    static let B = 2
    static let thetaScale: Float = 10
    /// Below every default tile, so the tests at this length run on small tiles (`withSmallTiles`).
    static let shortT = 11
    /// Crosses every default tile and chunk (query/backward tile 128, key tile 256, chunks 64) with a ragged last one.
    static let longT = 261

    /// Runs `body` with tiles and chunks that T = 11 crosses with a ragged last one, then restores them.
    static func withSmallTiles<R>(_ body: () throws -> R) rethrows -> R {
        return try FusedTest.withTiles(FusedTest.smallTiles(query: 4, key: 8, backward: 4, linear: 5, linearTrain: 5, scan: 6), body)
    }

    struct Run { let y: Tensor; let grads: [(String, Tensor)]; let layer: SequenceLayer }

    /// Output and gradients (input first, then parameters in order) of one layer on one kernel path.
    static func run(_ c: Case, T: Int, kernels: KernelPath, fault: FusedFault? = nil, nudgeInput: Bool = false) throws -> Run {
        var cfg = baseConfig()
        c.option?.apply(&cfg)
        cfg.kernels = kernels
        let layer = try LayerRegistry.make(c.layer, cfg, seed: 11)
        FusedTest.applyTiles(layer)
        // θ_init ×10: at the init's scale (std 0.02) the inner LayerNorm sees a near-constant z̄, whose 1/√(var + ε)
        // makes the η-gate and token-scale gradients ill-conditioned beyond any fp32 tolerance.
        if let t = layer as? TTTLayer { for th in t.theta { for i in 0..<th.count { th.data[i] *= thetaScale } } }
        if let fault {
            guard let f = layer as? any FusedTraining else { throw XCTSkip("\(c) has no fused kernel to inject a fault into") }
            f.fusedFault = fault
        }
        var rng = RNG(seed: 5)
        let x = Tensor.randn([B, T, cfg.width], rng: &rng)
        let w = Tensor.randn([B, T, cfg.width], rng: &rng)
        if nudgeInput { for i in 0..<x.count { x.data[i] *= 1 + 1e-7 * Float(i % 3 - 1) } }
        x.requiringGrad()
        let y = layer(x)
        (y * w).sum().backward()
        var grads: [(String, Tensor)] = [("input", x.grad ?? Tensor(zeros: x.shape))]
        for p in layer.parameters { grads.append((p.name, p.tensor.grad ?? Tensor(zeros: p.tensor.shape))) }
        return Run(y: withNoGrad { y.copy() }, grads: grads, layer: layer)
    }

    /// Compares the output and every gradient of `a` with the reference `r`; `nudged` is the reference run on
    /// the input nudged at fp32 rounding (its own noise floor, which sets a loosened tolerance). Returns the
    /// comparison and the tensors whose tolerance was loosened above `noiseCap`.
    static func compare(_ a: Run, _ r: Run, nudged: Run) -> (TensorComparison, loosened: [String], illConditioned: [String]) {
        var cmp = TensorComparison(), loosened: [String] = [], ill: [String] = []
        cmp.add("output", a.y, r.y, tolerance: tolerance)
        for (((name, ga), (_, gr)), (_, gn)) in zip(zip(a.grads, r.grads), nudged.grads) {
            let cap = loosenable.contains(name) ? toleranceCap : noiseCap
            let movement = tensorError(gn, gr).error
            // A loosenable tensor that the reference itself cannot reproduce within the cap under an fp32-rounding
            // nudge of the input is rounding noise (e.g. LaCT's η gate at b = 1: Newton–Schulz normalises the
            // step, so η reaches the loss only through the normaliser's ε). It is not compared; `check` requires
            // it to be negligible beside the case's largest gradient instead (only when it would fail the cap).
            if loosenable.contains(name) && !(movement <= cap) && !(tensorError(ga, gr).error <= cap) { ill.append(name); continue }
            let tol = min(cap, max(tolerance, sensitivityFactor * movement))
            if tol > noiseCap { loosened.append(name) }
            cmp.add(name, ga, gr, tolerance: tol)
        }
        return (cmp, loosened, ill)
    }

    /// ‖g‖₂ in Double (+∞ when not finite).
    static func norm(_ g: Tensor) -> Double {
        var s = 0.0
        for i in 0..<g.count { let v = Double(g.data[i]); s += v * v }
        return s.isFinite ? s.squareRoot() : .infinity
    }
    /// An ill-conditioned gradient may skip the comparison only when it is this small beside the case's largest.
    static let negligible = 1e-4

    /// Parameters the layer's configuration does not use (an option turned the part off): their gradient must
    /// be exactly zero; every other one non-zero.
    static func unusedParameters(_ layer: SequenceLayer) -> Set<String> {
        guard let t = layer as? TTTLayer else { return [] }
        var u = Set<String>()
        if !t.opts.innerLN { u.formUnion(["ttt_norm_weight", "ttt_norm_bias"]) }
        if !t.opts.tokenScaling || t.inner is NonparametricInnerModel.Type { u.insert("learnable_token_idx") }   // memory learners: no c
        if t.opts.fixedEta != nil { u.formUnion(["learnable_ttt_lr_weight", "learnable_ttt_lr_bias"]) }
        if !t.opts.postNorm { u.formUnion(["post_norm.weight", "post_norm.bias"]) }
        return u
    }

    /// True when the whole sequence is one mini-batch (b ≥ T) of a plugin whose declared contract-v2 update
    /// only reaches later mini-batches: apply-then-update timing (no query reads the chunk's update, so k, v,
    /// the η gate and k's conv have no path to the loss) or rates handed only to `update` (Titans' momentum
    /// rate multiplies the previous mini-batch's momentum, zero in the first). There a gradient that is exactly
    /// zero on both paths is the right answer; any non-zero value is still compared.
    static func unreachableInOneMiniBatch(_ layer: SequenceLayer, T: Int) -> Bool {
        guard let t = layer as? TTTLayer, t.opts.miniBatch >= T else { return false }
        let f = t.inner.features
        return f.timing == .applyThenUpdate || f.rates.contains { !$0.scalesStep }
    }

    /// A gradient that is non-zero and finite (max |g| > 0).
    static func nonZero(_ g: Tensor) -> Bool {
        let m = tensorError(g, Tensor(zeros: g.shape), .absMax)
        return m.problem == nil && m.error > 0
    }

    /// One fused case against the reference at length `T`, with the fault controls; returns whether it ran fused.
    @discardableResult
    func check(_ c: Case, T: Int, loosenedSeen: inout Set<String>, worst: inout (Double, String)) throws -> Bool {
        let fused = try Self.run(c, T: T, kernels: .fused), ref = try Self.run(c, T: T, kernels: .reference)
        let nudged = try Self.run(c, T: T, kernels: .reference, nudgeInput: true)
        XCTAssertEqual(fused.grads.map(\.0), ref.grads.map(\.0), "\(c) T=\(T): parameter lists differ")
        let (cmp, loosened, ill) = Self.compare(fused, ref, nudged: nudged)
        assertPasses(cmp, "\(c) T=\(T): fused vs reference")
        let largest = ref.grads.dropFirst().map { Self.norm($0.1) }.max() ?? 0
        for name in ill {
            let gf = fused.grads.first { $0.0 == name }!.1, gr = ref.grads.first { $0.0 == name }!.1
            let ratio = max(Self.norm(gf), Self.norm(gr)) / largest
            print("\(c) T=\(T): \(name) is rounding noise (moves > \(Self.toleranceCap) under an fp32 input nudge); ‖g‖ / largest ‖g‖ = \(ratio)")
            XCTAssertTrue(ratio <= Self.negligible, "\(c) T=\(T): \(name) is ill-conditioned but not negligible (‖g‖ / largest = \(ratio) > \(Self.negligible))")
        }
        loosenedSeen.formUnion(loosened)
        XCTAssertTrue(Set(loosened).isSubset(of: Self.loosenable), "\(c) T=\(T): tolerance loosened for \(loosened), allowed only for \(Self.loosenable.sorted())")
        if let w = cmp.worst, !(w.ratio <= worst.0) { worst = (w.ratio, "\(c) T=\(T) \(w)") }
        // Every gradient is real on both paths: non-zero (a parameter with no gradient is not compared as zeros),
        // except for the parts the configuration turns off, whose gradient must be exactly zero, and the parts a
        // contract-v2 plugin's declared update cannot carry to the loss in one mini-batch (exactly zero on both).
        let unused = Self.unusedParameters(ref.layer)
        for ((name, gf), (_, gr)) in zip(fused.grads, ref.grads) {
            let exactZero = tensorError(gf, Tensor(zeros: gf.shape), .absMax).error == 0 && tensorError(gr, Tensor(zeros: gr.shape), .absMax).error == 0
            if exactZero && Self.unreachableInOneMiniBatch(ref.layer, T: T) {
                print("\(c) T=\(T): \(name) has no path to the loss (one mini-batch under a declared v2 update): gradient exactly 0 on both paths")
                continue
            }
            if unused.contains(name) {
                XCTAssertTrue(tensorError(gf, Tensor(zeros: gf.shape), .absMax).error == 0 && tensorError(gr, Tensor(zeros: gr.shape), .absMax).error == 0,
                              "\(c) T=\(T): \(name) is unused in this configuration but has a gradient")
            } else {
                XCTAssertTrue(Self.nonZero(gr) && Self.nonZero(gf), "\(c) T=\(T): the gradient of \(name) is zero or not finite")
            }
        }
        guard let f = fused.layer as? any FusedTraining, f.fusedTrainingSupported else { return false }
        // Negative controls inside the fused kernel: each fault must fail the comparison of the tensor it corrupts.
        let fwd = Self.compare(try Self.run(c, T: T, kernels: .fused, fault: .forward), ref, nudged: nudged).0
        XCTAssertFalse(fwd["output"]!.passed, "\(c) T=\(T): a 1 % fault in the fused forward passed the output check (\(fwd["output"]!))")
        let bwd = Self.compare(try Self.run(c, T: T, kernels: .fused, fault: .backward), ref, nudged: nudged).0
        XCTAssertTrue(bwd["output"]!.passed, "\(c) T=\(T): the backward fault must not touch the output (\(bwd["output"]!))")
        if let target = bwd[f.fusedFaultTarget] {
            XCTAssertFalse(target.passed, "\(c) T=\(T): a 1 % fault in the fused backward passed the check of \(target.name) (\(target))")
        } else {
            XCTFail("\(c): fusedFaultTarget '\(f.fusedFaultTarget)' is not a parameter of the layer")
        }
        return true
    }

    func testEveryLayerAndOptionFusedMatchesReference() throws {
        let cases = try Self.cases()
        XCTAssertGreaterThanOrEqual(cases.count, LayerRegistry.names.count)
        var fusedCases: [String] = [], referenceOnly: [String] = [], loosenedSeen = Set<String>(), worst: (Double, String) = (0, "")
        try Self.withSmallTiles {
            for c in cases {
                if try check(c, T: Self.shortT, loosenedSeen: &loosenedSeen, worst: &worst) { fusedCases.append(c.description) }
                else { referenceOnly.append(c.description) }
            }
        }
        print("fused ≡ reference: \(cases.count) layer × option cases; \(fusedCases.count) ran fused (each with a forward and a backward fault control); worst error/tolerance \(worst.0) at \(worst.1); tolerance loosened for \(loosenedSeen.sorted())")
        print("cases without a fused training kernel (parametric plugins: the rematerialising training node against the op-by-op graph; nadaraya-watson: op by op on both sides): \(referenceOnly.count): \(referenceOnly.joined(separator: ", "))")
        // Which cases ran fused: exactly every case of `fusedLayers`.
        let expected = cases.filter { Self.fusedLayers.contains($0.layer) }.map(\.description)
        XCTAssertEqual(fusedCases, expected, "the cases that ran on a fused training kernel")
        XCTAssertEqual(fusedCases.count, expected.count)
        XCTAssertEqual(Set(cases.map(\.layer)).intersection(Self.fusedLayers), Self.fusedLayers, "a layer of `fusedLayers` is not in the registry")
        // Every paper layer trains on a fused kernel by default.
        for name in LayerRegistry.paperLayers {
            let l = try LayerRegistry.make(name, Self.baseConfig(), seed: 0)
            XCTAssertTrue((l as? any FusedTraining)?.fusedTrainingSupported == true, "\(name) has no fused training kernel")
        }
    }

    /// The default options of every fused layer at T = 261 on the default tiles (several query/backward tiles of
    /// 128, two key tiles of 256, five chunks of 64, 66 mini-batches; each with a ragged last one).
    func testFusedLayersAcrossDefaultTiles() throws {
        var loosened = Set<String>(), worst: (Double, String) = (0, "")
        let tiles = FusedTiles()
        XCTAssertGreaterThan(Self.longT, 2 * max(tiles.attentionQuery, tiles.attentionBackward))
        XCTAssertNotEqual(Self.longT % tiles.linearTrainChunk, 0); XCTAssertNotEqual(Self.longT % tiles.mambaScanChunk, 0)
        XCTAssertNotEqual(Self.longT % tiles.attentionKey, 0); XCTAssertGreaterThan(Self.longT, tiles.attentionKey)
        for name in Self.fusedLayers.sorted() {
            XCTAssertTrue(try check(Case(layer: name, option: nil), T: Self.longT, loosenedSeen: &loosened, worst: &worst), "\(name) did not run fused")
        }
        print("fused ≡ reference at T = \(Self.longT), default tiles: worst error/tolerance \(worst.0) at \(worst.1)")
    }

    func testEveryLayerAndOptionFusedDecodeMatchesPrefill() throws {
        try Self.withSmallTiles {
            for c in try Self.cases() {
                var cfg = Self.baseConfig()
                c.option?.apply(&cfg)
                let layer = try LayerRegistry.make(c.layer, cfg, seed: 11)
                FusedTest.applyTiles(layer)
                let T = Self.shortT
                let x = BT.randn([Self.B, T, cfg.width], seed: 8)
                let prefill = withNoGrad { layer(x) }
                func decode(resetAt reset: Int?) -> Tensor {
                    var st = layer.makeState(batch: Self.B)
                    var outs = [layer.step(x.slicedRaw(axis: 1, 0, 5), state: st)]
                    for t in 5..<T {
                        if t == reset { st = layer.makeState(batch: Self.B) }
                        outs.append(layer.step(x.slicedRaw(axis: 1, t, t + 1), state: st))
                    }
                    return withNoGrad { concat(outs, axis: 1) }
                }
                assertClose(decode(resetAt: nil), prefill, tolerance: Self.decodeTolerance, .relMax, "\(c): decode ≠ prefill")
                // Control: the state not carried from token 7 on (a fresh state) must fail the same check.
                assertDiffers(decode(resetAt: 7), prefill, by: 100 * Self.decodeTolerance, .relMax, "\(c): decode with a reset state")
            }
        }
    }
}
