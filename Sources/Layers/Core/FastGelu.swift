// FastGelu.swift — GELU (tanh form, docs/ttt.md §0) as a differentiable op on the SIMD kernels of FastMath:
// the same function as Tensor.gelu() (abs. difference ≈1e-7), 8 lanes at a time, split over the workers.
// Used by the layers' shared (reference and fused) code for big [B, T, D] activations such as the
// TTT Mamba-backbone output gate, where the scalar libm tanh dominated the layer's elementwise time.
import TensorCore

extension Tensor {
    /// gelu(x) with VJP g ⊙ gelu'(x), on FastMath's SIMD tanh.
    ///
    /// ```swift
    /// let gate = matmul(h, wg).fastGelu()      // [B, T, D]
    /// ```
    public func fastGelu() -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let px = data, po = out.data, n = count
        Parallel.chunks(n, minPerThread: 1 << 14) { lo, hi in
            po.advanced(by: lo).update(from: px + lo, count: hi - lo)
            FastMath.apply(po + lo, hi - lo) { FastMath.gelu($0) }
        }
        FLOPCounter.elementwise += 8 * n
        let x = self
        return out.recordingFused("fastGelu", [x]) { g in
            let gx = Tensor(uninitializedShape: x.shape)
            let pg = g.data, pgx = gx.data, px = x.data
            Parallel.chunks(n, minPerThread: 1 << 14) { lo, hi in
                var i = lo
                while i + 8 <= hi {
                    let (_, df) = FastMath.geluAndPrime(FastMath.load(px + i))
                    FastMath.store(FastMath.load(pg + i) * df, pgx + i)
                    i += 8
                }
                while i < hi { pgx[i] = pg[i] * GELU.df(px[i]); i += 1 }
            }
            return [gx]
        }
    }
}

/// GELU passes over raw buffers for the plugins' fused kernels. They live in this module so that FastMath's
/// `@inline(__always)` SIMD code is inlined into the loops (a plugin calling FastMath per 8-lane vector
/// across the module boundary gets an outlined call, measured ≈2.5× slower per element).
///
/// ```swift
/// GeluKernels.geluAndPrime(x2, prime: gp, n * h)     // X2 = gelu(Z1) in place, G' = gelu'(Z1)
/// ```
public enum GeluKernels {
    public typealias V = SIMD8<Float>

    /// x ← gelu(x) over n floats.
    public static func gelu(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        FastMath.apply(x, n) { FastMath.gelu($0) }
    }

    /// x ← gelu(x), g ← gelu'(x) over n floats (one tanh per element).
    public static func geluAndPrime(_ x: UnsafeMutablePointer<Float>, prime g: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let (f, df) = FastMath.geluAndPrime(FastMath.load(x + i))
            FastMath.store(f, x + i); FastMath.store(df, g + i)
            i += 8
        }
        while i < n { g[i] = GELU.df(x[i]); x[i] = GELU.f(x[i]); i += 1 }
    }

    /// g ← g ⊙ gelu'(z) over n floats.
    public static func timesPrime(_ z: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let (_, df) = FastMath.geluAndPrime(FastMath.load(z + i))
            FastMath.store(FastMath.load(g + i) * df, g + i)
            i += 8
        }
        while i < n { g[i] *= GELU.df(z[i]); i += 1 }
    }

    /// The second-order step of TTT-MLP's backward (docs/ttt-backward.md §3.3), Δ1 = U ⊙ gelu'(Z1):
    /// out ← g ⊙ u ⊙ gelu''(z), then g ← g ⊙ gp (gp = gelu'(z)), over n floats.
    public static func secondOrder(z: UnsafePointer<Float>, u: UnsafePointer<Float>, gp: UnsafePointer<Float>,
                                   g: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let x = FastMath.load(z + i)
            let t = FastMath.tanh(GELU.c * (x + GELU.a * x * x * x)), w = GELU.c + GELU.c3 * x * x, s = 1 - t * t
            let d2 = s * w + x * s * (GELU.c3 * x - t * w * w)                      // gelu''(x)
            let gv = FastMath.load(g + i)
            FastMath.store(gv * FastMath.load(u + i) * d2, out + i)
            FastMath.store(gv * FastMath.load(gp + i), g + i)
            i += 8
        }
        while i < n { out[i] = g[i] * u[i] * GELU.d2f(z[i]); g[i] *= gp[i]; i += 1 }
    }
}
