// MambaFused.swift — Mamba's S6 block on raw buffers (docs/baselines.md §4) for no-grad prefill and decode: only
// the mixing core, the selective scan, as one tight loop with the state s [D_in, N] kept in cache (no stored
// states). The stages around it are the layer's one pre- and post-stage (MambaStages.swift), which the reference
// forward and decode and the training path call too.
//
//   x, z, Δ, Bm, Cm, A ← preStage(h, window)
//   per t, per channel:  s = exp(Δ·A) ⊙ s + (Δ·x)·Bm_t;  y = s·Cm_t + D·x
//   out ← postStage(y, z) = (y ⊙ silu(z))·W_out
import Foundation
import TensorCore

extension Mamba {
    /// Runs the block on h [B, t, D] from `st` (a fresh state for prefill), advancing it.
    func fusedRun(_ h: Tensor, state st: State) -> Tensor {
        let (B, t) = (h.dim(0), h.dim(1))
        let (di, n) = (inner, stateSize)
        var window: Tensor? = st.conv
        let m = preStage(h, history: &window)                                       // MambaStages.swift
        st.conv = window!
        let y = Tensor(uninitializedShape: [B, t, di])
        let py = y.data, px = m.x.data, pdl = m.delta.data, pbm = m.bm.data, pcm = m.cm.data
        let pD = dSkip.data, pss = st.ssm.data, pa = m.a.data
        let n8 = n / 8 * 8
        Parallel.chunks(B * di, minPerThread: 64) { lo, hi in
            for ti in 0..<t {
                for bc in lo..<hi {
                    let bi = bc / di, ch = bc % di
                    let i = (bi * t + ti) * di + ch
                    let dt = pdl[i], xv = px[i], dx = dt * xv
                    let bt = pbm + (bi * t + ti) * n, ct = pcm + (bi * t + ti) * n
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
        withExtendedLifetime(m) {}
        FLOPCounter.elementwise += 9 * B * t * di * n
        FusedFault.corruptOutput(y, fusedFault)                        // test hook (nil in normal use)
        st.advance(t)
        return postStage(y, z: m.z, inPlace: true)                     // (y ⊙ silu(z))·W_out, MambaStages.swift
    }

    /// No-grad prefill on the fused kernels: x [B, T, D] → [B, T, D].
    public func fusedForward(_ h: Tensor) -> Tensor {
        fusedRun(h, state: State(batch: h.dim(0), inner: inner, n: stateSize, convWidth: convWidth))
    }
}
