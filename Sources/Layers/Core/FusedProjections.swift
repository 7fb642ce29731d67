// FusedProjections.swift — the projection GEMMs of the layers' shared raw-buffer stages: x·W on OpenBLAS
// (`FastGEMM`, decode-sized products as per-row GEMVs), recorded as one autodiff node with a hand-written
// backward when a graph is being built, so the reference, the no-grad fused path and the training node
// all run the same forward: the pre/post stages of softmax attention, linear attention, Mamba and TTT.
//
//   forward   y = x·W                     x [rows, in] (any leading dims), W [in, out] (lab layout)
//   backward  dx = g·Wᵀ  [rows, in];  dW = xᵀ·g  [in, out]      (only the ones that need a gradient)
import TensorCore

/// x [B, t, D] → projections [B, t, D_out] (heads side by side), differentiable, one forward for every path.
///
/// ```swift
/// let y = FusedProjections.linear(x, w)                  // x·W, recorded when x or W requires grad
/// let (q, k, v) = FusedProjections.qkv(x, wq, wk, wv)
/// ```
enum FusedProjections {
    /// x·W for x [B, t, in] (or any leading dims) and W [in, out]: [B, t, out]. Recorded when recording.
    static func linear(_ x: Tensor, _ w: Tensor) -> Tensor {
        let y = FastGEMM.linear(x, w, shape: Array(x.shape.dropLast()))
        return y.recordingFused("linear", [x, w]) { g in linearBackward(x, w, g) }
    }

    /// [dx, dW] of y = x·W for dL/dy `g` (nil for an input that needs no gradient).
    static func linearBackward(_ x: Tensor, _ w: Tensor, _ g: Tensor) -> [Tensor?] {
        let (kIn, nOut) = (w.dim(0), w.dim(1)), rows = x.count / kIn
        let gx = x.requiresGrad ? matmulRaw(g.reshaped([rows, nOut]), w, transB: true).reshaped(x.shape) : nil
        let gw = w.requiresGrad ? matmulRaw(x.reshaped([rows, kIn]), g.reshaped([rows, nOut]), transA: true) : nil
        return [gx, gw]
    }

    /// Q, K, V = x·Wq, x·Wk, x·Wv, each [B, t, D_out] for x [B, t, D] (lab-layout weights [D, D_out]).
    static func qkv(_ x: Tensor, _ wq: Tensor, _ wk: Tensor, _ wv: Tensor) -> (q: Tensor, k: Tensor, v: Tensor) {
        (linear(x, wq), linear(x, wk), linear(x, wv))
    }
}
