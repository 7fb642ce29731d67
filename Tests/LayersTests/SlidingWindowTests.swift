// SlidingWindowTests.swift — sliding-window attention (LayerConfig.attention.window): the fused no-grad forward, the
// fused training node and its backward against the reference band softmax, with windows that cut through
// tiles and a ragged last tile; W ≥ T is full attention bit for bit; decode ≡ prefill with a W-row cache;
// W ≤ 0 and a window on another layer are refused in one line.
import XCTest
import Foundation
import TensorCore
@testable import Layers
import Zoo

final class SlidingWindowTests: XCTestCase {
    /// ‖a − b‖∞ / ‖b‖∞, +∞ when either holds a non-finite value (so a NaN can never pass a `<` check).
    static func rel(_ a: Tensor, _ b: Tensor) -> Float {
        precondition(a.shape == b.shape, "\(a.shape) vs \(b.shape)")
        var num: Float = 0, den: Float = 0
        for i in 0..<a.count {
            let x = a.data[i], y = b.data[i]
            guard x.isFinite, y.isFinite else { return .infinity }
            num = max(num, abs(x - y)); den = max(den, abs(y))
        }
        return num / max(den, 1e-30)
    }

    static func bitsEqual(_ a: Tensor, _ b: Tensor) -> Bool {
        a.shape == b.shape && (0..<a.count).allSatisfy { a.data[$0].bitPattern == b.data[$0].bitPattern }
    }

    /// Attention D16 H2 with projections at std 0.3 (a peaked softmax), window `w`, on `kernels`.
    static func layer(window w: Int?, kernels: KernelPath, width: Int = 16, heads: Int = 2) throws -> SelfAttention {
        var c = LayerConfig(width: width, heads: heads)
        c.attention.window = w; c.kernels = kernels
        var rng = RNG(seed: 21)
        let l = try SelfAttention(config: c, rng: &rng)
        FusedTest.applyTiles(l)
        for p in l.parameters { let t = Tensor.randn(p.tensor.shape, std: 0.3, rng: &rng); for i in 0..<t.count { p.tensor.data[i] = t.data[i] } }
        return l
    }

    /// Output and the gradients of Σ y ⊙ w (input first, then Wq, Wk, Wv, Wo) of `layer` on x.
    static func outputAndGradients(_ layer: SelfAttention, _ x0: Tensor, _ w: Tensor) -> (Tensor, [Tensor]) {
        for p in layer.parameters { p.tensor.zeroGrad() }
        let x = x0.copy().requiringGrad()
        let y = layer(x)
        (y * w).sum().backward()
        let g = [x.grad!] + layer.parameters.map { $0.tensor.grad! }
        for p in layer.parameters { p.tensor.zeroGrad() }
        return (withNoGrad { y.copy() }, g)
    }

    /// Small tiles (query 8, key 16, backward 8) so that T = 45 has a ragged last tile (45 = 5·8 + 5) and the
    /// windows 1, 5, 13, 20 start and end inside tiles; restored afterwards.
    func withSmallTiles(_ body: () throws -> Void) rethrows {
        try FusedTest.withTiles(FusedTest.smallTiles(query: 8, key: 16, backward: 8), body)
    }

    /// Fused ≡ reference at 1e-5 (relative, max norm) for the no-grad forward, the training forward and
    /// every gradient (input, Wq, Wk, Wv, Wo), with windows cutting through tiles and a ragged last tile
    /// (at W = 1 dL/dWq and dL/dWk vanish and are checked as ≈ 0 instead).
    /// Negative control: the reference with an off-by-one window (W + 1) misses the fused output and the
    /// gradients by far more than the tolerance (measured ≥ 1e-2).
    func testFusedMatchesReferenceWithWindow() throws {
        try withSmallTiles { try checkFusedAgainstReference(T: 45, windows: [1, 5, 13, 20]) }
        // The default tiles (query 128, key 256, backward 128): T = 300 leaves a ragged last tile of 44 rows.
        try checkFusedAgainstReference(T: 300, windows: [100, 137])
    }

