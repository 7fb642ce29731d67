// Claims.swift — the paper's equivalence claims as checks with negative controls (docs/ttt.md §2, §4;
// docs/baselines.md §2–3). Each check compares a lab layer against an independent reference on the same
// inputs; each control breaks one condition of the claim and must NOT match.
import Layers
import TensorCore
import Zoo

/// Error of `a` against a reference `r`: max |a − r| and that divided by max |r|.
public struct ErrorPair: Sendable {
    public let maxAbs: Float
    public let maxRel: Float
    public init(_ a: Tensor, _ r: Tensor) {
        precondition(a.shape == r.shape, "compare: \(a.shape) vs \(r.shape)")
        var e: Float = 0, m: Float = 0
        for i in 0..<a.count {
            let d = abs(a.data[i] - r.data[i])
            e = d.isNaN ? .infinity : max(e, d); m = max(m, abs(r.data[i]))
        }
        maxAbs = e; maxRel = e / max(m, 1e-30)
    }
}

/// One setting of a claim: sequence length, mini-batch size, seed.
public struct Setting: Sendable { public let T: Int; public let b: Int; public let seed: UInt64 }

/// A claim, its tolerance on the relative error, and its negative controls.
public struct Claim: Sendable {
    public let id: String
    public let statement: String
    public let reference: String
    /// Pass when max relative error ≤ tolerance.
    public let tolerance: Float
    public let controls: [String]
    /// Mini-batch sizes to run at a given T (claims that fix b return one value).
    public let miniBatches: @Sendable (Int) -> [Int]
    /// Main error, then one error per control (in `controls` order).
    public let run: @Sendable (Setting) throws -> (ErrorPair, [ErrorPair])
    /// A control passes (fails to match) when its relative error exceeds this.
    public var controlThreshold: Float { max(10 * tolerance, 1e-3) }
}

/// Shapes and helpers shared by the checks.
enum Bench {
    static let width = 32, heads = 4, batch = 2

    static func input(_ s: Setting) -> Tensor {
        var rng = RNG(seed: 1000 &+ s.seed)
        return Tensor.randn([batch, s.T, width], rng: &rng)
    }

    /// Replaces every parameter with random values of a scale where the inner loop matters:
    /// matrices N(0, 1/fan_in), norm weights 1 + N(0, 0.1²), biases N(0, 0.1²), and the token-scale
    /// offsets λ N(0, 0.01²): larger λ can push c_b = max(0, 1/b + λ_b) to 0, which freezes the state across
    /// mini-batches (the decode control then cannot see a reset).
    static func randomize(_ layer: SequenceLayer, seed: UInt64) {
        var rng = RNG(seed: 77 &+ seed)
        for p in layer.parameters {
            let t = p.tensor
            let isNormWeight = p.name.contains("norm") && !p.name.contains("bias") || p.name == "D"
            let std: Float = t.rank >= 2 && !isNormWeight ? 1 / Float(t.shape[t.rank - 2]).squareRoot()
                : p.name == "learnable_token_idx" ? 0.01 : 0.1
            for i in 0..<t.count { t.data[i] = (isNormWeight ? 1 : 0) + std * rng.normal() }
        }
    }

    static func ttt(_ inner: String, b: Int, seed: UInt64, _ edit: (inout TTTOptions) -> Void = { _ in }) throws -> TTTLayer {
        var cfg = LayerConfig(width: width, heads: heads)
        cfg.ttt.miniBatch = b
        edit(&cfg.ttt)
        var rng = RNG(seed: seed)
        let layer = try TTTLayer(config: cfg, inner: try InnerModelRegistry.named(inner), rng: &rng)
        randomize(layer, seed: seed)
        return layer
    }

    /// Copies parameters with equal names and shapes from `src` into `dst`.
    static func copyShared(from src: SequenceLayer, to dst: SequenceLayer) {
        for p in dst.parameters { if let s = src.parameter(p.name), s.shape == p.tensor.shape { p.tensor.data.update(from: s.data, count: s.count) } }
    }

    /// Theorem 1's conditions: linear inner model, no LN/residual/bias, W₀ = 0, c_i = 1, η = 1
    /// (the ½-loss form), no RoPE, no post-norm.
    static func theorem1(_ o: inout TTTOptions) {
        o.innerLN = false; o.innerResidual = false; o.innerBias = false; o.learnableW0 = false
        o.tokenScaling = false; o.fixedEta = 1; o.rope = false; o.postNorm = false
    }

