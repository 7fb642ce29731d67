// TTTLayer+Memory.swift — the TTT layer's path for nonparametric inner learners (paper Theorem 2):
// the state is the growing list of past (key, label, η) triples instead of a fixed-size θ.
import TensorCore

extension TTTLayer {
    /// Decode state of a nonparametric learner: every past key view, label and gated rate per
    /// sequence×head (it grows by one row per token), plus the Mamba backbone's conv history.
    public final class MemoryState: LayerState {
        public internal(set) var position = 0
        var keys: Tensor?, labels: Tensor?, eta: Tensor?      // [B·H, t, d], [B·H, t, d], [B·H, t, 1]
        var convHistory: Tensor?
        init(convHistory: Tensor?) { self.convHistory = convHistory }
        public var bytes: Int { 4 * ((keys?.count ?? 0) + (labels?.count ?? 0) + (eta?.count ?? 0) + (convHistory?.count ?? 0)) }
    }

    /// Prefill: the learner reads every pair up to each query (causal), in one call. [B·H, T, d].
    func memoryLoop(_ m: MixerInputs, _ np: NonparametricInnerModel.Type) -> Tensor {
        let labels = innerTarget(v: m.v, k: m.k)
        let z = np.predict(m.q, keys: m.k, labels: labels, eta: m.eta)
        return innerOutput(q: m.q, z: z, gamma: m.gamma, beta: m.beta)
    }

    /// Decode: append the chunk's pairs to the memory, then predict its queries from it.
    func memoryStep(_ h: Tensor, _ st: MemoryState, _ np: NonparametricInnerModel.Type) -> Tensor {
        withNoGrad {
            let t = h.dim(1)
            let m = mixerInputs(h, start: st.position, convHistory: &st.convHistory)
            let (q, k, eta, gamma, beta) = (m.q, m.k, m.eta, m.gamma, m.beta)
            let labels = innerTarget(v: m.v, k: k)
            func append(_ a: Tensor?, _ x: Tensor) -> Tensor { a.map { concat([$0, x], axis: 1) } ?? x.copy() }
            st.keys = append(st.keys, k); st.labels = append(st.labels, labels); st.eta = append(st.eta, eta)
            let z = np.predict(q, keys: st.keys!, labels: st.labels!, eta: st.eta!)
            st.position += t
            return outputProjection(innerOutput(q: q, z: z, gamma: gamma, beta: beta), h: h)
        }
    }
}
