// GatedDeltaNetInner.swift — Gated DeltaNet (Yang, Kautz, Hatamizadeh, "Gated Delta Networks: Improving
// Mamba2 with Delta Rule", ICLR 2025) as a TTT inner model: DeltaNet's learner with a decay gate α_t.
import Layers
import TensorCore

/// Gated DeltaNet: f_res(x) = φ(x)·S, φ(x) = x/‖x‖, with a per-head decay gate α_t and DeltaNet's
/// layer options (no inner LN/residual/bias, S₀ = 0, c_i = 1, η_t = β_t = σ(h_t·w_lr + β_lr)). At b = 1
/// the layer runs the gated delta rule exactly — decay, then one gradient step of ½‖φ(k_t)·S − v_t‖²:
///
///     S_t = α_t S_{t−1} − β_t φ(k_t)ᵀ(φ(k_t)·α_t S_{t−1} − v_t) = α_t S_{t−1}(I − β_t φ(k_t)ᵀφ(k_t)) + β_t φ(k_t)ᵀ v_t
///     z_t = φ(q_t)·S_t
///
/// (rows as the lab's x·S, so S here is the paper's Sᵀ). With b > 1 it is the mini-batch form of
/// contract v2 (gradients of token j at A_j S⁰), computed by the gated dual below.
///
/// ```swift
/// let layer = try LayerRegistry.make("ttt-gated-deltanet", LayerConfig(width: 64, heads: 4), seed: 0)
/// ```
public enum GatedDeltaNetInner: InnerModel {
    public static let name = "gated-deltanet"
    public static let summary = "Gated DeltaNet (Yang et al. 2025): S_t = α_t S_{t−1}(I − β_t k_tᵀk_t) + β_t k_tᵀv_t, keys/queries L2-normalised, no LN/residual/bias; state d² per head"
    public static let defaultBaseLR: Float = 1.0
    public static let features = InnerFeatures(decayGate: true)

    public static func parameters(headDim d: Int) -> [InnerParamSpec] { [InnerParamSpec("W1", [d, d])] }

    /// DeltaNet's options: no inner LN or residual, no bias, S₀ = 0, c_i = 1, η = β_t (η_base = d cancels 1/d).
    public static func configure(_ c: inout LayerConfig) {
        c.ttt.innerLN = false; c.ttt.innerResidual = false; c.ttt.innerBias = false
        c.ttt.learnableW0 = false; c.ttt.tokenScaling = false
        if c.ttt.baseLR == nil { c.ttt.baseLR = Float(c.headDim) }
    }

    /// φ(x) = x / √(‖x‖² + ε) over the last axis (`l2Normalized`, as the `deltanet` plugin).
    static func normalized(_ x: Tensor) -> Tensor { l2Normalized(x) }

    /// z = φ(x)·S            x [N, n, d], S [N, d, d]
    public static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor { matmul(normalized(x), θ[0]) }

    /// ∂/∂S = Σ_j w_j φ(k_j)ᵀ δ_j
    public static func gradient(_ x: Tensor, _ θ: [Tensor], delta: Tensor, weights: Tensor) -> [Tensor] {
        [matmul(normalized(x), delta * weights, transA: true)]
    }

    /// Gated dual of one mini-batch, A the decay products [N, b, 1] and E_ij = c_i η_j A_i/A_j (zero above
    /// the diagonal):  Δ = δ(A ⊙ φ(K)·S);  Z̄ = A ⊙ φ(Q)·S − (E ⊙ φ(Q)φ(K)ᵀ)·Δ;  S' = A_b S − (e ⊙ φ(K))ᵀ·Δ
    /// (`gatedLinearDual` on φ(Q), φ(K)).
    public static func dual(_ θ: [Tensor], q: Tensor, k: Tensor, E: Tensor, bias: Bool, gates: TokenGates,
                            delta: (Tensor) -> Tensor) -> (z: Tensor, next: [Tensor])? {
        guard let A = gates.decay else { return nil }
        return gatedLinearDual(θ[0], q: normalized(q), k: normalized(k), E: E, decay: A, delta: delta)
    }

    /// As `deltanet`: dual 6d² + 4bd, primal 8d² (the decay is elementwise).
    public static func innerFlopsPerToken(d: Int, b: Int, dual: Bool) -> Double {
        dual ? Double(6 * d * d + 4 * b * d) : Double(8 * d * d)
    }
}
