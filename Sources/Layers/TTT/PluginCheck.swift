// PluginCheck.swift — `lab plugin check`: the checks every inner-model plugin must pass (issue 8).
//
// Each check compares two computations that must agree, with a stated tolerance on the relative
// error, and runs a negative control that must NOT agree (so a check that cannot fail is caught).
import TensorCore

/// The checks of one inner-model plugin inside a TTT layer:
///
/// 1. inner gradient = central finite differences of `Σ_j w_j ½‖f_res(x_j; θ) − y_j‖²` (docs/ttt.md §1.5);
/// 2. dual ≡ primal form, when the plugin has a dual form (docs/ttt.md §1.6–1.8);
/// 3. decode (token by token, and aligned chunk + tokens) ≡ prefill (docs/ttt.md §2);
/// 4. causality: changing token t leaves the outputs before t bit-identical;
/// 5. outer gradients (backward through the inner loop) = finite differences, every layer parameter;
/// 6. a custom inner loss's derivative = finite differences of the loss (contract v2).
///
/// ```swift
/// let report = try PluginCheck.run(LinearInner.self)
/// print(report.rows.map(\.verdict))      // [.pass, .pass, .pass, .pass, .pass, .notApplicable]
/// ```
public enum PluginCheck {
    public enum Verdict: String, Sendable {
        case pass = "PASS", fail = "FAIL", notApplicable = "n/a"
    }

    public struct Row: Sendable {
        public let check: String
        /// Relative error of the check (nil when not applicable).
        public let error: Float?
        public let tolerance: Float?
        /// Relative error of the negative control (must exceed `controlBound`).
        public let control: Float?
        /// What the control must exceed: `controlThreshold` for the form checks, the tolerance for the
        /// gradient checks (whose control is a 1 % error).
        public var controlBound: Float = PluginCheck.controlThreshold
        /// Gradient rows: tensors whose finite differences resolve the gradient worse than 10⁻³ (their
        /// tolerance is 10⁻³ plus that resolution), and those where a 1 % error is below it.
        public var coarse: [String] = [], blind: [String] = []
        public let verdict: Verdict
        public let note: String
    }

    public struct Report: Sendable {
        public let plugin: String
        public let rows: [Row]
        /// No row failed.
        public var passed: Bool { !rows.contains { $0.verdict == .fail } }
    }

    /// Shapes of the check (small: it runs in well under a second in debug builds).
    public struct Options: Sendable {
        public var width = 16, heads = 2, miniBatch = 4, length = 10, batch = 2
        public var seed: UInt64 = 0
        public init() {}
    }

    /// Tolerances on the relative error (Float32 throughout; differences in Double).
    public static let gradientTolerance: Float = 1e-3, formTolerance: Float = 1e-4, controlThreshold: Float = 1e-2

    /// Runs every check of `inner` inside a TTT layer (Transformer backbone).
    public static func run(_ inner: InnerModel.Type, options o: Options = Options()) throws -> Report {
        var cfg = LayerConfig(width: o.width, heads: o.heads)
        cfg.ttt.miniBatch = o.miniBatch
        try cfg.validate()
        guard o.length >= 2, o.batch >= 1 else { throw LabError.badConfig("plugin check needs --length ≥ 2 and batch ≥ 1") }
        let rows = [try innerGradient(inner, cfg, o), try dualPrimal(inner, cfg, o), try decodePrefill(inner, cfg, o),
                    try causality(inner, cfg, o), try outerGradient(inner, cfg, o), lossDerivative(inner, o)]
        return Report(plugin: inner.name, rows: rows)
    }

    static func row(_ check: String, _ err: Float, _ tol: Float, control: Float?, note: String,
                    ifFail: Verdict = .fail) -> Row {
        let ok = err <= tol && (control.map { $0 > controlThreshold } ?? true)
        var n = note
        if let c = control, c <= controlThreshold { n += (n.isEmpty ? "" : "; ") + "negative control did not fail: the check is blind" }
        return Row(check: check, error: err, tolerance: tol, control: control, verdict: ok ? .pass : ifFail, note: n)
    }

