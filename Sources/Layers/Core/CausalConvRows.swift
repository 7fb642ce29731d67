// CausalConvRows.swift — the one raw-buffer causal depthwise convolution over time (docs/ttt.md §1.2 CConv,
// docs/baselines.md §4) with a carried window of past inputs, shared by every fused kernel that convolves:
// the TTT Mamba backbone's conv_q/conv_k (TTTFused.swift) and Mamba's conv1d (MambaFused.swift, and Mamba's
// reference decode step). The differentiable op is TensorCore's `causalConv1d`, with the same sum order.
//
//   y[b, t, c] = bias[c] + Σ_{j<k} w[j, c]·x[b, t − (k−1) + j, c]      x[< 0]: the history rows, or 0 without one
import Foundation
import TensorCore

/// One chunk of inputs x [B, t, ·] (the first `channels` of rows of stride `ld`) and, optionally, the
/// last k−1 inputs before it per sequence, `history` [B, k−1, channels] (oldest first).
///
/// ```swift
/// let conv = CausalConvRows(batch: B, t: t, channels: C, width: 4, input: u.data, ld: C, history: window.data)
/// conv.forward([(w.data, b.data, y.data)])          // y [B, t, C]
/// conv.keepWindow(into: window.data)                // window ← the last 3 rows of [window ++ u]
/// ```
struct CausalConvRows {
    let batch: Int, t: Int, channels: Int, width: Int
    let input: UnsafePointer<Float>, ld: Int
    let history: UnsafePointer<Float>?

    init(batch: Int, t: Int, channels: Int, width: Int, input: UnsafePointer<Float>, ld: Int, history: UnsafePointer<Float>?) {
        self.batch = batch; self.t = t; self.channels = channels; self.width = width
        self.input = input; self.ld = ld; self.history = history
    }

    /// Row `src` (< 0: history) of sequence `bi`, or nil (the zero padding) before the start without history.
    @inline(__always) func row(_ bi: Int, _ src: Int) -> UnsafePointer<Float>? {
        if src >= 0 { return input + (bi * t + src) * ld }
        let w = width - 1
        return history.map { $0 + (bi * w + (w + src)) * channels }
    }

    /// Every convolution of `taps` — (weight [k, C], bias [C], out [B, t, C]) — on the same inputs, row by
    /// row in parallel; `silu` applies SiLU to each output row afterwards (Mamba's x branch).
    func forward(_ taps: [(w: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>)], silu: Bool = false) {
        let (t, C, k) = (t, channels, width)
        Parallel.forEach(batch * t, minPerThread: 16) { bt in
            let bi = bt / t, ti = bt % t
            for tap in taps {
                let y = tap.out + bt * C
                for c in 0..<C { y[c] = tap.b[c] }
                for j in 0..<k {                                            // tap j reads x[t − (k−1) + j]
                    guard let x = row(bi, ti - (k - 1) + j) else { continue }
                    let wr = tap.w + j * C
                    for c in 0..<C { y[c] += wr[c] * x[c] }
                }
                if silu { FastMath.apply(y, C) { FastMath.silu($0) } }
            }
        }
    }

    /// The last k−1 rows of [history ++ input] per sequence into `dst` [B, k−1, C] (`dst` may be `history`).
    func keepWindow(into dst: UnsafeMutablePointer<Float>) {
        let w = width - 1
        for bi in 0..<batch {
            for r in 0..<w {                                                // row r reads row t − w + r ≥ r: in place is safe
                guard let from = row(bi, t - w + r) else { preconditionFailure("CausalConvRows.keepWindow: no history before a short chunk") }
                (dst + (bi * w + r) * channels).update(from: from, count: channels)
            }
        }
    }
}

