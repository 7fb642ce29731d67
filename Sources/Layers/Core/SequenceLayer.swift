// SequenceLayer.swift — the protocol that sets every sequence mixer of the lab side by side.
import Foundation
import TensorCore

/// Decode state of a sequence layer (KV cache, TTT inner state, SSM state, …) for a batch.
public protocol LayerState: AnyObject {
    /// Tokens processed so far.
    var position: Int { get }
    /// Bytes held by the state right now.
    var bytes: Int { get }
}

/// A causal sequence mixer `[B, T, D] → [B, T, D]`.
///
/// Every layer has a parallel forward (prefill and training, differentiable), a recurrent state with
/// a multi-token `step` (prompt prefill, then one-token decode), named parameters, and analytic
/// FLOP and state-size accounting.
///
/// ```swift
/// let layer = try LayerRegistry.make("ttt-linear", LayerConfig(width: 64, heads: 4), seed: 0)
/// let y = layer(x)                          // x [B, T, D] → y [B, T, D]
/// let state = layer.makeState(batch: B)
/// let y1 = layer.step(x1, state: state)     // x1 [B, t, D], continues from state
/// ```
public protocol SequenceLayer: AnyObject {
    /// Registry name, e.g. "ttt-linear".
    var kind: String { get }
    var config: LayerConfig { get }
    /// Which implementation runs (fused kernels or the readable reference); starts as `config.kernels`.
    var kernels: KernelPath { get set }
    /// Parallel forward over the whole sequence: x [B, T, D] → [B, T, D].
    func callAsFunction(_ x: Tensor) -> Tensor
    /// Parameters in a stable order with their weight-file names and layouts.
    var parameters: [Param] { get }
    /// An empty decode state for `batch` sequences.
    func makeState(batch: Int) -> LayerState
    /// Runs the recurrent form on x [B, t, D] (t ≥ 1), advancing `state`. No gradient.
    func step(_ x: Tensor, state: LayerState) -> Tensor
    /// Analytic forward FLOPs per token at the given context, sequence mixing and projections
    /// included (2 per multiply-add; norms and elementwise ignored).
    func flopsPerToken(context: Int) -> Double
    /// Analytic decode state size in bytes for one sequence after `context` tokens.
    func stateBytes(context: Int) -> Int
}

extension SequenceLayer {
    /// Total number of scalar parameters.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.tensor.count } }
    /// Parameter by weight-file name.
    public func parameter(_ name: String) -> Tensor? { parameters.first { $0.name == name }?.tensor }
}

/// A named parameter. The lab stores linear maps as `[in, out]` (x·W); a weight file may use another
/// layout (PyTorch's `(out, in)`): `transposeInFile` transposes the last two dims of a 2-D tensor on save,
/// then `fileShape` (if set) reshapes it. Loading applies the inverse.
public struct Param {
    public let name: String
    public let tensor: Tensor
    public let transposeInFile: Bool
    public let fileShape: [Int]?
    public init(_ name: String, _ tensor: Tensor, transposeInFile: Bool = false, fileShape: [Int]? = nil) {
        self.name = name; self.tensor = tensor; self.transposeInFile = transposeInFile; self.fileShape = fileShape
        if tensor.name == nil { tensor.name = name }
    }
    /// A `[in, out]` linear weight saved as PyTorch `(out, in)`.
    public static func linear(_ name: String, _ tensor: Tensor) -> Param { Param(name, tensor, transposeInFile: true) }
}

/// Options shared by the layers; each layer reads the fields it needs.
public struct LayerConfig: Codable, Equatable, Sendable {
    /// Model width D.
    public var width: Int
    /// Heads H (head dim d = D/H).
    public var heads: Int
    /// Inner-model plugin for the TTT layer ("linear", "mlp", …).
    public var innerModel: String = "linear"
    /// TTT options (ignored by the other layers).
    public var ttt: TTTOptions = TTTOptions()
    /// Linear attention: "simple" (Theorem 1, no feature map/normalizer) or "elu" (Katharopoulos).
    public var linearAttention: String = "simple"
    /// Linear attention chunk size for the chunked form (0 = parallel form).
    public var chunk: Int = 64
    /// Mamba: expansion E, state N, conv width.
    public var mambaExpand: Int = 2
    public var mambaState: Int = 16
    public var convWidth: Int = 4
    /// RoPE base θ.
    public var ropeTheta: Float = 10000
    /// Attention: a sliding window of W tokens (token t attends to t−W+1…t; the KV cache holds W rows),
    /// nil for full causal attention. Only attention reads it; `LayerSpec.make` refuses it for other layers.
    /// Optional so that configs without it decode and hash unchanged.
    public var window: Int? = nil
    /// Fused kernels (default) or the reference path; an execution choice, not part of the model, so it is
    /// not saved with a checkpoint or hashed into a cache key.
    public var kernels: KernelPath = .fused

