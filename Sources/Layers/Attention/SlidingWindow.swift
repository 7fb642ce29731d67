// SlidingWindow.swift — sliding-window (local) causal attention: token t attends to tokens t−W+1…t only
// (the local mixer of LaCT-style blocks, Mistral's SWA). The window is `LayerConfig.attention.window`; nil is full
// causal attention and every path then runs exactly the code (and the bits) it ran before the option.
//
//   reference:  S = Q·Kᵀ/√d,  P = windowSoftmax_W(S)  (row i reads S[i, j] for i−W+1 ≤ j ≤ i only),  z = tril(P)·V
//   fused:      FlashAttention.causal(window:) starts each query tile's key loop at the tile's first row's
//               window start (key tiles wholly before it are never read) and masks the rows inside the tile
//   training:   FlashAttention.trainBackward(window:) skips the query tiles past a key tile's reach
//   decode:     the KV cache keeps the last W rows (state O(W), not O(t))
//
// Causality is kept as before (a NaN/Inf at token t never reaches an earlier output). The band's lower edge
// is a zero weight, not an unread entry, inside the tiles the products share: a non-finite value or key
// that has just left a row's window can still reach that row as 0 × NaN.
import Foundation
import TensorCore

extension FlashAttention {
    /// Query–key pairs a causal length-`t` sequence multiplies with window `w`: Σ_i min(i + 1, w).
    ///
    /// ```swift
    /// FlashAttention.attendedPairs(length: 5, window: 2)    // 1 + 2 + 2 + 2 + 2 = 9
    /// ```
    public static func attendedPairs(length t: Int, window w: Int) -> Int {
        w >= t ? t * (t + 1) / 2 : w * (w + 1) / 2 + (t - w) * w
    }

    /// First column (of a tile starting at key `j0`) that a query at absolute position `pos` sees with window `w`.
    /// (Never overflows, also for `w = .max`.)
    @inline(__always) static func windowStart(_ pos: Int, window w: Int, tileStart j0: Int) -> Int {
        let back = pos - j0                                    // |back| is at most a sequence length
        return back >= w - 1 ? back - (w - 1) : 0
    }
}

extension Tensor {
    /// Softmax over the last axis of square `[..., T, T]` scores restricted to a causal window of `w` tokens:
    /// row i uses entries max(0, i−w+1) ≤ j ≤ i only; every other entry is never read and comes out 0. With
    /// `w ≥ T` it computes what `causalSoftmax` computes. Gradient flows to the window only.
    ///
    /// ```swift
    /// let p = matmul(q, k, transB: true).windowSoftmax(window: 64)   // [BH, T, T], a band of width 64
    /// ```
    public func windowSoftmax(window w: Int) -> Tensor {
        precondition(rank >= 2 && shape[rank - 1] == shape[rank - 2] && w >= 1, "windowSoftmax: needs square [..., T, T] and w ≥ 1, got \(shape), w = \(w)")
        let t = shape.last!, rows = count / Swift.max(t, 1)
        let out = Tensor(uninitializedShape: shape)
        let px = data, po = out.data
        Parallel.chunks(rows, minPerThread: 32) { lo, hi in
            for r in lo..<hi {
                let x = px + r * t, y = po + r * t, i = r % t, n = i + 1, a = Swift.max(0, i - (w - 1))
                var mx = -Float.infinity
                for j in a..<n { mx = Swift.max(mx, x[j]) }
                var s: Float = 0
                for j in a..<n { let e = mx == -.infinity ? 0 : Foundation.exp(x[j] - mx); y[j] = e; s += e }
                let inv = s > 0 ? 1 / s : 0
                for j in a..<n { y[j] *= inv }
                for j in 0..<a { y[j] = 0 }
                for j in n..<t { y[j] = 0 }
            }
        }
        FLOPCounter.elementwise += 6 * count
        guard Tensor.recording([self]) else { return out }
        return out.recordingFused("windowSoftmax", [self]) { g in
            let r = Tensor(uninitializedShape: g.shape)
            let pg = g.data, pr = r.data
            Parallel.chunks(rows, minPerThread: 32) { lo, hi in
                for row in lo..<hi {
                    let i = row % t, n = i + 1, a = Swift.max(0, i - (w - 1))
                    let gr = pg + row * t, yr = po + row * t, rr = pr + row * t
                    var dot: Float = 0
                    for j in a..<n { dot += gr[j] * yr[j] }
                    for j in a..<n { rr[j] = yr[j] * (gr[j] - dot) }
                    for j in 0..<a { rr[j] = 0 }
                    for j in n..<t { rr[j] = 0 }
                }
            }
            return [r]
        }
    }
}
