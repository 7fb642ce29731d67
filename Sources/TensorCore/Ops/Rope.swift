// Rope.swift — rotary position embedding on interleaved pairs (2i, 2i+1) (spec §1.3).
import Foundation

/// Rotates pairs (x_{2i}, x_{2i+1}) of the last axis by φ = pos[t]·θ^(−2i/d), where t indexes axis −2.
/// x: [..., T, d] with d even; `positions.count == T`. The VJP rotates back by −φ.
public func rope(_ x: Tensor, positions: [Int], theta: Float = 10000) -> Tensor {
    let d = x.shape.last!, t = x.shape[x.rank - 2]
    checkShape(d % 2 == 0 && positions.count == t, "rope: need even head dim and \(t) positions, got \(x.shape) and \(positions.count)")
    let half = d / 2
    var cs = [Float](repeating: 0, count: t * half), sn = cs
    for (ti, p) in positions.enumerated() {
        for i in 0..<half {
            let phi = Double(p) * Foundation.pow(Double(theta), -2 * Double(i) / Double(d))
            cs[ti * half + i] = Float(Foundation.cos(phi)); sn[ti * half + i] = Float(Foundation.sin(phi))
        }
    }
    func rotate(_ src: Tensor, sign: Float) -> Tensor {
        let out = Tensor(uninitializedShape: src.shape)
        let ps = src.data, po = out.data, rows = src.count / d
        for r in 0..<rows {
            let ti = r % t
            for i in 0..<half {
                let c = cs[ti * half + i], s = sign * sn[ti * half + i]
                let a = ps[r * d + 2 * i], b = ps[r * d + 2 * i + 1]
                po[r * d + 2 * i] = a * c - b * s
                po[r * d + 2 * i + 1] = a * s + b * c
            }
        }
        FLOPCounter.elementwise += 3 * src.count
        return out
    }
    return rotate(x, sign: 1).recorded("rope", [x]) { g in [rotate(g, sign: -1)] }
}
