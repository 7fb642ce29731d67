// AttentionTraining.swift — causal softmax attention as ONE autodiff node for training, FlashAttention-2 style
// (docs/baselines.md §1, docs/ttt-backward.md §5): no T×T tensor is kept.
//
//   forward, per (sequence·head, query tile):  online softmax over key tiles (FlashAttention.causal),
//                                               saves O [T, d] and the row log-sum-exp L [T]
//   backward, per (sequence·head, group of key tiles j):
//       D_i  = rowsum(dO_i ⊙ O_i)                                          [T]
//       for query tiles i that see tile j:
//           S  = Q_i·K_jᵀ/√d                    [bq, bk]   (recomputed)
//           P  = exp(S − L_i), 0 above the diagonal
//           dV_j += Pᵀ·dO_i                     [bk, d]
//           dP = dO_i·V_jᵀ                      [bq, bk]
//           dS = P ⊙ (dP − D_i)
//           dQ_i += dS·K_j/√d                   [bq, d]   (per-group partial, summed in a fixed order)
//           dK_j += dSᵀ·Q_i/√d                  [bk, d]
import Foundation
import TensorCore

extension FlashAttention {
    /// Training forward on heads q, k, v [BH, T, d] (contiguous): z [BH, T, d] and lse [BH, T].
    /// `window`: sliding window W (`.max`: full causal attention).
    static func trainForward(q: Tensor, k: Tensor, v: Tensor, window: Int = .max, tiles: FusedTiles) -> (Tensor, FastBuffer) {
        let (bh, t, d) = (q.dim(0), q.dim(1), q.dim(2))
        let z = Tensor(uninitializedShape: [bh, t, d]), lse = FastBuffer(bh * t)
        let pq = q.data, pk = k.data, pv = v.data, pz = z.data, pl = lse.p
        let tile = tiles.attentionQuery, nTiles = (t + tile - 1) / tile
        pairedJobs(bh * nTiles, tiles: nTiles, scratch: scratchSize(d: d, tiles: tiles)) { j, scratch in
            let b = j / nTiles, i0 = (j % nTiles) * tile, n = min(tile, t - i0), base = b * t * d
            causal(nq: n, p0: i0, d: d, q: pq + base + i0 * d, ldq: d, k: pk + base, v: pv + base, ldk: d,
                   out: pz + base + i0 * d, lse: pl + b * t + i0, window: window, tiles: tiles, scratch: scratch)
        }
        FLOPCounter.matmul += window >= t ? 2 * bh * d * t * (t + 1) : 4 * bh * d * attendedPairs(length: t, window: window)
        return (z, lse)
    }

