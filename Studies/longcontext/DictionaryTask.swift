// DictionaryTask.swift — the synthetic long-context stream of the long-context study: each sequence draws
// a random key → value dictionary and emits Zipf-distributed key–value records. Seeded, deterministic.
import Foundation
import Layers
import TensorCore

/// One setting of the dictionary stream.
///
/// A sequence is `R` records `k₁ v₁ k₂ v₂ … k_R v_R` (2 tokens each) and one trailing key. Keys are byte
/// tokens 1…127, values 128…255. Each sequence draws its own dictionary: `keys` distinct key tokens in a
/// random order (rank 1 = most frequent) and an independent uniform value for each. Record keys are
/// drawn i.i.d. from a Zipf law over the ranks, P(rank k) ∝ k^(−s). The value of a record is the
/// dictionary's value of its key, so it is predictable exactly when the key already occurred earlier in
/// the sequence; otherwise it is uniform over 128 values (loss ln 128 at best). Only values are scored.
///
/// ```swift
/// let task = DictionaryTask(records: 256, keys: 120, zipf: 1)
/// var rng = RNG(seed: 0)
/// let s = task.sequence(rng: &rng)      // s.tokens: 2R + 1 ids; s.isNew[r]: record r's key is new
/// task.oracleLoss(isNew: s.isNew[0])    // ln 128 for a first occurrence, 0 for a repeat
/// ```
public struct DictionaryTask: Codable, Hashable, Sendable, CustomStringConvertible {
    /// Records per sequence R (sequence length T = 2R).
    public var records: Int
    /// Dictionary size K (≤ 127).
    public var keys: Int
    /// Zipf exponent s.
    public var zipf: Double

    public static let keyTokens = 1..<128
    public static let valueTokens = 128..<256

    public init(records: Int, keys: Int, zipf: Double) { self.records = records; self.keys = keys; self.zipf = zipf }

    /// Tokens a model reads: T = 2R.
    public var length: Int { 2 * records }
    public var description: String { "R=\(records) records (T=\(length)), K=\(keys) keys, Zipf s=\(zipf)" }

    /// Checks the numbers; the message names the fix.
    public func validate() throws {
        guard records >= 1 else { throw LabError.badConfig("records R = \(records) must be ≥ 1") }
        guard keys >= 1 && keys <= Self.keyTokens.count else {
            throw LabError.badConfig("dictionary size K = \(keys) must be in 1…\(Self.keyTokens.count) (keys are byte tokens 1…127)")
        }
        guard zipf >= 0 && zipf.isFinite else { throw LabError.badConfig("Zipf exponent s = \(zipf) must be a finite number ≥ 0") }
    }

    /// The best possible loss (nats) at a value: ln 128 when its key is new in the sequence, 0 for a repeat.
    public func oracleLoss(isNew: Bool) -> Double { isNew ? log(Double(Self.valueTokens.count)) : 0 }

    /// Cumulative Zipf probabilities over the ranks 1…K.
    var cdf: [Double] {
        var w = (1...keys).map { pow(Double($0), -zipf) }
        let total = w.reduce(0, +)
        var acc = 0.0
        for i in w.indices { acc += w[i] / total; w[i] = acc }
        w[w.count - 1] = 1
        return w
    }

    /// One sequence: `tokens` (2R + 1 ids: inputs are the first 2R, targets the last 2R) and, per
    /// record, whether its key occurs for the first time.
    public func sequence(rng: inout RNG) -> (tokens: [Int], isNew: [Bool]) {
        var pool = Array(Self.keyTokens)
        for i in stride(from: pool.count - 1, to: 0, by: -1) { pool.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        let dict = Array(pool.prefix(keys))
        let values = (0..<keys).map { _ in Self.valueTokens.lowerBound + Int(rng.next() % UInt64(Self.valueTokens.count)) }
        let c = cdf
        var seen = [Bool](repeating: false, count: keys)
        var tokens: [Int] = [], isNew: [Bool] = []
        tokens.reserveCapacity(2 * records + 1)
        func draw() -> Int {
            let u = Double(rng.next() >> 11) * (1.0 / Double(1 << 53))
            var lo = 0, hi = c.count - 1
            while lo < hi { let m = (lo + hi) / 2; if c[m] > u { hi = m } else { lo = m + 1 } }
            return lo
        }
        for _ in 0..<records {
            let k = draw()
            tokens.append(dict[k]); tokens.append(values[k])
            isNew.append(!seen[k]); seen[k] = true
        }
        tokens.append(dict[draw()])
        return (tokens, isNew)
    }

    /// A batch of `count` sequences.
    public func batch(count: Int, rng: inout RNG) -> [(tokens: [Int], isNew: [Bool])] {
        (0..<count).map { _ in sequence(rng: &rng) }
    }

    /// Expected number of distinct keys among the first `n` records: Σ_k 1 − (1 − p_k)^n.
    public func expectedDistinct(after n: Int) -> Double {
        var prev = 0.0, s = 0.0
        for c in cdf { let p = c - prev; prev = c; s += 1 - pow(1 - p, Double(n)) }
        return s
    }
}
