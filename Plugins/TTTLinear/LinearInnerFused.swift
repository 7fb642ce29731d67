// LinearInnerFused.swift — TTT-Linear's fused-training backward of one mini-batch (docs/ttt-backward.md §3).
import Layers
import TensorCore

extension LinearInner: FusedInnerModel {
    public static func fusedBackwardScratch(d: Int, b: Int) -> Int {
        4 * b * d + 2 * d + FusedTTT.blockScratch(n: b, p: d, m: d)
    }

    /// One head, one mini-batch of n rows, θ = [W d×d, w 1×d] at the mini-batch start:
    ///
    ///     recompute  Z = K·W + w,  Δ = δ(Z)                                    [n, d]
    ///     block VJP  (gZ̄, gW', gw') → gQ, gK, gΔ, gW, gw, gc, gη             (FusedTTT.dualBlockVJP)
    ///     δ VJP      gΔ → gZ, gTarget, gγ, gβ                                  (FusedTTT.deltaVJPRow)
    ///     gK += gZ·Wᵀ;  gW += Kᵀ·gZ;  gw += 1ᵀ·gZ
    public static func fusedDualBackward(_ θ: [UnsafeMutablePointer<Float>], _ r: FusedTTTRows, gZbar: UnsafePointer<Float>,
                                         gθ: [UnsafeMutablePointer<Float>], _ g: FusedTTTGrads, scratch: UnsafeMutablePointer<Float>) {
        let (n, d, W, w) = (r.n, r.d, θ[0], θ[1])
        let z = scratch, delta = z + n * d, gd = delta + n * d, tmp = gd + n * d, blk = tmp + 2 * d
        sgemm(transA: false, transB: false, m: n, n: d, k: d, r.k, lda: r.ld, W, ldb: d, z, ldc: d)          // Z = K·W
        if r.bias { for i in 0..<n { let row = z + i * d; for j in 0..<d { row[j] += w[j] } } }
        delta.update(from: z, count: n * d)
        r.delta(delta)                                                                                       // Δ
        FusedTTT.dualBlockVJP(n: n, p: d, m: d, qx: r.q, ldq: r.ld, kx: r.k, ldk: r.ld, delta: delta, W: W, gz: gZbar,
                              gW: gθ[0], gw: r.bias ? gθ[1] : nil, gqx: g.gq, ldgq: g.ld, gkx: g.gk, ldgk: g.ld,
                              gDelta: gd, c: r.c, eta: r.eta, gc: g.gc, gEta: g.gEta, bias: r.bias, scratch: blk)
        for i in 0..<n {                                                                                     // gΔ → gZ
            FusedTTT.deltaVJPRow(z + i * d, d, target: r.target + i * d, gamma: r.gamma, beta: r.beta, innerLN: r.innerLN,
                                 g: gd + i * d, gt: g.gTarget + i * d, gGamma: g.gGamma, gBeta: g.gBeta, tmp: tmp)
        }
        sgemm(transA: false, transB: true, m: n, n: d, k: d, gd, lda: d, W, ldb: d, g.gk, ldc: g.ld, beta: 1)      // gK += gZ·Wᵀ
        sgemm(transA: true, transB: false, m: d, n: d, k: n, r.k, lda: r.ld, gd, ldb: d, gθ[0], ldc: d, beta: 1)   // gW += Kᵀ·gZ
        if r.bias { FusedTTT.addColumnSums(gd, n, d, into: gθ[1]) }
    }
}
