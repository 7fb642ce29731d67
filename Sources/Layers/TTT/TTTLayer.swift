// TTTLayer.swift — the TTT layer, generic over an inner model (docs/ttt.md §1 prefill, §2 decode).
import TensorCore

/// A TTT layer: the hidden state is a model (`InnerModel`) trained by one gradient step of a
/// self-supervised reconstruction loss per mini-batch of tokens, at training and at test time.
///
/// Forward (docs/ttt.md §1.11), per sequence and head:
///
///     Q,K,V ← preStage(h): projections (+ convs, Mamba backbone), RoPE(Q, K) at t mod b
///     η_j ← (η_base·ρ/d)·σ(h_j·w_lr + β_lr);   c_i ← max(0, 1/i + λ_i);   E_ij = c_i·η_j
///     for each mini-batch: Z̄, θ ← dual(θ, Q_b, K_b, V_b, E)     (or the primal loop)
///                          out_b = Q_b + LN(Z̄)
///     y ← (gate ⊙ LN_post(concat_heads(out)))·Wo
///
/// ```swift
/// var rng = RNG(seed: 0)
/// let layer = try TTTLayer(config: LayerConfig(width: 64, heads: 4), inner: LinearInner.self, rng: &rng)
/// let y = layer(x)      // [B, T, 64] → [B, T, 64]
/// ```
public final class TTTLayer: SequenceLayer {
    public let config: LayerConfig
    public var kernels: KernelPath
    public let inner: InnerModel.Type
    public var kind: String { "ttt-\(inner.name)" + (opts.backbone == .mamba ? "-m" : "") }
    var opts: TTTOptions { config.ttt }

    // Projections, lab layout [in, out].
    public let wq: Tensor, wk: Tensor?, wv: Tensor, wo: Tensor
    /// Mamba backbone: output gate and the two causal convs on the shared projection (docs/ttt.md §1.2).
    public let wg: Tensor?, convQ: (w: Tensor, b: Tensor)?, convK: (w: Tensor, b: Tensor)?
    /// Learnable inner learning-rate gate: w_lr [D, H], β_lr [H] (docs/ttt.md §1.4).
    public let lrWeight: Tensor, lrBias: Tensor
    /// Token-scaling offsets λ [b].
    public let tokenIdx: Tensor
    /// Inner LN γ, β [H, d]; post-norm γ, β [D].
    public let innerGamma: Tensor, innerBeta: Tensor, postGamma: Tensor, postBeta: Tensor
    /// θ_init per head: shapes [H] + spec.shape (zeros and frozen when `learnableW0` is off).
    public let theta: [Tensor]
    /// Contract v2 gates the plugin declares (`InnerContract.swift`): the decay gate w_α [D, H], β_α [H]
    /// and one (w_r, β_r) per declared rate; nil / empty otherwise.
    public let decayGate: (w: Tensor, b: Tensor)?, rateGates: [(w: Tensor, b: Tensor)]
    /// What the plugin declared (gates, loss, timing).
    public let features: InnerFeatures
    let specs: [InnerParamSpec]
    /// The inner optimizer's extra state (momentum, …): zeros per sequence, after θ in the state.
    let optSpecs: [InnerParamSpec]

    public var H: Int { config.heads }
    public var d: Int { config.headDim }
    public var D: Int { config.width }
    public var b: Int { opts.miniBatch }
    public var baseLR: Float { opts.baseLR ?? inner.defaultBaseLR }
    /// ρ = ttt_lr_mult (docs/ttt.md §1.4), starts at `config.ttt.lrMult`; a trainer may change it per step
    /// (TTT-MLP warmup, docs/ttt.md §3). Must be 1 at inference.
    public var lrMult: Float
    /// Test-only fault injected into a shared stage's backward (TTTStages.swift; negative controls); nil in normal use.
    var stageBackwardFault: StageBackwardFault? = nil
    /// Test-only fault injected into the fused backward (negative controls); nil in normal use.
    var fusedBackwardFault: FusedBackwardFault? = nil
    /// Test hook: a fault inside the fused training kernel (`FusedTraining`, negative controls); nil in normal use.
    public var fusedFault: FusedFault? = nil
    /// Test-only fault of the rematerialising node (negative control): the gradient arriving at a
    /// mini-batch's end state is dropped. False in normal use.
    var rematDropsStateGradient = false
    /// The fused training node's θ-snapshot buffer, reused across steps once its graph is gone (TTTTraining.swift).
    var trainingWorkspace: FastBuffer? = nil
    /// Test-only fault (negative control): reuse that buffer even while a graph still holds it. False in normal use.
    var snapshotReuseFault = false

