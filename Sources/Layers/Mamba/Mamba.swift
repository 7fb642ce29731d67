// Mamba.swift — the S6 block of Mamba (mamba_simple.py), parallel scan and recurrent step (docs/baselines.md §4).
//
//   [x, z] = h·W_in                              W_in: D × 2·D_in, no bias
//   x = silu(CausalDepthwiseConv_k(x))           per channel, left-padded by k−1, with bias
//   [δ_r, Bm, Cm] = x·W_x                        W_x: D_in × (R + 2N)
//   Δ = softplus(δ_r·W_dt + b_dt)                W_dt: R × D_in
//   A = −exp(A_log)                              A_log: D_in × N
//   s_t = exp(Δ_{t,c}·A_c) ⊙ s_{t−1} + Δ_{t,c}·Bm_t·x_{t,c};   y_{t,c} = s_t·Cm_tᵀ + D_c·x_{t,c}
//   out = (y ⊙ silu(z))·W_out                    W_out: D_in × D
import Foundation
import TensorCore

/// Mamba's selective-SSM block (S6), as in `mamba_simple.py` of state-spaces/mamba (docs/baselines.md §4).
///
/// Sizes: `D_in = E·D` (E = `config.mamba.expand`), state `N = config.mamba.state`, dt rank
/// `R = ⌈D/16⌉`, conv width `k = config.convWidth`. `config.heads` is not used.
///
/// Init (as upstream): `in_proj`, `x_proj`, `out_proj` N(0, 0.02) (the lab's default for projections);
/// `W_dt` uniform `±R^{−1/2}`; `b_dt = softplus⁻¹(dt)` with dt log-uniform in `[1e-3, 0.1]` (floored at
/// 1e-4); `A_log[c, n] = log(n + 1)`; `D = 1`; the depthwise conv as PyTorch's `nn.Conv1d` default
/// (weight and bias uniform `±1/√k`, fan-in k per channel).
///
/// ```swift
/// var rng = RNG(seed: 0)
/// let m = try Mamba(config: LayerConfig(width: 64, heads: 1), rng: &rng)
/// let y = m(x)                               // x [B, T, 64] → [B, T, 64]
/// let st = m.makeState(batch: B)
/// let y1 = m.step(x1, state: st)             // conv window + SSM state, constant size in t
/// ```
public final class Mamba: SequenceLayer, TiledKernels {
    public let kind = "mamba"
    public let config: LayerConfig
    public var kernels: KernelPath
    /// Test hook: a fault inside the fused training kernel (negative controls); nil in normal use.
    public var fusedFault: FusedFault? = nil
    /// Test hook: a fault in a shared stage's backward (MambaStages.swift; negative controls); nil in normal use.
    var stageBackwardFault: StageBackwardFault? = nil
    /// D_in, N, R, k.
    public let inner: Int, stateSize: Int, dtRank: Int, convWidth: Int
    /// Scan chunk of the fused training kernel.
    public var tiles = FusedTiles()

    public let inProj: Tensor      // [D, 2·D_in]
    public let convWeight: Tensor  // [k, D_in] (tap k−1 on the current token)
    public let convBias: Tensor    // [D_in]
    public let xProj: Tensor       // [D_in, R + 2N]
    public let dtProj: Tensor      // [R, D_in]
    public let dtBias: Tensor      // [D_in]
    public let aLog: Tensor        // [D_in, N]
    public let dSkip: Tensor       // [D_in]
    public let outProj: Tensor     // [D_in, D]

    public init(config: LayerConfig, rng: inout RNG) throws {
        // `config.heads` plays no part here, so only the Mamba sizes are checked (not `validate()`'s head rules).
        guard config.width > 0 else { throw LabError.badConfig("width D = \(config.width) must be positive") }
        guard config.mamba.expand > 0 else { throw LabError.badConfig("Mamba expand E = \(config.mamba.expand) must be ≥ 1 (upstream uses 2)") }
        guard config.mamba.state > 0 else { throw LabError.badConfig("Mamba state N = \(config.mamba.state) must be ≥ 1 (upstream uses 16)") }
        guard config.convWidth > 0 else { throw LabError.badConfig("Mamba conv width k = \(config.convWidth) must be ≥ 1 (upstream uses 4)") }
        self.config = config
        self.kernels = config.kernels
        let d = config.width
        inner = config.mamba.expand * d
        stateSize = config.mamba.state
        dtRank = (d + 15) / 16
        convWidth = config.convWidth
        let (di, n, r, k) = (inner, stateSize, dtRank, convWidth)

        inProj = Init.normal([d, 2 * di], rng: &rng)
        let cb = 1 / Float(k).squareRoot()
        convWeight = Init.uniform([k, di], -cb, cb, rng: &rng)
        convBias = Init.uniform([di], -cb, cb, rng: &rng)
        xProj = Init.normal([di, r + 2 * n], rng: &rng)
        let db = 1 / Float(r).squareRoot()
        dtProj = Init.uniform([r, di], -db, db, rng: &rng)
        // b_dt = softplus⁻¹(dt) = dt + log(−expm1(−dt)), dt = exp(U(log 1e-3, log 0.1)) ≥ 1e-4
        let bias = Tensor(uninitializedShape: [di])
        let (lo, hi) = (Foundation.log(1e-3), Foundation.log(0.1))
        for c in 0..<di {
            let dt = max(Foundation.exp(lo + Double(rng.uniform()) * (hi - lo)), 1e-4)
            bias.data[c] = Float(dt + Foundation.log(-Foundation.expm1(-dt)))
        }
        dtBias = bias.requiringGrad()
        let al = Tensor(uninitializedShape: [di, n])
        for c in 0..<di { for j in 0..<n { al.data[c * n + j] = Foundation.log(Float(j + 1)) } }
        aLog = al.requiringGrad()
        dSkip = Init.ones([di])
        outProj = Init.normal([di, d], rng: &rng)
    }

