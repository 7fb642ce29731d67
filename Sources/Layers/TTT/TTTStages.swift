// TTTStages.swift — the TTT layer's ONE pre-stage and ONE post-stage around its inner loop (docs/ttt.md §1.2–1.4,
// §1.9), on raw buffers, called by every path: the reference forward and decode (through `mixerInputs` and
// `outputProjection`), the fused training node (TTTTraining.swift) and the no-grad fused prefill/decode
// (TTTFused.swift). Without a graph the stages run their raw kernels only; with one, each step is an autodiff
// node whose hand-written backward sits beside its forward (llm.c style), so a change to a projection, conv,
// RoPE or gate is made here once.
//
//   pre-stage   h [B, t, D] →
//     U = h·Wq → q, k = conv_q(U), conv_k(U)  (Mamba backbone)   or  q, k = h·Wq, h·Wk     [B, t, D] each
//     v = h·Wv;  q, k ← RoPE at positions (start + j) mod b                               [B, t, D]
//     η = (η_base·ρ/d)·σ(h·w_lr + β_lr)   (libm σ; or the fixed η)                        [B, t, H]
//   post-stage  o [B, t, D] (heads side by side), h →
//     y = (gelu(h·Wg) ⊙ LN_post(o))·Wo     (gate: Mamba backbone; LN_post: when on)        [B, t, D]
//
//   backward    linear: dx = g·Wᵀ, dW = xᵀ·g (FusedProjections);  conv, RoPE: CausalConvRows, RopeHeads;
//     η:         dlogit = dη·scale·σ(1−σ),  dβ_lr = Σ_rows dlogit                          [B, t, H]
//     LN+gate:   dg = dy ⊙ LN(o);  dn = dy ⊙ g;  do = LN-backward(dn), dγ, dβ summed per row chunk in order
//
// Numerics: one rounding per stage for every path. The η gate's σ is libm's (as the tensor op's; FastMath's SIMD
// σ made the gate's finite-difference checks coarser, see `sigmoidRows`), so the no-grad fused path's output
// moved in the last bits (max |Δ| 1.8e-6, ttt-linear); the projections are OpenBLAS GEMMs through `FastGEMM`
// for every path. Measurements: docs/stages.md.
// The contract-v2 gates stay tensor ops layered after the pre-stage (`tokenGates`).
import Foundation
import TensorCore

extension TTTLayer {
    /// The pre-stage's outputs: q, k (after RoPE), v [B, t, D] with the heads side by side, η [B, t, H].
    struct PreStage {
        let q: Tensor, k: Tensor, v: Tensor, eta: Tensor
    }

    /// The pre-stage for h [B, t, D] starting at absolute position `start` (RoPE at (start + j) mod b unless
    /// `ropePositions` is given); `convHistory` (Mamba backbone, decode) holds the last k−1 rows of U = h·Wq
    /// before this chunk and is advanced. Differentiable when a graph is being built.
    ///
    /// ```swift
    /// var none: Tensor? = nil
    /// let p = layer.preStage(h, start: 0, convHistory: &none)      // p.q, p.k, p.v [B, t, D], p.eta [B, t, H]
    /// ```
    func preStage(_ h: Tensor, start: Int, ropePositions: [Int]? = nil, convHistory: inout Tensor?) -> PreStage {
        let t = h.dim(1), fault = stageBackwardFault
        var q: Tensor, k: Tensor
        if let convQ, let convK {
            let u = FusedProjections.linear(h, wq)                             // U = h·Wq  [B, t, D]
            let qk = CausalConvRows.convolve(u, taps: [convQ, convK], history: &convHistory, fault: fault)
            (q, k) = (qk[0], qk[1])
        } else {
            (q, k) = (FusedProjections.linear(h, wq), FusedProjections.linear(h, wk!))
        }
        let v = FusedProjections.linear(h, wv)
        if opts.rope {
            let positions = ropePositions ?? (0..<t).map { (start + $0) % b }
            q = RopeTable.rotateHeads(q, heads: H, positions: positions, theta: config.ropeTheta, fault: fault)
            k = RopeTable.rotateHeads(k, heads: H, positions: positions, theta: config.ropeTheta, fault: fault)
        }
        return PreStage(q: q, k: k, v: v, eta: etaGate(h))
    }

    /// η = (η_base·ρ/d)·σ(h·w_lr + β_lr) [B, t, H] (docs/ttt.md §1.4), or the fixed η. Differentiable.
    func etaGate(_ h: Tensor) -> Tensor {
        let (B, t, H) = (h.dim(0), h.dim(1), self.H)
        if let e = opts.fixedEta { return Tensor(repeating: e, shape: [B, t, H]) }
        let logits = FusedProjections.linear(h, lrWeight)                     // [B, t, H]
        let scale = baseLR * lrMult / Float(d), bias = lrBias, fault = stageBackwardFault
        let recording = Tensor.recording([logits, bias])
        let eta = recording ? Tensor(uninitializedShape: logits.shape) : logits
        Self.sigmoidRows(logits.data, bias: bias.data, rows: B * t, H, into: eta.data)
        let pe = eta.data
        for i in 0..<eta.count { pe[i] *= scale }
        FLOPCounter.elementwise += 6 * eta.count
        return eta.recordingFused("tttEtaGate", [logits, bias]) { g in
            // dlogit = g·scale·σ(1−σ) (σ recomputed), dβ_lr = Σ_rows dlogit in row order.
            let gl = Tensor(uninitializedShape: logits.shape), gb = Tensor(zeros: [H])
            let pg = g.data, pgl = gl.data, pgb = gb.data, n = gl.count
            Self.sigmoidRows(logits.data, bias: bias.data, rows: B * t, H, into: pgl)
            for i in 0..<n {
                let s = pgl[i]
                pgl[i] = fault == .etaSigmoidPrime ? pg[i] * scale : pg[i] * scale * (s * (1 - s))
            }
            for r in 0..<(B * t) { for j in 0..<H { pgb[j] += pgl[r * H + j] } }
            return [gl, gb]
        }
    }

