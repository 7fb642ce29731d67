// SelfAttention.swift — causal softmax self-attention with RoPE and a KV cache (docs/baselines.md §1).
//
//   Q = h·Wq, K = h·Wk, V = h·Wv          split into H heads of width d, RoPE at absolute positions
//   z_t = Σ_{s≤t} softmax_s(q_t·k_sᵀ/√d) v_s
//   y   = concat_heads(z)·Wo
import Foundation
import TensorCore

/// Causal softmax self-attention, the Transformer baseline (docs/baselines.md §1).
///
/// Parallel forward (prefill/training, differentiable). Reference kernels: the `T×T` score matrix per
/// head, a stable softmax and P·V over the causal part only (`causalSoftmax`, `causalMatmul`: entries
/// above the diagonal are never read, so a NaN at token t cannot reach earlier outputs). Fused kernels:
/// FlashAttention-style tiles with an online softmax, no `T×T` tensor (AttentionFused.swift, and
/// AttentionTraining.swift for training as one autodiff node). Decode (`step`): a KV cache that grows by
/// one row per token per head; RoPE is applied at the absolute position `state.position + i`.
/// `config.attention.window` = W makes it sliding-window attention (token t sees t−W+1…t; SlidingWindow.swift) with
/// a KV cache of at most W rows.
///
/// ```swift
/// var rng = RNG(seed: 0)
/// let attn = try SelfAttention(config: LayerConfig(width: 64, heads: 4), rng: &rng)
/// let y = attn(x)                               // x [B, T, 64] → [B, T, 64]
/// let cache = attn.makeState(batch: B)
/// let y0 = attn.step(prompt, state: cache)      // prefill [B, 5, 64]
/// let y1 = attn.step(nextToken, state: cache)   // decode  [B, 1, 64]
/// ```
public final class SelfAttention: SequenceLayer, TiledKernels {
    public let kind = "attention"
    public let config: LayerConfig
    public var kernels: KernelPath
    /// Test hook: a fault inside the fused training kernel (negative controls); nil in normal use.
    public var fusedFault: FusedFault? = nil
    /// Projections, lab layout `[in, out]` (x·W), all `[D, D]`, no bias.
    public let wq: Tensor, wk: Tensor, wv: Tensor, wo: Tensor
    /// Tiles of the fused kernels (`FlashAttention.causal` and the training backward).
    public var tiles = FusedTiles()

    public init(config: LayerConfig, rng: inout RNG) throws {
        try config.validate()
        self.config = config
        self.kernels = config.kernels
        (wq, wk, wv, wo) = Init.qkvo(width: config.width, rng: &rng)
    }

    public var parameters: [Param] { Param.qkvo(wq, wk, wv, wo) }