    public var parameters: [Param] {
        [.linear("in_proj.weight", inProj),
         Param("conv1d.weight", convWeight, transposeInFile: true, fileShape: [inner, 1, convWidth]),
         Param("conv1d.bias", convBias),
         .linear("x_proj.weight", xProj),
         .linear("dt_proj.weight", dtProj),
         Param("dt_proj.bias", dtBias),
         Param("A_log", aLog),
         Param("D", dSkip),
         .linear("out_proj.weight", outProj)]
    }

    /// Parallel forward x [B, T, D] → [B, T, D], differentiable (the scan is `selectiveScan`, or the fused
    /// training node); the stages around it are the layer's one pre- and post-stage (MambaStages.swift).
    public func callAsFunction(_ h: Tensor) -> Tensor {
        checkInput(h)
        if fusedInference { return fusedForward(h) }                     // no-grad fused path (MambaFused.swift)
        var none: Tensor? = nil
        let m = preStage(h, history: &none)
        let y = kernels == .fused && fusedTrainingSupported                         // [B, T, D_in]
            ? Mamba.fusedScan(m.x, delta: m.delta, A: m.a, Bm: m.bm, Cm: m.cm, Dskip: dSkip,  // one node (MambaTraining.swift)
                              chunk: tiles.mambaScanChunk, fault: fusedFault)
            : selectiveScan(m.x, delta: m.delta, A: m.a, Bm: m.bm, Cm: m.cm, Dskip: dSkip)
        return postStage(y, z: m.z)                                                 // [B, T, D]
    }

    // MARK: decode

    /// Per sequence: the last k−1 conv inputs `[k−1, D_in]` and the SSM state `s [D_in, N]`.
    public final class State: LayerState {
        public private(set) var position = 0
        let batch: Int, inner: Int, n: Int, window: Int
        /// [B, k−1, D_in], oldest first (zeros = the causal left padding).
        var conv: Tensor
        /// [B, D_in, N]
        let ssm: Tensor
        init(batch: Int, inner: Int, n: Int, convWidth: Int) {
            self.batch = batch; self.inner = inner; self.n = n; window = convWidth - 1
            conv = Tensor(zeros: [batch, window, inner])
            ssm = Tensor(zeros: [batch, inner, n])
        }
        public var bytes: Int { (conv.count + ssm.count) * MemoryLayout<Float>.size }
        func advance(_ t: Int) { position += t }
    }

    public func makeState(batch: Int) -> LayerState {
        State(batch: batch, inner: inner, n: stateSize, convWidth: convWidth)
    }

    /// Recurrent form on x [B, t, D]: the conv reads its window from the state, the scan continues
    /// from `s`; projections run on all t tokens at once (they do not depend on the state). No gradient.
    public func step(_ h: Tensor, state: LayerState) -> Tensor {
        checkInput(h)
        guard let st = state as? State else { preconditionFailure("Mamba.step: state is \(type(of: state)), expected Mamba.State") }
        let (b, t) = (h.dim(0), h.dim(1))
        precondition(b == st.batch, "Mamba.step: input batch \(b) ≠ state batch \(st.batch)")
        if kernels == .fused { return withNoGrad { fusedRun(h, state: st) } }  // MambaFused.swift
        return withNoGrad {
            var window: Tensor? = st.conv                                   // the conv reads [window ++ new inputs]
            let m = preStage(h, history: &window)
            st.conv = window!
            let y = selectiveScan(m.x, delta: m.delta, A: m.a, Bm: m.bm, Cm: m.cm, Dskip: dSkip, continuing: st.ssm)   // [B, t, D_in]
            st.advance(t)
            return postStage(y, z: m.z)                                             // [B, t, D]
        }
    }

    // MARK: accounting

    /// `6·E·D² + 2·E·D·(R + 2N) + 2·R·E·D + 9·E·D·N + 2·E·D·k` (docs/baselines.md §5): in/out projections,
    /// x and dt projections, the scan (≈9 per state element), the depthwise conv. Independent of context.
    public func flopsPerToken(context: Int) -> Double {
        let (d, di, n, r, k) = (Double(config.width), Double(inner), Double(stateSize), Double(dtRank), Double(convWidth))
        return 6 * di * d + 2 * di * (r + 2 * n) + 2 * r * di + 9 * di * n + 2 * di * k
    }

    /// `(D_in·(k−1) + D_in·N)` floats per sequence, constant in the context.
    public func stateBytes(context: Int) -> Int {
        (inner * (convWidth - 1) + inner * stateSize) * MemoryLayout<Float>.size
    }

    private func checkInput(_ x: Tensor) {
        precondition(x.rank == 3 && x.dim(2) == config.width, "Mamba: input must be [B, T, \(config.width)], got \(x.shape)")
    }
}
