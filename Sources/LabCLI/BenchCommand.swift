// BenchCommand.swift — `lab bench …`: speed measured as ratios within one run (never in tests).
import ArgumentParser
import Foundation
import Layers
import Models
import Studies
import TensorCore
import Zoo

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (build with -c release): ratios measured in the same run.",
        subcommands: [GemmBench.self, LayersBench.self, DecodeBench.self, TrainBench.self])
}

struct GemmBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "GFLOP/s of the tensor core's matmul beside raw cblas_sgemm on the same data.",
        discussion: "Goal: core overhead under 10% at 64³ and under 2% at 256³ and up (ratio ≥ 0.90 / ≥ 0.98).")

    @Option(name: .long, help: "Seconds per size and side (more is steadier).") var seconds: Double = 0.5

    func run() throws {
        try Validate.seconds(seconds, "--seconds", max: 3600)
        print("gemm bench, \(Parallel.threads) thread(s); ratio = core / raw cblas_sgemm")
        for row in gemmBenchmark(minSeconds: seconds) { print(row) }
    }
}

struct LayersBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layers",
        abstract: "Prefill tokens/s and FLOP efficiency of every layer against a 1024³ sgemm measured in the same run.",
        discussion: """
        Shapes: D = 768, H = 12 (d = 64), b = 16, one layer, B = 1, T = --context. efficiency =
        (analytic FLOPs/token × tokens/s) ÷ GFLOP/s of a 1024³ cblas_sgemm at the same threads (measured
        before and after the layers; the mean is used). Softmax attention is charged its causal-average FLOPs.
        Goals (2 cores): ttt-linear ≥ 0.80, ttt-mlp ≥ 0.60, attention ≥ 0.60, linear-attention ≥ 0.80,
        Mamba-backbone TTT ≤ 1.15× its Transformer-backbone variant.
        """)

    @Option(name: .long, help: "Context length T.") var context: Int = 2048
    @Option(name: .long, help: "Minimum seconds of timed prefill per layer.") var seconds: Double = 2
    @Option(name: .long, help: "Width D.") var width: Int = 768
    @Option(name: .long, help: "Heads H.") var heads: Int = 12
    @Option(name: .long, help: "Batch B.") var batch: Int = 1
    @Option(name: .long, help: "Comma-separated layer names (default: all seven).") var layers: String?
    @Flag(name: .long, help: "Also time the reference (differentiable-op) path under no-grad, for the speed-up.") var reference = false
    @Option(name: .long, help: "Attention query×key tile, e.g. 64x256 (default: FlashAttention's).") var attentionTiles: String?

    /// Numbers and names, before anything is allocated (LabError: one line, exit 2).
    func checkOptions() throws {
        try Validate.count(context, "--context", max: Validate.maxLength)
        try Validate.count(batch, "--batch", max: 1 << 20)
        try Validate.seconds(seconds, "--seconds", max: 3600)
        if let attentionTiles { _ = try parseTiles(attentionTiles) }
    }

    func run() throws {
        try checkOptions()
        let names = try benchLayerNames(layers)
        let tiles = try attentionTiles.map(parseTiles)
        try LayerConfig(width: width, heads: heads).validate()
        // Input, output and the layers' activations (≈ 64 floats per width per token), and the weights.
        try Validate.memory(bytes: 4 * Double(batch) * Double(context) * Double(width) * 64 + 64 * Double(width) * Double(width),
                            for: "the layers bench at B = \(batch), T = \(context), D = \(width)", fix: "use a smaller --context, --batch or --width")
        let g0 = sgemmGFLOPs(n: 1024)
        print("layers bench: D = \(width), H = \(heads), b = 16, B = \(batch), T = \(context), \(Parallel.threads) thread(s)")
        var rows: [(String, Double, Double)] = []
        var times: [String: Double] = [:]
        for name in names {
            let layer = try LayerTiming.make(name, D: width, H: heads)
            if let t = tiles, let tiled = layer as? TiledKernels { tiled.tiles.attentionQuery = t.0; tiled.tiles.attentionKey = t.1 }
            let st = LayerTiming.prefill(layer, T: context, B: batch, runs: 5, minSeconds: seconds)
            let tps = Double(batch * context) / st.median
            let gflops = LayerTiming.prefillFlopsPerToken(layer, T: context) * tps * 1e-9
            times[name] = st.median
            var refNote = ""
            if reference {
                let r = layer.withKernels(.reference) { LayerTiming.prefill(layer, T: context, B: batch, runs: 3) }
                refNote = String(format: "  reference %.1f ms (fast ×%.1f)", r.median * 1e3, r.median / st.median)
            }
            rows.append((name, tps, gflops))
            print(pad(name) + String(format: " %9.0f tokens/s  %7.1f GFLOP/s  (%.1f ms, min %.1f, max %.1f)", tps, gflops,
                         st.median * 1e3, st.min * 1e3, st.max * 1e3) + refNote)
        }
        let g1 = sgemmGFLOPs(n: 1024), g = 0.5 * (g0 + g1)
        print(String(format: "sgemm 1024³: %.1f GFLOP/s (before %.1f, after %.1f)", g, g0, g1))
        print("layer             tokens/s   GFLOP/s  efficiency")
        for (name, tps, gf) in rows {
            print(pad(name) + String(format: " %9.0f  %8.1f  %.3f", tps, gf, gf / g))
        }
        for base in ["ttt-linear", "ttt-mlp"] {
            if let t = times[base], let m = times[base + "-m"] {
                print("\(base)-m / \(base) prefill time: " + String(format: "%.3f", m / t) + " (goal ≤ 1.15)")
            }
        }
    }
}

