// MambaTraining.swift — Mamba's selective scan as ONE autodiff node for training (docs/baselines.md §4,
// docs/ttt-backward.md §5): the forward keeps only the chunk-start states (every `tiles.mambaScanChunk` tokens), the backward is
// a reverse scan over time that recomputes each chunk's states (and the decays exp(Δ·A)) from its checkpoint.
// Memory O(T·C·N / chunk) for the states instead of the reference's O(T·C·N).
//
//   forward, per (sequence, channel c), s_0 = 0:
//       s_t = exp(Δ_t·A_c) ⊙ s_{t−1} + Δ_t·x_t·B_t;   y_t = s_t·C_t + D_c·x_t         (s, A_c, B_t, C_t ∈ R^N)
//   backward, t from T down to 1, g_s = ∂L/∂s_t through later tokens (0 after T):
//       ĝ   = g_s + dy_t·C_t                 dC_t += dy_t·s_t
//       dA_c += Δ_t·(ĝ ⊙ s_{t−1} ⊙ e^{Δ_t A_c})     dΔ_t = Σ ĝ ⊙ s_{t−1} ⊙ e^{Δ_t A_c} ⊙ A_c + x_t·Σ ĝ ⊙ B_t
//       dB_t += Δ_t·x_t·ĝ                    dx_t = D_c·dy_t + Δ_t·Σ ĝ ⊙ B_t          dD_c += dy_t·x_t
//       g_s = ĝ ⊙ e^{Δ_t A_c}
import Foundation
import MambaScanKernels
import TensorCore

extension Mamba {
    typealias V = FastMath.V

    /// Lanes `c0 ..< c0 + 8` of a row (zeros beyond `count`): `RowSIMD`'s padded load at `p`.
    @inline(__always) static func load8(_ p: UnsafePointer<Float>, _ count: Int) -> V { RowSIMD.load(p, 0, count) }

    /// Stores the first `count` lanes of v (`RowSIMD`'s bounded store at `p`).
    @inline(__always) static func store8(_ v: V, _ p: UnsafeMutablePointer<Float>, _ count: Int) { RowSIMD.store(v, p, 0, count) }

    /// Which loops run the scan node's jobs: the Swift loops below, or the same loops compiled for this CPU in the
    /// C target MambaScanKernels (a portable build's Swift SIMD8 runs as two SSE halves). `.best`: two jobs as 16
    /// lanes with AVX-512 where the CPU has it, else one job with AVX2, else Swift; `.avx2`: one job with AVX2
    /// (else Swift); `.swift`: always Swift. All are bit-identical (MambaScanKernelTests).
    public enum ScanLoops: Sendable {
        case best, avx2, swift
        /// The widest unit this CPU runs in C: 16 lanes (AVX-512: two jobs), 8 (AVX2: one job) or 0 (none).
        public static let cpuLanes = Int(lab_mamba_scan_lanes())
        /// The widest unit these loops run in C; 0: the Swift loops.
        var lanes: Int {
            switch self {
            case .swift: return 0
            case .avx2: return Swift.min(8, ScanLoops.cpuLanes)
            case .best: return ScanLoops.cpuLanes
            }
        }
    }

    /// The selective scan (same contract as `selectiveScan`: u, delta [B, T, C]; A [C, N]; Bm, Cm [B, T, N];
    /// Dskip [C] → y [B, T, C]) as one autodiff node with checkpointed states. SIMD runs across 8 channels at a
    /// time (lanes beyond C are zero: Δ = x = 0 keeps their state 0 and their gradients 0). `perturbBackward` is a
    /// test hook: a non-zero value corrupts dΔ (negative control). `loops` picks the kernels (`ScanLoops`).
    ///
    /// ```swift
    /// let y = Mamba.fusedScan(x, delta: delta, A: a, Bm: bm, Cm: cm, Dskip: dSkip)   // ≡ selectiveScan(…)
    /// ```
    public static func fusedScan(_ u: Tensor, delta: Tensor, A: Tensor, Bm: Tensor, Cm: Tensor, Dskip: Tensor,
                                 chunk: Int = FusedTiles().mambaScanChunk, perturbBackward: Float = 0, fault: FusedFault? = nil,
                                 loops: ScanLoops = .best) -> Tensor {
        let (bsz, t, c) = (u.dim(0), u.dim(1), u.dim(2)), n = A.dim(-1)
        precondition(delta.shape == u.shape && A.shape == [c, n] && Bm.shape == [bsz, t, n] && Cm.shape == [bsz, t, n] && Dskip.shape == [c],
                     "Mamba.fusedScan: u \(u.shape), Δ \(delta.shape), A \(A.shape), B \(Bm.shape), C \(Cm.shape), D \(Dskip.shape) do not fit")
        let inputs = [u, delta, A, Bm, Cm, Dskip]
        let node = ScanNode(u, delta: delta, A: A, Bm: Bm, Cm: Cm, Dskip: Dskip, chunk: chunk, record: Tensor.recording(inputs),
                            lanes: loops.lanes)
        let y = scanForward(node)
        FusedFault.corruptOutput(y, fault)                             // test hook (nil in normal use)
        guard node.ckpt != nil else { return y }
        return y.recordingFused("mambaScan", inputs) { g in
            let grads = scanBackward(node, g: g, perturb: perturbBackward)
            FusedFault.corruptGradient(grads[5], fault)                // test hook: dL/dD (the parameter `D` itself)
            return grads
        }
    }