    public init(config: LayerConfig, inner: InnerModel.Type, rng: inout RNG) throws {
        var config = config
        inner.configure(&config)                       // options the inner model requires
        try config.validate()
        self.config = config
        self.kernels = config.kernels
        self.inner = inner
        self.lrMult = config.ttt.lrMult
        let (D, H, d, b, k) = (config.width, config.heads, config.headDim, config.ttt.miniBatch, config.convWidth)
        let mamba = config.ttt.backbone == .mamba
        wq = Init.normal([D, D], rng: &rng)
        wk = mamba ? nil : Init.normal([D, D], rng: &rng)
        wv = Init.normal([D, D], rng: &rng)
        wo = Init.normal([D, D], rng: &rng)
        wg = mamba ? Init.normal([D, D], rng: &rng) : nil
        // flax lecun_normal for the convs: variance 1/k (docs/ttt.md §1.1).
        convQ = mamba ? (Init.normal([k, D], std: 1 / Float(k).squareRoot(), rng: &rng), Init.zeros([D])) : nil
        convK = mamba ? (Init.normal([k, D], std: 1 / Float(k).squareRoot(), rng: &rng), Init.zeros([D])) : nil
        lrWeight = Init.normal([D, H], rng: &rng)
        lrBias = Init.zeros([H])
        tokenIdx = Init.zeros([b])
        innerGamma = Init.ones([H, d]); innerBeta = Init.zeros([H, d])
        postGamma = Init.ones([D]); postBeta = Init.zeros([D])
        specs = inner.parameters(headDim: d)
        optSpecs = inner.optimizerState(headDim: d)
        var th: [Tensor] = []
        for s in specs {
            let frozen = !config.ttt.learnableW0 || (s.isBias && !config.ttt.innerBias)
            if frozen || s.initStd == 0 { th.append(frozen ? Tensor(zeros: [H] + s.shape) : Init.zeros([H] + s.shape)) }
            else { th.append(Init.normal([H] + s.shape, std: s.initStd, rng: &rng)) }
        }
        theta = th
        // After every first-contract draw, so layers without gates initialise bit-identically.
        let f = inner.features
        features = f
        decayGate = f.decayGate ? (Init.normal([D, H], rng: &rng), Tensor(repeating: f.decayInitBias, shape: [H]).requiringGrad()) : nil
        rateGates = f.rates.map { (Init.normal([D, H], rng: &rng), Tensor(repeating: $0.initBias, shape: [H]).requiringGrad()) }
    }

    public var parameters: [Param] {
        var p: [Param] = [.linear("q_proj.weight", wq)]
        if let wk { p.append(.linear("k_proj.weight", wk)) }
        p += [.linear("v_proj.weight", wv), .linear("o_proj.weight", wo)]
        if let wg { p.append(.linear("g_proj.weight", wg)) }
        if let convQ, let convK {
            p += [Param("conv_q.weight", convQ.w, transposeInFile: true, fileShape: [D, 1, config.convWidth]), Param("conv_q.bias", convQ.b),
                  Param("conv_k.weight", convK.w, transposeInFile: true, fileShape: [D, 1, config.convWidth]), Param("conv_k.bias", convK.b)]
        }
        p += [Param("learnable_ttt_lr_weight", lrWeight, transposeInFile: true, fileShape: [H, 1, D]),
              Param("learnable_ttt_lr_bias", lrBias, fileShape: [H, 1]),
              Param("learnable_token_idx", tokenIdx),
              Param("ttt_norm_weight", innerGamma), Param("ttt_norm_bias", innerBeta),
              Param("post_norm.weight", postGamma), Param("post_norm.bias", postBeta)]
        for (s, t) in zip(specs, theta) where t.requiresGrad { p.append(Param(s.name, t)) }
        if let g = decayGate { p += [Param("decay_gate.weight", g.w), Param("decay_gate.bias", g.b)] }
        for (r, g) in zip(features.rates, rateGates) { p += [Param("\(r.name)_gate.weight", g.w), Param("\(r.name)_gate.bias", g.b)] }
        return p
    }

    // MARK: pieces shared by prefill and decode

    /// A per-head gate's pre-activation h·w + β as [B·H, t, 1].
    func gateLogits(_ h: Tensor, _ g: (w: Tensor, b: Tensor)) -> Tensor {
        let (B, t) = (h.dim(0), h.dim(1))
        return (matmul(h, g.w) + g.b).permute([0, 2, 1]).reshape([B * H, t, 1])
    }

