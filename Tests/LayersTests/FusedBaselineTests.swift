// FusedBaselineTests.swift — the fused TRAINING kernels of softmax attention (FlashAttention-2 style), linear
// attention (chunked, simple variant) and Mamba (checkpointed scan) equal their reference paths in output and in
// every gradient (each parameter and the input), under every option their `fusedOptions` list; a perturbed
// backward fails the same check; gradients are bit-identical run to run; a NaN/Inf at the last token leaves every
// earlier output bit-identical on both kernel paths.
import XCTest
@testable import Layers
import TensorCore
import TestSupport
import Zoo

final class FusedBaselineTests: XCTestCase {
    static let names = ["attention", "linear-attention", "mamba"]

    /// Tolerance of fused vs reference, ‖a − r‖₂/‖r‖₂ over a whole output or gradient. Both sides are Float32
    /// sums of the same terms in different orders (tiles, chunks, online-softmax rescaling, checkpoint
    /// recompute, SIMD exp ≈ 1 ulp); over these sizes that reassociation stays ≲ 1e-6, so 1e-5 leaves
    /// a 10× margin while the negative controls below (a small constant added to one backward output) must land above it.
    static let tolerance: Float = 1e-5

    /// ‖a − r‖₂ / max(‖r‖₂, floor) (Double accumulation).
    static func rel(_ a: Tensor, _ r: Tensor, floor: Double = 1e-15) -> Float {
        precondition(a.shape == r.shape, "rel: \(a.shape) vs \(r.shape)")
        return Float(tensorError(a, r, .relNorm, floor: floor).error)      // shared, NaN/Inf-aware (TestSupport)
    }

    /// Output, parameter gradients (in `parameters` order) and the input gradient of loss = Σ y ⊙ w, on `path`.
    static func train(_ l: SequenceLayer, _ x: Tensor, _ w: Tensor, _ path: KernelPath) -> (y: Tensor, grads: [(String, Tensor)], gx: Tensor) {
        l.withKernels(path) {
            for p in l.parameters { p.tensor.zeroGrad() }
            let xi = x.copy().requiringGrad()
            let y = l(xi)
            (y * w).sum().backward()
            let grads = l.parameters.map { ($0.name, $0.tensor.grad ?? Tensor(zeros: $0.tensor.shape)) }
            return (y, grads, xi.grad ?? Tensor(zeros: x.shape))
        }
    }

    static let small = FusedTest.smallTiles(query: 8, key: 16, backward: 8, linearTrain: 5, scan: 6)

    /// Small tiles/chunks so that every case occurs at T = 37 (skipped, diagonal, full, ragged tiles).
    func withSmallTiles(_ body: () throws -> Void) rethrows {
        try FusedTest.withTiles(Self.small, body)
    }

    static func options(_ name: String) -> [LayerOption] {
        let base = LayerOption("default") { _ in }
        switch name {
        case "attention": return [base] + SelfAttention.fusedOptions
        case "linear-attention": return [base] + LinearAttention.fusedOptions
        default: return [base] + Mamba.fusedOptions
        }
    }

    static func scale(_ name: String) -> Float { name == "mamba" ? 3 : name == "attention" ? 4 : 1 }

    /// Fused ≡ reference: output and every gradient, each layer × each option, small tiles (T = 37, B = 2) and the
    /// default tiles, to `tolerance`.
    func testFusedTrainingMatchesReference() throws {
        for small in [true, false] {
            let run = {
                for name in Self.names {
                    for opt in Self.options(name) {
                        let l = try FusedTest.layer(name, scale: Self.scale(name), configure: opt.apply)
                        if let f = l as? any FusedTraining { XCTAssertTrue(f.fusedTrainingSupported, "\(name) \(opt)") }
                        let x = randomInput([2, 37, 32], seed: 31), w = randomInput([2, 37, 32], seed: 32)
                        let f = Self.train(l, x, w, .fused), r = Self.train(l, x, w, .reference)
                        let tag = "\(name) [\(opt)] \(small ? "small tiles" : "default tiles")"
                        XCTAssertLessThan(Self.rel(f.y, r.y), Self.tolerance, "\(tag): output")
                        XCTAssertLessThan(Self.rel(f.gx, r.gx), Self.tolerance, "\(tag): input gradient")
                        for ((n, a), (_, b)) in zip(f.grads, r.grads) {
                            XCTAssertLessThan(Self.rel(a, b), Self.tolerance, "\(tag): gradient of \(n)")
                        }
                    }
                }
            }
            if small { try withSmallTiles(run) } else { try run() }
        }
    }