    /// What the scan node's forward and backward share: its inputs, A regrouped by 8 channels, and the
    /// checkpoints the forward saves.
    ///
    ///   u, Δ [B, T, C]; Bm, Cm [B, T, N]; D [C]                inputs
    ///   at [groups, N, 8]                                      A by channel group, lanes innermost: at[g][j] = A[8g ..< 8g+8, j]
    ///   ckpt [jobs, chunks, N, 8]                              s before each chunk of `chunk` tokens (nil without a graph)
    /// A job is (sequence, 8 channels): jobs = B·⌈C/8⌉. `lanes`: the C kernels' widest unit, 0 for the Swift loops
    /// (`ScanLoops.lanes`).
    final class ScanNode {
        let u: Tensor, delta: Tensor, Bm: Tensor, Cm: Tensor, Dskip: Tensor
        let bsz: Int, t: Int, c: Int, n: Int, kc: Int, chunks: Int, groups: Int, jobs: Int
        let at: FastBuffer, ckpt: FastBuffer?
        let lanes: Int
        init(_ u: Tensor, delta: Tensor, A: Tensor, Bm: Tensor, Cm: Tensor, Dskip: Tensor, chunk: Int, record: Bool, lanes: Int) {
            self.u = u; self.delta = delta; self.Bm = Bm; self.Cm = Cm; self.Dskip = Dskip; self.lanes = lanes
            bsz = u.dim(0); t = u.dim(1); c = u.dim(2); n = A.dim(-1); kc = chunk
            chunks = (u.dim(1) + chunk - 1) / chunk
            groups = (u.dim(2) + 7) / 8
            jobs = u.dim(0) * groups
            at = FastBuffer(groups * n * 8, zero: true)
            for ch in 0..<c { for j in 0..<n { at.p[((ch / 8) * n + j) * 8 + ch % 8] = A.data[ch * n + j] } }
            ckpt = record ? FastBuffer(jobs * chunks * n * 8) : nil
        }
    }

    /// Forward of the scan node, parallel over jobs (sequence, 8 channels), s_0 = 0, saving s every `kc` tokens:
    ///     s_t = exp(Δ_t·A_c) ⊙ s_{t−1} + Δ_t·x_t·B_t;   y_t = s_t·C_t + D_c·x_t         → y [B, T, C]
    static func scanForward(_ node: ScanNode) -> Tensor {
        let (u, delta, Bm, Cm, Dskip) = (node.u, node.delta, node.Bm, node.Cm, node.Dskip)
        let (bsz, t, c, n, kc, chunks, groups, jobs) = (node.bsz, node.t, node.c, node.n, node.kc, node.chunks, node.groups, node.jobs)
        let at = node.at, ckpt = node.ckpt
        let y = Tensor(uninitializedShape: u.shape)
        let pu = u.data, pd = delta.data, pb = Bm.data, pc = Cm.data, pD = Dskip.data, py = y.data, pat = at.p
        let pck = ckpt?.p
        if node.lanes > 0 {                                                // the same loops in C (MambaScanKernels.c)
            let per = node.lanes / 8, units = (groups + per - 1) / per      // a unit: `per` channel groups of a sequence
            Parallel.forEach(bsz * units) { unit in
                let b = unit / units, g = (unit % units) * per, jb = b * groups + g, c0 = g * 8
                let s = FastBuffer(n * node.lanes)
                lab_mamba_scan_forward(pu, pd, pb, pc, pD, pat + g * n * 8, py, pck.map { $0 + jb * chunks * n * 8 }, s.p,
                                       t, c, n, kc, b, c0, min(node.lanes, c - c0))
                withExtendedLifetime(s) {}
            }
        } else {
            Parallel.forEach(jobs) { jb in
                let b = jb / groups, c0 = (jb % groups) * 8, lanes = min(8, c - c0)
                let s = FastBuffer(n * 8, zero: true), ag = pat + (jb % groups) * n * 8
                let dskip = load8(pD + c0, lanes)
                for ti in 0..<t {
                    if let pck, ti % kc == 0 { (pck + (jb * chunks + ti / kc) * n * 8).update(from: s.p, count: n * 8) }
                    let i = (b * t + ti) * c + c0
                    let dt = load8(pd + i, lanes), x = load8(pu + i, lanes), dx = dt * x
                    let bt = pb + (b * t + ti) * n, ct = pc + (b * t + ti) * n
                    var acc = V(repeating: 0)
                    for j in 0..<n {                                           // s_j = e^{Δ A_j} s_j + Δ x B_j;  y += s_j C_j
                        let sj = FastMath.exp(dt * FastMath.load(ag + j * 8)) * FastMath.load(s.p + j * 8) + dx * bt[j]
                        FastMath.store(sj, s.p + j * 8)
                        acc += sj * ct[j]
                    }
                    store8(acc + dskip * x, py + i, lanes)
                }
                withExtendedLifetime(s) {}
            }
        }
        withExtendedLifetime(at) {}
        FLOPCounter.elementwise += 9 * bsz * t * c * n
        return y
    }

