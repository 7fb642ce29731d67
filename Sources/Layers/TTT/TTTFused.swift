// TTTFused.swift — the TTT layer's no-grad fused path: prefill in the dual form and decode in the
// primal form on raw buffers (docs/ttt.md §1.11, §2), for inner models that adopt `FusedForwardInnerModel`.
//
//   q, k, v [B, t, D], η [B, t, H] ← preStage(h)                    (TTTStages.swift, shared by every path)
//   parallel over B·H:  θ ← θ_init (or the cache);  per mini-batch: z, θ ← fusedDual(θ, rows)
//                        O[rows, head] = q + LN(z)              (no Tensor per mini-batch)
//   y ← postStage(O, h) = (gate ⊙ LN_post(O))·Wo                   (TTTStages.swift, in place on O)
//
// Only the mixing core is here: the pre- and post-stage are the layer's one implementation (TTTStages.swift),
// which the reference forward and decode and the fused training node call too. The per-row stages around the
// inner kernels (target v − k, read-out q + LN(z)) are `TTTRowStages`, shared with the training node.
import Foundation
import TensorCore

extension TTTLayer {
    /// The plugin's fused kernels when this configuration can use them (dual form on, plugin adopts
    /// `FusedForwardInnerModel`); nil sends the layer down its reference path.
    var fusedInner: FusedForwardInnerModel.Type? {
        guard opts.dual, inner.features == InnerFeatures(), let f = inner as? FusedForwardInnerModel.Type else { return nil }
        return f
    }

    /// Pointers to one head's slice of each [B·H, …] inner-state tensor.
    func headPointers(_ ts: [Tensor], _ bh: Int) -> [UnsafeMutablePointer<Float>] {
        ts.map { $0.data + bh * ($0.count / max($0.dim(0), 1)) }
    }

    /// The inner loop over one chunk for all sequences×heads, parallel over B·H.
    /// `state` nil: prefill from θ_init, every mini-batch in the dual form (a trailing partial one too,
    /// as the reference). Otherwise continue the decode cache: full aligned mini-batches in the dual
    /// form, other tokens by the primal step (docs/ttt.md §2, "mixed prefill then decode").
    func fusedInferenceLoop(_ fast: FusedForwardInnerModel.Type, q: Tensor, k: Tensor, v: Tensor, eta: Tensor, state: State?) -> Tensor {
        let (B, t) = (q.dim(0), q.dim(1))
        let (D, H, d, b) = (self.D, self.H, self.d, self.b)
        let out = Tensor(uninitializedShape: [B, t, D])
        let c = withNoGrad { tokenScale() }
        let θinit = theta, counts = theta.map { $0.count / H }
        let start = state?.position ?? 0
        let (innerLN, residual, bias) = (opts.innerLN, opts.innerResidual, opts.innerBias)
        let bEff = min(b, t)                                                // rows per step never exceed the chunk
        let scratchN = max(fast.fusedDualScratch(d: d, b: bEff), fast.fusedStepScratch(d: d))
        let pq = q.data, pk = k.data, pv = v.data, pe = eta.data, po = out.data, pc = c.data
        let pgam = innerGamma.data, pbet = innerBeta.data
        let θs = state.map { headPointers($0.thetaStart, 0) }, accs = state.map { headPointers($0.acc, 0) }
        Parallel.forEach(B * H) { bh in
            let bi = bh / H, hh = bh % H
            let scratch = FastBuffer(scratchN + bEff * d * 2 + 2 * bEff + d)
            let tgt = scratch.p + scratchN, z = tgt + bEff * d, etab = z + bEff * d, cb = etab + bEff, tmp = cb + bEff
            // θ: this head's own copy for prefill, or its slice of the cache.
            var own: [FastBuffer] = []
            let θ: [UnsafeMutablePointer<Float>]
            if let θs {
                θ = zip(θs, counts).map { $0 + bh * $1 }
            } else {
                own = zip(θinit, counts).map { p, n in let buf = FastBuffer(n); buf.p.update(from: p.data + hh * n, count: n); return buf }
                θ = own.map(\.p)
            }
            let acc = accs.map { zip($0, counts).map { $0 + bh * $1 } }
            let gam = pgam + hh * d, bet = pbet + hh * d
            var j = 0
            while j < t {
                let pos = start + j, i0 = pos % b
                // prefill: every mini-batch (partial at the end) dual; decode: dual only when aligned and full
                let useDual = state == nil || (i0 == 0 && t - j >= b)
                let n = useDual ? min(b - i0, t - j) : 1
                let rowBase = (bi * t + j) * D + hh * d
                TTTRowStages.target(n: n, d: d, k: pk + rowBase, v: pv + rowBase, ld: D, residual: residual, into: tgt)
                for r in 0..<n { etab[r] = pe[(bi * t + j + r) * H + hh]; cb[r] = pc[i0 + r] }
                let rows = FusedTTTRows(n: n, d: d, q: pq + rowBase, k: pk + rowBase, ld: D, target: tgt, eta: etab, c: cb,
                                       gamma: gam, beta: bet, innerLN: innerLN, bias: bias, tmp: tmp)
                if useDual { fast.fusedDual(θ, rows, z: z, scratch: scratch.p) }
                else { fast.fusedPrimalStep(θ, acc: acc!, rows, commit: i0 == b - 1, z: z, scratch: scratch.p) }
                TTTRowStages.readOut(n: n, d: d, z: z, q: pq + rowBase, ld: D, gamma: gam, beta: bet,
                                     innerLN: innerLN, residual: residual, into: po + rowBase)
                j += n
            }
            withExtendedLifetime(own) {}
        }
        withExtendedLifetime(c) {}
        let flopsPerTok = fast.innerFlopsPerToken(d: d, b: min(b, max(t, 1)), dual: state == nil)
        FLOPCounter.matmul += Int(flopsPerTok) * B * H * t
        return out
    }

