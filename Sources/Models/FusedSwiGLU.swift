// FusedSwiGLU.swift — the SwiGLU MLP as one autodiff node with a hand-written backward (llm.c style).
//
// Reference (SwiGLU.reference, LanguageModel.swift): matmul, silu, matmul, mul, matmul — five nodes and
// five fresh [N, I] tensors in the forward, more in the backward. Fused, N = B·T rows:
//
//   forward, per row chunk (one Parallel.chunks pass, rows stay in cache):
//     a = u·W1            [N, I]          saved
//     b = u·W3            [N, I]          saved
//     h = silu(a) ⊙ b     [N, I]          saved (dW2 needs it)
//     y = h·W2            [N, D]
//   backward, given g = dL/dy [N, D]:
//     dh = g·W2ᵀ          [N, I]
//     s = σ(a); da = dh ⊙ b ⊙ s(1 + a(1 − s)); db = dh ⊙ a·s        (in place over dh and a fresh [N, I])
//     du = da·W1ᵀ + db·W3ᵀ [N, D]         (second GEMM accumulates, beta = 1)
//     dW1 = uᵀ·da, dW3 = uᵀ·db [D, I];  dW2 = hᵀ·g [I, D]            (output rows split over the workers)
import Foundation
import Layers
import TensorCore

extension SwiGLU {
    /// The fused node: same function as `reference(_:)`, one graph node, SIMD silu.
    ///
    /// ```swift
    /// let y = mlp.fused(u)        // u [B, T, D] → [B, T, D]; y.backward(seed:) fills u, W1, W3, W2 grads
    /// ```
    public func fused(_ u: Tensor) -> Tensor {
        let D = w1.dim(0), I = w1.dim(1)
        precondition(u.shape.last == D, "SwiGLU: input \(u.shape) must end in width \(D)")
        let N = u.count / D
        let keep = Tensor.recording([u, w1, w3, w2])
        let a = Tensor(uninitializedShape: [N, I]), b = Tensor(uninitializedShape: [N, I]), h = Tensor(uninitializedShape: [N, I])
        let y = Tensor(uninitializedShape: u.shape)
        let pu = u.data, p1 = w1.data, p3 = w3.data, p2 = w2.data
        let pa = a.data, pb = b.data, ph = h.data, py = y.data
        Parallel.chunks(N, minPerThread: 16) { lo, hi in
            let m = hi - lo
            sgemm(transA: false, transB: false, m: m, n: I, k: D, pu + lo * D, lda: D, p1, ldb: I, pa + lo * I, ldc: I)
            sgemm(transA: false, transB: false, m: m, n: I, k: D, pu + lo * D, lda: D, p3, ldb: I, pb + lo * I, ldc: I)
            SwiGLUKernels.gate(pa + lo * I, pb + lo * I, into: ph + lo * I, count: m * I)
            sgemm(transA: false, transB: false, m: m, n: D, k: I, ph + lo * I, lda: I, p2, ldb: D, py + lo * D, ldc: D)
        }
        FLOPCounter.matmul += 6 * N * D * I
        FLOPCounter.elementwise += 6 * N * I
        guard keep else { return y }
        let (w1, w3, w2) = (self.w1, self.w3, self.w2)
        return y.recordingFused("swiGLU", [u, w1, w3, w2]) { g in
            let pg = g.data
            let da = Tensor(uninitializedShape: [N, I]), db = Tensor(uninitializedShape: [N, I])
            let du = Tensor(uninitializedShape: u.shape)
            let pda = da.data, pdb = db.data, pdu = du.data
            let pa = a.data, pb = b.data, ph = h.data                       // keep a, b, h alive with the node
            Parallel.chunks(N, minPerThread: 16) { lo, hi in
                let m = hi - lo
                // dh = g·W2ᵀ  [m, I]
                sgemm(transA: false, transB: true, m: m, n: I, k: D, pg + lo * D, lda: D, p2, ldb: D, pda + lo * I, ldc: I)
                SwiGLUKernels.gateBackward(pa + lo * I, pb + lo * I, dh: pda + lo * I, db: pdb + lo * I, count: m * I)
                // du = da·W1ᵀ + db·W3ᵀ  [m, D]
                sgemm(transA: false, transB: true, m: m, n: D, k: I, pda + lo * I, lda: I, p1, ldb: I, pdu + lo * D, ldc: D)
                sgemm(transA: false, transB: true, m: m, n: D, k: I, pdb + lo * I, lda: I, p3, ldb: I, pdu + lo * D, ldc: D, beta: 1)
            }
            let dw1 = SwiGLUKernels.weightGrad(pu, pda, rows: N, d: D, n: I)
            let dw3 = SwiGLUKernels.weightGrad(pu, pdb, rows: N, d: D, n: I)
            let dw2 = SwiGLUKernels.weightGrad(ph, pg, rows: N, d: I, n: D)
            FLOPCounter.matmul += 12 * N * D * I
            FLOPCounter.elementwise += 10 * N * I
            return [du, dw1, dw3, dw2]
        }
    }
}

/// Raw loops of the fused SwiGLU (8 lanes at a time; the tail through a padded vector).
enum SwiGLUKernels {
    /// h = silu(a) ⊙ b over `count` entries.
    static func gate(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into h: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        while i + 8 <= n {
            FastMath.store(FastMath.silu(FastMath.load(a + i)) * FastMath.load(b + i), h + i)
            i += 8
        }
        while i < n { let x = a[i]; h[i] = x / (1 + Foundation.exp(-x)) * b[i]; i += 1 }
    }

    /// In place over dh: da = dh ⊙ b ⊙ silu'(a); db = dh ⊙ silu(a), silu'(a) = s(1 + a(1 − s)), s = σ(a).
    static func gateBackward(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, dh: UnsafeMutablePointer<Float>,
                             db: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        while i + 8 <= n {
            let x = FastMath.load(a + i), s = FastMath.sigmoid(x), g = FastMath.load(dh + i)
            FastMath.store(g * x * s, db + i)
            FastMath.store(g * FastMath.load(b + i) * s * (1 + x * (1 - s)), dh + i)
            i += 8
        }
        while i < n {
            let x = a[i], s = 1 / (1 + Foundation.exp(-x)), g = dh[i]
            db[i] = g * x * s
            dh[i] = g * b[i] * s * (1 + x * (1 - s))
            i += 1
        }
    }

    /// xᵀ·dy: x [rows, d], dy [rows, n] → [d, n] (the token reduction split over the workers: `sgemmSplit`).
    static func weightGrad(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, rows: Int, d: Int, n: Int) -> Tensor {
        let out = Tensor(uninitializedShape: [d, n])
        sgemmSplit(transA: true, transB: false, m: d, n: n, k: rows, x, dy, out.data)
        return out
    }
}