    /// out[r, j] = σ(logits[r, j] + bias[j]) with libm's exp (`out` may alias `logits`). Not FastMath's SIMD σ:
    /// its polynomial exp is noisy at the ulp level, which the η gate's finite-difference checks resolve (the
    /// plugin check's outer gradient of β_lr went coarser than 10⁻³), and at B·t·H entries σ costs nothing here.
    static func sigmoidRows(_ logits: UnsafePointer<Float>, bias: UnsafePointer<Float>, rows: Int, _ H: Int,
                            into out: UnsafeMutablePointer<Float>) {
        for r in 0..<rows { for j in 0..<H { out[r * H + j] = 1 / (1 + Foundation.exp(-(logits[r * H + j] + bias[j]))) } }
    }

    /// The post-stage: y = (gate ⊙ LN_post(o))·Wo for o [B, t, D] (heads side by side) and the layer input h
    /// [B, t, D] (the gate gelu(h·Wg), Mamba backbone). `inPlace` (a caller that owns o): without a graph, o is
    /// normalised in place. Differentiable when a graph is being built.
    ///
    /// ```swift
    /// let y = layer.postStage(o, h: h)          // [B, t, D]
    /// ```
    func postStage(_ o: Tensor, h: Tensor, inPlace: Bool = false) -> Tensor {
        let gate = wg.map { FusedProjections.linear(h, $0).fastGelu() }
        let n = opts.postNorm || gate != nil ? postNormGate(o, gate: gate, inPlace: inPlace) : o
        return FusedProjections.linear(n, wo)
    }

    /// LN_post(o) ⊙ gate (either part can be off) over rows of D, one node:
    ///   forward   n = LN_{γ,β}(o) (or o);  y = n ⊙ g (or n)                            o, g, y [B, t, D]
    ///   backward  dg = dy ⊙ n;  dn = dy ⊙ g;  do = LN-backward(dn);  dγ, dβ: per row chunk, summed in chunk order
    func postNormGate(_ o: Tensor, gate: Tensor?, inPlace: Bool) -> Tensor {
        let (D, rows, post) = (self.D, o.count / self.D, opts.postNorm)
        let inputs = [o, postGamma, postBeta] + (gate.map { [$0] } ?? [])
        let y = inPlace && !Tensor.recording(inputs) ? o : Tensor(uninitializedShape: o.shape)
        let po = o.data, py = y.data, pg = postGamma.data, pb = postBeta.data, gt = gate?.data
        Parallel.forEach(rows, minPerThread: 32) { r in
            let src = po + r * D, row = py + r * D
            if post { FastNorm.layerNorm(src, D, gamma: pg, beta: pb, into: row) } else if row != src { row.update(from: src, count: D) }
            if let gt { let g = gt + r * D; for c in 0..<D { row[c] *= g[c] } }
        }
        FLOPCounter.elementwise += (post ? 6 : 0) * o.count + (gate == nil ? 0 : o.count)
        let fault = stageBackwardFault
        return y.recordingFused("tttPostNormGate", inputs) { gy in
            let go = Tensor(uninitializedShape: o.shape), gg = gate.map { Tensor(uninitializedShape: $0.shape) }
            let chunks = max(1, min(Parallel.threads, rows / 64))
            let part = FastBuffer(chunks * 2 * D, zero: true)                    // (dγ, dβ) per chunk
            let pgy = gy.data, pgo = go.data, pgg = gg?.data
            Parallel.forEach(chunks) { c in
                let tmp = FastBuffer(2 * D), nrow = tmp.p + D, dGam = part.p + c * 2 * D, dBet = dGam + D
                for r in (rows * c / chunks)..<(rows * (c + 1) / chunks) {
                    let src = po + r * D, dst = pgo + r * D, gyr = pgy + r * D
                    dst.update(from: gyr, count: D)                             // dn (= dy without a gate)
                    if let gt, let pgg {
                        if post { FastNorm.layerNorm(src, D, gamma: pg, beta: pb, into: nrow) } else { nrow.update(from: src, count: D) }
                        let g = gt + r * D, dg = pgg + r * D
                        for x in 0..<D { dg[x] = gyr[x] * nrow[x]; dst[x] *= g[x] }
                    }
                    if post { FusedTTT.layerNormBackwardRow(src, D, gamma: pg, g: dst, gGamma: dGam, gBeta: dBet, tmp: tmp.p) }
                }
            }
            FLOPCounter.elementwise += 10 * o.count
            guard post else { return [go, nil, nil] + (gg.map { [$0] } ?? []) }
            let dGamma = Tensor(zeros: [D]), dBeta = Tensor(zeros: [D])
            for c in 0..<chunks {
                for x in 0..<D { dGamma.data[x] += part.p[c * 2 * D + x]; dBeta.data[x] += part.p[c * 2 * D + D + x] }
            }
            if fault == .postNormGamma { for x in 0..<D { dGamma.data[x] = 0 } }
            return [go, dGamma, dBeta] + (gg.map { [$0] } ?? [])
        }
    }
}
