// AttentionFused.swift — causal softmax attention without the T×T matrix (docs/baselines.md §1):
// tiled Q·Kᵀ and P·V through sgemm, an online (streaming) softmax per query row, fully masked tiles
// skipped, diagonal tiles masked inside. Used for no-grad prefill and for multi-token decode steps.
//
//   per (sequence·head, query tile of Bq rows at absolute positions p0 + i):
//     m ← −∞, l ← 0, O ← 0
//     for key tiles up to the tile's last position:   S = Q·Kᵀ/√d            [Bq, Bk]
//         m' = max(m, rowmax S);  P = exp(S − m');  l = l·e^{m−m'} + ΣP;  O = O·e^{m−m'} + P·V
//     z = O / l
import Foundation
import TensorCore

/// Interleaved RoPE (docs/ttt.md §1.3) in place on x [B, t, D] (H heads of width d side by side), token j of the
/// chunk at absolute position `start + j` — the shared `RopeTable` (TensorCore/Ops/Rope.swift).
func fastRoPE(_ x: Tensor, heads H: Int, start: Int, theta: Float) {
    RopeTable(dim: x.dim(2) / H, theta: theta, positions: Array(start..<(start + x.dim(1)))).rotateHeads(x, heads: H)
}

public enum FlashAttention {
    /// Query and key tile sizes.
    public static var queryTile = 128, keyTile = 256

    /// Causal attention of `nq` query rows at absolute positions `p0 + i` over keys/values `0 ..< p0 + nq`.
    /// q, out: rows of stride `ldq`; k, v: rows of stride `ldk`; head dim d. `scratch` ≥ queryTile·(keyTile + d + 2) floats.
    /// When `lse` is given, row i's log-sum-exp of its scaled scores (m + log l) is written to `lse[i]` (training).
    /// `window` W (SlidingWindow.swift): the row at position p sees keys p−W+1…p only; key tiles wholly before
    /// the tile's first row's window are never read. `.max` (the default) is full causal attention.
    /// P·V multiplies each query row by the value rows it sees only (`CausalGEMM`), so a NaN/Inf in a later
    /// token's key or value never reaches an earlier output.
    public static func causal(nq: Int, p0: Int, d: Int, q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>,
                              v: UnsafePointer<Float>, ldk: Int, out: UnsafeMutablePointer<Float>, ldo: Int? = nil,
                              lse: UnsafeMutablePointer<Float>? = nil, window: Int = .max, scratch: UnsafeMutablePointer<Float>) {
        let bq = queryTile, bk = keyTile, scale = 1 / Float(d).squareRoot(), ldo = ldo ?? ldq
        let s = scratch, o = s + bq * bk, m = o + bq * d, l = m + bq
        var i0 = 0
        while i0 < nq {
            let n = min(bq, nq - i0), first = p0 + i0, last = first + n - 1   // positions of the tile's rows
            for r in 0..<n { m[r] = -.infinity; l[r] = 0 }
            o.initialize(repeating: 0, count: n * d)
            var j0 = windowStart(first, window: window, tileStart: 0)   // keys before the first row's window: skipped
            while j0 <= last {                                         // key tiles beyond `last` are fully masked: skipped
                let kn = min(bk, last + 1 - j0)
                sgemm(transA: false, transB: true, m: n, n: kn, k: d, q + i0 * ldq, lda: ldq, k + j0 * ldk, ldb: ldk, s, ldc: kn, alpha: scale)
                for r in 0..<n {
                    let row = s + r * kn
                    let vis = max(0, min(kn, first + r - j0 + 1))      // keys ≤ own position
                    let lo = min(vis, windowStart(first + r, window: window, tileStart: j0))   // keys before the window (0 without one)
                    let mx = max(m[r], rowMax(row + lo, vis - lo))
                    let sum = expSum(row + lo, vis - lo, minus: mx)       // row ← exp(row − mx), returns Σ
                    for j in 0..<lo { row[j] = 0 }
                    for j in vis..<kn { row[j] = 0 }
                    let corr = m[r] == -.infinity ? 0 : Foundation.exp(m[r] - mx)
                    l[r] = l[r] * corr + sum
                    m[r] = mx
                    if corr != 1 { let orow = o + r * d; for x in 0..<d { orow[x] *= corr } }
                }
                // O += P·V over the causal part only: row r sees tile column c iff c ≤ r + (first − j0)
                CausalGEMM.accumulate(m: n, w: kn, shift: first - j0, d: d, s, ldp: kn, v + j0 * ldk, ldv: ldk, o, ldo: d)
                j0 += kn
            }
            for r in 0..<n {
                let inv = 1 / l[r], orow = o + r * d, dst = out + (i0 + r) * ldo
                for x in 0..<d { dst[x] = orow[x] * inv }
                lse?[i0 + r] = m[r] + Foundation.log(l[r])
            }
            i0 += n
        }
    }

    /// max of p[0..<n] (−∞ when n = 0), 8 lanes at a time.
    @inline(__always) static func rowMax(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = FastMath.V(repeating: -.infinity), j = 0
        while j + 8 <= n { let v = FastMath.load(p + j); acc.replace(with: v, where: v .> acc); j += 8 }   // (pointwiseMax is not inlined)
        var mx = acc.max()
        while j < n { mx = max(mx, p[j]); j += 1 }
        return mx
    }

