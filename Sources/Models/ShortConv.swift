// ShortConv.swift — the gated short causal convolution sub-block that Zoology puts before every
// sequence mixer (its `BaseConv` with a short kernel), as a backbone option for any layer.
//
//   u = RMSNorm_s(x)                                   x [B, T, D]
//   c = CConv_k(u·W_in)                                W_in [D, D]; depthwise causal conv, width k, bias
//   g = u·W_gate                                       W_gate [D, D]
//   x ← x + c ⊙ g                                      the gated branch, residual
//
// Zoology composes `BaseConv` and the mixer inside one residual (`Hybrid`); the lab adds the conv as
// its own residual sub-block before the mixer's (as the TTT Mamba backbone's pre-conv does), so the
// mixer sees both the token and its k−1 predecessors. Inits: W_in, W_gate N(0, 0.02²) like every other
// projection of the lab, conv weight N(0, 1/k), bias 0. (With PyTorch Linear's N(0, 1/D) the branch starts
// ~50× larger than the N(0, 0.02²) embeddings and drowns the token in the residual stream: attention then
// did not even reach the copy baseline on MQAR in 300 steps; measured, see the recall README.)
import Foundation
import Layers
import TensorCore

/// Gated short causal convolution `x + CConv(u·W_in) ⊙ (u·W_gate)`, u = RMSNorm(x).
///
/// ```swift
/// var cfg = try ModelConfig.preset("micro", layer: "attention")
/// cfg.shortConv = 3            // every block gets the gated conv (kernel 3) before its mixer
/// let model = try LanguageModel(config: cfg, seed: 0)
/// ```
public final class ShortConv {
    public let norm: Tensor, inProj: Tensor, gate: Tensor, weight: Tensor, bias: Tensor
    let k: Int

    init(width D: Int, kernel k: Int, rng: inout RNG) {
        self.k = k
        norm = Init.ones([D])
        inProj = Init.normal([D, D], rng: &rng)
        gate = Init.normal([D, D], rng: &rng)
        weight = Init.normal([k, D], std: 1 / Float(k).squareRoot(), rng: &rng)
        bias = Init.zeros([D])
    }

    /// The residual branch for x [B, T, D] (not the sum), differentiable.
    func branch(_ x: Tensor) -> Tensor {
        let u = x.rmsNorm(weight: norm)                                       // [B, T, D]
        let c = causalConv1d(matmul(u, inProj), weight: weight, bias: bias)   // [B, T, D]
        return c * matmul(u, gate)                                            // [B, T, D]
    }

    /// The branch for a chunk x [B, t, D] continuing `history` (the last k−1 projected rows u·W_in, [B, k−1, D]).
    func step(_ x: Tensor, history: inout Tensor) -> Tensor {
        let u = x.rmsNorm(weight: norm)
        let full = concat([history, matmul(u, inProj)], axis: 1)             // [B, k−1+t, D]
        let n = full.dim(1), t = x.dim(1)
        history = full.slicedRaw(axis: 1, n - (k - 1), n).copy()
        let c = causalConv1d(full, weight: weight, bias: bias).slicedRaw(axis: 1, n - t, n)
        return c * matmul(u, gate)
    }

    /// Parameter names: `norm.weight`, `in_proj.weight`, `gate_proj.weight` (stored `(out, in)`),
    /// `conv.weight` (D, 1, k), `conv.bias`.
    var parameters: [Param] {
        [Param("norm.weight", norm), .linear("in_proj.weight", inProj), .linear("gate_proj.weight", gate),
         Param("conv.weight", weight, transposeInFile: true, fileShape: [weight.dim(1), 1, k]),
         Param("conv.bias", bias)]
    }

    /// Parameters of one sub-block of width D and kernel k.
    static func parameterCount(width D: Int, kernel k: Int) -> Int { D + 2 * D * D + k * D + D }
}
