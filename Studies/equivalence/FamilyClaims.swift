// FamilyClaims.swift — equivalence claims of the 2024–25 TTT family plugins (gla, gated-deltanet,
// titans, lact), each against a reference written from the paper's formula in plain Double loops
// (sharing no code with the plugin), with negative controls that inject the named fault.
import Foundation
import Layers
import LaCT
import TensorCore
import Zoo

/// LaCT's plugin with the Newton–Schulz orthogonalization switched off (the claim's variant, built
/// here and never registered): the same forward, gradient and renormalization.
enum LaCTWithoutNewtonSchulz: InnerModel {
    static let name = "lact-without-newton-schulz"
    static let features = LaCTInner.features
    static func parameters(headDim d: Int) -> [InnerParamSpec] { LaCTInner.parameters(headDim: d) }
    static func configure(_ c: inout LayerConfig) { LaCTInner.configure(&c) }
    static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor { LaCTInner.forward(x, θ) }
    static func gradient(_ x: Tensor, _ θ: [Tensor], delta: Tensor, weights: Tensor) -> [Tensor] {
        LaCTInner.gradient(x, θ, delta: delta, weights: weights)
    }
    static func update(_ θ0: [Tensor], step: [Tensor]) -> [Tensor] { LaCTInner.update(θ0, step: step, orthogonalize: false) }
}

extension TTTLayer.MixerInputs {
    /// The same inputs with the decay gate and the declared rates pinned (nil keeps them): how a claim
    /// forces α ≡ 1 (log α = 0) or η ≡ α ≡ 0 exactly, without touching the layer.
    func pinned(logDecay: Tensor? = nil, rates: [String: Float] = [:]) -> TTTLayer.MixerInputs {
        var r = self.rates
        for (name, value) in rates { r[name] = Tensor(repeating: value, shape: eta.shape) }
        return TTTLayer.MixerInputs(q: q, k: k, v: v, eta: eta, c: c, gamma: gamma, beta: beta,
                                    logDecay: logDecay ?? self.logDecay, rates: r)
    }
}

/// The family's references: plain loops in Double over rows of [N, T, d] tensors.
enum FamilyReference {
    static func row(_ t: Tensor, _ n: Int, _ i: Int) -> [Double] {
        let (T, d) = (t.dim(1), t.dim(2))
        return (0..<d).map { Double(t.data[(n * T + i) * d + $0]) }
    }
    static func scalar(_ t: Tensor?, _ n: Int, _ i: Int, default v: Double) -> Double {
        guard let t else { return v }
        return Double(t.data[n * t.dim(1) + i])
    }
    static func unit(_ x: [Double]) -> [Double] {
        let s = (x.reduce(0) { $0 + $1 * $1 } + 1e-6).squareRoot()
        return x.map { $0 / s }
    }
    /// x·M for a row x [r] and M [r, c] (row-major).
    static func times(_ x: [Double], _ M: [Double], _ c: Int) -> [Double] {
        var y = [Double](repeating: 0, count: c)
        for a in 0..<x.count { let xa = x[a]; for b in 0..<c { y[b] += xa * M[a * c + b] } }
        return y
    }
    static func silu(_ x: Double) -> Double { x / (1 + Foundation.exp(-x)) }
    static func siluPrime(_ x: Double) -> Double { let s = 1 / (1 + Foundation.exp(-x)); return s * (1 + x * (1 - s)) }
    /// θ[i] of sequence·head n as Double.
    static func state(_ θ: [Tensor], _ n: Int) -> [[Double]] {
        θ.map { t in let m = t.count / t.dim(0); return (0..<m).map { Double(t.data[n * m + $0]) } }
    }

