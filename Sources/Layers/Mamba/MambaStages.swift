// MambaStages.swift — Mamba's ONE pre-stage and ONE post-stage around its selective scan (docs/baselines.md §4),
// on raw buffers, called by every path: the reference forward and decode, the fused training node
// (MambaTraining.swift's scan between them) and the no-grad fused prefill/decode (MambaFused.swift). Without a
// graph the stages run their raw kernels only; with one, each step is an autodiff node whose hand-written
// backward sits beside its forward (llm.c style).
//
//   pre-stage   h [B, t, D] →
//     xz = h·W_in                                  [B, t, 2·D_in]   (FusedProjections.linear)
//     x = silu(conv(xz[…, :D_in]));  z = xz[…, D_in:]                  [B, t, D_in]  (CausalConvRows, SIMD SiLU)
//     xdbl = x·W_x;  δ_r, Bm, Cm = its column blocks                   [B, t, R], [B, t, N] ×2
//     Δ = softplus(δ_r·W_dt + b_dt)  (SIMD softplus);  A = −exp(A_log)  (SIMD exp)       [B, t, D_in], [D_in, N]
//   post-stage  out = (y ⊙ silu(z))·W_out  (SIMD SiLU)                                   [B, t, D]
//
//   backward    dΔ-pre = dΔ·σ(p), db_dt = Σ_rows;   dA_log = dA ⊙ A;   dy = dout·silu(z), dz = dout·y·silu′(z)
//               (σ, silu′ by libm in the backwards; every sum in a fixed order)
//
// Numerics: one rounding per stage for every path, the raw kernels' (SIMD SiLU, softplus, exp); the reference and
// the training path used the tensor ops' libm ones before, so their outputs moved in the last bits (tiny LM:
// loss within 1e-5 nats/byte, weights within 3.9e-6 after 40 steps; docs/stages.md).
import Foundation
import TensorCore

extension Mamba {
    /// The pre-stage's outputs: x, z, Δ [B, t, D_in], Bm, Cm [B, t, N], A [D_in, N].
    struct PreStage {
        let x: Tensor, z: Tensor, delta: Tensor, bm: Tensor, cm: Tensor, a: Tensor
    }

    /// The pre-stage for h [B, t, D]; `history` [B, k−1, D_in] (decode) holds the conv inputs before this chunk
    /// and is advanced. Differentiable when a graph is being built.
    ///
    /// ```swift
    /// var none: Tensor? = nil
    /// let p = mamba.preStage(h, history: &none)       // p.x, p.z, p.delta [B, t, D_in], p.bm, p.cm [B, t, N], p.a [D_in, N]
    /// ```
    func preStage(_ h: Tensor, history: inout Tensor?) -> PreStage {
        let (di, n, r) = (inner, stateSize, dtRank)
        let xz = FusedProjections.linear(h, inProj)                                 // [B, t, 2·D_in]
        let fault = stageBackwardFault
        let x = CausalConvRows.convolve(xz.slice(axis: 2, 0, di), taps: [(convWeight, convBias)], silu: true,
                                        history: &history, fault: fault)[0]          // [B, t, D_in]
        let z = xz.slice(axis: 2, di, 2 * di)                                        // [B, t, D_in]
        let xdbl = FusedProjections.linear(x, xProj)                                 // [B, t, R + 2N]
        let delta = Self.softplusBias(FusedProjections.linear(xdbl.slice(axis: 2, 0, r), dtProj), dtBias, fault: fault)
        let bm = xdbl.slice(axis: 2, r, r + n), cm = xdbl.slice(axis: 2, r + n, r + 2 * n)
        return PreStage(x: x, z: z, delta: delta, bm: bm, cm: cm, a: Self.negExp(aLog, fault: fault))
    }

