// TTTLayer+Gates.swift — the TTT layer's paths for contract v2 plugins: decay gate, per-token rates
// and apply-then-update timing (InnerContract.swift), in prefill (primal, or the plugin's gated dual)
// and in decode, which match token for token.
import TensorCore

extension TTTLayer {
    /// L_i = Σ_{j≤i} log α_j within a mini-batch: la [N, n, 1] → [N, n, 1] (a lower-triangular ones product).
    func cumulativeLogDecay(_ la: Tensor) -> Tensor {
        let n = la.dim(1)
        var tri = [Float](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0...i { tri[i * n + j] = 1 } }
        return matmul(Tensor(tri, shape: [n, n]), la)
    }

    /// R_ij = A_i/A_j = exp(L_i − L_j) for j ≤ i, 0 above the diagonal: [N, n, n] (masked before the
    /// exponential, so no overflow).
    func decayRatio(_ L: Tensor) -> Tensor {
        let n = L.dim(1)
        var mask = [Float](repeating: 0, count: n * n)
        for i in 0..<n { for j in (i + 1)..<max(n, i + 1) { mask[i * n + j] = -1e30 } }
        return (L - L.transpose() + Tensor(mask, shape: [n, n])).exp()
    }

    /// The parameters of θ scaled per row by a [N, 1, 1] (the optimizer state is not decayed).
    func decayed(_ θ: [Tensor], _ a: Tensor) -> [Tensor] {
        θ.indices.map { $0 < specs.count ? TokenGates.scale(θ[$0], by: a) : θ[$0] }
    }

    /// `update` with gates, frozen biases' steps zeroed.
    func updated(_ θ0: [Tensor], step: [Tensor], gates: TokenGates) -> [Tensor] {
        let s = step.indices.map { frozenBias($0) ? Tensor(zeros: step[$0].shape) : step[$0] }
        return inner.update(θ0, step: s, gates: gates)
    }

    /// Token i's slice of every rate: [N, 1, 1] each.
    func ratesAt(_ rates: [String: Tensor], _ i: Int) -> [String: Tensor] { rates.mapValues { $0.slice(axis: 1, i, i + 1) } }

    /// One mini-batch of a plugin with gates or apply-then-update timing (see `InnerFeatures`).
    func gatedMiniBatch(_ θ0: [Tensor], _ m: MixerInputs, _ lo: Int, _ hi: Int) -> (Tensor, [Tensor]) {
        var θ = θ0
        let (qb, kb, target, cb, etab) = miniBatchInputs(m, lo, hi)
        let la = m.logDecay?.slice(axis: 1, lo, hi)
        let L = la.map { cumulativeLogDecay($0) }
        let rates = m.rates.mapValues { $0.slice(axis: 1, lo, hi) }
        let z: Tensor
        if features.timing == .applyThenUpdate {
            (z, θ) = applyThenUpdate(θ, m, q: qb, k: kb, target: target, eta: etab, c: cb, L: L, rates: rates)
        } else {
            var E = cb * etab.transpose()
            if let L { E = E * decayRatio(L) }
            let delta = deltaFunction(target: target, gamma: m.gamma, beta: m.beta)
            if opts.dual, let r = inner.dual(θ, q: qb, k: kb, E: E, bias: opts.innerBias,
                                             gates: TokenGates(decay: L?.exp(), rates: rates), delta: delta) {
                z = r.z; θ = r.next
            } else {
                (z, θ) = gatedPrimal(θ, m, q: qb, k: kb, target: target, eta: etab, c: cb, la: la, L: L, rates: rates)
            }
        }
        return (innerOutput(q: qb, z: z, gamma: m.gamma, beta: m.beta), θ)
    }

    /// Causal primal form with gates: θ_i = A_i θ⁰ − c_i Σ_{j≤i} (A_i/A_j) η_j ∇ℓ_j(A_j θ⁰),
    /// accumulated as acc_i = α_i acc_{i−1} + η_i ∇ℓ_i(A_i θ⁰); z_i = f(q_i; θ_i).
    func gatedPrimal(_ θ0: [Tensor], _ m: MixerInputs, q: Tensor, k: Tensor, target: Tensor, eta: Tensor, c: Tensor,
                     la: Tensor?, L: Tensor?, rates: [String: Tensor]) -> (Tensor, [Tensor]) {
        var acc: [Tensor]? = nil
        var zs: [Tensor] = [], θi = θ0
        for i in 0..<k.dim(1) {
            let ki = k.slice(axis: 1, i, i + 1)
            let A = L?.slice(axis: 1, i, i + 1).exp()
            let θat = A.map { decayed(θ0, $0) } ?? θ0
            let di = deltaFunction(target: target.slice(axis: 1, i, i + 1), gamma: m.gamma, beta: m.beta)(inner.forward(ki, θat))
            let g = inner.gradient(ki, θat, delta: di, weights: eta.slice(axis: 1, i, i + 1))
            if let a = acc, let la {
                let alpha = la.slice(axis: 1, i, i + 1).exp()
                acc = zip(a, g).map { TokenGates.scale($0, by: alpha) + $1 }
            } else {
                acc = acc.map { zip($0, g).map { $0 + $1 } } ?? g
            }
            let ci = c.slice(axis: 1, i, i + 1).reshape([1])
            θi = updated(θ0, step: acc!.map { $0 * ci }, gates: TokenGates(decay: A, rates: ratesAt(rates, i)))
            zs.append(inner.forward(q.slice(axis: 1, i, i + 1), θi))
        }
        return (concat(zs, axis: 1), θi)
    }

