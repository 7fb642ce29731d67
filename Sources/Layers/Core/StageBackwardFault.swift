// StageBackwardFault.swift — deliberate faults in the hand-written backwards of the layers' shared pre/post
// stages (projections' convs, RoPE, gates, post-norm), for the finite-difference tests' negative controls only.

/// A fault injected into one shared stage's backward (per layer instance; nil in normal use). Each names the
/// gradient it breaks, so a negative control shows the finite-difference check catches exactly that fault.
///
/// ```swift
/// layer.stageBackwardFault = .etaSigmoidPrime      // the η gate's VJP forgets σ′: the lr-gate FD check must fail
/// ```
enum StageBackwardFault: CaseIterable {
    /// RoPE's VJP rotates forward again instead of back (wrong sign of the angle).
    case ropeDirection
    /// The causal conv's VJP drops dL/d(bias).
    case convBias
    /// The TTT η gate's VJP drops the σ′ factor: dL/d(logit) = dL/dη·scale.
    case etaSigmoidPrime
    /// The TTT post-norm's VJP drops dL/dγ_post.
    case postNormGamma
    /// Mamba's Δ = softplus(δ·W_dt + b_dt) VJP drops dL/db_dt.
    case softplusBias
    /// Mamba's A = −exp(A_log) VJP flips the sign of dL/dA_log.
    case negExp
    /// Mamba's y ⊙ silu(z) VJP drops the silu′ factor of dL/dz (uses σ(z) for it).
    case siluGate
}