    /// GLA / SSD: S_t = α_t S_{t−1} + η_t k_tᵀ v_t, z_t = q_t·S_t, S₀ = 0 (α ≡ 1 when logDecay is nil).
    static func gatedLinear(q: Tensor, k: Tensor, v: Tensor, eta: Tensor, logDecay: Tensor?) -> Tensor {
        let (N, T, d) = (q.dim(0), q.dim(1), q.dim(2))
        let out = Tensor(zeros: [N, T, d])
        for n in 0..<N {
            var S = [Double](repeating: 0, count: d * d)
            for t in 0..<T {
                let (kt, vt, qt) = (row(k, n, t), row(v, n, t), row(q, n, t))
                let alpha = Foundation.exp(scalar(logDecay, n, t, default: 0)), e = scalar(eta, n, t, default: 1)
                for a in 0..<d { for b in 0..<d { S[a * d + b] = alpha * S[a * d + b] + e * kt[a] * vt[b] } }
                let z = times(qt, S, d)
                for b in 0..<d { out.data[(n * T + t) * d + b] = Float(z[b]) }
            }
        }
        return out
    }

    /// The gated delta rule (Yang, Kautz, Hatamizadeh 2025) with φ(x) = x/‖x‖:
    /// S_t = α_t S_{t−1}(I − β_t φ(k_t)ᵀφ(k_t)) + β_t φ(k_t)ᵀ v_t, z_t = φ(q_t)·S_t, S₀ = 0.
    static func gatedDelta(q: Tensor, k: Tensor, v: Tensor, beta: Tensor?, logDecay: Tensor?) -> Tensor {
        let (N, T, d) = (q.dim(0), q.dim(1), q.dim(2))
        let out = Tensor(zeros: [N, T, d])
        for n in 0..<N {
            var S = [Double](repeating: 0, count: d * d)
            for t in 0..<T {
                let (kt, qt, vt) = (unit(row(k, n, t)), unit(row(q, n, t)), row(v, n, t))
                let alpha = Foundation.exp(scalar(logDecay, n, t, default: 0)), bt = scalar(beta, n, t, default: 1)
                var next = [Double](repeating: 0, count: d * d)
                // α S (I − β k kᵀ) in the lab's x·S rows: (I − β kᵀk) acts on the row index.
                var kS = [Double](repeating: 0, count: d)
                for a in 0..<d { for b in 0..<d { kS[b] += kt[a] * S[a * d + b] } }
                for a in 0..<d { for b in 0..<d { next[a * d + b] = alpha * (S[a * d + b] - bt * kt[a] * kS[b]) + bt * kt[a] * vt[b] } }
                S = next
                let z = times(qt, S, d)
                for b in 0..<d { out.data[(n * T + t) * d + b] = Float(z[b]) }
            }
        }
        return out
    }

    /// Plain mini-batch GD on M(x) = SiLU(φ(x)·W1)·W2, φ(x) = x/‖x‖, with ℓ = ½‖M(k) − v‖²: every gradient
    /// of a mini-batch at its start, θ_i = θ⁰ − Σ_{j≤i} η_j ∇ℓ_j(θ⁰), z_i = M(q_i; θ_i).
    static func mlpMiniBatchGD(_ m: TTTLayer.MixerInputs, θ: [Tensor], b: Int) -> Tensor {
        let (N, T, d) = (m.q.dim(0), m.q.dim(1), m.q.dim(2))
        let h = θ[0].dim(2)
        let out = Tensor(zeros: [N, T, d])
        func model(_ x: [Double], _ W1: [Double], _ W2: [Double]) -> [Double] { times(times(x, W1, h).map(silu), W2, d) }
        for n in 0..<N {
            let s = state(θ, n)
            var (W1, W2) = (s[0], s[1])
            var lo = 0
            while lo < T {
                let hi = min(T, lo + b)
                var (g1, g2) = ([Double](repeating: 0, count: d * h), [Double](repeating: 0, count: h * d))
                for t in lo..<hi {
                    let (kt, qt, vt) = (unit(row(m.k, n, t)), unit(row(m.q, n, t)), row(m.v, n, t))
                    let e = scalar(m.eta, n, t, default: 1)
                    let pre = times(kt, W1, h), act = pre.map(silu)
                    let y = times(act, W2, d)
                    let r = (0..<d).map { e * (y[$0] - vt[$0]) }              // η ∂ℓ/∂M
                    for a in 0..<h { for c in 0..<d { g2[a * d + c] += act[a] * r[c] } }
                    for a in 0..<h {
                        var back = 0.0
                        for c in 0..<d { back += r[c] * W2[a * d + c] }
                        back *= siluPrime(pre[a])
                        for i in 0..<d { g1[i * h + a] += kt[i] * back }
                    }
                    let V1 = zip(W1, g1).map { $0 - $1 }, V2 = zip(W2, g2).map { $0 - $1 }
                    let z = model(qt, V1, V2)
                    for c in 0..<d { out.data[(n * T + t) * d + c] = Float(z[c]) }
                    if t == hi - 1 { (W1, W2) = (V1, V2) }
                }
                lo = hi
            }
        }
        return out
    }

