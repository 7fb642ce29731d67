// Scan.swift — the selective scan of an S6 (Mamba) block, forward and reverse (docs/baselines.md §4).
import Foundation

/// The scan continued from a decode state: `state` [B, C, N] (s before the first token) is read and
/// updated in place. No recording (decode). Same arithmetic as `selectiveScan`.
public func selectiveScan(_ u: Tensor, delta: Tensor, A: Tensor, Bm: Tensor, Cm: Tensor, Dskip: Tensor,
                          continuing state: Tensor) -> Tensor {
    let (bsz, c, n) = (u.dim(0), u.dim(2), A.dim(-1))
    checkShape(state.shape == [bsz, c, n], "selectiveScan: state \(state.shape) must be [\(bsz), \(c), \(n)]")
    return scanForward(u, delta: delta, A: A, Bm: Bm, Cm: Cm, Dskip: Dskip, state: state.data, states: nil)
}

/// The forward recurrence shared by prefill and decode, parallel over (sequence, channel): starts from
/// `state` (updated in place) or zeros, and stores every s_t into `states` [B, T, C, N] when given.
func scanForward(_ u: Tensor, delta: Tensor, A: Tensor, Bm: Tensor, Cm: Tensor, Dskip: Tensor,
                 state: UnsafeMutablePointer<Float>?, states ps: UnsafeMutablePointer<Float>?) -> Tensor {
    let (bsz, t, c) = (u.shape[0], u.shape[1], u.shape[2])
    let n = A.shape.last!
    let y = Tensor(uninitializedShape: u.shape)
    let pu = u.data, pd = delta.data, pa = A.data, pb = Bm.data, pc = Cm.data, pD = Dskip.data, py = y.data
    Parallel.forEach(bsz * c, minPerThread: 4) { bc in
        let b = bc / c, ch = bc % c
        var local = [Float](repeating: 0, count: state == nil ? n : 0)
        local.withUnsafeMutableBufferPointer { buf in
            let s = state.map { $0 + bc * n } ?? buf.baseAddress!
            for ti in 0..<t {
                let i = (b * t + ti) * c + ch
                let dt = pd[i], x = pu[i]
                let bt = pb + (b * t + ti) * n, ct = pc + (b * t + ti) * n
                var acc: Float = 0
                for k in 0..<n {
                    s[k] = Foundation.exp(dt * pa[ch * n + k]) * s[k] + dt * bt[k] * x
                    acc += s[k] * ct[k]
                }
                if let ps { for k in 0..<n { ps[i * n + k] = s[k] } }
                py[i] = acc + pD[ch] * x
            }
        }
    }
    FLOPCounter.elementwise += 9 * bsz * t * c * n
    return y
}

/// `s_t = exp(Δ_t·A) ⊙ s_{t−1} + Δ_t·B_t·u_t`, `y_t = s_t·C_tᵀ + D·u_t`, per channel, s_0 = 0.
/// u, delta: [B, T, C]; A: [C, N]; Bm, Cm: [B, T, N]; Dskip: [C] → y: [B, T, C].
public func selectiveScan(_ u: Tensor, delta: Tensor, A: Tensor, Bm: Tensor, Cm: Tensor, Dskip: Tensor) -> Tensor {
    checkShape(u.rank == 3 && delta.shape == u.shape, "selectiveScan: u \(u.shape) and delta \(delta.shape) must be equal [B, T, C]")
    let (bsz, t, c) = (u.shape[0], u.shape[1], u.shape[2])
    let n = A.shape.last!
    checkShape(A.shape == [c, n] && Bm.shape == [bsz, t, n] && Cm.shape == [bsz, t, n] && Dskip.shape == [c],
               "selectiveScan: A \(A.shape), B \(Bm.shape), C \(Cm.shape), D \(Dskip.shape) do not fit u \(u.shape)")
    let record = GradMode.enabled && [u, delta, A, Bm, Cm, Dskip].contains { $0.requiresGrad }
    let states: Tensor? = record ? Tensor(uninitializedShape: [bsz, t, c, n]) : nil
    let y = scanForward(u, delta: delta, A: A, Bm: Bm, Cm: Cm, Dskip: Dskip, state: nil, states: states?.data)
    let pu = u.data, pd = delta.data, pa = A.data, pb = Bm.data, pc = Cm.data, pD = Dskip.data
    guard let states else { return y }
    return y.recorded("selectiveScan", [u, delta, A, Bm, Cm, Dskip]) { g in
        let gu = Tensor(zeros: u.shape), gd = Tensor(zeros: u.shape)
        let gD = Tensor(zeros: [c])
        // Per-worker partial sums for the tensors shared across channels, reduced in a fixed order.
        let workers = Swift.min(Parallel.threads, Swift.max(1, bsz * c))
        let gBp = Tensor(zeros: [workers, bsz, t, n]), gCp = Tensor(zeros: [workers, bsz, t, n]), gAp = Tensor(zeros: [workers, c, n])
        let pg = g.data, pgu = gu.data, pgd = gd.data, pgD = gD.data, pss = states.data
        Parallel.forEach(workers) { w in
            let lo = bsz * c * w / workers, hi = bsz * c * (w + 1) / workers
            let gB = gBp.data + w * bsz * t * n, gC = gCp.data + w * bsz * t * n, gAw = gAp.data + w * c * n
            var gs = [Float](repeating: 0, count: n)
            for bc in lo..<hi {
                let b = bc / c, ch = bc % c
                for k in 0..<n { gs[k] = 0 }
                for ti in stride(from: t - 1, through: 0, by: -1) {
                    let i = (b * t + ti) * c + ch
                    let dt = pd[i], x = pu[i], gy = pg[i]
                    let row = (b * t + ti) * n
                    var gdt: Float = 0, gx: Float = gy * pD[ch]
                    for k in 0..<n {
                        let st = pss[i * n + k]
                        gC[row + k] += gy * st
                        let gsk = gs[k] + gy * pc[row + k]
                        let a = pa[ch * n + k]
                        let da = Foundation.exp(dt * a)
                        let prev: Float = ti > 0 ? pss[((b * t + ti - 1) * c + ch) * n + k] : 0
                        let ga = gsk * prev * da          // ∂/∂(Δ·A)
                        gdt += ga * a + gsk * pb[row + k] * x
                        gAw[ch * n + k] += ga * dt
                        gB[row + k] += gsk * dt * x
                        gx += gsk * dt * pb[row + k]
                        gs[k] = gsk * da
                    }
                    pgd[i] = gdt; pgu[i] = gx
                }
            }
        }
        for bc in 0..<(bsz * c) {
            let ch = bc % c
            for ti in 0..<t { let i = (bc / c * t + ti) * c + ch; pgD[ch] += pg[i] * pu[i] }
        }
        return [gu, gd, gAp.sumRaw(axis: 0), gBp.sumRaw(axis: 0), gCp.sumRaw(axis: 0), gD]
    }
}
