// FusedInnerModel.swift — the per-head, per-mini-batch BACKWARD kernel a plugin adds for fused training
// (the whole inner loop is one autodiff node, TTTTraining.swift), plus the two shared VJPs every plugin
// composes it from (docs/ttt-backward.md): the dual block (§1) and the δ = LN+L2 backward (§2).
//
//   forward (FusedForwardInnerModel.fusedDual):   Z̄, θ' = dual(θ, Q, K, target, E)      per mini-batch, per head
//   backward (fusedDualBackward):        (gZ̄, gθ') → gθ, gQ, gK, gTarget, gη, gc, gγ, gβ
//   Z, Δ, A are recomputed from θ (the layer saves θ at every mini-batch start, never b×b or b×d per token).
import TensorCore

/// Where a mini-batch backward writes the gradients of its rows (one sequence×head).
///
/// `gq`, `gk` have stride `ld` and are ACCUMULATED (+=); `gTarget` [n, d] is WRITTEN; `gEta`, `gc` [n]
/// and `gGamma`, `gBeta` [d] are ACCUMULATED.
public struct FusedTTTGrads {
    public let gq: UnsafeMutablePointer<Float>, gk: UnsafeMutablePointer<Float>, ld: Int
    public let gTarget: UnsafeMutablePointer<Float>
    public let gEta: UnsafeMutablePointer<Float>, gc: UnsafeMutablePointer<Float>
    public let gGamma: UnsafeMutablePointer<Float>, gBeta: UnsafeMutablePointer<Float>
    public init(gq: UnsafeMutablePointer<Float>, gk: UnsafeMutablePointer<Float>, ld: Int, gTarget: UnsafeMutablePointer<Float>,
                gEta: UnsafeMutablePointer<Float>, gc: UnsafeMutablePointer<Float>,
                gGamma: UnsafeMutablePointer<Float>, gBeta: UnsafeMutablePointer<Float>) {
        self.gq = gq; self.gk = gk; self.ld = ld; self.gTarget = gTarget; self.gEta = gEta; self.gc = gc
        self.gGamma = gGamma; self.gBeta = gBeta
    }
}

/// An inner model that trains on the fused kernel: `fusedDual` is the forward of one mini-batch, and
/// `fusedDualBackward` its vector-Jacobian product (docs/ttt-backward.md §3), recomputing what it needs
/// from θ at the mini-batch start.
///
/// ```swift
/// extension LinearInner: FusedInnerModel { … }    // Plugins/TTTLinear/LinearInnerFused.swift
/// ```
public protocol FusedInnerModel: FusedForwardInnerModel {
    /// Floats of scratch `fusedDualBackward` needs at head dim d and n ≤ b rows.
    static func fusedBackwardScratch(d: Int, b: Int) -> Int
    /// Backward of one mini-batch of one head. `θ`: the state at the mini-batch start (read only);
    /// `gZbar` [n, d]: dL/dZ̄ (pre-LN query outputs); `gθ`: in dL/dθ_end, out dL/dθ_start (same layout as θ).
    /// Row gradients go to `g` (see `FusedTTTGrads`).
    static func fusedDualBackward(_ θ: [UnsafeMutablePointer<Float>], _ rows: FusedTTTRows, gZbar: UnsafePointer<Float>,
                                  gθ: [UnsafeMutablePointer<Float>], _ g: FusedTTTGrads, scratch: UnsafeMutablePointer<Float>)
}

/// The shared pieces of every fused inner backward.
public enum FusedTTT {
    /// Scratch floats of `dualBlockVJP` for n rows, input width p, output width m.
    public static func blockScratch(n: Int, p: Int, m: Int) -> Int { 2 * n * n + n * (p + m) }

