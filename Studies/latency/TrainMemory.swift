// TrainMemory.swift — peak memory of language-model training steps, for `lab bench train`'s memory rows.
import Foundation
import Layers
import Models
import TensorCore

/// Peak memory of a few optimizer steps (loss, backward, AdamW) of a language model on random bytes.
///
/// ```swift
/// let m = TrainMemory.measure(model, T: 8192, B: 1, recompute: .always)
/// print(m.tensorBytes, m.residentBytes ?? -1)
/// ```
public enum TrainMemory {
    public struct Peak: Sendable {
        /// Most bytes of tensor storage and fused-kernel buffers live at once during the steps (`AllocationMeter`),
        /// everything the process holds included (weights, gradients, AdamW moments, activations, scratch).
        public var tensorBytes: Int
        /// Most bytes resident in the process during the steps (VmHWM after an in-process reset; nil off Linux).
        public var residentBytes: Int?
        /// Mean loss of the steps (the caller checks it is finite; both modes give the same numbers).
        public var loss: Float
    }

    /// Runs `steps` optimizer steps of `model` (B × T random bytes, AdamW at lr 1e-4) with `recompute`
    /// and returns the peaks. The optimizer and batch are made before the peaks are reset.
    public static func measure(_ model: LanguageModel, T: Int, B: Int, steps: Int = 2,
                               recompute: ActivationRecompute, seed: UInt64 = 1) -> Peak {
        var rng = RNG(seed: seed)
        let V = model.config.vocab
        let ids = (0..<(B * (T + 1))).map { _ in Int(rng.next() % UInt64(V)) }
        var x: [Int] = [], y: [Int] = []
        for b in 0..<B { let row = ids[(b * (T + 1))..<((b + 1) * (T + 1))]; x += row.dropLast(); y += row.dropFirst() }
        let opt = AdamW(params: model.parameters)
        let saved = model.recompute
        model.recompute = recompute
        defer { model.recompute = saved }
        for p in model.parameters { p.tensor.zeroGrad() }
        let resetOK = ResidentMemory.resetPeak()
        AllocationMeter.resetPeak()
        var sum: Float = 0
        for _ in 0..<steps {
            let loss = model.loss(inputs: x, targets: y, batch: B)
            loss.backward()
            _ = opt.step(lr: 1e-4)
            sum += loss.item
        }
        return Peak(tensorBytes: AllocationMeter.peak, residentBytes: resetOK ? ResidentMemory.peakBytes : nil,
                    loss: sum / Float(max(steps, 1)))
    }
}
