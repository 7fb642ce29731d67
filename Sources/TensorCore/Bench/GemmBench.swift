// GemmBench.swift — how much of raw OpenBLAS throughput the tensor core's `matmul` keeps.
//
// For each size the core side runs `withNoGrad { matmul(a, b) }` (output allocation included: what a
// layer pays), and the raw side calls `sgemmSplit` — the same row-split helper, at the same
// `Parallel.threads`, that `matmul` uses — into a preallocated buffer. So the ratio isolates the
// tensor core's overhead (shape checks, allocation, FLOP counting), not a different thread split.
// The two are interleaved repetition by repetition (alternating which goes first) so that clock or
// thermal drift hits both alike; each side reports the median GFLOP/s over the repetitions.
import Dispatch

/// One row of `gemmBenchmark`.
public struct GemmBenchRow: Sendable, CustomStringConvertible {
    public let m: Int, k: Int, n: Int
    /// Worker threads used by both sides.
    public let threads: Int
    /// GEMM calls per timed repetition, and repetitions per side.
    public let itersPerRep: Int, reps: Int
    /// Median GFLOP/s (2·m·k·n FLOPs per call) of the tensor core's `matmul` and of raw `cblas_sgemm`.
    public let coreGFLOPs: Double, rawGFLOPs: Double
    /// coreGFLOPs / rawGFLOPs (1 = no overhead).
    public var ratio: Double { rawGFLOPs > 0 ? coreGFLOPs / rawGFLOPs : 0 }

    public var description: String {
        "\(m)×\(k)·\(k)×\(n): core \(fmt(coreGFLOPs)) GFLOP/s, raw \(fmt(rawGFLOPs)) GFLOP/s, ratio \(fmt(ratio)) (\(threads) threads, \(reps)×\(itersPerRep) calls)"
    }
}

private func fmt(_ x: Double) -> String {
    let r = (x * 100).rounded() / 100
    return "\(r)"
}

@inline(__always) private func nowSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

/// Median of a non-empty array.
private func median(_ xs: [Double]) -> Double {
    let s = xs.sorted(), c = s.count
    return c % 2 == 1 ? s[c / 2] : 0.5 * (s[c / 2 - 1] + s[c / 2])
}

/// Smallest power-of-two call count whose run lasts ≥ `target` seconds (extrapolated once it passes 1 ms).
private func calibrateIters(target: Double, _ run: (Int) -> Double) -> Int {
    var iters = 1
    while true {
        let t = run(iters)
        if t >= target { return iters }
        if t >= 1e-3 { return max(iters, Int((Double(iters) * target / t).rounded(.up))) }
        iters *= 2
    }
}

/// Deterministic fill in [−1, 1) without touching any global RNG state.
private func benchMatrix(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.uniform(shape, -1, 1, rng: &rng)
}

/// Times `matmul` (core) against raw `cblas_sgemm` (via `sgemmSplit`) for each `(m, k, n)`.
///
/// Each side runs `reps` = 5 repetitions of `iters` calls, where `iters` is chosen (after one warm-up
/// call of each) so that a repetition lasts about `minSeconds / reps`; the reported figure is the median
/// over repetitions. Total time per size ≈ 2·minSeconds plus calibration. `FLOPCounter` is left as it was.
///
/// ```swift
/// for row in gemmBenchmark() { print(row) }
/// ```
public func gemmBenchmark(sizes: [(m: Int, k: Int, n: Int)] = [(16, 64, 64), (64, 64, 64), (256, 256, 256), (1024, 1024, 1024)],
                          minSeconds: Double = 0.3) -> [GemmBenchRow] {
    let savedMatmul = FLOPCounter.matmul, savedElementwise = FLOPCounter.elementwise
    defer { FLOPCounter.matmul = savedMatmul; FLOPCounter.elementwise = savedElementwise }
    let reps = 5
    var rows: [GemmBenchRow] = []
    for (idx, s) in sizes.enumerated() {
        let (m, k, n) = s
        let a = benchMatrix([m, k], seed: 2 * UInt64(idx) + 1), b = benchMatrix([k, n], seed: 2 * UInt64(idx) + 2)
        let c = Tensor(zeros: [m, n])
        let flops = 2.0 * Double(m) * Double(k) * Double(n)
        var sink: Float = 0

        func runCore(_ iters: Int) -> Double {
            let t0 = nowSeconds()
            for _ in 0..<iters { let y = withNoGrad { matmul(a, b) }; sink += y.data[0] }
            return nowSeconds() - t0
        }
        func runRaw(_ iters: Int) -> Double {
            let t0 = nowSeconds()
            for _ in 0..<iters { sgemmSplit(transA: false, transB: false, m: m, n: n, k: k, a.data, b.data, c.data); sink += c.data[0] }
            return nowSeconds() - t0
        }

        // Warm up both, then double the calls per repetition until one repetition of each side together
        // lasts ≥ 2·minSeconds/reps (so each side's repetition lasts about minSeconds/reps).
        _ = runCore(1); _ = runRaw(1)
        let iters = calibrateIters(target: 2 * minSeconds / Double(reps)) { runCore($0) + runRaw($0) }
        var core: [Double] = [], raw: [Double] = []
        for r in 0..<reps {
            if r % 2 == 0 {
                core.append(flops * Double(iters) / runCore(iters) * 1e-9)
                raw.append(flops * Double(iters) / runRaw(iters) * 1e-9)
            } else {
                raw.append(flops * Double(iters) / runRaw(iters) * 1e-9)
                core.append(flops * Double(iters) / runCore(iters) * 1e-9)
            }
        }
        if sink.isNaN { print("gemmBenchmark: NaN in output") }   // keeps the results observable
        rows.append(GemmBenchRow(m: m, k: k, n: n, threads: Parallel.threads, itersPerRep: iters, reps: reps,
                                 coreGFLOPs: median(core), rawGFLOPs: median(raw)))
    }
    return rows
}

/// GFLOP/s of an n×n·n×n sgemm through the path the core uses (`sgemmSplit` at `Parallel.threads`),
/// into a preallocated buffer: the median of 5 repetitions of ≥ 0.06 s each, after a warm-up call.
public func sgemmGFLOPs(n: Int = 1024) -> Double {
    let a = benchMatrix([n, n], seed: 11), b = benchMatrix([n, n], seed: 12), c = Tensor(zeros: [n, n])
    let flops = 2.0 * Double(n) * Double(n) * Double(n)
    func run(_ iters: Int) -> Double {
        let t0 = nowSeconds()
        for _ in 0..<iters { sgemmSplit(transA: false, transB: false, m: n, n: n, k: n, a.data, b.data, c.data) }
        return nowSeconds() - t0
    }
    _ = run(1)
    let iters = calibrateIters(target: 0.06, run)
    return median((0..<5).map { _ in flops * Double(iters) / run(iters) * 1e-9 })
}
