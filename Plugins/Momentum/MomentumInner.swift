// MomentumInner.swift — TTT-Linear with momentum and weight decay in the inner update (Titans-style
// forgetting; Behrouz et al. 2024, "Titans: Learning to Memorize at Test Time", Eq. 13–14).
import Layers
import TensorCore

/// TTT-Linear (`f_res(x) = x·W + w`, docs/ttt.md §1.5) whose inner optimizer has momentum β and weight
/// decay λ. Mapped onto the lab's mini-batch GD (docs/ttt.md §1.6) with the plain step
/// `s_i = c_i·Σ_{j≤i} η_j ∇ℓ_j(θ⁰)`, token i of a mini-batch uses
///
///     m_i = β·m⁰ + s_i,      θ_i = (1 − λ)·θ⁰ − m_i
///
/// and (θ_b, m_b) start the next mini-batch — so one mini-batch is one momentum step, decode carries
/// m beside θ, and β = λ = 0 gives TTT-Linear back. (Titans: S_t = η_t S_{t−1} − θ_t∇ℓ,
/// M_t = (1 − α_t)M_{t−1} + S_t, with data-dependent gates; here β, λ are constants.)
///
/// ```swift
/// let layer = try LayerRegistry.make("ttt-momentum", LayerConfig(width: 64, heads: 4), seed: 0)
/// ```
public enum MomentumInner: InnerModel {
    public static let name = "momentum"
    public static let summary = "TTT-Linear + momentum β = 0.5 and weight decay λ = 0.02 in the inner update (Titans-style forgetting); state 2(d² + d) per head"
    public static let defaultBaseLR: Float = 1.0
    /// Momentum β and weight decay λ of the inner optimizer.
    public static let beta: Float = 0.5, decay: Float = 0.02

    public static func parameters(headDim d: Int) -> [InnerParamSpec] {
        [InnerParamSpec("W1", [d, d]), InnerParamSpec("b1", [1, d], isBias: true)]
    }

    /// Momentum buffers for W and w (zeros at the start of a sequence).
    public static func optimizerState(headDim d: Int) -> [InnerParamSpec] {
        [InnerParamSpec("m_W1", [d, d], initStd: 0), InnerParamSpec("m_b1", [1, d], initStd: 0)]
    }

    /// State [W, w, m_W, m_w]:  m ← β·m⁰ + step,  θ ← (1 − λ)·θ⁰ − m.
    public static func update(_ θ0: [Tensor], step: [Tensor]) -> [Tensor] {
        let m = [θ0[2] * beta + step[0], θ0[3] * beta + step[1]]
        return [θ0[0] * (1 - decay) - m[0], θ0[1] * (1 - decay) - m[1], m[0], m[1]]
    }

    /// z = x·W + w
    public static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor { matmul(x, θ[0]) + θ[1] }

    /// ∂/∂W = Σ_j w_j k_jᵀ δ_j,  ∂/∂w = Σ_j w_j δ_j
    public static func gradient(_ x: Tensor, _ θ: [Tensor], delta: Tensor, weights: Tensor) -> [Tensor] {
        let wd = delta * weights
        return [matmul(x, wd, transA: true), wd.sum(axis: 1, keepDims: true)]
    }

    /// TTT-Linear's dual form (docs/ttt.md §1.7) with the outputs read at θ̃ = (1 − λ)θ⁰ − β·m⁰ and the
    /// gradients at θ⁰:  Z̄ = Q·W̃ − (E ⊙ tril(Q·Kᵀ))·Δ + w̃ − tril(E)·Δ;
    /// m' = β·m⁰ + [(e ⊙ K)ᵀ·Δ, eᵀ·Δ];  θ' = (1 − λ)θ⁰ − m'.
    public static func dual(_ θ: [Tensor], q: Tensor, k: Tensor, E: Tensor, bias: Bool,
                            delta: (Tensor) -> Tensor) -> (z: Tensor, next: [Tensor])? {
        let (W, w, mW, mw) = (θ[0], θ[1], θ[2], θ[3])
        let b = k.dim(1)
        let D = delta(matmul(k, W) + w)
        let Wt = W * (1 - decay) - mW * beta, wt = w * (1 - decay) - mw * beta
        var z = matmul(q, Wt) - matmul(E * matmul(q, k, transB: true).tril(), D)
        let e = E.slice(axis: 1, b - 1, b).transpose()
        let mWn = mW * beta + matmul(k * e, D, transA: true)
        var mwn = mw * beta
        if bias {
            z = z + wt - matmul(E.tril(), D)
            mwn = mwn + (D * e).sum(axis: 1, keepDims: true)
        }
        return (z, [W * (1 - decay) - mWn, w * (1 - decay) - mwn, mWn, mwn])
    }

    /// As TTT-Linear (dual 6d² + 6bd, primal 8d²); the momentum update is elementwise.
    public static func innerFlopsPerToken(d: Int, b: Int, dual: Bool) -> Double {
        dual ? Double(6 * d * d + 6 * b * d) : Double(8 * d * d)
    }
}
