// FlopAccounting.swift — counted vs analytic forward FLOPs per token of one layer (docs/ttt.md §5,
// docs/baselines.md §5), and the whole-model FLOP budget of the paper's Fig. 2 FLOP matching.
import Layers
import TensorCore
import Zoo

/// Which forward of a layer is run and counted. Each analytic formula describes one way of computing
/// the layer, so the counted run must be that one.
public enum FlopForm: String, Sendable, CaseIterable {
    /// The parallel forward `layer(x)` (prefill/training). TTT: dual form; Mamba: parallel scan;
    /// attention: the dense masked `T×T` score matrix (every token charged for the full context T).
    case prefill
    /// The recurrent path `layer.step` one token at a time. Attention: the KV cache, token t attends to
    /// t keys, so the per-token average is the causal average `8D² + 2D(T+1)`.
    case decode
    /// Linear attention's recurrent form (`S += kᵀv; z = q·S`), the form its `4Dd` formula describes
    /// (the default chunked form adds `4D·c` for the intra-chunk products, docs/baselines.md §2).
    case recurrent

    public var label: String {
        switch self {
        case .prefill: return "prefill"
        case .decode: return "decode (KV cache)"
        case .recurrent: return "recurrent"
        }
    }
}

/// One layer × width × length: the analytic FLOPs per token split into the GEMM terms and the terms of
/// the formula that the tensor core runs as elementwise loops (depthwise convs, the selective scan),
/// beside what the tensor core counted.
public struct FlopMeasurement: Sendable {
    public let layer: String
    public let form: FlopForm
    public let width: Int, heads: Int, length: Int
    /// The formula (`flopsPerToken(context: T)`, or the causal average for attention decode).
    public let analytic: Double
    /// The formula's terms that are not matrix products: convs `2·C·k` and the scan `9·E·D·N`
    /// (Mamba, ttt-*-m); zero for the other layers.
    public let analyticNonGEMM: Double
    /// `FLOPCounter.matmul` per token of the counted run.
    public let countedMatmul: Double
    /// `FLOPCounter.elementwise` per token of the counted run (everything that is not a GEMM).
    public let countedElementwise: Double
    /// The part of `countedElementwise` spent in the ops the formula includes (convs, scan): the
    /// tensor core's count for those ops run alone at the layer's shapes.
    public let countedNonGEMM: Double

    public var analyticGEMM: Double { analytic - analyticNonGEMM }
    /// What is compared with `analytic`: GEMMs plus the convs/scan the formula includes.
    public var countedComparable: Double { countedMatmul + countedNonGEMM }
    /// (counted − analytic) / analytic.
    public var relativeDifference: Double { (countedComparable - analytic) / analytic }
    /// (counted matmul − analytic GEMM terms) / analytic GEMM terms.
    public var gemmRelativeDifference: Double { (countedMatmul - analyticGEMM) / analyticGEMM }
    /// Elementwise FLOPs the formulas ignore (norms, activations, RoPE, softmax, LN backward, gates, …).
    public var elementwiseRemainder: Double { countedElementwise - countedNonGEMM }
    /// `elementwiseRemainder` as a fraction of everything counted.
    public var remainderFraction: Double { elementwiseRemainder / (countedMatmul + countedElementwise) }
}

/// Runs layers' readable reference paths under `withNoGrad` and reads `FLOPCounter`. The fast kernels
/// (`Sources/Layers/*/*Fused.swift`) are switched off here: they skip masked attention tiles and fuse elementwise
/// work, so the counter would describe a kernel rather than the formula's operations.
public enum FlopAccounting {
    /// The form a layer's formula describes when run as a prefill: linear attention → recurrent.
    public static func defaultForm(_ name: String) -> FlopForm { name == "linear-attention" ? .recurrent : .prefill }

    /// Builds `name` at `config`, runs the `form` forward on `x ~ N(0,1)` of shape [batch, length, D] and
    /// returns the counted and analytic FLOPs per token. Deterministic (counts do not depend on values).
    public static func measure(_ name: String, config: LayerConfig, length: Int, form: FlopForm? = nil,
                               batch: Int = 1, seed: UInt64 = 0) throws -> FlopMeasurement {
        let layer = try LayerRegistry.make(name, config, seed: seed)
        return measure(layer, name: name, length: length, form: form ?? defaultForm(name), batch: batch, seed: seed)
    }

