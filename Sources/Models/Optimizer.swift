// Optimizer.swift — AdamW, global-norm gradient clipping, warmup + cosine schedule (docs/ttt.md §3, App. C).
import Foundation
import Layers
import TensorCore

/// Learning rate at a step: linear warmup from 0 to `peak` over `warmup` steps, then cosine decay
/// to `floor` at `total` (docs/ttt.md §3: warmup 10% of steps, cosine to 1e-5).
///
///     lr(s) = peak·(s+1)/warmup                                      s < warmup
///     lr(s) = floor + ½(peak − floor)(1 + cos(π·(s − warmup)/(total − warmup)))   otherwise
public struct LRSchedule: Codable, Equatable, Sendable {
    public var peak: Float
    public var floor: Float
    public var warmup: Int
    public var total: Int

    public init(peak: Float, floor: Float = 1e-5, warmup: Int, total: Int) {
        self.peak = peak; self.floor = floor; self.warmup = warmup; self.total = total
    }

    /// The recipe's schedule over `total` steps: warmup = `warmupFraction` of them (rounded, at least 1,
    /// at most `total`), floor = min(`floor`, peak). `lab train` and the studies' own trainers share it.
    ///
    ///     LRSchedule(peak: 3e-3, warmupFraction: 0.1, total: 600).warmup   // 60
    public init(peak: Float, floor: Float = 1e-5, warmupFraction: Double, total: Int) {
        self.init(peak: peak, floor: min(floor, peak), warmup: min(total, max(1, Int((Double(total) * warmupFraction).rounded()))), total: total)
    }

    public func lr(step s: Int) -> Float {
        if s < warmup { return peak * Float(s + 1) / Float(warmup) }
        let span = max(1, total - warmup)
        let p = min(1, Double(s - warmup) / Double(span))
        return floor + Float(0.5 * (1 + cos(Double.pi * p))) * (peak - floor)
    }

    /// Fraction of the warmup done after step s (1 once warmed up); drives the TTT-MLP ρ warmup.
    public func warmupFraction(step s: Int) -> Float { warmup == 0 ? 1 : min(1, Float(s + 1) / Float(warmup)) }
}

/// AdamW with decoupled weight decay on matrices only (optax/PyTorch form):
///
///     m ← β1·m + (1−β1)·g;   v ← β2·v + (1−β2)·g²
///     p ← p − lr·( m/(1−β1ᵗ) / (√(v/(1−β2ᵗ)) + ε) + wd·p )      (wd only where `decays[i]`)
///
/// Gradients are clipped first to a global L2 norm of `clip` (docs/ttt.md §3: 1.0). State (m, v, t) is
/// saved and restored exactly, so a resumed run equals an uninterrupted one bit for bit.
public final class AdamW {
    public let params: [Param]
    public let beta1: Float, beta2: Float, eps: Float, weightDecay: Float, clip: Float
    /// First and second moments, one per parameter.
    public let m: [Tensor], v: [Tensor]
    /// Whether each parameter gets weight decay (see `decays(_:)`).
    public let decays: [Bool]
    /// Updates applied so far (t).
    public internal(set) var t: Int = 0

    public init(params: [Param], beta1: Float = 0.9, beta2: Float = 0.95, eps: Float = 1e-8,
                weightDecay: Float = 0.1, clip: Float = 1.0) {
        self.params = params
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay; self.clip = clip
        m = params.map { Tensor(zeros: $0.tensor.shape) }
        v = params.map { Tensor(zeros: $0.tensor.shape) }
        decays = params.map(AdamW.decays)
    }

    /// Weight decay applies to matrices only: tensors of rank ≥ 2 with no unit dimension, except
    /// norm scales (per-head LN γ is [H, d]) and Mamba's `A_log`. Vectors, biases (TTT `b1` is
    /// [H, 1, d]), norm weights and scalars are not decayed.
    public static func decays(_ p: Param) -> Bool {
        let s = p.tensor.shape
        return s.count >= 2 && !s.contains(1) && !p.name.contains("norm") && !p.name.hasSuffix("A_log")
    }

