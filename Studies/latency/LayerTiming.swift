// LayerTiming.swift — wall-clock timing of layer prefill and decode, shared by `lab bench layers`,
// `lab bench decode` and `lab study latency`. Timings are medians over repetitions after a warm-up.
import Dispatch
import Layers
import TensorCore
import Zoo

/// Median, min and max of repeated timings, in seconds.
public struct TimingStats: Sendable, Equatable {
    public var median: Double, min: Double, max: Double, runs: Int
    public init(_ xs: [Double]) {
        let s = xs.sorted()
        median = s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
        min = s.first ?? 0; max = s.last ?? 0; runs = s.count
    }
    /// All three scaled (per token, per ms, …).
    public func scaled(_ f: Double) -> TimingStats { var t = self; t.median *= f; t.min *= f; t.max *= f; return t }
}

public enum LayerTiming {
    /// The five layers of the paper's latency figure, and the same with the Mamba-backbone TTT variants (the registry's lists).
    public static var paperLayers: [String] { LayerRegistry.paperLayers }
    public static var benchLayers: [String] { LayerRegistry.paperWithBackbones.map(\.name) }

    @inline(__always) public static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

    /// A layer at width D, H heads, TTT mini-batch b (seeded).
    public static func make(_ name: String, D: Int, H: Int, b: Int = 16, seed: UInt64 = 0) throws -> SequenceLayer {
        var cfg = LayerConfig(width: D, heads: H)
        cfg.ttt.miniBatch = b
        return try LayerRegistry.make(name, cfg, seed: seed)
    }

    /// Analytic forward FLOPs per token of a length-T prefill: `flopsPerToken`, and for softmax attention
    /// the causal average (`causalAverageFlopsPerToken`).
    public static func prefillFlopsPerToken(_ layer: SequenceLayer, T: Int) -> Double {
        if let a = layer as? SelfAttention { return a.causalAverageFlopsPerToken(length: T) }
        return layer.flopsPerToken(context: T)
    }

    /// Runs `body` once to warm up, then at least `runs` times and until `minSeconds` have passed
    /// (at most `maxRuns`); returns the per-call statistics.
    public static func repeatTimed(runs: Int = 5, minSeconds: Double = 0, maxRuns: Int = 1000, _ body: () -> Void) -> TimingStats {
        body()
        var xs: [Double] = []
        let t0 = now()
        while xs.count < runs || (now() - t0 < minSeconds && xs.count < maxRuns) {
            let t = now(); body(); xs.append(now() - t)
        }
        return TimingStats(xs)
    }

    /// Seconds per prefill call of x [B, T, D] under no-grad (the fast path where the layer has one).
    public static func prefill(_ layer: SequenceLayer, T: Int, B: Int = 1, runs: Int = 5, minSeconds: Double = 0, seed: UInt64 = 1) -> TimingStats {
        var rng = RNG(seed: seed)
        let x = Tensor.randn([B, T, layer.config.width], std: 1, rng: &rng)
        var sink: Float = 0
        let st = withNoGrad { repeatTimed(runs: runs, minSeconds: minSeconds) { let y = layer(x); sink += y.item(at: 0) } }
        if sink.isNaN { print("LayerTiming: NaN in output of \(layer.kind)") }
        return st
    }

    /// Seconds per decoded token after a context of T tokens: the state is filled by one `step` over a
    /// T-token prompt, then `tokens` single-token steps are timed one by one (statistics over tokens,
    /// repeated from the same state snapshot is not possible, so each timed token extends the context).
    public static func decode(_ layer: SequenceLayer, context T: Int, B: Int = 1, tokens: Int = 32, seed: UInt64 = 2) -> TimingStats {
        var rng = RNG(seed: seed)
        let D = layer.config.width
        let prompt = Tensor.randn([B, T, D], std: 1, rng: &rng)
        let next = Tensor.randn([B, tokens + 4, D], std: 1, rng: &rng)
        let st = layer.makeState(batch: B)
        _ = layer.step(prompt, state: st)
        var xs: [Double] = [], sink: Float = 0
        for i in 0..<(tokens + 4) {
            let x = next.slicedRaw(axis: 1, i, i + 1)
            let t0 = now()
            let y = layer.step(x, state: st); sink += y.item(at: 0)
            if i >= 4 { xs.append(now() - t0) }                    // first 4 tokens: warm-up
        }
        if sink.isNaN { print("LayerTiming: NaN in decode of \(layer.kind)") }
        return TimingStats(xs)
    }
}

extension Tensor {
    /// Element i, read while the tensor is alive.
    func item(at i: Int) -> Float { withExtendedLifetime(self) { data[i] } }
}
