// Conv.swift — causal depthwise 1-D convolution over time (docs/ttt.md §1.2 CConv; docs/baselines.md §4).

/// `y[b,t,c] = bias[c] + Σ_{j<k} w[j,c]·x[b, t−(k−1)+j, c]` with x[<0] = 0.
/// x: [B, T, C], weight: [k, C] (tap k−1 multiplies the current token), bias: [C].
public func causalConv1d(_ x: Tensor, weight: Tensor, bias: Tensor) -> Tensor {
    checkShape(x.rank == 3, "causalConv1d: input must be [B, T, C], got \(x.shape)")
    let (bsz, t, c) = (x.shape[0], x.shape[1], x.shape[2])
    checkShape(weight.rank == 2 && weight.shape[1] == c && bias.shape == [c],
               "causalConv1d: weight \(weight.shape) must be [k, \(c)] and bias \(bias.shape) [\(c)]")
    let k = weight.shape[0]
    let out = Tensor(uninitializedShape: x.shape)
    let px = x.data, pw = weight.data, pb = bias.data, po = out.data
    Parallel.forEach(bsz * t, minPerThread: 16) { bt in
        let ti = bt % t
        let y = po + bt * c
        for ch in 0..<c { y[ch] = pb[ch] }
        for j in 0..<k {
            let src = ti - (k - 1) + j
            if src < 0 { continue }
            let xr = px + (bt - ti + src) * c, wr = pw + j * c
            for ch in 0..<c { y[ch] += wr[ch] * xr[ch] }
        }
    }
    FLOPCounter.elementwise += 2 * k * x.count
    return out.recorded("causalConv1d", [x, weight, bias]) { g in
        let gx = Tensor(zeros: x.shape), gw = Tensor(zeros: weight.shape)
        let pg = g.data, pgx = gx.data, pgw = gw.data
        for b in 0..<bsz {
            for ti in 0..<t {
                let gr = pg + (b * t + ti) * c
                for j in 0..<k {
                    let src = ti - (k - 1) + j
                    if src < 0 { continue }
                    let xr = px + (b * t + src) * c, gxr = pgx + (b * t + src) * c, wr = pw + j * c, gwr = pgw + j * c
                    for ch in 0..<c { gxr[ch] += wr[ch] * gr[ch]; gwr[ch] += xr[ch] * gr[ch] }
                }
            }
        }
        return [gx, gw, g.sumRaw(to: [c])]
    }
}
