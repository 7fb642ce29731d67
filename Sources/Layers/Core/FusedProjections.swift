// FusedProjections.swift — the projection stages of the raw-buffer (fused, no-grad) paths that softmax and
// linear attention share: Q, K, V = x·Wq, x·Wk, x·Wv before the mixing core and z·Wo after it.
import TensorCore

/// x [B, t, D] → the three projections [B, t, D] (heads side by side), and the output projection with the
/// fused-forward test hook.
///
/// ```swift
/// let (q, k, v) = FusedProjections.qkv(x, wq, wk, wv)
/// let y = FusedProjections.output(z, wo, fault: nil)        // z·Wo
/// ```
enum FusedProjections {
    /// Q, K, V = x·Wq, x·Wk, x·Wv, each [B, t, D_out] for x [B, t, D] (lab-layout weights [D, D_out]).
    static func qkv(_ x: Tensor, _ wq: Tensor, _ wk: Tensor, _ wv: Tensor) -> (q: Tensor, k: Tensor, v: Tensor) {
        let (B, t) = (x.dim(0), x.dim(1))
        return (FastGEMM.linear(x, wq, shape: [B, t]), FastGEMM.linear(x, wk, shape: [B, t]), FastGEMM.linear(x, wv, shape: [B, t]))
    }

    /// z·Wo for the mixing output z [B, t, D], after applying a `.forward` test fault to z (nil in normal use).
    static func output(_ z: Tensor, _ wo: Tensor, fault: FusedFault?) -> Tensor {
        FusedFault.corruptOutput(z, fault)
        return FastGEMM.linear(z, wo, shape: [z.dim(0), z.dim(1)])
    }
}
