// RecallReport.swift — the recall study's report from its cached runs: the accuracy and run tables, the
// training-curve chart, the pipeline and science verdicts and the notes (RecallStudy.swift plans and trains).
import Foundation
import StudyKit

extension RecallStudy {
    /// One arm (layer, width): the chosen lr's selection run (its curves) and its reported runs by seed.
    struct Pick {
        var layer: String, width: Int, selected: RecallRun, reported: [UInt64: RecallRun]
        /// Test accuracy on `t` of each reported seed.
        func accuracy(_ t: RecallTask) -> [UInt64: Double] { reported.mapValues { $0.score(t)?.accuracy ?? .nan } }
        /// Mean and SE over the reported seeds, summed in seed order (a dictionary's order is not fixed, and
        /// the last bit of a sum depends on it: a cached rerun must print the same numbers).
        func summary(_ t: RecallTask) -> SeedSummary { SeedSummary(accuracy(t).sorted { $0.key < $1.key }.map(\.value)) }
    }

    /// "(length, pairs)".
    static func tname(_ t: RecallTask) -> String { "(\(t.length), \(t.pairs))" }
    /// The first evaluation of `r` at which every Zoology setting reaches `target`.
    static func reach(_ r: RecallRun, _ target: Double, _ s: Setup) -> RecallEval? { r.firstReaching(target, on: s.zoologyTasks) }

    func assemble(_ s: Setup, _ ctx: StudyContext, plan p: Plan, runs: [String: RecallRun], cachedKeys: Set<String>) throws -> StudyResult {
        let picks = Self.picks(p, runs)
        let pipeline = Self.pipelineProblems(s, p, runs: runs, picks: picks)
        var summary: [String] = []
        summary.append("Pipeline verdict: " + (pipeline.isEmpty ? "PASS — \((p.selection + p.report).count) runs trained and scored (\(p.selection.count) selection, \(p.report.count) reported), every layer has a finite selected run" : "FAIL — " + pipeline.joined(separator: "; ")))
        summary += try scienceVerdict(s, ctx, p, picks: picks)
        // No arm selected yet (a partial cache): no curves to draw; the pipeline verdict says what is missing.
        return StudyResult(tables: [Self.accuracyTable(s, picks), Self.runTable(s, p, runs: runs, cachedKeys: cachedKeys)],
                           charts: picks.isEmpty ? [] : [Self.chart(s, picks)],
                           verdict: Verdict(passed: pipeline.isEmpty, summary: summary), notes: Self.notes(s))
    }

    /// Per arm with a chosen lr and a cached selection run: its pick.
    static func picks(_ p: Plan, _ runs: [String: RecallRun]) -> [Pick] {
        var picks: [Pick] = []
        for arm in p.sweep.arms {
            guard let lr = p.chosen[arm] else { continue }
            guard let (_, sc) = p.selection.first(where: { $0.0.arm == arm && $0.0.candidate == lr }), let sel = runs[sc.key] else { continue }
            var rep: [UInt64: RecallRun] = [:]
            for (r, c) in p.report where r.arm == arm { if let x = runs[c.key] { rep[r.seed] = x } }
            picks.append(Pick(layer: sc.model.layer, width: sc.model.width, selected: sel, reported: rep))
        }
        return picks
    }