    /// Online GD (one token per chunk, apply then update) on ℓ = −⟨f(k), v⟩ for f(x) = (SiLU(x·W1) ⊙ x·W3)·W2:
    /// z_t = f(q_t; W_{t−1}), W ← W − η_t ∇ℓ_t, then (when `renormalize`) each column c of each matrix
    /// rescaled to ‖W_{:,c}‖ before the step: W'_{:,c} · ‖W_{:,c}‖ / (‖W'_{:,c}‖ + 10⁻⁵).
    static func swigluOnlineGD(_ m: TTTLayer.MixerInputs, θ: [Tensor], renormalize: Bool) -> Tensor {
        let (N, T, d) = (m.q.dim(0), m.q.dim(1), m.q.dim(2))
        let h = θ[0].dim(2)
        let out = Tensor(zeros: [N, T, d])
        func renorm(_ old: [Double], _ new: [Double], rows: Int, cols: Int) -> [Double] {
            var r = new
            for c in 0..<cols {
                var no = 0.0, nn = 0.0
                for a in 0..<rows { no += old[a * cols + c] * old[a * cols + c]; nn += new[a * cols + c] * new[a * cols + c] }
                let f = no.squareRoot() / (nn.squareRoot() + 1e-5)
                for a in 0..<rows { r[a * cols + c] *= f }
            }
            return r
        }
        for n in 0..<N {
            let s = state(θ, n)
            var (W1, W2, W3) = (s[0], s[1], s[2])
            for t in 0..<T {
                let (kt, qt, vt) = (row(m.k, n, t), row(m.q, n, t), row(m.v, n, t))
                let zq = times(zip(times(qt, W1, h).map(silu), times(qt, W3, h)).map { $0 * $1 }, W2, d)
                for c in 0..<d { out.data[(n * T + t) * d + c] = Float(zq[c]) }
                let e = scalar(m.eta, n, t, default: 1)
                let g = times(kt, W1, h), u = times(kt, W3, h), a = g.map(silu)
                let dz = vt.map { -e * $0 }                                          // η ∂ℓ/∂z
                var dW1 = [Double](repeating: 0, count: d * h), dW2 = [Double](repeating: 0, count: h * d), dW3 = dW1
                for j in 0..<h {
                    var back = 0.0
                    for c in 0..<d { dW2[j * d + c] = a[j] * u[j] * dz[c]; back += dz[c] * W2[j * d + c] }
                    for i in 0..<d { dW1[i * h + j] = kt[i] * back * u[j] * siluPrime(g[j]); dW3[i * h + j] = kt[i] * back * a[j] }
                }
                let N1 = zip(W1, dW1).map { $0 - $1 }, N2 = zip(W2, dW2).map { $0 - $1 }, N3 = zip(W3, dW3).map { $0 - $1 }
                if renormalize {
                    (W1, W2, W3) = (renorm(W1, N1, rows: d, cols: h), renorm(W2, N2, rows: h, cols: d), renorm(W3, N3, rows: d, cols: h))
                } else {
                    (W1, W2, W3) = (N1, N2, N3)
                }
            }
        }
        return out
    }
}

