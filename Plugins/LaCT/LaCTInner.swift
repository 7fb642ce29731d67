// LaCTInner.swift — large-chunk test-time training (Zhang et al., "Test-Time Training Done Right", 2025)
// as a TTT inner model: a SwiGLU fast-weight network, the negative inner-product loss, apply-then-update
// per chunk, Muon-style (Newton–Schulz) orthogonalized updates and weight renormalization.
import Layers
import TensorCore

/// LaCT: f(x) = (SiLU(x·W1) ⊙ (x·W3))·W2 (hidden d), ℓ = −⟨f(k), v⟩, no inner LN/residual/bias, c_i = 1.
/// Every query of a chunk of b tokens (b = the layer's mini-batch; LaCT uses large chunks) reads the
/// fast weights from before the chunk; then, per matrix W with G = Σ_j η_j ∇_W ℓ_j over the chunk,
///
///     W' = W − NS₅(G),     W'_{:,c} ← W'_{:,c} · ‖W_{:,c}‖ / (‖W'_{:,c}‖ + 10⁻⁵)
///
/// NS₅ being five Newton–Schulz iterations X ← aX + (b XXᵀ + c (XXᵀ)²) X from X = G/‖G‖_F (Muon's
/// orthogonalization, with the LaCT authors' per-iteration coefficients), and the renormalization
/// restoring each output column's norm (LaCT's per-channel L2 norm of the fast weights).
/// `update(_:step:orthogonalize:)` exposes the rule without NS₅ (the equivalence study's variant: at
/// b = 1 it is online GD on the inner-product loss with the norms restored).
///
/// ```swift
/// var cfg = LayerConfig(width: 64, heads: 4); cfg.ttt.miniBatch = 64
/// let layer = try LayerRegistry.make("ttt-lact", cfg, seed: 0)
/// ```
public enum LaCTInner: InnerModel {
    public static let name = "lact"
    public static let summary = "LaCT (Zhang et al. 2025): SwiGLU fast weights, loss −⟨f(k), v⟩, apply-then-update per chunk, Newton–Schulz (Muon) update, column norms kept; state 3d² per head"
    public static let defaultBaseLR: Float = 1.0
    public static let features = InnerFeatures(loss: .negativeInnerProduct, timing: .applyThenUpdate)
    /// Newton–Schulz coefficients (a, b, c) of the five iterations (as in the LaCT authors' code).
    public static let newtonSchulz: [(Float, Float, Float)] = [
        (4.0848, -6.8946, 2.9270), (3.9505, -6.3029, 2.6377), (3.7418, -5.5913, 2.3037),
        (2.8769, -3.1427, 1.2046), (2.8366, -3.0525, 1.2012),
    ]

    /// W1 (gate), W2 (out), W3 (up); N(0, 1/d): the norms they start with are kept for the whole sequence.
    public static func parameters(headDim d: Int) -> [InnerParamSpec] {
        let s = 1 / Float(d).squareRoot()
        return [InnerParamSpec("W1", [d, d], initStd: s), InnerParamSpec("W2", [d, d], initStd: s), InnerParamSpec("W3", [d, d], initStd: s)]
    }

    /// No inner LN, residual or bias; c_i = 1; the initial fast weights are learned (required: the norms of
    /// the initial weights are kept, so weights starting at 0 would stay at 0).
    public static func configure(_ c: inout LayerConfig) {
        c.ttt.innerLN = false; c.ttt.innerResidual = false; c.ttt.innerBias = false; c.ttt.tokenScaling = false
        c.ttt.learnableW0 = true
    }

    /// z = (SiLU(x·W1) ⊙ (x·W3))·W2
    public static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor {
        matmul(matmul(x, θ[0]).silu() * matmul(x, θ[2]), θ[1])
    }

    /// With g = x·W1, u = x·W3, a = SiLU(g), e = w δ:  ∂W2 = (a ⊙ u)ᵀe,  ∂W1 = xᵀ[(eW2ᵀ ⊙ u) ⊙ SiLU'(g)],  ∂W3 = xᵀ(eW2ᵀ ⊙ a).
    public static func gradient(_ x: Tensor, _ θ: [Tensor], delta: Tensor, weights: Tensor) -> [Tensor] {
        let g = matmul(x, θ[0]), u = matmul(x, θ[2]), s = g.sigmoid(), a = g * s
        let e = delta * weights
        let dh = matmul(e, θ[1], transB: true)
        return [matmul(x, dh * u * (s * (g * (1 - s) + 1)), transA: true), matmul(a * u, e, transA: true), matmul(x, dh * a, transA: true)]
    }

    /// LaCT's update: W' = W − NS₅(step), then each column's norm restored.
    public static func update(_ θ0: [Tensor], step: [Tensor]) -> [Tensor] { update(θ0, step: step, orthogonalize: true) }

    /// The update with or without the Newton–Schulz orthogonalization (renormalization always).
    public static func update(_ θ0: [Tensor], step: [Tensor], orthogonalize: Bool) -> [Tensor] {
        (0..<3).map { i in
            let raw = θ0[i] - (orthogonalize ? newtonSchulz5(step[i]) : step[i])
            return raw * (columnNorm(θ0[i]) * (columnNorm(raw) + 1e-5).reciprocal())
        }
    }

    /// ‖W_{:,c}‖ per column: [N, r, c] → [N, 1, c] (ε under the root keeps the gradient finite at 0).
    static func columnNorm(_ w: Tensor) -> Tensor { ((w * w).sum(axis: 1, keepDims: true) + 1e-12).sqrt() }

    /// Five Newton–Schulz iterations toward the orthogonal polar factor of G [N, r, c] (batched; run on
    /// the wide orientation, r ≤ c).
    public static func newtonSchulz5(_ G: Tensor) -> Tensor {
        let tall = G.dim(1) > G.dim(2)
        var X = tall ? G.transpose() : G
        X = X * ((X * X).sum(axis: -1, keepDims: true).sum(axis: -2, keepDims: true) + 1e-14).rsqrt()
        for (a, b, c) in newtonSchulz {
            let A = matmul(X, X, transB: true)
            let B = A * b + matmul(A, A) * c
            X = X * a + matmul(B, X)
        }
        return tall ? X.transpose() : X
    }

    /// Per token: forward on q 6d², on k 6d² (the layer evaluates it for δ), gradient 12d²; per chunk of b,
    /// NS₅ on three d × d matrices: 3 · 5 · 3 GEMMs of 2d³.
    public static func innerFlopsPerToken(d: Int, b: Int, dual: Bool) -> Double {
        Double(24 * d * d) + Double(90 * d * d * d) / Double(max(b, 1))
    }
}
