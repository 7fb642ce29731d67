// LinearInnerForms.swift — the pieces that inner models linear in their state share (f(x) = φ(x)·S):
// the L2 feature map φ of the delta-rule plugins and the gated chunk (dual) form of contract v2.
import TensorCore

/// φ(x) = x / √(‖x‖² + ε) over the last axis: the key/query normalisation of DeltaNet, Gated DeltaNet
/// and Titans (Yang et al. 2024), which keeps a delta-rule step stable for any β ∈ (0, 2). Differentiable.
///
/// ```swift
/// let kn = l2Normalized(k)        // k [N, n, d] → rows of norm ≈ 1
/// ```
public func l2Normalized(_ x: Tensor, eps: Float = 1e-6) -> Tensor {
    x * ((x * x).sum(axis: -1, keepDims: true) + eps).rsqrt()
}

/// The gated dual of one mini-batch for an inner model f(x) = φ(x)·S with a decay gate (contract v2,
/// `InnerFeatures`): given φ(Q), φ(K) [N, b, d] (`q`, `k`, already feature-mapped), the state S [N, d, d],
/// the decay products A [N, b, 1] and E_ij = c_i η_j A_i/A_j (zero above the diagonal),
///
///     Δ = δ(A ⊙ φ(K)·S);   Z̄ = A ⊙ φ(Q)·S − (E ⊙ φ(Q)φ(K)ᵀ)·Δ;   S' = A_b S − (e ⊙ φ(K))ᵀ·Δ
///
/// with e the last row of E. The gradients of token j are taken at A_j S, as the primal form does. GLA
/// (δ = −V, φ = id) and Gated DeltaNet (δ = the squared loss's, φ = `l2Normalized`) call it.
///
/// ```swift
/// guard let A = gates.decay else { return nil }
/// return gatedLinearDual(θ[0], q: l2Normalized(q), k: l2Normalized(k), E: E, decay: A, delta: delta)
/// ```
public func gatedLinearDual(_ S: Tensor, q: Tensor, k: Tensor, E: Tensor, decay A: Tensor,
                            delta: (Tensor) -> Tensor) -> (z: Tensor, next: [Tensor]) {
    let b = k.dim(1)
    let D = delta(A * matmul(k, S))
    let z = A * matmul(q, S) - matmul(E * matmul(q, k, transB: true), D)
    let e = E.slice(axis: 1, b - 1, b).transpose()
    return (z, [TokenGates.scale(S, by: A.slice(axis: 1, b - 1, b)) - matmul(k * e, D, transA: true)])
}