    func checkFusedAgainstReference(T: Int, windows: [Int]) throws {
        do {
            let B = 2
            let x = randomInput([B, T, 16], seed: 3), w = randomInput([B, T, 16], seed: 4)
            var worst: Float = 0, control = Float.infinity
            for W in windows {
                let fused = try Self.layer(window: W, kernels: .fused), ref = try Self.layer(window: W, kernels: .reference)
                let yNoGrad = withNoGrad { fused(x) }                           // AttentionFused.swift (tiles skipped)
                let (yf, gf) = Self.outputAndGradients(fused, x, w)             // AttentionTraining.swift node
                let (yr, gr) = Self.outputAndGradients(ref, x, w)               // windowSoftmax reference
                XCTAssertLessThan(Self.rel(yNoGrad, yr), 1e-5, "W = \(W): no-grad fused forward")
                XCTAssertLessThan(Self.rel(yf, yr), 1e-5, "W = \(W): training forward")
                for (i, (a, b)) in zip(gf, gr).enumerated() {
                    if W == 1 && (i == 1 || i == 2) {
                        // W = 1: a softmax over one key is constant, so dL/dWq and dL/dWk vanish (exactly 0 in the
                        // reference, rounding in the fused backward): absolute, against the scale of dL/dWv.
                        let scale = gr[3].array.map { abs($0) }.max() ?? 0
                        XCTAssertTrue(b.array.allSatisfy { $0 == 0 } && a.array.allSatisfy { abs($0) <= 1e-5 * scale }, "W = 1: gradient \(i) must vanish")
                        continue
                    }
                    XCTAssertLessThan(Self.rel(a, b), 1e-5, "W = \(W): gradient \(i) (0 = input)")
                    worst = max(worst, Self.rel(a, b))
                }
                worst = max(worst, Self.rel(yNoGrad, yr), Self.rel(yf, yr))
                // Negative control: an off-by-one window in the reference.
                let off = try Self.layer(window: W + 1, kernels: .reference)
                let (yo, go) = Self.outputAndGradients(off, x, w)
                XCTAssertGreaterThan(Self.rel(yf, yo), 1e-3, "W = \(W): an off-by-one reference window must be caught")
                XCTAssertGreaterThan(Self.rel(gf[0], go[0]), 1e-3, "W = \(W): an off-by-one window must show in dL/dx")
                control = min(control, Self.rel(yf, yo), Self.rel(gf[0], go[0]))
            }
            print("sliding window, T = \(T), W ∈ \(windows): worst fused vs reference \(worst); off-by-one control ≥ \(control)")
        }
    }

    /// A window ≥ T is full causal attention bit for bit on every path (no-grad fused, training node and its
    /// gradients, reference and its gradients, decode): the window-aware loops then run the same operations in
    /// the same order. Negative control: W = T − 1 differs.
    func testWindowAtLeastLengthIsFullAttentionBitForBit() throws {
        try withSmallTiles {
            let (B, T) = (2, 45)
            let x = randomInput([B, T, 16], seed: 5), w = randomInput([B, T, 16], seed: 6)
            for kernels in [KernelPath.fused, .reference] {
                let full = try Self.layer(window: nil, kernels: kernels)
                let (yFull, gFull) = Self.outputAndGradients(full, x, w)
                let nFull = withNoGrad { full(x) }
                for W in [T, T + 1, 1 << 40] {
                    let win = try Self.layer(window: W, kernels: kernels)
                    let (yW, gW) = Self.outputAndGradients(win, x, w)
                    XCTAssertTrue(Self.bitsEqual(yW, yFull), "\(kernels), W = \(W): output")
                    XCTAssertTrue(Self.bitsEqual(withNoGrad { win(x) }, nFull), "\(kernels), W = \(W): no-grad output")
                    XCTAssertTrue(zip(gW, gFull).allSatisfy { Self.bitsEqual($0, $1) }, "\(kernels), W = \(W): gradients")
                    XCTAssertTrue(Self.bitsEqual(BT.decodeSplit(win, x, prompt: 5), BT.decodeSplit(full, x, prompt: 5)), "\(kernels), W = \(W): decode")
                }
                let short = try Self.layer(window: T - 1, kernels: kernels)
                XCTAssertFalse(Self.bitsEqual(withNoGrad { short(x) }, nFull), "\(kernels): W = T − 1 must differ")
            }
        }
    }

