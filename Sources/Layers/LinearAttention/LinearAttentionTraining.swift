// LinearAttentionTraining.swift — linear attention (simple variant, Theorem 1) as ONE autodiff node for training
// (baselines.md §2, ttt-backward.md §5): chunked forward saving the chunk-start states, chunked backward with a
// reverse running sum for the state path. Memory O(T·d) per head (T/c states of d×d, c = chunk ≥ d).
//
//   forward, per (sequence·head), chunk c of rows:      S_{c−1} saved          [d, d]
//       Z_c = Q_c·S_{c−1} + tril(Q_c·K_cᵀ)·V_c                                   [c, d]
//       S_c = S_{c−1} + K_cᵀ·V_c
//   backward, chunks in reverse, dS = ∂L/∂S_c (0 after the last chunk):
//       A  = tril(Q_c·K_cᵀ),  dA = tril(dZ_c·V_cᵀ)                             [c, c]
//       dQ_c = dA·K_c + dZ_c·S_{c−1}ᵀ
//       dK_c = dAᵀ·Q_c + V_c·dSᵀ
//       dV_c = Aᵀ·dZ_c + K_c·dS
//       dS  += Q_cᵀ·dZ_c
import TensorCore

extension LinearAttention {
    /// Chunk length of the training kernel (64: at d = 64 the intra-chunk c×c products cost as much as the
    /// d×d state products).
    public static var trainChunk = 64

    /// Chunked forward on heads q, k, v [BH, T, d]: z and the chunk-start states [BH, chunks, d, d].
    static func trainForward(q: Tensor, k: Tensor, v: Tensor) -> (Tensor, FastBuffer) {
        let (bh, t, d) = (q.dim(0), q.dim(1), q.dim(2)), c = trainChunk, chunks = (t + c - 1) / c
        let z = Tensor(uninitializedShape: [bh, t, d]), states = FastBuffer(bh * chunks * d * d)
        let pq = q.data, pk = k.data, pv = v.data, pz = z.data, pst = states.p
        Parallel.forEach(bh) { b in
            let a = FastBuffer(c * c), s = FastBuffer(d * d, zero: true)
            for ci in 0..<chunks {
                let lo = ci * c, n = min(c, t - lo), off = (b * t + lo) * d
                let qc = pq + off, kc = pk + off, vc = pv + off, zc = pz + off
                (pst + (b * chunks + ci) * d * d).update(from: s.p, count: d * d)                          // S_{c−1}
                sgemm(transA: false, transB: true, m: n, n: n, k: d, qc, lda: d, kc, ldb: d, a.p, ldc: n)   // Q_c·K_cᵀ
                sgemm(transA: false, transB: false, m: n, n: d, k: d, qc, lda: d, s.p, ldb: d, zc, ldc: d)  // Q_c·S
                CausalGEMM.accumulate(m: n, w: n, shift: 0, d: d, a.p, ldp: n, vc, ldv: d, zc, ldo: d)      // + tril(·)·V_c
                sgemm(transA: true, transB: false, m: d, n: d, k: n, kc, lda: d, vc, ldb: d, s.p, ldc: d, beta: 1)   // S += K_cᵀ·V_c
            }
            withExtendedLifetime((a, s)) {}
        }
        FLOPCounter.matmul += bh * t * (4 * d * d + 2 * c * d)
        return (z, states)
    }

