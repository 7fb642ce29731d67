// MambaTraining.swift — Mamba's selective scan as ONE autodiff node for training (baselines.md §4,
// ttt-backward.md §5): the forward keeps only the chunk-start states (every `scanChunk` tokens), the backward is
// a reverse scan over time that recomputes each chunk's states (and the decays exp(Δ·A)) from its checkpoint.
// Memory O(T·C·N / scanChunk) for the states instead of the reference's O(T·C·N).
//
//   forward, per (sequence, channel c), s_0 = 0:
//       s_t = exp(Δ_t·A_c) ⊙ s_{t−1} + Δ_t·x_t·B_t;   y_t = s_t·C_t + D_c·x_t         (s, A_c, B_t, C_t ∈ R^N)
//   backward, t from T down to 1, g_s = ∂L/∂s_t through later tokens (0 after T):
//       ĝ   = g_s + dy_t·C_t                 dC_t += dy_t·s_t
//       dA_c += Δ_t·(ĝ ⊙ s_{t−1} ⊙ e^{Δ_t A_c})     dΔ_t = Σ ĝ ⊙ s_{t−1} ⊙ e^{Δ_t A_c} ⊙ A_c + x_t·Σ ĝ ⊙ B_t
//       dB_t += Δ_t·x_t·ĝ                    dx_t = D_c·dy_t + Δ_t·Σ ĝ ⊙ B_t          dD_c += dy_t·x_t
//       g_s = ĝ ⊙ e^{Δ_t A_c}
import Foundation
import TensorCore

extension Mamba {
    /// Tokens between saved scan states in the training kernel.
    public static var scanChunk = 64

    /// `dst[j] = exp(dt·a[j])`, j < n, with the SIMD exp (the tail through a padded vector).
    @inline(__always) static func decays(_ dst: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ dt: Float, _ n: Int) {
        var j = 0
        while j + 8 <= n { FastMath.store(FastMath.exp(dt * FastMath.load(a + j)), dst + j); j += 8 }
        if j < n {
            var v = FastMath.V(repeating: 0)
            for i in 0..<(n - j) { v[i] = a[j + i] }
            let r = FastMath.exp(dt * v)
            for i in 0..<(n - j) { dst[j + i] = r[i] }
        }
    }

