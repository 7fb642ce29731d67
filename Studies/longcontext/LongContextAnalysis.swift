// LongContextAnalysis.swift — what one finished dictionary run measures (octave curves of the loss and of
// the excess over the oracle, the last-octave excess, its growth, the gain, the short-range lookup) and the
// study's criterion over the reported seeds (paired by seed, t with n − 1 df, Holm).
import Foundation
import Models
import StudyKit

/// The measures of one run on one stream of held-out sequences.
///
/// ```swift
/// let m = RecordMeasures(run.losses, sequences: DictionaryTrainer.testBatch(run.config), task: run.config.task)
/// m.excessLast        // mean excess over the oracle in the last octave of records
/// ```
public struct RecordMeasures: Sendable, Equatable {
    /// Octave means over the sequences: loss and excess over the oracle, one per octave of record index.
    public var loss: [Double], excess: [Double]
    /// Last-octave excess; its growth from the early octave; the loss gain from the early octave to the last.
    public var excessLast: Double, growth: Double, gain: Double
    /// Mean loss at the repeated keys among the first 16 records (0 = a perfect lookup, ln 128 = none).
    public var lookup: Double

    /// The octaves of record index x = r + 1: (0,1], (1,2], (2,4], …, (R/2, R].
    public static func octaves(_ task: DictionaryTask) -> [Range<Int>] { PositionLoss.octaves(context: task.records) }
    /// The "early" octave: the one ending at x = R/16 (the first when R is small).
    public static func early(_ task: DictionaryTask) -> Int {
        octaves(task).firstIndex { $0.upperBound >= max(2, task.records / 16) } ?? 0
    }

    /// nan everywhere for a run without losses (diverged).
    public init(_ losses: [[Double]], sequences: [(tokens: [Int], isNew: [Bool])], task: DictionaryTask) {
        let oct = Self.octaves(task), e = Self.early(task), last = oct.count - 1
        guard !losses.isEmpty, losses.count == sequences.count else {
            loss = oct.map { _ in .nan }; excess = loss; excessLast = .nan; growth = .nan; gain = .nan; lookup = .nan
            return
        }
        var l = [Double](repeating: 0, count: oct.count), x = l
        for (s, row) in losses.enumerated() {
            for (o, r) in oct.enumerated() {
                l[o] += r.reduce(0.0) { $0 + row[$1] } / Double(r.count)
                x[o] += r.reduce(0.0) { $0 + row[$1] - task.oracleLoss(isNew: sequences[s].isNew[$1]) } / Double(r.count)
            }
        }
        let n = Double(losses.count)
        loss = l.map { $0 / n }; excess = x.map { $0 / n }
        excessLast = excess[last]; growth = excess[last] - excess[e]; gain = loss[e] - loss[last]
        var sum = 0.0, k = 0
        for (s, row) in losses.enumerated() { for i in 1..<min(16, task.records) where !sequences[s].isNew[i] { sum += row[i]; k += 1 } }
        lookup = k > 0 ? sum / Double(k) : .nan
    }

    /// The mean last-octave value loss (the selection's metric on the validation stream).
    public var lossLast: Double { loss.last ?? .nan }
}

/// The study's criterion over the reported seeds (README, written before any run of this design).
///
/// C1: the Transformer's mean last-octave excess < 0.5 nats and its gain early → last > 0 (one-sample t
/// over seeds, p < 0.05). C2: linear attention and Mamba (state-matched) each fall behind — last-octave
/// excess above the Transformer's (paired by seed) and excess growing early → last, each p < 0.05 after
/// Holm over the C2 tests. C3: TTT-Linear and TTT-MLP (state-matched) each behave like the Transformer —
/// mean last-octave excess < 0.5 and not behind it at Holm-corrected p < 0.05 (over the C3 tests).
public enum LongContextCriterion {
    public static let c2Layers = ["linear-attention", "mamba"]
    public static let c3Layers = ["ttt-linear", "ttt-mlp"]
    public static let excessBar = 0.5
    public static let alpha = 0.05

    /// One line per test and the verdict word.
    public struct Outcome: Sendable, Equatable {
        public var c1: Bool?, c2: [String: Bool], c3: [String: Bool]
        public var lines: [String]
        public var comparisons: Int
        /// "reproduces", "partly reproduces", "does not reproduce", or nil when C1 cannot be judged.
        public var word: String?
    }

