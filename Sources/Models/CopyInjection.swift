// CopyInjection.swift — copied spans pasted into a fraction of the training windows from a step on: the
// perplexity study's fallback when a model has not learned to copy by half its budget (its go/no-go gate).
// Deterministic: which windows and where is a function of (seed, step, window) only.
import Layers
import TensorCore

/// From `fromStep` on, each training window is, with probability `fraction`, given a copy: `span` bytes
/// from its first half pasted further on (inputs and targets stay the window's bytes shifted by one).
///
/// ```swift
/// var tc = TrainConfig(steps: 11_200, batch: 2, context: 1024, lr: 3e-3)
/// tc.copyInjection = CopyInjection(fromStep: 5_600, fraction: 0.25, span: 128)
/// ```
public struct CopyInjection: Codable, Equatable, Sendable {
    public var fromStep: Int
    public var fraction: Double
    public var span: Int

    public init(fromStep: Int, fraction: Double, span: Int) { self.fromStep = fromStep; self.fraction = fraction; self.span = span }

    public func validate(context T: Int) throws {
        guard fromStep >= 0 else { throw LabError.badConfig("copy injection starts at step \(fromStep) — use a step ≥ 0") }
        guard fraction >= 0 && fraction <= 1 else { throw LabError.badConfig("copy injection fraction \(fraction) is not in [0, 1]") }
        guard span >= 1 && 2 * span <= T else { throw LabError.badConfig("copy span \(span) must be in 1…\(T / 2) (half the context \(T))") }
    }

    /// The copies of one step, in place: per window, (source start, destination start) or nil.
    @discardableResult
    public func apply(inputs x: inout [Int], targets y: inout [Int], batch B: Int, context T: Int, seed: UInt64, step: Int) -> [(Int, Int)?] {
        guard step >= fromStep, span >= 1, 2 * span <= T else { return Array(repeating: nil, count: B) }
        var rng = RNG(seed: seed ^ 0xC0_9E5_9A75 ^ (UInt64(step) &* 0x9E37_79B9_7F4A_7C15))
        var out: [(Int, Int)?] = []
        for b in 0..<B {
            let u = Double(rng.next() >> 11) / Double(1 << 53)
            let src = Int(rng.next() % UInt64(T / 2 - span + 1))                    // in the first half
            let lo = src + span, hi = T - span                                        // after the source, inside the window
            let dst = lo + Int(rng.next() % UInt64(hi - lo + 1))
            guard u < fraction else { out.append(nil); continue }
            // The window's T + 1 bytes: inputs, then the last target.
            var w = Array(x[(b * T)..<((b + 1) * T)]); w.append(y[(b + 1) * T - 1])
            for j in 0..<span { w[dst + j] = w[src + j] }
            for t in 0..<T { x[b * T + t] = w[t]; y[b * T + t] = w[t + 1] }
            out.append((src, dst))
        }
        return out
    }
}