    /// DeltaNet's conditions: as Theorem 1 but with the learnable gate as β_t.
    static func deltaNet(_ o: inout TTTOptions) {
        o.innerLN = false; o.innerResidual = false; o.innerBias = false; o.learnableW0 = false
        o.tokenScaling = false; o.rope = false; o.postNorm = false
    }

    /// Decode token by token from an empty state; `resetAt` starts a fresh state there (control).
    static func decode(_ layer: SequenceLayer, _ x: Tensor, resetAt: Int? = nil) -> Tensor {
        var st = layer.makeState(batch: x.dim(0))
        var outs: [Tensor] = []
        for t in 0..<x.dim(1) {
            if t == resetAt { st = layer.makeState(batch: x.dim(0)) }
            outs.append(layer.step(x.slicedRaw(axis: 1, t, t + 1), state: st))
        }
        return concat(outs, axis: 1)
    }
}

/// What an inner-loop claim sees: its setting, the bench input x, one randomized TTT layer built by name
/// at the setting's mini-batch size, and that layer's mixer inputs (q, k, v, η, gates) on x.
struct InnerLoopBench {
    let setting: Setting, x: Tensor, layer: TTTLayer, inputs: TTTLayer.MixerInputs

    /// The layer's inner loop on `m` (default: its own inputs).
    func loop(_ m: TTTLayer.MixerInputs? = nil) -> Tensor { layer.innerLoop(m ?? inputs, batch: x.dim(0)) }
    /// Another layer's inner loop on its own mixer inputs of x.
    func loop(of other: TTTLayer) -> Tensor { other.innerLoop(other.mixerInputs(x), batch: x.dim(0)) }
    /// Another randomized TTT layer at mini-batch `b`, from the same seed.
    func ttt(_ inner: String, b: Int, _ edit: (inout TTTOptions) -> Void = { _ in }) throws -> TTTLayer {
        try Bench.ttt(inner, b: b, seed: setting.seed, edit)
    }
}

extension Claim {
    /// The claim builder shared by the paper's and the family's inner-loop claims: the TTT layer over the
    /// plugin `inner` (with `options`) at each mini-batch size `miniBatches` gives, and `check` comparing its
    /// inner loop with a reference, run without recording.
    ///
    /// ```swift
    /// Claim.innerLoop(id: "deltanet", statement: "…", reference: "…", tolerance: 5e-5, controls: ["b = 2"],
    ///                 inner: "linear", miniBatches: { _ in [1] }, options: { Bench.deltaNet(&$0) }) { t in
    ///     let ref = Reference.deltaRule(q: t.inputs.q, k: t.inputs.k, v: t.inputs.v, beta: t.inputs.eta)
    ///     return (ErrorPair(t.loop(), ref), [ErrorPair(t.loop(of: try t.ttt("linear", b: 2, Bench.deltaNet)), ref)])
    /// }
    /// ```
    static func innerLoop(id: String, statement: String, reference: String, tolerance: Float, controls: [String],
                          inner: String, miniBatches: @escaping @Sendable (Int) -> [Int],
                          options: @escaping @Sendable (inout TTTOptions) -> Void = { _ in },
                          _ check: @escaping @Sendable (InnerLoopBench) throws -> (ErrorPair, [ErrorPair])) -> Claim {
        Claim(id: id, statement: statement, reference: reference, tolerance: tolerance, controls: controls,
              miniBatches: miniBatches) { s in
            let x = Bench.input(s)
            let layer = try Bench.ttt(inner, b: s.b, seed: s.seed, options)
            return try withNoGrad { try check(InnerLoopBench(setting: s, x: x, layer: layer, inputs: layer.mixerInputs(x))) }
        }
    }
}

public enum EquivalenceClaims {
    /// All claims, in the order of the issue.
    public static let all: [Claim] = [theorem1, theorem2, theorem2Layer, dual("linear"), dual("mlp"), online("linear"), online("mlp"),
                                      batchGD("linear"), batchGD("mlp"), deltaNet, linearAttentionForms]
        + family
        + (LayerRegistry.paper + LayerRegistry.paperTTTMamba).map(\.name).map(decodeEqualsPrefill)

