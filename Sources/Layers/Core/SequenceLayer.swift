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
