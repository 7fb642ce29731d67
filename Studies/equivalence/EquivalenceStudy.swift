// EquivalenceStudy.swift — `lab study equivalence`: every equivalence claim of the paper, checked
// over seeds and sequence lengths, each beside a negative control that must fail.
import Foundation
import StudyKit
import TensorCore

/// The equivalence study: a declarative list of claims (`EquivalenceClaims.all`) run on a grid.
public struct EquivalenceStudy: Study {
    public let name = "equivalence"
    public let title = "Equivalence claims: TTT ≡ linear attention, ≡ self-attention, dual ≡ primal, b = 1 / b = T, DeltaNet, decode ≡ prefill, the 2024–25 family"
    public let claim = """
    TTT-Linear with batch GD from W₀ = 0 and no LN/residual is causal linear attention (Theorem 1); TTT with a \
    Nadaraya–Watson learner is causal softmax attention (Theorem 2); the dual form computes exactly the primal \
    form's outputs; mini-batch size b = 1 is online GD and b = T is batch GD; DeltaNet is TTT-Linear at b = 1 \
    without LN/residual; and every layer's recurrent decode reproduces its parallel prefill. The 2024–25 family \
    plugins reduce to their formulas: gla to the GLA/SSD recurrence and (α ≡ 1) linear attention, gated-deltanet \
    at b = 1 to the gated delta rule and (α ≡ 1) to deltanet, titans without momentum or forgetting to mini-batch \
    GD on its MLP, lact at one token per chunk without Newton–Schulz to online GD. Each check holds \
    to a stated Float32 tolerance while a control with one condition broken does not.
    """
    public let paperReference = "Sun et al. 2024, §2.4–2.7, Theorems 1–2, App. A–B; docs/ttt.md §1.7–1.8, §2, §4; docs/baselines.md §2–3; Yang et al. 2024–25 (GLA, Gated DeltaNet), Behrouz et al. 2024 (Titans), Zhang et al. 2025 (LaCT)"
    public let presets: [Preset: String] = [
        .quick: "T ∈ {16, 64}, 1 seed",
        .standard: "T ∈ {64, 256, 1024}, 3 seeds",
        .full: "T ∈ {64, 256, 1024, 2048}, 5 seeds",
    ]
    let claims: [Claim]

    public init() { claims = EquivalenceClaims.all }
    init(claims: [Claim]) { self.claims = claims }