    /// Global L2 norm of the gradients (missing gradients count as zero), summed in Double in a fixed order.
    public func gradNorm() -> Double {
        // One Double sum per parameter (each in element order), the parameters on separate workers, then
        // added in parameter order: the same bits at any thread count.
        let partial = UnsafeMutableBufferPointer<Double>.allocate(capacity: max(1, params.count))
        defer { partial.deallocate() }
        let ps = partial.baseAddress!
        Parallel.forEach(params.count) { i in
            var s: Double = 0
            if let g = params[i].tensor.grad { for j in 0..<g.count { s += Double(g.data[j]) * Double(g.data[j]) } }
            ps[i] = s
        }
        return partial.reduce(0, +).squareRoot()
    }

    /// Clips, applies one AdamW update at learning rate `lr`, clears the gradients; returns the
    /// gradient norm before clipping.
    @discardableResult
    public func step(lr: Float) -> Double {
        let norm = gradNorm()
        let scale: Float = norm > Double(clip) ? Float(Double(clip) / (norm + 1e-6)) : 1
        t += 1
        let bc1 = 1 - powf(beta1, Float(t)), bc2 = 1 - powf(beta2, Float(t))
        let (b1, b2, eps) = (beta1, beta2, eps)
        // All parameters as one index space split evenly over the workers (most are far too small to split
        // alone); the update is elementwise, so any split gives the same bits.
        var offsets = [0]
        for p in params { offsets.append(offsets.last! + p.tensor.count) }
        let grads = params.map { $0.tensor.grad }
        Parallel.chunks(offsets.last!, minPerThread: 1 << 14) { lo, hi in
            var i = 0
            while offsets[i + 1] <= lo { i += 1 }
            while i < self.params.count && offsets[i] < hi {
                defer { i += 1 }
                // A parameter no gradient reached is skipped, as in PyTorch (no moment update, no decay).
                guard let g = grads[i] else { continue }
                let w = self.params[i].tensor.data, pm = self.m[i].data, pv = self.v[i].data, pg = g.data
                let wd: Float = self.decays[i] ? self.weightDecay : 0
                for j in (max(lo, offsets[i]) - offsets[i])..<(min(hi, offsets[i + 1]) - offsets[i]) {
                    let gj = pg[j] * scale
                    pm[j] = b1 * pm[j] + (1 - b1) * gj
                    pv[j] = b2 * pv[j] + (1 - b2) * gj * gj
                    let upd = (pm[j] / bc1) / ((pv[j] / bc2).squareRoot() + eps) + wd * w[j]
                    w[j] -= lr * upd
                }
            }
        }
        for p in params { p.tensor.zeroGrad() }
        return norm
    }

    // MARK: state

    /// m and v as named tensors (`m.<param>`, `v.<param>`) plus `t` in the metadata.
    public func stateFile() -> SafetensorsFile {
        var tensors: [String: Tensor] = [:]
        for (i, p) in params.enumerated() { tensors["m." + p.name] = m[i]; tensors["v." + p.name] = v[i] }
        return SafetensorsFile(tensors: tensors, metadata: ["step": String(t), "beta1": "\(beta1)", "beta2": "\(beta2)",
                                                            "eps": "\(eps)", "weight_decay": "\(weightDecay)", "clip": "\(clip)"])
    }

    /// Restores m, v, t from a file written by `stateFile()`; every tensor is checked first.
    public func load(_ file: SafetensorsFile, path: String) throws {
        for (i, p) in params.enumerated() {
            for (key, dst) in [("m." + p.name, m[i]), ("v." + p.name, v[i])] {
                guard let src = file.tensors[key] else {
                    throw LabError.badFile(path: path, problem: "optimizer state lacks '\(key)' — the checkpoint was written for another model; start a new run instead of --resume")
                }
                guard src.shape == dst.shape else {
                    throw LabError.badFile(path: path, problem: "optimizer tensor '\(key)' has shape \(src.shape), expected \(dst.shape) — the checkpoint was written for another model")
                }
            }
        }
        try Validate.finite(file.tensors, in: path, fix: "the optimizer state is non-finite (diverged or damaged); start a new run")
        guard let ts = file.metadata["step"], let step = Int(ts), step >= 0 else {
            throw LabError.badFile(path: path, problem: "optimizer state has no valid 'step' in its metadata — the file is damaged; start a new run")
        }
        for (i, p) in params.enumerated() {
            m[i].data.update(from: file.tensors["m." + p.name]!.data, count: m[i].count)
            v[i].data.update(from: file.tensors["v." + p.name]!.data, count: v[i].count)
        }
        t = step
    }
}
