// TTTTraining.swift — the TTT layer's fused training node: the inner loop over all mini-batches as ONE
// autodiff node (Tensor.recordingFused) with a hand-written backward (docs/ttt-backward.md §4).
//
// Everything outside the inner loop (projections, convs, RoPE, η gate, c_i, post-LN, gate, Wo) is the layer's
// one pre- and post-stage (TTTStages.swift, through `mixerInputs` and `outputProjection`), shared by every path.
//
//   inputs   q, k, v [B·H, T, d] (after RoPE), η [B·H, T, 1], c [b], γ, β [H, d], θ_init [H, …]
//   forward  parallel over B·H: θ ← θ_init[h]; per mini-batch m: save θ_m; z̄, θ ← fusedDual(θ, rows)
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
        let inputs = [m.q, m.k, m.v, m.eta, m.c, innerGamma, innerBeta] + theta
        let node = FusedTTTNode(layer: self, inner: f, m, batch: B, keep: Tensor.recording(inputs))
        let out = fusedInnerForward(node)
        let injected = fusedFault
        FusedFault.corruptOutput(out, injected)                         // test hook (nil in normal use)
        guard node.keep else { return out }
        return out.recordingFused("tttInnerLoop", inputs) { gy in
            let grads = self.fusedInnerBackward(node, gy: gy)
            FusedFault.corruptGradient(grads[0]!, injected)             // test hook: dL/dq (see `fusedFaultTarget`)
            return grads
        }
    }

    /// Forward of the fused node, parallel over B·H (per head: θ ← θ_init; per mini-batch m: save θ_m;
    /// z̄, θ ← fusedDual(θ, rows); out = q + LN(z̄)). Saves z̄ and the θ_m in `node`. → out [B·H, T, d].
    func fusedInnerForward(_ node: FusedTTTNode) -> Tensor {
        let (f, T, BH, P, nMB, bEff, d, H) = (node.inner, node.T, node.BH, node.P, node.mbs.count, node.bEff, d, H)
        let out = Tensor(uninitializedShape: [BH, T, d])
        let pq = node.q.data, pz = node.zbar.data, po = out.data, ps = node.states.p, pgam = innerGamma.data, pbet = innerBeta.data
        let θinit = theta.map { $0.data }
        let fwdScratch = f.fusedDualScratch(d: d, b: bEff)
        Parallel.forEach(BH) { bh in
            let hh = bh % H
            let buf = FastBuffer(fwdScratch + bEff * d + bEff + d + P)
            let tgt = buf.p + fwdScratch, etab = tgt + bEff * d, tmp = etab + bEff, θp = tmp + d
            for (i, n) in node.counts.enumerated() { (θp + node.offsets[i]).update(from: θinit[i] + hh * n, count: n) }
            let θ = node.offsets.map { θp + $0 }
            for (mi, (lo, hi)) in node.mbs.enumerated() {
                if node.keep { (ps + (bh * nMB + mi) * P).update(from: θp, count: P) }
                let r = node.rows(bh, lo, hi, tgt: tgt, etab: etab, tmp: tmp)
                let base = (bh * T + lo) * d
                f.fusedDual(θ, r, z: pz + base, scratch: buf.p)
                TTTRowStages.readOut(n: hi - lo, d: d, z: pz + base, q: pq + base, ld: d, gamma: pgam + hh * d, beta: pbet + hh * d,
                                     innerLN: node.innerLN, residual: node.residual, into: po + base)
            }
        }
        FLOPCounter.matmul += Int(f.innerFlopsPerToken(d: d, b: bEff, dual: true)) * BH * T
        return out
    }

    /// Backward of the fused node: dL/d(out) [B·H, T, d] → the gradients of its inputs, in the order
    /// [q, k, v, η, c, γ, β] + θ_init (nil for a frozen θ). Parallel over B·H, mini-batches in reverse
    /// carrying gθ (gθ_n = 0): gz̄ = LN-backward(gout), gq += gout; fusedDualBackward(θ_m, rows, gz̄, gθ)
    /// → gθ_m and row grads; gv = g(target), gk −= g(target). Sums over the batch in a fixed order.
    func fusedInnerBackward(_ node: FusedTTTNode, gy: Tensor) -> [Tensor?] {
        let (f, T, BH, P, nMB, bEff, d, H) = (node.inner, node.T, node.BH, node.P, node.mbs.count, node.bEff, d, H)
        let (innerLN, residual, fault) = (node.innerLN, node.residual, fusedBackwardFault)
        let gq = Tensor(zeros: [BH, T, d]), gk = Tensor(zeros: [BH, T, d]), gv = Tensor(uninitializedShape: [BH, T, d])
        let gEta = Tensor(zeros: [BH, T, 1])
        let gcPer = FastBuffer(BH * bEff, zero: true), gGamPer = FastBuffer(BH * d, zero: true), gBetPer = FastBuffer(BH * d, zero: true)
        let gθ0 = FastBuffer(BH * P, zero: true)
        let pgy = gy.data, pgq = gq.data, pgk = gk.data, pgv = gv.data, pge = gEta.data
        let pz = node.zbar.data, ps = node.states.p, pgam = innerGamma.data
        let bwdScratch = f.fusedBackwardScratch(d: d, b: bEff)
        Parallel.forEach(BH) { bh in
            let hh = bh % H
            let buf = FastBuffer(bwdScratch + 3 * bEff * d + bEff + 2 * d)
            let tgt = buf.p + bwdScratch, etab = tgt + bEff * d, tmp = etab + bEff, gzb = tmp + 2 * d, gt = gzb + bEff * d
            let gθ = node.offsets.map { gθ0.p + bh * P + $0 }
            let gam = pgam + hh * d, gGam = gGamPer.p + bh * d, gBet = gBetPer.p + bh * d
            for (mi, (lo, hi)) in node.mbs.enumerated().reversed() {
                let n = hi - lo, base = (bh * T + lo) * d
                if mi < nMB - 1, fault == .dropStateCarry { for i in 0..<P { gθ0.p[bh * P + i] = 0 } }
                // gz̄ from gout through the output LN (and the residual's gq += gout)
                for i in 0..<n {
                    let g = gzb + i * d, gyr = pgy + base + i * d
                    g.update(from: gyr, count: d)
                    if innerLN { FusedTTT.layerNormBackwardRow(pz + base + i * d, d, gamma: gam, g: g, gGamma: gGam, gBeta: gBet, tmp: tmp) }
                    if residual { let gqr = pgq + base + i * d; for x in 0..<d { gqr[x] += gyr[x] } }
                }
                let r = node.rows(bh, lo, hi, tgt: tgt, etab: etab, tmp: tmp)
                let θ = node.offsets.map { ps + (bh * nMB + mi) * P + $0 }
                let grads = FusedTTTGrads(gq: pgq + base, gk: pgk + base, ld: d, gTarget: gt, gEta: pge + bh * T + lo,
                                          gc: gcPer.p + bh * bEff, gGamma: gGam, gBeta: gBet)
                f.fusedDualBackward(θ, r, gZbar: gzb, gθ: gθ, grads, scratch: buf.p)
                for i in 0..<(n * d) {                                  // target = v − k (or v)
                    pgv[base + i] = gt[i]
                    if residual { pgk[base + i] -= gt[i] }
                }
            }
        }
        FLOPCounter.matmul += 2 * Int(f.innerFlopsPerToken(d: d, b: bEff, dual: true)) * BH * T
        // Sums over the batch, in a fixed order.
        let gc = Tensor(zeros: node.c.shape), gGamma = Tensor(zeros: [H, d]), gBeta = Tensor(zeros: [H, d])
        for bh in 0..<BH {
            for i in 0..<bEff { gc.data[i] += gcPer.p[bh * bEff + i] }
            let hh = bh % H
            for x in 0..<d { gGamma.data[hh * d + x] += gGamPer.p[bh * d + x]; gBeta.data[hh * d + x] += gBetPer.p[bh * d + x] }
        }
        if fault == .flipTokenScale { for i in 0..<gc.count { gc.data[i] = -gc.data[i] } }
        let gTheta: [Tensor?] = theta.indices.map { j in
            guard theta[j].requiresGrad else { return nil }
            let t = Tensor(zeros: theta[j].shape), n = node.counts[j]
            for bh in 0..<BH {
                let dst = t.data + (bh % H) * n, src = gθ0.p + bh * P + node.offsets[j]
                for i in 0..<n { dst[i] += src[i] }
            }
            return t
        }
        withExtendedLifetime(node) {}
        return [gq, gk, gv, gEta, gc, gGamma, gBeta] + gTheta
    }
}