    /// 1. Theorem 1: TTT-Linear with batch GD from W₀ = 0, no LN/residual ≡ simplest linear attention.
    static let theorem1 = Claim(
        id: "thm1-linear-attention",
        statement: "TTT with a linear inner model, W₀ = 0, batch GD (b = T), c_i = 1, η = 1 (½-loss), no LN/residual/bias ≡ causal linear attention, simplest form",
        reference: "paper Theorem 1 (§2.4); docs/ttt.md §4", tolerance: 2e-5,
        controls: ["W₀ ≠ 0", "online GD (b = 1)", "inner LN on"],
        miniBatches: { [$0] }) { s in
            let x = Bench.input(s)
            var rng = RNG(seed: s.seed)
            var la = LayerConfig(width: Bench.width, heads: Bench.heads); la.linearAttention.variant = "simple"
            let linear = try LinearAttention(config: la, rng: &rng)
            linear.form = .recurrent      // the RNN form S_t = S_{t−1} + k_tᵀv_t, z_t = q_t·S_t: no shared arithmetic with the dual form
            Bench.randomize(linear, seed: s.seed)
            func run(_ b: Int, _ edit: (inout TTTOptions) -> Void) throws -> ErrorPair {
                let ttt = try Bench.ttt("linear", b: b, seed: s.seed) { Bench.theorem1(&$0); edit(&$0) }
                Bench.copyShared(from: linear, to: ttt)
                return withNoGrad { ErrorPair(ttt(x), linear(x)) }
            }
            return (try run(s.T) { _ in }, [try run(s.T) { $0.learnableW0 = true }, try run(1) { _ in }, try run(s.T) { $0.innerLN = true }])
        }

    /// 2. Theorem 2: the Nadaraya–Watson learner (state = list of past tokens) ≡ causal softmax attention.
    static let theorem2 = Claim(
        id: "thm2-self-attention",
        statement: "TTT with the Nadaraya–Watson learner, κ ∝ exp(k_s·q_t), labels v_s (state = all past tokens) ≡ causal softmax self-attention",
        reference: "paper Theorem 2 (§2.6, App. B); docs/baselines.md §1", tolerance: 2e-5,
        controls: ["symmetric kernel exp(k_s·k_t)", "kernel without exp (uniform weights)"],
        miniBatches: { _ in [1] }) { s in
            let x = Bench.input(s)
            var rng = RNG(seed: s.seed)
            let attn = try SelfAttention(config: LayerConfig(width: Bench.width, heads: Bench.heads), rng: &rng)
            Bench.randomize(attn, seed: s.seed)
            return withNoGrad {
                let (H, d) = (Bench.heads, Bench.width / Bench.heads)
                let pos = Array(0..<s.T)
                // The learner's views: query and key through θ_Q, θ_K (with the layer's RoPE), the 1/√d scale folded into θ_Q.
                let q = rope(matmul(x, attn.wq).splitHeads(H), positions: pos) * (1 / Float(d).squareRoot())
                let k = rope(matmul(x, attn.wk).splitHeads(H), positions: pos)
                let v = matmul(x, attn.wv).splitHeads(H)
                func layerOut(_ z: Tensor) -> Tensor { matmul(z.mergeHeads(H), attn.wo) }
                let y = attn(x)
                let main = ErrorPair(y, layerOut(Reference.nadarayaWatson(q: q, k: k, v: v)))
                let sym = ErrorPair(y, layerOut(Reference.nadarayaWatson(q: k * (1 / Float(d).squareRoot()), k: k, v: v)))
                let flat = ErrorPair(y, layerOut(Reference.nadarayaWatson(q: q, k: k, v: v, kernel: { _ in 1 })))
                return (main, [sym, flat])
            }
        }

