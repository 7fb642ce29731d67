// PerplexityReport.swift — the perplexity study's tables, figure and verdict from its trained and evaluated
// models (stage 4): numeric CSV cells (mean, SE, n in their own columns), the criterion of the README.
import Foundation
import Models
import StudyKit

struct PerplexityReport {
    let s: PerplexityStudy.Settings
    let windows: [(start: Bool, inputs: [Int], targets: [Int])]
    let probes: Int
    let gate: PerplexityStudy.Gate
    let rows: [PerplexityStudy.Row]
    let quick: Bool
    let matching: StateMatching

    var T: Int { s.context }
    var octaves: [Range<Int>] { PositionLoss.octaves(context: T) }
    /// The octave ending at x = 128 (the first when T is small) and the last one.
    var from: Int { octaves.firstIndex { $0.upperBound >= min(128, T / 2) } ?? 0 }
    var last: Int { octaves.count - 1 }

    /// Per window: value in octave `from` minus value in the last octave (nan where either is nan).
    func gains(_ m: [[Double]]) -> [Double] { m.map { $0[from] - $0[last] } }

    func result() throws -> StudyResult {
        let reference = try matching.targetParameters(), target = try matching.targetStateBytes()
        var failures: [String] = []
        for r in rows {
            for t in r.trained where t.trainer.step < s.steps { failures.append("\(r.name) \(t.label): trained \(t.trainer.step)/\(s.steps) steps") }
            if !r.split.byPosition.allSatisfy(\.isFinite) { failures.append("\(r.name): a position's loss is not finite") }
            let n = try r.config.parameterCount()
            if abs(Double(n - reference)) > PerplexityStudy.parameterTolerance * Double(reference) {
                failures.append("\(r.name): \(n) parameters, more than 10% from the Transformer's \(reference)")
            }
        }
        let tables = [try modelsTable(reference: reference, target: target), byPositionTable(), gainsTable(), probeTable(), gateTable()]
        var summary: [String] = []
        summary.append("Pipeline verdict: " + (failures.isEmpty ? "PASS — \(rows.count) models × \(rows.first?.trained.count ?? 0) seed(s) trained \(s.steps) steps, \(windows.count) evaluation windows scored, parameters within 10%" : "FAIL — " + failures.joined(separator: "; ")))
        summary.append("Gate at step \(s.gateStep): the Transformer's probe drop " + gate.probes.map { String(format: "%.3f ± %.3f at step %.0f", $0[1], $0[2], $0[0]) }.joined(separator: ", ") +
                       " (threshold \(s.gateDrop) nats/byte): " + (gate.go ? "GO — natural text throughout" : "NO-GO — copied spans injected into \(Int(100 * s.injectFraction))% of the training windows from step \(s.gateStep) (evaluation on natural text)") + ".")
        if quick {
            summary.append("Science verdict: not judged — the quick preset checks the pipeline end to end; its numbers mean nothing.")
        } else {
            summary += science()
        }
        return StudyResult(tables: tables, charts: [chart()], verdict: Verdict(passed: failures.isEmpty, summary: summary), notes: notes())
    }

