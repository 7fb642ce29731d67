// InnerModel.swift — the plugin contract for the TTT layer's hidden state (docs/ttt.md §1.5–1.8).
import TensorCore

/// One per-head parameter of an inner model (official PyTorch name and per-head shape).
public struct InnerParamSpec: Sendable {
    public let name: String
    /// Shape for one head (the layer prepends H): e.g. `[d, d]` for `W1`, `[1, d]` for `b1`.
    public let shape: [Int]
    /// Bias terms are switched off together by `TTTOptions.innerBias = false`.
    public let isBias: Bool
    /// Init standard deviation (0 → zeros).
    public let initStd: Float
    public init(_ name: String, _ shape: [Int], isBias: Bool = false, initStd: Float = 0.02) {
        self.name = name; self.shape = shape; self.isBias = isBias; self.initStd = isBias ? 0 : initStd
    }
}

/// A TTT inner model `f_res(x; θ)`: its state θ is learned at test time by gradient steps on
/// `ℓ = ½‖f(k) − v‖²` (or the loss it declares in `features`). The lab owns everything around it — mini-batching, η and the gate, c_i,
/// inner LN and residual, RoPE, decode state — so a plugin only describes the model itself.
///
/// All tensors are batched over N = B·H (sequences × heads). Every function must be built from
/// differentiable TensorCore ops: training differentiates through the inner loop.
///
/// Required: `name`, `parameters(headDim:)`, `forward`. Optional, with defaults:
/// * `gradient` — derived by reverse-mode autodiff of `forward` when not written by hand, in
///   create-graph mode while training records, so outer gradients through it are exact (second
///   order). Hand-write it only for speed.
/// * `dual` — nil: the layer uses the primal form.
/// * `optimizerState` + `update` — extra inner-optimizer state (momentum) and the update rule;
///   default plain mini-batch GD `θ_i = θ⁰ − step_i` (docs/ttt.md §1.6).
/// * `configure` — layer options the model requires (e.g. no inner LN/residual for DeltaNet).
/// * contract v2 (InnerContract.swift): `features` declares a decay gate, per-token rates, the inner
///   loss (`.squared`, `.negativeInnerProduct`, `.custom` with `innerLoss`) and the update timing
///   (`.causalMiniBatch`, `.applyThenUpdate`); `update(_:step:gates:)` and `dual(…, gates:, delta:)`
///   see the gates.
/// * `innerFlopsPerToken`, `summary`, `defaultBaseLR`.
///
/// **State layout.** The layer's inner state is `parameters ++ optimizerState` (in that order):
/// `forward`, `gradient` and `dual` receive all of it and read the parameters by index; `gradient`
/// returns one tensor per *parameter*; `update` and `dual` return the full state.
///
/// ```swift
/// enum MyInner: InnerModel {
///     static let name = "my-model"
///     static func parameters(headDim d: Int) -> [InnerParamSpec] { [.init("W1", [d, d]), .init("b1", [1, d], isBias: true)] }
///     static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor { matmul(x, θ[0]) + θ[1] }
///     static func gradient(_ x: Tensor, _ θ: [Tensor], delta: Tensor, weights: Tensor) -> [Tensor] {
///         [matmul(x * weights, delta, transA: true), (delta * weights).sum(axis: 1, keepDims: true)]
///     }
/// }
/// ```
public protocol InnerModel {
    /// Registry name ("linear", "mlp", …); the layer is registered as "ttt-<name>".
    static var name: String { get }
    /// One line for `lab layers`.
    static var summary: String { get }
    /// η_base of docs/ttt.md §1.4 (1.0 for TTT-Linear, 0.1 for TTT-MLP).
    static var defaultBaseLR: Float { get }
    /// Where the outer trainer's ρ (ttt_lr_mult) warmup starts, ramping to 1 over the LR warmup (docs/ttt.md §3:
    /// 0.1 for TTT-MLP); nil for no warmup. Default: nil.
    static var lrMultWarmupStart: Float? { get }
    /// Per-head parameters θ_init (official names), in the order `forward` takes them.
    static func parameters(headDim d: Int) -> [InnerParamSpec]
    /// z = f_res(x; θ): x [N, n, d], θ[i] [N, shape_i] → z [N, n, d].
    static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor
    /// Σ_j w_j ∇_θ ℓ_j at θ, where δ_j = ∂ℓ_j/∂z_j: x, delta [N, n, d]; weights [N, n, 1] → one tensor
    /// per parameter. Optional: the default derives it by autodiff (exact in training too).
    static func gradient(_ x: Tensor, _ θ: [Tensor], delta: Tensor, weights: Tensor) -> [Tensor]
    /// Dual form of one mini-batch (docs/ttt.md §1.7–1.8), or nil to let the layer use the primal form.
    /// q, k [N, b, d]; E [N, b, b] with E_ij = c_i·η_j; `delta(z)` = ∂ℓ/∂z. Returns the pre-LN outputs
    /// for the queries [N, b, d] and the end-of-mini-batch state. `bias: false` keeps biases at zero.
    static func dual(_ θ: [Tensor], q: Tensor, k: Tensor, E: Tensor, bias: Bool,
                     delta: (Tensor) -> Tensor) -> (z: Tensor, next: [Tensor])?
    /// Analytic inner-loop FLOPs per token per head (docs/ttt.md §5).
    static func innerFlopsPerToken(d: Int, b: Int, dual: Bool) -> Double
    /// Extra per-head state of the inner optimizer (momentum buffers, …), zeros at the start of each
    /// sequence, never learned by the outer loop. It follows the parameters in the state. Default: none.
    static func optimizerState(headDim d: Int) -> [InnerParamSpec]
    /// The state used for token i of a mini-batch, from the state at the mini-batch start `θ⁰`
    /// (parameters ++ optimizer state) and the plain GD step `step_i = c_i·Σ_{j≤i} η_j ∇ℓ_j(θ⁰)`
    /// (one tensor per parameter). The state after the last token starts the next mini-batch, in
    /// prefill and in decode alike. Default (docs/ttt.md §1.6): `θ_i = θ⁰ − step_i`.
    static func update(_ θ0: [Tensor], step: [Tensor]) -> [Tensor]
    /// Layer options this model requires; `TTTLayer.init` applies them over the caller's.
    /// Default: none.
    static func configure(_ config: inout LayerConfig)