    /// Parallel forward x [B, T, D] → [B, T, D] (positions 0..<T).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        checkInput(x)
        if fusedInference { return fusedForward(x) }                     // no-grad fused path (AttentionFused.swift)
        let dh = config.headDim
        let (q, k, v) = heads(x, start: 0)                                                  // [BH, T, d] each
        let z: Tensor
        if kernels == .fused && fusedTrainingSupported {
            z = FlashAttention.attend(q, k, v, window: window, tiles: tiles, fault: fusedFault)   // one node (AttentionTraining.swift)
        } else {
            // Only the causal part is read/multiplied: a NaN at token t cannot reach outputs before t.
            let scores = matmul(q, k, transB: true) * (1 / Float(dh).squareRoot())           // [BH, T, T]
            // [BH, T, T], 0 above the diagonal (and before each row's window: SlidingWindow.swift)
            let p = config.attention.window == nil ? scores.causalSoftmax() : scores.windowSoftmax(window: window)
            z = causalMatmul(p, v)                                                           // [BH, T, d]
        }
        return output(z)                                                                     // [B, T, D]
    }

    /// The layer's one pre-stage, on raw buffers for every path (reference forward and decode, training node,
    /// no-grad fused prefill and decode): Q, K, V = x·Wq, x·Wk, x·Wv [B, t, D] (heads side by side), RoPE on Q and
    /// K at the absolute positions start…start+t−1. Differentiable when a graph is being built (FusedProjections,
    /// RopeHeads: each a node with its hand-written backward).
    ///
    /// ```swift
    /// let (q, k, v) = attn.preStage(x, start: 0)     // [B, t, D] each
    /// ```
    func preStage(_ x: Tensor, start: Int) -> (q: Tensor, k: Tensor, v: Tensor) {
        let (t, H) = (x.dim(1), config.heads)
        let (q, k, v) = FusedProjections.qkv(x, wq, wk, wv)
        let positions = Array(start..<(start + t))
        return (RopeTable.rotateHeads(q, heads: H, positions: positions, theta: config.ropeTheta),
                RopeTable.rotateHeads(k, heads: H, positions: positions, theta: config.ropeTheta), v)
    }

    /// The pre-stage split into heads [B·H, t, d] for the reference and training kernels.
    func heads(_ x: Tensor, start: Int) -> (q: Tensor, k: Tensor, v: Tensor) {
        let (q, k, v) = preStage(x, start: start), h = config.heads
        return (q.splitHeads(h), k.splitHeads(h), v.splitHeads(h))
    }

    /// The layer's one post-stage: z [B, t, D] (heads side by side) → z·Wo. Differentiable.
    func postStage(_ z: Tensor) -> Tensor { FusedProjections.linear(z, wo) }

    /// The post-stage on heads z [B·H, t, d] → concat_heads(z)·Wo [B, t, D].
    func output(_ z: Tensor) -> Tensor { postStage(z.mergeHeads(config.heads)) }

    /// `[T, T]` additive mask: 0 on and below the diagonal, −∞ above. No longer used by the forward (NaN + −∞ is
    /// NaN, so an added mask lets a later token's NaN reach earlier rows); kept for tests and callers.
    public static func causalMask(_ t: Int) -> Tensor {
        let m = Tensor(zeros: [t, t])
        for i in 0..<t { for j in (i + 1)..<max(t, i + 1) { m.data[i * t + j] = -.infinity } }
        return m
    }

    // MARK: decode

    /// KV cache for a batch: per (sequence, head) the RoPE'd keys and the values of the past tokens —
    /// all of them, or with a sliding window W the last W (positions `start ..< position`).
    public final class Cache: LayerState {
        public private(set) var position = 0
        /// Absolute position of the first cached row (0 without a window).
        public private(set) var start = 0
        let batch: Int, heads: Int, headDim: Int, window: Int
        /// keys[bh], values[bh]: `(position − start) × d` row-major.
        var keys: [[Float]], values: [[Float]]
        init(batch: Int, heads: Int, headDim: Int, window: Int = .max) {
            self.batch = batch; self.heads = heads; self.headDim = headDim; self.window = window
            keys = Array(repeating: [], count: batch * heads)
            values = keys
        }
        public var bytes: Int { 2 * batch * heads * headDim * (position - start) * MemoryLayout<Float>.size }
        /// Counts n new rows, then drops the rows a window no longer needs (keeps the last W).
        func advance(_ n: Int) {
            position += n
            let drop = position - start - window
            guard drop > 0 else { return }
            for bh in keys.indices {
                keys[bh].removeFirst(drop * headDim); values[bh].removeFirst(drop * headDim)
            }
            start += drop
        }
    }

    /// The sliding window W, or `.max` for full causal attention.
    public var window: Int { config.attention.window ?? .max }

    public func makeState(batch: Int) -> LayerState {
        Cache(batch: batch, heads: config.heads, headDim: config.headDim, window: window)
    }

    /// Recurrent form on x [B, t, D]: appends t rows to the cache, then each new token i attends to
    /// the cached positions `≤ state.position + i`. No gradient.
    public func step(_ x: Tensor, state: LayerState) -> Tensor {
        checkInput(x)
        guard let cache = state as? Cache else { preconditionFailure("SelfAttention.step: state is \(type(of: state)), expected SelfAttention.Cache") }
        let (b, t, h, dh) = (x.dim(0), x.dim(1), config.heads, config.headDim)
        precondition(b == cache.batch, "SelfAttention.step: input batch \(b) ≠ state batch \(cache.batch)")
        if kernels == .fused { return withNoGrad { fusedStep(x, cache: cache) } }  // AttentionFused.swift
        return withNoGrad {
            let p0 = cache.position, rel = p0 - cache.start, w = window          // rel: cached rows before the new ones
            let (q, k, v) = heads(x, start: p0)                                                     // [BH, t, d] each
            let len = rel + t
            for bh in 0..<(b * h) {
                cache.keys[bh].append(contentsOf: UnsafeBufferPointer(start: k.data + bh * t * dh, count: t * dh))
                cache.values[bh].append(contentsOf: UnsafeBufferPointer(start: v.data + bh * t * dh, count: t * dh))
            }
            let z = Tensor(uninitializedShape: [b * h, t, dh])
            let scale = 1 / Float(dh).squareRoot()
            let pq = q.data, pz = z.data
            Parallel.forEach(b * h) { bh in
                var s = [Float](repeating: 0, count: t * len)                 // scores [t, len]
                cache.keys[bh].withUnsafeBufferPointer { kb in
                    cache.values[bh].withUnsafeBufferPointer { vb in
                        s.withUnsafeMutableBufferPointer { sb in
                            let ps = sb.baseAddress!
                            // S = q·Kᵀ·scale   [t, d]·[len, d]ᵀ
                            sgemm(transA: false, transB: true, m: t, n: len, k: dh, pq + bh * t * dh, lda: dh,
                                  kb.baseAddress!, ldb: dh, ps, ldc: len, alpha: scale)
                            // causal row softmax: token i sees cached rows a...rel+i (a = 0 without a window)
                            for i in 0..<t {
                                let row = ps + i * len, n = rel + i + 1, a = max(0, rel + i - (w - 1))
                                var mx = -Float.infinity
                                for j in a..<n { mx = max(mx, row[j]) }
                                var sum: Float = 0
                                for j in a..<n { let e = Foundation.exp(row[j] - mx); row[j] = e; sum += e }
                                let inv = 1 / sum
                                for j in a..<n { row[j] *= inv }
                                for j in 0..<a { row[j] = 0 }
                                for j in n..<len { row[j] = 0 }
                            }
                            // z = P·V   [t, len]·[len, d], causal part only (row i reads value rows ≤ p0 + i)
                            let zb = pz + bh * t * dh
                            zb.initialize(repeating: 0, count: t * dh)
                            CausalGEMM.accumulate(m: t, w: len, shift: rel, d: dh, ps, ldp: len, vb.baseAddress!, ldv: dh, zb, ldo: dh)
                        }
                    }
                }
            }
            FLOPCounter.matmul += 4 * b * h * t * len * dh
            cache.advance(t)
            return output(z)                                                                        // [B, t, D]
        }
    }

    // MARK: accounting

    /// Forward FLOPs of the token at context `t` (it attends to `t` keys, itself included; min(t, W) with
    /// a window): `8D²` for the four projections plus `4D·t` for q·Kᵀ and P·V (docs/baselines.md §5).
    public func flopsPerToken(context t: Int) -> Double {
        let d = Double(config.width)
        return 8 * d * d + 4 * d * Double(min(t, window))
    }

    /// Average FLOPs per token of a causal length-`T` sequence, `8D² + 2D(T+1)` (≈ 8D² + 2DT): the mean
    /// of `flopsPerToken(context: t)` over t = 1…T. (The dense parallel forward computes the full `T×T`
    /// score matrix, i.e. `8D² + 4DT` per token.)
    public func causalAverageFlopsPerToken(length T: Int) -> Double {
        let d = Double(config.width)
        if window < T { return 8 * d * d + 4 * d * Double(FlashAttention.attendedPairs(length: T, window: window)) / Double(T) }
        return 8 * d * d + 2 * d * Double(T + 1)
    }

    /// KV cache of one sequence after `t` tokens: `2·D·t` floats (`2·D·min(t, W)` with a window).
    public func stateBytes(context t: Int) -> Int { 2 * config.width * min(t, window) * MemoryLayout<Float>.size }

    private func checkInput(_ x: Tensor) {
        precondition(x.rank == 3 && x.dim(2) == config.width, "SelfAttention: input must be [B, T, \(config.width)], got \(x.shape)")
    }
}
