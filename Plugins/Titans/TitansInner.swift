// TitansInner.swift — the neural long-term memory of Titans (Behrouz, Zhong, Mirrokni, "Titans: Learning
// to Memorize at Test Time", 2024, Eq. 8–14) as a TTT inner model: an MLP memory trained with momentum
// and forgetting, all three rates data-dependent.
import Layers
import TensorCore

/// Titans' memory: M(x) = SiLU(φ(x)·W1)·W2 (hidden 4d), φ(x) = x/‖x‖ (Titans L2-normalises keys and
/// queries), trained on ℓ = ½‖M(k) − v‖² (no inner LN, residual or bias, c_i = 1) with the surprise
/// recurrence of Titans, lab sign m = −S:
///
///     m_t = η_t m_{t−1} + θ_t ∇ℓ_t(M_{t0}),     M_t = (1 − α_t) M_{t−1} − m_t,     z_t = M(q_t; M_t)
///
/// θ_t = (η_base/d)·σ(h_t·w_lr + β_lr) is the layer's learnable step; η_t = σ(h_t·w_η + β_η) (momentum)
/// and α_t = σ(h_t·w_α + β_α) (forgetting) are declared rates. Within a mini-batch of b tokens the gradients
/// are taken at its start state M_{t0}, as TTT's (and Titans' parallel form) do, and token i of the
/// mini-batch reads m_i = η_i m⁰ + Σ_{j≤i} θ_j ∇ℓ_j, M_i = (1 − α_i) M⁰ − m_i: one momentum and forgetting
/// step per mini-batch, so at b = 1 it is Titans' recurrence exactly. With η ≡ α ≡ 0 it is plain
/// mini-batch GD on the MLP (checked in `lab study equivalence`).
///
/// ```swift
/// let layer = try LayerRegistry.make("ttt-titans", LayerConfig(width: 64, heads: 4), seed: 0)
/// ```
public enum TitansInner: InnerModel {
    public static let name = "titans"
    public static let summary = "Titans memory (Behrouz et al. 2024): MLP M(x) = SiLU(φ(x)·W1)·W2, φ = L2 norm, momentum η_t and forgetting α_t, both data-dependent; state 16d² per head"
    public static let defaultBaseLR: Float = 1.0
    public static let features = InnerFeatures(rates: [InnerRate("momentum", initBias: 0), InnerRate("forget", initBias: -4)])

    public static func parameters(headDim d: Int) -> [InnerParamSpec] {
        [InnerParamSpec("W1", [d, 4 * d]), InnerParamSpec("W2", [4 * d, d])]
    }

    /// The momentum m (zeros at the start of a sequence).
    public static func optimizerState(headDim d: Int) -> [InnerParamSpec] {
        [InnerParamSpec("m_W1", [d, 4 * d], initStd: 0), InnerParamSpec("m_W2", [4 * d, d], initStd: 0)]
    }

    /// No inner LN, residual or bias; c_i = 1 (Titans has no token scaling); the initial memory is learned
    /// (required: at W1 = W2 = 0 every gradient of the memory vanishes, so it would never learn).
    public static func configure(_ c: inout LayerConfig) {
        c.ttt.innerLN = false; c.ttt.innerResidual = false; c.ttt.innerBias = false; c.ttt.tokenScaling = false
        c.ttt.learnableW0 = true
    }

    /// φ(x) = x / √(‖x‖² + ε) over the last axis.
    static func normalized(_ x: Tensor) -> Tensor { l2Normalized(x) }

    /// M(x) = SiLU(φ(x)·W1)·W2            x [N, n, d]
    public static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor { matmul(matmul(normalized(x), θ[0]).silu(), θ[1]) }

    /// ∂/∂W2 = Σ_j w_j a_jᵀ δ_j,  ∂/∂W1 = Σ_j φ(k_j)ᵀ [(w_j δ_j W2ᵀ) ⊙ SiLU'(φ(k_j) W1)], a = SiLU(φ(k) W1)
    public static func gradient(_ x: Tensor, _ θ: [Tensor], delta: Tensor, weights: Tensor) -> [Tensor] {
        let x = normalized(x)
        let h = matmul(x, θ[0]), s = h.sigmoid()
        let wd = delta * weights
        let dh = matmul(wd, θ[1], transB: true) * (s * (h * (1 - s) + 1))
        return [matmul(x, dh, transA: true), matmul(h * s, wd, transA: true)]
    }

    /// State [W1, W2, m_W1, m_W2]: m ← η_i·m⁰ + step, W ← (1 − α_i)·W⁰ − m (rates [N, 1, 1]).
    public static func update(_ θ0: [Tensor], step: [Tensor], gates: TokenGates) -> [Tensor] {
        let n = θ0[0].dim(0)
        let eta = gates.rates["momentum"] ?? Tensor(zeros: [n, 1, 1])
        let keep = 1 - (gates.rates["forget"] ?? Tensor(zeros: [n, 1, 1]))
        let m = (0..<2).map { TokenGates.scale(θ0[2 + $0], by: eta) + step[$0] }
        return [TokenGates.scale(θ0[0], by: keep) - m[0], TokenGates.scale(θ0[1], by: keep) - m[1], m[0], m[1]]
    }

    /// Without gates (η = α = 0): plain GD, the momentum holding the last step.
    public static func update(_ θ0: [Tensor], step: [Tensor]) -> [Tensor] {
        [θ0[0] - step[0], θ0[1] - step[1], step[0], step[1]]
    }

    /// Primal: forward on k and on q 16d² each, gradient 32d² (it recomputes φ(k)·W1, then three GEMMs).
    public static func innerFlopsPerToken(d: Int, b: Int, dual: Bool) -> Double { Double(64 * d * d) }
}
