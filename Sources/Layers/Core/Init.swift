// Init.swift — parameter initialisers shared by the layers (docs/ttt.md §1.1: N(0, 0.02) for linear maps).
import TensorCore

public enum Init {
    /// N(0, std²) trainable parameter.
    public static func normal(_ shape: [Int], std: Float = 0.02, rng: inout RNG) -> Tensor {
        Tensor.randn(shape, std: std, rng: &rng).requiringGrad()
    }
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(zeros: shape).requiringGrad() }
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape).requiringGrad() }
    /// The four `[D, D]` projections Wq, Wk, Wv, Wo of an attention-style layer, N(0, 0.02), no bias.
    public static func qkvo(width d: Int, rng: inout RNG) -> (Tensor, Tensor, Tensor, Tensor) {
        (normal([d, d], rng: &rng), normal([d, d], rng: &rng), normal([d, d], rng: &rng), normal([d, d], rng: &rng))
    }
    /// Uniform in [lo, hi) trainable parameter.
    public static func uniform(_ shape: [Int], _ lo: Float, _ hi: Float, rng: inout RNG) -> Tensor {
        Tensor.uniform(shape, lo, hi, rng: &rng).requiringGrad()
    }
}

extension Param {
    /// Wq, Wk, Wv, Wo under their PyTorch names (`q_proj.weight`, …), saved as `(out, in)`.
    public static func qkvo(_ wq: Tensor, _ wk: Tensor, _ wv: Tensor, _ wo: Tensor) -> [Param] {
        [.linear("q_proj.weight", wq), .linear("k_proj.weight", wk), .linear("v_proj.weight", wv), .linear("o_proj.weight", wo)]
    }
}

extension Tensor {
    /// Splits [B, T, H·d] into heads: [B·H, T, d].
    public func splitHeads(_ h: Int) -> Tensor {
        let (b, t, dm) = (shape[0], shape[1], shape[2])
        return reshape([b, t, h, dm / h]).permute([0, 2, 1, 3]).reshape([b * h, t, dm / h])
    }
    /// Merges heads back: [B·H, T, d] → [B, T, H·d].
    public func mergeHeads(_ h: Int) -> Tensor {
        let (bh, t, d) = (shape[0], shape[1], shape[2])
        return reshape([bh / h, h, t, d]).permute([0, 2, 1, 3]).reshape([bh / h, t, h * d])
    }
}