    /// Contract v2 gates for h [B, t, D]: log α_t = log σ(·) [B·H, t, 1] (nil without a decay gate),
    /// the declared rates σ(·) by name, and η with the step-scaling rates folded in.
    func tokenGates(_ h: Tensor, eta: Tensor) -> (logDecay: Tensor?, rates: [String: Tensor], eta: Tensor) {
        let logDecay = decayGate.map { -((gateLogits(h, $0) * -1).softplus()) }
        var rates: [String: Tensor] = [:], e = eta
        for (r, g) in zip(features.rates, rateGates) {
            let v = gateLogits(h, g).sigmoid()
            rates[r.name] = v
            if r.scalesStep { e = e * v }
        }
        return (logDecay, rates, e)
    }

    /// c_i = max(0, 1/i + λ_i), i = 1…b (or 1 when token scaling is off): [b].
    func tokenScale() -> Tensor {
        if !opts.tokenScaling { return Tensor(repeating: 1, shape: [b]) }
        let inv = Tensor((1...b).map { 1 / Float($0) }, shape: [b])
        return (inv + tokenIdx).relu()
    }

    /// Per-head tensor [H, …] replicated over the batch: [B·H, …] (differentiable).
    func perSequence(_ p: Tensor, batch: Int) -> Tensor {
        let rest = Array(p.shape.dropFirst())
        return p.reshape([1, H] + rest).broadcast(to: [batch, H] + rest).reshape([batch * H] + rest)
    }

    /// γ, β of the inner LN as [B·H, 1, d].
    func innerNorm(batch: Int) -> (Tensor, Tensor) {
        (perSequence(innerGamma.reshape([H, 1, d]), batch: batch), perSequence(innerBeta.reshape([H, 1, d]), batch: batch))
    }

    /// δ = ∂ℓ/∂z for the plugin's inner loss: ½‖f(k) − v‖² by the fused LN+L2 backward (or z − target
    /// without the inner LN); the inner-product and custom losses through `layerNormBackward`.
    func deltaFunction(target: Tensor, gamma: Tensor, beta: Tensor) -> (Tensor) -> Tensor {
        let dldy: (Tensor) -> Tensor
        switch features.loss {
        case .squared:
            if opts.innerLN { return { z in lnL2Backward(z, target: target, gamma: gamma, beta: beta) } }
            return { z in z - target }
        case .negativeInnerProduct: dldy = { _ in target * -1 }
        case .custom: dldy = { [inner] y in inner.innerLossDerivative(y, target: target) }
        }
        if opts.innerLN { return { z in layerNormBackward(z, gamma: gamma, beta: beta, dldy: dldy) } }
        return dldy
    }

    /// The inner loss's target v − k (inner residual on) or v (docs/ttt.md §1.5).
    func innerTarget(v: Tensor, k: Tensor) -> Tensor { opts.innerResidual ? v - k : v }

    /// out = q + LN(z) (either part can be off).
    public func innerOutput(q: Tensor, z: Tensor, gamma: Tensor, beta: Tensor) -> Tensor {
        let y = opts.innerLN ? z.layerNorm(gamma: gamma, beta: beta) : z
        return opts.innerResidual ? q + y : y
    }

    /// concat heads → LN_post → (gate) → ·Wo (docs/ttt.md §1.9) for per-head outputs o [B·H, t, d]: the
    /// layer's one post-stage (`postStage`, TTTStages.swift).
    public func outputProjection(_ o: Tensor, h: Tensor) -> Tensor {
        postStage(o.mergeHeads(H), h: h)
    }

    /// Mini-batch sizes covering t tokens from `start` (aligned to multiples of b).
    func miniBatches(from start: Int, count t: Int) -> [(lo: Int, hi: Int)] {
        var r: [(Int, Int)] = []
        var lo = 0
        while lo < t { let hi = min(t, lo + b - (start + lo) % b); r.append((lo, hi)); lo = hi }
        return r
    }

    // MARK: prefill / training

