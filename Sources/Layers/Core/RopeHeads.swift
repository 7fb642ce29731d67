// RopeHeads.swift — the layers' one spelling of RoPE on a [B, t, D] projection (docs/ttt.md §1.3): every head
// rotated through TensorCore's `RopeTable`, as one autodiff node whose VJP rotates back (RoPE is orthogonal).
// In place without a graph (the no-grad fused paths), into a new tensor with one.
//
//   forward   y[b, j, head] = R(positions[j])·x[b, j, head]        x, y [B, t, D], heads of D/H side by side
//   backward  dx[b, j, head] = R(positions[j])ᵀ·g[b, j, head] = R(−positions[j])·g
import TensorCore

extension RopeTable {
    /// Every head (H heads of width D/H side by side) of x [B, t, D] rotated, token j of the chunk at
    /// `positions[j]` — absolute positions for attention, positions mod b for TTT. Returns x itself, rotated
    /// in place, when no graph is being built; a new recorded tensor otherwise.
    ///
    /// ```swift
    /// let q = RopeTable.rotateHeads(q0, heads: H, positions: Array(start..<(start + t)), theta: 10000)
    /// ```
    /// `fault` (tests only) breaks the VJP.
    @discardableResult
    static func rotateHeads(_ x: Tensor, heads H: Int, positions: [Int], theta: Float, fault: StageBackwardFault? = nil) -> Tensor {
        let table = RopeTable(dim: x.dim(2) / H, theta: theta, positions: positions)
        guard Tensor.recording([x]) else { table.rotateHeads(x, heads: H); return x }
        let y = table.rotatedHeads(x, heads: H, sign: 1)
        return y.recordingFused("ropeHeads", [x]) { g in [table.rotatedHeads(g, heads: H, sign: fault == .ropeDirection ? 1 : -1)] }
    }

    /// A new [B, t, D] tensor: every head of x rotated by its token's angles (`sign` −1: rotated back).
    func rotatedHeads(_ x: Tensor, heads H: Int, sign: Float) -> Tensor {
        let (B, t, D) = (x.dim(0), x.dim(1), x.dim(2)), d = dim
        precondition(D == H * d, "rotatedHeads: x \(x.shape) vs \(H) heads of \(d)")
        let y = Tensor(uninitializedShape: x.shape), px = x.data, py = y.data
        Parallel.forEach(B * t, minPerThread: 64) { bt in
            for hh in 0..<H { self.rotate(px + bt * D + hh * d, into: py + bt * D + hh * d, at: bt % t, sign: sign) }
        }
        FLOPCounter.elementwise += 3 * x.count
        return y
    }
}
