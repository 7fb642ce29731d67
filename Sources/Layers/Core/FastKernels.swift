// FastKernels.swift — the raw-buffer building blocks of the fused kernels: SIMD exp/log (Cephes polynomials), GELU/SiLU/softplus over buffers, row-split
// GEMMs, LayerNorm and the fused LN+L2 backward as tight pointer loops.
//
// Vocabulary: a layer runs on one of two kernel paths, `reference` or `fused` (KernelPath.swift), and every
// type and function of the fused path is named Fused*/fused* (FusedForwardInnerModel, FusedInnerModel,
// TTTFused.swift, `fusedForward` …). The `Fast*` names here (FastMath, FastBuffer, FastGEMM, FastNorm) are the
// SIMD/BLAS toolkit those kernels — and some reference ops such as `fastGelu`, and the models' fused loss and
// SwiGLU — are written with; they name no path. Every fused path is tested against the readable reference
// path of its layer (Tests/LayersTests/Fused*, Fast*).
import CBLAS
import Foundation
import TensorCore

// MARK: SIMD math

/// Vectorised exp and log (Cephes single-precision polynomials, ≈1–2 ulp on the ranges used here).
/// `@inlinable`: called from plugins and Models, an out-of-line call per 8 lanes was ≈2.5× slower per element.
public enum FastMath {
    public typealias V = SIMD8<Float>
    @usableFromInline typealias VI = SIMD8<Int32>

    /// eˣ, x clamped to [−87.3, 88.7]: range reduction x = n·ln2 + r, degree-6 polynomial in r, 2ⁿ by
    /// exponent bits (n from the 1.5·2²³ rounding trick).
    @inlinable @inline(__always) public static func exp(_ x0: V) -> V {
        var x = x0                                             // clamp by masks (pointwiseMin/Max are not inlined)
        x.replace(with: -87.3, where: x .< -87.3)
        x.replace(with: 88.7, where: x .> 88.7)
        let magic = V(repeating: 12582912)                     // 1.5·2²³: t's low mantissa bits hold round(x·log2 e)
        let t = x * 1.44269504088896341 + magic
        let n = t - magic
        let r = x - n * 0.693359375 + n * 2.12194440e-4
        var p = V(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let y = p * (r * r) + r + 1
        let ni = unsafeBitCast(t, to: VI.self) &- 0x4B40_0000
        let scale = unsafeBitCast((ni &+ 127) &<< 23, to: V.self)
        return y * scale
    }

    /// ln x for x > 0 (normal range): x = m·2ᵉ with m ∈ [√½, √2), degree-8 polynomial in m − 1.
    @inlinable @inline(__always) public static func log(_ x: V) -> V {
        let bits = unsafeBitCast(x, to: VI.self)
        var e = V((bits &>> 23) &- 127)
        var m = unsafeBitCast((bits & 0x007F_FFFF) | 0x3F80_0000, to: V.self)     // [1, 2)
        let big = m .> V(repeating: 1.41421356)
        m.replace(with: m * 0.5, where: big)
        e.replace(with: e + 1, where: big)
        let f = m - 1
        var p = V(repeating: 7.0376836292e-2)
        p = p * f - 1.1514610310e-1
        p = p * f + 1.1676998740e-1
        p = p * f - 1.2420140846e-1
        p = p * f + 1.4249322787e-1
        p = p * f - 1.6668057665e-1
        p = p * f + 2.0000714765e-1
        p = p * f - 2.4999993993e-1
        p = p * f + 3.3333331174e-1
        let f2 = f * f
        return f + f2 * (p * f - 0.5) + e * 0.693147180559945
    }

    /// log(1 + eˣ), stably: max(x, 0) + log1p(e^{−|x|}), log1p(y) = log(u)·y/(u − 1) with u = 1 + y.
    @inlinable @inline(__always) public static func softplus(_ x: V) -> V {
        var na = -x
        na.replace(with: x, where: x .< 0)                     // −|x|
        let y = FastMath.exp(na)
        let u = 1 + y
        let um1 = u - 1
        var l = FastMath.log(u) * (y / um1)
        l.replace(with: y, where: um1 .== 0)
        var pos = x
        pos.replace(with: 0, where: x .< 0)                    // max(x, 0)
        return pos + l
    }

    /// tanh via e^{2u}: 1 − 2/(e^{2u} + 1) (absolute error ≈ 1e-7).
    @inlinable @inline(__always) public static func tanh(_ u: V) -> V { 1 - 2 / (FastMath.exp(u + u) + 1) }

    /// GELU, tanh approximation (docs/ttt.md §0): ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
    @inlinable @inline(__always) public static func gelu(_ x: V) -> V {
        0.5 * x * (1 + tanh(GELU.c * (x + GELU.a * x * x * x)))
    }

    /// (gelu(x), gelu'(x)) sharing one tanh (docs/ttt.md §0).
    @inlinable @inline(__always) public static func geluAndPrime(_ x: V) -> (V, V) {
        let t = tanh(GELU.c * (x + GELU.a * x * x * x))
        return (0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * (GELU.c + GELU.c3 * x * x))
    }

    /// x·σ(x)
    @inlinable @inline(__always) public static func silu(_ x: V) -> V { x / (1 + FastMath.exp(-x)) }
    /// σ(x)
    @inlinable @inline(__always) public static func sigmoid(_ x: V) -> V { 1 / (1 + FastMath.exp(-x)) }

    /// Applies `f` to `p[0..<n]` in place, 8 lanes at a time (the tail through a padded vector).
    @inlinable @inline(__always) public static func apply(_ p: UnsafeMutablePointer<Float>, _ n: Int, _ f: (V) -> V) {
        var i = 0
        while i < n { RowSIMD.store(f(RowSIMD.load(p, i, n)), p, i, n); i += RowSIMD.width }
    }

    @inlinable @inline(__always) public static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
    @inlinable @inline(__always) public static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
}

// MARK: buffers and GEMMs

/// A 64-byte aligned Float buffer owned by a fused kernel (freed with the object).
public final class FastBuffer: @unchecked Sendable {
    public let p: UnsafeMutablePointer<Float>
    public let count: Int
    public init(_ count: Int, zero: Bool = false) {
        self.count = count
        p = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64).bindMemory(to: Float.self, capacity: max(count, 1))
        if zero { p.initialize(repeating: 0, count: count) }
        AllocationMeter.allocated(max(count, 1) * 4)
    }
    deinit { UnsafeMutableRawPointer(p).deallocate(); AllocationMeter.freed(max(count, 1) * 4) }
}

