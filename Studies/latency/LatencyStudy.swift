// LatencyStudy.swift — `lab study latency`: prefill and decode time per token vs context for the five
// layers (paper Fig. 12, in miniature on CPU), and the mini-batch sweep of TTT-Linear's dual form split
// into the time for the W's and the time for the z's (paper Fig. 7, right).
import Foundation
import Layers
import StudyKit
import TensorCore
import Zoo

public struct LatencyStudy: Study {
    public let name = "latency"
    public let title = "Latency: time per token vs context (prefill, decode) and the dual form's W/z split vs mini-batch size"
    public let claim = """
    Per-token prefill and decode time of TTT-Linear, TTT-MLP, linear attention and Mamba stays roughly constant \
    as the context grows, while causal softmax attention's grows linearly with T. In TTT-Linear's dual form the \
    time for the W's (O(T·d²)) does not grow with the mini-batch size b while the time for the z's (O(T·b·d)) \
    grows with b.
    """
    public let paperReference = "Sun et al. 2024, Fig. 12 (latency, A100) and Fig. 7 right (W vs z time, T = 2048); docs/ttt.md §5, §6"
    public let presets: [Preset: String] = [
        .quick: "D = 64, H = 4, T ∈ {64, 128, 256}, b ∈ {1, 4, 16} at T = 128, 2 runs",
        .standard: "D = 768, H = 12, b = 16, B = 1, T ∈ {512 … 16k}, b ∈ {1 … 64} at T = 2048, median of 5 runs",
        .full: "as default, plus T = 32k",
    ]

    public init() {}

