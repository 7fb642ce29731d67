// EmbeddingTests.swift — row gather and its scatter-add VJP with repeated ids.
import XCTest
@testable import TensorCore

final class EmbeddingTests: XCTestCase {
    func testGatherAndRepeatedIdGradient() {
        let table = randn([5, 4], seed: 1)
        let ids = [1, 3, 1, 0, 3, 1]
        let y = withNoGrad { embedding(table, ids) }
        XCTAssertEqual(y.shape, [6, 4])
        for (r, id) in ids.enumerated() { XCTAssertEqual(Array(y.array[(r * 4)..<(r * 4 + 4)]), Array(table.array[(id * 4)..<(id * 4 + 4)])) }
        assertGradients("embedding", [table]) { embedding($0[0], ids) }
        // Row 1 is used three times: its gradient is the sum of three upstream rows; unused rows get 0.
        let t = table.copy().requiringGrad()
        let g = randn([6, 4], seed: 2)
        embedding(t, ids).backward(seed: g)
        for j in 0..<4 {
            XCTAssertEqual(t.grad!.data[4 + j], g.data[j] + g.data[8 + j] + g.data[20 + j], accuracy: 1e-6)
            XCTAssertEqual(t.grad!.data[2 * 4 + j], 0)
            XCTAssertEqual(t.grad!.data[4 * 4 + j], 0)
        }
    }
}
