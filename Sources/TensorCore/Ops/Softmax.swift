// Softmax.swift — row softmax, log-softmax and cross-entropy over the last axis.
import Foundation

extension Tensor {
    /// Numerically stable softmax over the last axis.
    public func softmax() -> Tensor {
        let m = shape.last!, rows = count / Swift.max(m, 1)
        let out = Tensor(uninitializedShape: shape)
        let px = data, po = out.data
        Parallel.chunks(rows, minPerThread: 32) { lo, hi in
            for r in lo..<hi {
                let x = px + r * m, y = po + r * m
                var mx = -Float.infinity
                for j in 0..<m { mx = Swift.max(mx, x[j]) }
                var s: Float = 0
                for j in 0..<m { let e = mx == -.infinity ? 0 : Foundation.exp(x[j] - mx); y[j] = e; s += e }
                let inv = s > 0 ? 1 / s : 0
                for j in 0..<m { y[j] *= inv }
            }
        }
        FLOPCounter.elementwise += 6 * count
        // Graph VJP: softmax rebuilt from differentiable ops, shifted by the (constant) row max.
        let graph = compositeGraphVJP([self]) { v in
            let e = (v[0] - withNoGrad { v[0].max(axis: -1, keepDims: true) }).exp()
            return e / e.sum(axis: -1, keepDims: true)
        }
        return out.recorded("softmax", [self], graph: graph) { g in
            let r = Tensor(uninitializedShape: g.shape)
            let pg = g.data, pr = r.data
            for row in 0..<rows {
                var dot: Float = 0
                for j in 0..<m { dot += pg[row * m + j] * po[row * m + j] }
                for j in 0..<m { pr[row * m + j] = po[row * m + j] * (pg[row * m + j] - dot) }
            }
            return [r]
        }
    }

    /// log(softmax(x)) over the last axis.
    public func logSoftmax() -> Tensor {
        let m = shape.last!, rows = count / Swift.max(m, 1)
        let out = Tensor(uninitializedShape: shape)
        let px = data, po = out.data
        Parallel.chunks(rows, minPerThread: 32) { lo, hi in
            for r in lo..<hi {
                let x = px + r * m
                var mx = -Float.infinity
                for j in 0..<m { mx = Swift.max(mx, x[j]) }
                var s: Float = 0
                for j in 0..<m { s += Foundation.exp(x[j] - mx) }
                let lse = mx + Foundation.log(s)
                for j in 0..<m { po[r * m + j] = x[j] - lse }
            }
        }
        FLOPCounter.elementwise += 6 * count
        let graph = compositeGraphVJP([self]) { v in
            let z = v[0] - withNoGrad { v[0].max(axis: -1, keepDims: true) }
            return z - z.exp().sum(axis: -1, keepDims: true).log()
        }
        return out.recorded("logSoftmax", [self], graph: graph) { g in
            let r = Tensor(uninitializedShape: g.shape)
            let pg = g.data, pr = r.data
            for row in 0..<rows {
                var s: Float = 0
                for j in 0..<m { s += pg[row * m + j] }
                for j in 0..<m { pr[row * m + j] = pg[row * m + j] - Foundation.exp(po[row * m + j]) * s }
            }
            return [r]
        }
    }

    /// Mean negative log-likelihood of `targets` under logits `[N, V]` (or `[..., V]` flattened).
    public func crossEntropy(targets: [Int]) -> Tensor {
        let v = shape.last!, rows = count / Swift.max(v, 1)
        checkShape(targets.count == rows, "crossEntropy: \(targets.count) targets for \(rows) rows of logits \(shape)")
        let lp = logSoftmax().reshape([rows, v])
        // Gather −log p[target] through a differentiable one-hot product.
        let onehot = Tensor(zeros: [rows, v])
        for (r, t) in targets.enumerated() {
            precondition(t >= 0 && t < v, "crossEntropy: target \(t) outside vocabulary 0..<\(v)")
            onehot.data[r * v + t] = -1 / Float(rows)
        }
        return (lp * onehot).sum()
    }
}