    public func run(_ ctx: StudyContext) throws -> StudyResult {
        let (D, H) = ctx.pick(quick: (64, 4), standard: (768, 12), full: (768, 12))
        let lengths = ctx.pick(quick: [64, 128, 256], standard: [512, 1024, 2048, 4096, 8192, 16384],
                               full: [512, 1024, 2048, 4096, 8192, 16384, 32768])
        let runs = ctx.pick(quick: 2, standard: 5, full: 5)
        let sweepT = ctx.pick(quick: 128, standard: 2048, full: 2048)
        let sweepB = ctx.pick(quick: [1, 4, 16], standard: [1, 2, 4, 8, 16, 32, 64], full: [1, 2, 4, 8, 16, 32, 64])
        let decodeTokens = ctx.pick(quick: 8, standard: 32, full: 32)
        let layers = LayerTiming.paperLayers
        let bar = ctx.progressBar("latency", total: layers.count * lengths.count * 2 + sweepB.count)

        var prefill = Table(name: "prefill", title: "Prefill time per token (B = 1, one layer)", columns: [
            .init("layer"), .init("T", format: .integer), .init("median", unit: "µs/token", format: .fixed(2)),
            .init("min", unit: "µs/token", format: .fixed(2)), .init("max", unit: "µs/token", format: .fixed(2)),
            .init("GFLOP/s", format: .fixed(1)),
        ])
        var decode = Table(name: "decode", title: "Decode time per token after T tokens of context (B = 1, one layer)", columns: [
            .init("layer"), .init("T", format: .integer), .init("median", unit: "µs/token", format: .fixed(2)),
            .init("min", unit: "µs/token", format: .fixed(2)), .init("max", unit: "µs/token", format: .fixed(2)),
        ])
        var pre: [String: [(Double, Double)]] = [:], dec: [String: [(Double, Double)]] = [:]
        for name in layers {
            let layer = try LayerTiming.make(name, D: D, H: H, seed: ctx.seed)
            for T in lengths {
                ctx.progress("prefill \(name), T = \(T)")
                let st = LayerTiming.prefill(layer, T: T, runs: runs).scaled(1e6 / Double(T))
                let gflops = LayerTiming.prefillFlopsPerToken(layer, T: T) / (st.median * 1e-6) * 1e-9
                prefill.append([.text(name), .integer(T), .number(st.median), .number(st.min), .number(st.max), .number(gflops)])
                pre[name, default: []].append((Double(T), st.median))
                bar.advance()
                ctx.progress("decode \(name), T = \(T)")
                let sd = LayerTiming.decode(layer, context: T, tokens: decodeTokens).scaled(1e6)
                decode.append([.text(name), .integer(T), .number(sd.median), .number(sd.min), .number(sd.max)])
                dec[name, default: []].append((Double(T), sd.median))
                bar.advance()
            }
        }

        // b sweep: TTT-Linear dual form, W part vs z part
        var sweep = Table(name: "minibatch-split", title: "TTT-Linear dual form at T = \(sweepT): time for the W's and for the z's (CPU time summed over heads, per token)", columns: [
            .init("b", format: .integer), .init("W's", unit: "µs/token", format: .fixed(3)), .init("z's", unit: "µs/token", format: .fixed(3)),
            .init("total", unit: "µs/token", format: .fixed(3)),
        ])
        var wPts: [(Double, Double)] = [], zPts: [(Double, Double)] = []
        for b in sweepB {
            ctx.progress("b sweep, b = \(b)")
            let layer = try LayerTiming.make("ttt-linear", D: D, H: H, b: b, seed: ctx.seed) as! TTTLayer
            var rng = ctx.makeRNG(stream: UInt64(b))
            let x = Tensor.randn([1, sweepT, D], std: 1, rng: &rng)
            let inputs = withNoGrad { layer.mixerInputs(x) }
            var ws: [Double] = [], zs: [Double] = []
            _ = DualSplit.run(inputs, bias: true)                                 // warm-up
            for _ in 0..<runs { let (w, z) = DualSplit.run(inputs, bias: true); ws.append(w); zs.append(z) }
            let w = TimingStats(ws).median * 1e6 / Double(sweepT), z = TimingStats(zs).median * 1e6 / Double(sweepT)
            sweep.append([.integer(b), .number(w), .number(z), .number(w + z)])
            wPts.append((Double(b), w)); zPts.append((Double(b), z))
            bar.advance()
        }
        bar.finish()

        let series = { (pts: [String: [(Double, Double)]]) in layers.map { Chart.Series($0, points: pts[$0] ?? []) } }
        let latency = Chart(name: "latency", title: "Time per token vs context (D = \(D), H = \(H), B = 1, one layer, CPU)", panels: [
            .init(title: "Prefill", x: .init("context T", unit: "tokens", log: true), y: .init("time per token", unit: "µs", log: true), series: series(pre)),
            .init(title: "Decode", x: .init("context T", unit: "tokens", log: true), y: .init("time per token", unit: "µs", log: true), series: series(dec)),
        ], rows: 1, columns: 2)
        let split = Chart(name: "minibatch-split", title: "TTT-Linear dual form at T = \(sweepT): W's vs z's", x: .init("mini-batch size b", log: true),
                          y: .init("time per token", unit: "µs", log: true),
                          series: [.init("W's", styleKey: "ttt-linear", points: wPts), .init("z's", styleKey: "ttt-mlp", points: zPts)])

        // Verdict: constant-state layers flat (last/first ≤ 1.5 for decode), attention's prefill grows ≥ 2× over
        // the sweep of T, z's time grows from b = 16 to b = 64 while the W's do not grow by as much.
        var lines: [String] = [], ok = true
        let judge = ctx.preset != .quick
        for name in layers {
            guard let d = dec[name], let p = pre[name], let d0 = d.first?.1, let d1 = d.last?.1, let p0 = p.first?.1, let p1 = p.last?.1 else { continue }
            let (dr, pr) = (d1 / d0, p1 / p0)
            let flat = name != "attention"
            let good = flat ? dr <= 1.5 : pr >= 2
            if judge && !good { ok = false }
            lines.append("\(name): prefill per token ×\(f2(pr)), decode per token ×\(f2(dr)) from T = \(lengths.first!) to \(lengths.last!)"
                         + (judge && !good ? " (unexpected)" : ""))
        }
        if let zl = zPts.last?.1, let zm = zPts.first(where: { $0.0 == 16 })?.1 ?? zPts.first?.1 {
            let b0 = Int(zPts.first(where: { $0.0 == 16 })?.0 ?? zPts.first!.0)
            let wr = wPts.last!.1 / (wPts.first(where: { $0.0 == 16 })?.1 ?? wPts.first!.1)
            lines.append("z's time ×\(f2(zl / zm)) from b = \(b0) to b = \(Int(zPts.last!.0)); W's ×\(f2(wr))")
        }
        if !judge { lines.append("quick preset: sizes too small to judge latency; checks skipped") }
        let notes = """
        CPU, Float32, \(Parallel.threads) thread(s), no-grad fused paths (`Sources/Layers/*/*Fused.swift`), one layer, B = 1. Prefill time is \
        the median of \(runs) runs after a warm-up, divided by T; decode time is the median over \(decodeTokens) single-token \
        steps after a T-token prompt (4 warm-up tokens). Attention prefill is causal with a streaming softmax (no T×T \
        matrix); its decode reads a KV cache of T rows. The W/z split runs TTT-Linear's dual form (docs/ttt.md §1.7) on one \
        thread with a timer around each part: W's = K·W, the LN+L2 backward and the W update; z's = Q·W, Q·Kᵀ, the \
        masked (E⊙A)·Δ product and the output LN. The paper measures on an A100 with fp16 kernels; only the shapes \
        of the curves are comparable.
        """
        return StudyResult(tables: [prefill, decode, sweep], charts: [latency, split], verdict: Verdict(passed: ok, summary: lines), notes: notes)
    }
}

