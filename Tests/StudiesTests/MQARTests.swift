// MQARTests.swift — the recall data: every query's target is the value stored with that key.
import XCTest
@testable import Studies
import TensorCore

final class MQARTests: XCTestCase {
    func testTargetsAreTheStoredValues() {
        var rng = RNG(seed: 5)
        let b = MQAR.batch(count: 20, length: 64, pairs: 8, vocab: 64, rng: &rng)
        XCTAssertEqual(b.queries, 20 * 8)
        for (seq, tgt) in zip(b.inputs, b.targets) {
            var store: [Int: Int] = [:]
            for i in 0..<8 { XCTAssertNil(store[seq[2 * i]], "keys are distinct"); store[seq[2 * i]] = seq[2 * i + 1] }
            XCTAssertTrue(store.keys.allSatisfy { (1..<32).contains($0) } && store.values.allSatisfy { (32..<64).contains($0) })
            for t in 0..<64 {
                guard let v = tgt[t] else { continue }
                XCTAssertGreaterThanOrEqual(t, 16, "queries come after the pairs")
                XCTAssertEqual(store[seq[t]], v, "query at \(t) asks for its key's value")
            }
        }
    }

    func testSeeded() {
        var a = RNG(seed: 9), b = RNG(seed: 9), c = RNG(seed: 10)
        let x = MQAR.batch(count: 3, length: 32, pairs: 4, rng: &a), y = MQAR.batch(count: 3, length: 32, pairs: 4, rng: &b)
        let z = MQAR.batch(count: 3, length: 32, pairs: 4, rng: &c)
        XCTAssertEqual(x.inputs, y.inputs)
        XCTAssertNotEqual(x.inputs, z.inputs)
    }

    /// True when no value appears twice among a sequence's pairs.
    static func valuesDistinct(_ seq: [Int], pairs: Int) -> Bool {
        let vs = (0..<pairs).map { seq[2 * $0 + 1] }
        return Set(vs).count == vs.count
    }

    /// Values are drawn without replacement: with 60 pairs among 64 values (a birthday collision is
    /// near-certain with replacement) every sequence's values are distinct. Negative control: a
    /// sequence with a repeated value is flagged by the same check.
    func testValuesWithoutReplacement() {
        var rng = RNG(seed: 2)
        let b = MQAR.batch(count: 50, length: 256, pairs: 60, vocab: 128, rng: &rng)
        for seq in b.inputs { XCTAssertTrue(Self.valuesDistinct(seq, pairs: 60)) }
        var bad = b.inputs[0]; bad[3] = bad[1]
        XCTAssertFalse(Self.valuesDistinct(bad, pairs: 60))
        // Batches do not depend on the thread count (one RNG stream per sequence, seeded up front).
        let threads = Parallel.threads
        Parallel.setThreads(1); var r1 = RNG(seed: 3); let one = MQAR.batch(count: 200, length: 64, pairs: 4, rng: &r1)
        Parallel.setThreads(max(2, threads)); var r2 = RNG(seed: 3); let many = MQAR.batch(count: 200, length: 64, pairs: 4, rng: &r2)
        Parallel.setThreads(threads)
        XCTAssertEqual(one.inputs, many.inputs)
    }
}