    // MARK: 1. inner gradient

    static func innerGradient(_ inner: InnerModel.Type, _ cfg: LayerConfig, _ o: Options) throws -> Row {
        let name = "inner gradient = finite differences"
        if inner is NonparametricInnerModel.Type {
            return Row(check: name, error: nil, tolerance: nil, control: nil, verdict: .notApplicable,
                       note: "nonparametric: the update appends (k, y, η), no gradient")
        }
        let d = cfg.headDim, N = 2, n = 3
        var rng = RNG(seed: 31 &+ o.seed)
        let θ = (inner.parameters(headDim: d) + inner.optimizerState(headDim: d)).map { s -> Tensor in
            let fan = s.shape.count >= 2 ? s.shape[s.shape.count - 2] : 1
            return Tensor.randn([N] + s.shape, std: s.shape.count >= 2 && fan > 1 ? 1 / Float(fan).squareRoot() : 0.1, rng: &rng)
        }
        let p = inner.parameters(headDim: d).count
        let x = Tensor.randn([N, n, d], rng: &rng), y = Tensor.randn([N, n, d], rng: &rng)
        let w = Tensor.uniform([N, n, 1], 0.5, 1.5, rng: &rng)
        func loss() -> Double {
            let z = withNoGrad { inner.forward(x, θ) }
            var s = 0.0
            for i in 0..<z.count { let r = Double(z.data[i]) - Double(y.data[i]); s += 0.5 * Double(w.data[i / d]) * r * r }
            return s
        }
        for t in θ { snap(t) }
        let g = withNoGrad { inner.gradient(x, θ, delta: inner.forward(x, θ) - y, weights: w) }
        guard g.count == p else {
            return Row(check: name, error: .infinity, tolerance: gradientTolerance, control: nil, verdict: .fail,
                       note: "gradient returned \(g.count) tensors for \(p) parameters")
        }
        var fds: [(String, FD)] = []
        for j in 0..<p {
            guard g[j].shape == θ[j].shape else {
                return Row(check: name, error: .infinity, tolerance: gradientTolerance, control: nil, verdict: .fail,
                           note: "gradient[\(j)] has shape \(g[j].shape), parameter \(θ[j].shape)")
            }
            fds.append((inner.parameters(headDim: d)[j].name, fdError(θ[j], analytic: g[j], seed: UInt64(j) &+ o.seed, loss)))
        }
        let how = inner.gradientIsHandWritten ? "hand-written" : "derived by autodiff"
        return gradientRow(name, fds, note: how)
    }

    /// Directional finite differences of one tensor's gradient (checks 1, 5 and 6).
    ///
    /// Along `directions` random directions u (entries N(0, 1) clipped to ±4, on the grid 2⁻⁸), the numeric
    /// derivative of `loss` (accumulated in Double) is the fourth-order central difference
    /// n(h) = (8(L(h) − L(−h)) − (L(2h) − L(−2h))) / 12h of L(s) = loss(θ + s·u), the analytic one ⟨∇θ, u⟩
    /// in Double. θ is first snapped to the grid 2⁻²² (`snap`), so every θ + s·u evaluated is exact in
    /// Float32 (|θ| < 2): the steps are exactly what they say and only the loss's own rounding remains.
    /// The step is chosen per tensor on its first direction: of h = 2⁻⁶ … 2⁻¹¹, the one where n(h) and n(2h)
    /// agree best — too large a step leaves truncation (curved layers: decay gates, Newton–Schulz), too
    /// small one Float32 noise; |n(h) − n(2h)| is kept as the estimate's own error (`spread`). The other
    /// directions try that step and its neighbours (2× either way). 16 + 2 × 10 loss evaluations per tensor
    /// (fewer directions for tensors of 1 or 2 entries; 4 evaluations for one the loss does not depend on).
    struct FD {
        /// Σ over directions of (analytic − numeric)², (1.01·analytic − numeric)², numeric², (n(h) − n(2h))².
        var diff = 0.0, control = 0.0, norm = 0.0, spread = 0.0
        /// Largest |analytic| (0: no gradient reaches the tensor).
        var analyticMax = 0.0
        /// ‖analytic − numeric‖ / max(‖numeric‖, floor): relative, with an absolute floor (see `gradientRow`).
        func error(floor: Double) -> Float { relative(diff, floor) }
        /// The same for the analytic gradient scaled by 1.01 (the negative control: a 1 % wrong gradient).
        func controlError(floor: Double) -> Float { relative(control, floor) }
        func relative(_ sq: Double, _ floor: Double) -> Float {
            let r = sq.squareRoot() / Swift.max(norm.squareRoot(), floor, 1e-30)
            return r.isFinite ? Float(r) : .infinity
        }
        var numericNorm: Double { norm.squareRoot() }
        /// Exactly zero on both sides: the layer does not use the tensor (e.g. an option the plugin turns off).
        var unused: Bool { norm == 0 && analyticMax == 0 && diff == 0 }
    }

