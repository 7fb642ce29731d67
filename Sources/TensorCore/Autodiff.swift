// Autodiff.swift — tape-free reverse mode: each op output keeps its parents and a VJP closure.
//
// `backward()` sorts the graph reachable from a scalar topologically and runs the VJPs in reverse,
// accumulating into `grad` of every leaf that requires grad. VJP closures run under no-grad
// (first-order reverse mode). Ops that compute a gradient inside a forward pass (the TTT inner loop)
// are ordinary ops, so training differentiates through them. Most ops also carry a *graph VJP* built
// from recorded ops: `gradients(of:wrt:createGraph: true)` (HigherOrder.swift) runs those, so the
// gradient it returns is itself part of the graph (grad of grad).

/// Records how a tensor was computed.
final class Node {
    let op: String
    let parents: [Tensor]
    /// Given dL/d(output), returns dL/d(parent) for each parent (nil where it needs none).
    let vjp: (Tensor) -> [Tensor?]
    /// The same VJP from recorded (differentiable) ops, run with grad mode on in create-graph mode;
    /// nil for ops whose VJP is first-order only (fused kernels, attention, scan, conv, max, gelu′, …).
    let graphVJP: ((Tensor) -> [Tensor?])?
    init(op: String, parents: [Tensor], vjp: @escaping (Tensor) -> [Tensor?], graphVJP: ((Tensor) -> [Tensor?])? = nil) {
        self.op = op; self.parents = parents; self.vjp = vjp; self.graphVJP = graphVJP
    }
}

/// Global switch for recording. Ops run on the calling thread (they parallelise internally).
public enum GradMode {
    nonisolated(unsafe) public static var enabled = true
}

/// Runs `body` without recording any op (inference, benchmarks, optimizer updates).
@discardableResult
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    let old = GradMode.enabled
    GradMode.enabled = false
    defer { GradMode.enabled = old }
    return try body()
}

extension Tensor {
    /// Attaches a node to `out` if recording and any input requires grad. Returns `out`.
    @inline(__always)
    func recorded(_ op: String, _ inputs: [Tensor], graph: ((Tensor) -> [Tensor?])? = nil,
                  _ vjp: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        if GradMode.enabled && inputs.contains(where: { $0.requiresGrad }) {
            requiresGrad = true
            node = Node(op: op, parents: inputs, vjp: vjp, graphVJP: graph)
        }
        return self
    }

    /// Reverse-mode sweep from this scalar (or from `seed`, dL/d(self), for a non-scalar).
    public func backward(seed: Tensor? = nil) {
        precondition(seed != nil || count == 1, "backward: output has shape \(shape); pass a seed or reduce to a scalar")
        guard requiresGrad else { return }
        // Topological order (iterative DFS).
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (t, expanded) = stack.popLast() {
            if expanded { order.append(t); continue }
            let id = ObjectIdentifier(t)
            if visited.contains(id) { continue }
            visited.insert(id)
            stack.append((t, true))
            if let n = t.node { for p in n.parents where p.requiresGrad && !visited.contains(ObjectIdentifier(p)) { stack.append((p, false)) } }
        }
        withNoGrad {
            var grads: [ObjectIdentifier: Tensor] = [:]
            // Sums made here (below) own their storage exclusively: a third gradient adds into one in place
            // (the same a + b per element as a new sum, without a new buffer).
            var owned = Set<ObjectIdentifier>()
            grads[ObjectIdentifier(self)] = seed ?? Tensor(repeating: 1, shape: shape)
            for t in order.reversed() {
                guard let g = grads.removeValue(forKey: ObjectIdentifier(t)) else { continue }
                if !BackwardFault.keepsHandedOnSums { owned.remove(ObjectIdentifier(g)) }   // handed on: a VJP may share it
                guard let n = t.node else {
                    // Leaf: accumulate.
                    if let old = t.grad { addInPlace(old, g) } else { t.grad = g.owning() }
                    continue
                }
                let pg = n.vjp(g)
                for (p, gp) in zip(n.parents, pg) {
                    guard p.requiresGrad, let gp else { continue }
                    checkShape(gp.shape == p.shape, "backward of \(n.op): gradient shape \(gp.shape) ≠ input shape \(p.shape)")
                    let id = ObjectIdentifier(p)
                    if let acc = grads[id] {
                        if owned.contains(ObjectIdentifier(acc)) {
                            addInPlace(acc, gp)
                        } else {
                            let sum = acc + gp   // new tensor: a VJP may hand back storage it shares
                            owned.insert(ObjectIdentifier(sum))
                            grads[id] = sum
                        }
                    } else {
                        grads[id] = gp
                    }
                }
            }
        }
    }

    /// A tensor that owns its storage exclusively (so it may be updated in place).
    func owning() -> Tensor { copy() }

    /// Clears `grad`.
    public func zeroGrad() { grad = nil }

    /// The op that produced this tensor ("leaf" for inputs and parameters).
    public var opName: String { node?.op ?? "leaf" }
}

/// Test hook of `backward()` (AutodiffTests): `keepsHandedOnSums` keeps a gradient sum marked as owned after it
/// was handed to its op's VJP, so a later gradient is added into storage that VJP may have given to another
/// input too (the fault the ownership rule prevents). Never set outside tests.
enum BackwardFault {
    nonisolated(unsafe) static var keepsHandedOnSums = false
}

/// a += b, same shape, in place, no recording.
public func addInPlace(_ a: Tensor, _ b: Tensor) {
    checkShape(a.shape == b.shape, "addInPlace: \(a.shape) vs \(b.shape)")
    let pa = a.data, pb = b.data
    Parallel.chunks(a.count, minPerThread: 1 << 15) { lo, hi in for i in lo..<hi { pa[i] += pb[i] } }
}

extension Tensor {
    /// Records `self` as the output of a fused op over `inputs` with a hand-written VJP (one node in the
    /// graph however much work the kernel did). `vjp` gets dL/d(self) and returns dL/d(input) for each input,
    /// in order (nil where none is needed); it runs under no-grad. No-op when not recording or when no input
    /// requires grad. Returns `self`.
    ///
    /// ```swift
    /// let y = Tensor(uninitializedShape: x.shape)            // filled by a raw kernel
    /// return y.recordingFused("myKernel", [x, w]) { gy in [gx(gy), gw(gy)] }
    /// ```
    @discardableResult
    public func recordingFused(_ op: String, _ inputs: [Tensor], vjp: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        recorded(op, inputs, vjp)
    }

    /// True when an op over `inputs` would be recorded now (grad mode on and some input requires grad):
    /// a fused kernel keeps what its backward needs only then.
    public static func recording(_ inputs: [Tensor]) -> Bool {
        GradMode.enabled && inputs.contains { $0.requiresGrad }
    }
}
