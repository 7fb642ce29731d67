// Causal.swift — products and softmax that read only the causal (lower) triangle, so a NaN/Inf at a later
// token never reaches an earlier output through a masked entry (0 × NaN = NaN in IEEE arithmetic).
//
//   causalProduct:  out_i (+)= Σ_{j < w, j ≤ i + shift} p_ij · v_j      (rows of v never touched above the triangle)
//   causalSoftmax:  p_ij = exp(s_ij − max_{j' ≤ i} s_ij') / Σ_{j' ≤ i} …  for j ≤ i, 0 above (never read)
//   causalMatmul:   z = tril(p)·v without reading p above the diagonal
import Foundation

public enum CausalGEMM {
    /// Rows at or below this many are done by direct loops (the triangle's remainder).
    static let leaf = 16

    /// `out[i, :] += Σ_{j < w, j ≤ i + shift} p[i, j] · v[j, :]` for i in 0..<m, width d: the causal part of
    /// p·v, split recursively into full rectangles (sgemm) and small triangles (loops), so no entry of p above
    /// the boundary and no row of v beyond a row's reach is ever multiplied into that row.
    ///
    /// ```swift
    /// // z[c, d] += tril(A)[c, c] · V[c, d]   (A's upper part may hold garbage or NaN)
    /// CausalGEMM.accumulate(m: c, w: c, shift: 0, d: d, a, ldp: c, v, ldv: d, z, ldo: d)
    /// ```
    public static func accumulate(m: Int, w: Int, shift: Int, d: Int, _ p: UnsafePointer<Float>, ldp: Int,
                                  _ v: UnsafePointer<Float>, ldv: Int, _ out: UnsafeMutablePointer<Float>, ldo: Int) {
        var m = m, shift = shift, p = p, out = out
        if shift < 0 {                                               // leading rows that see nothing
            let s = min(m, -shift)
            p += s * ldp; out += s * ldo; m -= s; shift = 0
        }
        if m <= 0 || w <= 0 { return }
        let full = min(w, shift + 1)                                 // columns every row sees
        var done = 0                                                 // columns already multiplied in
        if full > 0 && (m > leaf || full > leaf) {
            sgemm(transA: false, transB: false, m: m, n: d, k: full, p, lda: ldp, v, ldb: ldv, out, ldc: ldo, beta: 1)
            done = full
        }
        if done == w { return }
        if m <= leaf {
            for i in 0..<m {
                let n = min(w, i + shift + 1), o = out + i * ldo, pr = p + i * ldp
                for j in done..<max(done, n) {
                    let a = pr[j], vr = v + j * ldv
                    for x in 0..<d { o[x] += a * vr[x] }
                }
            }
            return
        }
        // Remaining columns [full, w): row i sees j' < i (strictly lower). Split the rows in half.
        let h = m / 2, pr = p + full, vr = v + full * ldv
        accumulate(m: h, w: w - full, shift: -1, d: d, pr, ldp: ldp, vr, ldv: ldv, out, ldo: ldo)
        accumulate(m: m - h, w: w - full, shift: h - 1, d: d, pr + h * ldp, ldp: ldp, vr, ldv: ldv, out + h * ldo, ldo: ldo)
    }
}

extension Tensor {
    /// Softmax over the last axis of square `[..., T, T]` scores restricted to the causal part: row i uses
    /// entries j ≤ i only (entries above the diagonal are never read and come out 0), so a NaN in a later
    /// key's column cannot reach an earlier row. Gradient flows to the causal part only.
    ///
    /// ```swift
    /// let p = matmul(q, k, transB: true).causalSoftmax()   // [BH, T, T], zero above the diagonal
    /// ```
    public func causalSoftmax() -> Tensor {
        checkShape(rank >= 2 && shape[rank - 1] == shape[rank - 2], "causalSoftmax: needs square [..., T, T], got \(shape)")
        let t = shape.last!, rows = count / Swift.max(t, 1)
        let out = Tensor(uninitializedShape: shape)
        let px = data, po = out.data
        Parallel.chunks(rows, minPerThread: 32) { lo, hi in
            for r in lo..<hi {
                let x = px + r * t, y = po + r * t, n = r % t + 1
                var mx = -Float.infinity
                for j in 0..<n { mx = Swift.max(mx, x[j]) }
                var s: Float = 0
                for j in 0..<n { let e = mx == -.infinity ? 0 : Foundation.exp(x[j] - mx); y[j] = e; s += e }
                let inv = s > 0 ? 1 / s : 0
                for j in 0..<n { y[j] *= inv }
                for j in n..<t { y[j] = 0 }
            }
        }
        FLOPCounter.elementwise += 6 * count                      // as `softmax` (the formula's masked row softmax)
        return out.recorded("causalSoftmax", [self]) { g in
            let r = Tensor(uninitializedShape: g.shape)
            let pg = g.data, pr = r.data
            Parallel.chunks(rows, minPerThread: 32) { lo, hi in
                for row in lo..<hi {
                    let n = row % t + 1, gr = pg + row * t, yr = po + row * t, rr = pr + row * t
                    var dot: Float = 0
                    for j in 0..<n { dot += gr[j] * yr[j] }
                    for j in 0..<n { rr[j] = yr[j] * (gr[j] - dot) }
                    for j in n..<t { rr[j] = 0 }
                }
            }
            return [r]
        }
    }
}

/// `tril(p)·v` over the last two dims, batched: p `[..., T, T]`, v `[..., T, d]` → `[..., T, d]`, reading p on
/// and below the diagonal only and multiplying row i of the result by rows 0…i of v only (a NaN in v's last
/// row reaches only the last output row). Gradient: `tril(g·vᵀ)` for p, `tril(p)ᵀ·g` for v.
///
/// ```swift
/// let z = causalMatmul(p, v)        // p [BH, T, T], v [BH, T, d] → [BH, T, d]
/// ```
public func causalMatmul(_ p: Tensor, _ v: Tensor) -> Tensor {
    checkShape(p.rank >= 2 && v.rank == p.rank && p.shape[p.rank - 1] == p.shape[p.rank - 2]
               && Array(v.shape.dropLast()) == Array(p.shape.dropLast()),
               "causalMatmul: p must be [..., T, T] and v [..., T, d], got \(p.shape) and \(v.shape)")
    let t = p.shape.last!, d = v.shape.last!, batch = p.count / Swift.max(t * t, 1)
    let out = Tensor(zeros: v.shape)
    let pp = p.data, pv = v.data, po = out.data
    Parallel.forEach(batch) { b in
        CausalGEMM.accumulate(m: t, w: t, shift: 0, d: d, pp + b * t * t, ldp: t, pv + b * t * d, ldv: d, po + b * t * d, ldo: d)
    }
    // Charged as the masked dense product tril(p)·v it stands for (2·T·T·d): the FLOPs study counts the reference
    // forward by its formula's operations. The causal split itself multiplies about half of that.
    FLOPCounter.matmul += 2 * batch * t * t * d
    return out.recorded("causalMatmul", [p, v]) { g in
        let lp = p.tril()                                      // a copy with the upper part written 0 (not multiplied)
        var gp: Tensor? = nil, gv: Tensor? = nil
        if p.requiresGrad { gp = matmulRaw(g, v, transB: true).tril() }
        if v.requiresGrad { gv = matmulRaw(lp, g, transA: true) }
        return [gp, gv]
    }
}
