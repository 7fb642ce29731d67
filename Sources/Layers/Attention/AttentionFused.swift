// AttentionFused.swift — causal softmax attention without the T×T matrix (docs/baselines.md §1):
// tiled Q·Kᵀ and P·V through sgemm, an online (streaming) softmax per query row, fully masked tiles
// skipped, diagonal tiles masked inside. Used for no-grad prefill and for multi-token decode steps. Only the
// mixing core is here: the projections, RoPE and Wo are the layer's one pre- and post-stage (`preStage`,
// `postStage` in SelfAttention.swift), which the reference forward and decode and the training node call too.
//
//   per (sequence·head, query tile of Bq rows at absolute positions p0 + i):
//     m ← −∞, l ← 0, O ← 0
//     for key tiles up to the tile's last position:   S = Q·Kᵀ/√d            [Bq, Bk]
//         m' = max(m, rowmax S);  P = exp(S − m');  l = l·e^{m−m'} + ΣP;  O = O·e^{m−m'} + P·V
//     z = O / l
import Foundation
import TensorCore

public enum FlashAttention {
    /// Causal attention of `nq` query rows at absolute positions `p0 + i` over keys/values `0 ..< p0 + nq`.
    /// q, out: rows of stride `ldq`; k, v: rows of stride `ldk`; head dim d; query and key tiles from `tiles`.
    /// `scratch` ≥ `scratchSize(d:tiles:)` floats.
    /// When `lse` is given, row i's log-sum-exp of its scaled scores (m + log l) is written to `lse[i]` (training).
    /// `window` W (SlidingWindow.swift): the row at position p sees keys p−W+1…p only; key tiles wholly before
    /// the tile's first row's window are never read. `.max` (the default) is full causal attention.
    /// P·V multiplies each query row by the value rows it sees only (`CausalGEMM`), so a NaN/Inf in a later
    /// token's key or value never reaches an earlier output.
    public static func causal(nq: Int, p0: Int, d: Int, q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>,
                              v: UnsafePointer<Float>, ldk: Int, out: UnsafeMutablePointer<Float>, ldo: Int? = nil,
                              lse: UnsafeMutablePointer<Float>? = nil, window: Int = .max, tiles: FusedTiles,
                              scratch: UnsafeMutablePointer<Float>) {
        let bq = tiles.attentionQuery, bk = tiles.attentionKey, scale = 1 / Float(d).squareRoot(), ldo = ldo ?? ldq
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

    /// Scratch floats of `causal` at head dim d: a score tile, the output accumulator and m, l per row.
    static func scratchSize(d: Int, tiles: FusedTiles) -> Int { tiles.attentionQuery * (tiles.attentionKey + d + 2) }

    /// Runs `jobs` jobs of (sequence·head, query tile), where the query tile of index `job % tiles` costs ∝ its
    /// index: sorted by cost, the cheapest paired with the dearest so that contiguous chunks balance; each
    /// worker reuses one scratch of `size` floats for its pair.
    static func pairedJobs(_ jobs: Int, tiles: Int, scratch size: Int, _ job: (Int, UnsafeMutablePointer<Float>) -> Void) {
        let order = (0..<jobs).sorted { ($0 % tiles, $0) < ($1 % tiles, $1) }   // by tile index (cost)
        Parallel.forEach((jobs + 1) / 2) { p in
            let scratch = FastBuffer(size)
            job(order[p], scratch.p)
            if jobs - 1 - p != p { job(order[jobs - 1 - p], scratch.p) }
            withExtendedLifetime(scratch) {}
        }
    }
}

extension SelfAttention {
    /// The fused path's end of the post-stage: the `.forward` test fault (nil in normal use), then `postStage`.
    func fusedOutput(_ z: Tensor) -> Tensor {
        FusedFault.corruptOutput(z, fusedFault)
        return postStage(z)
    }

    /// No-grad prefill on the fused kernels: x [B, T, D] → [B, T, D].
    public func fusedForward(_ x: Tensor) -> Tensor {
        let (B, t, D, H) = (x.dim(0), x.dim(1), config.width, config.heads), d = D / H
        let (q, k, v) = preStage(x, start: 0)                                 // SelfAttention.swift
        let z = Tensor(uninitializedShape: [B, t, D])
        let pq = q.data, pk = k.data, pv = v.data, pz = z.data, tiles = self.tiles, window = self.window
        let tile = tiles.attentionQuery, nTiles = (t + tile - 1) / tile
        FlashAttention.pairedJobs(B * H * nTiles, tiles: nTiles, scratch: FlashAttention.scratchSize(d: d, tiles: tiles)) { j, scratch in
            let bh = j / nTiles, ti = j % nTiles, bi = bh / H, hh = bh % H
            let i0 = ti * tile, n = min(tile, t - i0)
            let base = bi * t * D + hh * d
            FlashAttention.causal(nq: n, p0: i0, d: d, q: pq + base + i0 * D, ldq: D, k: pk + base, v: pv + base, ldk: D,
                                  out: pz + base + i0 * D, window: window, tiles: tiles, scratch: scratch)
        }
        FLOPCounter.matmul += window >= t ? 2 * B * D * t * (t + 1) : 4 * B * D * FlashAttention.attendedPairs(length: t, window: window)
        withExtendedLifetime((q, k, v)) {}
        return fusedOutput(z)
    }

    /// No-grad decode on the fused kernels: append t rows to the cache (geometric growth, amortised O(1)),
    /// then stream attention over the cache for the t new queries. With a window W the cache then drops
    /// all but its last W rows (the next token needs W − 1 of them).
    func fusedStep(_ x: Tensor, cache: Cache) -> Tensor {
        let (B, t, D, H) = (x.dim(0), x.dim(1), config.width, config.heads), d = D / H
        let p0 = cache.position, rel = p0 - cache.start                   // rel: cached rows before the new ones
        let (q, k, v) = preStage(x, start: p0)
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
            let scratch = FastBuffer(FlashAttention.scratchSize(d: d, tiles: tiles))
            cache.keys[bh].withUnsafeBufferPointer { kb in
                cache.values[bh].withUnsafeBufferPointer { vb in
                    FlashAttention.causal(nq: t, p0: rel, d: d, q: pq + bi * t * D + hh * d, ldq: D, k: kb.baseAddress!, v: vb.baseAddress!,
                                          ldk: d, out: pz + bi * t * D + hh * d, window: window, tiles: tiles, scratch: scratch.p)
                }
            }
        }
        if window == .max { FLOPCounter.matmul += 4 * B * D * t * p0 + 2 * B * D * t * (t + 1) }
        else { FLOPCounter.matmul += 4 * B * D * (FlashAttention.attendedPairs(length: p0 + t, window: window) - FlashAttention.attendedPairs(length: p0, window: window)) }
        cache.advance(t)
        withExtendedLifetime((q, k, v)) {}
        return fusedOutput(z)
    }
}
