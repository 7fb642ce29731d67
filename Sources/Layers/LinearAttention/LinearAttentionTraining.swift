// LinearAttentionTraining.swift — linear attention (simple variant, Theorem 1; elu through it) as ONE autodiff node for training
// (docs/baselines.md §2, docs/ttt-backward.md §5): chunked forward saving the chunk-start states, chunked backward with a
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
    /// Chunked forward on heads q, k [BH, T, dk], v [BH, T, dv]: z [BH, T, dv] and the chunk-start states
    /// [BH, chunks, dk, dv].
    static func trainForward(q: Tensor, k: Tensor, v: Tensor, chunk c: Int) -> (Tensor, FastBuffer) {
        let (bh, t, dk, dv) = (q.dim(0), q.dim(1), q.dim(2), v.dim(2)), chunks = (t + c - 1) / c
        let z = Tensor(uninitializedShape: [bh, t, dv]), states = FastBuffer(bh * chunks * dk * dv)
        let pq = q.data, pk = k.data, pv = v.data, pz = z.data, pst = states.p
        Parallel.forEach(bh) { b in
            let a = FastBuffer(c * c), s = FastBuffer(dk * dv, zero: true)
            chunkedHead(t: t, dk: dk, dv: dv, chunk: c, q: pq + b * t * dk, k: pk + b * t * dk, ldqk: dk, v: pv + b * t * dv, ldv: dv,
                        z: pz + b * t * dv, ldz: dv, state: s.p, scratch: a.p, saved: pst + b * chunks * dk * dv)
            withExtendedLifetime((a, s)) {}
        }
        FLOPCounter.matmul += bh * t * (4 * dk * dv + c * (2 * dk + dv))
        return (z, states)
    }

    /// Chunked backward: (dQ, dK, dV) from dZ and the saved states. `perturb` (tests only) is added to every dK
    /// entry — a deliberately wrong backward for the negative control.
    static func trainBackward(q: Tensor, k: Tensor, v: Tensor, states: FastBuffer, dZ: Tensor, chunk c: Int,
                              perturb: Float = 0) -> (Tensor, Tensor, Tensor) {
        let (bh, t, dk, dv) = (q.dim(0), q.dim(1), q.dim(2), v.dim(2)), chunks = (t + c - 1) / c
        let gq = Tensor(uninitializedShape: q.shape), gk = Tensor(uninitializedShape: k.shape), gv = Tensor(uninitializedShape: v.shape)
        let pq = q.data, pk = k.data, pv = v.data, pg = dZ.data, pst = states.p
        let pgq = gq.data, pgk = gk.data, pgv = gv.data
        Parallel.forEach(bh) { b in
            let a = FastBuffer(c * c), da = FastBuffer(c * c), ds = FastBuffer(dk * dv, zero: true)
            for ci in stride(from: chunks - 1, through: 0, by: -1) {
                let lo = ci * c, n = min(c, t - lo), ok = (b * t + lo) * dk, ov = (b * t + lo) * dv
                let qc = pq + ok, kc = pk + ok, vc = pv + ov, gz = pg + ov
                let sPrev = pst + (b * chunks + ci) * dk * dv
                // A = tril(Q_c·K_cᵀ), dA = tril(dZ_c·V_cᵀ)   [n, n]
                sgemm(transA: false, transB: true, m: n, n: n, k: dk, qc, lda: dk, kc, ldb: dk, a.p, ldc: n)
                sgemm(transA: false, transB: true, m: n, n: n, k: dv, gz, lda: dv, vc, ldb: dv, da.p, ldc: n)
                for i in 0..<n { for j in (i + 1)..<max(n, i + 1) { a.p[i * n + j] = 0; da.p[i * n + j] = 0 } }
                // dQ_c = dA·K_c + dZ_c·S_{c−1}ᵀ   [n, dk]
                sgemm(transA: false, transB: false, m: n, n: dk, k: n, da.p, lda: n, kc, ldb: dk, pgq + ok, ldc: dk)
                sgemm(transA: false, transB: true, m: n, n: dk, k: dv, gz, lda: dv, sPrev, ldb: dv, pgq + ok, ldc: dk, beta: 1)
                // dK_c = dAᵀ·Q_c + V_c·dSᵀ   [n, dk]
                sgemm(transA: true, transB: false, m: n, n: dk, k: n, da.p, lda: n, qc, ldb: dk, pgk + ok, ldc: dk)
                sgemm(transA: false, transB: true, m: n, n: dk, k: dv, vc, lda: dv, ds.p, ldb: dv, pgk + ok, ldc: dk, beta: 1)
                // dV_c = Aᵀ·dZ_c + K_c·dS   [n, dv]
                sgemm(transA: true, transB: false, m: n, n: dv, k: n, a.p, lda: n, gz, ldb: dv, pgv + ov, ldc: dv)
                sgemm(transA: false, transB: false, m: n, n: dv, k: dk, kc, lda: dk, ds.p, ldb: dv, pgv + ov, ldc: dv, beta: 1)
                // dS += Q_cᵀ·dZ_c   [dk, dv]
                sgemm(transA: true, transB: false, m: dk, n: dv, k: n, qc, lda: dk, gz, ldb: dv, ds.p, ldc: dv, beta: 1)
            }
            withExtendedLifetime((a, da, ds)) {}
        }
        if perturb != 0 { for i in 0..<gk.count { pgk[i] += perturb } }
        FLOPCounter.matmul += bh * t * (8 * dk * dv + 4 * c * (dk + dv))
        return (gq, gk, gv)
    }

    /// Simple-variant mixing of heads q, k [BH, T, dk], v [BH, T, dv] → z [BH, T, dv] as one autodiff node (training).
    /// `perturbBackward` is a test hook: a non-zero value corrupts dK (negative control).
    ///
    /// ```swift
    /// let z = LinearAttention.fusedMix(q: q, k: k, v: v)     // ≡ mix(q:k:v:variant: .simple, form: …)
    /// ```
    public static func fusedMix(q: Tensor, k: Tensor, v: Tensor, chunk: Int = FusedTiles().linearTrainChunk, perturbBackward: Float = 0,
                                fault: FusedFault? = nil) -> Tensor {
        precondition(q.rank == 3 && k.shape == q.shape && v.rank == 3 && v.shape.dropLast() == q.shape.dropLast(),
                     "LinearAttention.fusedMix: q \(q.shape), k \(k.shape) must be [BH, T, dk] and v \(v.shape) [BH, T, dv]")
        let (z, states) = trainForward(q: q, k: k, v: v, chunk: chunk)
        FusedFault.corruptOutput(z, fault)                             // test hook (nil in normal use)
        guard Tensor.recording([q, k, v]) else { return z }
        return z.recordingFused("linearAttention", [q, k, v]) { g in
            let (gq, gk, gv) = trainBackward(q: q, k: k, v: v, states: states, dZ: g, chunk: chunk, perturb: perturbBackward)
            FusedFault.corruptGradient(gq, fault)                      // test hook: dL/dq (reaches the loss through q_proj only)
            return [gq, gk, gv]
        }
    }
}

