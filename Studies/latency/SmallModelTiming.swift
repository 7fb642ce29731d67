// SmallModelTiming.swift — training-step speed of the study-sized models (`lab bench train --models …`):
// the recall study's model on MQAR, the long-context study's model on its dictionary stream and a
// 2 × D128 byte LM. Each step is what the study runs: its loss, backward, AdamW.
import Foundation
import Layers
import Models
import Zoo
import TensorCore

/// One study-sized model and the optimizer step that its study runs.
///
/// ```swift
/// let m = try SmallModelTiming.recall(layer: "ttt-linear")      // 4 blocks × D64, short conv, no MLP
/// let r = SmallModelTiming.measure(m, runs: 3, minSeconds: 1)  // tokens/s, GEMM share of the step
/// ```
public struct SmallModelCase {
    /// "recall", "longcontext" or "lm128".
    public var model: String
    public var layer: String
    public var config: ModelConfig
    /// Sequences × tokens per step.
    public var batch: Int, context: Int
    /// Loss of one step on a fixed batch (built once), differentiable.
    public var loss: (LanguageModel) -> Tensor
    /// The activation-recompute policy the study trains with.
    public var recompute: ActivationRecompute = .auto
}

/// Speed of one study-sized model.
public struct SmallModelResult {
    public var step: TimingStats
    /// Thread-seconds inside cblas_sgemm ÷ (threads × wall seconds) over the accounted steps.
    public var gemmShare: Double
    /// sgemm calls per step.
    public var gemmCalls: Int
    /// Analytic training FLOPs per token (3 × the forward's).
    public var flopsPerToken: Double
    public var tokensPerSecond: Double
    /// Process CPU seconds per timed step (all threads; on a loaded machine steadier than wall time, the
    /// measure to compare builds by at LAB_THREADS=1).
    public var cpuPerStep: Double
    public var lossValue: Float
}

public enum SmallModelTiming {
    public static let modelNames = ["recall", "longcontext", "lm128"]

    /// The recall study's model (default preset, D 64: Zoology's depth rule, short conv k 3, no MLP, one head)
    /// on 64 MQAR sequences of T 256 with 16 pairs; the study's masked loss.
    public static func recall(layer: String, width: Int = 64, batch: Int = 64, length: Int = 256, pairs: Int = 16) throws -> SmallModelCase {
        let setup = RecallStudy.standardSetup
        let cfg = try setup.modelConfig(layer: layer, width: width)
        var rng = RNG(seed: 7)
        let b = MQAR.batch(count: batch, length: length, pairs: pairs, vocab: setup.vocab, rng: &rng)
        return SmallModelCase(model: "recall", layer: layer, config: cfg, batch: batch, context: length,
                              loss: { RecallTrainer.loss($0, b) }, recompute: RecallTrainer.recompute)
    }

    /// The long-context study's model (default preset) on one training batch of its dictionary stream.
    public static func longContext(layer: String) throws -> SmallModelCase {
        let setup = LongContextStudy.standardSetup
        let rc = try setup.runConfig(layer: layer, seed: 0)
        let seqs = DictionaryTrainer.trainBatch(rc, step: 0)
        return SmallModelCase(model: "longcontext", layer: layer, config: rc.model, batch: rc.batch, context: setup.task.length,
                              loss: { DictionaryTrainer.loss($0, seqs) })
    }

    /// A 2 × D128 (H4, SwiGLU 344; the Mamba stack 4 blocks) byte LM, B 4 × T 1024 random bytes, next-byte loss.
    public static func lm128(layer: String, batch: Int = 4, context: Int = 1024) throws -> SmallModelCase {
        var cfg = try ModelConfig.preset("tiny", layer: layer)
        cfg.layers = Backbone.implied(by: layer) == .mambaStack ? 4 : 2
        cfg.preset = nil
        try cfg.validate()
        var rng = RNG(seed: 7)
        let ids = (0..<(batch * (context + 1))).map { _ in Int(rng.next() % UInt64(cfg.vocab)) }
        var x: [Int] = [], y: [Int] = []
        for s in 0..<batch { let row = ids[(s * (context + 1))..<((s + 1) * (context + 1))]; x += row.dropLast(); y += row.dropFirst() }
        return SmallModelCase(model: "lm128", layer: layer, config: cfg, batch: batch, context: context,
                              loss: { $0.loss(inputs: x, targets: y, batch: batch) })
    }

    /// The default layers of a model: the recall study's, the long-context study's, the paper's five.
    public static func defaultLayers(_ model: String) -> [String] {
        switch model {
        case "recall": return RecallStudy.layers
        case "longcontext": return LongContextStudy.standardSetup.layers
        default: return LayerRegistry.paperLayers
        }
    }

    public static func make(_ model: String, layer: String) throws -> SmallModelCase {
        switch model {
        case "recall": return try recall(layer: layer)
        case "longcontext": return try longContext(layer: layer)
        default: return try lm128(layer: layer)
        }
    }

    /// A stepper for `c` (fresh model from seed 0 and its AdamW): one call = loss, backward, AdamW step.
    public static func stepper(_ c: SmallModelCase) throws -> () -> Float {
        let model = try LanguageModel(config: c.config, seed: 0)
        model.recompute = c.recompute
        let opt = AdamW(params: model.parameters, weightDecay: 0.1)
        return {
            let l = c.loss(model)
            l.backward()
            _ = opt.step(lr: 1e-3)
            return l.item
        }
    }

    /// Median step time after a warm-up step (≥ `runs` steps and ≥ `minSeconds`), then two steps with the
    /// GEMM clock on for the share of the step inside cblas_sgemm.
    public static func measure(_ c: SmallModelCase, runs: Int = 3, minSeconds: Double = 0) throws -> SmallModelResult {
        let step = try stepper(c)
        var last: Float = 0, steps = -1, cpu = 0.0
        let st = LayerTiming.repeatTimed(runs: runs, minSeconds: minSeconds, maxRuns: 50) {
            let c0 = processCPUSeconds()
            last = step()
            steps += 1
            if steps > 0 { cpu += processCPUSeconds() - c0 }           // the warm-up step (first call) not counted
        }
        GEMMClock.reset(); GEMMClock.enabled = true
        let t0 = LayerTiming.now()
        for _ in 0..<2 { last = step() }
        let wall = LayerTiming.now() - t0
        GEMMClock.enabled = false
        let share = GEMMClock.seconds / (Double(Parallel.threads) * wall)
        let calls = GEMMClock.callCount / 2
        let fpt = 3 * ((try? c.config.flopsPerToken(context: c.context)) ?? .nan)
        return SmallModelResult(step: st, gemmShare: share, gemmCalls: calls, flopsPerToken: fpt,
                                tokensPerSecond: Double(c.batch * c.context) / st.median, cpuPerStep: cpu / Double(max(steps, 1)),
                                lossValue: last)
    }

    /// CPU seconds used by this process so far (every thread).
    static func processCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