    /// Directions per tensor, and the absolute floor of the relative error as a fraction of the largest
    /// numeric gradient norm of the check.
    static let directions = 3, floorFraction = 1e-2

    /// Rounds every entry of `t` to the grid 2⁻²² (a change ≤ 1.2e-7 of a random test point), so that
    /// θ + s·u with u on 2⁻⁸ and s = ±2⁻ᵏ (k ≤ 14) is exactly representable while |θ| < 2.
    static func snap(_ t: Tensor) {
        for i in 0..<t.count { t.data[i] = (t.data[i] * 0x1p22).rounded() * 0x1p-22 }
    }

    static func fdError(_ t: Tensor, analytic: Tensor, seed: UInt64, _ loss: () -> Double) -> FD {
        var rng = RNG(seed: 5 &+ seed)
        let saved = Array(UnsafeBufferPointer(start: t.data, count: t.count))
        var fd = FD()
        for i in 0..<t.count { fd.analyticMax = Swift.max(fd.analyticMax, abs(Double(analytic.data[i]))) }
        if !fd.analyticMax.isFinite { fd.analyticMax = .infinity }
        var chosen = Array(6...11), pick = 6
        // A tensor with an exactly-zero analytic gradient whose loss does not move at all along u is unused
        // (an option the plugin turns off): one quotient shows it, no step scan.
        let count = Swift.min(directions, t.count)
        for direction in 0..<count {
            let u = (0..<t.count).map { _ in (Double(Swift.min(4, Swift.max(-4, rng.normal()))) * 0x1p8).rounded() * 0x1p-8 }
            var a = 0.0
            for i in 0..<t.count { a += Double(analytic.data[i]) * u[i] }
            var memo: [Double: Double] = [:]
            func L(_ s: Double) -> Double {
                if let v = memo[s] { return v }
                for i in 0..<t.count { t.data[i] = Float(Double(saved[i]) + s * u[i]) }
                let v = loss(); memo[s] = v; return v
            }
            func quotient(_ h: Double) -> Double { (8 * (L(h) - L(-h)) - (L(2 * h) - L(-2 * h))) / (12 * h) }
            if direction == 0 && fd.analyticMax == 0 && quotient(0x1p-5) == 0 && L(0x1p-5) == L(-0x1p-5) && L(0x1p-4) == L(-0x1p-4) {
                break
            }
            var best = (num: Double.nan, spread: Double.infinity)
            // The first direction scans the steps; the others try the step it chose and its two neighbours.
            var previous = quotient(2 / Double(1 << chosen.first!))
            for k in chosen {
                let n = quotient(1 / Double(1 << k)), d = abs(n - previous)
                if !(d >= best.spread) { best = (n, d); pick = k }
                previous = n
            }
            if chosen.count > 3 { chosen = [pick - 1, pick, pick + 1] }
            fd.diff += pow2(a - best.num); fd.control += pow2(1.01 * a - best.num); fd.norm += pow2(best.num)
            fd.spread += pow2(best.spread)
        }
        for i in 0..<t.count { t.data[i] = saved[i] }
        return fd
    }