extension LinearAttention {
    /// The fused training mixing for either variant on heads q, k, v [BH, T, d] → z [BH, T, d]. elu runs the
    /// simple kernel on φ(q), φ(k) and [v | 1] (the extra column carries the normalizer
    /// φ(q_t)·Σ_{s≤t} φ(k_s)), then divides — φ, the concatenation and the division stay tensor ops.
    ///
    /// ```swift
    /// let z = LinearAttention.fusedMix(q: q, k: k, v: v, variant: .elu)   // ≡ mix(q:k:v:variant: .elu, form: …)
    /// ```
    public static func fusedMix(q: Tensor, k: Tensor, v: Tensor, variant: Variant, chunk: Int = FusedTiles().linearTrainChunk,
                                fault: FusedFault? = nil) -> Tensor {
        guard variant == .elu else { return fusedMix(q: q, k: k, v: v, chunk: chunk, fault: fault) }
        let d = v.dim(2)
        let nd = fusedMix(q: q.elu() + 1, k: k.elu() + 1, v: concat([v, Tensor(repeating: 1, shape: [v.dim(0), v.dim(1), 1])], axis: 2),
                          chunk: chunk, fault: fault)
        return nd.slice(axis: 2, 0, d) / nd.slice(axis: 2, d, d + 1)      // [BH, T, d] ÷ [BH, T, 1]
    }
}

extension LinearAttention: FusedTraining {
    /// Variant, chunk size of the reference form (parallel, small) and head count; the fused kernel handles T not
    /// a multiple of its own chunk.
    public static var fusedOptions: [LayerOption] {
        [LayerOption("elu variant") { $0.linearAttention.variant = "elu" },
         LayerOption("elu variant, chunk 5") { $0.linearAttention.variant = "elu"; $0.linearAttention.chunk = 5 },
         LayerOption("parallel form") { $0.linearAttention.chunk = 0 },
         LayerOption("chunk 5") { $0.linearAttention.chunk = 5 },
         LayerOption("8 heads") { $0.heads = 8 }]
    }

    /// Both variants train on the fused kernel (elu through the simple kernel with a normalizer column).
    public var fusedTrainingSupported: Bool { true }
    /// A `.backward` fault scales dL/dq (of φ(q) for elu), which reaches the loss through `q_proj.weight` only.
    public var fusedFaultTarget: String { "q_proj.weight" }
}