    /// What the inner loop sees for a sequence batch: per-head views after RoPE, the gated rates
    /// η_j, the token scales c_i and the inner LN's γ, β (exposed so studies can run reference
    /// inner loops on exactly the same inputs).
    public struct MixerInputs {
        public let q: Tensor, k: Tensor, v: Tensor   // [B·H, T, d]
        public let eta: Tensor                       // [B·H, T, 1]
        public let c: Tensor                         // [b]
        public let gamma: Tensor, beta: Tensor       // [B·H, 1, d]
        /// Contract v2: log α_t [B·H, T, 1] of the decay gate (nil without one) and the declared rates
        /// [B·H, T, 1] by name (step-scaling rates are already folded into `eta`).
        public let logDecay: Tensor?, rates: [String: Tensor]
        public init(q: Tensor, k: Tensor, v: Tensor, eta: Tensor, c: Tensor, gamma: Tensor, beta: Tensor,
                    logDecay: Tensor? = nil, rates: [String: Tensor] = [:]) {
            self.q = q; self.k = k; self.v = v; self.eta = eta; self.c = c; self.gamma = gamma; self.beta = beta
            self.logDecay = logDecay; self.rates = rates
        }
    }

    /// Projections, RoPE at t mod b, η and c for h [B, T, D] (docs/ttt.md §1.2–1.4).
    public func mixerInputs(_ h: Tensor) -> MixerInputs {
        var none: Tensor? = nil
        return mixerInputs(h, start: 0, convHistory: &none)
    }

    /// The inner loop's inputs for h [B, t, D] starting at absolute position `start`: the layer's one pre-stage
    /// (`preStage`, TTTStages.swift: projections, the Mamba backbone's convs advancing `convHistory`, RoPE at
    /// (start + j) mod b, η) split into heads, with the contract v2 gates layered after it, c and the inner
    /// LN's γ, β. `ropePositions` overrides the RoPE positions (studies and tests).
    func mixerInputs(_ h: Tensor, start: Int, ropePositions: [Int]? = nil, convHistory: inout Tensor?) -> MixerInputs {
        let (B, T) = (h.dim(0), h.dim(1))
        let p = preStage(h, start: start, ropePositions: ropePositions, convHistory: &convHistory)
        let (q, k, v) = (p.q.splitHeads(H), p.k.splitHeads(H), p.v.splitHeads(H))
        let eta = p.eta.permute([0, 2, 1]).reshape([B * H, T, 1])           // [B, t, H] → [B·H, t, 1]
        let (gamma, beta) = innerNorm(batch: B)
        if !features.usesGatesOrTiming {
            return MixerInputs(q: q, k: k, v: v, eta: eta, c: tokenScale(), gamma: gamma, beta: beta)
        }
        let g = tokenGates(h, eta: eta)
        return MixerInputs(q: q, k: k, v: v, eta: g.eta, c: tokenScale(), gamma: gamma, beta: beta, logDecay: g.logDecay, rates: g.rates)
    }

    /// θ_init replicated per sequence: [B·H, …] for each inner parameter, then the optimizer state (zeros).
    public func initialState(batch: Int) -> [Tensor] {
        theta.map { perSequence($0, batch: batch) } + optSpecs.map { Tensor(zeros: [batch * H] + $0.shape) }
    }

    /// The inner loop over all mini-batches (dual or primal form): per-head outputs q + LN(z), [B·H, T, d].
    public func innerLoop(_ m: MixerInputs, batch: Int) -> Tensor {
        if let np = inner as? NonparametricInnerModel.Type { return memoryLoop(m, np) }
        return miniBatchLoop(initialState(batch: batch), m, spans: miniBatches(from: 0, count: m.q.dim(1)))
    }

    /// Runs the mini-batches `spans` in order from the state θ⁰, each from the state the previous one
    /// left; `atStart` sees the state at each mini-batch's start (the rematerialising node keeps them).
    /// Returns the outputs q + LN(z) of all of them, [B·H, T, d].
    func miniBatchLoop(_ θ0: [Tensor], _ m: MixerInputs, spans: [(lo: Int, hi: Int)],
                       atStart: ([Tensor]) -> Void = { _ in }) -> Tensor {
        var θ = θ0
        var outs: [Tensor] = []
        for (lo, hi) in spans {
            atStart(θ)
            let o: Tensor
            (o, θ) = innerMiniBatch(θ, m, lo, hi)
            outs.append(o)
        }
        return outs.count == 1 ? outs[0] : concat(outs, axis: 1)
    }