    /// Test accuracy at the selected lr, mean and SE over the reported seeds, per arm.
    static func accuracyTable(_ s: Setup, _ picks: [Pick]) -> Table {
        let chance = RecallTrainer.chance(vocab: s.vocab)
        let tasks = s.testTasks
        var accTable = Table(name: "accuracy", title: "Test accuracy at the lr selected on validation, over the fresh reported seeds", columns:
            [.init("layer"), .init("D", format: .integer), .init("blocks", format: .integer), .init("lr"), .init("validation at selection", format: .percent(1)),
             .init("seeds", format: .integer)]
            + tasks.flatMap { [Table.Column("\(Self.tname($0)) mean", format: .percent(1)), Table.Column("\(Self.tname($0)) SE", format: .percent(1))] }
            + [.init("examples to 99% (selection run)", format: .integer)])
        for pk in picks {
            let r99 = Self.reach(pk.selected, 0.99, s)
            accTable.append([.text(pk.layer), .integer(pk.width), .integer(s.depth(pk.layer)), .text(compactScientific(Double(pk.selected.config.lr))),
                             .number(Self.metrics(pk.selected).validation), .integer(pk.reported.count)]
                            + tasks.flatMap { t -> [Table.Cell] in let x = pk.summary(t); return [.number(x.mean), x.n > 1 ? .number(x.se) : .empty] }
                            + [r99.map { .integer($0.examples) } ?? .empty])
        }
        accTable.append([.text(Self.copyBaseline), .empty, .empty, .empty, .empty, .empty] + tasks.flatMap { [Table.Cell.number(1 / Double($0.pairs)), .empty] } + [.empty])
        accTable.notes = ["Exact match of the argmax over all \(s.vocab) tokens at each query, on \(s.testSequences) held-out test sequences per setting; chance = \(String(format: "%.2f%%", 100 * chance)). " +
                          "lr selected per layer on the validation stream (\(s.evalSequences) sequences per setting, disjoint from training and test) at the selection seed; " +
                          "mean and SE over the \(s.reportedSeeds) fresh reported seeds (the selection seed is not among them). Empty cells: not defined (one seed) or not reached."]

        return accTable
    }

    /// Every run of both waves.
    static func runTable(_ s: Setup, _ p: Plan, runs: [String: RecallRun], cachedKeys: Set<String>) -> Table {
        let tasks = s.testTasks
        var runTable = Table(name: "runs", title: "Every run (layer × D × lr × seed; wave = selection or report)", columns:
            [.init("layer"), .init("D", format: .integer), .init("blocks", format: .integer), .init("lr"), .init("seed", format: .integer), .init("wave"),
             .init("validation", format: .percent(1))]
            + tasks.map { .init(Self.tname($0), format: .percent(1)) }
            + [.init("steps", format: .integer), .init("examples to 99%", format: .integer), .init("final loss", unit: "nats", format: .fixed(3)),
               .init("train", unit: "s", format: .fixed(0)), .init("median step", unit: "ms", format: .fixed(0)), .init("note"), .init("cached")])
        for (r, c) in p.selection + p.report {
            guard let x = runs[c.key] else { continue }
            let note = x.divergedAt.map { "diverged at step \($0)" } ?? (x.stepsRun < c.steps ? "stopped at target" : "")
            runTable.append([.text(c.model.layer), .integer(c.model.width), .integer(c.model.layers), .text(compactScientific(Double(c.lr))), .integer(Int(c.seed)),
                             .text(r.wave.rawValue), .number(Self.metrics(x).validation)]
                            + tasks.map { .number(x.score($0)?.accuracy ?? .nan) }
                            + [.integer(x.stepsRun), Self.reach(x, 0.99, s).map { .integer($0.examples) } ?? .empty, .number(x.finalTrainLoss),
                               .number(x.trainSeconds), .number(1000 * x.medianStepSeconds), .text(note), .text(cachedKeys.contains(c.key) ? "yes" : "no")])
        }
        runTable.notes = ["Train time is the original run's (a cached run is reused, not retrained); the machine was shared, so compare times within one run only."]

        return runTable
    }

