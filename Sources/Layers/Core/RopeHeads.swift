// RopeHeads.swift — the raw-buffer paths' one spelling of RoPE (docs/ttt.md §1.3): every head of a [B, t, D]
// projection rotated in place through TensorCore's `RopeTable`, the table the differentiable `rope` op uses.
import TensorCore

extension RopeTable {
    /// Rotates every head (H heads of width D/H side by side) of x [B, t, D] in place, token j of the chunk at
    /// `positions[j]` — absolute positions for attention, positions mod b for TTT.
    ///
    /// ```swift
    /// RopeTable.rotateHeads(q, heads: H, positions: Array(start..<(start + t)), theta: 10000)
    /// ```
    static func rotateHeads(_ x: Tensor, heads H: Int, positions: [Int], theta: Float) {
        RopeTable(dim: x.dim(2) / H, theta: theta, positions: positions).rotateHeads(x, heads: H)
    }
}
