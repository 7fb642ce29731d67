// LinearInner.swift — TTT-Linear: f_res(x) = x·W + w (docs/ttt.md §1.5), primal and dual form (docs/ttt.md §1.7).
import Layers
import TensorCore

/// The TTT-Linear inner model. State per head: `W1` [d, d], `b1` [1, d] (official names).
public enum LinearInner: InnerModel {
    public static let name = "linear"
    public static let summary = "TTT-Linear: f_res(x) = x·W + w, state d² + d per head"
    public static let defaultBaseLR: Float = 1.0

    public static func parameters(headDim d: Int) -> [InnerParamSpec] {
        [InnerParamSpec("W1", [d, d]), InnerParamSpec("b1", [1, d], isBias: true)]
    }

    /// z = x·W + w            x [N, n, d], W [N, d, d], w [N, 1, d]
    public static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor { matmul(x, θ[0]) + θ[1] }

    /// ∂/∂W = Σ_j w_j k_jᵀ δ_j,  ∂/∂w = Σ_j w_j δ_j
    public static func gradient(_ x: Tensor, _ θ: [Tensor], delta: Tensor, weights: Tensor) -> [Tensor] {
        let wd = delta * weights                                   // [N, n, d]
        return [matmul(x, wd, transA: true), wd.sum(axis: 1, keepDims: true)]
    }

    /// Spec §1.7, one mini-batch, batched over N:
    ///   Z = K·W + w;  Δ = δ(Z);  A = tril(Q·Kᵀ);  Z̄ = Q·W − (E ⊙ A)·Δ + w − tril(E)·Δ
    ///   W' = W − (e ⊙ K)ᵀ·Δ,  w' = w − eᵀ·Δ,  e = E[b, :]
    public static func dual(_ θ: [Tensor], q: Tensor, k: Tensor, E: Tensor, bias: Bool,
                            delta: (Tensor) -> Tensor) -> (z: Tensor, next: [Tensor])? {
        let (W, w) = (θ[0], θ[1])
        let b = k.dim(1)
        let Z = matmul(k, W) + w                                   // [N, b, d]
        let D = delta(Z)                                           // [N, b, d]
        let A = matmul(q, k, transB: true).tril()                  // [N, b, b]
        var Zq = matmul(q, W) - matmul(E * A, D)                   // [N, b, d]
        let e = E.slice(axis: 1, b - 1, b).transpose()             // [N, b, 1]
        let Wn = W - matmul(k * e, D, transA: true)                // [N, d, d]
        var wn = w
        if bias {
            Zq = Zq + w - matmul(E.tril(), D)
            wn = w - (D * e).sum(axis: 1, keepDims: true)          // [N, 1, d]
        }
        return (Zq, [Wn, wn])
    }

    /// Dual: 6d² + 6bd (3 b×d×d and 3 b×b×d products per mini-batch, per token). Primal: 8d².
    public static func innerFlopsPerToken(d: Int, b: Int, dual: Bool) -> Double {
        dual ? Double(6 * d * d + 6 * b * d) : Double(8 * d * d)
    }
}