    /// Apply, then update: z = f(q; θ⁰) for every query of the chunk; the next state is the chunk's
    /// update at its last token n: A_n θ⁰ − c_n Σ_j (A_n/A_j) η_j ∇ℓ_j(A_j θ⁰).
    func applyThenUpdate(_ θ0: [Tensor], _ m: MixerInputs, q: Tensor, k: Tensor, target: Tensor, eta: Tensor, c: Tensor,
                         L: Tensor?, rates: [String: Tensor]) -> (Tensor, [Tensor]) {
        let n = k.dim(1)
        let z = inner.forward(q, θ0)
        var g: [Tensor]
        if let L {
            let w = eta * (L.slice(axis: 1, n - 1, n) - L).exp()          // η_j A_n/A_j
            var sum: [Tensor]? = nil
            for j in 0..<n {
                let kj = k.slice(axis: 1, j, j + 1)
                let θat = decayed(θ0, L.slice(axis: 1, j, j + 1).exp())
                let dj = deltaFunction(target: target.slice(axis: 1, j, j + 1), gamma: m.gamma, beta: m.beta)(inner.forward(kj, θat))
                let gj = inner.gradient(kj, θat, delta: dj, weights: w.slice(axis: 1, j, j + 1))
                sum = sum.map { zip($0, gj).map { $0 + $1 } } ?? gj
            }
            g = sum!
        } else {
            let delta = deltaFunction(target: target, gamma: m.gamma, beta: m.beta)
            g = inner.gradient(k, θ0, delta: delta(inner.forward(k, θ0)), weights: eta)
        }
        let cn = c.slice(axis: 1, n - 1, n).reshape([1])
        let gates = TokenGates(decay: L?.slice(axis: 1, n - 1, n).exp(), rates: ratesAt(rates, n - 1))
        return (z, updated(θ0, step: g.map { $0 * cn }, gates: gates))
    }

    /// Decode (docs/ttt.md §2) for a plugin with gates or apply-then-update timing: the same recurrences as
    /// the prefill above, one token at a time, committing at the end of each mini-batch (chunk).
    func gatedStep(_ h: Tensor, state st: State) -> Tensor {
        withNoGrad {
            let t = h.dim(1)
            let m = mixerInputs(h, start: st.position, convHistory: &st.convHistory)
            let (q, k, v, c, gamma, beta) = (m.q, m.k, m.v, m.c, m.gamma, m.beta)
            let gates = (logDecay: m.logDecay, rates: m.rates, eta: m.eta)
            let applyFirst = features.timing == .applyThenUpdate
            var outs: [Tensor] = []
            for j in 0..<t {
                let i = st.position % b
                let qj = q.slice(axis: 1, j, j + 1), kj = k.slice(axis: 1, j, j + 1), vj = v.slice(axis: 1, j, j + 1)
                let target = innerTarget(v: vj, k: kj)
                let la = gates.logDecay?.slice(axis: 1, j, j + 1)
                if let la { st.logDecay = st.logDecay.map { $0 + la } ?? la }
                let A = st.logDecay?.exp()
                let θat = A.map { decayed(st.thetaStart, $0) } ?? st.thetaStart
                let dz = deltaFunction(target: target, gamma: gamma, beta: beta)(inner.forward(kj, θat))
                let g = inner.gradient(kj, θat, delta: dz, weights: gates.eta.slice(axis: 1, j, j + 1))
                if let la, i > 0 {
                    let alpha = la.exp()
                    st.acc = zip(st.acc, g).map { TokenGates.scale($0, by: alpha) + $1 }
                } else {
                    st.acc = zip(st.acc, g).map { $0 + $1 }
                }
                let θ = updated(st.thetaStart, step: st.acc.map { $0 * c.data[i] }, gates: TokenGates(decay: A, rates: ratesAt(gates.rates, j)))
                outs.append(innerOutput(q: qj, z: inner.forward(qj, applyFirst ? st.thetaStart : θ), gamma: gamma, beta: beta))
                st.position += 1
                if i == b - 1 {
                    st.thetaStart = θ
                    st.acc = st.acc.map { Tensor(zeros: $0.shape) }
                    st.logDecay = nil
                }
            }
            return outputProjection(outs.count == 1 ? outs[0] : concat(outs, axis: 1), h: h)
        }
    }
}
