// NadarayaWatsonInner.swift — the nonparametric learner of Theorem 2 (docs/ttt.md §4): the state is the
// list of past tokens, the update appends, the prediction is the Nadaraya–Watson estimator.
import Layers
import TensorCore

/// The Nadaraya–Watson learner. For query q_t and memory {(k_s, y_s, η_s)}_{s≤t}:
///
///     z_t = Σ_{s≤t} η_s κ(k_s, q_t) y_s / Σ_{s≤t} η_s κ(k_s, q_t),     κ(k, q) = exp(k·q / √d)
///
/// With a fixed η (the η_s cancel), no inner LN/residual and b ≥ T (RoPE at absolute positions) the
/// TTT layer is exactly causal softmax self-attention (Theorem 2; docs/baselines.md §1). The learnable gate
/// makes η_s a per-token sample weight. The state grows by 2d + 1 floats per token per head.
///
/// ```swift
/// let layer = try LayerRegistry.make("ttt-nadaraya-watson", LayerConfig(width: 64, heads: 4), seed: 0)
/// ```
public enum NadarayaWatsonInner: NonparametricInnerModel {
    public static let name = "nadaraya-watson"
    public static let summary = "Nadaraya–Watson learner of Theorem 2: κ = exp(k·q/√d), state = all past (k, y, η) — grows with context; = softmax attention"
    public static let defaultBaseLR: Float = 1.0

    /// softmax_s(q·k_sᵀ/√d + log η_s) over the causal memory, times the labels.
    public static func predict(_ q: Tensor, keys: Tensor, labels: Tensor, eta: Tensor) -> Tensor {
        let (n, m, d) = (q.dim(1), keys.dim(1), q.dim(2))
        let scores = matmul(q, keys, transB: true) * (1 / Float(d).squareRoot())          // [N, n, m]
        let logits = scores + eta.log().transpose() + memoryCausalMask(queries: n, memory: m)
        return matmul(logits.softmax(), labels)                                          // [N, n, d]
    }

    /// Scores and weighted sum: 4·d·t per token at context t (as attention's mixing).
    public static func predictFlopsPerToken(d: Int, context: Int) -> Double { Double(4 * d * context) }
}