    static func pow2(_ x: Double) -> Double { x * x }

    /// A gradient row from each tensor's directional differences. A tensor passes when
    ///
    ///     ‖analytic − numeric‖ ≤ 10⁻³·max(‖numeric‖, 10⁻²·G) + 2‖n(h) − n(2h)‖
    ///
    /// G being the largest ‖numeric‖ of the row (a tensor whose gradient is far below the others' is judged
    /// against that floor, not its own size) and the last term the finite differences' own error at the
    /// chosen step (for most tensors far below the first; where it is not, the tensor is resolved worse
    /// than 10⁻³ and the note says so). Shown: the error ‖a − n‖ / max(‖n‖, 10⁻²G) and tolerance of the
    /// worst tensor (relative to its tolerance). Control, the fault it names: one tensor's gradient scaled by
    /// 1.01 must fail; shown for the tensor where it fails least. Tensors whose finite differences cannot
    /// resolve a 1 % error are listed (the row still needs at least one that can); tensors with gradient
    /// exactly 0 on both sides are listed as unused.
    static func gradientRow(_ name: String, _ fds: [(String, FD)], note: String) -> Row {
        let floor = floorFraction * (fds.map(\.1.numericNorm).max() ?? 0)
        var worst = (ratio: -1.0, error: Float(0), tol: gradientTolerance, name: "-")
        var control = (ratio: Double.infinity, error: Float.nan, tol: gradientTolerance)
        var blind: [String] = [], coarse: [String] = [], coarseText: [String] = []
        let unused = fds.filter(\.1.unused).map(\.0)
        for (n, fd) in fds where !fd.unused {
            let scale = Swift.max(fd.numericNorm, floor, 1e-30)
            let resolution = 2 * fd.spread.squareRoot() / scale
            let tol = gradientTolerance + (resolution.isFinite ? Float(resolution) : .infinity)
            let e = fd.error(floor: floor), c = fd.controlError(floor: floor)
            let ratio = e.isNaN ? .infinity : Double(e / tol)
            if ratio > worst.ratio { worst = (ratio, e, tol, n) }
            if resolution > Double(gradientTolerance) { coarse.append(n); coarseText.append(n + String(format: " %.0e", resolution)) }
            if !(c > tol) { blind.append(n); continue }
            if Double(c / tol) < control.ratio { control = (Double(c / tol), c, tol) }
        }
        var text = note + "; worst \(worst.name); \(directions) directions per tensor, fourth-order differences"
        if !coarse.isEmpty { text += "; resolved worse than 1e-3 (Float32 noise of the loss at the step its curvature needs): \(coarseText.joined(separator: ", "))" }
        if !unused.isEmpty { text += "; unused (gradient exactly 0 on both sides): \(unused.joined(separator: ", "))" }
        text += "; control: one tensor's gradient × 1.01"
        if !blind.isEmpty { text += " (below the resolution in \(blind.joined(separator: ", ")))" }
        let ok = worst.ratio >= 0 && worst.ratio <= 1 && control.ratio.isFinite && control.ratio > 1
        return Row(check: name, error: worst.error, tolerance: worst.tol, control: control.error.isNaN ? nil : control.error,
                   controlBound: control.tol, coarse: coarse, blind: blind, verdict: ok ? .pass : .fail, note: text)
    }

    // MARK: layers with random weights

    /// A TTT layer over `inner` whose parameters are all random at a scale where the inner loop
    /// matters: matrices N(0, 1/fan_in), norm weights 1 + N(0, 0.1²), other vectors N(0, 0.1²), token
    /// offsets λ N(0, 0.01²).
    public static func layer(_ inner: InnerModel.Type, _ cfg: LayerConfig, seed: UInt64, edit: (inout LayerConfig) -> Void = { _ in }) throws -> TTTLayer {
        var c = cfg
        edit(&c)
        var rng = RNG(seed: seed)
        let l = try TTTLayer(config: c, inner: inner, rng: &rng)
        var r = RNG(seed: 77 &+ seed)
        for p in l.parameters {
            let t = p.tensor
            let norm = p.name.contains("norm") && !p.name.contains("bias")
            let fan = t.rank >= 2 ? t.shape[t.rank - 2] : 1
            let std: Float = p.name == "learnable_token_idx" ? 0.01 : t.rank >= 2 && !norm && fan > 1 ? 1 / Float(fan).squareRoot() : 0.1
            let noise = Tensor.randn(t.shape, std: std, rng: &r)
            for i in 0..<t.count { t.data[i] = (norm ? 1 : 0) + noise.data[i] }
        }
        return l
    }

