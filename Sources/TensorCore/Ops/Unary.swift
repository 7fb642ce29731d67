// Unary.swift — elementwise functions and their derivatives (docs/ttt.md §0 for gelu and gelu').
import Foundation

/// GELU constants as the official code writes them (docs/ttt.md §0, §7.7).
public enum GELU {
    public static let c: Float = 0.79788456          // √(2/π)
    public static let a: Float = 0.044715
    public static let c3: Float = 0.1070322243       // 3·0.044715·√(2/π)

    /// gelu(x) = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
    @inline(__always) public static func f(_ x: Float) -> Float {
        0.5 * x * (1 + Foundation.tanh(c * (x + a * x * x * x)))
    }
    /// gelu'(x) = ½(1+τ) + ½x(1−τ²)(√(2/π) + 3·0.044715·√(2/π)x²)
    @inline(__always) public static func df(_ x: Float) -> Float {
        let t = Foundation.tanh(c * (x + a * x * x * x))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * (c + c3 * x * x)
    }
    /// gelu''(x): derivative of `df` (needed to train through the TTT-MLP inner backward).
    @inline(__always) public static func d2f(_ x: Float) -> Float {
        let t = Foundation.tanh(c * (x + a * x * x * x))
        let u = c + c3 * x * x           // du/dx of the tanh argument
        let s = 1 - t * t                // dτ = s·u
        // d/dx [½(1+τ)] = ½su ; d/dx [½x s u] = ½ s u + ½x(ds·u + s·du), ds = −2τ s u, du = 2 c3 x
        return 0.5 * s * u + 0.5 * s * u + 0.5 * x * (-2 * t * s * u * u + s * 2 * c3 * x)
    }
}

extension Tensor {
    /// y = f(x) elementwise; backward g·df(x, y). `flops` per element for the counter.
    @inline(__always)
    ///
    /// `dGraph`, when given, is f' of the input as a recorded tensor (a function of x only, so it
    /// need not hold the output): the graph VJP g·f'(x) of create-graph mode.
    func unary(_ op: String, flops: Int = 1, _ f: @escaping (Float) -> Float, _ df: @escaping (Float, Float) -> Float,
               dGraph: ((Tensor) -> Tensor)? = nil) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let p = data, o = out.data
        Parallel.chunks(count, minPerThread: 1 << 14) { lo, hi in for i in lo..<hi { o[i] = f(p[i]) } }
        FLOPCounter.elementwise += flops * count
        // Capture raw pointers, not `out`: the VJP is stored in out's node, so capturing out would be a
        // reference cycle that leaks the whole graph. out (and its input, a parent) outlive the VJP call.
        let px = data, py = out.data
        let x = self
        return out.recorded(op, [self], graph: dGraph.map { d in { g in [g * d(x)] } }) { g in
            let r = Tensor(uninitializedShape: g.shape)
            let pg = g.data, pr = r.data
            Parallel.chunks(g.count, minPerThread: 1 << 14) { lo, hi in for i in lo..<hi { pr[i] = pg[i] * df(px[i], py[i]) } }
            return [r]
        }
    }

    public func exp() -> Tensor { unary("exp", flops: 4, { Foundation.exp($0) }, { _, y in y }, dGraph: { $0.exp() }) }
    public func log() -> Tensor { unary("log", flops: 4, { Foundation.log($0) }, { x, _ in 1 / x }, dGraph: { $0.reciprocal() }) }
    public func tanh() -> Tensor { unary("tanh", flops: 4, { Foundation.tanh($0) }, { _, y in 1 - y * y }, dGraph: { 1 - $0.tanh().square() }) }
    public func sigmoid() -> Tensor { unary("sigmoid", flops: 4, { 1 / (1 + Foundation.exp(-$0)) }, { _, y in y * (1 - y) }, dGraph: { let s = $0.sigmoid(); return s * (1 - s) }) }
    /// log(1 + eˣ), computed stably.
    public func softplus() -> Tensor {
        unary("softplus", flops: 4, { $0 > 20 ? $0 : Foundation.log1p(Foundation.exp($0)) }, { x, _ in 1 / (1 + Foundation.exp(-x)) },
              dGraph: { $0.sigmoid() })
    }
    /// x·σ(x)
    public func silu() -> Tensor {
        unary("silu", flops: 5, { $0 / (1 + Foundation.exp(-$0)) }, { x, _ in
            let s = 1 / (1 + Foundation.exp(-x)); return s * (1 + x * (1 - s)) },
              dGraph: { let s = $0.sigmoid(); return s * (1 + $0 * (1 - s)) })
    }
    /// GELU, tanh approximation (docs/ttt.md §0).
    public func gelu() -> Tensor { unary("gelu", flops: 8, GELU.f, { x, _ in GELU.df(x) }, dGraph: { $0.geluPrime() }) }
    /// gelu'(x), itself differentiable (through gelu''), for the TTT-MLP inner backward.
    public func geluPrime() -> Tensor { unary("geluPrime", flops: 10, GELU.df, { x, _ in GELU.d2f(x) }) }
    public func relu() -> Tensor { unary("relu", { Swift.max($0, 0) }, { x, _ in x > 0 ? 1 : 0 }, dGraph: { x in withNoGrad { x.reluStep() } }) }
    /// elu(x) = x for x > 0, eˣ − 1 otherwise.
    public func elu() -> Tensor { unary("elu", flops: 4, { $0 > 0 ? $0 : Foundation.exp($0) - 1 }, { x, y in x > 0 ? 1 : y + 1 }) }
    /// 1 where x > 0, else 0 (relu's derivative; a constant in the graph). No recording.
    func reluStep() -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        for i in 0..<count { out.data[i] = data[i] > 0 ? 1 : 0 }
        return out
    }
    public func sqrt() -> Tensor { unary("sqrt", flops: 4, { $0.squareRoot() }, { _, y in 0.5 / y }, dGraph: { $0.rsqrt() * 0.5 }) }
    /// 1/√x
    public func rsqrt() -> Tensor { unary("rsqrt", flops: 4, { 1 / $0.squareRoot() }, { x, y in -0.5 * y / x }, dGraph: { $0.rsqrt() * $0.reciprocal() * -0.5 }) }
    public func square() -> Tensor { unary("square", { $0 * $0 }, { x, _ in 2 * x }, dGraph: { $0 * 2 }) }
    public func reciprocal() -> Tensor { unary("reciprocal", { 1 / $0 }, { _, y in -y * y }, dGraph: { $0.reciprocal().square() * -1 }) }
}