    /// Backward of the scan node: dL/dy [B, T, C] → [du, dΔ, dA, dB, dC, dD]. Per job, chunks in reverse: the
    /// chunk's s_t and e^{Δ_t A} recomputed from its checkpoint, then a reverse scan carrying g_s = ∂L/∂s_t.
    /// dB, dC (shared by the channel groups) as per-worker, per-lane partials summed in a fixed order.
    /// `perturb` (tests only) is added to every dΔ.
    static func scanBackward(_ node: ScanNode, g: Tensor, perturb perturbBackward: Float) -> [Tensor] {
        let (u, delta, Bm, Cm, Dskip) = (node.u, node.delta, node.Bm, node.Cm, node.Dskip)
        let (bsz, t, c, n, kc, chunks, groups, jobs) = (node.bsz, node.t, node.c, node.n, node.kc, node.chunks, node.groups, node.jobs)
        let at = node.at, ckpt = node.ckpt!
        let pu = u.data, pd = delta.data, pb = Bm.data, pc = Cm.data, pD = Dskip.data
        let gu = Tensor(uninitializedShape: u.shape), gd = Tensor(uninitializedShape: u.shape)
        // Per-worker partial sums of the tensors shared across channel groups, kept per lane (no horizontal
        // sums in the loop: [B, T, N, 8]) and reduced over workers and lanes in a fixed order.
        let workers = Swift.min(Parallel.threads, jobs)
        let gBp = FastBuffer(workers * bsz * t * n * 8, zero: true), gCp = FastBuffer(workers * bsz * t * n * 8, zero: true)
        let gAt = FastBuffer(jobs * n * 8, zero: true), gDt = FastBuffer(jobs * 8, zero: true)   // per job, lanes innermost
        let pg = g.data, pgu = gu.data, pgd = gd.data, pck = ckpt.p, pat = at.p
        let wide = max(node.lanes, 8)
        Parallel.forEach(workers) { w in
            let lo = jobs * w / workers, hi = jobs * (w + 1) / workers
            let gB = gBp.p + w * bsz * t * n * 8, gC = gCp.p + w * bsz * t * n * 8
            // the chunk's s and e^{ΔA} [kc, N, lanes] (in C also dA and the chunk-start state: 2 more rows)
            let sbuf = FastBuffer((kc + 2) * n * wide), dbuf = FastBuffer(kc * n * wide), gs = FastBuffer(n * wide)
            var jb = lo
            while jb < hi {
                let b = jb / groups, c0 = (jb % groups) * 8, lanes = min(8, c - c0)
                let ag = pat + (jb % groups) * n * 8, gA = gAt.p + jb * n * 8
                if node.lanes > 0 {                                        // the same loops in C (MambaScanKernels.c)
                    // two jobs of one sequence as a 16-lane unit where the CPU has it and both are this worker's
                    let unit = node.lanes == 16 && jb + 1 < hi && jb % groups + 1 < groups ? min(16, c - c0) : lanes
                    lab_mamba_scan_backward(pu, pd, pb, pc, pD, ag, pg, pck + jb * chunks * n * 8, pgu, pgd, gB, gC, gA,
                                            gDt.p + jb * 8, sbuf.p, dbuf.p, gs.p, perturbBackward, t, c, n, kc, b, c0, unit)
                    jb += unit > 8 ? 2 : 1
                    continue
                }
                let dskip = load8(pD + c0, lanes)
                gs.p.initialize(repeating: 0, count: n * 8)
                var gDacc = V(repeating: 0)
                for ck in stride(from: chunks - 1, through: 0, by: -1) {
                    let t0 = ck * kc, t1 = min(t0 + kc, t)
                    let s0 = UnsafePointer(pck + (jb * chunks + ck) * n * 8)   // s_{t0−1}
                    // recompute s_t and e^{Δ_t A} over the chunk   [t1 − t0, N, 8]
                    var prev = s0
                    for ti in t0..<t1 {
                        let i = (b * t + ti) * c + c0, r = ti - t0
                        let dt = load8(pd + i, lanes), dx = dt * load8(pu + i, lanes), bt = pb + (b * t + ti) * n
                        let da = dbuf.p + r * n * 8, sr = sbuf.p + r * n * 8
                        for j in 0..<n {
                            let e = FastMath.exp(dt * FastMath.load(ag + j * 8))
                            FastMath.store(e, da + j * 8)
                            FastMath.store(e * FastMath.load(prev + j * 8) + dx * bt[j], sr + j * 8)
                        }
                        prev = UnsafePointer(sr)
                    }
                    for ti in stride(from: t1 - 1, through: t0, by: -1) {
                        let i = (b * t + ti) * c + c0, r = ti - t0, row = (b * t + ti) * n
                        let dt = load8(pd + i, lanes), x = load8(pu + i, lanes), gy = load8(pg + i, lanes), dx = dt * x
                        let sr = sbuf.p + r * n * 8, da = dbuf.p + r * n * 8
                        let sp = r > 0 ? UnsafePointer(sbuf.p + (r - 1) * n * 8) : s0
                        let bt = pb + row, ct = pc + row, gBr = gB + row * 8, gCr = gC + row * 8
                        var gdt = V(repeating: 0), gbx = V(repeating: 0)
                        for j in 0..<n {
                            let sj = FastMath.load(sr + j * 8), e = FastMath.load(da + j * 8)
                            FastMath.store(FastMath.load(gCr + j * 8) + gy * sj, gCr + j * 8)
                            let gh = FastMath.load(gs.p + j * 8) + gy * ct[j]
                            let ga = gh * FastMath.load(sp + j * 8) * e        // ∂L/∂(Δ·A_j)
                            gdt += ga * FastMath.load(ag + j * 8)
                            gbx += gh * bt[j]
                            FastMath.store(FastMath.load(gA + j * 8) + ga * dt, gA + j * 8)
                            FastMath.store(FastMath.load(gBr + j * 8) + gh * dx, gBr + j * 8)
                            FastMath.store(gh * e, gs.p + j * 8)
                        }
                        store8(gdt + gbx * x + perturbBackward, pgd + i, lanes)
                        store8(gy * dskip + gbx * dt, pgu + i, lanes)
                        gDacc += gy * x
                    }
                }
                FastMath.store(gDacc, gDt.p + jb * 8)
                jb += 1
            }
            withExtendedLifetime((sbuf, dbuf, gs)) {}
        }
        func reduce(_ parts: FastBuffer, _ size: Int, _ shape: [Int]) -> Tensor {   // Σ over workers, then lanes
            let out = Tensor(zeros: shape), po = out.data
            Parallel.chunks(size, minPerThread: 1024) { lo, hi in
                for i in lo..<hi {
                    var acc = FastMath.load(parts.p + i * 8)
                    for w in 1..<max(workers, 1) { acc += FastMath.load(parts.p + (w * size + i) * 8) }
                    po[i] = acc.sum()
                }
            }
            return out
        }
        // dA, dD: sum the per-job lanes over the sequences in order
        let gA = Tensor(zeros: [c, n]), gD = Tensor(zeros: [c])
        for jb in 0..<jobs {
            let c0 = (jb % groups) * 8
            for l in 0..<min(8, c - c0) {
                for j in 0..<n { gA.data[(c0 + l) * n + j] += gAt.p[(jb * n + j) * 8 + l] }
                gD.data[c0 + l] += gDt.p[jb * 8 + l]
            }
        }
        return [gu, gd, gA, reduce(gBp, bsz * t * n, [bsz, t, n]), reduce(gCp, bsz * t * n, [bsz, t, n]), gD]
    }
}

extension Mamba: FusedTraining {
    /// State size, expansion, conv width (T not a multiple of `tiles.mambaScanChunk` is covered by the tests' lengths).
    public static var fusedOptions: [LayerOption] {
        [LayerOption("state 8") { $0.mamba.state = 8 },
         LayerOption("state 5") { $0.mamba.state = 5 },
         LayerOption("expand 1") { $0.mamba.expand = 1 },
         LayerOption("conv width 2") { $0.convWidth = 2 }]
    }

    /// Every configuration trains on the fused scan.
    public var fusedTrainingSupported: Bool { true }
    /// A `.backward` fault scales dL/dD, the skip parameter `D` (an input of the fused scan).
    public var fusedFaultTarget: String { "D" }
}