    /// Tokens lo..<hi of the inner loop's inputs: q, k, the target v − k (or v) [B·H, n, d], c [1, n, 1]
    /// and η [B·H, n, 1].
    func miniBatchInputs(_ m: MixerInputs, _ lo: Int, _ hi: Int) -> (q: Tensor, k: Tensor, target: Tensor, c: Tensor, eta: Tensor) {
        let n = hi - lo
        let qb = m.q.slice(axis: 1, lo, hi), kb = m.k.slice(axis: 1, lo, hi), vb = m.v.slice(axis: 1, lo, hi)
        return (qb, kb, innerTarget(v: vb, k: kb), m.c.slice(axis: 0, 0, n).reshape([1, n, 1]), m.eta.slice(axis: 1, lo, hi))
    }

    /// One mini-batch (tokens lo..<hi) of the inner loop from the state θ at its start: the outputs
    /// q + LN(z) [B·H, hi − lo, d] and the state after it (dual or primal form; contract v2 paths in
    /// TTTLayer+Gates.swift).
    func innerMiniBatch(_ θ0: [Tensor], _ m: MixerInputs, _ lo: Int, _ hi: Int) -> (Tensor, [Tensor]) {
        if features.usesGatesOrTiming { return gatedMiniBatch(θ0, m, lo, hi) }
        var θ = θ0
        let (qb, kb, target, cb, etab) = miniBatchInputs(m, lo, hi)
        let delta = deltaFunction(target: target, gamma: m.gamma, beta: m.beta)
        var z: Tensor
        if opts.dual, let r = inner.dual(θ, q: qb, k: kb, E: cb * etab.transpose(), bias: opts.innerBias, delta: delta) {
            z = r.z; θ = r.next
        } else {
            (z, θ) = primalMiniBatch(θ, q: qb, k: kb, eta: etab, c: cb, delta: delta)
        }
        return (innerOutput(q: qb, z: z, gamma: m.gamma, beta: m.beta), θ)
    }

    /// Parallel (dual-form) forward: h [B, T, D] → [B, T, D]. Differentiable.
    public func callAsFunction(_ h: Tensor) -> Tensor {
        if fusedInference, let y = fusedForward(h) { return y }              // no-grad fused path (TTTFused.swift)
        let m = mixerInputs(h), B = h.dim(0)
        // The fused training node (TTTTraining.swift), else the rematerialising node for other plugins
        // (TTTLayer+Remat.swift), else op by op.
        let o = fusedInnerLoop(m, batch: B) ?? rematInnerLoop(m, batch: B) ?? innerLoop(m, batch: B)
        return outputProjection(o, h: h)
    }

    /// Primal form of one mini-batch (docs/ttt.md §1.6): θ_i = θ⁰ − c_i·Σ_{j≤i} η_j G_j(θ⁰), z_i = f_res(q_i; θ_i).
    func primalMiniBatch(_ θ0: [Tensor], q: Tensor, k: Tensor, eta: Tensor, c: Tensor,
                         delta: (Tensor) -> Tensor) -> (Tensor, [Tensor]) {
        let n = k.dim(1)
        let D = delta(inner.forward(k, θ0))                                // gradients all taken at θ⁰
        var acc: [Tensor]? = nil
        var zs: [Tensor] = [], θi = θ0
        for i in 0..<n {
            let g = inner.gradient(k.slice(axis: 1, i, i + 1), θ0, delta: D.slice(axis: 1, i, i + 1),
                                   weights: eta.slice(axis: 1, i, i + 1))
            acc = acc.map { zip($0, g).map { $0 + $1 } } ?? g
            let ci = c.slice(axis: 1, i, i + 1).reshape([1])
            θi = updated(θ0, step: acc!.map { $0 * ci })
            zs.append(inner.forward(q.slice(axis: 1, i, i + 1), θi))
        }
        return (concat(zs, axis: 1), θi)
    }

    /// True when parameter j is a bias and biases are switched off (it stays zero).
    public func frozenBias(_ j: Int) -> Bool { j < specs.count && specs[j].isBias && !opts.innerBias }

    /// The plugin's update rule (default θ⁰ − step, docs/ttt.md §1.6) with frozen biases' steps zeroed.
    func updated(_ θ0: [Tensor], step: [Tensor]) -> [Tensor] {
        let s = step.indices.map { frozenBias($0) ? Tensor(zeros: step[$0].shape) : step[$0] }
        return inner.update(θ0, step: s)
    }

    // MARK: decode (docs/ttt.md §2)

