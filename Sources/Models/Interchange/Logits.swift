// Logits.swift — a model's logits for given token ids, and the mean next-token loss they imply.
import Foundation
import Layers
import TensorCore

/// Logits of a whole batch (no gradient, the model's default kernels) and their next-token loss.
///
/// ```swift
/// let (logits, loss) = ModelLogits.compute(model, ids: ids, batch: 2)   // logits [2, T, V]; loss over 2·(T−1) predictions
/// ```
public enum ModelLogits {
    /// logits [B, T, V] for ids (B·T, row-major), and the mean cross-entropy in nats of predicting
    /// ids[b, t+1] from logits[b, t] (nil when T = 1).
    public static func compute(_ model: LanguageModel, ids: [Int], batch B: Int) -> (logits: Tensor, loss: Double?) {
        let logits = withNoGrad { model.logits(ids, batch: B) }
        return (logits, nextTokenLoss(logits, ids: ids))
    }

    /// Refuses, before anything is allocated, a batch whose forward pass would not fit in this machine's
    /// memory (the training estimate of `TrainConfig`, an upper bound for a forward pass without gradients).
    public static func checkFitsInMemory(_ m: ModelConfig, batch: Int, length: Int,
                                         available: Double = Double(ProcessInfo.processInfo.physicalMemory)) throws {
        var c = TrainConfig(steps: 1, batch: batch, context: length, lr: 1e-3)
        c.evalWindows = 0
        let need = c.estimatedMemoryBytes(model: m)
        guard need.isFinite, need <= available else {
            throw LabError.badConfig(String(format: "logits of %ld × %ld tokens for %@ need ≈ %.1f GiB of memory, more than this machine's %.1f GiB — pass fewer or shorter sequences",
                                            batch, length, m.summary, need / 1073741824, available / 1073741824))
        }
    }

    /// Mean −log softmax(logits[b, t])[ids[b, t+1]] over b and t < T−1, in Double (log-sum-exp).
    public static func nextTokenLoss(_ logits: Tensor, ids: [Int]) -> Double? {
        let (B, T, V) = (logits.dim(0), logits.dim(1), logits.dim(2))
        guard T > 1 else { return nil }
        var total = 0.0
        for b in 0..<B {
            for t in 0..<(T - 1) {
                let row = logits.data + (b * T + t) * V                  // [V]
                var m = -Double.infinity
                for v in 0..<V { m = max(m, Double(row[v])) }
                var s = 0.0
                for v in 0..<V { s += Foundation.exp(Double(row[v]) - m) }
                total += m + Foundation.log(s) - Double(row[ids[b * T + t + 1]])
            }
        }
        return total / Double(B * (T - 1))
    }
}