    /// Validation accuracy vs training examples for each layer's selection run.
    static func chart(_ s: Setup, _ picks: [Pick]) -> Chart {
        let chance = RecallTrainer.chance(vocab: s.vocab)
        let tasks = s.testTasks
        let zoologyIdx = s.zoologyTasks.compactMap { tasks.firstIndex(of: $0) }
        let hardIdx = tasks.count - 1
        func curve(_ r: RecallRun, _ f: (RecallEval) -> Double) -> [(Double, Double)] {
            [(0, 100 * chance)] + r.evals.map { (Double($0.examples) / 1000, 100 * f($0)) }
        }
        let multiWidth = s.widths.count > 1
        func sname(_ p: Pick) -> String { multiWidth ? "\(p.layer) D\(p.width)" : p.layer }
        let xMax = Double(s.steps * s.batch) / 1000
        return Chart(name: "recall", title: "MQAR validation accuracy during training (selected lr, selection seed)", panels: [
            .init(title: "worst of the Zoology settings \(s.zoologyTasks.map(Self.tname).joined(separator: ", "))",
                  x: .init("training sequences", unit: "thousands", range: 0...xMax), y: .init("accuracy", unit: "%", range: 0...105),
                  series: picks.map { p in Chart.Series(sname(p), styleKey: p.layer, points: curve(p.selected) { e in zoologyIdx.map { e.accuracy[$0] }.min() ?? .nan }) },
                  referenceLines: [.init(y: 99, label: "99%")], key: .outsideRight),
            .init(title: "hardest setting \(Self.tname(s.hardest))",
                  x: .init("training sequences", unit: "thousands", range: 0...xMax), y: .init("accuracy", unit: "%", range: 0...105),
                  series: picks.map { p in Chart.Series(sname(p), styleKey: p.layer, points: curve(p.selected) { $0.accuracy[hardIdx] }) },
                  referenceLines: [.init(y: 100 * chance, label: "chance")], key: .outsideRight),
        ], rows: 2, columns: 1)

    }

    /// Pipeline: every planned run trained and scored; every arm selected; every reported seed present.
    static func pipelineProblems(_ s: Setup, _ p: Plan, runs: [String: RecallRun], picks: [Pick]) -> [String] {
        let tasks = s.testTasks
        var pipeline: [String] = []
        let planned = p.selection + p.report
        let missing = planned.filter { runs[$0.1.key] == nil }
        let unselected = p.sweep.arms.filter { p.chosen[$0] == nil }
        if !missing.isEmpty {
            pipeline.append("\(missing.count) of \(planned.count) planned runs not in the cache: " + missing.map { Self.label($0.1, $0.0.wave) }.joined(separator: "; "))
        }
        if !unselected.isEmpty { pipeline.append("no lr selected yet for \(unselected.joined(separator: ", ")) (the report wave is planned once the selection wave is cached)") }
        for (_, c) in planned {
            guard let r = runs[c.key] else { continue }
            if r.scores.count != tasks.count || r.scores.contains(where: { $0.queries == 0 }) { pipeline.append("\(Self.label(c, .report)): a setting was not scored") }
        }
        for pk in picks where pk.selected.divergedAt != nil || !pk.selected.finalTrainLoss.isFinite {
            pipeline.append("\(pk.layer) D\(pk.width): every lr of the sweep diverged")
        }
        return pipeline
    }