struct DecodeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Per-token decode time at two contexts (default 1k and 16k) and their ratio, beside a naive recompute-the-prefix baseline.",
        discussion: """
        Decode: the state is filled by one prefill of T tokens, then --tokens single-token steps are timed (median).
        Naive baseline: what a model without a recurrent state pays per new token — one no-grad parallel forward
        over the whole prefix of T + 1 tokens (one timed run after a warm-up run). Throughput = 1 / time per token.
        Goal: ratio ≤ 1.1 for the TTT layers, linear attention and Mamba (constant-size state); attention grows with T.
        """)

    @Option(name: .long, help: "Short context.") var short: Int = 1024
    @Option(name: .long, help: "Long context.") var long: Int = 16384
    @Option(name: .long, help: "Timed tokens per context.") var tokens: Int = 256
    @Option(name: .long, help: "Width D.") var width: Int = 768
    @Option(name: .long, help: "Heads H.") var heads: Int = 12
    @Option(name: .long, help: "Comma-separated layer names.") var layers: String?
    @Flag(name: .long, help: "Skip the naive recompute-the-prefix baseline (two full forwards per context and layer).") var noNaive = false

    /// Numbers and names, before anything is allocated (LabError: one line, exit 2).
    func checkOptions() throws {
        try Validate.count(short, "--short", max: Validate.maxLength)
        try Validate.count(long, "--long", max: Validate.maxLength)
        try Validate.count(tokens, "--tokens", max: 1_000_000)
    }

    func run() throws {
        try checkOptions()
        let names = try benchLayerNames(layers)
        try LayerConfig(width: width, heads: heads).validate()
        // The prompt [1, T, D], attention's KV cache and the layers' prefill activations (≈ 64 floats per width per token).
        try Validate.memory(bytes: 4 * Double(max(short, long) + tokens + 4) * Double(width) * 64 + 64 * Double(width) * Double(width),
                            for: "the decode bench at T = \(max(short, long)), D = \(width)", fix: "use a smaller --long, --short or --width")
        print("decode bench: D = \(width), H = \(heads), b = 16, B = 1, \(Parallel.threads) thread(s); median over \(tokens) tokens")
        print("layer             T=\(short) (µs/token)  T=\(long) (µs/token)  ratio   decode tok/s \(short) / \(long)"
              + (noNaive ? "" : "   naive recompute tok/s \(short) / \(long)   decode speed-up over naive at \(long)"))
        for name in names {
            let layer = try LayerTiming.make(name, D: width, H: heads)
            let a = LayerTiming.decode(layer, context: short, tokens: tokens)
            let b = LayerTiming.decode(layer, context: long, tokens: tokens)
            var line = pad(name) + String(format: " %10.1f            %10.1f            %.3f   %9.0f / %-9.0f", a.median * 1e6, b.median * 1e6,
                                          b.median / a.median, 1 / a.median, 1 / b.median)
            if !noNaive {
                let na = LayerTiming.prefill(layer, T: short + 1, runs: 1), nb = LayerTiming.prefill(layer, T: long + 1, runs: 1)
                line += String(format: "   %11.1f / %-11.2f        %8.0f×", 1 / na.median, 1 / nb.median, nb.median / b.median)
            }
            print(line)
        }
    }
}

struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training-step speed (forward + backward) of every layer and of the tiny LM: fused kernels vs the reference path.",
        discussion: """
        Part 1, one layer: D = 768, H = 12 (d = 64), b = 16, B = 1, T = --context; a step is y = layer(x),
        loss = Σ y ⊙ w, backward into x and every parameter. efficiency = analytic training FLOPs (3 × the
        forward's; softmax attention at its causal average) × tokens/s ÷ a 1024³ cblas_sgemm's GFLOP/s measured
        in the same run (before and after; the mean). Peak = the most bytes of tensors and fused-kernel buffers held
        during a step above what was held before it (activations kept for the backward, gradients, scratch).
        Goals (2 cores): ttt-linear ≥ 0.60, ttt-mlp ≥ 0.50, attention ≥ 0.50, linear-attention ≥ 0.60,
        mamba ≥ 0.40; Mamba-backbone TTT ≤ 1.15× its Transformer-backbone time.
        --forward-only mlp,… adds a row per named plugin with only its forward (hand-written gradient and dual
        removed: derived inner gradient in create-graph mode, primal form, the rematerialising training node),
        and its time and peak as multiples of the hand-written plugin's row (which must be in --layers).
        Part 2, the `tiny` LM (4 × D128, H4, I344; B = 8, T = 256, AdamW): tokens/s fused vs reference, one
        optimizer step each. Goal: fused ≥ 3× reference for ttt-linear and ttt-mlp.
        Part 3, memory of the `tiny` LM at B = 1, T = --memory-context (8192), two AdamW steps each, with each
        block's activations recomputed in the backward and kept: the peak of tensor and fused-kernel bytes
        (AllocationMeter, everything live: weights, moments, activations, scratch) and the process's peak
        resident set (VmHWM from /proc/self/status, reset in-process by malloc_trim + clear_refs before each
        measurement). Goal: ttt-linear ≤ 300 MB resident with recompute, ttt-mlp ≤ 1.5× that.
        Part 4, the study-sized models (--models): `recall` — the recall study's model (default preset, D 64: 2 blocks
        for attention, 4 for the others, gated short conv k 3, no MLP, one head) on 64 MQAR sequences × T 256
        (16 pairs), the study's masked loss; `longcontext` — the long-context study's model (2 × D64, H2, I128,
        pre-conv; Mamba 4 blocks) on 16 dictionary sequences × T 128; `lm128` — a 2 × D128 byte LM (H4, I344; the
        Mamba stack 4 blocks), 4 × T 1024 random bytes. One AdamW step each; tokens/s (median after a warm-up),
        efficiency = analytic training FLOPs × tokens/s ÷ the 1024³ sgemm rate of the same run, and the share of
        the step outside GEMMs = 1 − (thread-seconds inside cblas_sgemm ÷ (threads × step seconds)), from two
        extra steps with the GEMM clock on. CPU ms/step is process CPU time (all threads, spinning workers included)
        per timed step: on a machine shared with other work compare builds by it at LAB_THREADS=1.
        Example: lab bench train --layers ttt-linear,attention --lm-layers ttt-linear --memory-layers none
        Example: lab bench train --layers none --lm-layers none --memory-layers none --models recall,lm128
        """)

    @Option(name: .long, help: "Context length T of the one-layer steps.") var context: Int = 2048
    @Option(name: .long, help: "Width D.") var width: Int = 768
    @Option(name: .long, help: "Heads H.") var heads: Int = 12
    @Option(name: .long, help: "Minimum seconds of timed fused steps per layer.") var seconds: Double = 2
    @Option(name: .long, help: "Comma-separated layers for part 1 (default: all seven; 'none' skips it).") var layers: String?
    @Option(name: .long, help: "Comma-separated layers for the tiny LM (default: all seven; 'none' skips it).") var lmLayers: String?
    @Option(name: .long, help: "Comma-separated layers for the tiny LM memory rows (default: ttt-linear,ttt-mlp; 'none' skips them).") var memoryLayers: String = "ttt-linear,ttt-mlp"
    @Option(name: .long, help: "Context length T of the memory rows (B = 1).") var memoryContext: Int = 8192
    @Flag(name: .long, help: "Skip the reference path (fused only; no speed-up column).") var noReference = false
    @Option(name: .long, help: "Comma-separated study-sized models: recall, longcontext, lm128 (default: recall; 'none' skips them).") var models: String = "recall"
    @Option(name: .long, help: "Comma-separated layers for --models (default: each model's study layers; lm128: the paper's five).") var modelLayers: String?
    @Option(name: .long, help: "Sequence length T of the recall model (64, 128 or 256: the study's settings (64, 4), (128, 8), (256, 16)).") var recallLength: Int = 256
    @Option(name: .long, help: "Comma-separated plugins (e.g. mlp) to time also forward-only: derived gradient, primal form.") var forwardOnly: String?

    static let goals: [String: Double] = ["ttt-linear": 0.60, "ttt-mlp": 0.50, "attention": 0.50, "linear-attention": 0.60, "mamba": 0.40]

    /// `--layers`/`--lm-layers`: "none" skips that part; otherwise the checked list (or the default set).
    func names(_ s: String?) throws -> [String] { s == "none" ? [] : try benchLayerNames(s) }

    /// `--forward-only a,b`: registered plugin names (with or without "ttt-"), checked before anything runs.
    func forwardOnlyPlugins() throws -> [InnerModel.Type] {
        guard let list = forwardOnly else { return [] }
        let names = list.split(separator: ",", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !names.isEmpty else { throw LabError.badConfig("--forward-only '\(list)' names no plugin — pass e.g. --forward-only mlp") }
        return try names.map { n in
            let bare = n.hasPrefix("ttt-") ? String(n.dropFirst(4)) : n
            guard let p = InnerModelRegistry.all.first(where: { $0.name == bare }), !(p is NonparametricInnerModel.Type) else {
                throw LabError.unknownName(kind: "parametric plugin", name: n, valid: InnerModelRegistry.all.filter { !($0 is NonparametricInnerModel.Type) }.map { $0.name })
            }
            return p
        }
    }

    func run() throws {
        let layerNames = try names(layers), lmNames = try names(lmLayers), memNames = try names(memoryLayers)
        let fwdOnly = try forwardOnlyPlugins()
        let modelNames = try smallModelNames()
        let modelLayerList = try modelLayers.map { try benchLayerNames($0, allowing: ["mamba@ttt-linear"]) }
        let smallCases = try smallModelCases(modelNames, layers: modelLayerList)
        guard [64, 128, 256].contains(recallLength) else {
            throw LabError.badConfig("--recall-length \(recallLength) is not a recall study setting — use 64, 128 or 256")
        }
        try Validate.count(context, "--context", max: Validate.maxLength)
        try Validate.count(memoryContext, "--memory-context", max: Validate.maxLength)
        if !memNames.isEmpty {
            // Keeping every activation: ≈ 40·D + 4·I floats per token per block (the tiny LM: ≈ 104 KB per token).
            try Validate.memory(bytes: 4 * Double(memoryContext) * (4 * (40 * 128 + 4 * 344) + 512) + 64e6,
                                for: "the tiny-LM memory rows at T = \(memoryContext)", fix: "use a smaller --memory-context or --memory-layers none")
        }
        try Validate.seconds(seconds, "--seconds", max: 3600)
        try LayerConfig(width: width, heads: heads).validate()
        // Training keeps ≈ 3× the forward's activations (≈ 64 floats per width per token) plus the reference's
        // T×T attention scores per head; the tiny LM is small.
        try Validate.memory(bytes: 4 * Double(context) * Double(width) * 192 + 12 * Double(heads) * Double(context) * Double(context)
                                   + 64 * Double(width) * Double(width),
                            for: "the train bench at T = \(context), D = \(width)", fix: "use a smaller --context or --width")
        let ref = !noReference
        if !layerNames.isEmpty || !fwdOnly.isEmpty {
            _ = sgemmGFLOPs(n: 1024)                                          // warm-up (clock, caches)
            let g0 = sgemmGFLOPs(n: 1024)
            print("train bench, one layer: D = \(width), H = \(heads), b = 16, B = 1, T = \(context), \(Parallel.threads) thread(s)")
            var rows: [(name: String, fused: TimingStats, ref: TimingStats?, flops: Double, peak: Int?, peakRef: Int?)] = []
            for name in layerNames {
                let layer = try LayerTiming.make(name, D: width, H: heads)
                let fusedKernel = (layer as? any FusedTraining)?.fusedTrainingSupported ?? false
                let (f, pf) = TrainTiming.peakMemory { TrainTiming.layerStep(layer, T: context, runs: 3, minSeconds: seconds) }
                var r: TimingStats? = nil, pr: Int? = nil
                if ref { (r, pr) = TrainTiming.peakMemory { layer.withKernels(.reference) { TrainTiming.layerStep(layer, T: context, runs: 1) } } }
                let flops = 3 * LayerTiming.prefillFlopsPerToken(layer, T: context)
                rows.append((name, f, r, flops, pf, pr))
                print(pad(name) + String(format: " fused %.1f ms", f.median * 1e3) + (fusedKernel ? "" : (layer as? TTTLayer).map { _ in " (no fused training kernel: rematerialising node)" } ?? " (no fused training kernel: reference)")
                      + (r.map { String(format: ", reference %.1f ms", $0.median * 1e3) } ?? ""))
            }
            for plugin in fwdOnly {
                // The same layer as LayerTiming.make("ttt-<plugin>"), with the plugin reduced to its forward.
                var cfg = LayerConfig(width: width, heads: heads)
                cfg.ttt.miniBatch = 16
                var rng = RNG(seed: 0)
                let layer = try TTTLayer(config: cfg, inner: plugin.forwardOnly, rng: &rng)
                let (f, pf) = TrainTiming.peakMemory { TrainTiming.layerStep(layer, T: context, runs: 1, minSeconds: 0) }
                let name = "ttt-\(plugin.name)/fwd"
                rows.append((name, f, nil, 3 * LayerTiming.prefillFlopsPerToken(layer, T: context), pf, nil))
                var line = pad(name) + String(format: " %.1f ms (forward only: derived gradient, primal form, rematerialised)", f.median * 1e3)
                if let base = rows.first(where: { $0.name == "ttt-\(plugin.name)" }) {
                    line += String(format: "; %.1f× the time and %.2f× the peak of ttt-\(plugin.name)", f.median / base.fused.median,
                                   Double(pf ?? 0) / Double(max(base.peak ?? 1, 1)))
                }
                print(line)
            }
            let g1 = sgemmGFLOPs(n: 1024), g = 0.5 * (g0 + g1)
            print(String(format: "sgemm 1024³: %.1f GFLOP/s (before %.1f, after %.1f)", g, g0, g1))
            print("layer              tokens/s  efficiency  goal   speed-up  peak MiB fused / reference")
            func mib(_ b: Int?) -> String { b.map { String(format: "%.0f", Double($0) / 1048576) } ?? "?" }
            for row in rows {
                let tps = Double(context) / row.fused.median
                let eff = row.flops * tps * 1e-9 / g
                let goal = Self.goals[row.name].map { String(format: "%.2f", $0) } ?? "  – "
                let up = row.ref.map { String(format: "%6.1f×", $0.median / row.fused.median) } ?? "     –"
                print(pad(row.name) + String(format: " %9.0f  %9.3f  ", tps, eff) + goal + "  " + up + "  " + mib(row.peak) + " / " + mib(row.peakRef))
            }
            let t = Dictionary(rows.map { ($0.name, $0.fused.median) }, uniquingKeysWith: { a, _ in a })
            for base in ["ttt-linear", "ttt-mlp"] {
                if let a = t[base], let m = t[base + "-m"] { print("\(base)-m / \(base) training time: " + String(format: "%.3f", m / a) + " (goal ≤ 1.15)") }
            }
        }
        if !lmNames.isEmpty {
            let (B, T) = (8, 256)
            print("\ntrain bench, tiny LM: B = \(B), T = \(T), AdamW, \(Parallel.threads) thread(s); median of ≥ 3 steps after a warm-up"
                  + (ref ? ", fused and reference steps alternating" : ""))
            print("layer              fused tok/s  reference tok/s  speed-up")
            for name in lmNames {
                let model = try LanguageModel(config: try ModelConfig.preset("tiny", layer: name), seed: 0)
                if ref {
                    let (f, r) = TrainTiming.modelStepPair(model, T: T, B: B, runs: 3, minSeconds: seconds)
                    print(pad(name) + String(format: " %11.0f  %15.0f  %7.2f×", Double(B * T) / f.median, Double(B * T) / r.median, r.median / f.median))
                } else {
                    let f = TrainTiming.modelStep(model, T: T, B: B, runs: 3, minSeconds: seconds)
                    print(pad(name) + String(format: " %11.0f", Double(B * T) / f.median))
                }
            }
        }
        if !memNames.isEmpty { try memoryRows(memNames) }
        if !smallCases.isEmpty { try smallModelRows(smallCases) }
    }

    /// `--models a,b`: names from SmallModelTiming.modelNames ("none": no rows), checked before anything runs.
    func smallModelNames() throws -> [String] {
        if models == "none" { return [] }
        let names = models.split(separator: ",", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !names.isEmpty else { throw LabError.badConfig("--models '\(models)' names no model — pass e.g. --models recall,lm128 or --models none") }
        for n in names where !SmallModelTiming.modelNames.contains(n) {
            throw LabError.unknownName(kind: "bench model", name: n, valid: SmallModelTiming.modelNames)
        }
        return names
    }

    /// Every (model, layer) case of part 4, built before anything is timed: a layer a model cannot take
    /// (e.g. mamba@ttt-linear for the recall model) is refused in one line, not skipped.
    func smallModelCases(_ names: [String], layers: [String]?) throws -> [(String, String, SmallModelCase)] {
        var cases: [(String, String, SmallModelCase)] = []
        for m in names {
            for layer in layers ?? SmallModelTiming.defaultLayers(m) {
                do {
                    cases.append((m, layer, m == "recall" ? try SmallModelTiming.recall(layer: layer, length: recallLength, pairs: recallLength / 16)
                                                          : try SmallModelTiming.make(m, layer: layer)))
                } catch {
                    throw LabError.badConfig("--model-layers: the \(m) model cannot take \(layer) (\(error)) — leave it out of --model-layers or of --models")
                }
            }
        }
        return cases
    }

    /// Part 4: tokens/s, efficiency and the share outside GEMMs of the study-sized models.
    func smallModelRows(_ cases: [(String, String, SmallModelCase)]) throws {
        _ = sgemmGFLOPs(n: 1024)
        let g0 = sgemmGFLOPs(n: 1024)
        var rows: [(String, String, SmallModelResult)] = []
        print("\ntrain bench, study-sized models: \(Parallel.threads) thread(s); median of ≥ 3 AdamW steps after a warm-up")
        for (m, layer, c) in cases {
            let r = try SmallModelTiming.measure(c, runs: 3, minSeconds: seconds)
            if !r.lossValue.isFinite { print("SmallModelTiming: non-finite loss for \(m) \(layer)") }
            rows.append((m, layer, r))
            print(pad(m) + " " + pad(layer) + String(format: " B %d × T %d: %.1f ms/step (min %.1f, max %.1f)", c.batch, c.context,
                                                      r.step.median * 1e3, r.step.min * 1e3, r.step.max * 1e3))
        }
        let g1 = sgemmGFLOPs(n: 1024), g = 0.5 * (g0 + g1)
        print(String(format: "sgemm 1024³: %.1f GFLOP/s (before %.1f, after %.1f)", g, g0, g1))
        print("model             layer              tokens/s  step ms  CPU ms/step  tokens/CPU-s  efficiency  outside GEMMs  sgemm calls/step")
        for (m, layer, r) in rows {
            let eff = r.flopsPerToken * r.tokensPerSecond * 1e-9 / g
            let tpc = r.tokensPerSecond * r.step.median / r.cpuPerStep
            print(pad(m) + " " + pad(layer) + String(format: " %9.0f  %7.1f  %11.1f  %12.0f  %9.4f  %12.2f  %9d", r.tokensPerSecond, r.step.median * 1e3,
                                                      r.cpuPerStep * 1e3, tpc, eff, 1 - r.gemmShare, r.gemmCalls))
        }
    }

    /// Part 3: peak memory of two tiny-LM training steps at B = 1, T = --memory-context, recompute vs keep.
    func memoryRows(_ names: [String]) throws {
        let T = memoryContext
        print("\ntrain bench, tiny LM memory: B = 1, T = \(T), 2 AdamW steps, \(Parallel.threads) thread(s); MiB = 2^20 bytes")
        print("layer              tensor peak MiB recompute / keep   resident peak MiB recompute / keep   ratio to ttt-linear")
        func mib(_ b: Int?) -> String { b.map { String(format: "%.0f", Double($0) / 1048576) } ?? "?" }
        var linearResident: Int? = nil
        for name in names {
            let model = try LanguageModel(config: try ModelConfig.preset("tiny", layer: name), seed: 0)
            let r = TrainMemory.measure(model, T: T, B: 1, recompute: .always)
            let k = TrainMemory.measure(model, T: T, B: 1, recompute: .never)
            if !(r.loss.isFinite && k.loss.isFinite) { print("TrainMemory: non-finite loss for \(name)") }
            if name == "ttt-linear" { linearResident = r.residentBytes }
            let ratio = (linearResident.flatMap { l in r.residentBytes.map { Double($0) / Double(l) } }).map { String(format: "%.2f", $0) } ?? "–"
            print(pad(name) + "  " + pad(mib(r.tensorBytes) + " / " + mib(k.tensorBytes)) + "                  "
                  + pad(mib(r.residentBytes) + " / " + mib(k.residentBytes)) + "                    " + ratio)
        }
    }
}

/// `--layers a,b`: every name must be a layer (checked before anything is timed); nil gives the default set.
func benchLayerNames(_ list: String?, allowing extra: [String] = []) throws -> [String] {
    guard let list else { return LayerTiming.benchLayers }
    let names = list.split(separator: ",", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
    guard !names.isEmpty else { throw LabError.badConfig("--layers '\(list)' names no layer — pass e.g. --layers ttt-linear,attention") }
    for n in names where !LayerRegistry.names.contains(n) && !extra.contains(n) {
        throw LabError.unknownName(kind: "layer", name: n, valid: LayerRegistry.names)
    }
    return names
}

/// `--attention-tiles QxK`: two tile sizes in 1...4096 (they size per-thread buffers), or a one-line error.
func parseTiles(_ s: String) throws -> (Int, Int) {
    let parts = s.lowercased().split(separator: "x", omittingEmptySubsequences: false)
    guard parts.count == 2, let q = Int(parts[0]), let k = Int(parts[1]), (1...4096).contains(q), (1...4096).contains(k) else {
        throw LabError.badConfig("--attention-tiles '\(s.prefix(40))' must be QxK with both tiles from 1 to 4096 (e.g. --attention-tiles 64x256)")
    }
    return (q, k)
}

/// Left-justified to 17 columns.
private func pad(_ s: String) -> String { s.count >= 17 ? s : s + String(repeating: " ", count: 17 - s.count) }
