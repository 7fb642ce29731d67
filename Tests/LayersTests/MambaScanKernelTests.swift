// MambaScanKernelTests.swift — the AVX2 (one job) and AVX-512 (two jobs) kernels of Mamba's scan node
// (Sources/MambaScanKernels) are bit-identical to the Swift loops they repeat (MambaTraining.swift), in the output
// and every gradient, across partial channel groups, paired and unpaired jobs, chunk sizes and lengths that are not
// a multiple of the chunk; a one-ulp-sized change in either backward fails the same check (negative control).
import XCTest
@testable import Layers
import TensorCore

final class MambaScanKernelTests: XCTestCase {
    /// y and the gradients [du, dΔ, dA, dB, dC, dD] of Σ y ⊙ w through `Mamba.fusedScan` on `loops`.
    static func run(_ ins: [Tensor], _ w: Tensor, chunk: Int, loops: Mamba.ScanLoops, perturb: Float = 0) -> [Tensor] {
        let x = ins.map { $0.copy().requiringGrad() }
        let y = Mamba.fusedScan(x[0], delta: x[1], A: x[2], Bm: x[3], Cm: x[4], Dskip: x[5], chunk: chunk,
                                perturbBackward: perturb, loops: loops)
        (y * w).sum().backward()
        return [y] + x.map { $0.grad! }
    }

    /// Random scan inputs: u, Δ > 0, A < 0, Bm, Cm, D and the loss weights w.
    static func inputs(b: Int, t: Int, c: Int, n: Int, seed: UInt64) -> ([Tensor], Tensor) {
        var rng = RNG(seed: seed)
        let u = Tensor.randn([b, t, c], rng: &rng), dl = (Tensor.randn([b, t, c], rng: &rng) * 0.5).exp() * 0.3
        let a = -(Tensor.randn([c, n], rng: &rng).exp()), bm = Tensor.randn([b, t, n], rng: &rng), cm = Tensor.randn([b, t, n], rng: &rng)
        let ds = Tensor.randn([c], rng: &rng), w = Tensor.randn([b, t, c], rng: &rng)
        return ([u, dl, a, bm, cm, ds], w)
    }

    /// The indices where two tensors' bit patterns differ (so −0 ≠ +0 and a NaN only equals the same NaN).
    static func differingBits(_ a: Tensor, _ b: Tensor) -> Int {
        precondition(a.shape == b.shape, "differingBits: \(a.shape) vs \(b.shape)")
        return zip(a.array, b.array).filter { $0.bitPattern != $1.bitPattern }.count
    }

    static let names = ["y", "du", "dΔ", "dA", "dB", "dC", "dD"]

    /// The kernels this CPU runs, by name (`.best` is the AVX-512 one only where the CPU has it).
    static var available: [(String, Mamba.ScanLoops)] {
        (Mamba.ScanLoops.cpuLanes >= 8 ? [("AVX2", .avx2)] : []) + (Mamba.ScanLoops.cpuLanes == 16 ? [("AVX-512", .best)] : [])
    }

    func testNativeKernelsAreBitIdenticalToSwiftLoops() throws {
        try XCTSkipIf(Self.available.isEmpty, "this CPU has neither AVX2 nor AVX-512: only the Swift loops run")
        // (B, T, C, N, chunk): C = 5 one partial group; 13 a pair with a partial second group; 16 a full pair;
        // 24 a pair and an unpaired group (and pairs cut by the worker split at B 3); T not a multiple of the chunk.
        for (b, t, c, n, chunk) in [(2, 37, 5, 4, 8), (3, 29, 13, 16, 7), (1, 64, 16, 16, 64), (3, 33, 24, 3, 128)] {
            let (ins, w) = Self.inputs(b: b, t: t, c: c, n: n, seed: UInt64(100 + t))
            let swift = Self.run(ins, w, chunk: chunk, loops: .swift)
            for (label, loops) in Self.available {
                let native = Self.run(ins, w, chunk: chunk, loops: loops)
                for i in 0..<7 {
                    XCTAssertTrue(native[i].array.allSatisfy(\.isFinite), "\(label) \(Self.names[i]) not finite (B \(b) T \(t) C \(c) N \(n))")
                    XCTAssertEqual(Self.differingBits(native[i], swift[i]), 0, "\(Self.names[i]): \(label) ≠ Swift (B \(b) T \(t) C \(c) N \(n) chunk \(chunk))")
                }
            }
        }
    }

    /// Negative control: a native backward with dΔ moved by 1e-6 (an ulp or a few at these magnitudes) must be
    /// caught by the same bitwise check, in dΔ and nowhere else.
    func testBitwiseCheckCatchesAOneUlpChange() throws {
        try XCTSkipIf(Self.available.isEmpty, "this CPU has neither AVX2 nor AVX-512: only the Swift loops run")
        let (ins, w) = Self.inputs(b: 2, t: 37, c: 13, n: 4, seed: 7)
        let swift = Self.run(ins, w, chunk: 8, loops: .swift)
        for (label, loops) in Self.available {
            let bad = Self.run(ins, w, chunk: 8, loops: loops, perturb: 1e-6)
            XCTAssertGreaterThan(Self.differingBits(bad[2], swift[2]), 0, "a perturbed \(label) dΔ must differ from the Swift loops")
            for i in [0, 1, 3, 4, 5, 6] { XCTAssertEqual(Self.differingBits(bad[i], swift[i]), 0, "\(label) \(Self.names[i]) must be untouched by the dΔ perturbation") }
        }
    }
}