    /// C1 the Transformer gains on copy-predictable bytes (p < 0.05); per layer, does context help it (its own
    /// gain on copy-predictable bytes, Holm over the layers), and its gain minus the Transformer's (Holm).
    func science() -> [String] {
        guard let ref = rows.first(where: { $0.config.layer == "attention" }) else { return ["Science verdict: not judged (no Transformer)."] }
        let own = rows.map { WindowStatistic(gains($0.split.copy)) }
        let ownP = MultipleComparison.holm.adjust(own.map(\.p))
        let others = rows.indices.filter { rows[$0].config.layer != "attention" }
        let vs = others.map { i in WindowStatistic(zip(gains(rows[i].split.copy), gains(ref.split.copy)).map { $0 - $1 }) }
        let vsP = MultipleComparison.holm.adjust(vs.map(\.p))
        let ri = rows.firstIndex { $0.config.layer == "attention" }!
        let c1 = own[ri].mean > 0 && own[ri].p < 0.05
        func f(_ w: WindowStatistic, _ p: Double) -> String { String(format: "%+.3f ± %.3f (n = %d windows, p = %.3g)", w.mean, w.se, w.n, p) }
        var out = ["C1 (the Transformer uses context: its loss on copy-predictable bytes falls from x ≤ \(octaves[from].upperBound) to x ≤ \(T)): \(f(own[ri], own[ri].p)) — \(c1 ? "met" : "not met")."]
        let helped = rows.indices.filter { own[$0].mean > 0 && ownP[$0] < 0.05 }.map { rows[$0].name }
        out.append("Context helps on copy-predictable bytes (gain > 0, Holm over \(rows.count)): " + rows.indices.map { "\(rows[$0].name) \(f(own[$0], ownP[$0]))" }.joined(separator: "; ") + ".")
        out.append("Gain on copy-predictable bytes minus the Transformer's (paired over windows, Holm over \(others.count)): " +
                   zip(others, zip(vs, vsP)).map { "\(rows[$0.0].name) \(f($0.1.0, $0.1.1))" }.joined(separator: "; ") + ".")
        let rest = rows.map { WindowStatistic(gains($0.split.rest)) }
        out.append("On the other bytes (not judged): " + rows.indices.map { "\(rows[$0].name) \(f(rest[$0], rest[$0].p))" }.joined(separator: "; ") + ".")
        out.append("Science verdict: " + (c1 ? "the study sees context (C1 met); context helps \(helped.isEmpty ? "no layer" : helped.joined(separator: ", ")) on the bytes a copy predicts" : "the study does NOT see context at this scale (C1 not met): no layer's comparison is informative") +
                   " (\(gate.go ? "natural training text" : "training with injected copies after the gate")\(s.seeds == 1 ? "; one training seed, SEs over evaluation windows" : "")).")
        return out
    }

    // MARK: tables

    func modelsTable(reference: Int, target: Int) throws -> Table {
        var t = Table(name: "models", title: "Models (parameters matched to the Transformer's, fixed states to TTT-Linear's) and training", columns: [
            .init("model"), .init("layer"), .init("blocks", format: .integer), .init("width", format: .integer), .init("heads", format: .integer),
            .init("mamba N", format: .integer), .init("mlp hidden", format: .integer), .init("parameters", format: .integer),
            .init("parameters / Transformer's", format: .fixed(3)), .init("state", unit: "bytes", format: .integer), .init("state / TTT-Linear's", format: .fixed(3)),
            .init("seeds", format: .integer), .init("training bytes", format: .integer), .init("copies injected from step", format: .integer),
            .init("validation loss at the end", unit: "nats/byte", format: .fixed(3)), .init("train", unit: "s", format: .fixed(0)),
        ])
        for r in rows {
            let c = r.config, n = try c.parameterCount(), st = try matching.persistentStateBytes(c)
            let val = r.trained.map(\.validationLoss).reduce(0, +) / Double(max(1, r.trained.count))
            t.append([.text(r.name), .text(c.layer), .integer(c.layers), .integer(c.width), .integer(c.heads),
                      c.backbone == .mambaStack ? .integer(c.layerConfig.mambaState) : .empty, c.hasMLP ? .integer(c.mlpHidden) : .empty,
                      .integer(n), .number(Double(n) / Double(reference)), .integer(st), .number(Double(st) / Double(target)),
                      .integer(r.trained.count), .integer(s.trainingBytes), r.trained.first?.trainer.config.copyInjection.map { .integer($0.fromStep) } ?? .empty,
                      .number(val), .number(r.trained.map { $0.trainer.elapsed }.reduce(0, +))])
        }
        t.notes = ["State: persistent bytes at T = \(T) (attention: its KV cache, grows with T); fixed states within 15% of TTT-Linear's \(target) bytes, parameters within 10% of the Transformer's \(reference)."]
        return t
    }

