// ParallelTests.swift — work splitting covers every index once; fixed thread count ⇒ bit-identical results.
import XCTest
import Dispatch
@testable import TensorCore

final class ParallelTests: XCTestCase {
    var savedThreads = 1
    override func setUp() { savedThreads = Parallel.threads }
    override func tearDown() { Parallel.setThreads(savedThreads) }

    func testChunksCoverRange() {
        for threads in [1, 2, 3, 5] {
            Parallel.setThreads(threads)
            for n in [0, 1, 2, 7, 100] {
                let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(n, 1))
                hits.initialize(repeating: 0, count: max(n, 1))
                Parallel.chunks(n) { lo, hi in for i in lo..<hi { hits[i] += 1 } }
                XCTAssertTrue((0..<n).allSatisfy { hits[$0] == 1 }, "threads \(threads) n \(n)")
                hits.deallocate()
            }
        }
    }

    /// Regions opened inside a slice (nested) and from two threads at once still run every index exactly
    /// once: the worker pool takes one region at a time, the others run their slices inline.
    func testNestedAndConcurrentRegionsCoverEveryIndexOnce() {
        Parallel.setThreads(2)
        let n = 48
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: n * n)
        hits.initialize(repeating: 0, count: n * n)
        defer { hits.deallocate() }
        Parallel.forEach(n) { i in Parallel.forEach(n) { j in hits[i * n + j] += 1 } }
        XCTAssertTrue((0..<(n * n)).allSatisfy { hits[$0] == 1 }, "nested regions")
        let m = 100, rounds = 300
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 2 * m)
        counts.initialize(repeating: 0, count: 2 * m)
        defer { counts.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 2) { t in
            for _ in 0..<rounds { Parallel.chunks(m) { lo, hi in for i in lo..<hi { counts[t * m + i] += 1 } } }
        }
        XCTAssertTrue((0..<(2 * m)).allSatisfy { counts[$0] == rounds }, "regions from two threads at once")
    }

    /// A forward + backward touching the parallel paths (row-split GEMM, norms, softmax, scan).
    private func run() -> [UInt32] {
        let x = randn([2, 128, 64], seed: 1).requiringGrad(), w = randn([64, 64], seed: 2, std: 0.1).requiringGrad()
        let g = Tensor(repeating: 1, shape: [64]).requiringGrad(), b = Tensor(zeros: [64]).requiringGrad()
        let h = matmul(x, w).layerNorm(gamma: g, beta: b).gelu()
        let s = matmul(h, h, transB: true).softmax()
        let u = h.slice(axis: 2, 0, 8)
        let y = selectiveScan(u, delta: u.sigmoid(), A: Tensor(repeating: -1, shape: [8, 4]),
                              Bm: h.slice(axis: 2, 8, 12), Cm: h.slice(axis: 2, 12, 16), Dskip: Tensor(repeating: 1, shape: [8]))
        let loss = s.mean() + y.square().mean() + h.rmsNorm(weight: g).sum(axis: 1).mean()
        loss.backward()
        return ([loss.item] + x.grad!.array + w.grad!.array + g.grad!.array).map(\.bitPattern)
    }

    func testBitIdenticalAtFixedThreads() {
        for threads in [1, 2] {
            Parallel.setThreads(threads)
            XCTAssertEqual(run(), run(), "threads \(threads)")
        }
    }
}