    /// Decode (a 7-token prompt, then single tokens; and one token at a time) ≡ the parallel forward with a
    /// window, to 1e-5 relative, on both kernel paths; the cache holds W rows (state O(W)): its bytes after
    /// T tokens are 2·B·D·W·4 and `stateBytes(context:)` says 2·D·min(t, W)·4. Negative control: decoding
    /// with a full cache (no window) misses the windowed prefill.
    func testDecodeMatchesPrefillWithWindow() throws {
        try withSmallTiles {
            let (B, T, W) = (2, 29, 6)
            let x = randomInput([B, T, 16], seed: 8)
            for kernels in [KernelPath.fused, .reference] {
                let l = try Self.layer(window: W, kernels: kernels)
                let y = withNoGrad { l(x) }
                XCTAssertLessThan(Self.rel(BT.decodeSplit(l, x, prompt: 7), y), 1e-5, "\(kernels): prompt + decode")
                XCTAssertLessThan(Self.rel(BT.decodeAll(l, x), y), 1e-5, "\(kernels): token-by-token decode")
                let st = l.makeState(batch: B)
                _ = l.step(x, state: st)
                XCTAssertEqual(st.bytes, 2 * B * 16 * W * 4, "\(kernels): the cache holds W rows")
                XCTAssertEqual(l.stateBytes(context: T), 2 * 16 * W * 4)
                XCTAssertEqual(l.stateBytes(context: 3), 2 * 16 * 3 * 4)
                XCTAssertEqual(l.flopsPerToken(context: T), 8 * 16 * 16 + 4 * 16 * Double(W))
                let full = try Self.layer(window: nil, kernels: kernels)
                XCTAssertGreaterThan(Self.rel(BT.decodeSplit(full, x, prompt: 7), y), 1e-3, "\(kernels): full attention must differ")
            }
        }
    }

    /// W ≤ 0 is refused in one line naming the fix; so is a window on a layer other than attention.
    func testRefusesBadWindows() throws {
        for W in [0, -1, Int.min] {
            var c = LayerConfig(width: 16, heads: 2); c.attention.window = W
            XCTAssertThrowsError(try LayerRegistry.make("attention", c, seed: 0)) { e in
                let m = "\(e)"
                XCTAssertTrue(m.contains("sliding window W = \(W) must be ≥ 1"), m)
                XCTAssertFalse(m.contains("\n"), m)
            }
        }
        var c = LayerConfig(width: 16, heads: 2); c.attention.window = 4
        XCTAssertThrowsError(try LayerRegistry.make("ttt-linear", c, seed: 0)) { e in
            XCTAssertTrue("\(e)".contains("applies to attention only"), "\(e)")
        }
        XCTAssertNoThrow(try LayerRegistry.make("attention", c, seed: 0))            // control: attention takes it
    }

    /// The window survives a config round trip, and a config without one encodes exactly as before (no key).
    func testConfigCodingKeepsOldConfigsUnchanged() throws {
        let plain = LayerConfig(width: 16, heads: 2)
        let json = String(decoding: try JSONEncoder().encode(plain), as: UTF8.self)
        XCTAssertFalse(json.contains("window"), json)
        var c = plain; c.attention.window = 7
        XCTAssertEqual(try JSONDecoder().decode(LayerConfig.self, from: JSONEncoder().encode(c)).attention.window, 7)
        XCTAssertNil(try JSONDecoder().decode(LayerConfig.self, from: Data(json.utf8)).attention.window)
    }
}
