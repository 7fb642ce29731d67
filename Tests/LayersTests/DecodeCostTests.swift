// DecodeCostTests.swift — the work of one decode token does not depend on its position: the same FLOPs
// (FLOPCounter) and the same peak bytes of tensors and kernel buffers (AllocationMeter) at context 64 as at
// context 1024, token by token, for every layer with a constant-size state.
import XCTest
@testable import Layers
import TensorCore
import Zoo

final class DecodeCostTests: XCTestCase {
    /// Per-token (FLOPs, peak bytes above what was live before the step, live bytes after it) of `tokens`
    /// single-token steps after a `context`-token prefill.
    func costs(_ name: String, context: Int, tokens: Int = 20) throws -> [[Int]] {
        var cfg = LayerConfig(width: 32, heads: 2)
        cfg.ttt.miniBatch = 16
        let layer = try LayerRegistry.make(name, cfg, seed: 1)
        var rng = RNG(seed: 2)
        let prompt = Tensor.randn([1, context, 32], std: 1, rng: &rng), next = Tensor.randn([1, tokens, 32], std: 1, rng: &rng)
        let st = layer.makeState(batch: 1)
        return withNoGrad {
            _ = layer.step(prompt, state: st)
            var out: [[Int]] = []
            for i in 0..<tokens {
                let x = next.slicedRaw(axis: 1, i, i + 1).copy()
                let base = AllocationMeter.resetPeak()
                var y: Tensor?
                let f = FLOPCounter.measure { y = layer.step(x, state: st) }
                let peak = AllocationMeter.peak - base
                XCTAssertTrue(y!.data[0].isFinite, "\(name): finite output")
                y = nil
                out.append([f.matmul + f.elementwise, peak, AllocationMeter.live - base])
            }
            return out
        }
    }

    /// Exact equality (integers): contexts 64 and 1024 are both ≡ 0 mod b, so token i sits at the same place
    /// in its mini-batch in both. Negative control, the fault the check names (work that grows with the
    /// position): the Nadaraya–Watson layer's memory state gains a row per token, and its counts differ.
    /// One worker thread: with several, whether two heads' scratch buffers are alive at once depends on timing.
    func testPerTokenWorkIndependentOfPosition() throws {
        let threads = Parallel.threads
        Parallel.setThreads(1)
        defer { Parallel.setThreads(threads) }
        for name in ["ttt-linear", "ttt-mlp", "ttt-linear-m", "ttt-mlp-m", "linear-attention", "mamba"] {
            let near = try costs(name, context: 64), far = try costs(name, context: 1024)
            XCTAssertEqual(near, far, "\(name): per-token FLOPs / peak bytes / live bytes at context 64 vs 1024")
            XCTAssertGreaterThan(near[0][0], 0, "\(name): FLOPs are counted")
        }
        let near = try costs("ttt-nadaraya-watson", context: 64), far = try costs("ttt-nadaraya-watson", context: 1024)
        XCTAssertNotEqual(near, far, "negative control: a state that grows with the position")
    }
}
