// TrainTiming.swift — wall-clock timing of training steps (forward + backward), one layer or a whole LM,
// on the fused kernels or the reference path, and the peak resident memory of a step. Shared by
// `lab bench train` and the studies; timings are medians after a warm-up step.
import Foundation
import Layers
import Models
import TensorCore
import Zoo

public enum TrainTiming {
    /// Seconds per training step of one layer: y = layer(x) with x [B, T, D] requiring grad, loss = Σ y ⊙ w,
    /// backward into x and every parameter. Gradients are cleared between steps.
    public static func layerStep(_ layer: SequenceLayer, T: Int, B: Int = 1, runs: Int = 3, minSeconds: Double = 0,
                                 seed: UInt64 = 1) -> TimingStats {
        var rng = RNG(seed: seed)
        let D = layer.config.width
        let x = Tensor.randn([B, T, D], std: 1, rng: &rng).requiringGrad()
        let w = Tensor.randn([B, T, D], std: 1, rng: &rng)
        var sink: Float = 0
        let st = LayerTiming.repeatTimed(runs: runs, minSeconds: minSeconds, maxRuns: 50) {
            x.zeroGrad(); for p in layer.parameters { p.tensor.zeroGrad() }
            let loss = (layer(x) * w).sum()
            loss.backward()
            sink += loss.item
        }
        if !sink.isFinite { print("TrainTiming: non-finite loss for \(layer.kind)") }
        return st
    }

    /// One optimizer step (loss, backward, AdamW) of `model` on a fixed batch of B × T random bytes; the
    /// loss is added to `sink` (checked for finiteness by the caller).
    private static func stepper(_ model: LanguageModel, T: Int, B: Int, seed: UInt64) -> (inout Float) -> Void {
        var rng = RNG(seed: seed)
        let ids = (0..<(B * (T + 1))).map { _ in Int(rng.next() % UInt64(model.config.vocab)) }
        var x: [Int] = [], y: [Int] = []
        for b in 0..<B { let row = ids[(b * (T + 1))..<((b + 1) * (T + 1))]; x += row.dropLast(); y += row.dropFirst() }
        let opt = AdamW(params: model.parameters)
        return { sink in
            let loss = model.loss(inputs: x, targets: y, batch: B)
            loss.backward()
            _ = opt.step(lr: 1e-4)
            sink += loss.item
        }
    }

    /// Seconds per optimizer step of a language model (loss, backward, AdamW) on random bytes, B × T.
    public static func modelStep(_ model: LanguageModel, T: Int, B: Int, runs: Int = 3, minSeconds: Double = 0,
                                 seed: UInt64 = 1) -> TimingStats {
        let step = stepper(model, T: T, B: B, seed: seed)
        var sink: Float = 0
        let st = LayerTiming.repeatTimed(runs: runs, minSeconds: minSeconds, maxRuns: 50) { step(&sink) }
        if !sink.isFinite { print("TrainTiming: non-finite loss for \(model.config.layer)") }
        return st
    }

    /// Seconds per optimizer step of a language model on its fused kernels and on the reference path,
    /// measured as alternating steps (fused, reference, fused, …) so both see the same machine: a ratio
    /// from one run, robust to a machine whose speed drifts. Random bytes, B × T; one warm-up step each.
    /// Each path runs until it has `runs` steps and, together, `minSeconds` have passed (at most 50 each).
    public static func modelStepPair(_ model: LanguageModel, T: Int, B: Int, runs: Int = 3, minSeconds: Double = 0,
                                     seed: UInt64 = 1) -> (fused: TimingStats, reference: TimingStats) {
        let step = stepper(model, T: T, B: B, seed: seed)
        var sink: Float = 0
        let saved = model.kernels
        defer { model.kernels = saved }
        func timed(_ path: KernelPath) -> Double {
            model.kernels = path
            let t = LayerTiming.now()
            step(&sink)
            return LayerTiming.now() - t
        }
        _ = timed(.fused); _ = timed(.reference)
        var fused: [Double] = [], ref: [Double] = []
        let t0 = LayerTiming.now()
        while fused.count < runs || (LayerTiming.now() - t0 < minSeconds && fused.count < 50) {
            fused.append(timed(.fused)); ref.append(timed(.reference))
        }
        if !sink.isFinite { print("TrainTiming: non-finite loss for \(model.config.layer)") }
        return (TimingStats(fused), TimingStats(ref))
    }

    /// Runs `body` and returns its result with the peak bytes of tensor storage and fused-kernel buffers it
    /// held above what was live before (`AllocationMeter`): activations kept for the backward, gradients,
    /// scratch.
    public static func peakMemory<R>(_ body: () -> R) -> (R, Int?) {
        let base = AllocationMeter.resetPeak()
        let r = body()
        return (r, max(0, AllocationMeter.peak - base))
    }
}
