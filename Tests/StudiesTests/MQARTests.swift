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
}