func f2(_ x: Double) -> String { String(format: "%.2f", x) }

/// TTT-Linear's dual form (docs/ttt.md §1.7) on one thread, with the W part and the z part timed apart.
enum DualSplit {
    /// Seconds (W part, z part) for all heads and mini-batches of `m` (inputs from `TTTLayer.mixerInputs`).
    static func run(_ m: TTTLayer.MixerInputs, bias: Bool, theta: Tensor? = nil) -> (Double, Double) {
        let (N, T, d) = (m.q.dim(0), m.q.dim(1), m.q.dim(2)), b = m.c.count
        let W = FastBuffer(d * d, zero: true), w = FastBuffer(d, zero: true)
        let zk = FastBuffer(b * d), z = FastBuffer(b * d), a = FastBuffer(b * b), ed = FastBuffer(b * d), tgt = FastBuffer(b * d)
        let tmp = FastBuffer(d), eta = FastBuffer(b)
        var tw = 0.0, tz = 0.0
        let pq = m.q.data, pk = m.k.data, pv = m.v.data, pe = m.eta.data, pc = m.c.data, pg = m.gamma.data, pb = m.beta.data
        for n0 in 0..<N {
            for i in 0..<(d * d) { W.p[i] = 0.02 * Float((i * 7919) % 17 - 8) / 8 }
            for j in 0..<d { w.p[j] = 0 }
            let gam = pg + n0 * d, bet = pb + n0 * d
            var lo = 0
            while lo < T {
                let n = min(b, T - lo), base = (n0 * T + lo) * d
                let q = pq + base, k = pk + base
                for i in 0..<(n * d) { tgt.p[i] = pv[base + i] - k[i] }
                for i in 0..<n { eta.p[i] = pe[n0 * T + lo + i] }
                let rows = FusedTTTRows(n: n, d: d, q: q, k: k, ld: d, target: tgt.p, eta: eta.p, c: pc, gamma: gam, beta: bet,
                                       innerLN: true, bias: bias, tmp: tmp.p)
                var t0 = LayerTiming.now()
                // W part (a): Z = K·W + w, Δ
                sgemm(transA: false, transB: false, m: n, n: d, k: d, k, lda: d, W.p, ldb: d, zk.p, ldc: d)
                for i in 0..<n { for j in 0..<d { zk.p[i * d + j] += w.p[j] } }
                rows.delta(zk.p)
                var t1 = LayerTiming.now(); tw += t1 - t0; t0 = t1
                // z part: Q·W − M·Δ + w, out = q + LN(z)
                sgemm(transA: false, transB: false, m: n, n: d, k: d, q, lda: d, W.p, ldb: d, z.p, ldc: d)
                sgemm(transA: false, transB: true, m: n, n: n, k: d, q, lda: d, k, ldb: d, a.p, ldc: n)
                rows.weightLowerTriangle(a.p)
                sgemm(transA: false, transB: false, m: n, n: d, k: n, a.p, lda: n, zk.p, ldb: d, z.p, ldc: d, alpha: -1, beta: 1)
                for i in 0..<n { let r = z.p + i * d; for j in 0..<d { r[j] += w.p[j] }; FastNorm.layerNorm(r, d, gamma: gam, beta: bet, into: r, residual: q + i * d) }
                t1 = LayerTiming.now(); tz += t1 - t0; t0 = t1
                // W part (b): W −= Kᵀ·(e⊙Δ), w −= Σ e⊙Δ
                let cn = pc[n - 1]
                for i in 0..<n { let e = cn * eta.p[i]; for j in 0..<d { ed.p[i * d + j] = e * zk.p[i * d + j] } }
                sgemm(transA: true, transB: false, m: d, n: d, k: n, k, lda: d, ed.p, ldb: d, W.p, ldc: d, alpha: -1, beta: 1)
                for i in 0..<n { for j in 0..<d { w.p[j] -= ed.p[i * d + j] } }
                tw += LayerTiming.now() - t0
                lo += n
            }
        }
        withExtendedLifetime((W, w, zk, z, a, ed, tgt, tmp, eta, m.q, m.k, m.v, m.eta, m.c, m.gamma, m.beta)) {}
        return (tw, tz)
    }
}
