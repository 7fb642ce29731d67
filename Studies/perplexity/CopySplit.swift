// CopySplit.swift — the perplexity study's evaluation: the loss at every position of held-out windows, split
// into the bytes an exact-match copy could predict (the preceding k bytes occurred earlier in the window and
// the byte after that occurrence is this byte) and the rest, with per-window octave means for paired SEs.
import Foundation
import Models
import StudyKit

/// Which positions of a window an exact-match copy predicts.
///
/// ```swift
/// let w = Array("abcdefgh1abcdefgh1".utf8).map(Int.init)      // the window's T + 1 = 18 bytes
/// CopySplit.copyPredictable(w, match: 8)[16]                  // true: "abcdefgh" occurred before, followed by "1"
/// ```
public enum CopySplit {
    /// `bytes`: the window's T + 1 bytes (inputs then the last target). Result[t] (t < T) is true when the k
    /// bytes ending at t occurred earlier in the window (most recent occurrence ending at j < t) and
    /// bytes[j + 1] == bytes[t + 1]: a copy of what followed them predicts the target of position t.
    public static func copyPredictable(_ bytes: [Int], match k: Int) -> [Bool] {
        let T = bytes.count - 1
        var out = [Bool](repeating: false, count: max(0, T))
        guard k >= 1, k <= 8, T >= k else { return out }
        var last: [UInt64: Int] = [:]
        last.reserveCapacity(T)
        var key: UInt64 = 0
        let mask: UInt64 = k == 8 ? .max : (1 << UInt64(8 * k)) - 1
        for t in 0..<T {
            key = ((key << 8) | UInt64(bytes[t] & 0xFF)) & mask
            guard t >= k - 1 else { continue }
            if let j = last[key], bytes[j + 1] == bytes[t + 1] { out[t] = true }
            last[key] = t
        }
        return out
    }

    /// Loss of one model on the evaluation windows, by position and, per window and octave of the token index,
    /// the mean over all bytes, the copy-predictable ones and the rest (nan where a window has none).
    public struct Evaluation: Codable, Sendable, Equatable {
        /// Mean loss at each position over the windows (the headline curve).
        public var byPosition: [Double]
        /// [window][octave]: mean loss over all bytes / copy-predictable bytes / the rest; copy bytes counted.
        public var all: [[Double]], copy: [[Double]], rest: [[Double]]
        public var copyCount: [[Int]]
    }

    /// Evaluates `model` on `windows` (each a fresh sequence), `batch` windows per forward pass.
    public static func evaluate(_ model: LanguageModel, windows: [(start: Bool, inputs: [Int], targets: [Int])], batch: Int,
                                match k: Int, progress: (Int) -> Void = { _ in }) -> Evaluation {
        guard let T = windows.first?.inputs.count else { return Evaluation(byPosition: [], all: [], copy: [], rest: [], copyCount: []) }
        let oct = PositionLoss.octaves(context: T)
        var sums = [Double](repeating: 0, count: T)
        var all: [[Double]] = [], copy: [[Double]] = [], rest: [[Double]] = [], counts: [[Int]] = []
        model.setTTTLearningRateMultiplier(1)
        for lo in stride(from: 0, to: windows.count, by: max(1, batch)) {
            let part = windows[lo..<min(windows.count, lo + max(1, batch))]
            let l = model.tokenLosses(inputs: part.flatMap(\.inputs), targets: part.flatMap(\.targets), batch: part.count)
            for (i, w) in part.enumerated() {
                let row = Array(l[(i * T)..<((i + 1) * T)])
                for t in 0..<T { sums[t] += row[t] }
                let isCopy = copyPredictable(w.inputs + [w.targets[T - 1]], match: k)
                var a: [Double] = [], c: [Double] = [], r: [Double] = [], n: [Int] = []
                for o in oct {
                    var sa = 0.0, sc = 0.0, sr = 0.0, nc = 0
                    for t in o { sa += row[t]; if isCopy[t] { sc += row[t]; nc += 1 } else { sr += row[t] } }
                    let nr = o.count - nc
                    a.append(sa / Double(o.count)); c.append(nc > 0 ? sc / Double(nc) : .nan); r.append(nr > 0 ? sr / Double(nr) : .nan); n.append(nc)
                }
                all.append(a); copy.append(c); rest.append(r); counts.append(n)
            }
            progress(min(windows.count, lo + part.count))
        }
        return Evaluation(byPosition: sums.map { $0 / Double(windows.count) }, all: all, copy: copy, rest: rest, copyCount: counts)
    }

    /// Per-window values averaged over evaluations of the same windows (e.g. seeds); nan stays nan.
    public static func average(_ es: [Evaluation]) -> Evaluation {
        guard var out = es.first, es.count > 1 else { return es.first ?? Evaluation(byPosition: [], all: [], copy: [], rest: [], copyCount: []) }
        let k = Double(es.count)
        func avg(_ key: KeyPath<Evaluation, [[Double]]>) -> [[Double]] {
            out[keyPath: key].indices.map { w in out[keyPath: key][w].indices.map { o in es.map { $0[keyPath: key][w][o] }.reduce(0, +) / k } }
        }
        out.byPosition = out.byPosition.indices.map { t in es.map { $0.byPosition[t] }.reduce(0, +) / k }
        out.all = avg(\.all); out.copy = avg(\.copy); out.rest = avg(\.rest)
        return out
    }
}

/// A paired statistic over windows: mean, SE, count and the two-sided p of mean = 0 (t, n − 1 df).
public struct WindowStatistic: Sendable, Equatable {
    public var mean: Double, se: Double, n: Int
    public var p: Double { n >= 2 && se > 0 ? StudentT.twoSidedP(t: mean / se, df: Double(n - 1)) : .nan }

    /// Over the finite values only (a window without copy bytes in an octave drops out).
    public init(_ values: [Double]) {
        let v = values.filter(\.isFinite)
        let k = v.count
        let m = v.isEmpty ? Double.nan : v.reduce(0, +) / Double(k)
        let sd = k > 1 ? (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(k - 1)).squareRoot() : .nan
        n = k; mean = m; se = k > 1 ? sd / Double(k).squareRoot() : .nan
    }
}
