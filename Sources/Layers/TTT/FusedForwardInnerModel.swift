// FusedForwardInnerModel.swift — the forward kernels of the `fused` kernel path an inner-model plugin can add:
// the dual form of one mini-batch (docs/ttt.md §1.7–1.8; the no-grad prefill and the fused training node's
// forward) and the primal step of one token (decode, docs/ttt.md §2). The TTT layer uses them when the plugin
// adopts `FusedForwardInnerModel` and falls back to the differentiable reference otherwise; `FusedInnerModel`
// (FusedInnerModel.swift) adds the backward for training.
import TensorCore

/// The rows of one mini-batch (or one token) of one sequence×head, as the fused kernels see them.
///
/// `q`, `k` are RoPE'd rows with stride `ld` (they live inside the `[B, t, D]` projections, so head η
/// of token i is at `q + i·ld`); everything else is contiguous.
public struct FusedTTTRows {
    /// Rows n (≤ b) and head dim d.
    public let n: Int, d: Int
    public let q: UnsafePointer<Float>, k: UnsafePointer<Float>, ld: Int
    /// Reconstruction target per row: v − k (inner residual) or v, [n, d].
    public let target: UnsafePointer<Float>
    /// η_j (gated rate of the source token) and c_i (token scale of the row), [n] each.
    public let eta: UnsafePointer<Float>, c: UnsafePointer<Float>
    /// Inner LN γ, β [d] of this head.
    public let gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>
    /// f = x + LN(f_res) (true) or f_res without LN: selects the δ rule.
    public let innerLN: Bool
    /// Bias terms on (false: they stay at zero).
    public let bias: Bool
    /// d floats of temporary for the LN backward.
    public let tmp: UnsafeMutablePointer<Float>

    public init(n: Int, d: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>, ld: Int, target: UnsafePointer<Float>,
                eta: UnsafePointer<Float>, c: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                innerLN: Bool, bias: Bool, tmp: UnsafeMutablePointer<Float>) {
        self.n = n; self.d = d; self.q = q; self.k = k; self.ld = ld; self.target = target; self.eta = eta; self.c = c
        self.gamma = gamma; self.beta = beta; self.innerLN = innerLN; self.bias = bias; self.tmp = tmp
    }

    /// δ_i = ∂ℓ_i/∂z_i in place over z [n, d] (stride d): the fused LN+L2 backward (docs/ttt.md §1.5) or z − target.
    @inline(__always) public func delta(_ z: UnsafeMutablePointer<Float>) {
        for i in 0..<n {
            let zi = z + i * d, ti = target + i * d
            if innerLN { FastNorm.lnL2BackwardRow(zi, d, target: ti, gamma: gamma, beta: beta, tmp: tmp) }
            else { for j in 0..<d { zi[j] -= ti[j] } }
        }
    }

    /// M_ij = c_i·η_j·(A_ij + (bias ? 1 : 0)) for j ≤ i, 0 above the diagonal, in place over A [n, n]:
    /// `(E ⊙ tril(A))·Δ + tril(E)·Δ = M·Δ` (docs/ttt.md §1.7).
    @inline(__always) public func weightLowerTriangle(_ a: UnsafeMutablePointer<Float>) {
        let one: Float = bias ? 1 : 0
        for i in 0..<n {
            let row = a + i * n, ci = c[i]
            for j in 0...i { row[j] = ci * eta[j] * (row[j] + one) }
            for j in (i + 1)..<n { row[j] = 0 }
        }
    }
}

/// An inner model with raw-buffer kernels (no Tensor allocation per mini-batch). Parameters are the
/// plugin's `parameters(headDim:)` of one head, contiguous, in that order.
///
/// ```swift
/// extension LinearInner: FusedForwardInnerModel { … }    // Plugins/TTTLinear/LinearInnerFusedForward.swift
/// ```
public protocol FusedForwardInnerModel: InnerModel {
    /// Floats of scratch `fusedDual` needs at head dim d and mini-batch size b.
    static func fusedDualScratch(d: Int, b: Int) -> Int
    /// Dual form of one mini-batch (docs/ttt.md §1.7–1.8): z [n, d] ← pre-LN query outputs, θ ← end-of-mini-batch state.
    static func fusedDual(_ θ: [UnsafeMutablePointer<Float>], _ rows: FusedTTTRows, z: UnsafeMutablePointer<Float>,
                         scratch: UnsafeMutablePointer<Float>)
    /// Floats of scratch `fusedPrimalStep` needs.
    static func fusedStepScratch(d: Int) -> Int
    /// Primal step of one token (docs/ttt.md §2; `rows.n == 1`, `rows.c[0]` = c_i): acc += η·G(k; θ_start),
    /// z [d] ← f_res(q; θ_start − c_i·acc); if `commit`, θ_start ← θ_start − c_i·acc and acc ← 0.
    static func fusedPrimalStep(_ θ: [UnsafeMutablePointer<Float>], acc: [UnsafeMutablePointer<Float>], _ rows: FusedTTTRows,
                               commit: Bool, z: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>)
}
