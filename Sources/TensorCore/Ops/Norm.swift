// Norm.swift — LayerNorm and RMSNorm over the last axis (ε = 1e-6, docs/ttt.md §0), fused with their VJPs.

extension Tensor {
    /// LN_{γ,β}(x) over the last axis: (x − μ)/√(v + ε)·γ + β, biased variance (two-pass).
    /// `gamma`, `beta` have the shape of the trailing dims they cover (e.g. `[D]`, or `[H, 1, d]` per head).
    /// The graph VJP of `layerNorm` (create-graph mode): LN rebuilt from differentiable ops.
    func layerNormGraph(_ gamma: Tensor, _ beta: Tensor, _ eps: Float) -> (Tensor) -> [Tensor?] {
        compositeGraphVJP([self, gamma, beta]) { v in
            let xc = v[0] - v[0].mean(axis: -1, keepDims: true)
            return xc * ((xc * xc).mean(axis: -1, keepDims: true) + eps).rsqrt() * v[1] + v[2]
        }
    }

    public func layerNorm(gamma: Tensor, beta: Tensor, eps: Float = 1e-6) -> Tensor {
        let m = shape.last!, rows = count / Swift.max(m, 1)
        if gamma.shape == [m] && beta.shape == [m] { return layerNormRowAffine(gamma: gamma, beta: beta, eps: eps) }
        let xhat = Tensor(uninitializedShape: shape)
        let rstd = Tensor(uninitializedShape: [rows])
        let px = data, ph = xhat.data, pr = rstd.data
        Parallel.chunks(rows, minPerThread: 64) { lo, hi in
            for r in lo..<hi {
                let x = px + r * m
                let (mu, rs) = layerNormRowStats(x, m, eps: eps)
                pr[r] = rs
                for j in 0..<m { ph[r * m + j] = (x[j] - mu) * rs }
            }
        }
        // affine with broadcasting of gamma/beta
        let out = binaryRaw(binaryRaw(xhat, gamma, .mul), beta, .add)
        FLOPCounter.elementwise += 6 * count
        // The VJP reads x̂ and rstd through raw pointers: capture both tensors so their storage lives as long as the node.
        return out.recorded("layerNorm", [self, gamma, beta], graph: layerNormGraph(gamma, beta, eps)) { [xhat, rstd] g in
            _ = (xhat, rstd)
            // dx̂ = g·γ;  dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))
            let gh = binaryRaw(g, gamma, .mul)
            let ph = xhat.data, pr = rstd.data   // keep the saved tensors alive in this closure
            let dx = Tensor(uninitializedShape: g.shape)
            let pg = gh.data, pd = dx.data
            Parallel.chunks(rows, minPerThread: 64) { lo, hi in
                for r in lo..<hi {
                    var s1: Float = 0, s2: Float = 0
                    for j in 0..<m { s1 += pg[r * m + j]; s2 += pg[r * m + j] * ph[r * m + j] }
                    s1 /= Float(m); s2 /= Float(m)
                    for j in 0..<m { pd[r * m + j] = pr[r] * (pg[r * m + j] - s1 - ph[r * m + j] * s2) }
                }
            }
            return [dx, binaryRaw(g, xhat, .mul).sumRaw(to: gamma.shape), g.sumRaw(to: beta.shape)]
        }
    }

    /// `layerNorm` for γ, β of shape [m] (the common case, e.g. the TTT post-norm): the affine inside the row
    /// loop, only μ and 1/σ saved per row, dγ and dβ as per-chunk partials summed in chunk order.
    ///   forward   y = x̂·γ + β,  x̂ = (x − μ)·rstd                                      x, y [rows, m]
    ///   backward  dx = rstd·(gγ − mean(gγ) − x̂·mean(gγ·x̂));  dγ = Σ_rows g·x̂;  dβ = Σ_rows g
    func layerNormRowAffine(gamma: Tensor, beta: Tensor, eps: Float) -> Tensor {
        let m = shape.last!, rows = count / Swift.max(m, 1)
        let out = Tensor(uninitializedShape: shape)
        let stats = Tensor(uninitializedShape: [rows, 2])                  // (μ, rstd) per row
        let px = data, po = out.data, ps = stats.data, pgm = gamma.data, pbt = beta.data
        Parallel.chunks(rows, minPerThread: 64) { lo, hi in
            for r in lo..<hi {
                let x = px + r * m, y = po + r * m
                let (mu, rs) = layerNormRowStats(x, m, eps: eps)
                ps[2 * r] = mu; ps[2 * r + 1] = rs
                for j in 0..<m { y[j] = (x[j] - mu) * rs * pgm[j] + pbt[j] }
            }
        }
        FLOPCounter.elementwise += 6 * count
        return out.recorded("layerNorm", [self, gamma, beta], graph: layerNormGraph(gamma, beta, eps)) { [stats] g in
            let ps = stats.data
            let dx = Tensor(uninitializedShape: g.shape)
            let chunks = Swift.max(1, Swift.min(Parallel.threads, rows / 64))
            let part = Tensor(zeros: [chunks, 2, m])                        // (dγ, dβ) per chunk
            let pg = g.data, pd = dx.data, pp = part.data
            Parallel.forEach(chunks) { c in
                let dgm = pp + c * 2 * m, dbt = dgm + m
                for r in (rows * c / chunks)..<(rows * (c + 1) / chunks) {
                    let x = px + r * m, gr = pg + r * m, d = pd + r * m, mu = ps[2 * r], rs = ps[2 * r + 1]
                    var a1 = RowV(), a2 = RowV(), j = 0
                    while j < m {                                   // padded lanes: g = 0, so gh = 0
                        let gv = RowSIMD.load(gr, j, m), h = (RowSIMD.load(x, j, m) - mu) * rs, gh = gv * RowSIMD.load(pgm, j, m)
                        a1 += gh; a2 += gh * h
                        RowSIMD.store(RowSIMD.load(dgm, j, m) + gv * h, dgm, j, m)
                        RowSIMD.store(RowSIMD.load(dbt, j, m) + gv, dbt, j, m)
                        j += RowSIMD.width
                    }
                    let s1 = a1.sum() / Float(m), s2 = a2.sum() / Float(m)
                    j = 0
                    while j < m {
                        let h = (RowSIMD.load(x, j, m) - mu) * rs
                        RowSIMD.store(rs * (RowSIMD.load(gr, j, m) * RowSIMD.load(pgm, j, m) - s1 - h * s2), d, j, m)
                        j += RowSIMD.width
                    }
                }
            }
            let sums = chunks == 1 ? part.reshaped([2, m]) : part.sumRaw(axis: 0)          // [2, m]
            let dgamma = Tensor(uninitializedShape: [m]), dbeta = Tensor(uninitializedShape: [m])
            dgamma.data.update(from: sums.data, count: m)
            dbeta.data.update(from: sums.data + m, count: m)
            FLOPCounter.elementwise += 10 * rows * m
            return [dx, dgamma, dbeta]
        }
    }