    /// p[j] ← exp(p[j] − m) for j < n (SIMD exp); returns Σ p[j].
    @inline(__always) static func expSum(_ p: UnsafeMutablePointer<Float>, _ n: Int, minus m: Float) -> Float {
        var acc = FastMath.V(repeating: 0), j = 0
        while j + 8 <= n {
            let e = FastMath.exp(FastMath.load(p + j) - m)
            FastMath.store(e, p + j); acc += e; j += 8
        }
        var sum = acc.sum()
        if j < n {
            FastMath.apply(p + j, n - j) { FastMath.exp($0 - m) }
            while j < n { sum += p[j]; j += 1 }
        }
        return sum
    }

    static func scratch(d: Int) -> FastBuffer { FastBuffer(queryTile * (keyTile + d + 2)) }
}

extension SelfAttention {
    /// No-grad prefill on the fast kernels: x [B, T, D] → [B, T, D].
    public func fastForward(_ x: Tensor) -> Tensor {
        let (B, t, D, H) = (x.dim(0), x.dim(1), config.width, config.heads), d = D / H
        let q = FastGEMM.linear(x, wq, shape: [B, t]), k = FastGEMM.linear(x, wk, shape: [B, t]), v = FastGEMM.linear(x, wv, shape: [B, t])
        fastRoPE(q, heads: H, start: 0, theta: config.ropeTheta)
        fastRoPE(k, heads: H, start: 0, theta: config.ropeTheta)
        let z = Tensor(uninitializedShape: [B, t, D])
        let pq = q.data, pk = k.data, pv = v.data, pz = z.data
        // Jobs (sequence·head, query tile); the tile with index i costs ∝ i, so pair job j with job n−1−j.
        let tiles = (t + FlashAttention.queryTile - 1) / FlashAttention.queryTile, jobs = B * H * tiles
        let tile = FlashAttention.queryTile
        func job(_ j: Int, _ scratch: UnsafeMutablePointer<Float>) {
            let bh = j / tiles, ti = j % tiles, bi = bh / H, hh = bh % H
            let i0 = ti * tile, n = min(tile, t - i0)
            let base = bi * t * D + hh * d
            FlashAttention.causal(nq: n, p0: i0, d: d, q: pq + base + i0 * D, ldq: D, k: pk + base, v: pv + base, ldk: D,
                                  out: pz + base + i0 * D, window: window, scratch: scratch)
        }
        let order = (0..<jobs).sorted { ($0 % tiles, $0) < ($1 % tiles, $1) }   // by tile index (cost)
        Parallel.forEach((jobs + 1) / 2) { p in
            let scratch = FlashAttention.scratch(d: d)
            job(order[p], scratch.p)
            if jobs - 1 - p != p { job(order[jobs - 1 - p], scratch.p) }
        }
        FLOPCounter.matmul += window >= t ? 2 * B * D * t * (t + 1) : 4 * B * D * FlashAttention.attendedPairs(length: t, window: window)
        withExtendedLifetime((q, k, v)) {}
        FusedFault.corruptOutput(z, fusedFault)                        // test hook (nil in normal use)
        return FastGEMM.linear(z, wo, shape: [B, t])
    }

    /// No-grad decode on the fast kernels: append t rows to the cache (geometric growth, amortised O(1)),
    /// then stream attention over the cache for the t new queries. With a window W the cache then drops
    /// all but its last W rows (the next token needs W − 1 of them).
    func fastStep(_ x: Tensor, cache: Cache) -> Tensor {
        let (B, t, D, H) = (x.dim(0), x.dim(1), config.width, config.heads), d = D / H
        let p0 = cache.position, rel = p0 - cache.start                   // rel: cached rows before the new ones
        let q = FastGEMM.linear(x, wq, shape: [B, t]), k = FastGEMM.linear(x, wk, shape: [B, t]), v = FastGEMM.linear(x, wv, shape: [B, t])
        fastRoPE(q, heads: H, start: p0, theta: config.ropeTheta)
        fastRoPE(k, heads: H, start: p0, theta: config.ropeTheta)
        for bh in 0..<(B * H) {
            let bi = bh / H, hh = bh % H
            if cache.keys[bh].capacity < (rel + t) * d {                     // grow geometrically
                let cap = max((rel + t) * d, 2 * cache.keys[bh].capacity)
                cache.keys[bh].reserveCapacity(cap); cache.values[bh].reserveCapacity(cap)
            }
            for j in 0..<t {
                let off = (bi * t + j) * D + hh * d
                cache.keys[bh].append(contentsOf: UnsafeBufferPointer(start: k.data + off, count: d))
                cache.values[bh].append(contentsOf: UnsafeBufferPointer(start: v.data + off, count: d))
            }
        }
        let z = Tensor(uninitializedShape: [B, t, D])
        let pq = q.data, pz = z.data
        Parallel.forEach(B * H) { bh in
            let bi = bh / H, hh = bh % H
            let scratch = FlashAttention.scratch(d: d)
            cache.keys[bh].withUnsafeBufferPointer { kb in
                cache.values[bh].withUnsafeBufferPointer { vb in
                    FlashAttention.causal(nq: t, p0: rel, d: d, q: pq + bi * t * D + hh * d, ldq: D, k: kb.baseAddress!, v: vb.baseAddress!,
                                          ldk: d, out: pz + bi * t * D + hh * d, window: window, scratch: scratch.p)
                }
            }
        }
        if window == .max { FLOPCounter.matmul += 4 * B * D * t * p0 + 2 * B * D * t * (t + 1) }
        else { FLOPCounter.matmul += 4 * B * D * (FlashAttention.attendedPairs(length: p0 + t, window: window) - FlashAttention.attendedPairs(length: p0, window: window)) }
        cache.advance(t)
        withExtendedLifetime((q, k, v)) {}
        FusedFault.corruptOutput(z, fusedFault)                        // test hook (nil in normal use)
        return FastGEMM.linear(z, wo, shape: [B, t])
    }
}
