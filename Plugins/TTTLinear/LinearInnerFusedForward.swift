// LinearInnerFusedForward.swift — TTT-Linear's raw-buffer kernels for the no-grad fused path (docs/ttt.md §1.7, §2).
import Layers
import TensorCore

extension LinearInner: FusedForwardInnerModel {
    public static func fusedDualScratch(d: Int, b: Int) -> Int { 2 * b * d + b * b }

    /// One mini-batch, one head (docs/ttt.md §1.7), n rows, θ = [W d×d, w 1×d] updated in place:
    ///
    ///     Z  = K·W + w                     [n, d]      then Δ = δ(Z) in place
    ///     z  = Q·W − M·Δ + w               [n, d]      M = tril(E ⊙ (Q·Kᵀ + 1)), E_ij = c_i·η_j
    ///     W −= Kᵀ·(e ⊙ Δ),  w −= Σ_j e_j Δ_j            e_j = c_n·η_j (last row of E)
    public static func fusedDual(_ θ: [UnsafeMutablePointer<Float>], _ r: FusedTTTRows, z: UnsafeMutablePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>) {
        let (n, d, W, w) = (r.n, r.d, θ[0], θ[1])
        let zk = scratch, a = zk + n * d, ed = a + n * n
        sgemm(transA: false, transB: false, m: n, n: d, k: d, r.k, lda: r.ld, W, ldb: d, zk, ldc: d)     // K·W
        sgemm(transA: false, transB: false, m: n, n: d, k: d, r.q, lda: r.ld, W, ldb: d, z, ldc: d)      // Q·W
        if r.bias { for i in 0..<n { let row = zk + i * d; for j in 0..<d { row[j] += w[j] } } }
        r.delta(zk)                                                                                       // Δ
        sgemm(transA: false, transB: true, m: n, n: n, k: d, r.q, lda: r.ld, r.k, ldb: r.ld, a, ldc: n)  // Q·Kᵀ
        r.weightLowerTriangle(a)                                                                          // M
        sgemm(transA: false, transB: false, m: n, n: d, k: n, a, lda: n, zk, ldb: d, z, ldc: d, alpha: -1, beta: 1)
        if r.bias { for i in 0..<n { let row = z + i * d; for j in 0..<d { row[j] += w[j] } } }
        // e ⊙ Δ, then the state update
        let cn = r.c[n - 1]
        for i in 0..<n {
            let e = cn * r.eta[i], src = zk + i * d, dst = ed + i * d
            for j in 0..<d { dst[j] = e * src[j] }
        }
        sgemm(transA: true, transB: false, m: d, n: d, k: n, r.k, lda: r.ld, ed, ldb: d, W, ldc: d, alpha: -1, beta: 1)
        if r.bias { for i in 0..<n { let row = ed + i * d; for j in 0..<d { w[j] -= row[j] } } }
    }

    public static func fusedStepScratch(d: Int) -> Int { d }

    /// One token (docs/ttt.md §2): δ = δ(k·W + w);  A_W += η kᵀδ, a_w += η δ;
    /// z = q·W − c·(q·A_W) + w − c·a_w;  commit: W −= c·A_W, w −= c·a_w, A ← 0.
    public static func fusedPrimalStep(_ θ: [UnsafeMutablePointer<Float>], acc: [UnsafeMutablePointer<Float>], _ r: FusedTTTRows,
                                      commit: Bool, z: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let (d, W, w, aW, aw) = (r.d, θ[0], θ[1], acc[0], acc[1])
        let dz = scratch, eta = r.eta[0], c = r.c[0]
        sgemm(transA: false, transB: false, m: 1, n: d, k: d, r.k, lda: d, W, ldb: d, dz, ldc: d)        // k·W
        if r.bias { for j in 0..<d { dz[j] += w[j] } }
        r.delta(dz)
        for i in 0..<d {                                                                                   // A_W += η kᵀδ
            let ki = eta * r.k[i], row = aW + i * d
            for j in 0..<d { row[j] += ki * dz[j] }
        }
        for j in 0..<d { aw[j] += eta * dz[j] }
        sgemm(transA: false, transB: false, m: 1, n: d, k: d, r.q, lda: d, W, ldb: d, z, ldc: d)
        sgemm(transA: false, transB: false, m: 1, n: d, k: d, r.q, lda: d, aW, ldb: d, z, ldc: d, alpha: -c, beta: 1)
        if r.bias { for j in 0..<d { z[j] += w[j] - c * aw[j] } }
        if commit {
            for i in 0..<(d * d) { W[i] -= c * aW[i]; aW[i] = 0 }
            if r.bias { for j in 0..<d { w[j] -= c * aw[j] } }
            for j in 0..<d { aw[j] = 0 }
        }
    }
}