/// What the fused TTT node's forward and backward share: its inputs, the layout of θ, the mini-batches,
/// and what the forward saves for the backward.
///
///   q, k, v [B·H, T, d] (after RoPE), η [B·H, T, 1], c [b]        inputs (the reference's `mixerInputs`)
///   zbar [B·H, T, d]                                               pre-LN read-outs z̄ (saved)
///   states [B·H, n_mb, P]                                          θ at every mini-batch start (saved; empty without a graph)
/// Memory: (T/b)·|θ| floats per sequence×head for the θ_m and T·D per sequence for z̄; no b×b or T×T kept.
final class FusedTTTNode {
    let inner: FusedInnerModel.Type
    let q: Tensor, k: Tensor, v: Tensor, eta: Tensor, c: Tensor
    let gamma: Tensor, beta: Tensor
    let T: Int, H: Int, d: Int, BH: Int, bEff: Int
    let mbs: [(lo: Int, hi: Int)]
    /// Floats of one head's θ per parameter, their offsets in a packed θ, and the packed size P.
    let counts: [Int], offsets: [Int], P: Int
    let innerLN: Bool, residual: Bool, bias: Bool
    /// True when a graph records the node (the forward then saves the θ snapshots).
    let keep: Bool
    let zbar: Tensor, states: FastBuffer

