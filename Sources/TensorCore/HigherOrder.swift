// HigherOrder.swift — gradients as graph values (create-graph mode: grad of grad).
//
// `gradients(of:wrt:createGraph: true)` runs every node's graph VJP (a VJP written with recorded
// ops) with grad mode on, so the gradient it returns is recorded and a later `backward()`
// differentiates through it — what PyTorch calls `create_graph=True` and JAX `grad(grad(f))`.
// `gradientInGraph(at:wrt:_:)` builds on it to put the gradient of a local function into the
// outer graph exactly (the TTT layer's derived inner gradient).

/// A recorder of the ops a create-graph sweep met without a graph VJP: their gradient was a constant
/// (a stop-gradient) in the outer graph. A check that wants them (`lab plugin check`, the higher-order
/// tests) hands one to `gradients` or `gradientInGraph`; empty after a healthy sweep. One sweep at a time.
///
/// ```swift
/// let stops = StopGradients()
/// _ = gradients(of: (x.geluPrime() * y).sum(), wrt: [x], createGraph: true, stopGradients: stops)
/// stops.ops                                                     // ["geluPrime"]
/// ```
public final class StopGradients {
    public private(set) var ops: Set<String> = []
    public init() {}
    func record(_ op: String) { ops.insert(op) }
}

/// The op names of every recorded node behind `outputs` (their graph, walked through the parents).
///
/// ```swift
/// let y = (x.requiringGrad() * 2).exp()
/// graphOps(of: [y])      // the names of the multiply and exp nodes
/// ```
public func graphOps(of outputs: [Tensor]) -> Set<String> {
    var ops = Set<String>(), seen = Set<ObjectIdentifier>(), stack = outputs
    while let t = stack.popLast() {
        guard seen.insert(ObjectIdentifier(t)).inserted, let n = t.node else { continue }
        ops.insert(n.op)
        stack += n.parents
    }
    return ops
}

/// dL/d(input) for each of `inputs` (nil where L does not depend on it), from the scalar `output`
/// (or `seed` = dL/d(output)). The sweep stops at `inputs` (their own ancestors are not visited) and
/// only visits nodes on a path to one of them; nothing is accumulated into `grad`.
///
/// With `createGraph`, every VJP runs from recorded ops under grad mode, so the returned gradients
/// are part of the graph and differentiable again; an op without a graph VJP falls back to its
/// first-order VJP and is named in `stopGradients` when one is given.
///
/// ```swift
/// let x = Tensor([3], shape: [1]).requiringGrad()
/// let g = gradients(of: (x * x * x).sum(), wrt: [x], createGraph: true)[0]!   // 3x² = 27
/// let h = gradients(of: g.sum(), wrt: [x])[0]!                                 // 6x = 18
/// ```
public func gradients(of output: Tensor, wrt inputs: [Tensor], seed: Tensor? = nil, createGraph: Bool = false,
                      stopGradients: StopGradients? = nil) -> [Tensor?] {
    precondition(seed != nil || output.count == 1, "gradients: output has shape \(output.shape); pass a seed or reduce to a scalar")
    let targets = Set(inputs.map(ObjectIdentifier.init))
    guard output.requiresGrad else { return inputs.map { _ in nil } }
    // Post-order DFS from the output, not expanding past a target; `useful` = on a path to a target.
    var order: [Tensor] = []
    var visited = Set<ObjectIdentifier>(), useful = Set<ObjectIdentifier>()
    var stack: [(Tensor, Bool)] = [(output, false)]
    while let (t, expanded) = stack.popLast() {
        let id = ObjectIdentifier(t)
        if expanded {
            if targets.contains(id) || (t.node?.parents.contains { useful.contains(ObjectIdentifier($0)) } ?? false) {
                useful.insert(id); order.append(t)
            }
            continue
        }
        if visited.contains(id) { continue }
        visited.insert(id)
        stack.append((t, true))
        if targets.contains(id) { continue }
        if let n = t.node { for p in n.parents where p.requiresGrad && !visited.contains(ObjectIdentifier(p)) { stack.append((p, false)) } }
    }
    let saved = GradMode.enabled
    GradMode.enabled = createGraph
    defer { GradMode.enabled = saved }
    var grads: [ObjectIdentifier: Tensor] = [:]
    grads[ObjectIdentifier(output)] = seed ?? Tensor(repeating: 1, shape: output.shape)
    var result: [ObjectIdentifier: Tensor] = [:]
    for t in order.reversed() {
        let id = ObjectIdentifier(t)
        guard let g = grads.removeValue(forKey: id) else { continue }
        if targets.contains(id) { result[id] = g; continue }
        guard let n = t.node else { continue }
        let pg: [Tensor?]
        if createGraph, let gv = n.graphVJP {
            pg = gv(g)
        } else {
            if createGraph { stopGradients?.record(n.op) }
            pg = withNoGrad { n.vjp(g) }
        }
        for (p, gp) in zip(n.parents, pg) {
            let pid = ObjectIdentifier(p)
            guard p.requiresGrad, useful.contains(pid), let gp else { continue }
            checkShape(gp.shape == p.shape, "gradients of \(n.op): gradient shape \(gp.shape) ≠ input shape \(p.shape)")
            grads[pid] = grads[pid].map { $0 + gp } ?? gp
        }
    }
    return inputs.map { result[ObjectIdentifier($0)] }
}

