// Evaluation.swift — loss at every token position (the paper's perplexity-by-token-index figure).
import Foundation
import TensorCore

extension LanguageModel {
    /// Next-token cross-entropy (nats) of every token, no gradient: `targets[i]` is the token after
    /// `inputs[i]`; both are `batch · T` ids, row-major [B, T]. Returns `batch · T` losses in the same
    /// order, so position `t` of sequence `s` is at `s·T + t`.
    public func tokenLosses(inputs: [Int], targets: [Int], batch B: Int) -> [Double] {
        precondition(inputs.count == targets.count, "tokenLosses: \(inputs.count) inputs but \(targets.count) targets")
        return withNoGrad {
            let lg = logits(inputs, batch: B)                      // [B, T, V]
            let V = config.vocab
            var out = [Double](repeating: 0, count: targets.count)
            let p = lg.data
            for i in 0..<targets.count {
                let row = p + i * V
                var m = -Float.infinity
                for j in 0..<V { m = max(m, row[j]) }
                var s: Double = 0
                for j in 0..<V { s += Double(expf(row[j] - m)) }
                out[i] = Double(m) + log(s) - Double(row[targets[i]])
            }
            return out
        }
    }
}

/// Mean loss at every position 0..<T over windows that each start a fresh sequence, so position `t`
/// is the number of tokens of context the model has seen (the paper's Fig. 2 right, per byte here).
///
/// ```swift
/// let windows = PositionLoss.windows(documents: corpus.validation.map(\.bytes), context: 2048, limit: 64)
/// let curve = PositionLoss.measure(model, windows: windows, batch: 4)
/// curve.mean(at: 511), curve.bucketMeans(edges: [0, 1, 2, 4, 8, …])
/// ```
public struct PositionLoss: Codable, Equatable, Sendable {
    /// Sum of losses (nats) and number of windows at each position.
    public var sums: [Double]
    public var counts: [Int]
    /// Per window, its mean loss in each octave of ``octaves(context:)`` (for paired standard errors).
    public var windowOctaves: [[Double]] = []

    public init(context T: Int) { sums = Array(repeating: 0, count: T); counts = Array(repeating: 0, count: T) }

    /// Octave buckets of the token index x = t + 1 (tokens of context seen, 1…T): (0, 1], (1, 2], (2, 4],
    /// (4, 8], …, up to T, as half-open position ranges `lo..<hi` (position t = x − 1).
    public static func octaves(context T: Int) -> [Range<Int>] {
        var out: [Range<Int>] = [], hi = 1
        while true {
            let lo = hi / 2, h = min(hi, T)
            if lo < h { out.append(lo..<h) }
            if hi >= T { break }
            hi *= 2
        }
        return out
    }

    public var context: Int { sums.count }
    /// Mean loss (nats per token) at position t.
    public func mean(at t: Int) -> Double { counts[t] > 0 ? sums[t] / Double(counts[t]) : .nan }
    /// Mean over positions lo..<hi (every window weighted alike).
    public func mean(_ lo: Int, _ hi: Int) -> Double {
        let s = sums[lo..<hi].reduce(0, +), n = counts[lo..<hi].reduce(0, +)
        return n > 0 ? s / Double(n) : .nan
    }
    /// Mean over every position.
    public var overall: Double { mean(0, context) }

    /// Adds one window's per-position losses.
    public mutating func add(_ losses: ArraySlice<Double>) {
        precondition(losses.count == context, "PositionLoss.add: \(losses.count) losses for context \(context)")
        for (t, l) in losses.enumerated() { sums[t] += l; counts[t] += 1 }
        let a = Array(losses)
        windowOctaves.append(PositionLoss.octaves(context: context).map { r in a[r].reduce(0, +) / Double(r.count) })
    }

    /// Mean and standard error over windows of `f(window's octave means)` — e.g. a paired difference
    /// between two octaves.
    public func windowStatistic(_ f: ([Double]) -> Double) -> (mean: Double, se: Double, n: Int) {
        let v = windowOctaves.map(f), n = v.count
        guard n > 0 else { return (.nan, .nan, 0) }
        let m = v.reduce(0, +) / Double(n)
        let varc = n > 1 ? v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n - 1) : .nan
        return (m, (varc / Double(n)).squareRoot(), n)
    }

    /// Windows of `context + 1` bytes (inputs = first `context`, targets = last `context`) cut from each
    /// document from its first byte on, consecutive and non-overlapping. The first window of every
    /// document (position 0 = the document's first byte) comes first; the later windows follow,
    /// spread evenly over all of them, up to `limit` windows in all. Deterministic.
    public static func windows(documents: [[UInt8]], context T: Int, limit: Int) -> [(start: Bool, inputs: [Int], targets: [Int])] {
        var first: [(Int, Int)] = [], later: [(Int, Int)] = []
        for (di, d) in documents.enumerated() {
            var s = 0
            while s + T + 1 <= d.count {
                if s == 0 { first.append((di, s)) } else { later.append((di, s)) }
                s += T
            }
        }
        var chosen = Array(first.prefix(limit))
        let rest = max(0, limit - chosen.count)
        if rest > 0 && !later.isEmpty {
            let n = min(rest, later.count)
            chosen += (0..<n).map { later[$0 * later.count / n] }
        }
        return chosen.map { di, s in
            let d = documents[di]
            return (s == 0, (0..<T).map { Int(d[s + $0]) }, (0..<T).map { Int(d[s + $0 + 1]) })
        }
    }

    /// Evaluates `model` on `windows` in batches; returns the curve over all windows and over the
    /// document-start windows alone. `onBatch` is called after every batch with the windows done.
    public static func measure(_ model: LanguageModel, windows: [(start: Bool, inputs: [Int], targets: [Int])], batch: Int,
                               onBatch: (Int) -> Void = { _ in }) -> (all: PositionLoss, documentStarts: PositionLoss) {
        let T = windows.first?.inputs.count ?? 0
        var all = PositionLoss(context: T), starts = PositionLoss(context: T)
        model.setTTTLearningRateMultiplier(1)
        for lo in stride(from: 0, to: windows.count, by: max(1, batch)) {
            let part = windows[lo..<min(windows.count, lo + max(1, batch))]
            let losses = model.tokenLosses(inputs: part.flatMap(\.inputs), targets: part.flatMap(\.targets), batch: part.count)
            for (i, w) in part.enumerated() {
                let slice = losses[(i * T)..<((i + 1) * T)]
                all.add(slice)
                if w.start { starts.add(slice) }
            }
            onBatch(lo + part.count)
        }
        return (all, starts)
    }
}
