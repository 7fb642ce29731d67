// Shape.swift — reshape, permute/transpose, slice, concat, tril masking.

extension Tensor {
    func resolve(_ newShape: [Int]) -> [Int] {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let known = s.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            checkShape(known > 0 && count % known == 0, "reshape: cannot reshape \(shape) to \(newShape)")
            s[i] = count / known
        }
        checkShape(s.reduce(1, *) == count, "reshape: cannot reshape \(shape) (\(count) elements) to \(newShape)")
        return s
    }

    /// Same storage, new shape (one dim may be −1). No recording.
    public func reshaped(_ newShape: [Int]) -> Tensor { Tensor(sharing: storage, shape: resolve(newShape)) }

    /// Differentiable reshape (shares storage).
    public func reshape(_ newShape: [Int]) -> Tensor {
        let s = shape
        return reshaped(newShape).recorded("reshape", [self], graph: { g in [g.reshape(s)] }) { g in [g.reshaped(s)] }
    }

    /// Permutation of axes, no recording.
    public func permutedRaw(_ perm: [Int]) -> Tensor {
        checkShape(perm.count == rank && Set(perm) == Set(0..<rank), "permute: \(perm) is not a permutation of the axes of \(shape)")
        let outShape = perm.map { shape[$0] }
        // Axes of size 1 moved past each other (splitting one head, [B, T, 1, d] → [B, 1, T, d]): the same
        // memory order, so the result shares storage like a reshape (nothing copied, the same values).
        let moved = perm.filter { shape[$0] != 1 }
        if zip(moved, moved.dropFirst()).allSatisfy({ $0 < $1 }) { return reshaped(outShape) }
        let out = Tensor(uninitializedShape: outShape)
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        let st = perm.map { inStrides[$0] }
        let n = outShape.last ?? 1, inner = st.last ?? 1
        let src = data, dst = out.data
        func copyRows(_ shape: [Int], _ strides: [Int], out o0: Int, in a0: Int) {
            forEachBroadcastRow(shape, strides, strides) { o, a, _ in
                if inner == 1 { dst.advanced(by: o0 + o).update(from: src + a0 + a, count: n) }
                else { for j in 0..<n { dst[o0 + o + j] = src[a0 + a + j * inner] } }
            }
        }
        // Large permutations (e.g. splitting heads of [B, T, D] activations): slices of the first output axis
        // on separate workers (a pure copy: the same result for any split).
        let outer = outShape.first ?? 1
        if rank >= 2, outer >= 2, count >= 1 << 15, Parallel.threads > 1 {
            let subShape = Array(outShape.dropFirst()), subSt = Array(st.dropFirst()), slab = count / outer
            Parallel.chunks(outer) { lo, hi in
                for i in lo..<hi { copyRows(subShape, subSt, out: i * slab, in: i * st[0]) }
            }
        } else {
            copyRows(outShape, st, out: 0, in: 0)
        }
        return out
    }

    /// Differentiable permutation of axes: output axis i is input axis perm[i].
    public func permute(_ perm: [Int]) -> Tensor {
        var inv = [Int](repeating: 0, count: perm.count)
        for (i, p) in perm.enumerated() { inv[p] = i }
        return permutedRaw(perm).recorded("permute", [self], graph: { g in [g.permute(inv)] }) { g in [g.permutedRaw(inv)] }
    }

    /// Swaps two axes (default: the last two).
    public func transpose(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        var p = Array(0..<rank)
        p.swapAt(normalizeAxis(a, rank), normalizeAxis(b, rank))
        return permute(p)
    }

    /// Elements start..<end along `axis`, no recording.
    public func slicedRaw(axis: Int, _ start: Int, _ end: Int) -> Tensor {
        let (outer, n, inner) = split3(axis)
        checkShape(0 <= start && start <= end && end <= n, "slice: \(start)..<\(end) out of range for axis \(axis) of \(shape)")
        var s = shape; s[normalizeAxis(axis, rank)] = end - start
        let out = Tensor(uninitializedShape: s)
        let len = (end - start) * inner
        for i in 0..<outer { out.data.advanced(by: i * len).update(from: data + (i * n + start) * inner, count: len) }
        return out
    }

    /// Differentiable slice start..<end along `axis`.
    public func slice(axis: Int, _ start: Int, _ end: Int) -> Tensor {
        let s = shape
        let (outer, n, inner) = split3(axis)
        let ax = normalizeAxis(axis, rank)
        let graph: (Tensor) -> [Tensor?] = { g in
            // Zero-padding of g back to the input's extent along the axis, from recorded ops.
            var parts: [Tensor] = []
            if start > 0 { var z = s; z[ax] = start; parts.append(Tensor(zeros: z)) }
            parts.append(g)
            if end < n { var z = s; z[ax] = n - end; parts.append(Tensor(zeros: z)) }
            return [parts.count == 1 ? g : concat(parts, axis: ax)]
        }
        return slicedRaw(axis: axis, start, end).recorded("slice", [self], graph: graph) { g in
            let r = Tensor(zeros: s)
            let len = (end - start) * inner
            for i in 0..<outer { r.data.advanced(by: (i * n + start) * inner).update(from: g.data + i * len, count: len) }
            return [r]
        }
    }

    /// Keeps the lower triangle (incl. the diagonal, offset `k`) of the last two dims; zeros the rest.
    public func tril(_ k: Int = 0) -> Tensor {
        checkShape(rank >= 2, "tril: needs rank ≥ 2, got \(shape)")
        func mask(_ t: Tensor) -> Tensor {
            let r = t.copy()
            let m = t.shape[t.rank - 2], n = t.shape[t.rank - 1], batch = t.count / Swift.max(1, m * n)
            for b in 0..<batch { for i in 0..<m { for j in 0..<n where j > i + k { r.data[(b * m + i) * n + j] = 0 } } }
            return r
        }
        return mask(self).recorded("tril", [self], graph: { g in [g.tril(k)] }) { g in [mask(g)] }
    }
}

/// Concatenation along `axis` (all other dims equal).
public func concat(_ xs: [Tensor], axis: Int) -> Tensor {
    precondition(!xs.isEmpty, "concat: no tensors")
    let r = xs[0].rank, a = normalizeAxis(axis, r)
    for x in xs { checkShape(x.rank == r && zip(x.shape, xs[0].shape).enumerated().allSatisfy { $0.offset == a || $0.element.0 == $0.element.1 },
                             "concat: shapes \(xs.map(\.shape)) differ off axis \(axis)") }
    var s = xs[0].shape; s[a] = xs.map { $0.shape[a] }.reduce(0, +)
    let out = Tensor(uninitializedShape: s)
    let outer = s[..<a].reduce(1, *), inner = s[(a + 1)...].reduce(1, *), total = s[a] * inner
    var off = 0
    for x in xs {
        let len = x.shape[a] * inner
        for i in 0..<outer { out.data.advanced(by: i * total + off).update(from: x.data + i * len, count: len) }
        off += len
    }
    let sizes = xs.map { $0.shape[a] }
    let graph: (Tensor) -> [Tensor?] = { g in
        var start = 0
        return sizes.map { n in defer { start += n }; return g.slice(axis: a, start, start + n) }
    }
    return out.recorded("concat", xs, graph: graph) { g in
        var start = 0
        return sizes.map { n in defer { start += n }; return g.slicedRaw(axis: a, start, start + n) }
    }
}
