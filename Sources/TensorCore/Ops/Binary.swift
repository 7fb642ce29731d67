// Binary.swift — broadcasting add, sub, mul, div (and scalar forms), each with its VJP.

@usableFromInline enum BinaryKind { case add, sub, mul, div }

@inline(__always) func apply(_ k: BinaryKind, _ x: Float, _ y: Float) -> Float {
    switch k { case .add: return x + y; case .sub: return x - y; case .mul: return x * y; case .div: return x / y }
}

/// out = a ∘ b with broadcasting, no recording.
func binaryRaw(_ a: Tensor, _ b: Tensor, _ kind: BinaryKind) -> Tensor {
    let shape = a.shape == b.shape ? a.shape : broadcastShape(a.shape, b.shape)
    let out = Tensor(uninitializedShape: shape)
    let pa = a.data, pb = b.data, po = out.data
    FLOPCounter.elementwise += out.count
    if a.shape == b.shape {
        Parallel.chunks(out.count, minPerThread: 1 << 15) { lo, hi in
            switch kind {
            case .add: for i in lo..<hi { po[i] = pa[i] + pb[i] }
            case .sub: for i in lo..<hi { po[i] = pa[i] - pb[i] }
            case .mul: for i in lo..<hi { po[i] = pa[i] * pb[i] }
            case .div: for i in lo..<hi { po[i] = pa[i] / pb[i] }
            }
        }
        return out
    }
    if b.count == 1 {
        let y = pb[0]
        for i in 0..<out.count { po[i] = apply(kind, pa[i], y) }
        return out
    }
    if a.count == 1 {
        let x = pa[0]
        for i in 0..<out.count { po[i] = apply(kind, x, pb[i]) }
        return out
    }
    let sa = broadcastStrides(a.shape, into: shape), sb = broadcastStrides(b.shape, into: shape)
    let n = shape.last ?? 1, ia = sa.last ?? 0, ib = sb.last ?? 0
    forEachBroadcastRow(shape, sa, sb) { o, oa, ob in
        for j in 0..<n { po[o + j] = apply(kind, pa[oa + j * ia], pb[ob + j * ib]) }
    }
    return out
}

func recordBinary(_ out: Tensor, _ a: Tensor, _ b: Tensor, _ kind: BinaryKind) -> Tensor {
    out.recorded("\(kind)", [a, b], graph: { g in binaryGraphVJP(g, a, b, kind) }) { g in
        let sa = a.shape, sb = b.shape
        switch kind {
        case .add: return [a.requiresGrad ? g.sumRaw(to: sa) : nil, b.requiresGrad ? g.sumRaw(to: sb) : nil]
        case .sub: return [a.requiresGrad ? g.sumRaw(to: sa) : nil, b.requiresGrad ? g.sumRaw(to: sb).scaledRaw(-1) : nil]
        case .mul: return [a.requiresGrad ? binaryRaw(g, b, .mul).sumRaw(to: sa) : nil,
                           b.requiresGrad ? binaryRaw(g, a, .mul).sumRaw(to: sb) : nil]
        case .div:
            // d(a/b)/da = 1/b; d(a/b)/db = −a/b²
            let ga = a.requiresGrad ? binaryRaw(g, b, .div).sumRaw(to: sa) : nil
            var gb: Tensor? = nil
            if b.requiresGrad {
                let q = binaryRaw(binaryRaw(g, a, .mul), binaryRaw(b, b, .mul), .div)
                gb = q.sumRaw(to: sb).scaledRaw(-1)
            }
            return [ga, gb]
        }
    }
}

/// The VJP of a ∘ b from recorded ops (create-graph mode).
func binaryGraphVJP(_ g: Tensor, _ a: Tensor, _ b: Tensor, _ kind: BinaryKind) -> [Tensor?] {
    let sa = a.shape, sb = b.shape
    switch kind {
    case .add: return [a.requiresGrad ? g.sum(to: sa) : nil, b.requiresGrad ? g.sum(to: sb) : nil]
    case .sub: return [a.requiresGrad ? g.sum(to: sa) : nil, b.requiresGrad ? (g * -1).sum(to: sb) : nil]
    case .mul: return [a.requiresGrad ? (g * b).sum(to: sa) : nil, b.requiresGrad ? (g * a).sum(to: sb) : nil]
    case .div: return [a.requiresGrad ? (g / b).sum(to: sa) : nil,
                       b.requiresGrad ? ((g * a) / (b * b) * -1).sum(to: sb) : nil]
    }
}

public func + (a: Tensor, b: Tensor) -> Tensor { recordBinary(binaryRaw(a, b, .add), a, b, .add) }
public func - (a: Tensor, b: Tensor) -> Tensor { recordBinary(binaryRaw(a, b, .sub), a, b, .sub) }
public func * (a: Tensor, b: Tensor) -> Tensor { recordBinary(binaryRaw(a, b, .mul), a, b, .mul) }
public func / (a: Tensor, b: Tensor) -> Tensor { recordBinary(binaryRaw(a, b, .div), a, b, .div) }

extension Tensor {
    /// s·x, no recording.
    public func scaledRaw(_ s: Float) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let p = data, o = out.data
        for i in 0..<count { o[i] = p[i] * s }
        FLOPCounter.elementwise += count
        return out
    }
    /// x + s, no recording.
    func shiftedRaw(_ s: Float) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let p = data, o = out.data
        for i in 0..<count { o[i] = p[i] + s }
        FLOPCounter.elementwise += count
        return out
    }
}

public func * (a: Tensor, s: Float) -> Tensor { a.scaledRaw(s).recorded("scale", [a], graph: { g in [g * s] }) { g in [g.scaledRaw(s)] } }
public func * (s: Float, a: Tensor) -> Tensor { a * s }
public func / (a: Tensor, s: Float) -> Tensor { a * (1 / s) }
public func + (a: Tensor, s: Float) -> Tensor { a.shiftedRaw(s).recorded("shift", [a], graph: { g in [g] }) { g in [g] } }
public func + (s: Float, a: Tensor) -> Tensor { a + s }
public func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
public func - (s: Float, a: Tensor) -> Tensor { (-a) + s }
public prefix func - (a: Tensor) -> Tensor { a * -1 }
