// References.swift — independent reference algorithms the equivalence study holds the layers against.
//
// None of these reuse the TTT layer's mini-batch machinery, the plugins' hand-written gradients or
// the fused LN+L2 backward: inner gradients come from the tensor core's reverse mode on the inner
// loss itself, and the delta rule / kernel regression are written out as plain loops.
import Layers
import TensorCore

enum Reference {
    /// ∇_θ ℓ for ℓ = ½‖f(k; θ) − v‖², f(x) = [x +] [LN](f_res(x)), by reverse-mode autodiff.
    /// θ[i] [N, …]; k, v [N, 1, d]; gamma, beta [N, 1, d]. Each row n only touches θ[i][n].
    static func innerGradient(_ layer: TTTLayer, _ θ: [Tensor], k: Tensor, v: Tensor, gamma: Tensor, beta: Tensor) -> [Tensor] {
        let leaves = θ.map { $0.copy().requiringGrad() }
        let saved = GradMode.enabled
        GradMode.enabled = true
        defer { GradMode.enabled = saved }
        let z = layer.inner.forward(k, leaves)
        var pred = layer.config.ttt.innerLN ? z.layerNorm(gamma: gamma, beta: beta) : z
        if layer.config.ttt.innerResidual { pred = pred + k }
        let r = pred - v
        ((r * r).sum() * 0.5).backward()
        return leaves.map { $0.grad ?? Tensor(zeros: $0.shape) }
    }

    /// Applies `θ − s·g` to every parameter but frozen biases. s: [N, 1, 1].
    static func update(_ layer: TTTLayer, _ θ: [Tensor], _ g: [Tensor], _ s: Tensor) -> [Tensor] {
        θ.indices.map { j in layer.frozenBias(j) ? θ[j] : θ[j] - g[j] * s }
    }

    /// Online GD (docs/ttt.md §4, b = 1): θ_t = θ_{t−1} − c_1·η_t ∇ℓ(θ_{t−1}; x_t); out_t = q_t + LN(f_res(q_t; θ_t)).
    static func onlineGD(_ layer: TTTLayer, _ m: TTTLayer.MixerInputs, batch: Int) -> Tensor {
        withNoGrad {
            var θ = layer.initialState(batch: batch)
            let c1 = m.c.data[0]
            var outs: [Tensor] = []
            for t in 0..<m.q.dim(1) {
                let q = m.q.slice(axis: 1, t, t + 1), k = m.k.slice(axis: 1, t, t + 1), v = m.v.slice(axis: 1, t, t + 1)
                let g = innerGradient(layer, θ, k: k, v: v, gamma: m.gamma, beta: m.beta)
                θ = update(layer, θ, g, m.eta.slice(axis: 1, t, t + 1) * c1)
                outs.append(layer.innerOutput(q: q, z: layer.inner.forward(q, θ), gamma: m.gamma, beta: m.beta))
            }
            return concat(outs, axis: 1)
        }
    }

    /// Batch GD (docs/ttt.md §4, b = T): every gradient at θ_0; θ_t = θ_0 − c_t·Σ_{s≤t} η_s ∇ℓ(θ_0; x_s).
    static func batchGD(_ layer: TTTLayer, _ m: TTTLayer.MixerInputs, batch: Int) -> Tensor {
        withNoGrad {
            let θ0 = layer.initialState(batch: batch)
            var acc = θ0.map { Tensor(zeros: $0.shape) }
            var outs: [Tensor] = []
            for t in 0..<m.q.dim(1) {
                let q = m.q.slice(axis: 1, t, t + 1), k = m.k.slice(axis: 1, t, t + 1), v = m.v.slice(axis: 1, t, t + 1)
                let g = innerGradient(layer, θ0, k: k, v: v, gamma: m.gamma, beta: m.beta)
                let eta = m.eta.slice(axis: 1, t, t + 1)
                acc = zip(acc, g).map { $0 + $1 * eta }
                let θt = update(layer, θ0, acc, Tensor(scalar: m.c.data[t]))
                outs.append(layer.innerOutput(q: q, z: layer.inner.forward(q, θt), gamma: m.gamma, beta: m.beta))
            }
            return concat(outs, axis: 1)
        }
    }

    /// The delta rule (docs/baselines.md §3): W_t = W_{t−1}(I − β_t k_tᵀk_t) + β_t k_tᵀv_t, z_t = q_t·W_t, W_0 = 0.
    /// Written as plain loops in Double. q, k, v [N, T, d]; beta [N, T, 1].
    static func deltaRule(q: Tensor, k: Tensor, v: Tensor, beta: Tensor) -> Tensor {
        let (n, t, d) = (q.dim(0), q.dim(1), q.dim(2))
        let out = Tensor(zeros: [n, t, d])
        for s in 0..<n {
            var W = [Double](repeating: 0, count: d * d)
            for i in 0..<t {
                let row = (s * t + i) * d, bt = Double(beta.data[s * t + i])
                // kW = k·W (1×d)
                var kW = [Double](repeating: 0, count: d)
                for a in 0..<d { let ka = Double(k.data[row + a]); for c in 0..<d { kW[c] += ka * W[a * d + c] } }
                // W ← W − β kᵀ(kW − v)  ==  W(I − β kᵀk) + β kᵀv
                for a in 0..<d {
                    let ka = Double(k.data[row + a])
                    for c in 0..<d { W[a * d + c] -= bt * ka * (kW[c] - Double(v.data[row + c])) }
                }
                for c in 0..<d {
                    var z = 0.0
                    for a in 0..<d { z += Double(q.data[row + a]) * W[a * d + c] }
                    out.data[row + c] = Float(z)
                }
            }
        }
        return out
    }

    /// Nadaraya–Watson learner (Theorem 2): the state is the list of past (key view, label) pairs;
    /// prediction z_t = Σ_{s≤t} κ(x_s, x_t) v_s / Σ_{s≤t} κ(x_s, x_t), κ = exp(k_s·q_t). Plain loops in Double.
    /// `kernel` replaces exp for negative controls.
    static func nadarayaWatson(q: Tensor, k: Tensor, v: Tensor, kernel: (Double) -> Double = { Foundation.exp($0) }) -> Tensor {
        let (n, t, d) = (q.dim(0), q.dim(1), q.dim(2))
        let out = Tensor(zeros: [n, t, d])
        for s in 0..<n {
            var keys: [[Double]] = [], labels: [[Double]] = []          // the learner's growing state
            for i in 0..<t {
                let row = (s * t + i) * d
                keys.append((0..<d).map { Double(k.data[row + $0]) })  // update = append
                labels.append((0..<d).map { Double(v.data[row + $0]) })
                let qi = (0..<d).map { Double(q.data[row + $0]) }
                let scores = keys.map { key in zip(key, qi).reduce(0) { $0 + $1.0 * $1.1 } }
                let mx = scores.max()!
                let w = scores.map { kernel($0 - mx) }                 // the constant e^{−mx} cancels
                let total = w.reduce(0, +)
                for c in 0..<d {
                    var z = 0.0
                    for j in 0..<keys.count { z += w[j] * labels[j][c] }
                    out.data[row + c] = Float(z / total)
                }
            }
        }
        return out
    }
}

import Foundation
