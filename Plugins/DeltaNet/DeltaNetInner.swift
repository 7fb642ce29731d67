// DeltaNetInner.swift — a DeltaNet-style learner: f_res(x) = φ(x)·W, φ(x) = x/‖x‖, no bias, and the
// layer's inner LN and residual off (docs/baselines.md §3; docs/ttt.md §4 "DeltaNet = TTT-Linear with b = 1 and
// without LN/residual").
import Layers
import TensorCore

/// DeltaNet as a TTT inner model. With b = 1 the layer runs the delta rule exactly:
///
///     W_t = W_{t−1} − β_t ∇_W ½‖φ(k_t)·W − v_t‖² = W_{t−1}(I − β_t φ(k_t)ᵀφ(k_t)) + β_t φ(k_t)ᵀv_t,   z_t = φ(q_t)·W_t
///
/// with β_t = σ(h_t·w_lr + β_lr) (η_base = d cancels the lab's 1/d), W₀ = 0 and c_i = 1. Keys and
/// queries are L2-normalised inside the model (as in Yang et al. 2024), which keeps the step stable
/// for any β ∈ (0, 2). With b > 1 it is the mini-batch delta rule (gradients at the chunk start).
///
/// ```swift
/// let layer = try LayerRegistry.make("ttt-deltanet", LayerConfig(width: 64, heads: 4), seed: 0)
/// ```
public enum DeltaNetInner: InnerModel {
    public static let name = "deltanet"
    public static let summary = "DeltaNet-style: f_res(x) = (x/‖x‖)·W, no LN/residual/bias, W₀ = 0, c_i = 1; b = 1 is the delta rule; state d² per head"
    public static let defaultBaseLR: Float = 1.0

    public static func parameters(headDim d: Int) -> [InnerParamSpec] { [InnerParamSpec("W1", [d, d])] }

    /// The layer options DeltaNet needs: no inner LN or residual, no bias, W₀ = 0, c_i = 1, η = β_t.
    public static func configure(_ c: inout LayerConfig) {
        c.ttt.innerLN = false; c.ttt.innerResidual = false; c.ttt.innerBias = false
        c.ttt.learnableW0 = false; c.ttt.tokenScaling = false
        if c.ttt.baseLR == nil { c.ttt.baseLR = Float(c.headDim) }   // η = (η_base/d)·σ(·) = σ(·)
    }

    /// φ(x) = x / √(‖x‖² + ε) over the last axis (`l2Normalized`).
    static func normalized(_ x: Tensor) -> Tensor { l2Normalized(x) }

    /// z = φ(x)·W            x [N, n, d], W [N, d, d]
    public static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor { matmul(normalized(x), θ[0]) }

    /// ∂/∂W = Σ_j w_j φ(k_j)ᵀ δ_j
    public static func gradient(_ x: Tensor, _ θ: [Tensor], delta: Tensor, weights: Tensor) -> [Tensor] {
        [matmul(normalized(x), delta * weights, transA: true)]
    }

    /// TTT-Linear's dual form (docs/ttt.md §1.7) on φ(Q), φ(K), without the bias:
    ///   Δ = δ(φ(K)·W);  Z̄ = φ(Q)·W − (E ⊙ tril(φ(Q)·φ(K)ᵀ))·Δ;  W' = W − (e ⊙ φ(K))ᵀ·Δ
    public static func dual(_ θ: [Tensor], q: Tensor, k: Tensor, E: Tensor, bias: Bool,
                            delta: (Tensor) -> Tensor) -> (z: Tensor, next: [Tensor])? {
        let W = θ[0], b = k.dim(1)
        let (qn, kn) = (normalized(q), normalized(k))
        let D = delta(matmul(kn, W))
        let z = matmul(qn, W) - matmul(E * matmul(qn, kn, transB: true).tril(), D)
        let e = E.slice(axis: 1, b - 1, b).transpose()
        return (z, [W - matmul(kn * e, D, transA: true)])
    }

    /// Dual: 6d² + 4bd (as TTT-Linear without the bias terms). Primal: 8d².
    public static func innerFlopsPerToken(d: Int, b: Int, dual: Bool) -> Double {
        dual ? Double(6 * d * d + 4 * b * d) : Double(8 * d * d)
    }
}
