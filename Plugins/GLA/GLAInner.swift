// GLAInner.swift — gated linear attention with a scalar decay per head (Yang et al., "Gated Linear
// Attention Transformers with Hardware-Efficient Training", ICML 2024; with a scalar gate this is the
// state-space duality of Mamba-2, Dao & Gu 2024) as a TTT inner model: the negative inner-product loss
// with a decay gate.
import Layers
import TensorCore

/// GLA / Mamba-2 (SSD): f_res(x) = x·S, the inner loss ℓ = −⟨x·S, v⟩, a per-head decay gate α_t, and
/// no inner LN/residual/bias, S₀ = 0, c_i = 1, η = d^{−1/2} (the usual query scale, folded into the
/// write). One step of that loss is exactly the gated linear-attention recurrence, at any b:
///
///     S_t = α_t S_{t−1} − η ∇_S(−⟨k_t·S, v_t⟩) = α_t S_{t−1} + η k_tᵀ v_t,     z_t = q_t·S_t
///
/// (the gradient does not depend on S, so the mini-batch form is the recurrence itself). With α ≡ 1 it is
/// causal linear attention, o_t = η Σ_{s≤t} (q_t·k_s) v_s.
///
/// ```swift
/// let layer = try LayerRegistry.make("ttt-gla", LayerConfig(width: 64, heads: 4), seed: 0)
/// ```
public enum GLAInner: InnerModel {
    public static let name = "gla"
    public static let summary = "GLA with a scalar decay per head (= Mamba-2 SSD): S_t = α_t S_{t−1} + k_tᵀv_t/√d, loss −⟨f(k), v⟩, no LN/residual/bias; state d² per head"
    public static let defaultBaseLR: Float = 1.0
    public static let features = InnerFeatures(decayGate: true, loss: .negativeInnerProduct)

    public static func parameters(headDim d: Int) -> [InnerParamSpec] { [InnerParamSpec("W1", [d, d])] }

    /// No inner LN, residual or bias, S₀ = 0, c_i = 1, a fixed η = d^{−1/2} unless the caller fixed one.
    public static func configure(_ c: inout LayerConfig) {
        c.ttt.innerLN = false; c.ttt.innerResidual = false; c.ttt.innerBias = false
        c.ttt.learnableW0 = false; c.ttt.tokenScaling = false
        if c.ttt.fixedEta == nil { c.ttt.fixedEta = 1 / Float(c.headDim).squareRoot() }
    }

    /// z = x·S            x [N, n, d], S [N, d, d]
    public static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor { matmul(x, θ[0]) }

    /// ∂/∂S = Σ_j w_j k_jᵀ δ_j (δ_j = −v_j for this loss)
    public static func gradient(_ x: Tensor, _ θ: [Tensor], delta: Tensor, weights: Tensor) -> [Tensor] {
        [matmul(x, delta * weights, transA: true)]
    }

    /// Gated dual (chunked GLA): Δ = δ(·) = −V;  Z̄ = A ⊙ Q·S − (E ⊙ QKᵀ)·Δ;  S' = A_b S − (e ⊙ K)ᵀ·Δ,
    /// with E_ij = c_i η_j A_i/A_j below the diagonal (`gatedLinearDual` with φ = id).
    public static func dual(_ θ: [Tensor], q: Tensor, k: Tensor, E: Tensor, bias: Bool, gates: TokenGates,
                            delta: (Tensor) -> Tensor) -> (z: Tensor, next: [Tensor])? {
        guard let A = gates.decay else { return nil }
        return gatedLinearDual(θ[0], q: q, k: k, E: E, decay: A, delta: delta)
    }

    /// Dual: 4d² + 4bd; primal: 6d² (read, write, query).
    public static func innerFlopsPerToken(d: Int, b: Int, dual: Bool) -> Double {
        dual ? Double(4 * d * d + 4 * b * d) : Double(6 * d * d)
    }
}
