// MLPInnerFusedForward.swift — TTT-MLP's raw-buffer kernels for the no-grad fused path (docs/ttt.md §1.8, §2).
import Layers
import TensorCore

extension MLPInner: FusedForwardInnerModel {
    public static func fusedDualScratch(d: Int, b: Int) -> Int { 5 * b * 4 * d + b * d + b * b }

    /// One mini-batch, one head (docs/ttt.md §1.8), hidden h = 4d; θ = [W1 d×h, w1 1×h, W2 h×d, w2 1×d]:
    ///
    ///     Z1 = K·W1 + w1;  X2, G' = gelu, gelu'(Z1);  Z2 = X2·W2 + w2;  Δ2 = δ(Z2);  Δ1 = (Δ2·W2ᵀ) ⊙ G'
    ///     Zq1 = Q·W1 − M1·Δ1 + w1          M1 = tril(E ⊙ (Q·Kᵀ + 1))
    ///     X̄2 = gelu(Zq1);  z = X̄2·W2 − M2·Δ2 + w2      M2 = tril(E ⊙ (X̄2·X2ᵀ + 1))
    ///     W1 −= Kᵀ·(e⊙Δ1), w1 −= Σ e⊙Δ1, W2 −= X2ᵀ·(e⊙Δ2), w2 −= Σ e⊙Δ2
    public static func fusedDual(_ θ: [UnsafeMutablePointer<Float>], _ r: FusedTTTRows, z: UnsafeMutablePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>) {
        let (n, d) = (r.n, r.d), h = 4 * d
        let (W1, w1, W2, w2) = (θ[0], θ[1], θ[2], θ[3])
        let x2 = scratch, gp = x2 + n * h, d1 = gp + n * h, zq1 = d1 + n * h, ed = zq1 + n * h
        let d2 = ed + n * h, a = d2 + n * d
        // keys: Z1 → X2 (and G'), Z2 → Δ2, Δ1
        sgemm(transA: false, transB: false, m: n, n: h, k: d, r.k, lda: r.ld, W1, ldb: h, x2, ldc: h)
        addBias(x2, n, h, r.bias ? w1 : nil)
        GeluKernels.geluAndPrime(x2, prime: gp, n * h)
        sgemm(transA: false, transB: false, m: n, n: d, k: h, x2, lda: h, W2, ldb: d, d2, ldc: d)
        addBias(d2, n, d, r.bias ? w2 : nil)
        r.delta(d2)
        sgemm(transA: false, transB: true, m: n, n: h, k: d, d2, lda: d, W2, ldb: d, d1, ldc: h)
        for i in 0..<(n * h) { d1[i] *= gp[i] }
        // queries, first layer
        sgemm(transA: false, transB: false, m: n, n: h, k: d, r.q, lda: r.ld, W1, ldb: h, zq1, ldc: h)
        sgemm(transA: false, transB: true, m: n, n: n, k: d, r.q, lda: r.ld, r.k, ldb: r.ld, a, ldc: n)
        r.weightLowerTriangle(a)
        sgemm(transA: false, transB: false, m: n, n: h, k: n, a, lda: n, d1, ldb: h, zq1, ldc: h, alpha: -1, beta: 1)
        addBias(zq1, n, h, r.bias ? w1 : nil)
        GeluKernels.gelu(zq1, n * h)                                   // X̄2
        // queries, second layer
        sgemm(transA: false, transB: false, m: n, n: d, k: h, zq1, lda: h, W2, ldb: d, z, ldc: d)
        sgemm(transA: false, transB: true, m: n, n: n, k: h, zq1, lda: h, x2, ldb: h, a, ldc: n)
        r.weightLowerTriangle(a)
        sgemm(transA: false, transB: false, m: n, n: d, k: n, a, lda: n, d2, ldb: d, z, ldc: d, alpha: -1, beta: 1)
        addBias(z, n, d, r.bias ? w2 : nil)
        // state update with e_j = c_n·η_j
        let cn = r.c[n - 1]
        for i in 0..<n { let e = cn * r.eta[i]; for j in 0..<h { ed[i * h + j] = e * d1[i * h + j] } }
        sgemm(transA: true, transB: false, m: d, n: h, k: n, r.k, lda: r.ld, ed, ldb: h, W1, ldc: h, alpha: -1, beta: 1)
        if r.bias { subtractColumnSums(ed, n, h, from: w1) }
        for i in 0..<n { let e = cn * r.eta[i]; for j in 0..<d { ed[i * d + j] = e * d2[i * d + j] } }
        sgemm(transA: true, transB: false, m: h, n: d, k: n, x2, lda: h, ed, ldb: d, W2, ldc: d, alpha: -1, beta: 1)
        if r.bias { subtractColumnSums(ed, n, d, from: w2) }
    }