    /// No-grad prefill h [B, T, D] → [B, T, D] on the fused kernels, or nil when this layer has none.
    public func fusedForward(_ h: Tensor) -> Tensor? {
        guard let fast = fusedInner else { return nil }
        var none: Tensor? = nil
        let p = preStage(h, start: 0, convHistory: &none)
        let o = fusedInferenceLoop(fast, q: p.q, k: p.k, v: p.v, eta: p.eta, state: nil)
        FusedFault.corruptOutput(o, fusedFault)                              // test hook (nil in normal use)
        return postStage(o, h: h, inPlace: true)
    }

    /// No-grad decode step on the fused kernels (same semantics as `step`), or nil when this layer has none.
    func fusedStep(_ h: Tensor, state st: State) -> Tensor? {
        guard let fast = fusedInner else { return nil }
        let p = preStage(h, start: st.position, convHistory: &st.convHistory)
        let o = fusedInferenceLoop(fast, q: p.q, k: p.k, v: p.v, eta: p.eta, state: st)
        FusedFault.corruptOutput(o, fusedFault)                              // test hook (nil in normal use)
        let y = postStage(o, h: h, inPlace: true)
        st.position += h.dim(1)
        return y
    }
}

/// The two per-row stages around the inner model's kernels that every TTT kernel shares — the no-grad
/// prefill/decode loop above and the fused training node (TTTTraining.swift): the reconstruction target
/// before the inner step and the read-out after it (docs/ttt.md §1.5, §1.9).
///
/// ```swift
/// TTTRowStages.target(n: n, d: d, k: k, v: v, ld: D, residual: true, into: tgt)        // tgt = v − k
/// TTTRowStages.readOut(n: n, d: d, z: z, q: q, ld: D, gamma: γ, beta: β, innerLN: true, residual: true, into: out)
/// ```
enum TTTRowStages {
    /// The target rows v − k (inner residual on) or v of n tokens of one head: k, v rows of stride `ld`,
    /// `tgt` [n, d] contiguous.
    @inline(__always) static func target(n: Int, d: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, ld: Int,
                                         residual: Bool, into tgt: UnsafeMutablePointer<Float>) {
        for r in 0..<n {
            let kr = k + r * ld, vr = v + r * ld, tr = tgt + r * d
            if residual { for x in 0..<d { tr[x] = vr[x] - kr[x] } } else { tr.update(from: vr, count: d) }
        }
    }

    /// out = q + LN_{γ,β}(z) (either part can be off) for n tokens of one head: z [n, d] contiguous,
    /// q and out rows of stride `ld`.
    @inline(__always) static func readOut(n: Int, d: Int, z: UnsafePointer<Float>, q: UnsafePointer<Float>, ld: Int,
                                          gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, innerLN: Bool, residual: Bool,
                                          into out: UnsafeMutablePointer<Float>) {
        for r in 0..<n {
            let o = out + r * ld, zr = z + r * d, qr = q + r * ld
            if innerLN { FastNorm.layerNorm(zr, d, gamma: gamma, beta: beta, into: o, residual: residual ? qr : nil) }
            else if residual { for x in 0..<d { o[x] = qr[x] + zr[x] } }
            else { o.update(from: zr, count: d) }
        }
    }
}