extension CausalConvRows {
    /// The convolutions `taps` — (weight [k, C], bias [C]) — of u [B, t, C] (contiguous) as differentiable
    /// outputs [B, t, C], one per tap, computed in one pass (`silu`: SiLU applied to each output, FastMath's SIMD
    /// SiLU); `history` [B, k−1, C] (decode: the inputs before this chunk, no gradient) is advanced to the last
    /// k−1 rows of [history ++ u]. Each output is recorded with `backward` as its VJP when a graph is being built.
    ///
    /// ```swift
    /// var none: Tensor? = nil
    /// let qk = CausalConvRows.convolve(u, taps: [(wq, bq), (wk, bk)], history: &none)     // [q, k]
    /// ```
    static func convolve(_ u: Tensor, taps: [(w: Tensor, b: Tensor)], silu: Bool = false, history: inout Tensor?,
                         fault: StageBackwardFault? = nil) -> [Tensor] {
        let (B, t, C) = (u.dim(0), u.dim(1), u.dim(2)), k = taps[0].w.dim(0)
        let outs = taps.map { _ in Tensor(uninitializedShape: [B, t, C]) }
        let conv = CausalConvRows(batch: B, t: t, channels: C, width: k, input: u.data, ld: C, history: history?.data)
        conv.forward(zip(taps, outs).map { ($0.w.data, $0.b.data, $1.data) }, silu: silu)
        FLOPCounter.elementwise += (2 * k + (silu ? 5 : 0)) * u.count * taps.count
        if let hist = history {                                            // keep the last k−1 rows of [hist ++ u]
            let nh = Tensor(uninitializedShape: hist.shape)
            conv.keepWindow(into: nh.data)
            history = nh
        }
        withExtendedLifetime(history) {}
        return zip(taps, outs).map { tap, y in
            y.recordingFused("causalConvRows", [u, tap.w, tap.b]) { g in
                var g = g
                if silu {                                                  // through SiLU: g·silu′(p), p recomputed
                    let p = Tensor(uninitializedShape: [B, t, C]), gp = Tensor(uninitializedShape: [B, t, C])
                    CausalConvRows(batch: B, t: t, channels: C, width: k, input: u.data, ld: C, history: nil)
                        .forward([(tap.w.data, tap.b.data, p.data)])
                    let pp = p.data, pg = g.data, pgp = gp.data
                    Parallel.chunks(p.count, minPerThread: 1 << 14) { lo, hi in
                        for i in lo..<hi {
                            let x = pp[i], s = 1 / (1 + Foundation.exp(-x))
                            pgp[i] = pg[i] * (s * (1 + x * (1 - s)))
                        }
                    }
                    g = gp
                }
                let (gu, gw, gb) = backward(g, input: u, weight: tap.w)
                return [gu, gw, fault == .convBias ? Tensor(zeros: gb.shape) : gb]
            }
        }
    }

    /// The VJP of one tap without history (a graph is built over whole sequences only):
    ///
    ///   du[b, s, c] = Σ_j w[j, c]·g[b, s + (k−1) − j, c]   (terms past the end are 0)      [B, t, C], parallel over rows
    ///   dw[j, c]    = Σ_{b,t} x[b, t − (k−1) + j, c]·g[b, t, c];   db[c] = Σ_{b,t} g[b, t, c]  parallel over channels
    /// Each sum runs in a fixed order whatever the thread count (deterministic).
    static func backward(_ g: Tensor, input x: Tensor, weight w: Tensor) -> (Tensor, Tensor, Tensor) {
        let (B, t, C) = (x.dim(0), x.dim(1), x.dim(2)), k = w.dim(0)
        let gx = Tensor(uninitializedShape: x.shape), gw = Tensor(zeros: w.shape), gb = Tensor(zeros: [C])
        let pg = g.data, px = x.data, pw = w.data, pgx = gx.data, pgw = gw.data, pgb = gb.data
        Parallel.forEach(B * t, minPerThread: 16) { bs in
            let bi = bs / t, s = bs % t, dst = pgx + bs * C
            for c in 0..<C { dst[c] = 0 }
            for j in 0..<k {
                let ti = s + (k - 1) - j
                guard ti < t else { continue }
                let gr = pg + (bi * t + ti) * C, wr = pw + j * C
                for c in 0..<C { dst[c] += wr[c] * gr[c] }
            }
        }
        Parallel.chunks(C, minPerThread: 32) { lo, hi in
            for bi in 0..<B {
                for ti in 0..<t {
                    let gr = pg + (bi * t + ti) * C
                    for c in lo..<hi { pgb[c] += gr[c] }
                    for j in 0..<k {
                        let src = ti - (k - 1) + j
                        guard src >= 0 else { continue }
                        let xr = px + (bi * t + src) * C, gwr = pgw + j * C
                        for c in lo..<hi { gwr[c] += xr[c] * gr[c] }
                    }
                }
            }
        }
        FLOPCounter.elementwise += 4 * k * x.count
        return (gx, gw, gb)
    }
}