    init(layer: TTTLayer, inner: FusedInnerModel.Type, _ m: TTTLayer.MixerInputs, batch B: Int, keep: Bool) {
        let counts = layer.theta.map { $0.count / layer.H }, mbs = layer.miniBatches(from: 0, count: m.q.dim(1))
        self.inner = inner
        q = m.q; k = m.k; v = m.v; eta = m.eta; c = m.c
        gamma = layer.innerGamma; beta = layer.innerBeta
        T = m.q.dim(1); H = layer.H; d = layer.d; BH = B * layer.H; bEff = min(layer.b, m.q.dim(1))
        self.mbs = mbs
        self.counts = counts
        P = counts.reduce(0, +)
        offsets = counts.indices.map { counts[..<$0].reduce(0, +) }
        innerLN = layer.opts.innerLN; residual = layer.opts.innerResidual; bias = layer.opts.innerBias
        self.keep = keep
        zbar = Tensor(uninitializedShape: [B * layer.H, m.q.dim(1), layer.d])
        states = layer.stateSnapshots(keep ? B * layer.H * mbs.count * counts.reduce(0, +) : 0)
    }

    /// Rows lo..<hi of head `bh` for the inner kernels (target into `tgt`, η into `etab`).
    func rows(_ bh: Int, _ lo: Int, _ hi: Int, tgt: UnsafeMutablePointer<Float>, etab: UnsafeMutablePointer<Float>,
              tmp: UnsafeMutablePointer<Float>) -> FusedTTTRows {
        let n = hi - lo, hh = bh % H, base = (bh * T + lo) * d
        TTTRowStages.target(n: n, d: d, k: k.data + base, v: v.data + base, ld: d, residual: residual, into: tgt)
        for r in 0..<n { etab[r] = eta.data[bh * T + lo + r] }
        return FusedTTTRows(n: n, d: d, q: q.data + base, k: k.data + base, ld: d, target: tgt, eta: etab, c: c.data,
                           gamma: gamma.data + hh * d, beta: beta.data + hh * d, innerLN: innerLN, bias: bias, tmp: tmp)
    }
}
