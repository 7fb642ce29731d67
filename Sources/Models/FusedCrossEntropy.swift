// FusedCrossEntropy.swift — mean next-token cross-entropy as one autodiff node (log-softmax + NLL in one pass).
//
// Reference (Tensor.crossEntropy, TensorCore/Ops/Softmax.swift): logSoftmax [N, V] → ⊙ one-hot [N, V] → sum,
// three [N, V] tensors in the forward and three more in the backward. Fused:
//
//   forward, per row r of logits x [N, V]:   lse_r = max_r + log Σ_j exp(x_rj − max_r)     (saved: lse [N])
//                                            loss = (1/N) Σ_r (lse_r − x_r,t_r)            (Double per chunk)
//   backward, given g = dL/dloss:            dx_rj = (g/N)·(exp(x_rj − lse_r) − [j = t_r])  (one fresh [N, V])
//
// No probability tensor is kept: the backward recomputes exp from the logits (kept alive as the node's input).
import Foundation
import Layers
import TensorCore

/// Mean negative log-likelihood of `targets` (one per row) under `logits` [N, V] — the fused form of
/// `logits.crossEntropy(targets:)`, one graph node, SIMD exp.
///
/// ```swift
/// let loss = fusedCrossEntropy(logits, targets: next)   // logits [N, V], next: N ids in 0..<V
/// loss.backward()
/// ```
public func fusedCrossEntropy(_ logits: Tensor, targets: [Int]) -> Tensor {
    let V = logits.shape.last!, N = logits.count / max(V, 1)
    precondition(targets.count == N, "crossEntropy: \(targets.count) targets for \(N) rows of logits \(logits.shape)")
    for t in targets { precondition(t >= 0 && t < V, "crossEntropy: target \(t) outside vocabulary 0..<\(V)") }
    let lse = Tensor(uninitializedShape: [N])
    let px = logits.data, pl = lse.data
    // Per-chunk Double partials summed in chunk order: deterministic at a fixed thread count.
    let chunks = max(1, min(Parallel.threads, N / 64))
    var partial = [Double](repeating: 0, count: chunks)
    partial.withUnsafeMutableBufferPointer { pp in
        let pp = pp.baseAddress!
        Parallel.forEach(chunks) { c in
            let lo = N * c / chunks, hi = N * (c + 1) / chunks
            var acc: Double = 0
            for r in lo..<hi {
                let l = CrossEntropyKernels.logSumExp(px + r * V, V)
                pl[r] = l
                acc += Double(l - px[r * V + targets[r]])
            }
            pp[c] = acc
        }
    }
    let loss = Tensor(scalar: Float(partial.reduce(0, +) / Double(max(N, 1))))
    FLOPCounter.elementwise += 4 * logits.count
    return loss.recordingFused("crossEntropy", [logits]) { g in
        let dx = Tensor(uninitializedShape: logits.shape)
        let pd = dx.data, pl = lse.data, scale = g.item / Float(max(N, 1))
        Parallel.chunks(N, minPerThread: 64) { lo, hi in
            for r in lo..<hi {
                CrossEntropyKernels.softmaxScaled(px + r * V, V, lse: pl[r], scale: scale, into: pd + r * V)
                pd[r * V + targets[r]] -= scale
            }
        }
        FLOPCounter.elementwise += 3 * logits.count
        return [dx]
    }
}

/// Row loops of the fused cross-entropy (8 lanes at a time, scalar tail).
enum CrossEntropyKernels {
    /// log Σ_j exp(x_j) over one row, shifted by the row max.
    static func logSumExp(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var mx = -Float.infinity
        for j in 0..<n { mx = max(mx, x[j]) }
        let m8 = FastMath.V(repeating: mx)
        var s8 = FastMath.V(repeating: 0)
        var j = 0
        while j + 8 <= n { s8 += FastMath.exp(FastMath.load(x + j) - m8); j += 8 }
        var s = s8.sum()
        while j < n { s += Foundation.exp(x[j] - mx); j += 1 }
        return mx + Foundation.log(s)
    }

    /// y_j = scale·exp(x_j − lse) over one row.
    static func softmaxScaled(_ x: UnsafePointer<Float>, _ n: Int, lse: Float, scale: Float, into y: UnsafeMutablePointer<Float>) {
        let l8 = FastMath.V(repeating: lse)
        var j = 0
        while j + 8 <= n { FastMath.store(scale * FastMath.exp(FastMath.load(x + j) - l8), y + j); j += 8 }
        while j < n { y[j] = scale * Foundation.exp(x[j] - lse); j += 1 }
    }
}
