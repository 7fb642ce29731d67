// MQAR.swift — multi-query associative recall data (Arora et al. 2023, Zoology), synthetic, seeded,
// generated on the fly: one independent RNG stream per sequence, sequences filled in parallel.
import TensorCore

/// One batch of MQAR sequences: `pairs` key–value pairs up front, then queries of those keys later in
/// the sequence; the target at a query is the value that followed that key. Vocabulary: 0 is filler,
/// keys are 1..<vocab/2, values vocab/2..<vocab (Zoology's layout, scaled to the model's vocabulary).
/// Keys and values are both drawn without replacement (distinct within a sequence), as in Zoology.
///
/// ```swift
/// var rng = RNG(seed: 0)
/// let b = MQAR.batch(count: 8, length: 128, pairs: 16, vocab: 256, rng: &rng)
/// // b.inputs[i] is a token sequence; b.targets[i][t] is the value to predict at t, or nil
/// ```
public struct MQARBatch {
    public var inputs: [[Int]]
    /// Next-token targets: at position t, the token the model must emit (the value for a query key), or nil.
    public var targets: [[Int?]]
    public var queries: Int { targets.reduce(0) { $0 + $1.compactMap { $0 }.count } }
}

public enum MQAR {
    /// Queries are placed after the pairs at positions drawn without replacement (uniform placement;
    /// Zoology biases toward near positions with a power law, which makes recall easier).
    public static func batch(count: Int, length: Int, pairs: Int, vocab: Int = 256, rng: inout RNG) -> MQARBatch {
        precondition(vocab >= 8 && pairs >= 1, "MQAR: vocab \(vocab) ≥ 8 and pairs \(pairs) ≥ 1")
        precondition(4 * pairs <= length, "MQAR: \(pairs) pairs need length ≥ \(4 * pairs), got \(length)")
        precondition(pairs <= vocab / 2 - 1, "MQAR: \(pairs) pairs need a vocabulary of at least \(2 * pairs + 2) tokens, got \(vocab)")
        // One seed per sequence, drawn up front: the batch is a function of `rng` alone, whatever the thread count.
        let seeds = (0..<count).map { _ in rng.next() }
        var inputs = [[Int]](repeating: [], count: count), targets = [[Int?]](repeating: [], count: count)
        inputs.withUnsafeMutableBufferPointer { ins in
            targets.withUnsafeMutableBufferPointer { tgs in
                Parallel.forEach(count, minPerThread: 64) { i in
                    var r = RNG(seed: seeds[i])
                    (ins[i], tgs[i]) = sequence(length: length, pairs: pairs, vocab: vocab, rng: &r)
                }
            }
        }
        return MQARBatch(inputs: inputs, targets: targets)
    }

    /// One sequence [T] and its targets [T].
    static func sequence(length: Int, pairs: Int, vocab: Int, rng: inout RNG) -> ([Int], [Int?]) {
        let keys = sample(pairs, from: 1..<(vocab / 2), &rng)
        let values = sample(pairs, from: (vocab / 2)..<vocab, &rng)       // without replacement
        var seq = [Int](repeating: 0, count: length)
        var tgt = [Int?](repeating: nil, count: length)
        for i in 0..<pairs { seq[2 * i] = keys[i]; seq[2 * i + 1] = values[i] }
        // Query slots: even offsets after the pairs so a query key is followed by its answer slot.
        let slots = Array(stride(from: 2 * pairs, to: length - 1, by: 2))
        let chosen = sample(pairs, from: 0..<slots.count, &rng)
        let order = sample(pairs, from: 0..<pairs, &rng)
        for (s, i) in zip(chosen, order) {
            let slot = slots[s]
            seq[slot] = keys[i]
            tgt[slot] = values[i]          // predicting the token after the query key
            seq[slot + 1] = values[i]      // teacher forcing: the answer follows
        }
        return (seq, tgt)
    }

    /// `n` distinct elements of `range` in random order (partial Fisher–Yates).
    static func sample(_ n: Int, from range: Range<Int>, _ rng: inout RNG) -> [Int] {
        var a = Array(range)
        precondition(n <= a.count, "MQAR: cannot draw \(n) distinct of \(a.count)")
        for i in 0..<n { a.swapAt(i, i + Int(rng.next() % UInt64(a.count - i))) }
        return Array(a.prefix(n))
    }

    static func shuffle(_ a: inout [Int], _ rng: inout RNG) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
    }
}