    /// Δ = softplus(l + b) for l [B, t, C], b [C] (SIMD softplus), one node: dl = g·σ(l + b), db = Σ_rows dl.
    /// `fault` (tests only) breaks the VJP.
    static func softplusBias(_ l: Tensor, _ b: Tensor, fault: StageBackwardFault? = nil) -> Tensor {
        let C = b.count, rows = l.count / C
        let y = Tensor.recording([l, b]) ? Tensor(uninitializedShape: l.shape) : l
        let pl = l.data, pb = b.data, py = y.data
        Parallel.forEach(rows, minPerThread: 16) { r in
            let src = pl + r * C, row = py + r * C
            for c in 0..<C { row[c] = src[c] + pb[c] }
            FastMath.apply(row, C) { FastMath.softplus($0) }
        }
        FLOPCounter.elementwise += 5 * l.count
        return y.recordingFused("softplusBias", [l, b]) { g in
            let gl = Tensor(uninitializedShape: l.shape), pg = g.data, pgl = gl.data
            Parallel.forEach(rows, minPerThread: 16) { r in
                for c in 0..<C { let i = r * C + c; pgl[i] = pg[i] / (1 + Foundation.exp(-(pl[i] + pb[c]))) }
            }
            let gb = Tensor(zeros: [C]), pgb = gb.data
            Parallel.chunks(C, minPerThread: 64) { lo, hi in                     // per channel, rows in order
                for r in 0..<rows { for c in lo..<hi { pgb[c] += pgl[r * C + c] } }
            }
            return [gl, fault == .softplusBias ? Tensor(zeros: [C]) : gb]
        }
    }

    /// A = −exp(A_log) (SIMD exp), one node: dA_log = dA ⊙ A.
    /// `fault` (tests only) breaks the VJP.
    static func negExp(_ aLog: Tensor, fault: StageBackwardFault? = nil) -> Tensor {
        let a = Tensor(uninitializedShape: aLog.shape), pa = a.data, n = a.count
        pa.update(from: aLog.data, count: n)
        // FastMath.apply's loop spelled out: given `{ -FastMath.exp($0) }`, the release build kept the closure as
        // an outlined call per 8 lanes (3.1 % of a mamba decode bench's perf samples, 2.1 % inline; ≈ 2 % of a
        // token at LAB_THREADS=1, docs/stages.md). The same lanes and operations, so the same bits.
        var i = 0
        while i < n { RowSIMD.store(-FastMath.exp(RowSIMD.load(pa, i, n)), pa, i, n); i += RowSIMD.width }
        return a.recordingFused("negExp", [aLog]) { g in
            let ga = Tensor(uninitializedShape: aLog.shape)
            let sign: Float = fault == .negExp ? -1 : 1
            for i in 0..<ga.count { ga.data[i] = sign * g.data[i] * a.data[i] }
            return [ga]
        }
    }

    /// The post-stage: (y ⊙ silu(z))·W_out for y, z [B, t, D_in] → [B, t, D]. `inPlace` (a caller that owns y):
    /// without a graph, the gate is applied to y in place. Differentiable when a graph is being built.
    ///
    /// ```swift
    /// let out = mamba.postStage(y, z: p.z)           // [B, t, D]
    /// ```
    func postStage(_ y: Tensor, z: Tensor, inPlace: Bool = false) -> Tensor {
        FusedProjections.linear(Self.siluGate(y, z, inPlace: inPlace, fault: stageBackwardFault), outProj)
    }

    /// y ⊙ silu(z) (SIMD SiLU), one node: dy = g·silu(z), dz = g·y·silu′(z).
    /// `fault` (tests only) breaks the VJP.
    static func siluGate(_ y: Tensor, _ z: Tensor, inPlace: Bool, fault: StageBackwardFault? = nil) -> Tensor {
        let out = inPlace && !Tensor.recording([y, z]) ? y : Tensor(uninitializedShape: y.shape)
        let py = y.data, pz = z.data, po = out.data, n = y.count
        Parallel.chunks((n + 7) / 8, minPerThread: 1 << 11) { lo, hi in       // blocks of 8 lanes (padded tail)
            for i in stride(from: 8 * lo, to: min(8 * hi, n), by: 8) {
                RowSIMD.store(RowSIMD.load(py, i, n) * FastMath.silu(RowSIMD.load(pz, i, n)), po, i, n)
            }
        }
        FLOPCounter.elementwise += 6 * n
        return out.recordingFused("siluGate", [y, z]) { g in
            let gy = Tensor(uninitializedShape: y.shape), gz = Tensor(uninitializedShape: z.shape)
            let pg = g.data, pgy = gy.data, pgz = gz.data
            Parallel.chunks(n, minPerThread: 1 << 14) { lo, hi in
                for i in lo..<hi {
                    let x = pz[i], s = 1 / (1 + Foundation.exp(-x))
                    pgy[i] = pg[i] * (x * s)
                    pgz[i] = pg[i] * py[i] * (fault == .siluGate ? s : s * (1 + x * (1 - s)))
                }
            }
            return [gy, gz]
        }
    }
}
