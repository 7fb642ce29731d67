// AutodiffTests.swift — grad mode, accumulation through reused tensors, seeds, graph lifetime.
import XCTest
@testable import TensorCore

final class AutodiffTests: XCTestCase {
    func testWithNoGradRecordsNothing() {
        let x = randn([3, 4], seed: 1).requiringGrad()
        let w = randn([4, 2], seed: 2).requiringGrad()
        let y = withNoGrad { (matmul(x, w).tanh() * x.sum(axis: 1, keepDims: true)).sum() }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertEqual(y.opName, "leaf")
        y.backward()                     // no-op
        XCTAssertNil(x.grad)
        // Nested no-grad restores the outer mode; recording resumes afterwards (negative control).
        withNoGrad { withNoGrad { }; XCTAssertFalse(GradMode.enabled) }
        XCTAssertTrue(GradMode.enabled)
        let z = (x * x).sum()
        XCTAssertTrue(z.requiresGrad)
        XCTAssertEqual(z.opName, "sumAll")
        // Constants do not record either.
        XCTAssertFalse((randn([2], seed: 3) * 2).requiresGrad)
    }

    func testCompositeReusingTensors() {
        // x is used five times, w twice: gradients from every use must add up.
        let f: ([Tensor]) -> Tensor = { v in
            let x = v[0], w = v[1]
            let h = matmul(x, w)                       // [3, 5]
            let a = (h * h).sum(axis: 1, keepDims: true) * 0.1
            let b = (x * x.sigmoid()).sum(axis: 1, keepDims: true)
            let c = matmul(x.tanh(), w).softmax()
            return c * (a + b) + concat([x, x.slice(axis: 1, 0, 1)], axis: 1)
        }
        assertGradients("composite", [randn([3, 4], seed: 4), randn([4, 5], seed: 5, std: 0.5)], f)
    }

    func testSummedGradientHandedToTwoInputsIsNotAddedIntoInPlace() {
        // t = p1 + p2 gets a summed gradient S (two uses); add's VJP hands S itself to p1 and p2; c = p1 ⊙ p2 then
        // adds to both. backward() adds a third gradient into its own sums in place, never into S once handed on
        // (each input would get the other's gradient too). Every order of the uses: the graph's order decides
        // whether t's VJP runs before c's.  dL/dx = 5·(w0 + w1) + 12·w2 ⊙ x.
        let w = (0..<3).map { randn([3, 5], seed: 40 + UInt64($0)) }
        let x0 = randn([3, 5], seed: 39)
        let expected = (0..<15).map { i in 5 * (w[0].data[i] + w[1].data[i]) + 12 * w[2].data[i] * x0.data[i] }
        func worst(fault: Bool, order: [Int]) -> Float {
            BackwardFault.keepsHandedOnSums = fault
            defer { BackwardFault.keepsHandedOnSums = false }
            let x = x0.copy().requiringGrad()
            let p1 = x * 2, p2 = x * 3, t = p1 + p2, c = p1 * p2
            let uses = [(t * w[0]).sum(), (t * w[1]).sum(), (c * w[2]).sum()]
            order.dropFirst().reduce(uses[order[0]]) { $0 + uses[$1] }.backward()
            return zip(x.grad!.array, expected).map { abs($0 - $1) }.max()!
        }
        var faulty: Float = 0
        for order in [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]] {
            let e = worst(fault: false, order: order)
            XCTAssertTrue(e <= 1e-4, "gradient off by \(e) (uses in order \(order))")
            faulty = max(faulty, worst(fault: true, order: order))
        }
        // Negative control: keeping S owned after it was handed on adds c's gradients into it for both inputs.
        XCTAssertTrue(faulty > 0.1, "the in-place fault went unnoticed (max error \(faulty))")
    }

    func testGradientsAccumulateAcrossBackwardCalls() {
        let x = randn([4], seed: 6).requiringGrad()
        (x * x).sum().backward()
        let once = x.grad!.array
        (x * x).sum().backward()
        for i in 0..<4 { XCTAssertEqual(x.grad!.data[i], 2 * once[i], accuracy: 1e-6) }
        x.zeroGrad()
        XCTAssertNil(x.grad)
    }

    func testSeededBackward() {
        let x = randn([2, 3], seed: 7).requiringGrad()
        let seed = randn([2, 3], seed: 8)
        (x * 3).backward(seed: seed)
        for i in 0..<6 { XCTAssertEqual(x.grad!.data[i], 3 * seed.data[i], accuracy: 1e-6) }
    }

    func testDetachedStopsGradient() {
        let x = randn([3], seed: 9).requiringGrad()
        (x * x.detached()).sum().backward()
        for i in 0..<3 { XCTAssertEqual(x.grad!.data[i], x.data[i], accuracy: 1e-6) }
    }

    /// Builds a graph through every recorded op, returns weak references to its outputs.
    private func buildGraph() -> [() -> Tensor?] {
        let x = uniform([2, 3, 4], 0.5, 2, seed: 10).requiringGrad()
        let w = randn([4, 4], seed: 11).requiringGrad()
        let g = Tensor(repeating: 1, shape: [4]).requiringGrad(), b = Tensor(zeros: [4]).requiringGrad()
        var outs: [Tensor] = []
        outs.append(x.exp()); outs.append(x.gelu()); outs.append(x + w.sum(axis: 0)); outs.append(matmul(x, w))
        outs.append(x.layerNorm(gamma: g, beta: b)); outs.append(x.rmsNorm(weight: g)); outs.append(x.softmax())
        outs.append(x.permute([2, 0, 1])); outs.append(x.slice(axis: 1, 0, 2)); outs.append(x.tril())
        outs.append(causalConv1d(x, weight: w.slice(axis: 0, 0, 2), bias: b)); outs.append(rope(x, positions: [0, 1, 2]))
        outs.append(x.logSoftmax()); outs.append(x.crossEntropy(targets: [0, 1, 2, 3, 0, 1])); outs.append(embedding(w, [1, 1, 3]))
        outs.append(concat([x, x], axis: 0)); outs.append(x.reshape([6, 4])); outs.append(x.max(axis: 1)); outs.append(x.mean(axis: 2))
        outs.append(g.broadcast(to: [3, 4])); outs.append(x.sum(to: [3, 1])); outs.append(2 - x / 3); outs.append(x.sqrt().square())
        let u = x.slice(axis: 2, 0, 2), n = x.slice(axis: 2, 2, 4)
        outs.append(selectiveScan(u, delta: u.sigmoid(), A: w.slice(axis: 0, 0, 2).slice(axis: 1, 0, 2), Bm: n, Cm: n, Dskip: b.slice(axis: 0, 0, 2)))
        let loss = outs.map { $0.sum() }.reduce(Tensor(scalar: 0), +)
        loss.backward()
        return (outs + [loss, x]).map { t in { [weak t] in t } }
    }

    func testGraphIsFreedAfterUse() {
        // No op's VJP may keep its own output alive (a reference cycle would leak every activation).
        let refs = buildGraph()
        for (i, r) in refs.enumerated() { XCTAssertNil(r(), "tensor \(i) of the graph was not freed") }
    }
}
