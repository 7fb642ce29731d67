// MLPInnerFused.swift — TTT-MLP's fused-training backward of one mini-batch (docs/ttt-backward.md §3).
import Layers
import TensorCore

extension MLPInner: FusedInnerModel {
    public static func fusedBackwardScratch(d: Int, b: Int) -> Int {
        let h = 4 * d
        return 11 * b * h + 4 * b * d + 2 * h + FusedTTT.blockScratch(n: b, p: h, m: h)
    }

    /// One head, one mini-batch of n rows, hidden h = 4d, θ = [W1 d×h, w1 1×h, W2 h×d, w2 1×d] at the start.
    ///
    ///     recompute  Z1 = K·W1 + w1; X2, G' = gelu, gelu'(Z1); Z2 = X2·W2 + w2; Δ2 = δ(Z2); U = Δ2·W2ᵀ; Δ1 = U ⊙ G'
    ///                Z̄1 = Q·W1 − M1·Δ1 + w1;  X̄2 = gelu(Z̄1)
    ///     1. block-2 VJP (Qx = X̄2, Kx = X2, Δ2, W2)      → gX̄2, gX2, gΔ2, gW2, gw2
    ///     2. gZ̄1 = gX̄2 ⊙ gelu'(Z̄1); block-1 VJP (Q, K, Δ1, W1) → gQ, gK, gΔ1, gW1, gw1
    ///     3. gU = gΔ1 ⊙ G'; gΔ2 += gU·W2; gW2 += gUᵀ·Δ2; gZ1 = gΔ1 ⊙ U ⊙ gelu''(Z1)
    ///     4. δ VJP at Z2 → gZ2, gTarget, gγ, gβ; gX2 += gZ2·W2ᵀ; gW2 += X2ᵀ·gZ2; gw2 += 1ᵀ·gZ2
    ///     5. gZ1 += gX2 ⊙ G'; gK += gZ1·W1ᵀ; gW1 += Kᵀ·gZ1; gw1 += 1ᵀ·gZ1
    public static func fusedDualBackward(_ θ: [UnsafeMutablePointer<Float>], _ r: FusedTTTRows, gZbar: UnsafePointer<Float>,
                                         gθ: [UnsafeMutablePointer<Float>], _ g: FusedTTTGrads, scratch: UnsafeMutablePointer<Float>) {
        let (n, d) = (r.n, r.d), h = 4 * d, nh = n * h
        let (W1, w1, W2, w2) = (θ[0], θ[1], θ[2], θ[3])
        let z1 = scratch, x2 = z1 + nh, gp = x2 + nh, u = gp + nh, d1 = u + nh, zq1 = d1 + nh, xq2 = zq1 + nh
        let gxq2 = xq2 + nh, gx2 = gxq2 + nh, gd1 = gx2 + nh, gz1 = gd1 + nh
        let z2 = gz1 + nh, d2 = z2 + n * d, gd2 = d2 + n * d, gzq1d = gd2 + n * d   // gzq1d: n·d spare
        let tmp = gzq1d + n * d, blk = tmp + 2 * h
        _ = gzq1d
        // recompute the keys' side
        sgemm(transA: false, transB: false, m: n, n: h, k: d, r.k, lda: r.ld, W1, ldb: h, z1, ldc: h)          // Z1
        if r.bias { addRows(z1, n, h, w1) }
        for i in 0..<nh { x2[i] = z1[i] }
        GeluKernels.geluAndPrime(x2, prime: gp, nh)                                                                               // X2, G'
        sgemm(transA: false, transB: false, m: n, n: d, k: h, x2, lda: h, W2, ldb: d, z2, ldc: d)              // Z2
        if r.bias { addRows(z2, n, d, w2) }
        d2.update(from: z2, count: n * d)
        r.delta(d2)                                                                                            // Δ2
        sgemm(transA: false, transB: true, m: n, n: h, k: d, d2, lda: d, W2, ldb: d, u, ldc: h)                // U = Δ2·W2ᵀ
        for i in 0..<nh { d1[i] = u[i] * gp[i] }                                                               // Δ1
        // recompute the queries' first layer: Z̄1 = Q·W1 − M1·Δ1 + w1
        let a = blk                                                                                            // n×n, reused by the VJPs after
        sgemm(transA: false, transB: false, m: n, n: h, k: d, r.q, lda: r.ld, W1, ldb: h, zq1, ldc: h)
        sgemm(transA: false, transB: true, m: n, n: n, k: d, r.q, lda: r.ld, r.k, ldb: r.ld, a, ldc: n)
        r.weightLowerTriangle(a)
        sgemm(transA: false, transB: false, m: n, n: h, k: n, a, lda: n, d1, ldb: h, zq1, ldc: h, alpha: -1, beta: 1)
        if r.bias { addRows(zq1, n, h, w1) }
        for i in 0..<nh { xq2[i] = zq1[i] }
        GeluKernels.gelu(xq2, nh)                                                          // X̄2
        // 1. block 2
        for i in 0..<nh { gxq2[i] = 0; gx2[i] = 0 }
        FusedTTT.dualBlockVJP(n: n, p: h, m: d, qx: xq2, ldq: h, kx: x2, ldk: h, delta: d2, W: W2, gz: gZbar,
                              gW: gθ[2], gw: r.bias ? gθ[3] : nil, gqx: gxq2, ldgq: h, gkx: gx2, ldgk: h,
                              gDelta: gd2, c: r.c, eta: r.eta, gc: g.gc, gEta: g.gEta, bias: r.bias, scratch: blk)
        // 2. block 1 with gZ̄1 = gX̄2 ⊙ gelu'(Z̄1) (in place over gX̄2)
        GeluKernels.timesPrime(zq1, gxq2, nh)
        FusedTTT.dualBlockVJP(n: n, p: d, m: h, qx: r.q, ldq: r.ld, kx: r.k, ldk: r.ld, delta: d1, W: W1, gz: gxq2,
                              gW: gθ[0], gw: r.bias ? gθ[1] : nil, gqx: g.gq, ldgq: g.ld, gkx: g.gk, ldgk: g.ld,
                              gDelta: gd1, c: r.c, eta: r.eta, gc: g.gc, gEta: g.gEta, bias: r.bias, scratch: blk)
        // 3. Δ1 = U ⊙ G': gU (into gd1's copy gz1 first for gelu'')
        GeluKernels.secondOrder(z: z1, u: u, gp: gp, g: gd1, out: gz1, nh)                                         // gZ1, gU
        sgemm(transA: false, transB: false, m: n, n: d, k: h, gd1, lda: h, W2, ldb: d, gd2, ldc: d, beta: 1)   // gΔ2 += gU·W2
        sgemm(transA: true, transB: false, m: h, n: d, k: n, gd1, lda: h, d2, ldb: d, gθ[2], ldc: d, beta: 1)  // gW2 += gUᵀ·Δ2
        // 4. δ VJP at Z2
        for i in 0..<n {
            FusedTTT.deltaVJPRow(z2 + i * d, d, target: r.target + i * d, gamma: r.gamma, beta: r.beta, innerLN: r.innerLN,
                                 g: gd2 + i * d, gt: g.gTarget + i * d, gGamma: g.gGamma, gBeta: g.gBeta, tmp: tmp)
        }
        sgemm(transA: false, transB: true, m: n, n: h, k: d, gd2, lda: d, W2, ldb: d, gx2, ldc: h, beta: 1)    // gX2 += gZ2·W2ᵀ
        sgemm(transA: true, transB: false, m: h, n: d, k: n, x2, lda: h, gd2, ldb: d, gθ[2], ldc: d, beta: 1)  // gW2 += X2ᵀ·gZ2
        if r.bias { FusedTTT.addColumnSums(gd2, n, d, into: gθ[3]) }
        // 5. first layer of the keys
        for i in 0..<nh { gz1[i] += gx2[i] * gp[i] }
        sgemm(transA: false, transB: true, m: n, n: d, k: h, gz1, lda: h, W1, ldb: h, g.gk, ldc: g.ld, beta: 1) // gK += gZ1·W1ᵀ
        sgemm(transA: true, transB: false, m: d, n: h, k: n, r.k, lda: r.ld, gz1, ldb: h, gθ[0], ldc: h, beta: 1) // gW1 += Kᵀ·gZ1
        if r.bias { FusedTTT.addColumnSums(gz1, n, h, into: gθ[1]) }
    }

    @inline(__always) static func addRows(_ x: UnsafeMutablePointer<Float>, _ n: Int, _ m: Int, _ bias: UnsafePointer<Float>) {
        for i in 0..<n { let row = x + i * m; for j in 0..<m { row[j] += bias[j] } }
    }
}