    enum CodingKeys: String, CodingKey {
        case width, heads, innerModel, ttt, linearAttention, chunk, mambaExpand, mambaState, convWidth, ropeTheta, window
    }

    public var headDim: Int { width / max(heads, 1) }

    public init(width: Int, heads: Int) { self.width = width; self.heads = heads }

    /// Checks the numbers that must hold for any layer; the message names the fix.
    public func validate() throws {
        guard width > 0 else { throw LabError.badConfig("width D = \(width) must be positive") }
        guard heads > 0 else { throw LabError.badConfig("heads H = \(heads) must be positive") }
        guard width % heads == 0 else {
            throw LabError.badConfig("width D = \(width) is not divisible by heads H = \(heads); choose H dividing D (e.g. H = \(bestHeads(width)))")
        }
        guard headDim % 2 == 0 else { throw LabError.badConfig("head dim d = D/H = \(headDim) must be even for RoPE; change D or H") }
        if let w = window, w < 1 {
            throw LabError.badConfig("sliding window W = \(w) must be ≥ 1 (token t attends to t−W+1…t); omit the window for full attention")
        }
        guard ttt.miniBatch > 0 else { throw LabError.badConfig("mini-batch size b = \(ttt.miniBatch) must be ≥ 1") }
        guard ttt.miniBatch <= 1 << 20 else {
            throw LabError.badConfig("mini-batch size b = \(ttt.miniBatch) is larger than 2^20; use b ≤ T (b ≥ T is batch GD)")
        }
        try validateNumbers()
    }

    /// Bounds for the sizes a config (a flag or a config.json) may give; far beyond any real model, and
    /// small enough that products of them stay far from `Int` overflow.
    public static let maxWidth = 1 << 20, maxMambaExpand = 256, maxMambaState = 1 << 16, maxConvWidth = 1 << 12

    /// The numbers every layer kind reads, range-checked before anything is allocated (also for the Mamba
    /// stack, which does not use the head rules of `validate()`): sizes bounded, learning rates,
    /// multipliers and RoPE θ finite and in range, and the weights of one layer (every tensor that
    /// allocates, Mamba's E·D·N included) within half of this machine's memory.
    public func validateNumbers() throws {
        guard width > 0 else { throw LabError.badConfig("width D = \(width) must be positive") }
        guard width <= LayerConfig.maxWidth else { throw LabError.badConfig("width D = \(width) must be ≤ \(LayerConfig.maxWidth); choose a smaller width") }
        guard (1...LayerConfig.maxMambaExpand).contains(mambaExpand) else {
            throw LabError.badConfig("Mamba expand E = \(mambaExpand) must be in 1…\(LayerConfig.maxMambaExpand) (upstream uses 2)")
        }
        guard (1...LayerConfig.maxMambaState).contains(mambaState) else {
            throw LabError.badConfig("Mamba state N = \(mambaState) must be in 1…\(LayerConfig.maxMambaState) (upstream uses 16)")
        }
        guard (1...LayerConfig.maxConvWidth).contains(convWidth) else {
            throw LabError.badConfig("conv width k = \(convWidth) must be in 1…\(LayerConfig.maxConvWidth) (the paper uses 4)")
        }
        guard chunk >= 0 && chunk <= 1 << 30 else { throw LabError.badConfig("linear attention chunk = \(chunk) must be in 0…2^30 (0 = parallel form)") }
        guard ["simple", "elu"].contains(linearAttention) else {
            throw LabError.badConfig("linear attention variant '\(linearAttention.prefix(40))' is not one the lab has — use simple or elu")
        }
        guard ropeTheta.isFinite && ropeTheta > 0 else {
            throw LabError.badConfig("RoPE θ = \(ropeTheta) must be a finite number > 0 (the paper uses 10000)")
        }
        let maxRate: Float = 1e4
        if let lr = ttt.baseLR, !(lr.isFinite && lr > 0 && lr <= maxRate) {
            throw LabError.badConfig("TTT base learning rate η_base = \(lr) must be finite, > 0 and ≤ \(Int(maxRate)) (the paper uses 1 for linear, 0.1 for MLP)")
        }
        if let eta = ttt.fixedEta, !(eta.isFinite && eta >= 0 && eta <= maxRate) {
            throw LabError.badConfig("fixed inner learning rate η = \(eta) must be finite, ≥ 0 and ≤ \(Int(maxRate))")
        }
        guard ttt.lrMult.isFinite && ttt.lrMult >= 0 && ttt.lrMult <= maxRate else {
            throw LabError.badConfig("TTT learning-rate multiplier ρ = \(ttt.lrMult) must be finite, ≥ 0 and ≤ \(Int(maxRate)) (1 at inference)")
        }
        // Refuse before allocating: no layer here holds more than ~16·D² weights (TTT-MLP with the
        // Mamba backbone: Q, V, O, gate, lr gate, 8·D·d inner state; attention ≈ 4·D²), except Mamba,
        // whose E·D-wide projections and E·D×N state matrix grow with E and N.
        let bytes = 4 * weightFloats
        let available = Double(ProcessInfo.processInfo.physicalMemory)
        guard bytes < available / 2 else {
            throw LabError.badConfig(String(format: "width D = %ld (Mamba E = %ld, N = %ld) needs ≈ %.1f GiB of weights per layer, more than half of this machine's %.1f GiB — choose a smaller width, expand or state size",
                                            width, mambaExpand, mambaState, bytes / 1073741824, available / 1073741824))
        }
    }

