// TTTTraining.swift — the TTT layer's fused training node: the inner loop over all mini-batches as ONE
// autodiff node (Tensor.recordingFused) with a hand-written backward (docs/ttt-backward.md §4).
//
// Everything outside the inner loop (projections, convs, RoPE, η gate, c_i, post-LN, gate, Wo) is the
// reference's own differentiable tensor code (`mixerInputs`, `outputProjection`), shared by both paths.
//
//   inputs   q, k, v [B·H, T, d] (after RoPE), η [B·H, T, 1], c [b], γ, β [H, d], θ_init [H, …]
//   forward  parallel over B·H: θ ← θ_init[h]; per mini-batch m: save θ_m; z̄, θ ← fastDual(θ, rows)
//            save z̄ [B·H, T, d];  out = q + LN(z̄)                                           → [B·H, T, d]
//   backward parallel over B·H, mini-batches in reverse carrying gθ (gθ_n = 0):
//            gz̄ = LN-backward(gout); gq += gout;  fusedDualBackward(θ_m, rows, gz̄, gθ) → gθ_m, row grads
//            gθ_0 summed over the batch → gθ_init;  γ, β, c summed over the batch (fixed order: deterministic)
//   memory   θ_m: (T/b)·|θ| floats per sequence×head; z̄: T·D per sequence. No b×b or T×T kept.
import TensorCore

/// A deliberate fault in the fused backward, for negative-control tests only (per layer instance).
enum FusedBackwardFault {
    /// Drop dL/dθ carried from one mini-batch to the previous one (truncated backprop through the inner loop).
    case dropStateCarry
    /// Flip the sign of dL/dc (the token-scale path).
    case flipTokenScale
}

extension TTTLayer: FusedTraining {
    /// Options (from the default config) the fused training kernel supports; each is checked against the
    /// reference for output and every gradient in Tests/LayersTests/FusedTTTTests.swift.
    public static var fusedOptions: [LayerOption] {
        [LayerOption("inner LN off") { $0.ttt.innerLN = false },
         LayerOption("inner residual off") { $0.ttt.innerResidual = false },
         LayerOption("inner bias off") { $0.ttt.innerBias = false },
         LayerOption("learnable W0 off") { $0.ttt.learnableW0 = false },
         LayerOption("token scaling off") { $0.ttt.tokenScaling = false },
         LayerOption("fixed eta 0.3") { $0.ttt.fixedEta = 0.3 },
         LayerOption("RoPE off") { $0.ttt.rope = false },
         LayerOption("post-norm off") { $0.ttt.postNorm = false },
         LayerOption("Mamba backbone") { $0.ttt.backbone = .mamba },
         LayerOption("b = 5 (not dividing T)") { $0.ttt.miniBatch = 5 },
         LayerOption("b = 1") { $0.ttt.miniBatch = 1 },
         LayerOption("b = 64 (> T)") { $0.ttt.miniBatch = 64 },
         LayerOption("lr mult 0.3") { $0.ttt.lrMult = 0.3 },
         LayerOption("base lr 0.5") { $0.ttt.baseLR = 0.5 }]
    }

    /// True when this configuration trains on the fused node: the plugin adopts `FusedInnerModel` and the
    /// dual form is on (the primal-form option runs the reference).
    public var fusedTrainingSupported: Bool { fusedTrainingInner != nil }

    /// A `.backward` fault scales dL/dq (after RoPE), which reaches the loss only through the query projection:
    /// `q_proj.weight` on the Transformer backbone, `conv_q.weight` on the Mamba backbone (q_proj is shared with k).
    public var fusedFaultTarget: String { convQ != nil ? "conv_q.weight" : "q_proj.weight" }

    var fusedTrainingInner: FusedInnerModel.Type? {
        guard opts.dual, inner.features == InnerFeatures(), let f = inner as? FusedInnerModel.Type else { return nil }
        return f
    }

    /// A buffer for the θ snapshots of one training step: the previous step's when no graph holds it any
    /// more (no fresh pages to fault in every step; the MLP's snapshots are ≈ 8d²/b floats per token and head).
    func stateSnapshots(_ count: Int) -> FastBuffer {
        // Unique: no recorded node (closure) of an earlier step still holds it. Never reused while one does.
        if count > 0, (trainingWorkspace?.count ?? 0) >= count, snapshotReuseFault || isKnownUniquelyReferenced(&trainingWorkspace!) { return trainingWorkspace! }
        let ws = FastBuffer(count)
        if count > 0 { trainingWorkspace = ws }
        return ws
    }

