// Rope.swift — rotary position embedding on interleaved pairs (2i, 2i+1) (docs/ttt.md §1.3).
import Foundation

/// The one RoPE implementation (docs/ttt.md §1.3, interleaved pairs): cos/sin of φ = pos·θ^(−2i/d) for a list of
/// positions, and the in-place rotation of a row. Used by the `rope` op and by the fused kernels.
///
/// ```swift
/// let table = RopeTable(dim: 8, positions: [0, 1, 2])
/// table.rotate(row, at: 1)            // row: 8 floats, rotated by position 1's angles
/// ```
public struct RopeTable: Sendable {
    public let dim: Int
    /// cos, sin per distinct position: [distinct, dim/2] each; `row[ti]` is position ti's row.
    public let cos: [Float], sin: [Float]
    let row: [Int]

    public init(dim d: Int, theta: Float = 10000, positions: [Int]) {
        let half = d / 2
        // Positions repeat (t mod b): one row per distinct position, the frequencies computed once.
        var index: [Int: Int] = [:], row = [Int](repeating: 0, count: positions.count), distinct: [Int] = []
        for (ti, p) in positions.enumerated() {
            if let r = index[p] { row[ti] = r } else { index[p] = distinct.count; row[ti] = distinct.count; distinct.append(p) }
        }
        let freq = (0..<half).map { Foundation.pow(Double(theta), -2 * Double($0) / Double(d)) }
        var cs = [Float](repeating: 0, count: distinct.count * half), sn = cs
        for (r, p) in distinct.enumerated() {
            for i in 0..<half {
                let phi = Double(p) * freq[i]
                cs[r * half + i] = Float(Foundation.cos(phi)); sn[r * half + i] = Float(Foundation.sin(phi))
            }
        }
        dim = d; cos = cs; sin = sn; self.row = row
    }

    /// x ← rotation of x (dim floats) by row `ti`'s angles (`sign` −1 rotates back: the VJP).
    @inline(__always) public func rotate(_ x: UnsafeMutablePointer<Float>, at ti: Int, sign: Float = 1) {
        rotate(x, into: x, at: ti, sign: sign)
    }

    /// y ← rotation of x (dim floats; y may alias x).
    @inline(__always) public func rotate(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, at ti: Int, sign: Float = 1) {
        let half = dim / 2
        cos.withUnsafeBufferPointer { cb in
            sin.withUnsafeBufferPointer { sb in
                let r = row[ti], pc = cb.baseAddress! + r * half, ps = sb.baseAddress! + r * half
                for i in 0..<half {
                    let c = pc[i], s = sign * ps[i]
                    let a = x[2 * i], b = x[2 * i + 1]
                    y[2 * i] = a * c - b * s
                    y[2 * i + 1] = a * s + b * c
                }
            }
        }
    }
}

extension RopeTable {
    /// Rotates every head of x [B, t, D] in place (heads of width `dim` side by side, the fused kernels'
    /// layout); token j of the chunk uses the table's position j.
    ///
    /// ```swift
    /// RopeTable(dim: d, positions: Array(start..<(start + t))).rotateHeads(q, heads: H)
    /// ```
    public func rotateHeads(_ x: Tensor, heads H: Int) {
        let (B, t, D) = (x.dim(0), x.dim(1), x.dim(2)), d = dim
        checkShape(D == H * d && row.count == t, "rotateHeads: x \(x.shape) vs \(H) heads of \(d) and \(row.count) positions")
        let px = x.data
        Parallel.forEach(B * t, minPerThread: 64) { bt in
            for hh in 0..<H { self.rotate(px + bt * D + hh * d, at: bt % t) }
        }
    }
}

/// Rotates pairs (x_{2i}, x_{2i+1}) of the last axis by φ = pos[t]·θ^(−2i/d), where t indexes axis −2.
/// x: [..., T, d] with d even; `positions.count == T`. The VJP rotates back by −φ.
public func rope(_ x: Tensor, positions: [Int], theta: Float = 10000) -> Tensor {
    let d = x.shape.last!, t = x.shape[x.rank - 2]
    checkShape(d % 2 == 0 && positions.count == t, "rope: need even head dim and \(t) positions, got \(x.shape) and \(positions.count)")
    let table = RopeTable(dim: d, theta: theta, positions: positions)
    func rotate(_ src: Tensor, sign: Float) -> Tensor {
        let out = Tensor(uninitializedShape: src.shape)
        let ps = src.data, po = out.data, rows = src.count / d
        Parallel.chunks(rows, minPerThread: 256) { lo, hi in
            for r in lo..<hi { table.rotate(ps + r * d, into: po + r * d, at: r % t, sign: sign) }
        }
        FLOPCounter.elementwise += 3 * src.count
        return out
    }
    return rotate(x, sign: 1).recorded("rope", [x]) { g in [rotate(g, sign: -1)] }
}