    /// Loss by octave of the token index: all bytes, the copy-predictable ones, the rest (mean over windows).
    func byPositionTable() -> Table {
        var t = Table(name: "loss-by-position", title: "Mean loss (nats/byte) by octave of token index x (bytes seen), over \(windows.count) evaluation windows, mean of seeds",
                      columns: [.init("model"), .init("bytes")] + octaves.map { .init("x le \($0.upperBound)", format: .fixed(3)) })
        func mean(_ m: [[Double]], _ o: Int) -> Table.Cell { let w = WindowStatistic(m.map { $0[o] }); return w.n > 0 ? .number(w.mean) : .empty }
        if let first = rows.first {
            let counts = first.split.copyCount
            t.append([.text("fraction copy-predictable"), .text("all")] + octaves.indices.map { o in
                .number(Double(counts.map { $0[o] }.reduce(0, +)) / Double(counts.count * octaves[o].count)) })
        }
        for r in rows {
            let e = r.split
            for (label, m) in [("all", e.all), ("copy-predictable", e.copy), ("rest", e.rest)] {
                t.append([.text(r.name), .text(label)] + octaves.indices.map { mean(m, $0) })
            }
        }
        t.notes = ["Column 'x le N': the octave (N/2, N] of token indices; 'copy-predictable': the \(s.copyMatch) bytes before the target occurred earlier in the window and were followed there by the target byte; the first row is the share of such bytes."]
        return t
    }

    func gainsTable() -> Table {
        var t = Table(name: "gains", title: "Gain from x le \(octaves[from].upperBound) to x le \(T) (loss there minus loss in the last octave), paired over windows", columns: [.init("model"), .init("bytes"),
            .init("gain mean", unit: "nats/byte", format: .fixed(4)), .init("gain SE", unit: "nats/byte", format: .fixed(4)), .init("windows", format: .integer), .init("gain p", format: .significant(3)),
            .init("minus Transformer's mean", unit: "nats/byte", format: .fixed(4)), .init("minus Transformer's SE", unit: "nats/byte", format: .fixed(4)), .init("minus Transformer's p", format: .significant(3))])
        let ref = rows.first { $0.config.layer == "attention" }
        for r in rows {
            for (label, m, rm) in [("all", r.split.all, ref?.split.all), ("copy-predictable", r.split.copy, ref?.split.copy), ("rest", r.split.rest, ref?.split.rest)] {
                let g = WindowStatistic(gains(m))
                var row: [Table.Cell] = [.text(r.name), .text(label), .number(g.mean), g.n > 1 ? .number(g.se) : .empty, .integer(g.n), g.p.isFinite ? .number(g.p) : .empty]
                if let rm, r.config.layer != "attention" {
                    let d = WindowStatistic(zip(gains(m), gains(rm)).map { $0 - $1 })
                    row += [.number(d.mean), d.n > 1 ? .number(d.se) : .empty, d.p.isFinite ? .number(d.p) : .empty]
                } else { row += [.empty, .empty, .empty] }
                t.append(row.map { if case .number(let x) = $0, !x.isFinite { return .empty }; return $0 })
            }
        }
        t.notes = ["SE over evaluation windows (per-window values averaged over seeds); p two-sided, uncorrected here (the verdict's are Holm-corrected). Windows without a copy-predictable byte in either octave drop out of that row."]
        return t
    }

    func probeTable() -> Table {
        var t = Table(name: "repeated-passage", title: "Repeated-passage probe: a held-out passage of \(T / 2) bytes shown twice (\(probes) passages, mean of seeds)", columns: [
            .init("model"), .init("loss first copy", unit: "nats/byte", format: .fixed(3)), .init("drop mean", unit: "nats/byte", format: .fixed(3)),
            .init("drop SE", unit: "nats/byte", format: .fixed(3)), .init("passages", format: .integer)])
        for r in rows {
            let d = WindowStatistic(r.probeDrop)
            t.append([.text(r.name), .number(r.probeFirst), .number(d.mean), d.n > 1 ? .number(d.se) : .empty, .integer(d.n)])
        }
        return t
    }