    /// Drops the cached θ-snapshot buffer (a graph that still holds it keeps it alive); the next training
    /// step allocates a fresh one. Block recompute (Models/BlockRecompute.swift) calls it after each block,
    /// so a long-context step holds one block's snapshots at a time instead of one cached buffer per layer.
    public func releaseTrainingWorkspace() { trainingWorkspace = nil }

    /// The inner loop as one fused autodiff node (nil when this layer cannot use it: reference then).
    /// Same result as `innerLoop(m, batch:)`: per-head outputs q + LN(z̄), [B·H, T, d].
    func fusedInnerLoop(_ m: MixerInputs, batch B: Int) -> Tensor? {
        guard kernels == .fused, let f = fusedTrainingInner else { return nil }
        let (q, k, v, eta, c) = (m.q, m.k, m.v, m.eta, m.c)
        let T = q.dim(1)
        let (H, d) = (self.H, self.d)
        let BH = B * H
        let mbs = miniBatches(from: 0, count: T)
        let nMB = mbs.count, bEff = min(b, T)
        let counts = theta.map { $0.count / H }, P = counts.reduce(0, +)
        let offsets = counts.indices.map { counts[..<$0].reduce(0, +) }
        let (innerLN, residual, bias) = (opts.innerLN, opts.innerResidual, opts.innerBias)
        let fault = fusedBackwardFault
        let inputs = [q, k, v, eta, c, innerGamma, innerBeta] + theta
        let keep = Tensor.recording(inputs)
        let zbar = Tensor(uninitializedShape: [BH, T, d])               // pre-LN read-outs (saved for the backward)
        let states = stateSnapshots(keep ? BH * nMB * P : 0)            // θ at every mini-batch start
        let out = Tensor(uninitializedShape: [BH, T, d])
        let pq = q.data, pk = k.data, pv = v.data, pe = eta.data, pc = c.data
        let pgam = innerGamma.data, pbet = innerBeta.data, pz = zbar.data, po = out.data, ps = states.p
        let θinit = theta.map { $0.data }
        let fwdScratch = f.fastDualScratch(d: d, b: bEff)

        /// Rows of mini-batch `mb` of head `bh` (target into `tgt`, η into `etab`).
        func rows(_ bh: Int, _ lo: Int, _ hi: Int, tgt: UnsafeMutablePointer<Float>, etab: UnsafeMutablePointer<Float>,
                  tmp: UnsafeMutablePointer<Float>) -> FastTTTRows {
            let n = hi - lo, hh = bh % H, base = (bh * T + lo) * d
            for r in 0..<n {
                let kr = pk + base + r * d, vr = pv + base + r * d, tr = tgt + r * d
                if residual { for x in 0..<d { tr[x] = vr[x] - kr[x] } } else { tr.update(from: vr, count: d) }
                etab[r] = pe[bh * T + lo + r]
            }
            return FastTTTRows(n: n, d: d, q: pq + base, k: pk + base, ld: d, target: tgt, eta: etab, c: pc,
                               gamma: pgam + hh * d, beta: pbet + hh * d, innerLN: innerLN, bias: bias, tmp: tmp)
        }

        // Forward, parallel over B·H.
        Parallel.forEach(BH) { bh in
            let hh = bh % H
            let buf = FastBuffer(fwdScratch + bEff * d + bEff + d + P)
            let tgt = buf.p + fwdScratch, etab = tgt + bEff * d, tmp = etab + bEff, θp = tmp + d
            for (i, n) in counts.enumerated() { (θp + offsets[i]).update(from: θinit[i] + hh * n, count: n) }
            let θ = offsets.map { θp + $0 }
            for (mi, (lo, hi)) in mbs.enumerated() {
                if keep { (ps + (bh * nMB + mi) * P).update(from: θp, count: P) }
                let r = rows(bh, lo, hi, tgt: tgt, etab: etab, tmp: tmp)
                let z = pz + (bh * T + lo) * d
                f.fastDual(θ, r, z: z, scratch: buf.p)
                let gam = pgam + hh * d, bet = pbet + hh * d
                for i in 0..<(hi - lo) {
                    let o = po + (bh * T + lo + i) * d, zr = z + i * d, qr = pq + (bh * T + lo + i) * d
                    if innerLN { FastNorm.layerNorm(zr, d, gamma: gam, beta: bet, into: o, residual: residual ? qr : nil) }
                    else if residual { for x in 0..<d { o[x] = qr[x] + zr[x] } }
                    else { o.update(from: zr, count: d) }
                }
            }
        }
        FLOPCounter.matmul += Int(f.innerFlopsPerToken(d: d, b: bEff, dual: true)) * BH * T
        let injected = fusedFault
        FusedFault.corruptOutput(out, injected)                         // test hook (nil in normal use)
        guard keep else { return out }

        return out.recordingFused("tttInnerLoop", inputs) { gy in
            let gq = Tensor(zeros: [BH, T, d]), gk = Tensor(zeros: [BH, T, d]), gv = Tensor(uninitializedShape: [BH, T, d])
            let gEta = Tensor(zeros: [BH, T, 1])
            let gcPer = FastBuffer(BH * bEff, zero: true), gGamPer = FastBuffer(BH * d, zero: true), gBetPer = FastBuffer(BH * d, zero: true)
            let gθ0 = FastBuffer(BH * P, zero: true)
            let pgy = gy.data, pgq = gq.data, pgk = gk.data, pgv = gv.data, pge = gEta.data
            let bwdScratch = f.fusedBackwardScratch(d: d, b: bEff)
            Parallel.forEach(BH) { bh in
                let hh = bh % H
                let buf = FastBuffer(bwdScratch + 3 * bEff * d + bEff + 2 * d)
                let tgt = buf.p + bwdScratch, etab = tgt + bEff * d, tmp = etab + bEff, gzb = tmp + 2 * d, gt = gzb + bEff * d
                let gθ = offsets.map { gθ0.p + bh * P + $0 }
                let gam = pgam + hh * d, gGam = gGamPer.p + bh * d, gBet = gBetPer.p + bh * d
                for (mi, (lo, hi)) in mbs.enumerated().reversed() {
                    let n = hi - lo, base = (bh * T + lo) * d
                    if mi < nMB - 1, fault == .dropStateCarry { for i in 0..<P { gθ0.p[bh * P + i] = 0 } }
                    // gz̄ from gout through the output LN (and the residual's gq += gout)
                    for i in 0..<n {
                        let g = gzb + i * d, gyr = pgy + base + i * d
                        g.update(from: gyr, count: d)
                        if innerLN { FusedTTT.layerNormBackwardRow(pz + base + i * d, d, gamma: gam, g: g, gGamma: gGam, gBeta: gBet, tmp: tmp) }
                        if residual { let gqr = pgq + base + i * d; for x in 0..<d { gqr[x] += gyr[x] } }
                    }
                    let r = rows(bh, lo, hi, tgt: tgt, etab: etab, tmp: tmp)
                    let θ = offsets.map { ps + (bh * nMB + mi) * P + $0 }
                    let grads = FusedTTTGrads(gq: pgq + base, gk: pgk + base, ld: d, gTarget: gt, gEta: pge + bh * T + lo,
                                              gc: gcPer.p + bh * bEff, gGamma: gGam, gBeta: gBet)
                    f.fusedDualBackward(θ, r, gZbar: gzb, gθ: gθ, grads, scratch: buf.p)
                    for i in 0..<(n * d) {                              // target = v − k (or v)
                        pgv[base + i] = gt[i]
                        if residual { pgk[base + i] -= gt[i] }
                    }
                }
            }
            FLOPCounter.matmul += 2 * Int(f.innerFlopsPerToken(d: d, b: bEff, dual: true)) * BH * T
            // Sums over the batch, in a fixed order.
            let gc = Tensor(zeros: c.shape), gGamma = Tensor(zeros: [H, d]), gBeta = Tensor(zeros: [H, d])
            for bh in 0..<BH {
                for i in 0..<bEff { gc.data[i] += gcPer.p[bh * bEff + i] }
                let hh = bh % H
                for x in 0..<d { gGamma.data[hh * d + x] += gGamPer.p[bh * d + x]; gBeta.data[hh * d + x] += gBetPer.p[bh * d + x] }
            }
            if fault == .flipTokenScale { for i in 0..<gc.count { gc.data[i] = -gc.data[i] } }
            let gTheta: [Tensor?] = self.theta.indices.map { j in
                guard self.theta[j].requiresGrad else { return nil }
                let t = Tensor(zeros: self.theta[j].shape), n = counts[j]
                for bh in 0..<BH {
                    let dst = t.data + (bh % H) * n, src = gθ0.p + bh * P + offsets[j]
                    for i in 0..<n { dst[i] += src[i] }
                }
                return t
            }
            withExtendedLifetime((states, zbar)) {}
            FusedFault.corruptGradient(gq, injected)                    // test hook: dL/dq (see `fusedFaultTarget`)
            return [gq, gk, gv, gEta, gc, gGamma, gBeta] + gTheta
        }
    }
}