    // Contract v2 (InnerContract.swift); every member has a default, so first-contract plugins compile unchanged.

    /// Gates, inner loss and update timing this model asks for. Default: none, ½‖f(k) − v‖², causal.
    static var features: InnerFeatures { get }
    /// `update` with the token's gates (decay product A_i [N, 1, 1], rates [N, 1, 1]). Default:
    /// A_i θ⁰ − step with a decay gate, else `update(_:step:)`.
    static func update(_ θ0: [Tensor], step: [Tensor], gates: TokenGates) -> [Tensor]
    /// `dual` with the mini-batch's gates ([N, b, 1] each) and a decay-weighted E. Default: the
    /// first-contract `dual` when no gates or timing are declared, else nil (primal form).
    static func dual(_ θ: [Tensor], q: Tensor, k: Tensor, E: Tensor, bias: Bool, gates: TokenGates,
                     delta: (Tensor) -> Tensor) -> (z: Tensor, next: [Tensor])?
    /// Per-token loss [N, n, 1] for `features.loss == .custom`.
    static func innerLoss(_ y: Tensor, target: Tensor) -> Tensor
    /// Its derivative ∂ℓ/∂y (default: by autodiff of `innerLoss`).
    static func innerLossDerivative(_ y: Tensor, target: Tensor) -> Tensor
}

extension InnerModel {
    public static var summary: String { "inner model \(name)" }
    public static var defaultBaseLR: Float { 1.0 }
    public static var lrMultWarmupStart: Float? { nil }
    public static func dual(_ θ: [Tensor], q: Tensor, k: Tensor, E: Tensor, bias: Bool,
                            delta: (Tensor) -> Tensor) -> (z: Tensor, next: [Tensor])? { nil }
    public static func optimizerState(headDim d: Int) -> [InnerParamSpec] { [] }
    public static func update(_ θ0: [Tensor], step: [Tensor]) -> [Tensor] {
        θ0.indices.map { $0 < step.count ? θ0[$0] - step[$0] : θ0[$0] }
    }
    public static func configure(_ config: inout LayerConfig) {}
    /// A rough default: two passes of `forward`'s cost are unknown to the lab, so 0 (override it).
    public static func innerFlopsPerToken(d: Int, b: Int, dual: Bool) -> Double { 0 }

