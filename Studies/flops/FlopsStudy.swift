// FlopsStudy.swift — `lab study flops`: per-token forward FLOPs of every layer, the analytic formula
// (docs/ttt.md §5, docs/baselines.md §5) beside what the tensor core counted, FLOPs vs context, and the
// paper's Fig. 2 whole-model FLOP matching.
import Foundation
import Layers
import StudyKit
import TensorCore
import Zoo

/// A layer shape of the study: a name, width D and heads H.
public struct FlopShape: Sendable {
    public let name: String, width: Int, heads: Int
    public init(_ name: String, width: Int, heads: Int) { self.name = name; self.width = width; self.heads = heads }
    public var config: LayerConfig { LayerConfig(width: width, heads: heads) }

    /// A small lab config, then the paper's four widths (docs/ttt.md §3).
    public static let labSmall = FlopShape("lab-small", width: 64, heads: 4)
    public static let paper: [FlopShape] = [
        FlopShape("125M", width: 768, heads: 12), FlopShape("350M", width: 1024, heads: 16),
        FlopShape("760M", width: 1536, heads: 16), FlopShape("1.3B", width: 2048, heads: 32),
    ]
}

/// Per-token forward FLOPs: the analytic formulas against the tensor core's counters.
public struct FlopsStudy: Study {
    public let name = "flops"
    public let title = "FLOPs per token: analytic formulas vs counted, FLOPs vs context, Fig. 2 FLOP matching"
    public let claim = """
    The lab's analytic forward FLOPs per token (2 per multiply-add; projections, lr gate, convs, inner loop / \
    scan / attention; norms and other elementwise work ignored) agree within 5% with the FLOPs the tensor core \
    counts while running each layer, for the five paper layers and the Mamba-backbone TTT variants, at the \
    paper's widths (125M–1.3B) and at a small lab config. Attention's FLOPs per token grow linearly with the \
    context while TTT-Linear, TTT-MLP, linear attention and Mamba stay flat; and with these formulas the \
    paper's FLOP matching for Fig. 2 is reproduced (TTT-Linear 1.3B 2.68, TTT-MLP 1.3B 2.69, Mamba 1.4B \
    2.69 GFLOP/token).
    """
    public let paperReference = "Sun et al. 2024, Fig. 2 (FLOP matching), Table 3, §3.1; docs/ttt.md §3, §5; docs/baselines.md §5"
    public let presets: [Preset: String] = [
        .quick: "lab-small D=64/H=4 only, T=64; context sweep at D=64 counted at T ∈ {512, 1024}",
        .standard: "lab-small + 125M/350M/760M/1.3B widths, T=64; context sweep at the 1.3B shape counted at T ∈ {512, 1024}",
        .full: "as default with T=256; context sweep counted at T ∈ {512, 1024, 2048}",
    ]

    /// Counted and analytic must agree within this relative difference (the issue's 5%).
    public static let tolerance = 0.05
    /// A negative control is required to disagree when the term it omits is at least this fraction
    /// of the formula (2× the tolerance); smaller omissions are listed to show what 5% cannot see.
    public static let controlRequiredShare = 0.10
    /// Whole-model numbers must match the paper's (2 decimals) within this relative difference.
    public static let modelTolerance = 0.005

    /// Rows of the main table: (layer, form) for the registry's paper layers on both backbones, each in its
    /// default form, and attention also in decode.
    public static var rows: [(String, FlopForm)] {
        LayerRegistry.paperWithBackbones.flatMap { spec -> [(String, FlopForm)] in
            [(spec.name, FlopAccounting.defaultForm(spec.name))] + (spec == .attention ? [(spec.name, .decode)] : [])
        }
    }
    public static let contextGrid = [512, 1024, 2048, 4096, 8192, 16384, 32768]

    public init() {}

