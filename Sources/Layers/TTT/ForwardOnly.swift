// ForwardOnly.swift — any inner model with only its `forward`: what a researcher who writes just the
// model gets (derived, create-graph inner gradient; primal form; the rematerialising training node).
import TensorCore

/// `Base` with its hand-written gradient and dual form removed: the lab derives the inner gradient
/// from `forward` (exact in outer training, `HigherOrder.swift`) and runs the primal form. Registered
/// as "<base>-forward-only" only where asked (benchmarks, tests), to price a forward-only plugin.
///
/// ```swift
/// let layer = try TTTLayer(config: LayerConfig(width: 64, heads: 4), inner: MLPInner.forwardOnly, rng: &rng)
/// ```
public enum ForwardOnly<Base: InnerModel>: InnerModel {
    public static var name: String { Base.name + "-forward-only" }
    public static var summary: String { Base.summary + " (forward only: derived gradient, primal form)" }
    public static var defaultBaseLR: Float { Base.defaultBaseLR }
    public static var lrMultWarmupStart: Float? { Base.lrMultWarmupStart }
    public static var features: InnerFeatures { Base.features }
    public static func parameters(headDim d: Int) -> [InnerParamSpec] { Base.parameters(headDim: d) }
    public static func optimizerState(headDim d: Int) -> [InnerParamSpec] { Base.optimizerState(headDim: d) }
    public static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor { Base.forward(x, θ) }
    public static func update(_ θ0: [Tensor], step: [Tensor]) -> [Tensor] { Base.update(θ0, step: step) }
    public static func update(_ θ0: [Tensor], step: [Tensor], gates: TokenGates) -> [Tensor] { Base.update(θ0, step: step, gates: gates) }
    public static func innerLoss(_ y: Tensor, target: Tensor) -> Tensor { Base.innerLoss(y, target: target) }
    public static func innerLossDerivative(_ y: Tensor, target: Tensor) -> Tensor { Base.innerLossDerivative(y, target: target) }
    public static func configure(_ config: inout LayerConfig) { Base.configure(&config) }
    public static func innerFlopsPerToken(d: Int, b: Int, dual: Bool) -> Double { Base.innerFlopsPerToken(d: d, b: b, dual: false) }
}

extension InnerModel {
    /// `ForwardOnly<Self>`, also for a plugin known only at run time (`inner.forwardOnly`).
    public static var forwardOnly: InnerModel.Type { ForwardOnly<Self>.self }
}
