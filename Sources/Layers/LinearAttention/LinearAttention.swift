// LinearAttention.swift — linear attention in its parallel, chunked and recurrent forms (docs/baselines.md §2).
//
//   simple (Theorem 1):  S_t = S_{t−1} + k_tᵀ v_t,  z_t = q_t·S_t            (S ∈ R^{d×d} per head, S_0 = 0)
//   elu (Katharopoulos): φ(x) = elu(x) + 1,  z_t = φ(q_t)·S_t / (φ(q_t)·Σ_{s≤t} φ(k_s)ᵀ),  S built from φ(k)
//   y = concat_heads(z)·Wo,  with Q, K, V = h·Wq, h·Wk, h·Wv (no RoPE)
import TensorCore

/// Linear attention, the `O(d²)`-state baseline (docs/baselines.md §2). `variant` comes from
/// `config.linearAttention` ("simple" or "elu"); `form` picks how the parallel forward is computed
/// (all three give the same numbers up to Float32 rounding).
///
/// ```swift
/// var cfg = LayerConfig(width: 64, heads: 4); cfg.linearAttention.variant = "elu"
/// var rng = RNG(seed: 0)
/// let la = try LinearAttention(config: cfg, rng: &rng)
/// la.form = .parallel                       // or .chunked(16) (default: chunked(cfg.linearAttention.chunk)), .recurrent
/// let y = la(x)                             // x [B, T, 64] → [B, T, 64]
/// let z = LinearAttention.mix(q: q, k: k, v: v, variant: .simple, form: .chunked(8))   // [BH, T, d] heads
/// ```
public final class LinearAttention: SequenceLayer, TiledKernels {
    public enum Variant: String, CaseIterable, Sendable { case simple, elu }
    /// How the sequence mixing is computed. `.parallel` and `.chunked` are differentiable;
    /// `.recurrent` is a no-grad token loop (reference and decode path).
    public enum Form: Equatable, Sendable { case parallel, chunked(Int), recurrent }

    public let kind = "linear-attention"
    public let config: LayerConfig
    public var kernels: KernelPath
    /// Test hook: a fault inside the fused training kernel (negative controls); nil in normal use.
    public var fusedFault: FusedFault? = nil
    public let variant: Variant
    public var form: Form
    /// Projections, lab layout `[in, out]`, all `[D, D]`, no bias.
    public let wq: Tensor, wk: Tensor, wv: Tensor, wo: Tensor
    /// Chunks of the fused kernels (no-grad and training).
    public var tiles = FusedTiles()

    public init(config: LayerConfig, rng: inout RNG) throws {
        try config.validate()
        guard let v = Variant(rawValue: config.linearAttention.variant) else {
            throw LabError.unknownName(kind: "linear attention variant", name: config.linearAttention.variant,
                                       valid: Variant.allCases.map(\.rawValue))
        }
        guard config.linearAttention.chunk >= 0 else { throw LabError.badConfig("linear attention chunk = \(config.linearAttention.chunk) must be ≥ 0 (0 = parallel form)") }
        self.config = config
        self.kernels = config.kernels
        variant = v
        form = config.linearAttention.chunk > 0 ? .chunked(config.linearAttention.chunk) : .parallel
        (wq, wk, wv, wo) = Init.qkvo(width: config.width, rng: &rng)
    }

    public var parameters: [Param] { Param.qkvo(wq, wk, wv, wo) }