    public func run(_ ctx: StudyContext) throws -> StudyResult {
        let shapes = ctx.pick(quick: [FlopShape.labSmall], standard: [FlopShape.labSmall] + FlopShape.paper,
                              full: [FlopShape.labSmall] + FlopShape.paper)
        let T = ctx.pick(quick: 64, standard: 64, full: 256)
        let sweepShape = ctx.pick(quick: FlopShape.labSmall, standard: FlopShape.paper[3], full: FlopShape.paper[3])
        let sweepCounted = ctx.pick(quick: [512, 1024], standard: [512, 1024], full: [512, 1024, 2048])
        let sweepLayers = LayerRegistry.paperLayers
        let bar = ctx.progressBar("flops", total: shapes.count * Self.rows.count + sweepLayers.count * sweepCounted.count)
        var failures: [String] = []

        // 1. Counted vs analytic at every width.
        let measurements = try Self.measure(shapes, length: T, ctx, bar)
        let (main, agreement) = Self.countedVsAnalytic(measurements, length: T, failures: &failures)
        // 2. Negative controls: wrong formulas against the same counts.
        let (controls, caught) = Self.negativeControls(measurements, failures: &failures)
        // 3. FLOPs per token vs context at one shape (analytic), with counted points.
        let context = try Self.contextSweep(sweepLayers, shape: sweepShape, counted: sweepCounted, ctx, bar, failures: &failures)
        // 4. The paper's FLOP matching for Fig. 2 (docs/ttt.md §5), analytic.
        let (modelTable, models, modelLines) = try Self.flopMatching(failures: &failures)
        // 5. Formula legend.
        let legend = Self.formulaLegend()

        // Verdict.
        let maxAbs = max(agreement.maxAbs, context.maxAbs), exact = agreement.exact
        let counted = context.counted, flat = context.flat, flatNames = context.flatNames, growth = context.growth
        let (requiredRun, requiredCaught, smallestCaught) = (caught.run, caught.caught, caught.smallest)
        let paperRows = measurements.filter { $0.0.name != FlopShape.labSmall.name }.map { $0.1.remainderFraction }
        let smallRows = measurements.filter { $0.0.name == FlopShape.labSmall.name }.map { $0.1.remainderFraction }
        func range(_ v: [Double]) -> String { v.isEmpty ? "–" : "\(pct(v.min()!, 1))–\(pct(v.max()!, 1))" }
        let summary = [
            "\(measurements.count)/\(measurements.count) layer×width rows and \(counted.count) context-sweep points compared: " +
            "max |counted − analytic| / analytic = \(pct(maxAbs, 4)) (tolerance 5%); \(exact)/\(measurements.count) rows agree exactly (GEMMs and convs/scan).",
            "Negative controls: \(requiredCaught)/\(requiredRun) required wrong formulas disagree by > 5% (smallest \(pct(smallestCaught, 1))).",
            "Elementwise remainder (norms, RoPE, activations, softmax, LN backward, gating — not in the formulas): " +
            "\(range(smallRows)) of all counted FLOPs at lab-small\(paperRows.isEmpty ? "" : ", \(range(paperRows)) at the paper widths").",
            "Context: attention (causal average) grows \(String(format: "%.1f", growth))× from T = 512 to 32k at \(sweepShape.name); " +
            "\(flatNames.joined(separator: ", ")) are \(flat ? "flat" : "NOT flat").",
            "Fig. 2 FLOP matching (GFLOP/token): " + modelLines.joined(separator: ", ") + ".",
        ] + failures.prefix(10)
        let notes = Self.notes(models)
        return StudyResult(tables: [main, controls, context.table, context.countedTable, modelTable, legend], charts: [context.chart],
                           verdict: Verdict(passed: failures.isEmpty, summary: summary), notes: notes)
    }