    /// Copies every parameter of `a` into `b` (by name; a prefix where the sizes differ, e.g. λ [b]).
    static func copyParameters(from a: TTTLayer, to b: TTTLayer) {
        for p in b.parameters {
            guard let src = a.parameter(p.name) else { continue }
            for i in 0..<min(src.count, p.tensor.count) { p.tensor.data[i] = src.data[i] }
        }
    }

    static func input(_ cfg: LayerConfig, _ o: Options, seed: UInt64 = 0) -> Tensor {
        var rng = RNG(seed: 1000 &+ o.seed &+ seed)
        return Tensor.randn([o.batch, o.length, cfg.width], rng: &rng)
    }

    static func relError(_ a: Tensor, _ r: Tensor) -> Float {
        var e: Float = 0, m: Float = 0
        for i in 0..<a.count {
            let d = abs(a.data[i] - r.data[i])
            e = d.isNaN ? .infinity : max(e, d); m = max(m, abs(r.data[i]))
        }
        return e / max(m, 1e-30)
    }

    // MARK: 2. dual ≡ primal

    static func dualPrimal(_ inner: InnerModel.Type, _ cfg: LayerConfig, _ o: Options) throws -> Row {
        let name = "dual form ≡ primal form"
        if inner is NonparametricInnerModel.Type || !inner.hasDual {
            return Row(check: name, error: nil, tolerance: nil, control: nil, verdict: .notApplicable,
                       note: inner is NonparametricInnerModel.Type ? "nonparametric: one causal prefill (see decode ≡ prefill)" : "no dual form: the layer runs the primal form")
        }
        let dual = try layer(inner, cfg, seed: o.seed)
        let primal = try layer(inner, cfg, seed: o.seed) { $0.ttt.dual = false }
        let b = dual.config.ttt.miniBatch
        // The control uses one token fewer per mini-batch than the layer sees: b − 1, or T − 1 when b ≥ T
        // (every b ≥ T is the same single mini-batch, so b − 1 would not differ and the control would be blind).
        let bc = min(b, o.length) - 1
        let other = try layer(inner, cfg, seed: o.seed) { $0.ttt.dual = false; $0.ttt.miniBatch = max(1, bc) }
        copyParameters(from: dual, to: other)
        let x = input(cfg, o)
        return withNoGrad {
            let y = dual(x)
            return row(name, relError(y, primal(x)), formTolerance, control: bc >= 1 ? relError(y, other(x)) : nil,
                       note: "b = \(b), T = \(o.length)" + (bc >= 1 ? "; control: primal with b = \(bc)" : "; no control at b = 1"))
        }
    }

    // MARK: 3. decode ≡ prefill