    /// A one-sample test (mean > 0) as a paired comparison against zeros.
    static func positive(_ x: [UInt64: Double]) throws -> SeedComparison {
        try SeedComparison(a: x, b: x.mapValues { _ in 0 }, convention: .pairedBySeed)
    }

    static func f(_ x: Double) -> String { String(format: "%+.3f", x) }
    static func describe(_ c: SeedComparison, p: Double) -> String {
        "\(f(c.difference)) ± \(String(format: "%.3f", c.se)) (n = \(c.n), p = \(String(format: "%.3g", p)))"
    }

    /// `measures[layer][seed]` are the reported seeds' test measures of the layers that are state-matched
    /// (or the Transformer); a layer missing from it is not judged.
    public static func judge(_ measures: [String: [UInt64: RecordMeasures]]) throws -> Outcome {
        var out = Outcome(c1: nil, c2: [:], c3: [:], lines: [], comparisons: 0, word: nil)
        guard let attn = measures[StateMatching.parameterReference], attn.count >= 2 else {
            out.lines.append("C1–C3 not judged: the Transformer's reported seeds are missing.")
            return out
        }
        let attnExcess = attn.mapValues(\.excessLast)
        let gain = try positive(attn.mapValues(\.gain))
        let excessMean = SeedSummary(attnExcess.keys.sorted().map { attnExcess[$0]! }).mean
        let c1 = excessMean < excessBar && gain.difference > 0 && gain.pValue < alpha
        out.c1 = c1
        out.lines.append("C1 (the Transformer learns the dictionary and keeps improving): last-octave excess \(String(format: "%.3f", excessMean)) (< \(excessBar)), gain early → last \(describe(gain, p: gain.pValue)): \(c1 ? "met" : "not met").")

        // C2: two tests per layer, Holm over all of them.
        var c2Tests: [(layer: String, what: String, c: SeedComparison)] = []
        for l in c2Layers {
            guard let m = measures[l], Set(m.keys) == Set(attn.keys) else { continue }
            c2Tests.append((l, "excess minus the Transformer's", try SeedComparison(a: m.mapValues(\.excessLast), b: attnExcess, convention: .pairedBySeed)))
            c2Tests.append((l, "excess growth", try positive(m.mapValues(\.growth))))
        }
        let p2 = MultipleComparison.holm.adjust(c2Tests.map(\.c.pValue))
        for l in c2Layers where c2Tests.contains(where: { $0.layer == l }) {
            let idx = c2Tests.indices.filter { c2Tests[$0].layer == l }
            out.c2[l] = idx.allSatisfy { c2Tests[$0].c.difference > 0 && p2[$0] < alpha }
            out.lines.append("C2 \(l) falls behind: " + idx.map { "\(c2Tests[$0].what) \(describe(c2Tests[$0].c, p: p2[$0]))" }.joined(separator: "; ") + ": \(out.c2[l]! ? "yes" : "no").")
        }
        // C3: one test per layer, Holm over them.
        var c3Tests: [(layer: String, c: SeedComparison, mean: Double)] = []
        for l in c3Layers {
            guard let m = measures[l], Set(m.keys) == Set(attn.keys) else { continue }
            c3Tests.append((l, try SeedComparison(a: m.mapValues(\.excessLast), b: attnExcess, convention: .pairedBySeed), SeedSummary(m.keys.sorted().map { m[$0]!.excessLast }).mean))
        }
        let p3 = MultipleComparison.holm.adjust(c3Tests.map(\.c.pValue))
        for (i, t) in c3Tests.enumerated() {
            let behind = t.c.difference > 0 && p3[i] < alpha
            out.c3[t.layer] = t.mean < excessBar && !behind
            out.lines.append("C3 \(t.layer) behaves like the Transformer: last-octave excess \(String(format: "%.3f", t.mean)) (< \(excessBar)), minus the Transformer's \(describe(t.c, p: p3[i])) (not behind at p < \(alpha)): \(out.c3[t.layer]! ? "yes" : "no").")
        }
        out.comparisons = 1 + c2Tests.count + c3Tests.count
        let c2 = !out.c2.isEmpty && out.c2.values.allSatisfy { $0 }
        let c3 = !out.c3.isEmpty && out.c3.values.allSatisfy { $0 }
        out.word = !c1 || !c2 ? "does not reproduce" : c3 ? "reproduces" : "partly reproduces"
        return out
    }
}