    /// The report's notes: how FLOPs are counted and what each form charges.
    static func notes(_ models: [ModelFlops]) -> String {
        let mambaTotal = models.first { $0.name.hasPrefix("Mamba") }!.total
        return """
        FLOPs are counted by `FLOPCounter` while the layer runs its forward under `withNoGrad` on one sequence of \
        N(0, 1) inputs (counts do not depend on the values, so the study is deterministic). GEMMs count 2·m·n·k; \
        the elementwise counter adds one per arithmetic result and a few per transcendental or norm element. \
        The attention decode path does its softmax in an inline loop the counter does not see, so its remainder \
        is a lower bound; the simple linear-attention recurrence has no elementwise work besides its products. \
        The TTT layers run the dual form with full b×b products (mini-batch b = 16), which is exactly what \
        6Dd + 6Db (TTT-Linear) and 56Dd + 30Db (TTT-MLP) count — so the GEMM part agrees to the FLOP; exploiting \
        triangularity would halve the b² terms. Linear attention is counted in its recurrent form, the form its \
        4Dd formula describes; its default chunked prefill (chunk c = 64) does 4Dd + 4Dc per token (at the 1.3B \
        shape +4D·64 = +0.52 MFLOP/token, 1.5%). Attention is counted twice: the dense prefill computes the full \
        masked T×T score matrix (8D² + 4DT, i.e. every token charged for the full context), while the KV-cache \
        decode charges token t for t keys, whose average is the causal 8D² + 2D(T+1). The whole-model check \
        reproduces docs/ttt.md §5: with the full-context charge the 19-block Transformer at 32k is \
        \(String(format: "%.2f", (models.first { $0.name.contains("full") }?.total ?? 0) / mambaTotal))× Mamba 1.4B \
        (paper: 2.8×), with the causal average \(String(format: "%.2f", (models.first { $0.name.contains("causal") }?.total ?? 0) / mambaTotal))×.
        """
    }

    /// Runs every (layer, form) row at every shape under the FLOP counter.
    static func measure(_ shapes: [FlopShape], length T: Int, _ ctx: StudyContext, _ bar: ProgressBar) throws -> [(FlopShape, FlopMeasurement)] {
        var measurements: [(FlopShape, FlopMeasurement)] = []
        for s in shapes {
            var built: [String: SequenceLayer] = [:]
            for (name, form) in Self.rows {
                ctx.progress("\(name) \(form.label) at \(s.name), T=\(T)")
                let layer = try built[name] ?? LayerRegistry.make(name, s.config, seed: ctx.seed)
                built[name] = layer
                measurements.append((s, FlopAccounting.measure(layer, name: name, length: T, form: form, seed: ctx.seed)))
                bar.advance()
            }
        }
        return measurements
    }

    /// The main table, counted vs analytic; the largest |Δ| and how many rows agree exactly.
    static func countedVsAnalytic(_ measurements: [(FlopShape, FlopMeasurement)], length T: Int,
                                  failures: inout [String]) -> (Table, (maxAbs: Double, exact: Int)) {
        var main = Table(name: "counted-vs-analytic", title: "Forward FLOPs per token: analytic formula vs tensor-core count (B = 1, T = \(T))", columns: [
            .init("layer"), .init("form"), .init("config"), .init("D", format: .integer), .init("H", format: .integer),
            .init("analytic", unit: "MFLOP/tok", format: .significant(6)),
            .init("of which conv+scan", unit: "MFLOP/tok", format: .significant(4)),
            .init("counted matmul", unit: "MFLOP/tok", format: .significant(6)),
            .init("counted conv+scan", unit: "MFLOP/tok", format: .significant(4)),
            .init("Δ counted vs analytic", format: .percent(3)),
            .init("elementwise remainder", unit: "MFLOP/tok", format: .significant(3)),
            .init("remainder / counted total", format: .percent(1)),
            .init("within 5%"),
        ])
        var maxAbs = 0.0, exact = 0
        for (s, m) in measurements {
            let ok = abs(m.relativeDifference) <= tolerance
            maxAbs = max(maxAbs, abs(m.relativeDifference))
            if m.countedMatmul == m.analyticGEMM && m.countedNonGEMM == m.analyticNonGEMM { exact += 1 }
            if !ok { failures.append("\(m.layer) \(m.form.label) at \(s.name): Δ = \(pct(m.relativeDifference)) > 5%") }
            main.append([.text(m.layer), .text(m.form.label), .text(s.name), .integer(m.width), .integer(m.heads),
                         .number(m.analytic / 1e6), .number(m.analyticNonGEMM / 1e6), .number(m.countedMatmul / 1e6),
                         .number(m.countedNonGEMM / 1e6), .number(m.relativeDifference), .number(m.elementwiseRemainder / 1e6),
                         .number(m.remainderFraction), .text(ok ? "yes" : "NO")])
        }
        main.notes = [
            "Analytic = the layer's `flopsPerToken(context: T)` (attention decode: `causalAverageFlopsPerToken(length: T)`). " +
            "Included: Q/K/V/O projections (8D²; Mamba backbone: Q, V, gate, O), the TTT lr gate (2DH), causal convs " +
            "(ttt-*-m 4Dk; Mamba 2EDk), the TTT dual inner loop (Linear 6Dd + 6Db, MLP 56Dd + 30Db, full b×b products), " +
            "attention scores and P·V (prefill: dense T×T, 4DT; decode: 4Dt at position t), linear attention 4Dd, " +
            "Mamba in/x/dt/out projections and the 9·E·D·N scan. Not included: norms, RoPE, activations, softmax, " +
            "the inner LN backward, η/c gating and other elementwise work — that is the 'elementwise remainder'.",
            "Counted = `FLOPCounter.matmul` (GEMMs, 2mnk) plus the counter's elementwise FLOPs of the convs and the " +
            "scan (measured by running those ops alone at the layer's shapes), per token. Remainder = counted " +
            "elementwise − conv/scan; its share is of everything counted (matmul + elementwise).",
        ]

        return (main, (maxAbs, exact))
    }

