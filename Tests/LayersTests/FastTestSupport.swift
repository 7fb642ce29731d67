// FastTestSupport.swift — helpers for the fast-path tests: layers at a scale where mixing matters,
// fast vs reference outputs.
import XCTest
@testable import Layers
import TensorCore
import Zoo

enum FastTest {
    /// Tolerance of fast vs reference (max |Δ| / max |ref| over the output): Float32 reassociation
    /// across sgemm blockings, the SIMD exp/tanh and fused LN stay far below it.
    static let tolerance: Float = 2e-5
    /// A negative control (one condition broken) must differ by more than this.
    static let controlFloor: Float = 1e-3

    /// A registry layer with its matrices scaled ×`scale` so that the inner loop / mixing changes the output a lot.
    static func layer(_ name: String, D: Int = 32, H: Int = 4, b: Int = 4, seed: UInt64 = 3, scale: Float = 10,
                      configure: (inout LayerConfig) -> Void = { _ in }) throws -> SequenceLayer {
        var cfg = LayerConfig(width: D, heads: H)
        cfg.ttt.miniBatch = b
        configure(&cfg)
        let l = try LayerRegistry.make(name, cfg, seed: seed)
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