extension EquivalenceClaims {
    /// The family's claims (issue 24 §2), in `all` after the paper's.
    static let family: [Claim] = [glaRecurrence, glaLinearAttention, gatedDeltaRule, gatedDeltaNetIsDeltaNet, titansMiniBatchGD, lactOnlineGD]

    /// `gla` ≡ the gated linear-attention recurrence S_t = α_t S_{t−1} + η k_tᵀv_t, z_t = q_t·S_t.
    static let glaRecurrence = Claim.innerLoop(
        id: "gla-recurrence",
        statement: "ttt-gla (gated dual, b = 4) ≡ the GLA / SSD recurrence S_t = α_t S_{t−1} + η k_tᵀv_t, z_t = q_t·S_t",
        reference: "Yang et al. 2024 (GLA), Dao & Gu 2024 (SSD); Plugins/GLA", tolerance: 5e-5,
        controls: ["decay ignored (α ≡ 1 in the recurrence)"], inner: "gla", miniBatches: { _ in [4] }) { t in
            let (m, out) = (t.inputs, t.loop())
            return (ErrorPair(out, FamilyReference.gatedLinear(q: m.q, k: m.k, v: m.v, eta: m.eta, logDecay: m.logDecay)),
                    [ErrorPair(out, FamilyReference.gatedLinear(q: m.q, k: m.k, v: m.v, eta: m.eta, logDecay: nil))])
        }

    /// `gla` with α pinned to 1 ≡ causal linear attention (the lab's linear-attention mixer, simplest form).
    static let glaLinearAttention = Claim.innerLoop(
        id: "gla-alpha1-linear-attention",
        statement: "ttt-gla with α ≡ 1 (log α pinned to 0) ≡ causal linear attention o_t = Σ_{s≤t} (q_t·ηk_s) v_s (LinearAttention, simplest, parallel form)",
        reference: "Katharopoulos et al. 2020; docs/baselines.md §2", tolerance: 5e-5,
        controls: ["decay left on (α_t from the gate)"], inner: "gla", miniBatches: { _ in [8] }) { t in
            let m = t.inputs
            let ref = LinearAttention.mix(q: m.q, k: m.k * m.eta, v: m.v, variant: .simple, form: .parallel)
            return (ErrorPair(t.loop(m.pinned(logDecay: Tensor(zeros: m.eta.shape))), ref), [ErrorPair(t.loop(), ref)])
        }

    /// `gated-deltanet` at b = 1 ≡ the gated delta rule.
    static let gatedDeltaRule = Claim.innerLoop(
        id: "gated-deltanet-rule",
        statement: "ttt-gated-deltanet at b = 1 ≡ the gated delta rule S_t = α_t S_{t−1}(I − β_t k_tᵀk_t) + β_t k_tᵀv_t, z_t = q_t·S_t (k, q L2-normalised)",
        reference: "Yang, Kautz, Hatamizadeh, ICLR 2025; Plugins/GatedDeltaNet", tolerance: 5e-5,
        controls: ["decay ignored (α ≡ 1)", "β dropped (β ≡ 1)"], inner: "gated-deltanet", miniBatches: { _ in [1] }) { t in
            let (m, out) = (t.inputs, t.loop())
            return (ErrorPair(out, FamilyReference.gatedDelta(q: m.q, k: m.k, v: m.v, beta: m.eta, logDecay: m.logDecay)),
                    [ErrorPair(out, FamilyReference.gatedDelta(q: m.q, k: m.k, v: m.v, beta: m.eta, logDecay: nil)),
                     ErrorPair(out, FamilyReference.gatedDelta(q: m.q, k: m.k, v: m.v, beta: nil, logDecay: m.logDecay))])
        }