    /// Wrong formulas (a term left out) against the same counts: each required one must disagree by > 5%.
    static func negativeControls(_ measurements: [(FlopShape, FlopMeasurement)],
                                 failures: inout [String]) -> (Table, (run: Int, caught: Int, smallest: Double)) {
        var controls = Table(name: "controls", title: "Negative controls: a formula with a term left out, against the same counts", columns: [
            .init("control"), .init("config"), .init("wrong formula", unit: "MFLOP/tok", format: .significant(6)),
            .init("counted", unit: "MFLOP/tok", format: .significant(6)), .init("omitted share of formula", format: .percent(1)),
            .init("Δ counted vs wrong", format: .percent(2)), .init("required to exceed 5%"), .init("verdict"),
        ])
        var requiredRun = 0, requiredCaught = 0, smallestCaught = Double.infinity
        for (s, m) in measurements {
            let D = Double(m.width), H = Double(m.heads)
            var wrong: [(String, Double)] = []
            switch (m.layer, m.form) {
            case ("ttt-linear", _), ("ttt-mlp", _): wrong.append(("\(m.layer) without the inner loop (8D² + 2DH)", 8 * D * D + 2 * D * H))
            case ("mamba", _): wrong.append(("mamba without the scan and conv", m.analyticGEMM))
            case ("attention", .prefill):
                wrong.append(("attention prefill charged the causal average 8D² + 2D(T+1)", 8 * D * D + 2 * D * Double(m.length + 1)))
            default: break
            }
            for (label, w) in wrong {
                let delta = (m.countedComparable - w) / w
                let share = (m.analytic - w) / m.analytic
                let required = share >= controlRequiredShare
                let caught = abs(delta) > tolerance
                if required {
                    requiredRun += 1
                    if caught { requiredCaught += 1; smallestCaught = min(smallestCaught, abs(delta)) }
                    else { failures.append("control '\(label)' at \(s.name) agrees within 5% (Δ = \(pct(delta)))") }
                }
                controls.append([.text(label), .text(s.name), .number(w / 1e6), .number(m.countedComparable / 1e6),
                                 .number(share), .number(delta), .text(required ? "yes" : "no (informational)"),
                                 .text(caught ? "disagrees (good)" : required ? "AGREES (check is blind)" : "within 5%: too small to see")])
            }
        }
        controls.notes = ["A control is required to disagree by more than 5% when the term it leaves out is at least " +
                          "\(Int(controlRequiredShare * 100))% of the formula. Smaller omissions are listed to show what a " +
                          "5% tolerance cannot see at large D (the rows above agree far more tightly than 5%)."]

        return (controls, (requiredRun, requiredCaught, smallestCaught))
    }

    /// Section 3: the analytic context sweep, its counted points and the chart.
    struct ContextSweep {
        let table: Table, countedTable: Table, chart: Chart
        let counted: [(String, Int, FlopMeasurement)]
        let flat: Bool, flatNames: [String], growth: Double, maxAbs: Double
    }