    /// An upper bound (in Double: no overflow) on the floats one layer of any kind allocates for its
    /// weights: 16·D² for the TTT and attention layers; for Mamba, in/out projections 3·E·D², x_proj
    /// E·D·(R + 2N), dt_proj R·E·D, A E·D·N, conv E·D·k and the vectors.
    public var weightFloats: Double {
        let D = Double(width), E = Double(mambaExpand), N = Double(mambaState), k = Double(convWidth)
        let R = (D + 15) / 16
        let mamba = 3 * E * D * D + E * D * (R + 2 * N) + R * E * D + E * D * N + E * D * (k + 3)
        return max(16 * D * D, mamba) + 4 * (k + 1) * D
    }
}

func bestHeads(_ d: Int) -> Int { [12, 8, 4, 2, 1].first { d % $0 == 0 && (d / $0) % 2 == 0 } ?? 1 }

/// Options of the TTT layer (docs/ttt.md §1). Defaults are the paper's TTT layer, Transformer backbone.
public struct TTTOptions: Codable, Equatable, Sendable {
    public enum Backbone: String, Codable, Sendable { case transformer, mamba }
    /// Mini-batch size b (docs/ttt.md §1.6). Set ≥ T for batch GD.
    public var miniBatch: Int = 16
    /// Transformer backbone (separate Q/K) or Mamba backbone (shared Q/K + convs + GELU gate), docs/ttt.md §1.2.
    public var backbone: Backbone = .transformer
    /// f(x) = x + LN(f_res(x)); switch off either part (Theorem 1 / DeltaNet need both off).
    public var innerLN: Bool = true
    public var innerResidual: Bool = true
    /// Bias terms in the inner model (Theorem 1 uses none).
    public var innerBias: Bool = true
    /// θ_init learned (true) or fixed at zero (W₀ = 0).
    public var learnableW0: Bool = true
    /// c_i = max(0, 1/i + λ_i) (true) or c_i = 1.
    public var tokenScaling: Bool = true
    /// When set, E_ij = fixedEta · c_i (no gate, no η_base/d); otherwise the learnable gate (docs/ttt.md §1.4).
    public var fixedEta: Float? = nil
    /// η_base; nil takes the plugin's default (1.0 linear, 0.1 MLP).
    public var baseLR: Float? = nil
    /// ρ = ttt_lr_mult (1 at inference).
    public var lrMult: Float = 1
    /// RoPE on q, k within mini-batch positions.
    public var rope: Bool = true
    /// LN over D before the output projection.
    public var postNorm: Bool = true
    /// Prefill with the dual form (true) or the primal form (false).
    public var dual: Bool = true
    public init() {}
}

/// Errors the lab reports as one line with the problem and the fix (exit status 2 in the CLI).
public enum LabError: Error, CustomStringConvertible, Equatable {
    case badConfig(String)
    case unknownName(kind: String, name: String, valid: [String])
    case badFile(path: String, problem: String)
    case missing(String)
    case failed(String)

    public var description: String {
        switch self {
        case .badConfig(let m): return "bad config: \(m)"
        case .unknownName(let kind, let name, let valid):
            let near = nearest(name, valid).map { " Did you mean '\($0)'?" } ?? ""
            return "unknown \(kind) '\(name)'.\(near) Valid: \(valid.joined(separator: ", "))."
        case .badFile(let path, let problem): return "\(path): \(problem)"
        case .missing(let m): return m
        case .failed(let m): return m
        }
    }
}

/// The closest valid name by edit distance (nil when nothing is close).
public func nearest(_ name: String, _ valid: [String]) -> String? {
    func dist(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased()), b = Array(b.lowercased())
        var prev = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return a.isEmpty ? b.count : prev[b.count]
    }
    guard let best = valid.min(by: { dist(name, $0) < dist(name, $1) }) else { return nil }
    return dist(name, best) <= max(2, best.count / 3) ? best : nil
}
