// InnerContract.swift — contract v2 of the inner-model plugin: per-token gates, the inner loss as a
// choice, and the update timing, declared by the plugin in `features` (never discovered by running it).
import TensorCore

/// The inner loss ℓ(y, v) of one token, y the (inner-LN'd) prediction, v the target.
public enum InnerLoss: Sendable, Equatable {
    /// ½‖y − v‖² (TTT; the default).
    case squared
    /// −⟨y, v⟩: the linear-attention view (GLA, LaCT); its gradient does not depend on y.
    case negativeInnerProduct
    /// The plugin's own `innerLoss(_:target:)`, with `innerLossDerivative(_:target:)` (derived by
    /// autodiff when not written).
    case custom
}

/// When the queries of a chunk read the state.
public enum UpdateTiming: Sendable, Equatable {
    /// TTT's causal form (docs/ttt.md §1.6): token i of a mini-batch reads θ_i, which has seen tokens ≤ i.
    case causalMiniBatch
    /// Apply, then update (LaCT): every query of a chunk of b tokens (b = the layer's mini-batch,
    /// up to T) reads the state from before the chunk; the chunk's update then makes the next state.
    case applyThenUpdate
}

/// A per-token rate r_t = σ(h_t·w_r + β_r) ∈ (0, 1) per head, a learned projection of the token
/// like η's gate (layer parameters `<name>_gate.weight` [D, H] and `<name>_gate.bias` [H]).
public struct InnerRate: Sendable, Equatable {
    public let name: String
    /// True: r_t multiplies the token's step size η_t (the delta rule's β_t). False: it is only
    /// handed to `update` and `dual` in `TokenGates.rates` (Titans' momentum and forgetting rates).
    public let scalesStep: Bool
    /// Initial β_r (σ(β_r) is the rate at init).
    public let initBias: Float
    public init(_ name: String, scalesStep: Bool = false, initBias: Float = 0) {
        self.name = name; self.scalesStep = scalesStep; self.initBias = initBias
    }
}

/// What a plugin asks the layer for, declared statically (contract v2). The default asks for
/// nothing: TTT's squared loss and causal mini-batch update, no gates.
///
/// **Decay gate.** α_t = σ(h_t·w_α + β_α) ∈ (0, 1) per head (`decay_gate.weight` [D, H],
/// `decay_gate.bias` [H]). Within a mini-batch that starts at θ⁰, with A_i = Π_{j≤i} α_j, token i's
/// state is "decay, then step", gradients taken at the decayed start:
///
///     θ_i = A_i θ⁰ − c_i Σ_{j≤i} (A_i/A_j) η_j ∇ℓ_j(A_j θ⁰)
///
/// At b = 1 this is θ_t = α_t θ_{t−1} − η_t ∇ℓ_t(α_t θ_{t−1}): the gated delta rule with the
/// squared loss, gated linear attention with the inner-product loss.
///
/// ```swift
/// enum GatedTanh: InnerModel {
///     static let name = "gated-tanh"
///     static let features = InnerFeatures(decayGate: true)
///     static func parameters(headDim d: Int) -> [InnerParamSpec] { [.init("W1", [d, d])] }
///     static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor { matmul(x, θ[0]).tanh() }
/// }
/// ```
public struct InnerFeatures: Sendable, Equatable {
    public var decayGate: Bool
    /// Initial β_α of the decay gate (σ(4) ≈ 0.98: little forgetting at init).
    public var decayInitBias: Float
    public var rates: [InnerRate]
    public var loss: InnerLoss
    public var timing: UpdateTiming
    public init(decayGate: Bool = false, decayInitBias: Float = 4, rates: [InnerRate] = [],
                loss: InnerLoss = .squared, timing: UpdateTiming = .causalMiniBatch) {
        self.decayGate = decayGate; self.decayInitBias = decayInitBias; self.rates = rates
        self.loss = loss; self.timing = timing
    }
    /// True when the layer must run contract v2's paths (gates or timing; the loss alone only changes δ).
    public var usesGatesOrTiming: Bool { decayGate || !rates.isEmpty || timing != .causalMiniBatch }
}