    static func contextSweep(_ sweepLayers: [String], shape sweepShape: FlopShape, counted sweepCounted: [Int],
                             _ ctx: StudyContext, _ bar: ProgressBar, failures: inout [String]) throws -> ContextSweep {
        var maxAbs = 0.0
        var sweepLayersBuilt: [String: SequenceLayer] = [:]
        for n in sweepLayers { sweepLayersBuilt[n] = try LayerRegistry.make(n, sweepShape.config, seed: ctx.seed) }
        var counted: [(String, Int, FlopMeasurement)] = []
        for n in sweepLayers {
            for t in sweepCounted {
                ctx.progress("context sweep: \(n) at \(sweepShape.name), T=\(t)")
                counted.append((n, t, FlopAccounting.measure(sweepLayersBuilt[n]!, name: n, length: t,
                                                              form: FlopAccounting.defaultForm(n), seed: ctx.seed)))
                bar.advance()
            }
        }
        bar.finish()
        let attn = sweepLayersBuilt["attention"] as! SelfAttention
        func analyticAt(_ n: String, _ t: Int) -> Double {
            n == "attention" ? attn.causalAverageFlopsPerToken(length: t) : sweepLayersBuilt[n]!.flopsPerToken(context: t)
        }
        var sweep = Table(name: "context", title: "Analytic forward MFLOP per token vs context T at the \(sweepShape.name) layer shape (D = \(sweepShape.width), H = \(sweepShape.heads))",
                          columns: [.init("T", format: .integer)] + sweepLayers.map { .init($0 == "attention" ? "attention (causal avg)" : $0, format: .significant(5)) }
                              + [.init("attention (full context)", format: .significant(5))])
        for t in contextGrid {
            sweep.append([.integer(t)] + sweepLayers.map { .number(analyticAt($0, t) / 1e6) } + [.number(attn.flopsPerToken(context: t) / 1e6)])
        }
        let flatNames = sweepLayers.filter { $0 != "attention" }
        let flat = flatNames.allSatisfy { n in Set(contextGrid.map { analyticAt(n, $0) }).count == 1 }
        let growth = analyticAt("attention", 32768) / analyticAt("attention", 512)
        if !flat { failures.append("a recurrent layer's analytic FLOPs change with the context") }
        sweep.notes = ["Attention (causal avg) = 8D² + 2D(T+1), the mean over a causal sequence; attention (full context) = " +
                       "8D² + 4DT, every token charged for T keys — what the dense prefill computes. The other layers do not depend on T."]

        var sweepCountedTable = Table(name: "context-counted", title: "Counted points of the context sweep (\(sweepShape.name) shape, prefill; linear attention recurrent)", columns: [
            .init("layer"), .init("T", format: .integer), .init("analytic", unit: "MFLOP/tok", format: .significant(6)),
            .init("counted", unit: "MFLOP/tok", format: .significant(6)), .init("Δ", format: .percent(3)),
            .init("remainder / counted total", format: .percent(1)),
        ])
        for (n, t, m) in counted {
            if abs(m.relativeDifference) > tolerance { failures.append("context sweep \(n) at T=\(t): Δ = \(pct(m.relativeDifference)) > 5%") }
            maxAbs = max(maxAbs, abs(m.relativeDifference))
            sweepCountedTable.append([.text(n), .integer(t), .number(m.analytic / 1e6), .number(m.countedComparable / 1e6),
                                      .number(m.relativeDifference), .number(m.remainderFraction)])
        }
        sweepCountedTable.notes = ["Attention here is the dense prefill, so its counted points lie on the full-context line 8D² + 4DT."]

        let chart = contextChart(sweepLayers, shape: sweepShape, counted: counted, attention: attn, analyticAt)

        return ContextSweep(table: sweep, countedTable: sweepCountedTable, chart: chart, counted: counted,
                            flat: flat, flatNames: flatNames, growth: growth, maxAbs: maxAbs)
    }

