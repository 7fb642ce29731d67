// LinearAttentionFused.swift — linear attention (simple form) in the chunked form on raw buffers
// (docs/baselines.md §2), continuing from a state S, for no-grad prefill and multi-token decode.
//
//   per (sequence·head), chunk of c rows:   Z = Qc·S + tril(Qc·Kcᵀ)·Vc       [c, d]  (causal part only)
//                                            S += Kcᵀ·Vc                      [d, d]
import TensorCore

extension LinearAttention {
    /// The chunked simple form for ONE sequence×head, shared by the no-grad path (below) and the training
    /// kernel (LinearAttentionTraining.swift). Rows of q, k (dk wide, stride `ldqk`), v (dv wide, stride `ldv`)
    /// and z (stride `ldz`); S [dk, dv] is continued in place; `a` holds chunk² floats. `saved` (training)
    /// receives S before each chunk ci at `saved + ci·dk·dv`.
    ///
    ///     per chunk c of `chunk` rows:   Z_c = Q_c·S + tril(Q_c·K_cᵀ)·V_c       [c, dv]  (causal part only)
    ///                                    S  += K_cᵀ·V_c                          [dk, dv]
    @inline(__always) static func chunkedHead(t: Int, dk: Int, dv: Int, chunk c: Int,
                                              q: UnsafePointer<Float>, k: UnsafePointer<Float>, ldqk: Int,
                                              v: UnsafePointer<Float>, ldv: Int, z: UnsafeMutablePointer<Float>, ldz: Int,
                                              state S: UnsafeMutablePointer<Float>, scratch a: UnsafeMutablePointer<Float>,
                                              saved: UnsafeMutablePointer<Float>? = nil) {
        var lo = 0, ci = 0
        while lo < t {
            let n = min(c, t - lo)
            let qc = q + lo * ldqk, kc = k + lo * ldqk, vc = v + lo * ldv, zc = z + lo * ldz
            saved?.advanced(by: ci * dk * dv).update(from: S, count: dk * dv)                                  // S_{c−1}
            sgemm(transA: false, transB: true, m: n, n: n, k: dk, qc, lda: ldqk, kc, ldb: ldqk, a, ldc: n)      // Q_c·K_cᵀ
            sgemm(transA: false, transB: false, m: n, n: dv, k: dk, qc, lda: ldqk, S, ldb: dv, zc, ldc: ldz)    // Q_c·S
            CausalGEMM.accumulate(m: n, w: n, shift: 0, d: dv, a, ldp: n, vc, ldv: ldv, zc, ldo: ldz)           // + tril(·)·V_c (NaN-safe)
            sgemm(transA: true, transB: false, m: dk, n: dv, k: n, kc, lda: ldqk, vc, ldb: ldv, S, ldc: dv, beta: 1)   // S += K_cᵀ·V_c
            lo += n; ci += 1
        }
    }

    /// z [B, t, D] from q, k, v [B, t, D] (heads side by side), advancing S [B·H, d, d] in place.
    static func fusedMixRows(q: Tensor, k: Tensor, v: Tensor, heads H: Int, chunk c: Int, state s: UnsafeMutablePointer<Float>) -> Tensor {
        let (B, t, D) = (q.dim(0), q.dim(1), q.dim(2)), d = D / H
        let z = Tensor(uninitializedShape: [B, t, D])
        let pq = q.data, pk = k.data, pv = v.data, pz = z.data
        Parallel.forEach(B * H) { bh in
            let bi = bh / H, hh = bh % H, off = bi * t * D + hh * d
            let a = FastBuffer(c * c)
            chunkedHead(t: t, dk: d, dv: d, chunk: c, q: pq + off, k: pk + off, ldqk: D, v: pv + off, ldv: D, z: pz + off, ldz: D,
                        state: s + bh * d * d, scratch: a.p)
            withExtendedLifetime(a) {}
        }
        FLOPCounter.matmul += 4 * B * D * d * t
        return z
    }

    /// The fused path's end of the post-stage: the `.forward` test fault (nil in normal use), then `postStage`
    /// (LinearAttention.swift, the layer's one post-stage).
    func fusedOutput(_ z: Tensor) -> Tensor {
        FusedFault.corruptOutput(z, fusedFault)
        return postStage(z)
    }

    /// No-grad prefill on the fused kernels (simple variant): x [B, T, D] → [B, T, D].
    public func fusedForward(_ x: Tensor) -> Tensor {
        let (q, k, v) = preStage(x)
        let (H, d) = (config.heads, config.headDim)
        let s = FastBuffer(x.dim(0) * H * d * d, zero: true)
        let z = withExtendedLifetime(s) { LinearAttention.fusedMixRows(q: q, k: k, v: v, heads: H, chunk: tiles.linearChunk, state: s.p) }
        return fusedOutput(z)
    }

    /// No-grad decode (simple variant): chunked over the t new tokens, continuing from the state S.
    func fusedStep(_ x: Tensor, state st: State) -> Tensor {
        let (q, k, v) = preStage(x)
        let z = LinearAttention.fusedMixRows(q: q, k: k, v: v, heads: config.heads, chunk: tiles.linearChunk, state: st.inner.s)
        st.advance(x.dim(1))
        return fusedOutput(z)
    }
}