    /// Decode cache: θ_start and gated-gradient accumulators per sequence×head, conv history.
    public final class State: LayerState {
        public internal(set) var position = 0
        var thetaStart: [Tensor]
        var acc: [Tensor]
        var convHistory: Tensor?
        /// Contract v2: Σ log α since the mini-batch start [B·H, 1, 1] (nil at its start or without a decay gate).
        var logDecay: Tensor?
        init(thetaStart: [Tensor], parameters p: Int, convHistory: Tensor?) {
            self.thetaStart = thetaStart
            self.acc = thetaStart.prefix(p).map { Tensor(zeros: $0.shape) }
            self.convHistory = convHistory
        }
        public var bytes: Int { 4 * ((thetaStart + acc).reduce(0) { $0 + $1.count } + (convHistory?.count ?? 0)) }
    }

    public func makeState(batch: Int) -> LayerState {
        withNoGrad {
            let conv = opts.backbone == .mamba ? Tensor(zeros: [batch, config.convWidth - 1, D]) : nil
            if inner is NonparametricInnerModel.Type { return MemoryState(convHistory: conv) }
            return State(thetaStart: initialState(batch: batch).map { $0.copy() }, parameters: specs.count, convHistory: conv)
        }
    }

    /// Token-by-token primal form from the cache (docs/ttt.md §2). x [B, t, D] → [B, t, D].
    public func step(_ h: Tensor, state: LayerState) -> Tensor {
        if let ms = state as? MemoryState, let np = inner as? NonparametricInnerModel.Type { return memoryStep(h, ms, np) }
        guard let st = state as? State else { preconditionFailure("TTTLayer.step: state of another layer kind") }
        if features.usesGatesOrTiming { return gatedStep(h, state: st) }              // TTTLayer+Gates.swift
        if kernels == .fused, let y = withNoGrad({ fusedStep(h, state: st) }) { return y }  // TTTFused.swift
        return withNoGrad {
            let t = h.dim(1)
            let m = mixerInputs(h, start: st.position, convHistory: &st.convHistory)
            let (q, k, v, eta, c, gamma, beta) = (m.q, m.k, m.v, m.eta, m.c, m.gamma, m.beta)
            var outs: [Tensor] = []
            for j in 0..<t {
                let i = st.position % b                                     // 0-based index in the mini-batch
                let qj = q.slice(axis: 1, j, j + 1), kj = k.slice(axis: 1, j, j + 1), vj = v.slice(axis: 1, j, j + 1)
                let target = innerTarget(v: vj, k: kj)
                let dz = deltaFunction(target: target, gamma: gamma, beta: beta)(inner.forward(kj, st.thetaStart))
                let g = inner.gradient(kj, st.thetaStart, delta: dz, weights: eta.slice(axis: 1, j, j + 1))
                st.acc = zip(st.acc, g).map { $0 + $1 }
                let ci = c.data[i]
                let θ = updated(st.thetaStart, step: st.acc.map { $0 * ci })
                outs.append(innerOutput(q: qj, z: inner.forward(qj, θ), gamma: gamma, beta: beta))
                st.position += 1
                if i == b - 1 {                                              // commit at the end of the mini-batch
                    st.thetaStart = θ
                    st.acc = st.acc.map { Tensor(zeros: $0.shape) }
                }
            }
            return outputProjection(outs.count == 1 ? outs[0] : concat(outs, axis: 1), h: h)
        }
    }

    // MARK: accounting (docs/ttt.md §5)

    /// Projections 8D² (Q, K|gate, V, O) + lr gate 2DH (+ convs 4Dk) + the inner loop over H heads.
    public func flopsPerToken(context: Int) -> Double {
        let bEff = min(b, max(context, 1))
        var f = Double(8 * D * D + 2 * D * H * (1 + (features.decayGate ? 1 : 0) + features.rates.count))
        if opts.backbone == .mamba { f += Double(4 * D * config.convWidth) }
        if let np = inner as? NonparametricInnerModel.Type { return f + Double(H) * np.predictFlopsPerToken(d: d, context: max(context, 1)) }
        return f + Double(H) * inner.innerFlopsPerToken(d: d, b: bEff, dual: opts.dual)
    }

    /// θ (and optimizer state) plus the gradient accumulators, plus the conv history; a
    /// nonparametric learner's memory grows with the context.
    public func stateBytes(context: Int) -> Int {
        let conv = opts.backbone == .mamba ? (config.convWidth - 1) * D : 0
        if let np = inner as? NonparametricInnerModel.Type { return 4 * (H * context * np.memoryFloatsPerToken(d: d) + conv) }
        return 4 * (H * (inner.stateFloats(d: d) + inner.accumulatorFloats(d: d)) + conv)
    }
}