    /// Training backward: (dQ, dK, dV) [BH, T, d] from dO, the saved O and lse. `perturb` (tests only) is
    /// added to every dV entry — a deliberately wrong backward for the negative control. With a `window` W,
    /// key tile j meets only the query tiles that reach it (rows < its end + W − 1), each row on its band.
    static func trainBackward(q: Tensor, k: Tensor, v: Tensor, o: UnsafePointer<Float>, lse: FastBuffer, dO: Tensor,
                              window: Int = .max, tiles: FusedTiles, perturb: Float = 0) -> (Tensor, Tensor, Tensor) {
        let (bh, t, d) = (q.dim(0), q.dim(1), q.dim(2))
        let bt = tiles.attentionBackward, tiles = (t + bt - 1) / bt, scale = 1 / Float(d).squareRoot()
        // Key-tile groups per sequence·head so that there are ≥ 2 jobs per worker; tile j costs ∝ tiles − j,
        // dealt in snake order (0 1 2 2 1 0 …) so the groups cost about the same.
        let groups = min(tiles, bh >= 2 * Parallel.threads ? 1 : (2 * Parallel.threads + bh - 1) / bh)
        var groupTiles = [[Int]](repeating: [], count: groups)
        for j in 0..<tiles { let r = j % (2 * groups); groupTiles[r < groups ? r : 2 * groups - 1 - r].append(j) }
        let gq = Tensor(zeros: [bh, t, d]), gk = Tensor(zeros: [bh, t, d]), gv = Tensor(zeros: [bh, t, d])
        let gqParts = groups > 1 ? FastBuffer(groups * bh * t * d, zero: true) : nil
        let dsum = FastBuffer(bh * t)
        let pq = q.data, pk = k.data, pv = v.data, pg = dO.data, pl = lse.p, pds = dsum.p
        let pgq = gq.data, pgk = gk.data, pgv = gv.data
        Parallel.chunks(bh * t, minPerThread: 256) { lo, hi in          // D_i = rowsum(dO ⊙ O)
            for r in lo..<hi {
                var s: Float = 0
                for x in 0..<d { s += pg[r * d + x] * o[r * d + x] }
                pds[r] = s
            }
        }
        let jobs = bh * groups
        func job(_ jb: Int, _ sp: UnsafeMutablePointer<Float>, _ dp: UnsafeMutablePointer<Float>) {
            let b = jb / groups, grp = jb % groups, base = b * t * d
            let dq = gqParts.map { $0.p + (grp * bh + b) * t * d } ?? pgq + base
            for tj in groupTiles[grp] {
                let j0 = tj * bt, kn = min(bt, t - j0)
                let kj = pk + base + j0 * d, vj = pv + base + j0 * d, dkj = pgk + base + j0 * d, dvj = pgv + base + j0 * d
                var i0 = j0 / bt * bt                                  // first query tile that sees key j0
                while i0 < t && i0 - (j0 + kn - 1) < window {         // query tiles past the window of the tile's last key: skipped
                    let n = min(bt, t - i0)
                    let qi = pq + base + i0 * d, doi = pg + base + i0 * d
                    // S = Q_i·K_jᵀ/√d   [n, kn];  P = exp(S − L), causal
                    sgemm(transA: false, transB: true, m: n, n: kn, k: d, qi, lda: d, kj, ldb: d, sp, ldc: kn, alpha: scale)
                    for r in 0..<n {
                        let row = sp + r * kn, vis = max(0, min(kn, i0 + r - j0 + 1)), li = pl[b * t + i0 + r]
                        let lo = min(vis, windowStart(i0 + r, window: window, tileStart: j0))   // 0 without a window
                        FastMath.apply(row + lo, vis - lo) { FastMath.exp($0 - li) }
                        for c in 0..<lo { row[c] = 0 }
                        for c in vis..<kn { row[c] = 0 }
                    }
                    // dV_j += Pᵀ·dO_i   [kn, d]
                    sgemm(transA: true, transB: false, m: kn, n: d, k: n, sp, lda: kn, doi, ldb: d, dvj, ldc: d, beta: 1)
                    // dP = dO_i·V_jᵀ   [n, kn];  dS = P ⊙ (dP − D_i)  (in place over P)
                    sgemm(transA: false, transB: true, m: n, n: kn, k: d, doi, lda: d, vj, ldb: d, dp, ldc: kn)
                    for r in 0..<n {
                        let row = sp + r * kn, drow = dp + r * kn, di = pds[b * t + i0 + r]
                        let vis = max(0, min(kn, i0 + r - j0 + 1)), lo = min(vis, windowStart(i0 + r, window: window, tileStart: j0))
                        for c in lo..<vis { row[c] *= drow[c] - di }
                    }
                    // dQ_i += dS·K_j/√d   [n, d];  dK_j += dSᵀ·Q_i/√d   [kn, d]
                    sgemm(transA: false, transB: false, m: n, n: d, k: kn, sp, lda: kn, kj, ldb: d, dq + i0 * d, ldc: d, alpha: scale, beta: 1)
                    sgemm(transA: true, transB: false, m: kn, n: d, k: n, sp, lda: kn, qi, ldb: d, dkj, ldc: d, alpha: scale, beta: 1)
                    i0 += n
                }
            }
        }
        Parallel.forEach(jobs) { jb in
            let sp = FastBuffer(bt * bt), dp = FastBuffer(bt * bt)
            job(jb, sp.p, dp.p)
            withExtendedLifetime((sp, dp)) {}
        }
        if let parts = gqParts {                                       // fixed-order sum of the dQ partials
            Parallel.chunks(bh * t * d, minPerThread: 4096) { lo, hi in
                for g in 0..<groups {
                    let src = parts.p + g * bh * t * d
                    for i in lo..<hi { pgq[i] += src[i] }
                }
            }
        }
        withExtendedLifetime(dsum) {}
        if perturb != 0 { for i in 0..<gv.count { pgv[i] += perturb } }
        FLOPCounter.matmul += window >= t ? 5 * bh * d * t * (t + 1) : 10 * bh * d * attendedPairs(length: t, window: window)
        return (gq, gk, gv)
    }

    /// Causal attention of heads q, k, v [BH, T, d] → z [BH, T, d] as one autodiff node (training), over a
    /// sliding `window` of W tokens when given (`.max`: full causal attention).
    /// `perturbBackward` is a test hook: a non-zero value corrupts dV (negative control).
    ///
    /// ```swift
    /// let z = FlashAttention.attend(q, k, v)     // differentiable; no [T, T] tensor kept
    /// ```
    public static func attend(_ q: Tensor, _ k: Tensor, _ v: Tensor, window: Int = .max, tiles: FusedTiles = FusedTiles(),
                              perturbBackward: Float = 0, fault: FusedFault? = nil) -> Tensor {
        precondition(q.rank == 3 && k.shape == q.shape && v.shape == q.shape, "FlashAttention.attend: q \(q.shape), k \(k.shape), v \(v.shape) must be [BH, T, d]")
        precondition(window >= 1, "FlashAttention.attend: window \(window) must be ≥ 1")
        let (z, lse) = trainForward(q: q, k: k, v: v, window: window, tiles: tiles)
        FusedFault.corruptOutput(z, fault)                             // test hook (nil in normal use)
        guard Tensor.recording([q, k, v]) else { return z }
        let po = UnsafePointer(z.data)                                 // z is alive while its own node's VJP runs
        return z.recordingFused("flashAttention", [q, k, v]) { g in
            let (gq, gk, gv) = trainBackward(q: q, k: k, v: v, o: po, lse: lse, dO: g, window: window, tiles: tiles, perturb: perturbBackward)
            FusedFault.corruptGradient(gq, fault)                      // test hook: dL/dq (reaches the loss through q_proj only)
            return [gq, gk, gv]
        }
    }
}

extension SelfAttention: FusedTraining {
    /// RoPE θ, head count / width, a sliding window, and T not a multiple of the tiles (the kernel handles
    /// ragged tiles itself).
    public static var fusedOptions: [LayerOption] {
        [LayerOption("rope theta 500") { $0.ropeTheta = 500 },
         LayerOption("8 heads") { $0.heads = 8 },
         LayerOption("2 heads") { $0.heads = 2 },
         LayerOption("window 4") { $0.attention.window = 4 }]
    }

    /// Every configuration trains on the fused kernel (head dim ≥ 1, any T).
    public var fusedTrainingSupported: Bool { true }
    /// A `.backward` fault scales dL/dq, which reaches the loss through `q_proj.weight` only.
    public var fusedFaultTarget: String { "q_proj.weight" }
}
