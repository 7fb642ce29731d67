// MLPInner.swift — TTT-MLP: f_res(x) = gelu(x·W1 + w1)·W2 + w2, hidden 4d (docs/ttt.md §1.5, dual §1.8).
import Layers
import TensorCore

/// The TTT-MLP inner model. State per head: `W1` [d, 4d], `b1` [1, 4d], `W2` [4d, d], `b2` [1, d].
public enum MLPInner: InnerModel {
    public static let name = "mlp"
    public static let summary = "TTT-MLP: f_res(x) = gelu(x·W1 + w1)·W2 + w2, hidden 4d, state 8d² + 5d per head"
    public static let defaultBaseLR: Float = 0.1
    /// ρ warms up from 0.1 (docs/ttt.md §3).
    public static let lrMultWarmupStart: Float? = 0.1

    public static func parameters(headDim d: Int) -> [InnerParamSpec] {
        [InnerParamSpec("W1", [d, 4 * d]), InnerParamSpec("b1", [1, 4 * d], isBias: true),
         InnerParamSpec("W2", [4 * d, d]), InnerParamSpec("b2", [1, d], isBias: true)]
    }

    /// Z1 = x·W1 + w1;  X2 = gelu(Z1);  z = X2·W2 + w2
    public static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor {
        matmul((matmul(x, θ[0]) + θ[1]).gelu(), θ[2]) + θ[3]
    }

    /// δ2 = δ;  δ1 = (δ2·W2ᵀ) ⊙ gelu'(Z1);  ∂W1 = Σ w kᵀδ1, ∂w1 = Σ w δ1, ∂W2 = Σ w X2ᵀδ2, ∂w2 = Σ w δ2
    public static func gradient(_ x: Tensor, _ θ: [Tensor], delta: Tensor, weights: Tensor) -> [Tensor] {
        let Z1 = matmul(x, θ[0]) + θ[1]                            // [N, n, 4d]
        let X2 = Z1.gelu()
        let D1 = matmul(delta, θ[2], transB: true) * Z1.geluPrime() // [N, n, 4d]
        let wd1 = D1 * weights, wd2 = delta * weights
        return [matmul(x, wd1, transA: true), wd1.sum(axis: 1, keepDims: true),
                matmul(X2, wd2, transA: true), wd2.sum(axis: 1, keepDims: true)]
    }

    /// Spec §1.8: the first layer as TTT-Linear on (Q, K, Δ1); the second on (X̄2, X2, Δ2).
    public static func dual(_ θ: [Tensor], q: Tensor, k: Tensor, E: Tensor, bias: Bool,
                            delta: (Tensor) -> Tensor) -> (z: Tensor, next: [Tensor])? {
        let (W1, w1, W2, w2) = (θ[0], θ[1], θ[2], θ[3])
        let b = k.dim(1)
        let Z1 = matmul(k, W1) + w1                                // [N, b, 4d]
        let X2 = Z1.gelu()
        let Z2 = matmul(X2, W2) + w2                               // [N, b, d]
        let D2 = delta(Z2)                                         // [N, b, d]
        let D1 = matmul(D2, W2, transB: true) * Z1.geluPrime()     // [N, b, 4d]
        let trilE = E.tril()
        var Zq1 = matmul(q, W1) - matmul(E * matmul(q, k, transB: true).tril(), D1)
        if bias { Zq1 = Zq1 + w1 - matmul(trilE, D1) }
        let Xq2 = Zq1.gelu()                                       // [N, b, 4d]
        var Zq2 = matmul(Xq2, W2) - matmul(E * matmul(Xq2, X2, transB: true).tril(), D2)
        if bias { Zq2 = Zq2 + w2 - matmul(trilE, D2) }
        let e = E.slice(axis: 1, b - 1, b).transpose()             // [N, b, 1]
        let W1n = W1 - matmul(k * e, D1, transA: true)
        let W2n = W2 - matmul(X2 * e, D2, transA: true)
        let w1n = bias ? w1 - (D1 * e).sum(axis: 1, keepDims: true) : w1
        let w2n = bias ? w2 - (D2 * e).sum(axis: 1, keepDims: true) : w2
        return (Zq2, [W1n, w1n, W2n, w2n])
    }

    /// Dual: 56d² + 30bd. Primal: 72d² (docs/ttt.md §5).
    public static func innerFlopsPerToken(d: Int, b: Int, dual: Bool) -> Double {
        dual ? Double(56 * d * d + 30 * b * d) : Double(72 * d * d)
    }
}
