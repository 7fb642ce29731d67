// FusedTestSupport.swift — helpers for the fused-path tests: layers at a scale where mixing matters,
// fused vs reference outputs, the tiles of the layers a test builds.
import XCTest
@testable import Layers
import TensorCore
import Zoo

enum FusedTest {
    /// Tolerance of fast vs reference (max |Δ| / max |ref| over the output): Float32 reassociation
    /// across sgemm blockings, the SIMD exp/tanh and fused LN stay far below it.
    static let tolerance: Float = 2e-5
    /// A negative control (one condition broken) must differ by more than this.
    static let controlFloor: Float = 1e-3

    /// The tiles the layers built by these tests get (`withTiles`); nil: each layer's own defaults. Test-side
    /// state only: the library's tiles are per instance (`TiledKernels.tiles`), applied here by `applyTiles`.
    nonisolated(unsafe) static var tiles: FusedTiles? = nil

    /// Small tiles and chunks (each 0 keeps the default) that short test sequences cross with a ragged last one.
    static func smallTiles(query: Int, key: Int, backward: Int = 0, linear: Int = 0, linearTrain: Int = 0, scan: Int = 0) -> FusedTiles {
        var t = FusedTiles()
        t.attentionQuery = query; t.attentionKey = key
        if backward > 0 { t.attentionBackward = backward }
        if linear > 0 { t.linearChunk = linear }
        if linearTrain > 0 { t.linearTrainChunk = linearTrain }
        if scan > 0 { t.mambaScanChunk = scan }
        return t
    }

    /// Runs `body` with `tiles` for every layer the tests build meanwhile, then restores the previous choice.
    static func withTiles<R>(_ t: FusedTiles, _ body: () throws -> R) rethrows -> R {
        let saved = tiles
        tiles = t
        defer { tiles = saved }
        return try body()
    }

    /// Gives a freshly built layer the tiles chosen by `withTiles` (no-op outside it or for an untiled layer).
    static func applyTiles(_ l: SequenceLayer) {
        if let tiles, let tiled = l as? TiledKernels { tiled.tiles = tiles }
    }

    /// A registry layer with its matrices scaled ×`scale` so that the inner loop / mixing changes the output a lot.
    static func layer(_ name: String, D: Int = 32, H: Int = 4, b: Int = 4, seed: UInt64 = 3, scale: Float = 10,
                      configure: (inout LayerConfig) -> Void = { _ in }) throws -> SequenceLayer {
        var cfg = LayerConfig(width: D, heads: H)
        cfg.ttt.miniBatch = b
        configure(&cfg)
        let l = try LayerRegistry.make(name, cfg, seed: seed)
        applyTiles(l)
        for p in l.parameters where p.tensor.rank >= 2 && p.tensor.count > D && !p.name.contains("norm") && !p.name.contains("conv") && p.name != "A_log" {
            for i in 0..<p.tensor.count { p.tensor.data[i] *= scale }
        }
        return l
    }

    static func prefill(_ l: SequenceLayer, _ x: Tensor, fast: Bool) -> Tensor {
        l.withKernels(fast ? .fused : .reference) { withNoGrad { l(x) } }
    }

    /// Decode in chunks of the given sizes (summing to T), fast or reference.
    static func decode(_ l: SequenceLayer, _ x: Tensor, chunks: [Int], fast: Bool) -> Tensor {
        let run = {
            let st = l.makeState(batch: x.dim(0))
            var outs: [Tensor] = [], lo = 0
            for c in chunks { outs.append(l.step(x.slicedRaw(axis: 1, lo, lo + c), state: st)); lo += c }
            return withNoGrad { concat(outs, axis: 1) }
        }
        return l.withKernels(fast ? .fused : .reference, run)
    }
}