    /// Sequences shorter than any tile or chunk (T = 1, 2, 3) and one sequence (B = 1): fused ≡ reference. At T = 1
    /// attention's q/k gradients are exactly 0 (a one-key softmax is constant) and the fused backward leaves a
    /// rounding residue (the backward recomputes S in other tiles, so P = exp(S − L) is 1 ± 1 ulp); errors here are
    /// measured against max(‖r‖₂, the largest reference parameter-gradient norm of the run).
    func testTinyLengths() throws {
        for name in Self.names {
            let l = try FusedTest.layer(name, scale: Self.scale(name))
            for (b, t) in [(1, 1), (2, 2), (1, 3)] {
                let x = randomInput([b, t, 32], seed: 81), w = randomInput([b, t, 32], seed: 82)
                let f = Self.train(l, x, w, .fused), r = Self.train(l, x, w, .reference)
                XCTAssertLessThan(Self.rel(f.y, r.y), Self.tolerance, "\(name) B \(b) T \(t): output")
                XCTAssertLessThan(Self.rel(f.gx, r.gx), Self.tolerance, "\(name) B \(b) T \(t): input gradient")
                let scale = r.grads.map { g in g.1.array.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }.max()!
                for ((n, a), (_, c)) in zip(f.grads, r.grads) {
                    XCTAssertLessThan(Self.rel(a, c, floor: scale), Self.tolerance, "\(name) B \(b) T \(t): \(n)")
                }
            }
        }
    }

    /// The fused kernels on their own heads inputs against the reference ops, with a deliberately perturbed backward
    /// (the test hook adds 1e-3 or 1e-2 to one gradient) as the negative control: the same check must fail.
    func testKernelsAgainstReferenceOpsAndNegativeControls() throws {
        withSmallTiles { for bh in [1, 3] {          // bh < 2·threads: key-tile groups with dQ partials
            let (t, d) = (37, 8)
            let q = randomInput([bh, t, d], seed: 41), k = randomInput([bh, t, d], seed: 42), v = randomInput([bh, t, d], seed: 43)
            let w = randomInput([bh, t, d], seed: 44)
            func grads(_ f: (Tensor, Tensor, Tensor) -> Tensor) -> [Tensor] {
                let (a, b, c) = (q.copy().requiringGrad(), k.copy().requiringGrad(), v.copy().requiringGrad())
                let y = f(a, b, c)
                (y * w).sum().backward()
                return [y, a.grad!, b.grad!, c.grad!]
            }
            let attRef = grads { a, b, c in causalMatmul((matmul(a, b, transB: true) * (1 / Float(d).squareRoot())).causalSoftmax(), c) }
            let laRef = grads { a, b, c in LinearAttention.mix(q: a, k: b, v: c, variant: .simple, form: .parallel) }
            for (label, ref, fused, bad) in [
                ("attention", attRef, grads { FlashAttention.attend($0, $1, $2, tiles: Self.small) },
                 grads { FlashAttention.attend($0, $1, $2, tiles: Self.small, perturbBackward: 1e-3) }),
                ("linear attention", laRef, grads { LinearAttention.fusedMix(q: $0, k: $1, v: $2, chunk: Self.small.linearTrainChunk) },
                 grads { LinearAttention.fusedMix(q: $0, k: $1, v: $2, chunk: Self.small.linearTrainChunk, perturbBackward: 1e-2) })] {
                for i in 0..<4 { XCTAssertLessThan(Self.rel(fused[i], ref[i]), Self.tolerance, "\(label) bh \(bh): tensor \(i)") }
                let worst = (0..<4).map { Self.rel(bad[$0], ref[$0]) }.max()!
                XCTAssertGreaterThan(worst, Self.tolerance, "\(label): a perturbed backward must fail the check")
            }
            // Mamba's scan.
            let (b, c, n) = (2, 5, 4)
            var rng = RNG(seed: 45)
            let u = Tensor.randn([b, t, c], rng: &rng), dl = (Tensor.randn([b, t, c], rng: &rng) * 0.5).exp() * 0.3
            let a = -(Tensor.randn([c, n], rng: &rng).exp()), bm = Tensor.randn([b, t, n], rng: &rng), cm = Tensor.randn([b, t, n], rng: &rng)
            let ds = Tensor.randn([c], rng: &rng), wy = Tensor.randn([b, t, c], rng: &rng)
            func scanGrads(_ perturb: Float?) -> [Tensor] {
                let ins = [u, dl, a, bm, cm, ds].map { $0.copy().requiringGrad() }
                let y = perturb.map { Mamba.fusedScan(ins[0], delta: ins[1], A: ins[2], Bm: ins[3], Cm: ins[4], Dskip: ins[5], chunk: Self.small.mambaScanChunk,
                                                     perturbBackward: $0) }
                    ?? selectiveScan(ins[0], delta: ins[1], A: ins[2], Bm: ins[3], Cm: ins[4], Dskip: ins[5])
                (y * wy).sum().backward()
                return [y] + ins.map { $0.grad! }
            }
            let ref = scanGrads(nil), fused = scanGrads(0), bad = scanGrads(1e-3)
            for i in 0..<7 { XCTAssertLessThan(Self.rel(fused[i], ref[i]), Self.tolerance, "mamba scan: tensor \(i)") }
            XCTAssertGreaterThan((0..<7).map { Self.rel(bad[$0], ref[$0]) }.max()!, Self.tolerance, "mamba scan: a perturbed backward must fail")
        } }
    }

