// RNGTests.swift — seeded generator: reproducible streams and sane distributions.
import XCTest
@testable import TensorCore

final class RNGTests: XCTestCase {
    func testSameSeedSameStream() {
        var a = RNG(seed: 42), b = RNG(seed: 42), c = RNG(seed: 43)
        let sa = (0..<100).map { _ in a.next() }, sb = (0..<100).map { _ in b.next() }, sc = (0..<100).map { _ in c.next() }
        XCTAssertEqual(sa, sb)
        XCTAssertNotEqual(sa, sc)
        XCTAssertEqual(randn([5, 7], seed: 3).array, randn([5, 7], seed: 3).array)
        XCTAssertNotEqual(randn([5, 7], seed: 3).array, randn([5, 7], seed: 4).array)
        var s1 = RNG(seed: 9), s2 = RNG(seed: 9)
        var c1 = s1.split(), c2 = s2.split()
        XCTAssertEqual(c1.next(), c2.next())
        XCTAssertNotEqual(c1.next(), s1.next())
    }

    func testDistributions() {
        // 20 000 samples: mean within 4σ/√n, variance within 5 %.
        var rng = RNG(seed: 1)
        let n = 20_000
        let u = (0..<n).map { _ in Double(rng.uniform()) }
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(u.reduce(0, +) / Double(n), 0.5, accuracy: 4 * (1.0 / 12).squareRoot() / Double(n).squareRoot())
        let g = (0..<n).map { _ in Double(rng.normal()) }
        let mean = g.reduce(0, +) / Double(n), v = g.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
        XCTAssertEqual(mean, 0, accuracy: 4 / Double(n).squareRoot())
        XCTAssertEqual(v, 1, accuracy: 0.05)
        let t = Tensor.randn([n], std: 0.5, rng: &rng)
        let tv = t.array.map { Double($0) * Double($0) }.reduce(0, +) / Double(n)
        XCTAssertEqual(tv, 0.25, accuracy: 0.0125)
    }
}