    /// VJP of one dual block (docs/ttt-backward.md §1), one head, n rows:
    ///
    ///     Z̄ = Qx·W − M·Δ + 1·w,  M = tril(E ⊙ (Qx·Kxᵀ + [bias])),  E_ij = c_i·η_j    Qx, Kx [n, p]; W [p, m]; Δ, Z̄ [n, m]
    ///     W' = W − (e ⊙ Kx)ᵀ·Δ,  w' = w − eᵀ·Δ,  e_j = c_n·η_j
    ///
    /// In: gZ̄ [n, m], gW = gW' [p, m], gw = gw' [m] (nil without bias). Out: gW += Qxᵀ·gZ̄, gw += 1ᵀ·gZ̄
    /// (the read-out and update paths; the Δ path is the caller's), gQx += (ldq), gKx += (ldk),
    /// gΔ [n, m] written, gc += , gη += .
    public static func dualBlockVJP(n: Int, p: Int, m: Int,
                                    qx: UnsafePointer<Float>, ldq: Int, kx: UnsafePointer<Float>, ldk: Int,
                                    delta: UnsafePointer<Float>, W: UnsafePointer<Float>, gz: UnsafePointer<Float>,
                                    gW: UnsafeMutablePointer<Float>, gw: UnsafeMutablePointer<Float>?,
                                    gqx: UnsafeMutablePointer<Float>, ldgq: Int, gkx: UnsafeMutablePointer<Float>, ldgk: Int,
                                    gDelta: UnsafeMutablePointer<Float>,
                                    c: UnsafePointer<Float>, eta: UnsafePointer<Float>, gc: UnsafeMutablePointer<Float>,
                                    gEta: UnsafeMutablePointer<Float>, bias: Bool, scratch: UnsafeMutablePointer<Float>) {
        let a = scratch, pm = a + n * n, mk = pm + n * n, t2 = mk + n * p
        let one: Float = bias ? 1 : 0
        sgemm(transA: false, transB: true, m: n, n: n, k: p, qx, lda: ldq, kx, ldb: ldk, a, ldc: n)        // A = Qx·Kxᵀ   [n, n]
        sgemm(transA: false, transB: true, m: n, n: n, k: m, gz, lda: m, delta, ldb: m, pm, ldc: n)       // P = gZ̄·Δᵀ    [n, n]
        // Lower triangle: gE = −P ⊙ (A + 1) → gc, gη;  G = −P ⊙ E (into P);  M = E ⊙ (A + 1) (into A).
        for i in 0..<n {
            let ar = a + i * n, pr = pm + i * n, ci = c[i]
            var gci: Float = 0
            for j in 0...i {
                let e = ci * eta[j], ap = ar[j] + one, pv = pr[j]
                let ge = -pv * ap
                gci += ge * eta[j]
                gEta[j] += ge * ci
                pr[j] = -pv * e
                ar[j] = e * ap
            }
            gc[i] += gci
            for j in (i + 1)..<n { ar[j] = 0; pr[j] = 0 }
        }
        // gΔ = −Mᵀ·gZ̄ − (e ⊙ Kx)·gW' − e·gw'
        sgemm(transA: true, transB: false, m: n, n: m, k: n, a, lda: n, gz, ldb: m, gDelta, ldc: m, alpha: -1)
        sgemm(transA: false, transB: false, m: n, n: m, k: p, kx, lda: ldk, gW, ldb: m, t2, ldc: m)        // Kx·gW'   [n, m]
        sgemm(transA: false, transB: true, m: n, n: p, k: m, delta, lda: m, gW, ldb: m, mk, ldc: p)       // Δ·gW'ᵀ  [n, p]
        let cn = c[n - 1]
        var gcn: Float = 0
        for j in 0..<n {
            let e = cn * eta[j], gd = gDelta + j * m, tr = t2 + j * m, dr = delta + j * m, kr = kx + j * ldk, mr = mk + j * p
            let gkr = gkx + j * ldgk
            var ge = -dotAxpy(kr, mr, gkr, -e, p)                          // −⟨Kx_j, M_j⟩; gKx_j −= e_j·M_j
            axpy(gd, -e, tr, m)
            if let gw { ge -= dotAxpy(dr, gw, gd, -e, m) }                 // −⟨Δ_j, gw'⟩; gΔ_j −= e_j·gw'
            gcn += ge * eta[j]
            gEta[j] += ge * cn
        }
        gc[n - 1] += gcn
        // gQx += gZ̄·Wᵀ + G·Kx;  gKx += Gᵀ·Qx;  gW += Qxᵀ·gZ̄;  gw += 1ᵀ·gZ̄
        sgemm(transA: false, transB: true, m: n, n: p, k: m, gz, lda: m, W, ldb: m, gqx, ldc: ldgq, beta: 1)
        sgemm(transA: false, transB: false, m: n, n: p, k: n, pm, lda: n, kx, ldb: ldk, gqx, ldc: ldgq, beta: 1)
        sgemm(transA: true, transB: false, m: n, n: p, k: n, pm, lda: n, qx, ldb: ldq, gkx, ldc: ldgk, beta: 1)
        sgemm(transA: true, transB: false, m: p, n: m, k: n, qx, lda: ldq, gz, ldb: m, gW, ldc: m, beta: 1)
        if let gw { addColumnSums(gz, n, m, into: gw) }
    }

