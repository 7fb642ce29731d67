// KernelPath.swift — which implementation of a layer runs: the readable reference or the fused kernels.
//
// Every layer folder (Sources/Layers/<Layer>/) holds a `reference` (the paper's equations as tensor ops,
// differentiated op by op by the autodiff graph) and `fused` kernels over raw buffers (a no-grad forward for
// prefill/decode and, where declared, a training forward+backward recorded as one autodiff node). Which one
// runs is the layer's `kernels` value — set from `LayerConfig.kernels` at construction, changeable on the
// instance — never a global switch. A fused kernel declares the options it supports (`FusedTraining`) and
// the layer falls back to the reference for anything else.
import TensorCore

/// The implementation a layer runs.
///
/// ```swift
/// var cfg = LayerConfig(width: 64, heads: 4)
/// cfg.kernels = .reference                           // readable tensor-op path, autodiff op by op
/// let ref = try LayerRegistry.make("ttt-linear", cfg, seed: 0)
/// let fused = try LayerRegistry.make("ttt-linear", LayerConfig(width: 64, heads: 4), seed: 0)   // .fused (default)
/// ```
public enum KernelPath: String, Codable, Sendable, CaseIterable {
    /// The paper-equation tensor code; training differentiates it op by op.
    case reference
    /// Raw-buffer kernels: no-grad prefill/decode, and one autodiff node per layer for training where the
    /// layer's `FusedTraining` conformance supports the configuration (reference otherwise).
    case fused
}

/// A named change to a layer's options. Layers list the ones their fused kernels support, and the
/// generated fused ≡ reference test runs every layer under each of them.
public struct LayerOption: Sendable, CustomStringConvertible {
    public let name: String
    public let apply: @Sendable (inout LayerConfig) -> Void
    public init(_ name: String, _ apply: @escaping @Sendable (inout LayerConfig) -> Void) { self.name = name; self.apply = apply }
    public var description: String { name }
}

/// A layer whose fused kernels include training (forward + hand-written backward as one autodiff node).
///
/// ```swift
/// extension SelfAttention: FusedTraining {
///     public static var fusedOptions: [LayerOption] { [LayerOption("rope theta 500") { $0.ropeTheta = 500 }] }
///     public var fusedTrainingSupported: Bool { true }
/// }
/// ```
public protocol FusedTraining: SequenceLayer {
    /// Option changes (from the default `LayerConfig`) the fused training kernel supports; each is tested
    /// against the reference by the generated test.
    static var fusedOptions: [LayerOption] { get }
    /// True when this instance's configuration trains on the fused kernel (otherwise on the reference).
    var fusedTrainingSupported: Bool { get }
    /// Test hook: a deliberate error inside this instance's fused training kernel, for negative-control tests
    /// (the generated fused ≡ reference test sets it on every fused case). nil, the default, in normal use.
    var fusedFault: FusedFault? { get set }
    /// The parameter whose gradient a `.backward` fault corrupts: it reaches the loss only through the fused
    /// node's input whose gradient that fault scales.
    var fusedFaultTarget: String { get }
}

/// A deliberate error inside a fused training kernel (`FusedTraining.fusedFault`), for negative controls:
/// the fused ≡ reference comparison must fail on the tensor it corrupts. Each is 1 % (`size`) of the value.
///
/// ```swift
/// layer.fusedFault = .backward      // the next fused backward scales dL/d(queries) by 1.01
/// ```
public enum FusedFault: Sendable, Equatable, CaseIterable {
    /// The fused forward — the training node and the no-grad prefill/decode kernels — scales every odd feature
    /// of its mixing output by 1 + `size` (not a uniform scale or shift, which a following LayerNorm would hide).
    case forward
    /// The fused backward scales the gradient it returns for one input (`fusedFaultTarget`'s) by 1 + `size`.
    case backward

    /// Relative size of the injected error.
    public static let size: Float = 1e-2

    /// Applies a `.forward` fault to a fused output in place (no-op for any other value).
    static func corruptOutput(_ t: Tensor, _ fault: FusedFault?) {
        guard fault == .forward, let last = t.shape.last, last > 1 else { return }
        for i in 0..<t.count where (i % last) % 2 == 1 { t.data[i] *= 1 + size }
    }

    /// Applies a `.backward` fault to a gradient in place (no-op for any other value).
    static func corruptGradient(_ g: Tensor, _ fault: FusedFault?) {
        guard fault == .backward else { return }
        for i in 0..<g.count { g.data[i] *= 1 + size }
    }
}

extension SequenceLayer {
    /// Runs `body` with this layer on the given kernels, then restores its own choice.
    ///
    /// ```swift
    /// let yRef = layer.withKernels(.reference) { withNoGrad { layer(x) } }
    /// ```
    public func withKernels<R>(_ path: KernelPath, _ body: () throws -> R) rethrows -> R {
        let saved = kernels
        kernels = path
        defer { kernels = saved }
        return try body()
    }

    /// True when the no-grad fused forward/decode may run now (fused kernels chosen, no gradient being recorded).
    public var fusedInference: Bool { kernels == .fused && !GradMode.enabled }
}

/// Tile and chunk sizes of a layer's fused kernels, per instance (`TiledKernels.tiles`): they change speed and
/// the rounding of the sums, never what is computed. Tests shrink them so that short sequences cross every
/// tile boundary with a ragged last tile; `lab bench layers --attention-tiles` tries others.
///
/// ```swift
/// var tiles = FusedTiles(); tiles.attentionQuery = 64; tiles.attentionKey = 128
/// (layer as? TiledKernels)?.tiles = tiles
/// ```
public struct FusedTiles: Sendable, Equatable {
    /// Softmax attention: query and key tile of the forward (no-grad and training), tile of the training backward.
    public var attentionQuery = 128, attentionKey = 256, attentionBackward = 128
    /// Linear attention: chunk of the no-grad path (32: the c×c×d intra-chunk products stay below the d×d
    /// ones at d = 64) and of the training kernel (64: there they cost as much as the d×d state products).
    public var linearChunk = 32, linearTrainChunk = 64
    /// Mamba: tokens between the saved scan states of the training kernel.
    public var mambaScanChunk = 64
    public init() {}
}

/// A layer whose fused kernels are tiled or chunked (`FusedTiles`).
public protocol TiledKernels: AnyObject {
    /// This instance's tile and chunk sizes (default `FusedTiles()`).
    var tiles: FusedTiles { get set }
}