/// ∇ of the scalar `f(inputs)` with respect to the first `wrt` inputs, as values of the *outer*
/// graph when it is recording: `f` runs on aliases of the inputs (so the sweep stays local), its
/// gradient is taken in create-graph mode, and the aliases are then joined to the inputs, so a later
/// `backward()` differentiates the gradient with respect to everything the inputs came from. When
/// nothing is recorded (no input requires grad, or grad mode is off) it is a plain first-order
/// gradient on copies. Zeros where `f` does not depend on an input. The joining nodes are named
/// `joinedAs` (so a caller can recognise its gradient in a graph); `stopGradients` records the ops of the
/// local sweep without a graph VJP.
///
/// ```swift
/// // ∇_W ⟨tanh(x·W), u⟩, differentiable in x, W and u by a later backward():
/// let gW = gradientInGraph(at: [W, x, u], wrt: 1) { v in (matmul(v[1], v[0]).tanh() * v[2]).sum() }[0]
/// ```
public func gradientInGraph(at inputs: [Tensor], wrt: Int, joinedAs: String = "alias", stopGradients: StopGradients? = nil,
                            _ f: ([Tensor]) -> Tensor) -> [Tensor] {
    precondition(wrt <= inputs.count, "gradientInGraph: wrt \(wrt) > \(inputs.count) inputs")
    let saved = GradMode.enabled
    defer { GradMode.enabled = saved }
    let outer = saved && inputs.contains { $0.requiresGrad }
    GradMode.enabled = true
    // Aliases share storage; during the local sweep the first `wrt` are leaves requiring grad.
    let alias = inputs.enumerated().map { i, t -> Tensor in
        let a = Tensor(sharing: t.storage, shape: t.shape)
        a.requiresGrad = i < wrt || (outer && t.requiresGrad)
        return a
    }
    let y = f(alias)
    let g = gradients(of: y, wrt: Array(alias.prefix(wrt)), createGraph: outer, stopGradients: stopGradients)
    if outer {
        // Join each alias to its input: identity nodes, so the outer backward passes through.
        for (a, t) in zip(alias, inputs) {
            if t.requiresGrad { a.requiresGrad = true; a.node = Node(op: joinedAs, parents: [t], vjp: { [$0] }, graphVJP: { [$0] }) }
            else { a.requiresGrad = false }
        }
    }
    return zip(g, inputs.prefix(wrt)).map { gi, t in gi.map { outer ? $0 : $0.detached() } ?? Tensor(zeros: t.shape) }
}

/// A graph VJP for a fused op whose value equals `f(inputs)` built from differentiable ops: given g, it
/// recomputes f recorded and returns ∇⟨f(inputs), g⟩ in create-graph mode (through aliases, so g's own
/// dependence on the inputs is not differentiated here). Costs one recomputation, only in create-graph mode.
func compositeGraphVJP(_ inputs: [Tensor], _ f: @escaping ([Tensor]) -> Tensor) -> (Tensor) -> [Tensor?] {
    { g in
        let n = inputs.count
        return gradientInGraph(at: inputs + [g], wrt: n) { v in (f(Array(v.prefix(n))) * v[n]).sum() }
    }
}