    /// x [B, T, D] → [B, T, D] with the current `form`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        checkInput(x)
        if fusedInference && variant == .simple { return fusedForward(x) }  // no-grad fused path (LinearAttentionFused.swift)
        let (q, k, v) = heads(x)                   // [BH, T, d] each
        let z = kernels == .fused && fusedTrainingSupported
            ? LinearAttention.fusedMix(q: q, k: k, v: v, variant: variant, chunk: tiles.linearTrainChunk, fault: fusedFault) // one node (LinearAttentionTraining.swift)
            : LinearAttention.mix(q: q, k: k, v: v, variant: variant, form: form)
        return output(z)                           // [B, T, D]
    }

    /// The layer's one pre-stage, on raw buffers for every path: Q, K, V = x·Wq, x·Wk, x·Wv [B, t, D] (heads side
    /// by side; `FusedProjections`, differentiable when a graph is being built).
    ///
    /// ```swift
    /// let (q, k, v) = lin.preStage(x)     // [B, t, D] each
    /// ```
    func preStage(_ x: Tensor) -> (q: Tensor, k: Tensor, v: Tensor) { FusedProjections.qkv(x, wq, wk, wv) }

    /// The pre-stage split into heads [B·H, t, d] for the reference and training kernels.
    func heads(_ x: Tensor) -> (q: Tensor, k: Tensor, v: Tensor) {
        let (q, k, v) = preStage(x), h = config.heads
        return (q.splitHeads(h), k.splitHeads(h), v.splitHeads(h))
    }

    /// The layer's one post-stage: z [B, t, D] (heads side by side) → z·Wo. Differentiable.
    func postStage(_ z: Tensor) -> Tensor { FusedProjections.linear(z, wo) }

    /// The post-stage on heads z [B·H, t, d] → concat_heads(z)·Wo [B, t, D].
    func output(_ z: Tensor) -> Tensor { postStage(z.mergeHeads(config.heads)) }

    // MARK: the mixing on projected heads

    /// The sequence mixing on already projected heads q, k, v [BH, T, d] → z [BH, T, d]
    /// (the feature map φ is applied here for `.elu`).
    public static func mix(q: Tensor, k: Tensor, v: Tensor, variant: Variant, form: Form) -> Tensor {
        checkShape3(q, k, v)
        let fq = variant == .elu ? q.elu() + 1 : q, fk = variant == .elu ? k.elu() + 1 : k
        switch form {
        case .parallel:
            // Z = tril(QKᵀ)·V  (÷ tril(φ(Q)φ(K)ᵀ)·1 for elu)
            let a = matmul(fq, fk, transB: true).tril()          // [BH, T, T]
            let num = causalMatmul(a, v)                         // [BH, T, d], causal part only (NaN-safe)
            return variant == .elu ? num / a.sum(axis: -1, keepDims: true) : num
        case .chunked(let c):
            precondition(c > 0, "LinearAttention.mix: chunk size \(c) must be positive")
            let (bh, t, d) = (q.dim(0), q.dim(1), q.dim(2))
            var s = Tensor(zeros: [bh, d, d])                    // Σ kᵀv of earlier chunks
            var zsum = Tensor(zeros: [bh, 1, d])                 // Σ φ(k) of earlier chunks (elu)
            var outs: [Tensor] = []
            var lo = 0
            while lo < t {
                let hi = min(lo + c, t)
                let qc = fq.slice(axis: 1, lo, hi), kc = fk.slice(axis: 1, lo, hi), vc = v.slice(axis: 1, lo, hi)
                let a = matmul(qc, kc, transB: true).tril()      // [BH, c, c] intra-chunk
                let num = causalMatmul(a, vc) + matmul(qc, s)    // [BH, c, d]
                if variant == .elu {
                    let den = a.sum(axis: -1, keepDims: true) + matmul(qc, zsum, transB: true)   // [BH, c, 1]
                    outs.append(num / den)
                    zsum = zsum + kc.sum(axis: 1, keepDims: true)
                } else {
                    outs.append(num)
                }
                s = s + matmul(kc, vc, transA: true)             // S += Kcᵀ·Vc
                lo = hi
            }
            return outs.count == 1 ? outs[0] : concat(outs, axis: 1)
        case .recurrent:
            return withNoGrad {
                let state = RecurrentState(batchHeads: q.dim(0), headDim: q.dim(2), variant: variant)
                return recurrent(q: fq, k: fk, v: v, state: state)
            }
        }
    }

    /// Per-(sequence, head) state `S [BH, d, d]` and, for elu, the normalizer `Σφ(k) [BH, d]`.
    final class RecurrentState {
        let bh: Int, d: Int
        let s: UnsafeMutablePointer<Float>
        let z: UnsafeMutablePointer<Float>?
        init(batchHeads: Int, headDim: Int, variant: Variant) {
            bh = batchHeads; d = headDim
            s = .allocate(capacity: bh * d * d); s.initialize(repeating: 0, count: bh * d * d)
            if variant == .elu { z = .allocate(capacity: bh * d); z!.initialize(repeating: 0, count: bh * d) } else { z = nil }
        }
        deinit { s.deallocate(); z?.deallocate() }
    }

    /// Token loop on feature-mapped heads fq, fk, v [BH, t, d], advancing `state` in place:
    /// `S += kᵀv; z = q·S` (÷ `q·Σk` when the state has a normalizer). No recording.
    static func recurrent(q: Tensor, k: Tensor, v: Tensor, state: RecurrentState) -> Tensor {
        let (bh, t, d) = (q.dim(0), q.dim(1), q.dim(2))
        precondition(bh == state.bh && d == state.d, "LinearAttention: heads [\(bh), \(d)] do not match the state [\(state.bh), \(state.d)]")
        let out = Tensor(uninitializedShape: q.shape)
        let pq = q.data, pk = k.data, pv = v.data, po = out.data, ps = state.s, pz = state.z
        Parallel.forEach(bh) { b in
            let s = ps + b * d * d
            for ti in 0..<t {
                let row = (b * t + ti) * d
                let qt = pq + row, kt = pk + row, vt = pv + row, zt = po + row
                for i in 0..<d {                              // S += k_tᵀ v_t
                    let ki = kt[i], si = s + i * d
                    for j in 0..<d { si[j] += ki * vt[j] }
                }
                for j in 0..<d { zt[j] = 0 }
                for i in 0..<d {                              // z = q_t·S
                    let qi = qt[i], si = s + i * d
                    for j in 0..<d { zt[j] += qi * si[j] }
                }
                if let pz {
                    let n = pz + b * d
                    var den: Float = 0
                    for i in 0..<d { n[i] += kt[i]; den += qt[i] * n[i] }
                    let inv = 1 / den
                    for j in 0..<d { zt[j] *= inv }
                }
            }
        }
        FLOPCounter.matmul += 4 * bh * t * d * d
        return out
    }

    // MARK: decode

    public final class State: LayerState {
        public private(set) var position = 0
        let batch: Int
        let inner: RecurrentState
        init(batch: Int, heads: Int, headDim: Int, variant: Variant) {
            self.batch = batch
            inner = RecurrentState(batchHeads: batch * heads, headDim: headDim, variant: variant)
        }
        public var bytes: Int { (inner.bh * inner.d * inner.d + (inner.z == nil ? 0 : inner.bh * inner.d)) * MemoryLayout<Float>.size }
        func advance(_ n: Int) { position += n }
    }

    public func makeState(batch: Int) -> LayerState {
        State(batch: batch, heads: config.heads, headDim: config.headDim, variant: variant)
    }

    /// Recurrent form on x [B, t, D], continuing from `state` (constant size in t). No gradient.
    public func step(_ x: Tensor, state: LayerState) -> Tensor {
        checkInput(x)
        guard let st = state as? State else { preconditionFailure("LinearAttention.step: state is \(type(of: state)), expected LinearAttention.State") }
        precondition(x.dim(0) == st.batch, "LinearAttention.step: input batch \(x.dim(0)) ≠ state batch \(st.batch)")
        if kernels == .fused && variant == .simple { return withNoGrad { fusedStep(x, state: st) } }   // LinearAttentionFused.swift
        return withNoGrad {
            var (q, k, v) = heads(x)
            if variant == .elu { q = q.elu() + 1; k = k.elu() + 1 }
            let z = LinearAttention.recurrent(q: q, k: k, v: v, state: st.inner)
            st.advance(x.dim(1))
            return output(z)
        }
    }

    // MARK: accounting

    /// `8D²` projections plus `4Dd` for the recurrent mixing (`S += kᵀv`, `q·S`), independent of the
    /// context (docs/baselines.md §5). The elu normalizer (`O(D)`) is not counted.
    public func flopsPerToken(context: Int) -> Double {
        let d = Double(config.width), dh = Double(config.headDim)
        return 8 * d * d + 4 * d * dh
    }

    /// `H·d·d` floats of S (+ `H·d` for the elu normalizer), constant in the context.
    public func stateBytes(context: Int) -> Int {
        let (h, d) = (config.heads, config.headDim)
        return (h * d * d + (variant == .elu ? h * d : 0)) * MemoryLayout<Float>.size
    }

    private func checkInput(_ x: Tensor) {
        precondition(x.rank == 3 && x.dim(2) == config.width, "LinearAttention: input must be [B, T, \(config.width)], got \(x.shape)")
    }

    private static func checkShape3(_ q: Tensor, _ k: Tensor, _ v: Tensor) {
        precondition(q.rank == 3 && k.shape == q.shape && v.shape == q.shape,
                     "LinearAttention.mix: q \(q.shape), k \(k.shape), v \(v.shape) must all be [BH, T, d]")
    }
}