    /// 2b. Theorem 2 at the layer level: the TTT layer over the `nadaraya-watson` inner-model plugin
    /// (memory state, fixed η, no inner LN/residual, no post-norm, b ≥ T) ≡ the SelfAttention layer.
    static let theorem2Layer = Claim(
        id: "thm2-nw-plugin-layer",
        statement: "The TTT layer with the nadaraya-watson plugin (state = all past tokens; fixed η, no inner LN/residual, no post-norm, b = T) ≡ the causal softmax self-attention layer with the same q/k/v/o weights",
        reference: "paper Theorem 2; Plugins/NadarayaWatson", tolerance: 2e-5,
        controls: ["inner residual on", "b = T/2 (RoPE phases restart)"],
        miniBatches: { [$0] }) { s in
            let x = Bench.input(s)
            var rng = RNG(seed: s.seed)
            let attn = try SelfAttention(config: LayerConfig(width: Bench.width, heads: Bench.heads), rng: &rng)
            Bench.randomize(attn, seed: s.seed)
            func run(_ b: Int, _ edit: (inout TTTOptions) -> Void) throws -> ErrorPair {
                let nw = try Bench.ttt("nadaraya-watson", b: b, seed: s.seed) {
                    $0.fixedEta = 1; $0.innerLN = false; $0.innerResidual = false; $0.postNorm = false; edit(&$0)
                }
                Bench.copyShared(from: attn, to: nw)
                return withNoGrad { ErrorPair(nw(x), attn(x)) }
            }
            return (try run(s.T) { _ in }, [try run(s.T) { $0.innerResidual = true }, try run(max(1, s.T / 2)) { _ in }])
        }

    /// 3. Dual form ≡ primal form (docs/ttt.md §1.7–1.8).
    static func dual(_ inner: String) -> Claim {
        Claim(id: "dual-primal-\(inner)",
              statement: "TTT-\(inner == "mlp" ? "MLP" : "Linear"): the dual form (prefill/training) ≡ the primal form of mini-batch GD",
              reference: "paper §2.5 and App. A; docs/ttt.md §1.7–1.8", tolerance: 2e-5,
              controls: ["primal with b − 1"],
              miniBatches: { T in [4, 16].filter { $0 <= T } }) { s in
            let x = Bench.input(s)
            let dual = try Bench.ttt(inner, b: s.b, seed: s.seed)
            let primal = try Bench.ttt(inner, b: s.b, seed: s.seed) { $0.dual = false }
            let other = try Bench.ttt(inner, b: s.b - 1, seed: s.seed) { $0.dual = false }
            Bench.copyShared(from: dual, to: other)
            return withNoGrad { let y = dual(x); return (ErrorPair(y, primal(x)), [ErrorPair(y, other(x))]) }
        }
    }

    /// 4a. b = 1 is online GD (docs/ttt.md §4), with the full inner model (LN, residual, bias, learnable η).
    static func online(_ inner: String) -> Claim {
        Claim.innerLoop(id: "b1-online-gd-\(inner)",
              statement: "TTT-\(inner == "mlp" ? "MLP" : "Linear") with b = 1 ≡ online GD, θ_t = θ_{t−1} − η_t∇ℓ(θ_{t−1}; x_t) (gradients by autodiff)",
              reference: "paper Eq. 6 and §2.5; docs/ttt.md §4", tolerance: inner == "mlp" ? 1e-4 : 5e-5,
              controls: ["b = 2"], inner: inner, miniBatches: { _ in [1] }) { t in
            let ref = Reference.onlineGD(t.layer, t.inputs, batch: t.x.dim(0))
            return (ErrorPair(t.loop(), ref), [ErrorPair(t.loop(of: try t.ttt(inner, b: 2)), ref)])
        }
    }

    /// 4b. b = T is batch GD (docs/ttt.md §4): every gradient at θ_0, θ_t = θ_0 − c_t Σ_{s≤t} η_s∇ℓ(θ_0; x_s).
    static func batchGD(_ inner: String) -> Claim {
        Claim.innerLoop(id: "bT-batch-gd-\(inner)",
              statement: "TTT-\(inner == "mlp" ? "MLP" : "Linear") with b = T ≡ batch GD with the running-mean step c_t = 1/t + λ_t (gradients by autodiff)",
              reference: "paper §2.5; docs/ttt.md §4", tolerance: inner == "mlp" ? 1e-4 : 5e-5,
              controls: ["b = T/2"], inner: inner, miniBatches: { [$0] }) { t in
            let m = t.inputs
            let half = try t.ttt(inner, b: max(1, t.setting.T / 2))
            Bench.copyShared(from: t.layer, to: half)
            let ref = Reference.batchGD(t.layer, m, batch: t.x.dim(0))
            let mh = half.mixerInputs(t.x)
            // The control sees the same q, k, v, η as the main check; only the mini-batch size (and its c_i) changes.
            let ctl = half.innerLoop(TTTLayer.MixerInputs(q: m.q, k: m.k, v: m.v, eta: m.eta, c: mh.c, gamma: m.gamma, beta: m.beta), batch: t.x.dim(0))
            return (ErrorPair(t.loop(), ref), [ErrorPair(ctl, ref)])
        }
    }

