// MQAR.swift — multi-query associative recall data (Arora et al. 2023, Zoology), synthetic, seeded.
import TensorCore

/// One batch of MQAR sequences: `pairs` key–value pairs up front, then queries of those keys later in
/// the sequence; the target at a query is the value that followed that key. Vocabulary: 0 is filler,
/// keys are 1..<vocab/2, values vocab/2..<vocab (Zoology's layout, scaled to the lab's byte vocabulary).
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
    /// Queries are placed after the pairs at positions drawn without replacement (power-law-free
    /// uniform placement; Zoology biases toward near positions, which makes recall easier).
    public static func batch(count: Int, length: Int, pairs: Int, vocab: Int = 256, rng: inout RNG) -> MQARBatch {
        precondition(vocab >= 8 && pairs >= 1, "MQAR: vocab \(vocab) ≥ 8 and pairs \(pairs) ≥ 1")
        precondition(2 * pairs + 2 * pairs <= length, "MQAR: \(pairs) pairs need length ≥ \(4 * pairs), got \(length)")
        precondition(pairs < vocab / 2 - 1, "MQAR: \(pairs) pairs need more than \(2 * pairs + 2) vocabulary entries")
        var inputs: [[Int]] = [], targets: [[Int?]] = []
        let keyRange = 1..<(vocab / 2), valueRange = (vocab / 2)..<vocab
        for _ in 0..<count {
            var keys = Array(keyRange); shuffle(&keys, &rng)
            keys = Array(keys.prefix(pairs))
            let values = (0..<pairs).map { _ in valueRange.lowerBound + Int(rng.next() % UInt64(valueRange.count)) }
            var seq = [Int](repeating: 0, count: length)
            var tgt = [Int?](repeating: nil, count: length)
            for i in 0..<pairs { seq[2 * i] = keys[i]; seq[2 * i + 1] = values[i] }
            // Query slots: even offsets after the pairs so a query key is followed by its answer slot.
            var slots = Array(stride(from: 2 * pairs, to: length - 1, by: 2)); shuffle(&slots, &rng)
            var order = Array(0..<pairs); shuffle(&order, &rng)
            for (slot, i) in zip(slots.prefix(pairs), order) {
                seq[slot] = keys[i]
                tgt[slot] = values[i]          // predicting the token after the query key
                seq[slot + 1] = values[i]      // teacher forcing: the answer follows
            }
            inputs.append(seq); targets.append(tgt)
        }
        return MQARBatch(inputs: inputs, targets: targets)
    }

    static func shuffle(_ a: inout [Int], _ rng: inout RNG) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
    }
}