/// The per-token gates of a mini-batch (or of one token, in `update`), batched over N = B·H.
public struct TokenGates {
    /// A = Π α from the mini-batch start through each token, [N, n, 1]; nil without a decay gate.
    public let decay: Tensor?
    /// The declared rates by name, [N, n, 1] each (those that scale the step are already in η).
    public let rates: [String: Tensor]
    public init(decay: Tensor?, rates: [String: Tensor]) { self.decay = decay; self.rates = rates }
    /// No gates.
    public static let none = TokenGates(decay: nil, rates: [:])

    /// t [N, …] scaled per row by a [N, 1, 1] (or [N]) factor.
    public static func scale(_ t: Tensor, by a: Tensor) -> Tensor {
        t * a.reshape([t.dim(0)] + [Int](repeating: 1, count: t.rank - 1))
    }
}

extension InnerModel {
    public static var features: InnerFeatures { InnerFeatures() }

    /// Default rule with gates: θ_i = A_i θ⁰ − step_i on the parameters when there is a decay gate
    /// (the optimizer state is not decayed), else the plugin's `update(_:step:)`.
    public static func update(_ θ0: [Tensor], step: [Tensor], gates: TokenGates) -> [Tensor] {
        guard let a = gates.decay else { return update(θ0, step: step) }
        return θ0.indices.map { $0 < step.count ? TokenGates.scale(θ0[$0], by: a) - step[$0] : θ0[$0] }
    }

    /// Default: the plugin's first-contract `dual` when it declares no gates or timing, else nil (the
    /// layer runs the primal form, which implements them). With gates, `E_ij = c_i η_j A_i/A_j`
    /// (decay-weighted, step-scaling rates folded into η) and the gradients of token j are taken at
    /// A_j θ⁰ (see `InnerFeatures`).
    public static func dual(_ θ: [Tensor], q: Tensor, k: Tensor, E: Tensor, bias: Bool, gates: TokenGates,
                            delta: (Tensor) -> Tensor) -> (z: Tensor, next: [Tensor])? {
        features.usesGatesOrTiming ? nil : dual(θ, q: q, k: k, E: E, bias: bias, delta: delta)
    }

    /// The per-token loss values [N, n, 1] of `features.loss == .custom` (default ½‖y − v‖²).
    public static func innerLoss(_ y: Tensor, target: Tensor) -> Tensor {
        let r = y - target
        return (r * r).sum(axis: -1, keepDims: true) * 0.5
    }

    /// ∂ℓ/∂y of `innerLoss`: by autodiff (exact in outer training too) unless written by hand.
    public static func innerLossDerivative(_ y: Tensor, target: Tensor) -> Tensor {
        derivedInnerLossDerivative(y, target: target)
    }

    /// `innerLossDerivative` by autodiff; recorded, it joins the outer graph through nodes named
    /// `derivedLossDerivativeOp`; `stopGradients` records the ops of its sweep without a graph VJP.
    public static func derivedInnerLossDerivative(_ y: Tensor, target: Tensor, stopGradients: StopGradients? = nil) -> Tensor {
        gradientInGraph(at: [y, target], wrt: 1, joinedAs: derivedLossDerivativeOp, stopGradients: stopGradients) { v in
            innerLoss(v[0], target: v[1]).sum()
        }[0]
    }
}

/// ∂ℓ/∂z of ℓ(LN_{γ,β}(z)) from `dldy` = ∂ℓ/∂y at y = LN(z), from differentiable ops:
/// `δ = (m·g − Σg − ẑ·Σ(g ẑ)) / (m·s)` with `g = dldy(y)·γ`. z [N, n, m].
public func layerNormBackward(_ z: Tensor, gamma: Tensor, beta: Tensor, eps: Float = 1e-6,
                              dldy: (Tensor) -> Tensor) -> Tensor {
    let m = Float(z.dim(-1))
    let mu = z.mean(axis: -1, keepDims: true)
    let xc = z - mu
    let rstd = ((xc * xc).mean(axis: -1, keepDims: true) + eps).rsqrt()
    let zhat = xc * rstd
    let g = dldy(zhat * gamma + beta) * gamma
    let num = g * m - g.sum(axis: -1, keepDims: true) - zhat * (g * zhat).sum(axis: -1, keepDims: true)
    return num * rstd * (1 / m)
}