    /// 5. DeltaNet ≡ TTT-Linear at b = 1 without LN/residual (docs/baselines.md §3).
    static let deltaNet = Claim.innerLoop(
        id: "deltanet",
        statement: "TTT-Linear with b = 1, W₀ = 0, no LN/residual/bias ≡ DeltaNet's delta rule W_t = W_{t−1}(I − β_t k_tᵀk_t) + β_t k_tᵀv_t, β_t = η_t",
        reference: "paper §2.7 (related work); docs/baselines.md §3", tolerance: 5e-5,
        controls: ["b = 2 (mini-batch, not online)"], inner: "linear", miniBatches: { _ in [1] }, options: { Bench.deltaNet(&$0) }) { t in
            let m = t.inputs
            let ref = Reference.deltaRule(q: m.q, k: m.k, v: m.v, beta: m.eta)
            return (ErrorPair(t.loop(), ref), [ErrorPair(t.loop(of: try t.ttt("linear", b: 2, Bench.deltaNet)), ref)])
        }

    /// 6a. Linear attention: parallel ≡ chunked ≡ recurrent (docs/baselines.md §2), both variants.
    static let linearAttentionForms = Claim(
        id: "linear-attention-forms",
        statement: "Linear attention (simplest and elu+1 with normalizer): parallel ≡ chunked (c = 64) ≡ recurrent forms",
        reference: "docs/baselines.md §2", tolerance: 2e-5,
        controls: ["recurrent form of the other variant"],
        miniBatches: { _ in [1] }) { s in
            var rng = RNG(seed: 500 &+ s.seed)
            let shape = [Bench.batch * Bench.heads, s.T, Bench.width / Bench.heads]
            let q = Tensor.randn(shape, std: 0.5, rng: &rng), k = Tensor.randn(shape, std: 0.5, rng: &rng), v = Tensor.randn(shape, rng: &rng)
            return withNoGrad {
                var worstAbs: Float = 0, worstRel: Float = 0
                var control: [ErrorPair] = []
                for variant in LinearAttention.Variant.allCases {
                    let par = LinearAttention.mix(q: q, k: k, v: v, variant: variant, form: .parallel)
                    for form in [LinearAttention.Form.chunked(64), .recurrent] {
                        let e = ErrorPair(LinearAttention.mix(q: q, k: k, v: v, variant: variant, form: form), par)
                        worstAbs = max(worstAbs, e.maxAbs); worstRel = max(worstRel, e.maxRel)
                    }
                    if variant == .simple {
                        control.append(ErrorPair(LinearAttention.mix(q: q, k: k, v: v, variant: .elu, form: .recurrent), par))
                    }
                }
                return (ErrorPair(worstAbs, worstRel), control)
            }
        }

    /// 6b. Decode (recurrent, token by token) ≡ prefill (parallel) for a layer.
    static func decodeEqualsPrefill(_ name: String) -> Claim {
        Claim(id: "decode-\(name)",
              statement: "\(name): token-by-token decode from an empty state ≡ parallel prefill",
              reference: name.hasPrefix("ttt") ? "docs/ttt.md §2" : "docs/baselines.md §\(name == "attention" ? 1 : name == "mamba" ? 4 : 2)",
              tolerance: 2e-5, controls: ["state reset at T/2"],
              miniBatches: { _ in [16] }) { s in
            let x = Bench.input(s)
            var cfg = LayerConfig(width: Bench.width, heads: Bench.heads)
            cfg.ttt.miniBatch = s.b
            let layer = try LayerRegistry.make(name, cfg, seed: s.seed)
            Bench.randomize(layer, seed: s.seed)
            return withNoGrad {
                let y = layer(x)
                return (ErrorPair(Bench.decode(layer, x), y), [ErrorPair(Bench.decode(layer, x, resetAt: s.T / 2), y)])
            }
        }
    }
}

extension ErrorPair {
    init(_ maxAbs: Float, _ maxRel: Float) { self.maxAbs = maxAbs; self.maxRel = maxRel }
}