    /// As above for an already built layer.
    public static func measure(_ layer: SequenceLayer, name: String, length T: Int, form: FlopForm,
                               batch B: Int = 1, seed: UInt64 = 0) -> FlopMeasurement {
        let D = layer.config.width
        var rng = RNG(seed: 9000 &+ seed)
        let x = Tensor.randn([B, T, D], rng: &rng)
        let counted: (matmul: Int, elementwise: Int) = layer.withKernels(.reference) { withNoGrad {
            switch form {
            case .prefill:
                return FLOPCounter.measure { _ = layer(x) }
            case .decode:
                let state = layer.makeState(batch: B)
                return FLOPCounter.measure { for t in 0..<T { _ = layer.step(x.slicedRaw(axis: 1, t, t + 1), state: state) } }
            case .recurrent:
                guard let la = layer as? LinearAttention else { preconditionFailure("recurrent form: \(name) is not linear attention") }
                let saved = la.form
                defer { la.form = saved }
                la.form = .recurrent
                return FLOPCounter.measure { _ = la(x) }
            }
        } }
        let analytic: Double
        if form == .decode, let attn = layer as? SelfAttention {
            analytic = attn.causalAverageFlopsPerToken(length: T)
        } else {
            analytic = layer.flopsPerToken(context: T)
        }
        let tokens = Double(B * T)
        return FlopMeasurement(layer: name, form: form, width: D, heads: layer.config.heads, length: T,
                               analytic: analytic, analyticNonGEMM: analyticNonGEMM(layer),
                               countedMatmul: Double(counted.matmul) / tokens,
                               countedElementwise: Double(counted.elementwise) / tokens,
                               countedNonGEMM: Double(countedNonGEMM(layer, batch: B, length: T)) / tokens)
    }

    /// The non-GEMM terms of the layer's formula, per token: Mamba `9·E·D·N + 2·E·D·k` (scan, conv;
    /// docs/baselines.md §5), Mamba-backbone TTT `4·D·k` (two causal convs; docs/ttt.md §5), else 0.
    public static func analyticNonGEMM(_ layer: SequenceLayer) -> Double {
        if let m = layer as? Mamba { return Double(9 * m.inner * m.stateSize + 2 * m.inner * m.convWidth) }
        if let t = layer as? TTTLayer, t.config.ttt.backbone == .mamba { return Double(4 * t.D * t.config.convWidth) }
        return 0
    }

    /// The tensor core's elementwise count for the convs and the scan of one forward, measured by running
    /// exactly those ops alone at the layer's shapes (zeros in; counts do not depend on values).
    public static func countedNonGEMM(_ layer: SequenceLayer, batch B: Int, length T: Int) -> Int {
        layer.withKernels(.reference) { withNoGrad {
            if let m = layer as? Mamba {
                let (c, n, k) = (m.inner, m.stateSize, m.convWidth)
                let u = Tensor(zeros: [B, T, c])
                return FLOPCounter.measure {
                    _ = causalConv1d(u, weight: Tensor(zeros: [k, c]), bias: Tensor(zeros: [c]))
                    _ = selectiveScan(u, delta: u, A: Tensor(zeros: [c, n]), Bm: Tensor(zeros: [B, T, n]),
                                      Cm: Tensor(zeros: [B, T, n]), Dskip: Tensor(zeros: [c]))
                }.elementwise
            }
            if let t = layer as? TTTLayer, t.config.ttt.backbone == .mamba {
                let (c, k) = (t.D, t.config.convWidth)
                let u = Tensor(zeros: [B, T, c])
                return FLOPCounter.measure {
                    for _ in 0..<2 { _ = causalConv1d(u, weight: Tensor(zeros: [k, c]), bias: Tensor(zeros: [c])) }
                }.elementwise
            }
            return 0
        } }
    }
}

/// Whole-model forward FLOPs per token (docs/ttt.md §3 block, §5 table): `blocks × (layer + SwiGLU 6DI +
/// pre-conv 2Dk) + LM head 2DV`. Embedding lookup and RMSNorms are not counted (as in §5).
public struct ModelFlops: Sendable {
    public let name: String
    public let blocks: Int
    /// SwiGLU intermediate size (0: no MLP, as in a Mamba stack).
    public let intermediate: Int
    /// Pre-conv residual sub-block (Mamba backbone of TTT, docs/ttt.md §3), `2Dk` per block.
    public let preConv: Bool
    /// Analytic FLOPs per token of one sequence layer at the model's context.
    public let layer: Double
    public let width: Int, vocab: Int, convWidth: Int
    /// The paper's number (GFLOP/token), or nil.
    public let paper: Double?

    public init(name: String, blocks: Int, intermediate: Int, preConv: Bool, layer: Double, width: Int,
                vocab: Int = 32000, convWidth: Int = 4, paper: Double?) {
        self.name = name; self.blocks = blocks; self.intermediate = intermediate; self.preConv = preConv
        self.layer = layer; self.width = width; self.vocab = vocab; self.convWidth = convWidth; self.paper = paper
    }

    public var mlp: Double { Double(6 * width * intermediate) }
    public var conv: Double { preConv ? Double(2 * width * convWidth) : 0 }
    public var head: Double { Double(2 * width * vocab) }
    public var perBlock: Double { layer + mlp + conv }
    public var total: Double { Double(blocks) * perBlock + head }
}
