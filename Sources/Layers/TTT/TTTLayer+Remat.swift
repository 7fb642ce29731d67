// TTTLayer+Remat.swift — the generic training node for inner-model plugins without fused kernels:
// keep θ at each mini-batch start, recompute each mini-batch in the backward (rematerialisation).
import TensorCore

extension TTTLayer {
    /// The inner loop as one autodiff node that keeps only θ at the start of every mini-batch (and the
    /// inputs it already has): the forward runs without recording; the backward walks the mini-batches
    /// in reverse, re-runs each one recorded on those saved states, and back-propagates the output
    /// gradient of its tokens plus the gradient arriving at its end state. Activation memory is the
    /// mini-batch states, O(T/b · |θ|), plus one mini-batch's graph — instead of the whole sequence's
    /// graph. Values and gradients equal the op-by-op path's (same ops; sums may differ in order).
    ///
    /// Serves parametric plugins without fused kernels (`FusedInnerModel` has its own node) when the
    /// layer's kernel path is `.fused`; `.reference` keeps the op-by-op graph. Nil when nothing records.
    ///
    /// ```swift
    /// let layer = try LayerRegistry.make("ttt-deltanet", LayerConfig(width: 64, heads: 4), seed: 0)
    /// (layer(x) * w).sum().backward()        // through rematInnerLoop
    /// ```
    func rematInnerLoop(_ m: MixerInputs, batch B: Int) -> Tensor? {
        guard kernels == .fused, !(inner is NonparametricInnerModel.Type), !(inner is FusedInnerModel.Type) else { return nil }
        let start = initialState(batch: B)
        let rateNames = m.rates.keys.sorted()
        let extra = (m.logDecay.map { [$0] } ?? []) + rateNames.map { m.rates[$0]! }
        let inputs = [m.q, m.k, m.v, m.eta, m.c, m.gamma, m.beta] + start + extra
        guard Tensor.recording(inputs) else { return nil }
        let spans = miniBatches(from: 0, count: m.q.dim(1))
        var snapshots: [[Tensor]] = []
        let out: Tensor = withNoGrad {
            miniBatchLoop(start.map { $0.detached() }, m, spans: spans) { snapshots.append($0) }
        }
        let needs = inputs.map(\.requiresGrad)
        return out.recordingFused("rematInnerLoop", inputs) { [self] g in
            self.rematBackward(g, m, spans: spans, snapshots: snapshots, start: start, rateNames: rateNames, needs: needs)
        }
    }

    /// The backward of `rematInnerLoop`: gradients for [q, k, v, η, c, γ, β] ++ θ_start ++ [log α] ++ rates.
    func rematBackward(_ g: Tensor, _ m: MixerInputs, spans: [(lo: Int, hi: Int)], snapshots: [[Tensor]],
                       start: [Tensor], rateNames: [String], needs: [Bool]) -> [Tensor?] {
        let saved = GradMode.enabled
        GradMode.enabled = true
        defer { GradMode.enabled = saved }
        let (p0, s0) = (7, 7 + start.count)                               // offsets of θ_start and of the gates
        func leaf(_ t: Tensor, _ i: Int) -> Tensor { let a = t.detached(); return needs[i] ? a.requiringGrad() : a }
        // Full-length gradients of the token-indexed inputs, filled mini-batch by mini-batch.
        let seqInputs = [m.q, m.k, m.v, m.eta] + (m.logDecay.map { [$0] } ?? []) + rateNames.map { m.rates[$0]! }
        let seqIndex = [0, 1, 2, 3] + Array(s0..<(s0 + seqInputs.count - 4))
        let seqGrads = zip(seqInputs, seqIndex).map { t, i in needs[i] ? Tensor(zeros: t.shape) : nil }
        let cGrad: Tensor? = needs[4] ? Tensor(zeros: m.c.shape) : nil
        let gammaGrad: Tensor? = needs[5] ? Tensor(zeros: m.gamma.shape) : nil
        let betaGrad: Tensor? = needs[6] ? Tensor(zeros: m.beta.shape) : nil
        var gθ: [Tensor?] = []
        for (idx, (lo, hi)) in spans.enumerated().reversed() {
            let n = hi - lo
            let seq = zip(seqInputs, seqIndex).map { t, i in leaf(t.slicedRaw(axis: 1, lo, hi), i) }
            let c = leaf(m.c, 4), gamma = leaf(m.gamma, 5), beta = leaf(m.beta, 6)
            let θ = snapshots[idx].enumerated().map { j, t -> Tensor in
                let a = t.detached()
                return idx > 0 || needs[p0 + j] ? a.requiringGrad() : a
            }
            var rates: [String: Tensor] = [:]
            let r0 = m.logDecay == nil ? 4 : 5
            for (i, name) in rateNames.enumerated() { rates[name] = seq[r0 + i] }
            let local = MixerInputs(q: seq[0], k: seq[1], v: seq[2], eta: seq[3], c: c, gamma: gamma, beta: beta,
                                    logDecay: m.logDecay == nil ? nil : seq[4], rates: rates)
            let (o, next) = innerMiniBatch(θ, local, 0, n)
            var s = (o * g.slicedRaw(axis: 1, lo, hi)).sum()
            if !rematDropsStateGradient {
                for (t, gt) in zip(next, gθ) where t.requiresGrad { if let gt { s = s + (t * gt).sum() } }
            }
            let gr = gradients(of: s, wrt: seq + [c, gamma, beta] + θ)
            for (j, full) in seqGrads.enumerated() {
                guard let full, let part = gr[j] else { continue }
                let (outer, len, inner) = (full.dim(0), full.dim(1), full.count / (full.dim(0) * full.dim(1)))
                for r in 0..<outer { (full.data + (r * len + lo) * inner).update(from: part.data + r * n * inner, count: n * inner) }
            }
            let k = seq.count
            if let cGrad, let x = gr[k] { addInPlace(cGrad, x) }
            if let gammaGrad, let x = gr[k + 1] { addInPlace(gammaGrad, x) }
            if let betaGrad, let x = gr[k + 2] { addInPlace(betaGrad, x) }
            gθ = Array(gr[(k + 3)...])
        }
        let startGrads = start.indices.map { j in needs[p0 + j] ? gθ[j] : nil }
        var result: [Tensor?] = [seqGrads[0], seqGrads[1], seqGrads[2], seqGrads[3], cGrad, gammaGrad, betaGrad] + startGrads
        result += seqGrads.dropFirst(4)
        return result
    }
}
