// LinearAttentionFused.swift — linear attention (simple form) in the chunked form on raw buffers
// (docs/baselines.md §2), continuing from a state S, for no-grad prefill and multi-token decode.
//
//   per (sequence·head), chunk of c rows:   Z = Qc·S + tril(Qc·Kcᵀ)·Vc       [c, d]  (causal part only)
//                                            S += Kcᵀ·Vc                      [d, d]
import TensorCore

extension LinearAttention {
    /// Chunk length of the fast path (32: the c×c×d intra-chunk products stay below the d×d ones at d = 64).
    public static var fastChunk = 32

    /// z [B, t, D] from q, k, v [B, t, D] (heads side by side), advancing S [B·H, d, d] in place.
    static func fastMix(q: Tensor, k: Tensor, v: Tensor, heads H: Int, state s: UnsafeMutablePointer<Float>) -> Tensor {
        let (B, t, D) = (q.dim(0), q.dim(1), q.dim(2)), d = D / H, c = fastChunk
        let z = Tensor(uninitializedShape: [B, t, D])
        let pq = q.data, pk = k.data, pv = v.data, pz = z.data
        Parallel.forEach(B * H) { bh in
            let bi = bh / H, hh = bh % H
            let a = FastBuffer(c * c)
            let S = s + bh * d * d
            var lo = 0
            while lo < t {
                let n = min(c, t - lo), off = (bi * t + lo) * D + hh * d
                let qc = pq + off, kc = pk + off, vc = pv + off, zc = pz + off
                sgemm(transA: false, transB: true, m: n, n: n, k: d, qc, lda: D, kc, ldb: D, a.p, ldc: n)      // Qc·Kcᵀ
                sgemm(transA: false, transB: false, m: n, n: d, k: d, qc, lda: D, S, ldb: d, zc, ldc: D)       // Qc·S
                CausalGEMM.accumulate(m: n, w: n, shift: 0, d: d, a.p, ldp: n, vc, ldv: D, zc, ldo: D)         // + tril(·)·Vc (NaN-safe)
                sgemm(transA: true, transB: false, m: d, n: d, k: n, kc, lda: D, vc, ldb: D, S, ldc: d, beta: 1)    // S += Kcᵀ·Vc
                lo += n
            }
        }
        FLOPCounter.matmul += 4 * B * D * d * t
        return z
    }

    /// No-grad prefill on the fast kernels (simple variant): x [B, T, D] → [B, T, D].
    public func fastForward(_ x: Tensor) -> Tensor {
        let (B, t, H) = (x.dim(0), x.dim(1), config.heads), d = config.headDim
        let q = FastGEMM.linear(x, wq, shape: [B, t]), k = FastGEMM.linear(x, wk, shape: [B, t]), v = FastGEMM.linear(x, wv, shape: [B, t])
        let s = FastBuffer(B * H * d * d, zero: true)
        let z = withExtendedLifetime(s) { LinearAttention.fastMix(q: q, k: k, v: v, heads: H, state: s.p) }
        FusedFault.corruptOutput(z, fusedFault)                        // test hook (nil in normal use)
        return FastGEMM.linear(z, wo, shape: [B, t])
    }

    /// No-grad decode (simple variant): chunked over the t new tokens, continuing from the state S.
    func fastStep(_ x: Tensor, state st: State) -> Tensor {
        let (B, t, H) = (x.dim(0), x.dim(1), config.heads)
        let q = FastGEMM.linear(x, wq, shape: [B, t]), k = FastGEMM.linear(x, wk, shape: [B, t]), v = FastGEMM.linear(x, wv, shape: [B, t])
        let z = LinearAttention.fastMix(q: q, k: k, v: v, heads: H, state: st.inner.s)
        st.advance(t)
        FusedFault.corruptOutput(z, fusedFault)                        // test hook (nil in normal use)
        return FastGEMM.linear(z, wo, shape: [B, t])
    }
}