    /// Derived gradient (the default when a plugin does not write one): `Σ_j w_j J_jᵀ δ_j` by
    /// reverse-mode autodiff of `Σ ⟨w ⊙ δ, forward(x; θ)⟩`. Exact, also in the outer graph: while
    /// training records, it is taken in create-graph mode (`gradientInGraph`), so the outer backward
    /// differentiates through it as through a hand-written one (second order, exact outer gradients).
    public static func gradient(_ x: Tensor, _ θ: [Tensor], delta: Tensor, weights: Tensor) -> [Tensor] {
        derivedGradient(x, θ, delta: delta, weights: weights)
    }

    /// `gradient` by autodiff (see the default `gradient`); callable from a hand-written one. Recorded,
    /// it joins the outer graph through nodes named ``derivedGradientOp``; `stopGradients` records the
    /// ops of its sweep without a graph VJP (`lab plugin check`).
    public static func derivedGradient(_ x: Tensor, _ θ: [Tensor], delta: Tensor, weights: Tensor,
                                       stopGradients: StopGradients? = nil) -> [Tensor] {
        let p = parameters(headDim: x.dim(-1)).count
        let u = delta * weights                                           // recorded when training
        return gradientInGraph(at: Array(θ.prefix(p)) + [x, u] + θ.dropFirst(p), wrt: p,
                               joinedAs: derivedGradientOp, stopGradients: stopGradients) { v in
            (forward(v[p], Array(v.prefix(p)) + v.dropFirst(p + 2)) * v[p + 1]).sum()
        }
    }

    /// True when `gradient` is hand-written (overridden); false when the lab derives it from `forward`.
    /// Either way it carries the outer graph (see `gradient`).
    public static var gradientIsHandWritten: Bool {
        if self is NonparametricInnerModel.Type { return true }
        let d = 2
        let θ = (parameters(headDim: d) + optimizerState(headDim: d)).map { Tensor(repeating: 0.1, shape: [1] + $0.shape).requiringGrad() }
        let x = Tensor([0.3, -0.2], shape: [1, 1, d]).requiringGrad(), w = Tensor(repeating: 1, shape: [1, 1, 1]).requiringGrad()
        // Recorded, a derived gradient is joined to its inputs by `derivedGradient`'s nodes: look for them.
        let saved = GradMode.enabled
        GradMode.enabled = true
        defer { GradMode.enabled = saved }
        return !graphOps(of: gradient(x, θ, delta: x, weights: w)).contains(derivedGradientOp)
    }

    /// State floats per head: parameters and optimizer state (decode also keeps a gradient
    /// accumulator of the parameters' size).
    public static func stateFloats(d: Int) -> Int {
        (parameters(headDim: d) + optimizerState(headDim: d)).reduce(0) { $0 + $1.shape.reduce(1, *) }
    }
    /// Floats per head of the gradient accumulator decode keeps.
    public static func accumulatorFloats(d: Int) -> Int { parameters(headDim: d).reduce(0) { $0 + $1.shape.reduce(1, *) } }
    /// The decode state per head, in words, for `lab layers`.
    public static func stateDescription(d: Int) -> String {
        if let np = self as? NonparametricInnerModel.Type { return np.memoryDescription(d: d) }
        return "\(stateFloats(d: d)) (fixed)"
    }
    public static var hasDual: Bool {
        if self is NonparametricInnerModel.Type { return false }
        let d = 2, one = Tensor(zeros: [1, 1, d])
        let θ = (parameters(headDim: d) + optimizerState(headDim: d)).map { Tensor(zeros: [1] + $0.shape) }
        let f = features
        var rates: [String: Tensor] = [:]
        for r in f.rates { rates[r.name] = Tensor(repeating: 1, shape: [1, 1, 1]) }
        let gates = TokenGates(decay: f.decayGate ? Tensor(repeating: 1, shape: [1, 1, 1]) : nil, rates: rates)
        return withNoGrad { dual(θ, q: one, k: one, E: Tensor(zeros: [1, 1, 1]), bias: true, gates: gates, delta: { $0 }) } != nil
    }
}

/// The name of the nodes joining a derived inner gradient to the outer graph (how
/// `gradientIsHandWritten` tells a derived gradient from a hand-written one).
public let derivedGradientOp = "derivedGradient"

