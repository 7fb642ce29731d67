// Reduce.swift — sum, mean and max over one axis (or everything), with VJPs.

extension Tensor {
    /// Splits `shape` around `axis` as (outer, n, inner).
    func split3(_ axis: Int) -> (Int, Int, Int) {
        let a = normalizeAxis(axis, rank)
        return (shape[..<a].reduce(1, *), shape[a], shape[(a + 1)...].reduce(1, *))
    }

    func reducedShape(_ axis: Int, keepDims: Bool) -> [Int] {
        let a = normalizeAxis(axis, rank)
        var s = shape
        if keepDims { s[a] = 1 } else { s.remove(at: a) }
        return s
    }

    /// Sum over `axis`, no recording.
    public func sumRaw(axis: Int, keepDims: Bool = false) -> Tensor {
        let (outer, n, inner) = split3(axis)
        let out = Tensor(zeros: reducedShape(axis, keepDims: keepDims))
        let p = data, o = out.data
        Parallel.forEach(outer, minPerThread: Swift.max(1, (1 << 15) / Swift.max(1, n * inner))) { i in
            let src = p + i * n * inner, dst = o + i * inner
            for j in 0..<n { let row = src + j * inner; for k in 0..<inner { dst[k] += row[k] } }
        }
        FLOPCounter.elementwise += count
        return out
    }

    /// Sum over `axis`.
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor {
        let s = shape, kept = reducedShape(axis, keepDims: true)
        return sumRaw(axis: axis, keepDims: keepDims).recorded("sum", [self], graph: { g in [g.reshape(kept).broadcast(to: s)] }) { g in
            [g.reshaped(kept).broadcastRaw(to: s)]
        }
    }

    /// Sum of all elements (a scalar tensor).
    public func sum() -> Tensor {
        var acc: Double = 0
        let p = data
        for i in 0..<count { acc += Double(p[i]) }
        FLOPCounter.elementwise += count
        let s = shape
        return Tensor(scalar: Float(acc)).recorded("sumAll", [self], graph: { g in [g.broadcast(to: s)] }) { g in [Tensor(repeating: g.item, shape: s)] }
    }

    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { sum(axis: axis, keepDims: keepDims) * (1 / Float(dim(axis))) }
    public func mean() -> Tensor { sum() * (1 / Float(Swift.max(count, 1))) }

    /// Maximum over `axis`; the gradient goes to the first maximal element.
    public func max(axis: Int, keepDims: Bool = false) -> Tensor {
        let (outer, n, inner) = split3(axis)
        checkShape(n > 0, "max: empty axis \(axis) in shape \(shape)")
        let out = Tensor(uninitializedShape: reducedShape(axis, keepDims: keepDims))
        var arg = [Int](repeating: 0, count: outer * inner)
        let p = data, o = out.data
        for i in 0..<outer {
            for k in 0..<inner {
                var best = p[i * n * inner + k], bj = 0
                for j in 1..<n { let v = p[(i * n + j) * inner + k]; if v > best { best = v; bj = j } }
                o[i * inner + k] = best; arg[i * inner + k] = bj
            }
        }
        FLOPCounter.elementwise += count
        let s = shape
        return out.recorded("max", [self]) { g in
            let r = Tensor(zeros: s)
            for i in 0..<outer { for k in 0..<inner { r.data[(i * n + arg[i * inner + k]) * inner + k] = g.data[i * inner + k] } }
            return [r]
        }
    }
}