    /// The protocol sentence and the science verdict (not judged on the quick preset).
    func scienceVerdict(_ s: Setup, _ ctx: StudyContext, _ p: Plan, picks: [Pick]) throws -> [String] {
        var summary: [String] = []
        let weakNames = ["linear-attention", "mamba"], strongNames = ["attention", "ttt-linear", "ttt-deltanet"]
        summary.append(p.sweep.protocolSentence(comparisons: strongNames.count))
        if ctx.preset == .quick && setup == nil {
            summary.append("Science verdict: not judged — the quick preset checks the pipeline end to end; its accuracies mean nothing.")
        } else {
            let w = s.widths[0]
            func pick(_ l: String) -> Pick? { picks.first { $0.layer == l && $0.width == w && $0.reported.count == s.reportedSeeds } }
            let attnMeans = s.zoologyTasks.map { t in pick("attention").map { $0.summary(t).mean } }
            let headline = attnMeans.allSatisfy { ($0 ?? 0) >= 0.99 }
            let h = s.hardest
            let weak = weakNames.compactMap { l in pick(l).map { (l, $0.summary(h).mean) } }.max { $0.1 < $1.1 }
            var ordering = weak != nil
            var lines: [String] = []
            if let weak, let wp = pick(weak.0) {
                let pairs = strongNames.compactMap { pick($0) }.map { ($0.layer, weak.0) }
                ordering = pairs.count == strongNames.count
                let tests = Dictionary(uniqueKeysWithValues: (strongNames.compactMap(pick) + [wp]).map { ($0.layer, $0.accuracy(h)) })
                for c in try p.sweep.compare(pairs.map { (a: $0.0, b: $0.1) }, tests: tests) {
                    let met = c.comparison.difference >= 0.10 && c.adjustedP < 0.05
                    ordering = ordering && met
                    lines.append("\(c.a) − \(c.b) = \(String(format: "%.1f", 100 * c.comparison.difference)) ± \(String(format: "%.1f", 100 * c.comparison.se)) points (paired SE, n = \(c.comparison.n), Holm p = \(String(format: "%.3g", c.adjustedP)))")
                }
            }
            let word = headline && ordering ? "reproduces" : headline || ordering ? "partly reproduces" : "does not reproduce"
            summary.append("Science verdict (D\(w)): \(word) — attention at the Zoology settings " +
                           zip(s.zoologyTasks, attnMeans).map { "\(Self.tname($0)) \($1.map(pctString) ?? "not run")" }.joined(separator: ", ") + " (criterion ≥ 99% each, mean of reported seeds: \(headline ? "met" : "not met")); " +
                           "at \(Self.tname(h)) against the better of linear attention/Mamba: " + (lines.isEmpty ? "not judged (runs missing)" : lines.joined(separator: "; ")) +
                           " (criterion: each ≥ 10 points and Holm p < 0.05: \(ordering ? "met" : "not met")).")
        }
        return summary
    }

    /// Data, model, training and selection, in words.
    static func notes(_ s: Setup) -> String {
        let mix = zip(s.trainTasks, s.trainWeights).map { "\(Self.tname($0)) × \(Int($1))" }.joined(separator: ", ")
        return """
        Data (Studies/recall/MQAR.swift): vocabulary \(s.vocab); 0 is filler, keys 1–\(s.vocab / 2 - 1), values \(s.vocab / 2)–\(s.vocab - 1), \
        keys and values drawn without replacement within a sequence. The pairs come first, then each key is queried once at a uniformly \
        random even position after them, followed by its value (teacher forcing); the loss is only at the query positions. Fresh data every \
        step: each step draws one setting from the mixture \(mix) and \(s.batch) new sequences, all a function of (seed, step). \
        Model: embedding → blocks (x + GatedShortConv_k\(s.shortConv.map(String.init) ?? "-")(RMSNorm x), then x + Layer(RMSNorm x)\(s.mlpHidden == 0 ? ", no MLP" : ", SwiGLU")) \
        → RMSNorm → tied head; Zoology's depth rule: \(s.blocks) blocks for attention, \(s.otherBlocks) for every other layer (Mamba: \(s.otherBlocks) Mamba blocks); \
        one head; TTT mini-batch 16. Training: AdamW (0.9, 0.95), weight decay 0.1 on matrices, clip 1, warmup 10% then cosine over \(s.steps) steps, \
        TTT-MLP's ρ warmup (as `lab train`). Selection: lr over {\(s.lrs.map { compactScientific(Double($0)) }.joined(separator: ", "))} per layer on the \
        validation stream (\(s.evalSequences) sequences per setting, disjoint from training and test; also the early-stop signal, every \(s.evalEvery) steps, \
        stop at \(Int(100 * (s.stopAt ?? 1)))% on all) at the selection seed; reported: test accuracy at \(s.reportedSeeds) fresh seeds. \
        `lab study recall --plan` prints one `--run KEY` line per run not yet cached (wave 2 appears once wave 1 is cached).
        """
    }
}