/// The name of the nodes joining a derived inner-loss derivative to the outer graph.
public let derivedLossDerivativeOp = "derivedLossDerivative"

/// ∂ℓ/∂z of `ℓ = ½‖LN_{γ,β}(z) − target‖²` (the fused LN+L2 backward, docs/ttt.md §1.5), from differentiable ops:
/// `δ = (m·g − Σg − ẑ·Σ(g ẑ)) / (m·s)` with `g = (LN(z) − target)·γ`.
/// z, target [N, n, m]; gamma, beta broadcastable to [N, 1, m].
public func lnL2Backward(_ z: Tensor, target: Tensor, gamma: Tensor, beta: Tensor, eps: Float = 1e-6) -> Tensor {
    let m = Float(z.dim(-1))
    let mu = z.mean(axis: -1, keepDims: true)
    let xc = z - mu
    let rstd = ((xc * xc).mean(axis: -1, keepDims: true) + eps).rsqrt()
    let zhat = xc * rstd
    let g = (zhat * gamma + beta - target) * gamma
    let num = g * m - g.sum(axis: -1, keepDims: true) - zhat * (g * zhat).sum(axis: -1, keepDims: true)
    return num * rstd * (1 / m)
}

/// A nonparametric inner learner (paper Theorem 2, docs/ttt.md §4): its state is the growing list of past
/// training pairs — key view k_s, label y_s (the lab's target, `v − k` with the residual, else `v`)
/// and gated rate η_s. "Training" appends a pair; the prediction reads the whole memory. The TTT
/// layer runs such a learner on its own path: prefill is one causal, attention-like computation over
/// the sequence and decode keeps the memory (its state grows by one pair per token). There is no θ,
/// no gradient, no mini-batch step and no c_i; RoPE at t mod b, η, inner LN/residual, post-norm and
/// the output projection are the layer's, as for any plugin.
///
/// ```swift
/// enum KernelInner: NonparametricInnerModel {
///     static let name = "kernel"
///     static func predict(_ q: Tensor, keys: Tensor, labels: Tensor, eta: Tensor) -> Tensor { … }
///     static func predictFlopsPerToken(d: Int, context: Int) -> Double { Double(4 * d * context) }
/// }
/// ```
public protocol NonparametricInnerModel: InnerModel {
    /// Predictions z for n queries q [N, n, d] from a memory of m ≥ n pairs: keys, labels [N, m, d],
    /// eta [N, m, 1]. The queries are the last n tokens of the memory: query i (0-based) may read
    /// rows 0…m−n+i only (causal). Differentiable in every input.
    static func predict(_ q: Tensor, keys: Tensor, labels: Tensor, eta: Tensor) -> Tensor
    /// Analytic FLOPs per token per head with `context` tokens in memory.
    static func predictFlopsPerToken(d: Int, context: Int) -> Double
    /// Floats stored per token per head (default 2d + 1: key, label, η).
    static func memoryFloatsPerToken(d: Int) -> Int
}

extension NonparametricInnerModel {
    public static func parameters(headDim d: Int) -> [InnerParamSpec] { [] }
    public static func memoryFloatsPerToken(d: Int) -> Int { 2 * d + 1 }
    /// Not used: a nonparametric learner has no θ (the layer calls `predict`).
    public static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor {
        preconditionFailure("\(name) is nonparametric: the TTT layer calls predict(_:keys:labels:eta:), not forward")
    }
    public static func gradient(_ x: Tensor, _ θ: [Tensor], delta: Tensor, weights: Tensor) -> [Tensor] { [] }
    public static func innerFlopsPerToken(d: Int, b: Int, dual: Bool) -> Double { predictFlopsPerToken(d: d, context: b) }
    public static func memoryDescription(d: Int) -> String { "\(memoryFloatsPerToken(d: d))·t (grows with context t)" }
}

/// Boolean causal mask for n queries over m memory rows as an additive [n, m] tensor: 0 where
/// query i may read row s (s ≤ m − n + i), −∞ elsewhere.
public func memoryCausalMask(queries n: Int, memory m: Int) -> Tensor {
    let mask = Tensor(zeros: [n, m])
    for i in 0..<n { for s in max(0, m - n + i + 1)..<max(m, m - n + i + 1) { mask.data[i * m + s] = -.infinity } }
    return mask
}