    /// The selective scan (same contract as `selectiveScan`: u, delta [B, T, C]; A [C, N]; Bm, Cm [B, T, N];
    /// Dskip [C] → y [B, T, C]) as one autodiff node with checkpointed states. `perturbBackward` is a test hook:
    /// a non-zero value corrupts dΔ (negative control).
    ///
    /// ```swift
    /// let y = Mamba.fusedScan(x, delta: delta, A: a, Bm: bm, Cm: cm, Dskip: dSkip)   // ≡ selectiveScan(…)
    /// ```
    public static func fusedScan(_ u: Tensor, delta: Tensor, A: Tensor, Bm: Tensor, Cm: Tensor, Dskip: Tensor,
                                 perturbBackward: Float = 0) -> Tensor {
        let (bsz, t, c) = (u.dim(0), u.dim(1), u.dim(2)), n = A.dim(-1)
        precondition(delta.shape == u.shape && A.shape == [c, n] && Bm.shape == [bsz, t, n] && Cm.shape == [bsz, t, n] && Dskip.shape == [c],
                   "Mamba.fusedScan: u \(u.shape), Δ \(delta.shape), A \(A.shape), B \(Bm.shape), C \(Cm.shape), D \(Dskip.shape) do not fit")
        let inputs = [u, delta, A, Bm, Cm, Dskip]
        let record = Tensor.recording(inputs)
        let kc = scanChunk, chunks = (t + kc - 1) / kc
        let ckpt: FastBuffer? = record ? FastBuffer(bsz * c * chunks * n) : nil      // [B·C, chunks, N]: s before each chunk
        let y = Tensor(uninitializedShape: u.shape)
        let pu = u.data, pd = delta.data, pa = A.data, pb = Bm.data, pc = Cm.data, pD = Dskip.data, py = y.data
        let pck = ckpt?.p
        Parallel.chunks(bsz * c, minPerThread: 16) { lo, hi in
            let states = FastBuffer((hi - lo) * n, zero: true), da = FastBuffer(n)
            for ti in 0..<t {
                for bc in lo..<hi {
                    let b = bc / c, ch = bc % c, i = (b * t + ti) * c + ch
                    let s = states.p + (bc - lo) * n
                    if let pck, ti % kc == 0 { (pck + (bc * chunks + ti / kc) * n).update(from: s, count: n) }
                    let dt = pd[i], x = pu[i], dx = dt * x
                    let bt = pb + (b * t + ti) * n, ct = pc + (b * t + ti) * n
                    decays(da.p, pa + ch * n, dt, n)
                    var acc: Float = 0
                    for j in 0..<n { s[j] = da.p[j] * s[j] + dx * bt[j] }
                    for j in 0..<n { acc += s[j] * ct[j] }
                    py[i] = acc + pD[ch] * x
                }
            }
        }
        FLOPCounter.elementwise += 9 * bsz * t * c * n
        guard record, let ckpt else { return y }
        return y.recordingFused("mambaScan", inputs) { g in
            let gu = Tensor(uninitializedShape: u.shape), gd = Tensor(uninitializedShape: u.shape)
            // Per-worker partial sums of the tensors shared across channels, reduced in a fixed order.
            let workers = Swift.min(Parallel.threads, Swift.max(1, bsz * c))
            let gBp = FastBuffer(workers * bsz * t * n, zero: true), gCp = FastBuffer(workers * bsz * t * n, zero: true)
            let gAp = FastBuffer(workers * c * n, zero: true), gDp = FastBuffer(workers * c, zero: true)
            let pg = g.data, pgu = gu.data, pgd = gd.data, pck = ckpt.p
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = bsz * c * w / workers, hi = bsz * c * (w + 1) / workers
                let gB = gBp.p + w * bsz * t * n, gC = gCp.p + w * bsz * t * n, gAw = gAp.p + w * c * n, gDw = gDp.p + w * c
                let sbuf = FastBuffer(kc * n), dbuf = FastBuffer(kc * n), gs = FastBuffer(n)
                for bc in lo..<hi {
                    let b = bc / c, ch = bc % c, ar = pa + ch * n, gA = gAw + ch * n
                    for j in 0..<n { gs.p[j] = 0 }
                    var gDsum: Float = 0
                    for ck in stride(from: chunks - 1, through: 0, by: -1) {
                        let t0 = ck * kc, t1 = min(t0 + kc, t)
                        let s0 = pck + (bc * chunks + ck) * n                 // s_{t0−1}
                        // recompute s_t and e^{Δ_t A} for the chunk
                        var prev = UnsafePointer(s0)
                        for ti in t0..<t1 {
                            let i = (b * t + ti) * c + ch, r = ti - t0
                            let dt = pd[i], dx = dt * pu[i], bt = pb + (b * t + ti) * n
                            let da = dbuf.p + r * n, s = sbuf.p + r * n
                            decays(da, ar, dt, n)
                            for j in 0..<n { s[j] = da[j] * prev[j] + dx * bt[j] }
                            prev = UnsafePointer(s)
                        }
                        for ti in stride(from: t1 - 1, through: t0, by: -1) {
                            let i = (b * t + ti) * c + ch, r = ti - t0, row = (b * t + ti) * n
                            let dt = pd[i], x = pu[i], gy = pg[i]
                            let s = sbuf.p + r * n, da = dbuf.p + r * n
                            let sp = r > 0 ? UnsafePointer(sbuf.p + (r - 1) * n) : UnsafePointer(s0)
                            let bt = pb + row, ct = pc + row, gBr = gB + row, gCr = gC + row
                            var gdt: Float = 0, gbx: Float = 0
                            for j in 0..<n {
                                gCr[j] += gy * s[j]
                                let gh = gs.p[j] + gy * ct[j]
                                let ga = gh * sp[j] * da[j]                    // ∂L/∂(Δ·A_j)
                                gdt += ga * ar[j]
                                gbx += gh * bt[j]
                                gA[j] += ga * dt
                                gBr[j] += gh * dt * x
                                gs.p[j] = gh * da[j]
                            }
                            pgd[i] = gdt + gbx * x + perturbBackward
                            pgu[i] = gy * pD[ch] + gbx * dt
                            gDsum += gy * x
                        }
                    }
                    gDw[ch] += gDsum
                }
            }
            func reduce(_ parts: FastBuffer, _ size: Int, _ shape: [Int]) -> Tensor {
                let out = Tensor(zeros: shape), po = out.data
                Parallel.chunks(size, minPerThread: 4096) { lo, hi in
                    for w in 0..<workers { let src = parts.p + w * size; for i in lo..<hi { po[i] += src[i] } }
                }
                return out
            }
            return [gu, gd, reduce(gAp, c * n, [c, n]), reduce(gBp, bsz * t * n, [bsz, t, n]),
                    reduce(gCp, bsz * t * n, [bsz, t, n]), reduce(gDp, c, [c])]
        }
    }
}

extension Mamba: FusedTraining {
    /// State size, expansion, conv width (T not a multiple of `scanChunk` is covered by the tests' lengths).
    public static var fusedOptions: [LayerOption] {
        [LayerOption("state 8") { $0.mambaState = 8 },
         LayerOption("state 5") { $0.mambaState = 5 },
         LayerOption("expand 1") { $0.mambaExpand = 1 },
         LayerOption("conv width 2") { $0.convWidth = 2 }]
    }

    /// Every configuration trains on the fused scan.
    public var fusedTrainingSupported: Bool { true }
}
