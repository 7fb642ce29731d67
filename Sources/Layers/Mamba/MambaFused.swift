// MambaFused.swift — Mamba's S6 block on raw buffers (docs/baselines.md §4) for no-grad prefill and decode:
// projections through sgemm, the conv from the state window, SIMD SiLU/softplus/exp, and the selective
// scan as one tight loop with the state s [D_in, N] kept in cache (no stored states).
//
//   xz = h·W_in;  x = silu(conv(x));  [δ_r, Bm, Cm] = x·W_x;  Δ = softplus(δ_r·W_dt + b_dt)
//   per t, per channel:  s = exp(Δ·A) ⊙ s + (Δ·x)·Bm_t;  y = s·Cm_t + D·x
//   out = (y ⊙ silu(z))·W_out
import Foundation
import TensorCore

extension Mamba {
    /// Runs the block on h [B, t, D] from `st` (a fresh state for prefill), advancing it.
    func fusedRun(_ h: Tensor, state st: State) -> Tensor {
        let (B, t) = (h.dim(0), h.dim(1))
        let (di, n, r, k) = (inner, stateSize, dtRank, convWidth)
        let xz = FastGEMM.linear(h, inProj, shape: [B, t])                        // [B, t, 2·D_in]
        // causal depthwise conv over [window ++ x], then SiLU; the window keeps the last k−1 conv inputs
        let x = Tensor(uninitializedShape: [B, t, di])
        let pxz = xz.data, px = x.data
        let conv = CausalConvRows(batch: B, t: t, channels: di, width: k, input: pxz, ld: 2 * di, history: st.conv.data)
        conv.forward([(convWeight.data, convBias.data, px)], silu: true)
        conv.keepWindow(into: st.conv.data)
        let e = r + 2 * n
        let xdbl = FastGEMM.linear(x, xProj, shape: [B, t])                       // [B, t, R + 2N]
        let delta = Tensor(uninitializedShape: [B, t, di])
        FastGEMM.rows(m: B * t, n: di, k: r, xdbl.data, lda: e, dtProj.data, ldb: di, delta.data, ldc: di)
        let pdl = delta.data, pdb = dtBias.data
        Parallel.forEach(B * t, minPerThread: 16) { bt in
            let row = pdl + bt * di
            for c in 0..<di { row[c] += pdb[c] }
            FastMath.apply(row, di) { FastMath.softplus($0) }
        }
        // A = −exp(A_log)
        let a = FastBuffer(di * n)
        a.p.update(from: aLog.data, count: di * n)
        FastMath.apply(a.p, di * n) { -FastMath.exp($0) }
        let y = Tensor(uninitializedShape: [B, t, di])
        let py = y.data, pxd = xdbl.data, pD = dSkip.data, pss = st.ssm.data, pa = a.p
        let n8 = n / 8 * 8
        Parallel.chunks(B * di, minPerThread: 64) { lo, hi in
            for ti in 0..<t {
                for bc in lo..<hi {
                    let bi = bc / di, ch = bc % di
                    let i = (bi * t + ti) * di + ch
                    let dt = pdl[i], xv = px[i], dx = dt * xv
                    let bt = pxd + (bi * t + ti) * e + r, ct = bt + n
                    let s = pss + bc * n, ar = pa + ch * n
                    var accV = FastMath.V(repeating: 0)
                    var j = 0
                    while j < n8 {
                        let sv = FastMath.exp(dt * FastMath.load(ar + j)) * FastMath.load(s + j) + dx * FastMath.load(bt + j)
                        FastMath.store(sv, s + j)
                        accV += sv * FastMath.load(ct + j)
                        j += 8
                    }
                    var acc = accV.sum()
                    while j < n {
                        s[j] = Foundation.exp(dt * ar[j]) * s[j] + dx * bt[j]
                        acc += s[j] * ct[j]
                        j += 1
                    }
                    py[i] = acc + pD[ch] * xv
                }
            }
        }
        FLOPCounter.elementwise += 9 * B * t * di * n + 2 * k * B * t * di
        FusedFault.corruptOutput(y, fusedFault)                        // test hook (nil in normal use)
        // y ⊙ silu(z)
        Parallel.forEach(B * t, minPerThread: 16) { bt in
            let yr = py + bt * di, zr = pxz + bt * 2 * di + di
            var c = 0
            while c + 8 <= di {
                FastMath.store(FastMath.load(yr + c) * FastMath.silu(FastMath.load(zr + c)), yr + c)
                c += 8
            }
            while c < di { yr[c] *= zr[c] / (1 + Foundation.exp(-zr[c])); c += 1 }
        }
        st.advance(t)
        withExtendedLifetime((xz, x, xdbl, delta, a)) {}
        return FastGEMM.linear(y, outProj, shape: [B, t])
    }

    /// No-grad prefill on the fused kernels: x [B, T, D] → [B, T, D].
    public func fusedForward(_ h: Tensor) -> Tensor {
        fusedRun(h, state: State(batch: h.dim(0), inner: inner, n: stateSize, convWidth: convWidth))
    }
}