    /// Same seed, same thread count: fused training gives bit-identical outputs and gradients.
    func testFusedGradientsDeterministic() throws {
        for name in Self.names {
            let x = randomInput([2, 29, 32], seed: 51), w = randomInput([2, 29, 32], seed: 52)
            let a = Self.train(try FusedTest.layer(name, scale: Self.scale(name)), x, w, .fused)
            let b = Self.train(try FusedTest.layer(name, scale: Self.scale(name)), x, w, .fused)
            XCTAssertEqual(a.y.array, b.y.array, "\(name): output")
            XCTAssertEqual(a.gx.array, b.gx.array, "\(name): input gradient")
            for ((n, g1), (_, g2)) in zip(a.grads, b.grads) { XCTAssertEqual(g1.array, g2.array, "\(name): \(n)") }
        }
    }

    /// Decode (uneven multi-token steps) still equals the prefill with the training tiles in force.
    func testDecodeMatchesPrefill() throws {
        try withSmallTiles {
            for name in Self.names {
                let l = try FusedTest.layer(name, scale: Self.scale(name))
                let x = randomInput([2, 23, 32], seed: 55)
                let dec = FusedTest.decode(l, x, chunks: [9, 1, 6, 7], fast: true)
                XCTAssertLessThan(relError(dec, FusedTest.prefill(l, x, fast: true)), FusedTest.tolerance, "\(name): decode vs prefill")
            }
        }
    }