    static func decodePrefill(_ inner: InnerModel.Type, _ cfg: LayerConfig, _ o: Options) throws -> Row {
        let l = try layer(inner, cfg, seed: o.seed)
        let x = input(cfg, o), T = o.length, b = l.config.ttt.miniBatch
        return withNoGrad {
            let y = l(x)
            let s1 = l.makeState(batch: o.batch)
            let tokens = concat((0..<T).map { l.step(x.slice(axis: 1, $0, $0 + 1), state: s1) }, axis: 1)
            let cut = min(T - 1, b * max(1, (T / 2) / b))                    // an aligned prompt, then tokens
            let s2 = l.makeState(batch: o.batch)
            let split = concat([l.step(x.slice(axis: 1, 0, cut), state: s2)] + (cut..<T).map { l.step(x.slice(axis: 1, $0, $0 + 1), state: s2) }, axis: 1)
            // Control: a state reset after the prompt must change the continuation.
            let s3 = l.makeState(batch: o.batch)
            let fresh = l.makeState(batch: o.batch)
            let reset = concat([l.step(x.slice(axis: 1, 0, cut), state: s3)] + (cut..<T).map { l.step(x.slice(axis: 1, $0, $0 + 1), state: fresh) }, axis: 1)
            let stateNote = inner is NonparametricInnerModel.Type ? "memory grows to \(s1.bytes) B" : "state \(s1.bytes) B"
            return row("decode ≡ prefill", max(relError(tokens, y), relError(split, y)), formTolerance, control: relError(reset, y),
                       note: "token by token, and \(cut) + \(T - cut); \(stateNote); control: state reset after \(cut)")
        }
    }

    // MARK: 4. causality

    static func causality(_ inner: InnerModel.Type, _ cfg: LayerConfig, _ o: Options) throws -> Row {
        let l = try layer(inner, cfg, seed: o.seed)
        let x = input(cfg, o), t0 = o.length / 2
        let x2 = x.copy()
        var rng = RNG(seed: 9 &+ o.seed)
        for bi in 0..<o.batch { for c in 0..<cfg.width { x2.data[(bi * o.length + t0) * cfg.width + c] += Float(rng.normal()) } }
        return withNoGrad {
            let y = l(x), y2 = l(x2)
            let before = relError(y2.slice(axis: 1, 0, t0), y.slice(axis: 1, 0, t0))
            let after = relError(y2.slice(axis: 1, t0, o.length), y.slice(axis: 1, t0, o.length))
            return row("causal: token t changes no output before t", before, 0, control: after,
                       note: "t = \(t0), outputs before t bit-identical; control: outputs from t on change")
        }
    }

    // MARK: 6. custom inner loss

    static func lossDerivative(_ inner: InnerModel.Type, _ o: Options) -> Row {
        let name = "inner loss derivative = finite differences"
        guard inner.features.loss == .custom else {
            return Row(check: name, error: nil, tolerance: nil, control: nil, verdict: .notApplicable,
                       note: inner.features.loss == .squared ? "loss ½‖f(k) − v‖² (the lab's)" : "loss −⟨f(k), v⟩ (the lab's)")
        }
        var rng = RNG(seed: 41 + o.seed)
        let y = Tensor.randn([2, 3, 8], rng: &rng), v = Tensor.randn([2, 3, 8], rng: &rng)
        let w = Tensor.uniform([2, 3, 1], 0.5, 1.5, rng: &rng)
        func loss() -> Double {
            let l = withNoGrad { inner.innerLoss(y, target: v) * w }
            var s = 0.0
            for i in 0..<l.count { s += Double(l.data[i]) }
            return s
        }
        snap(y)
        let g = withNoGrad { inner.innerLossDerivative(y, target: v) * w }
        guard g.shape == y.shape else {
            return Row(check: name, error: .infinity, tolerance: gradientTolerance, control: nil, verdict: .fail,
                       note: "innerLossDerivative returned shape \(g.shape) for predictions \(y.shape)")
        }
        return gradientRow(name, [("ℓ", fdError(y, analytic: g, seed: o.seed, loss))], note: "custom loss")
    }

    // MARK: 5. outer gradients