    /// Chunked backward: (dQ, dK, dV) [BH, T, d] from dZ and the saved states. `perturb` (tests only) is added to
    /// every dK entry — a deliberately wrong backward for the negative control.
    static func trainBackward(q: Tensor, k: Tensor, v: Tensor, states: FastBuffer, dZ: Tensor, perturb: Float = 0) -> (Tensor, Tensor, Tensor) {
        let (bh, t, d) = (q.dim(0), q.dim(1), q.dim(2)), c = trainChunk, chunks = (t + c - 1) / c
        let gq = Tensor(uninitializedShape: [bh, t, d]), gk = Tensor(uninitializedShape: [bh, t, d]), gv = Tensor(uninitializedShape: [bh, t, d])
        let pq = q.data, pk = k.data, pv = v.data, pg = dZ.data, pst = states.p
        let pgq = gq.data, pgk = gk.data, pgv = gv.data
        Parallel.forEach(bh) { b in
            let a = FastBuffer(c * c), da = FastBuffer(c * c), ds = FastBuffer(d * d, zero: true)
            for ci in stride(from: chunks - 1, through: 0, by: -1) {
                let lo = ci * c, n = min(c, t - lo), off = (b * t + lo) * d
                let qc = pq + off, kc = pk + off, vc = pv + off, gz = pg + off
                let sPrev = pst + (b * chunks + ci) * d * d
                // A = tril(Q_c·K_cᵀ), dA = tril(dZ_c·V_cᵀ)   [n, n]
                sgemm(transA: false, transB: true, m: n, n: n, k: d, qc, lda: d, kc, ldb: d, a.p, ldc: n)
                sgemm(transA: false, transB: true, m: n, n: n, k: d, gz, lda: d, vc, ldb: d, da.p, ldc: n)
                for i in 0..<n { for j in (i + 1)..<max(n, i + 1) { a.p[i * n + j] = 0; da.p[i * n + j] = 0 } }
                // dQ_c = dA·K_c + dZ_c·S_{c−1}ᵀ
                sgemm(transA: false, transB: false, m: n, n: d, k: n, da.p, lda: n, kc, ldb: d, pgq + off, ldc: d)
                sgemm(transA: false, transB: true, m: n, n: d, k: d, gz, lda: d, sPrev, ldb: d, pgq + off, ldc: d, beta: 1)
                // dK_c = dAᵀ·Q_c + V_c·dSᵀ
                sgemm(transA: true, transB: false, m: n, n: d, k: n, da.p, lda: n, qc, ldb: d, pgk + off, ldc: d)
                sgemm(transA: false, transB: true, m: n, n: d, k: d, vc, lda: d, ds.p, ldb: d, pgk + off, ldc: d, beta: 1)
                // dV_c = Aᵀ·dZ_c + K_c·dS
                sgemm(transA: true, transB: false, m: n, n: d, k: n, a.p, lda: n, gz, ldb: d, pgv + off, ldc: d)
                sgemm(transA: false, transB: false, m: n, n: d, k: d, kc, lda: d, ds.p, ldb: d, pgv + off, ldc: d, beta: 1)
                // dS += Q_cᵀ·dZ_c
                sgemm(transA: true, transB: false, m: d, n: d, k: n, qc, lda: d, gz, ldb: d, ds.p, ldc: d, beta: 1)
            }
            withExtendedLifetime((a, da, ds)) {}
        }
        if perturb != 0 { for i in 0..<gk.count { pgk[i] += perturb } }
        FLOPCounter.matmul += bh * t * (8 * d * d + 8 * c * d)
        return (gq, gk, gv)
    }

    /// Simple-variant mixing of heads q, k, v [BH, T, d] → z [BH, T, d] as one autodiff node (training).
    /// `perturbBackward` is a test hook: a non-zero value corrupts dK (negative control).
    ///
    /// ```swift
    /// let z = LinearAttention.fusedMix(q: q, k: k, v: v)     // ≡ mix(q:k:v:variant: .simple, form: …)
    /// ```
    public static func fusedMix(q: Tensor, k: Tensor, v: Tensor, perturbBackward: Float = 0) -> Tensor {
        precondition(q.rank == 3 && k.shape == q.shape && v.shape == q.shape,
                     "LinearAttention.fusedMix: q \(q.shape), k \(k.shape), v \(v.shape) must all be [BH, T, d]")
        let (z, states) = trainForward(q: q, k: k, v: v)
        guard Tensor.recording([q, k, v]) else { return z }
        return z.recordingFused("linearAttention", [q, k, v]) { g in
            let (gq, gk, gv) = trainBackward(q: q, k: k, v: v, states: states, dZ: g, perturb: perturbBackward)
            return [gq, gk, gv]
        }
    }
}

extension LinearAttention: FusedTraining {
    /// Chunk size of the reference form (parallel, small, large) and head count; the fused kernel handles T not a
    /// multiple of its own chunk. The elu variant trains on the reference.
    public static var fusedOptions: [LayerOption] {
        [LayerOption("parallel form") { $0.chunk = 0 },
         LayerOption("chunk 5") { $0.chunk = 5 },
         LayerOption("8 heads") { $0.heads = 8 }]
    }

    /// True for the simple variant (Theorem 1); elu falls back to the reference.
    public var fusedTrainingSupported: Bool { variant == .simple }
}