    /// A NaN (or ±Inf) in the last token leaves every earlier output bit-identical — on both kernel paths, for the
    /// no-grad prefill, the training forward (grad mode on) and a multi-token decode step.
    func testNaNAtLastTokenIsCausal() throws {
        let configs: [(String, (inout LayerConfig) -> Void)] = Self.names.map { ($0, { _ in }) } + [("linear-attention", { $0.linearAttention.variant = "elu" })]
        try withSmallTiles {
            for (name, configure) in configs {
                let l = try FusedTest.layer(name, scale: Self.scale(name), configure: configure)
                let (t, d) = (21, 32)
                let clean = randomInput([2, t, d], seed: 61)
                for bad in [Float.nan, .infinity, -.infinity] {
                    let dirty = clean.copy()
                    for bi in 0..<2 { for j in 0..<d { dirty.data[(bi * t + t - 1) * d + j] = bad } }
                    for path in KernelPath.allCases {
                        let runs: [(String, (Tensor) -> Tensor)] = [
                            ("prefill", { x in l.withKernels(path) { withNoGrad { l(x) } } }),
                            ("training forward", { x in l.withKernels(path) { l(x.copy().requiringGrad()) } }),
                            ("decode step", { x in
                                l.withKernels(path) {
                                    let st = l.makeState(batch: 2)
                                    _ = l.step(x.slicedRaw(axis: 1, 0, 5), state: st)
                                    return l.step(x.slicedRaw(axis: 1, 5, t), state: st)
                                }
                            })]
                        for (label, f) in runs {
                            let a = f(clean), b = f(dirty), n = a.dim(1)
                            let earlierA = a.slicedRaw(axis: 1, 0, n - 1).array, earlierB = b.slicedRaw(axis: 1, 0, n - 1).array
                            XCTAssertTrue(earlierA.elementsEqual(earlierB) { $0.bitPattern == $1.bitPattern },
                                          "\(name) \(path) \(label): a \(bad) in the last token changed earlier outputs")
                            XCTAssertFalse(b.slicedRaw(axis: 1, n - 1, n).array.allSatisfy(\.isFinite), "\(name) \(path) \(label): the bad token itself is not finite")
                        }
                    }
                }
            }
        }
    }

    /// Negative control of the causality check: the former reference (scores + −∞ mask, full-row softmax, plain
    /// P·V) lets a NaN in the last key/value reach row 0 (NaN + −∞ = NaN in the masked entries), while the causal
    /// ops (`causalSoftmax`, `causalMatmul`) keep every earlier row finite.
    func testMaskedProductNegativeControl() {
        let t = 40, d = 8
        let q = randomInput([1, t, d], seed: 71), k = randomInput([1, t, d], seed: 72), v = randomInput([1, t, d], seed: 73)
        for j in 0..<d { k.data[(t - 1) * d + j] = .nan; v.data[(t - 1) * d + j] = .nan }
        withNoGrad {
            let s = matmul(q, k, transB: true)
            let old = matmul((s + SelfAttention.causalMask(t)).softmax(), v)
            XCTAssertTrue(old.data[0].isNaN, "the masked-with-addition path must be poisoned (else the NaN test proves nothing)")
            let z = causalMatmul(s.causalSoftmax(), v)
            XCTAssertTrue(z.slicedRaw(axis: 1, 0, t - 1).array.allSatisfy(\.isFinite))
            XCTAssertTrue(z.data[(t - 1) * d].isNaN)
        }
    }

    /// CausalGEMM ≡ direct loops over the causal part for sizes across the leaf/recursion boundary and any shift;
    /// negative control: dropping the diagonal (shift − 1) changes the result.
    func testCausalGEMMMatchesLoops() {
        for (m, w, shift) in [(5, 5, 0), (37, 37, 0), (40, 70, 30), (33, 20, -4), (64, 64, 0), (17, 90, 73), (50, 50, -60)] {
            let d = 6
            let p = randomInput([m, w], seed: UInt64(m * 100 + w)), v = randomInput([w, d], seed: 9)
            let out = Tensor(zeros: [m, d])
            CausalGEMM.accumulate(m: m, w: w, shift: shift, d: d, p.data, ldp: w, v.data, ldv: d, out.data, ldo: d)
            let ref = Tensor(zeros: [m, d]), drop = Tensor(zeros: [m, d])
            for i in 0..<m { for j in 0..<w where j <= i + shift { for x in 0..<d {
                ref.data[i * d + x] += p.data[i * w + j] * v.data[j * d + x]
                if j < i + shift { drop.data[i * d + x] += p.data[i * w + j] * v.data[j * d + x] }
            } } }
            XCTAssertLessThan(Self.rel(out, ref), 1e-6, "m \(m) w \(w) shift \(shift)")
            if shift >= -m + 1 && shift < w { XCTAssertGreaterThan(Self.rel(drop, ref), 1e-3, "negative control m \(m) shift \(shift)") }
        }
    }
}