    /// VJP of δ = ∂/∂z ½‖LN_{γ,β}(z) − t‖² for one row of m features (docs/ttt-backward.md §2), or of
    /// δ = z − t without the inner LN. In: z (pre-LN), t, gδ in `g`. Out: `g` ← gz, `gt` ← gt (written),
    /// gγ += , gβ += . `tmp`: 2m floats.
    @inline(__always)
    public static func deltaVJPRow(_ z: UnsafePointer<Float>, _ m: Int, target t: UnsafePointer<Float>,
                                   gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, innerLN: Bool,
                                   g: UnsafeMutablePointer<Float>, gt: UnsafeMutablePointer<Float>,
                                   gGamma: UnsafeMutablePointer<Float>, gBeta: UnsafeMutablePointer<Float>,
                                   tmp: UnsafeMutablePointer<Float>) {
        if !innerLN {
            for x in 0..<m { gt[x] = -g[x] }
            return
        }
        typealias S = RowSIMD
        let (mu, rs) = FastNorm.stats(z, m)
        let inv = 1 / Float(m)
        let xh = tmp, gh = tmp + m                         // x̂, ĝ (re-read zero-padded: padded lanes are 0)
        // Padded lanes: γ = 0 and gδ = 0, so ĝ, u and every summand below are 0 there.
        var a1 = RowV(), a2 = RowV(), j = 0
        while j < m {
            let h = (S.load(z, j, m) - mu) * rs, gam = S.load(gamma, j, m)
            let gg = gam * (gam * h + S.load(beta, j, m) - S.load(t, j, m))
            S.store(h, xh, j, m); S.store(gg, gh, j, m)
            a1 += gg; a2 += gg * h
            j += S.width
        }
        let m1 = a1.sum() * inv, m2 = a2.sum() * inv
        // u = gδ/s;  mean(u), mean(u x̂), Σ gδ·(ĝ − m1 − x̂ m2)
        var au = RowV(), aux = RowV(), asd = RowV()
        j = 0
        while j < m {
            let gv = S.load(g, j, m), u = gv * rs, h = S.load(xh, j, m)
            au += u; aux += u * h
            asd += gv * (S.load(gh, j, m) - m1 - h * m2)
            j += S.width
        }
        let mu_u = au.sum() * inv, mux = aux.sum() * inv, sd = asd.sum()
        // gĝ, gx̂ (into g), gt, gγ, gβ; Σ gx̂·xc
        var axc = RowV()
        j = 0
        while j < m {
            let u = S.load(g, j, m) * rs, h = S.load(xh, j, m), gam = S.load(gamma, j, m)
            let ggh = u - mu_u - h * mux                     // gĝ
            let rr = gam * h + S.load(beta, j, m) - S.load(t, j, m)   // r
            S.store(-gam * ggh, gt, j, m)
            S.store(S.load(gGamma, j, m) + ggh * (rr + gam * h), gGamma, j, m)
            S.store(S.load(gBeta, j, m) + gam * ggh, gBeta, j, m)
            let gxh = -u * m2 - S.load(gh, j, m) * mux + gam * gam * ggh
            S.store(gxh, g, j, m)
            axc += gxh * h                                   // Σ gx̂·(z−μ) = s·Σ gx̂·x̂
            j += S.width
        }
        // gs = −(Σ gδ·(…))/s² − (Σ gx̂·xc)/s² ;  gxc = gx̂/s + (gs/s)·xc/m ; gz = gxc − mean(gxc)
        let rs2 = rs * rs
        let gs = -sd * rs2 - axc.sum() * rs                  // Σ gx̂·xc / s² = (s·Σ gx̂ x̂)/s² = Σ gx̂ x̂ · rs
        let k = gs * inv                                     // (gs/s)·xc/m = gs·x̂/m
        var amean = RowV()
        j = 0
        while j < m {
            let v = S.load(g, j, m) * rs + k * S.load(xh, j, m)
            S.store(v, g, j, m); amean += v
            j += S.width
        }
        let mean = amean.sum() * inv
        j = 0
        while j < m { S.store(S.load(g, j, m) - mean, g, j, m); j += S.width }
    }

