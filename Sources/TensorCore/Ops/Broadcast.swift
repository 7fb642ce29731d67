// Broadcast.swift — numpy-style broadcasting for the binary ops, and its reverse (sum to a shape).

/// The broadcast shape of two shapes (numpy rules), or a precondition failure naming both.
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    let r = max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let da = i < r - a.count ? 1 : a[i - (r - a.count)]
        let db = i < r - b.count ? 1 : b[i - (r - b.count)]
        checkShape(da == db || da == 1 || db == 1, "cannot broadcast shapes \(a) and \(b)")
        out[i] = da == 1 ? db : da
    }
    return out
}

/// Strides of `shape` placed in the index space of `out` (0 along broadcast dims).
func broadcastStrides(_ shape: [Int], into out: [Int]) -> [Int] {
    let r = out.count, off = r - shape.count
    var strides = [Int](repeating: 0, count: r)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i + off] = shape[i] == 1 && out[i + off] != 1 ? 0 : s
        s *= shape[i]
    }
    return strides
}

/// Calls `body(outOffset, aOffset, bOffset)` for every row along the last axis of `out`
/// (the row has `out.last` elements; the operands step by `sa`, `sb` ∈ {0, 1} inside it).
@inline(__always)
func forEachBroadcastRow(_ out: [Int], _ stA: [Int], _ stB: [Int], _ body: (Int, Int, Int) -> Void) {
    let r = out.count
    if r == 0 { body(0, 0, 0); return }
    let n = out[r - 1]
    let rows = n == 0 ? 0 : out.reduce(1, *) / n
    var idx = [Int](repeating: 0, count: r)
    var oa = 0, ob = 0
    for row in 0..<rows {
        body(row * n, oa, ob)
        // increment the multi-index over dims 0..<r-1
        var d = r - 2
        while d >= 0 {
            idx[d] += 1; oa += stA[d]; ob += stB[d]
            if idx[d] < out[d] { break }
            oa -= stA[d] * out[d]; ob -= stB[d] * out[d]; idx[d] = 0
            d -= 1
        }
    }
}

extension Tensor {
    /// Sum of this tensor down to `target` (the inverse of broadcasting `target` to `shape`). No recording.
    public func sumRaw(to target: [Int]) -> Tensor {
        if target == shape { return self }
        checkShape(target.count <= rank && broadcastShape(target, shape) == shape, "sum(to:): \(shape) is not a broadcast of \(target)")
        let out = Tensor(zeros: target)
        let st = broadcastStrides(target, into: shape)
        let n = shape.last ?? 1, si = st.last ?? 0
        let src = data, dst = out.data
        forEachBroadcastRow(shape, st, st) { o, a, _ in
            if si == 0 { var s: Float = 0; for j in 0..<n { s += src[o + j] }; dst[a] += s }
            else { for j in 0..<n { dst[a + j] += src[o + j] } }
        }
        FLOPCounter.elementwise += count
        return out
    }

    /// Differentiable sum down to `target`.
    public func sum(to target: [Int]) -> Tensor {
        if target == shape { return self }
        let src = self
        return sumRaw(to: target).recorded("sumTo", [self], graph: { g in [g.broadcast(to: src.shape)] }) { g in [g.broadcastRaw(to: src.shape)] }
    }

    /// Materialised broadcast to `target`. No recording.
    public func broadcastRaw(to target: [Int]) -> Tensor {
        if target == shape { return self }
        checkShape(broadcastShape(shape, target) == target, "broadcast(to:): cannot broadcast \(shape) to \(target)")
        let out = Tensor(uninitializedShape: target)
        let st = broadcastStrides(shape, into: target)
        let n = target.last ?? 1, si = st.last ?? 0
        let src = data, dst = out.data
        forEachBroadcastRow(target, st, st) { o, a, _ in
            if si == 0 { let v = src[a]; for j in 0..<n { dst[o + j] = v } }
            else { for j in 0..<n { dst[o + j] = src[a + j] } }
        }
        return out
    }

    /// Differentiable broadcast (expand) to `target`.
    public func broadcast(to target: [Int]) -> Tensor {
        if target == shape { return self }
        let s = shape
        return broadcastRaw(to: target).recorded("broadcast", [self], graph: { g in [g.sum(to: s)] }) { g in [g.sumRaw(to: s)] }
    }
}
