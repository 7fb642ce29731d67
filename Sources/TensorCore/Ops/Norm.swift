// Norm.swift — LayerNorm and RMSNorm over the last axis (ε = 1e-6, spec §0), fused with their VJPs.

extension Tensor {
    /// LN_{γ,β}(x) over the last axis: (x − μ)/√(v + ε)·γ + β, biased variance (two-pass).
    /// `gamma`, `beta` have the shape of the trailing dims they cover (e.g. `[D]`, or `[H, 1, d]` per head).
    public func layerNorm(gamma: Tensor, beta: Tensor, eps: Float = 1e-6) -> Tensor {
        let m = shape.last!, rows = count / Swift.max(m, 1)
        let xhat = Tensor(uninitializedShape: shape)
        let rstd = Tensor(uninitializedShape: [rows])
        let px = data, ph = xhat.data, pr = rstd.data
        Parallel.chunks(rows, minPerThread: 64) { lo, hi in
            for r in lo..<hi {
                let x = px + r * m
                var mu: Float = 0
                for j in 0..<m { mu += x[j] }
                mu /= Float(m)
                var v: Float = 0
                for j in 0..<m { let d = x[j] - mu; v += d * d }
                v /= Float(m)
                let rs = 1 / (v + eps).squareRoot()
                pr[r] = rs
                for j in 0..<m { ph[r * m + j] = (x[j] - mu) * rs }
            }
        }
        // affine with broadcasting of gamma/beta
        let out = binaryRaw(binaryRaw(xhat, gamma, .mul), beta, .add)
        FLOPCounter.elementwise += 6 * count
        // The VJP reads x̂ and rstd through raw pointers: capture both tensors so their storage lives as long as the node.
        return out.recorded("layerNorm", [self, gamma, beta]) { [xhat, rstd] g in
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
                var ss: Float = 0
                for j in 0..<m { ss += x[j] * x[j] }
                let rs = 1 / (ss / Float(m) + eps).squareRoot()
                pr[r] = rs
                for j in 0..<m { po[r * m + j] = x[j] * rs * pw[j] }
            }
        }
        FLOPCounter.elementwise += 4 * count
        // The VJP reads rstd through a raw pointer: capture the tensor so its storage lives as long as the node.
        return out.recorded("rmsNorm", [self, weight]) { [rstd] g in
            _ = rstd
            let dx = Tensor(uninitializedShape: g.shape)
            let dw = Tensor(zeros: [m])
            let pg = g.data, pd = dx.data, pdw = dw.data, pr = rstd.data
            for r in 0..<rows {
                let x = px + r * m, rs = pr[r]
                var dot: Float = 0
                for j in 0..<m { dot += pg[r * m + j] * pw[j] * x[j] }
                let c = dot * rs * rs / Float(m)
                for j in 0..<m {
                    pd[r * m + j] = rs * (pg[r * m + j] * pw[j] - x[j] * c)
                    pdw[j] += pg[r * m + j] * x[j] * rs
                }
            }
            return [dx, dw]
        }
    }
}