    public static func fusedStepScratch(d: Int) -> Int { 4 * 4 * d + d }

    /// One token (docs/ttt.md §2): forward and backward at θ_start, accumulate η·G into acc, then the output
    /// with θ̃ = θ_start − c·acc applied as z = f_res(q; θ̃) without materialising θ̃ (until commit).
    public static func fusedPrimalStep(_ θ: [UnsafeMutablePointer<Float>], acc: [UnsafeMutablePointer<Float>], _ r: FusedTTTRows,
                                      commit: Bool, z: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let d = r.d, h = 4 * d, eta = r.eta[0], c = r.c[0]
        let (W1, w1, W2, w2) = (θ[0], θ[1], θ[2], θ[3]), (A1, a1, A2, a2) = (acc[0], acc[1], acc[2], acc[3])
        let x2 = scratch, gp = x2 + h, d1 = gp + h, xq = d1 + h, d2 = xq + h
        sgemm(transA: false, transB: false, m: 1, n: h, k: d, r.k, lda: d, W1, ldb: h, x2, ldc: h)
        addBias(x2, 1, h, r.bias ? w1 : nil)
        GeluKernels.geluAndPrime(x2, prime: gp, h)
        sgemm(transA: false, transB: false, m: 1, n: d, k: h, x2, lda: h, W2, ldb: d, d2, ldc: d)
        addBias(d2, 1, d, r.bias ? w2 : nil)
        r.delta(d2)
        sgemm(transA: false, transB: true, m: 1, n: h, k: d, d2, lda: d, W2, ldb: d, d1, ldc: h)
        for i in 0..<h { d1[i] *= gp[i] }
        // acc += η·G
        for i in 0..<d { let s = eta * r.k[i], row = A1 + i * h; for j in 0..<h { row[j] += s * d1[j] } }
        for j in 0..<h { a1[j] += eta * d1[j] }
        for i in 0..<h { let s = eta * x2[i], row = A2 + i * d; for j in 0..<d { row[j] += s * d2[j] } }
        for j in 0..<d { a2[j] += eta * d2[j] }
        // z = gelu(q·W1 − c·q·A1 + w1 − c·a1)·(W2 − c·A2) + w2 − c·a2
        sgemm(transA: false, transB: false, m: 1, n: h, k: d, r.q, lda: d, W1, ldb: h, xq, ldc: h)
        sgemm(transA: false, transB: false, m: 1, n: h, k: d, r.q, lda: d, A1, ldb: h, xq, ldc: h, alpha: -c, beta: 1)
        if r.bias { for j in 0..<h { xq[j] += w1[j] - c * a1[j] } }
        GeluKernels.gelu(xq, h)
        sgemm(transA: false, transB: false, m: 1, n: d, k: h, xq, lda: h, W2, ldb: d, z, ldc: d)
        sgemm(transA: false, transB: false, m: 1, n: d, k: h, xq, lda: h, A2, ldb: d, z, ldc: d, alpha: -c, beta: 1)
        if r.bias { for j in 0..<d { z[j] += w2[j] - c * a2[j] } }
        if commit {
            for i in 0..<(d * h) { W1[i] -= c * A1[i]; A1[i] = 0; W2[i] -= c * A2[i]; A2[i] = 0 }
            if r.bias { for j in 0..<h { w1[j] -= c * a1[j] }; for j in 0..<d { w2[j] -= c * a2[j] } }
            for j in 0..<h { a1[j] = 0 }
            for j in 0..<d { a2[j] = 0 }
        }
    }

    @inline(__always) static func addBias(_ x: UnsafeMutablePointer<Float>, _ n: Int, _ m: Int, _ bias: UnsafeMutablePointer<Float>?) {
        guard let bias else { return }
        for i in 0..<n { let row = x + i * m; for j in 0..<m { row[j] += bias[j] } }
    }

    @inline(__always) static func subtractColumnSums(_ x: UnsafeMutablePointer<Float>, _ n: Int, _ m: Int, from w: UnsafeMutablePointer<Float>) {
        for i in 0..<n { let row = x + i * m; for j in 0..<m { w[j] -= row[j] } }
    }
}