    /// Backward of y = (residual ? r : 0) + LN_{γ,β}(z) for one row: `g` holds gy in, gz out;
    /// gγ += gy·x̂, gβ += gy. (The residual's gradient, gy itself, is the caller's.) `tmp`: m floats.
    @inline(__always)
    public static func layerNormBackwardRow(_ z: UnsafePointer<Float>, _ m: Int, gamma: UnsafePointer<Float>,
                                            g: UnsafeMutablePointer<Float>, gGamma: UnsafeMutablePointer<Float>,
                                            gBeta: UnsafeMutablePointer<Float>, tmp: UnsafeMutablePointer<Float>) {
        typealias S = RowSIMD
        let (mu, rs) = FastNorm.stats(z, m)
        let inv = 1 / Float(m)
        var a1 = RowV(), a2 = RowV(), j = 0
        while j < m {                                        // padded lanes: gy = 0, so ĝ = 0
            let h = (S.load(z, j, m) - mu) * rs, gy = S.load(g, j, m)
            S.store(S.load(gGamma, j, m) + gy * h, gGamma, j, m)
            S.store(S.load(gBeta, j, m) + gy, gBeta, j, m)
            let gh = gy * S.load(gamma, j, m)
            S.store(h, tmp, j, m); S.store(gh, g, j, m)
            a1 += gh; a2 += gh * h
            j += S.width
        }
        let s1 = a1.sum() * inv, s2 = a2.sum() * inv
        j = 0
        while j < m { S.store((S.load(g, j, m) - s1 - S.load(tmp, j, m) * s2) * rs, g, j, m); j += S.width }
    }

    /// Returns ⟨x, y⟩ and does z += a·y (n floats), 8 lanes at a time.
    @inline(__always) static func dotAxpy(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ z: UnsafeMutablePointer<Float>,
                                          _ a: Float, _ n: Int) -> Float {
        typealias V = SIMD8<Float>
        var acc = V(repeating: 0), i = 0
        let av = V(repeating: a)
        while i + 8 <= n {
            let yv = UnsafeRawPointer(y + i).loadUnaligned(as: V.self)
            acc += UnsafeRawPointer(x + i).loadUnaligned(as: V.self) * yv
            UnsafeMutableRawPointer(z + i).storeBytes(of: UnsafeRawPointer(z + i).loadUnaligned(as: V.self) + av * yv, as: V.self)
            i += 8
        }
        var s = acc.sum()
        while i < n { s += x[i] * y[i]; z[i] += a * y[i]; i += 1 }
        return s
    }

    /// z += a·y over n floats.
    @inline(__always) static func axpy(_ z: UnsafeMutablePointer<Float>, _ a: Float, _ y: UnsafePointer<Float>, _ n: Int) {
        for i in 0..<n { z[i] += a * y[i] }
    }

    /// w[j] += Σ_i x[i, j] over n rows of m.
    @inline(__always) public static func addColumnSums(_ x: UnsafePointer<Float>, _ n: Int, _ m: Int, into w: UnsafeMutablePointer<Float>) {
        for i in 0..<n { let row = x + i * m; for j in 0..<m { w[j] += row[j] } }
    }
}