    /// RMSNorm_w(x) = x / √(mean(x²) + ε) ⊙ w over the last axis.
    public func rmsNorm(weight: Tensor, eps: Float = 1e-6) -> Tensor {
        let m = shape.last!, rows = count / Swift.max(m, 1)
        checkShape(weight.shape == [m], "rmsNorm: weight \(weight.shape) must be [\(m)] for input \(shape)")
        let out = Tensor(uninitializedShape: shape)
        let rstd = Tensor(uninitializedShape: [rows])
        let px = data, po = out.data, pr = rstd.data, pw = weight.data
        Parallel.chunks(rows, minPerThread: 64) { lo, hi in
            for r in lo..<hi {
                let x = px + r * m
                let ss = RowSIMD.dot(x, x, m)
                let rs = 1 / (ss / Float(m) + eps).squareRoot()
                pr[r] = rs
                for j in 0..<m { po[r * m + j] = x[j] * rs * pw[j] }
            }
        }
        FLOPCounter.elementwise += 4 * count
        // The VJP reads rstd through a raw pointer: capture the tensor so its storage lives as long as the node.
        let graph = compositeGraphVJP([self, weight]) { v in
            v[0] * ((v[0] * v[0]).mean(axis: -1, keepDims: true) + eps).rsqrt() * v[1]
        }
        return out.recorded("rmsNorm", [self, weight], graph: graph) { [rstd] g in
            _ = rstd
            let dx = Tensor(uninitializedShape: g.shape)
            // dw: one partial [m] per row chunk, summed in chunk order (deterministic at a fixed thread count).
            let chunks = Swift.max(1, Swift.min(Parallel.threads, rows / 64))
            let part = Tensor(zeros: [chunks, m])
            let pg = g.data, pd = dx.data, pr = rstd.data, pp = part.data
            Parallel.forEach(chunks) { c in
                let pdw = pp + c * m
                for r in (rows * c / chunks)..<(rows * (c + 1) / chunks) {
                    let x = px + r * m, gr = pg + r * m, d = pd + r * m, rs = pr[r]
                    var acc = RowV(), j = 0
                    while j < m { acc += RowSIMD.load(gr, j, m) * RowSIMD.load(pw, j, m) * RowSIMD.load(x, j, m); j += RowSIMD.width }
                    let k = acc.sum() * rs * rs / Float(m)
                    j = 0
                    while j < m {
                        let gv = RowSIMD.load(gr, j, m), xv = RowSIMD.load(x, j, m)
                        RowSIMD.store(rs * (gv * RowSIMD.load(pw, j, m) - xv * k), d, j, m)
                        RowSIMD.store(RowSIMD.load(pdw, j, m) + gv * xv * rs, pdw, j, m)
                        j += RowSIMD.width
                    }
                }
            }
            let dw = chunks == 1 ? part.reshaped([m]) : part.sumRaw(axis: 0)
            return [dx, dw]
        }
    }
}

/// Two-pass LayerNorm statistics of one row of m floats: (μ, 1/√(var + ε)). The one implementation, used by
/// the `layerNorm` op and by the fused kernels (FastNorm).
@inlinable @inline(__always)
public func layerNormRowStats(_ x: UnsafePointer<Float>, _ m: Int, eps: Float) -> (mean: Float, rstd: Float) {
    let mu = RowSIMD.sum(x, m) / Float(m)
    var acc = RowV(), j = 0
    while j < m {
        let d = (RowSIMD.load(x, j, m) - mu) * RowSIMD.mask(j, m)
        acc += d * d
        j += RowSIMD.width
    }
    let v = acc.sum() / Float(m)
    return (mu, 1 / (v + eps).squareRoot())
}
