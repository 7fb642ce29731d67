// InnerModel.swift — the plugin contract for the TTT layer's hidden state (spec §1.5–1.8).
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
/// `ℓ = ½‖f(k) − v‖²`. The lab owns everything around it — mini-batching, η and the gate, c_i,
/// inner LN and residual, RoPE, decode state — so a plugin only describes the model itself.
///
/// All tensors are batched over N = B·H (sequences × heads). Every function must be built from
/// differentiable TensorCore ops: training differentiates through the inner loop.
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
    /// η_base of spec §1.4 (1.0 for TTT-Linear, 0.1 for TTT-MLP).
    static var defaultBaseLR: Float { get }
    /// Per-head parameters θ_init (official names), in the order `forward` takes them.
    static func parameters(headDim d: Int) -> [InnerParamSpec]
    /// z = f_res(x; θ): x [N, n, d], θ[i] [N, shape_i] → z [N, n, d].
    static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor
    /// Σ_j w_j ∇_θ ℓ_j at θ, where δ_j = ∂ℓ_j/∂z_j: x, delta [N, n, d]; weights [N, n, 1] → shapes of θ.
    static func gradient(_ x: Tensor, _ θ: [Tensor], delta: Tensor, weights: Tensor) -> [Tensor]
    /// Dual form of one mini-batch (spec §1.7–1.8), or nil to let the layer use the primal form.
    /// q, k [N, b, d]; E [N, b, b] with E_ij = c_i·η_j; `delta(z)` = ∂ℓ/∂z. Returns the pre-LN outputs
    /// for the queries [N, b, d] and the end-of-mini-batch state. `bias: false` keeps biases at zero.
    static func dual(_ θ: [Tensor], q: Tensor, k: Tensor, E: Tensor, bias: Bool,
                     delta: (Tensor) -> Tensor) -> (z: Tensor, next: [Tensor])?
    /// Analytic inner-loop FLOPs per token per head (spec §5).
    static func innerFlopsPerToken(d: Int, b: Int, dual: Bool) -> Double
}

extension InnerModel {
    public static var summary: String { "inner model \(name)" }
    public static var defaultBaseLR: Float { 1.0 }
    public static func dual(_ θ: [Tensor], q: Tensor, k: Tensor, E: Tensor, bias: Bool,
                            delta: (Tensor) -> Tensor) -> (z: Tensor, next: [Tensor])? { nil }
    /// State floats per head (θ only; decode also keeps an accumulator of the same size).
    public static func stateFloats(d: Int) -> Int { parameters(headDim: d).reduce(0) { $0 + $1.shape.reduce(1, *) } }
    public static var hasDual: Bool {
        let d = 2, one = Tensor(zeros: [1, 1, d])
        let θ = parameters(headDim: d).map { Tensor(zeros: [1] + $0.shape) }
        return withNoGrad { dual(θ, q: one, k: one, E: Tensor(zeros: [1, 1, 1]), bias: true, delta: { $0 }) } != nil
    }
}

/// ∂ℓ/∂z of `ℓ = ½‖LN_{γ,β}(z) − target‖²` (the fused LN+L2 backward, spec §1.5), from differentiable ops:
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