    /// Analytic FLOPs per token vs context for each layer, attention's full-context charge, and the counted points.
    static func contextChart(_ sweepLayers: [String], shape sweepShape: FlopShape, counted: [(String, Int, FlopMeasurement)],
                             attention attn: SelfAttention, _ analyticAt: (String, Int) -> Double) -> Chart {
        var series = sweepLayers.map { n in
            Chart.Series(n == "attention" ? "attention (causal average)" : n, styleKey: n,
                         points: contextGrid.map { (Double($0), analyticAt(n, $0) / 1e6) }, mark: .lines)
        }
        series.append(Chart.Series("attention (full context = dense prefill)", styleKey: "attention-full",
                                   points: contextGrid.map { (Double($0), attn.flopsPerToken(context: $0) / 1e6) }, mark: .lines))
        series.append(Chart.Series("counted by the tensor core", styleKey: "counted",
                                   points: counted.map { (Double($0.1), $0.2.countedComparable / 1e6) }, mark: .points))
        let ys = series.flatMap(\.ys)
        let yHi = 1.6 * ys.max()!   // linear y from 0, headroom for the legend (top left)
        return Chart(name: "flops-vs-context", title: "Forward FLOPs per token vs context, \(sweepShape.name) layer shape (D = \(sweepShape.width))",
                          x: .init("context T", unit: "tokens", log: true, range: 400...40000),
                          y: .init("forward FLOPs per token", unit: "MFLOP", range: 0...yHi),
                          series: series, key: .topLeft)
    }

    /// The Fig. 2 whole-model table; the models and one line per model with a paper number.
    static func flopMatching(failures: inout [String]) throws -> (Table, [ModelFlops], [String]) {
        let models = try fig2Models()
        var modelTable = Table(name: "fig2-flop-matching", title: "Whole-model forward GFLOP per token (Fig. 2 FLOP matching; lab formulas vs paper)", columns: [
            .init("model"), .init("blocks", format: .integer), .init("I", format: .integer),
            .init("layer", unit: "MFLOP/tok", format: .significant(5)), .init("SwiGLU 6DI", unit: "MFLOP/tok", format: .significant(5)),
            .init("pre-conv", unit: "MFLOP/tok", format: .significant(3)), .init("LM head 2DV", unit: "MFLOP/tok", format: .significant(5)),
            .init("lab", unit: "GFLOP/tok", format: .fixed(3)), .init("paper", unit: "GFLOP/tok", format: .fixed(2)),
            .init("Δ", format: .percent(2)), .init("× Mamba 1.4B", format: .fixed(2)), .init("paper ×", format: .plain),
        ])
        let mambaTotal = models.first { $0.name.hasPrefix("Mamba") }!.total
        var modelLines: [String] = []
        for m in models {
            var delta: Table.Cell = .empty
            if let p = m.paper {
                let d = (m.total / 1e9 - p) / p
                delta = .number(d)
                if abs(d) > modelTolerance { failures.append("\(m.name): lab \(String(format: "%.3f", m.total / 1e9)) vs paper \(p) GFLOP/token") }
                modelLines.append("\(m.name.components(separatedBy: ",")[0]) \(String(format: "%.3f", m.total / 1e9)) (paper \(String(format: "%.2f", p)))")
            }
            let paperRatio: Table.Cell = m.name.hasPrefix("Transformer") ? .text("2.8× at 32k") : m.paper != nil ? .text("matched") : .empty
            modelTable.append([.text(m.name), .integer(m.blocks), .integer(m.intermediate), .number(m.layer / 1e6), .number(m.mlp / 1e6),
                               .number(m.conv / 1e6), .number(m.head / 1e6), .number(m.total / 1e9),
                               m.paper.map { .number($0) } ?? .empty, delta, .number(m.total / mambaTotal), paperRatio])
        }
        modelTable.notes = ["Per token: blocks × (layer + SwiGLU 6DI + pre-conv 2Dk) + LM head 2DV, D = 2048, V = 32000, k = 4 " +
                            "(docs/ttt.md §3, §5). TTT rows use the Mamba backbone (ttt-*-m, the paper's default, with the pre-conv); " +
                            "Mamba 1.4B is 48 Mamba blocks without an MLP; the Transformer has 19 blocks with I = 5504 (the 1.3B " +
                            "config) at context 32k. Norms and the embedding lookup are not counted."]

        return (modelTable, models, modelLines)
    }