public enum FastGEMM {
    /// C[m×n] (ldc) = A[m×k] (lda) · op(B) (+ beta·C), rows of C split over `Parallel` workers when big.
    public static func rows(m: Int, n: Int, k: Int, _ a: UnsafePointer<Float>, lda: Int,
                            _ b: UnsafePointer<Float>, ldb: Int, transB: Bool = false,
                            _ c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float = 0) {
        if m == 0 || n == 0 { return }
        if m <= 4 && !transB && k * n >= 1 << 16 {
            // Decode-sized products (a few rows times a weight): matrix-vector per row with the columns
            // split over the workers, so each core streams half the weight (sgemm would pack all of it).
            Parallel.chunks(n, minPerThread: 64) { lo, hi in
                for i in 0..<m {
                    cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(hi - lo), 1, b + lo, Int32(ldb), a + i * lda, 1,
                                beta, c + i * ldc + lo, 1)
                }
            }
            FLOPCounter.matmul += 2 * m * n * k
            return
        }
        if Parallel.threads > 1 && m >= 2 * Parallel.threads && m * n * k >= 1 << 18 {
            Parallel.chunks(m) { lo, hi in
                sgemm(transA: false, transB: transB, m: hi - lo, n: n, k: k, a + lo * lda, lda: lda, b, ldb: ldb,
                      c + lo * ldc, ldc: ldc, beta: beta)
            }
        } else {
            sgemm(transA: false, transB: transB, m: m, n: n, k: k, a, lda: lda, b, ldb: ldb, c, ldc: ldc, beta: beta)
        }
        FLOPCounter.matmul += 2 * m * n * k
    }

    /// x [rows, in] · W [in, out] into a new tensor [shape…, out] (W is a lab-layout weight).
    public static func linear(_ x: Tensor, _ w: Tensor, shape: [Int]) -> Tensor {
        let (kIn, nOut) = (w.dim(0), w.dim(1))
        let rows = x.count / kIn
        let out = Tensor(uninitializedShape: shape + [nOut])
        FastGEMM.rows(m: rows, n: nOut, k: kIn, x.data, lda: kIn, w.data, ldb: nOut, out.data, ldc: nOut)
        return out
    }
}

// MARK: norms

public enum FastNorm {
    /// Two-pass LN statistics of one row: (μ, 1/√(v + ε)).
    @inline(__always) public static func stats(_ x: UnsafePointer<Float>, _ m: Int, eps: Float = 1e-6) -> (Float, Float) {
        let s = layerNormRowStats(x, m, eps: eps)
        return (s.mean, s.rstd)
    }

    /// y = (residual ? r : 0) + LN_{γ,β}(x) over m entries (y may alias x, not r).
    @inline(__always) public static func layerNorm(_ x: UnsafePointer<Float>, _ m: Int, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                                                   into y: UnsafeMutablePointer<Float>, residual r: UnsafePointer<Float>? = nil) {
        let (mu, rs) = stats(x, m)
        if let r {
            for j in 0..<m { y[j] = r[j] + ((x[j] - mu) * rs * gamma[j] + beta[j]) }
        } else {
            for j in 0..<m { y[j] = (x[j] - mu) * rs * gamma[j] + beta[j] }
        }
    }

    /// δ = ∂/∂z ½‖LN_{γ,β}(z) − target‖², in place over z (docs/ttt.md §1.5), with a temporary of m floats for ẑ:
    /// `δ = (m·g − Σg − ẑ·Σ(g ẑ))/(m·s)`, `g = (γẑ + β − target)·γ`.
    @inline(__always) public static func lnL2BackwardRow(_ z: UnsafeMutablePointer<Float>, _ m: Int, target: UnsafePointer<Float>,
                                                         gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                                                         tmp zh: UnsafeMutablePointer<Float>) {
        typealias S = RowSIMD
        let (mu, rs) = stats(z, m)
        var a1 = RowV(), a2 = RowV(), j = 0
        while j < m {                                      // padded lanes: γ = 0, so g = 0
            let h = (S.load(z, j, m) - mu) * rs, gam = S.load(gamma, j, m)
            let g = (h * gam + S.load(beta, j, m) - S.load(target, j, m)) * gam
            a1 += g; a2 += g * h
            S.store(h, zh, j, m); S.store(g, z, j, m)
            j += S.width
        }
        let s1 = a1.sum(), s2 = a2.sum()
        let fm = Float(m), scale = rs * (1 / fm)
        j = 0
        while j < m { S.store((S.load(z, j, m) * fm - s1 - S.load(zh, j, m) * s2) * scale, z, j, m); j += S.width }
    }
}