    /// `gated-deltanet` with α pinned to 1 ≡ the `deltanet` plugin (same parameters, any b).
    static let gatedDeltaNetIsDeltaNet = Claim.innerLoop(
        id: "gated-deltanet-alpha1-deltanet",
        statement: "ttt-gated-deltanet with α ≡ 1 (log α pinned to 0) ≡ ttt-deltanet with the same parameters (mini-batch b = 4, gated dual vs DeltaNet's dual)",
        reference: "Plugins/GatedDeltaNet, Plugins/DeltaNet", tolerance: 2e-5,
        controls: ["decay left on (α_t from the gate)"], inner: "gated-deltanet", miniBatches: { _ in [4] }) { t in
            let d = try t.ttt("deltanet", b: t.setting.b)
            Bench.copyShared(from: t.layer, to: d)
            let ref = t.loop(of: d)
            return (ErrorPair(t.loop(t.inputs.pinned(logDecay: Tensor(zeros: t.inputs.eta.shape))), ref), [ErrorPair(t.loop(), ref)])
        }

    /// `titans` with the momentum and forgetting rates pinned to 0 ≡ plain mini-batch GD on its MLP.
    static let titansMiniBatchGD = Claim.innerLoop(
        id: "titans-no-momentum-minibatch-gd",
        statement: "ttt-titans with η ≡ 0 (no momentum) and α ≡ 0 (no forgetting) ≡ plain mini-batch GD (b = 4, gradients at the mini-batch start) on M(x) = SiLU(φ(x)·W1)·W2",
        reference: "Behrouz, Zhong, Mirrokni 2024 (Eq. 13–14); Plugins/Titans", tolerance: 1e-4,
        controls: ["momentum and forgetting left on (rates from their gates)"], inner: "titans", miniBatches: { _ in [4] }) { t in
            let ref = FamilyReference.mlpMiniBatchGD(t.inputs, θ: t.layer.initialState(batch: t.x.dim(0)), b: t.setting.b)
            return (ErrorPair(t.loop(t.inputs.pinned(rates: ["momentum": 0, "forget": 0])), ref), [ErrorPair(t.loop(), ref)])
        }

    /// `lact` at one token per chunk without the Newton–Schulz step ≡ online GD on −⟨f(k), v⟩ (norms restored).
    static let lactOnlineGD = Claim(
        id: "lact-b1-no-muon-online-gd",
        statement: "ttt-lact's update without Newton–Schulz, one token per chunk (η_base = 0.1) ≡ online GD on ℓ = −⟨f(k), v⟩, f = SwiGLU, apply then update, column norms restored after each step",
        reference: "Zhang et al. 2025 (LaCT); Plugins/LaCT", tolerance: 2e-4,
        controls: ["Newton–Schulz left on (ttt-lact)", "renormalization dropped (in the reference)"],
        miniBatches: { _ in [1] }) { s in
            let x = Bench.input(s)
            // η = (0.1/d)·σ(·): with the default η_base = 1 renormalised online GD on this unbounded loss is
            // chaotic at random weights, and Float32 round-off grows to 2e-2 by T = 1024 (2.7e-6 at T = 64).
            // At 0.1 the round-off still grows about linearly in T (3e-6 at 64, 4e-5 at 1024), hence 2e-4.
            var cfg = LayerConfig(width: Bench.width, heads: Bench.heads)
            cfg.ttt.miniBatch = 1; cfg.ttt.baseLR = 0.1
            var rng = RNG(seed: s.seed)
            let plain = try TTTLayer(config: cfg, inner: LaCTWithoutNewtonSchulz.self, rng: &rng)
            Bench.randomize(plain, seed: s.seed)
            let muon = try Bench.ttt("lact", b: 1, seed: s.seed) { $0.baseLR = 0.1 }
            Bench.copyShared(from: plain, to: muon)
            return withNoGrad {
                let m = plain.mixerInputs(x)
                let θ = plain.initialState(batch: x.dim(0))
                let ref = FamilyReference.swigluOnlineGD(m, θ: θ, renormalize: true)
                let out = plain.innerLoop(m, batch: x.dim(0))
                return (ErrorPair(out, ref), [ErrorPair(muon.innerLoop(muon.mixerInputs(x), batch: x.dim(0)), ref),
                                              ErrorPair(out, FamilyReference.swigluOnlineGD(m, θ: θ, renormalize: false))])
            }
        }
}