    func gateTable() -> Table {
        var t = Table(name: "gate", title: "The go/no-go gate: the Transformer's probe drop during training (threshold \(s.gateDrop) nats/byte at step \(s.gateStep))", columns: [
            .init("step", format: .integer), .init("drop mean", unit: "nats/byte", format: .fixed(3)), .init("drop SE", unit: "nats/byte", format: .fixed(3)), .init("decision")])
        for (i, g) in gate.probes.enumerated() {
            t.append([.integer(Int(g[0])), .number(g[1]), g[2].isFinite ? .number(g[2]) : .empty, .text(i == gate.probes.count - 1 ? (gate.go ? "go" : "no-go") : "")])
        }
        return t
    }

    // MARK: chart: loss by token index (the headline), and the copy-predictable bytes

    func chart() -> Chart {
        var edges: [Int] = [0]
        var j = 1
        while edges.last! < T {
            let e = min(T, Int(pow(2, Double(j) / 4).rounded()))
            if e > edges.last! { edges.append(e) }
            j += 1
        }
        func points(_ c: [Double]) -> [(Double, Double)] {
            zip(edges.dropLast(), edges.dropFirst()).map { lo, hi in ((Double(lo + 1) * Double(hi)).squareRoot(), c[lo..<hi].reduce(0, +) / Double(hi - lo)) }
        }
        let xs = octaves.map { Double($0.upperBound) }
        func octaveMeans(_ m: [[Double]]) -> [Double] { octaves.indices.map { o in WindowStatistic(m.map { $0[o] }).mean } }
        return Chart(name: "loss-by-token-index", title: "Loss by token index, \(rows.count) matched byte-level LMs (context \(T), evaluation text: \(s.evaluationSource ?? "held-out"))", panels: [
            .init(title: "all bytes", x: .init("token index (bytes of context seen)", log: true, range: 1...Double(T)), y: .init("loss", unit: "nats/byte"),
                  series: rows.map { .init($0.name, styleKey: $0.config.layer, points: points($0.split.byPosition), mark: .lines) }),
            .init(title: "bytes an \(s.copyMatch)-byte copy predicts (octave means)", x: .init("token index", log: true, range: 1...Double(T)), y: .init("loss", unit: "nats/byte"),
                  series: rows.map { .init($0.name, styleKey: $0.config.layer, x: xs, y: octaveMeans($0.split.copy)) }),
        ], rows: 1, columns: 2)
    }

    func notes() -> String {
        """
        **Verdict** = the pipeline (every model trained to its step count, finite losses, parameters within 10%). \
        The science lines follow the criterion in Studies/perplexity/README.md, written before any run of this design.

        **Method.** Every model: the lab's recipe (AdamW, warmup 10% then cosine, peak lr \(compactScientific(Double(s.lr))), \
        fixed in advance — no lr is selected, so nothing is selected on the evaluation text), \(s.steps) steps × \(s.batch) × \(T) \
        bytes of the training documents, the same batches for every model at a seed. The gate trains the Transformer at \
        the first seed on natural text to step \(s.gateStep), measuring the repeated-passage probe at steps \(s.gateStep / 2) and \
        \(s.gateStep); its decision fixes every model's training config. Evaluation: \(windows.count) windows of \(T) bytes \
        from the held-out \(s.evaluationSource.map { "'\($0)' (KJV)" } ?? "") documents, each a fresh sequence. Models are \
        cached under `models/<layer>-seed<seed>-<hash>/` with their evaluations (`copysplit.json`, `probe.json`).
        """
    }
}
