// CausalConvRows.swift — the one raw-buffer causal depthwise convolution over time (docs/ttt.md §1.2 CConv,
// docs/baselines.md §4) with a carried window of past inputs, shared by every fused kernel that convolves:
// the TTT Mamba backbone's conv_q/conv_k (TTTFused.swift) and Mamba's conv1d (MambaFused.swift, and Mamba's
// reference decode step). The differentiable op is TensorCore's `causalConv1d`, with the same sum order.
//
//   y[b, t, c] = bias[c] + Σ_{j<k} w[j, c]·x[b, t − (k−1) + j, c]      x[< 0]: the history rows, or 0 without one
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