    /// What each layer's analytic formula includes.
    static func formulaLegend() -> Table {
        var legend = Table(name: "formulas", title: "What each layer's analytic formula includes (per token, 2 FLOPs per multiply-add)", columns: [
            .init("layer"), .init("formula"), .init("source"),
        ])
        legend.append(["ttt-linear", "8D² (Q,K,V,O) + 2DH (lr gate) + 6Dd + 6Db (dual inner loop: K·W, Q·W, W-update; QKᵀ, (E⊙A)Δ, tril(E)Δ)", "docs/ttt.md §5"])
        legend.append(["ttt-mlp", "8D² + 2DH + 56Dd + 30Db (7 b×d×4d products; b² terms 2+8+8+8+2+2)", "docs/ttt.md §5"])
        legend.append(["ttt-linear-m / ttt-mlp-m", "as above with Q,V,gate,O for the projections, + 4Dk (two causal convs on the shared Q/K)", "docs/ttt.md §5"])
        legend.append(["attention", "8D² + 4Dt at position t; dense prefill 8D² + 4DT; causal average 8D² + 2D(T+1)", "docs/baselines.md §5"])
        legend.append(["linear-attention", "8D² + 4Dd (recurrent: S += kᵀv, z = q·S)", "docs/baselines.md §5"])
        legend.append(["mamba", "6ED² + 2ED(R+2N) + 2R·ED + 9EDN + 2EDk (E=2, N=16, R=⌈D/16⌉, k=4)", "docs/baselines.md §5"])
        legend.append(["SwiGLU / LM head", "6DI / 2DV (whole-model check only)", "docs/ttt.md §5"])

        return legend
    }

    /// The Fig. 2 models at D = 2048 (docs/ttt.md §3, §5): TTT-Linear (M) I = 5808, TTT-MLP (M) I = 5248,
    /// Mamba 1.4B (48 blocks, no MLP), and the 19-block Transformer (I = 5504) at 32k, both attention charges.
    /// Computed once (the formulas do not depend on the weights).
    public static func fig2Models() throws -> [ModelFlops] {
        if let cached = fig2Cache.value { return cached }
        let models = try computeFig2Models(seed: 0)
        fig2Cache.value = models
        return models
    }
    private final class Cache: @unchecked Sendable { var value: [ModelFlops]? }
    private static let fig2Cache = Cache()

    static func computeFig2Models(seed: UInt64) throws -> [ModelFlops] {
        let shape = FlopShape.paper[3]
        let tl = try LayerRegistry.make("ttt-linear-m", shape.config, seed: seed).flopsPerToken(context: 32768)
        let tm = try LayerRegistry.make("ttt-mlp-m", shape.config, seed: seed).flopsPerToken(context: 32768)
        let mb = try LayerRegistry.make("mamba", shape.config, seed: seed).flopsPerToken(context: 32768)
        let at = try LayerRegistry.make("attention", shape.config, seed: seed) as! SelfAttention
        let D = shape.width
        return [
            ModelFlops(name: "TTT-Linear 1.3B (M), I=5808", blocks: 24, intermediate: 5808, preConv: true, layer: tl, width: D, paper: 2.68),
            ModelFlops(name: "TTT-MLP 1.3B (M), I=5248", blocks: 24, intermediate: 5248, preConv: true, layer: tm, width: D, paper: 2.69),
            ModelFlops(name: "Mamba 1.4B, 48 blocks", blocks: 48, intermediate: 0, preConv: false, layer: mb, width: D, paper: 2.69),
            ModelFlops(name: "Transformer 19 blocks, 32k, full context", blocks: 19, intermediate: 5504, preConv: false,
                       layer: at.flopsPerToken(context: 32768), width: D, paper: nil),
            ModelFlops(name: "Transformer 19 blocks, 32k, causal average", blocks: 19, intermediate: 5504, preConv: false,
                       layer: at.causalAverageFlopsPerToken(length: 32768), width: D, paper: nil),
        ]
    }
}

/// `0.0123` → `"1.23%"`.
func pct(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f%%", x * 100) }
