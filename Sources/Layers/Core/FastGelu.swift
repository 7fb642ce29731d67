// FastGelu.swift — GELU (tanh form, spec §0) as a differentiable op on the SIMD kernels of FastMath:
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