    /// The ops without a graph VJP that the layer's derived parts meet in create-graph mode — the inner
    /// gradient derived from `forward`, a custom loss's derived derivative — each a stop-gradient in the
    /// outer graph. Found by running those sweeps once, recorded, on small inputs with a recorder.
    static func stopGradientOps(_ inner: InnerModel.Type, headDim d: Int) -> Set<String> {
        if inner is NonparametricInnerModel.Type { return [] }
        let stops = StopGradients()
        let saved = GradMode.enabled
        GradMode.enabled = true
        defer { GradMode.enabled = saved }
        var rng = RNG(seed: 5)
        let θ = (inner.parameters(headDim: d) + inner.optimizerState(headDim: d)).map { Tensor.randn([1] + $0.shape, std: 0.5, rng: &rng).requiringGrad() }
        let x = Tensor.randn([1, 3, d], rng: &rng).requiringGrad(), y = Tensor.randn([1, 3, d], rng: &rng).requiringGrad()
        if !inner.gradientIsHandWritten {
            _ = inner.derivedGradient(x, θ, delta: y, weights: Tensor(repeating: 1, shape: [1, 3, 1]), stopGradients: stops)
        }
        if inner.features.loss == .custom,
           graphOps(of: [inner.innerLossDerivative(x, target: y)]).contains(derivedLossDerivativeOp) {
            _ = inner.derivedInnerLossDerivative(x, target: y, stopGradients: stops)
        }
        return stops.ops
    }

    static func outerGradient(_ inner: InnerModel.Type, _ cfg: LayerConfig, _ o: Options) throws -> Row {
        let name = "outer gradients = finite differences"
        let l = try layer(inner, cfg, seed: o.seed)
        let x = input(cfg, o)
        var rng = RNG(seed: 3 &+ o.seed)
        let r = Tensor.randn([o.batch, o.length, cfg.width], rng: &rng)
        func grads(_ weights: Tensor) -> [Tensor] {
            let saved = GradMode.enabled
            GradMode.enabled = true
            defer { GradMode.enabled = saved }
            for p in l.parameters { p.tensor.zeroGrad() }
            (l(x) * weights).sum().backward()
            return l.parameters.map { $0.tensor.grad ?? Tensor(zeros: $0.tensor.shape) }
        }
        for p in l.parameters { snap(p.tensor) }
        let g = grads(r)
        let stopGradients = stopGradientOps(inner, headDim: cfg.width / cfg.heads)
        func loss() -> Double {
            let y = withNoGrad { l(x) }
            var s = 0.0
            for i in 0..<y.count { s += Double(y.data[i]) * Double(r.data[i]) }
            return s
        }
        let fds = l.parameters.enumerated().map { j, p in (p.name, fdError(p.tensor, analytic: g[j], seed: UInt64(j) &+ o.seed, loss)) }
        let floor = floorFraction * (fds.map(\.1.numericNorm).max() ?? 0)
        let missing = l.parameters.indices.filter { g[$0].array.allSatisfy { $0 == 0 } && !(fds[$0].1.error(floor: floor) <= gradientTolerance) }
            .map { l.parameters[$0].name }
        var note = "\(l.parameters.count) parameters"
        let f = inner.features
        var declared: [String] = []
        if f.decayGate { declared.append("decay gate") }
        if !f.rates.isEmpty { declared.append("rates " + f.rates.map(\.name).joined(separator: ", ")) }
        if f.loss != .squared { declared.append(f.loss == .custom ? "custom loss" : "loss −⟨f(k), v⟩") }
        if f.timing == .applyThenUpdate { declared.append("apply-then-update") }
        if !declared.isEmpty { note += "; contract v2: " + declared.joined(separator: ", ") }
        if !(inner is NonparametricInnerModel.Type) {
            note += "; inner gradient \(inner.gradientIsHandWritten ? "hand-written" : "derived from forward (create-graph)")"
        }
        if !missing.isEmpty { note += "; no gradient reaches \(missing.joined(separator: ", "))" }
        if !stopGradients.isEmpty {
            note += "; ops without a differentiable VJP (a stop-gradient in the outer graph): \(stopGradients.sorted().joined(separator: ", "))"
        }
        let result = gradientRow(name, fds, note: note)
        // A stop-gradient inside the derived inner gradient makes the outer gradient inexact, whatever
        // the finite differences at this size happen to show.
        if stopGradients.isEmpty { return result }
        return Row(check: name, error: result.error, tolerance: result.tolerance, control: result.control, controlBound: result.controlBound,
                   coarse: result.coarse, blind: result.blind, verdict: .fail, note: result.note)
    }
}