    public func run(_ ctx: StudyContext) throws -> StudyResult {
        let lengths = ctx.pick(quick: [16, 64], standard: [64, 256, 1024], full: [64, 256, 1024, 2048])
        let seeds = (0..<UInt64(ctx.pick(quick: 1, standard: 3, full: 5))).map { ctx.seed &* 1000 &+ $0 }
        let jobs = claims.flatMap { c in lengths.flatMap { T in c.miniBatches(T).map { (c, T, $0) } } }
        let bar = ctx.progressBar("equivalence", total: jobs.count * seeds.count)

        var claimsTable = Table(name: "claims", title: "Claims: lab layer vs independent reference (worst over seeds)", columns: [
            .init("claim"), .init("T", format: .integer), .init("b", format: .integer), .init("seeds", format: .integer),
            .init("max abs err", format: .scientific(2)), .init("max rel err", format: .scientific(2)),
            .init("tolerance", format: .scientific(0)), .init("verdict"),
        ])
        var controlsTable = Table(name: "controls", title: "Negative controls: one condition broken, must NOT match (best over seeds)", columns: [
            .init("claim"), .init("control"), .init("T", format: .integer), .init("b", format: .integer),
            .init("max rel err", format: .scientific(2)), .init("must exceed", format: .scientific(0)), .init("verdict"),
        ])
        var mainPoints: [String: [(Double, Double)]] = [:]
        var controlPoints: [Int: Double] = [:]
        var failures: [String] = []
        var claimsHeld = 0, claimsRun = 0, controlsFailed = 0, controlsRun = 0

        for (c, T, b) in jobs {
            var worst = ErrorPair(0, 0)
            var best = [Float](repeating: .infinity, count: c.controls.count)
            for seed in seeds {
                let (m, ctl) = try c.run(Setting(T: T, b: b, seed: seed))
                if m.maxRel > worst.maxRel || m.maxRel.isNaN { worst = m }
                for (i, e) in ctl.enumerated() { best[i] = min(best[i], e.maxRel.isNaN ? .infinity : e.maxRel) }
                bar.advance()
            }
            let holds = worst.maxRel <= c.tolerance
            claimsRun += 1; if holds { claimsHeld += 1 } else { failures.append("\(c.id) at T = \(T), b = \(b): rel err \(worst.maxRel) > \(c.tolerance)") }
            claimsTable.append([.text(c.id), .integer(T), .integer(b), .integer(seeds.count), .number(Double(worst.maxAbs)),
                                .number(Double(worst.maxRel)), .number(Double(c.tolerance)), .text(holds ? "holds" : "FAILS")])
            mainPoints[c.id, default: []].append((Double(T), Double(max(worst.maxRel, 1e-9))))
            for (i, name) in c.controls.enumerated() {
                let failsToMatch = best[i] > c.controlThreshold
                controlsRun += 1; if failsToMatch { controlsFailed += 1 } else { failures.append("control '\(name)' of \(c.id) at T = \(T) matched (rel err \(best[i]))") }
                controlsTable.append([.text(c.id), .text(name), .integer(T), .integer(b), .number(Double(best[i])),
                                      .number(Double(c.controlThreshold)), .text(failsToMatch ? "differs (good)" : "MATCHES (check is blind)")])
                controlPoints[T] = min(controlPoints[T] ?? .infinity, Double(best[i]))
            }
        }
        bar.finish()

        var summary = Table(name: "summary", title: "Claims", columns: [.init("claim"), .init("statement"), .init("reference"),
                                                                      .init("tolerance", format: .scientific(0))])
        for c in claims { summary.append([.text(c.id), .text(c.statement), .text(c.reference), .number(Double(c.tolerance))]) }

        let series = claims.map { c in
            Chart.Series(c.id, styleKey: styleKey(c.id), points: mainPoints[c.id] ?? [])
        } + [Chart.Series("controls (smallest error)", styleKey: "control", points: controlPoints.sorted { $0.key < $1.key }.map { (Double($0.key), $0.value) })]
        let chart = Chart(name: "equivalence-errors", title: "Equivalence: max relative error vs sequence length",
                          x: .init("sequence length T", unit: "tokens", log: true),
                          y: .init("max relative error", log: true), series: series,
                          referenceLines: [.init(y: 2e-5, label: "tolerance 2e-5"), .init(y: 1e-3, label: "controls must exceed 1e-3")])

        let passed = failures.isEmpty
        let verdict = Verdict(passed: passed, summary: [
            "\(claimsHeld)/\(claimsRun) claim checks hold; \(controlsFailed)/\(controlsRun) negative controls fail to match, as they must.",
        ] + failures.prefix(10))
        let notes = """
        Errors are max |lab − reference| / max |reference| over the whole output, Float32, \(seeds.count) seed(s) \
        (worst claim, best control). Shapes: B = \(Bench.batch), D = \(Bench.width), H = \(Bench.heads), parameters \
        drawn at a scale where the inner loop changes the output (matrices N(0, 1/fan_in)). References are \
        independent of the layer code: inner gradients by reverse-mode autodiff of the inner loss (b = 1, b = T), the \
        delta rule and Nadaraya–Watson regression as plain Double loops, and the linear-attention RNN form. \
        Theorem 1 is checked at the layer's output, with q/k/v/o weights shared with the linear-attention layer.
        """
        return StudyResult(tables: [summary, claimsTable, controlsTable], charts: [chart], verdict: verdict, notes: notes)
    }

    /// Decode claims take the layer's colour; the rest fall back to a stable per-name style.
    func styleKey(_ id: String) -> String {
        id.hasPrefix("decode-") ? String(id.dropFirst(7)) : id
    }
}
