// LanguageModel.swift — embedding → L residual blocks → RMSNorm → tied output head (docs/ttt.md §3).
//
//   x₀ = E[ids]                                                  E: [V, D], N(0, 0.02)
//   per block ℓ:
//     if pre-conv:  x ← x + CConv_pre(RMSNorm_c(x))              depthwise causal conv, width k, with bias
//     if short conv: x ← x + CConv(u·W_in) ⊙ (u·W_g), u = RMSNorm(x)   gated, ShortConv.swift (option)
//     x ← x + Layer(RMSNorm_s(x))                                TTT / attention / linear attention / Mamba
//     if MLP:       x ← x + SwiGLU(RMSNorm_f(x))                 (silu(u·W1) ⊙ (u·W3))·W2
//   logits = RMSNorm_final(x)·Eᵀ                                 tied to the embedding
import Foundation
import Layers
import TensorCore
import Zoo

/// SwiGLU MLP: `(silu(u·W1) ⊙ (u·W3))·W2`, W1, W3: [D, I], W2: [I, D], no biases (docs/ttt.md §3).
public final class SwiGLU {
    public let w1: Tensor, w3: Tensor, w2: Tensor

    init(width D: Int, hidden I: Int, rng: inout RNG) {
        w1 = Init.normal([D, I], rng: &rng)
        w3 = Init.normal([D, I], rng: &rng)
        w2 = Init.normal([I, D], rng: &rng)
    }

    /// u [B, T, D] → [B, T, D] on `kernels`: `.fused` is one node (FusedSwiGLU.swift), `.reference` the op chain.
    public func callAsFunction(_ u: Tensor, kernels: KernelPath = .fused) -> Tensor {
        kernels == .fused ? fused(u) : reference(u)
    }

    /// The readable op chain (five autodiff nodes); the fused node is held against it in tests.
    public func reference(_ u: Tensor) -> Tensor {
        let gate = matmul(u, w1).silu()                  // [B, T, I]
        let up = matmul(u, w3)                           // [B, T, I]
        return matmul(gate * up, w2)                     // [B, T, D]
    }

    /// PyTorch names (gate_proj = W1, up_proj = W3, down_proj = W2), stored `(out, in)`.
    var parameters: [Param] {
        [.linear("gate_proj.weight", w1), .linear("up_proj.weight", w3), .linear("down_proj.weight", w2)]
    }
}

/// The pre-conv residual sub-block of the TTT Mamba backbone: `x + CConv(RMSNorm_c(x))` (docs/ttt.md §3).
/// Conv weight [k, D] (tap k−1 on the current token), flax lecun_normal init (std 1/√k), bias 0.
public final class PreConv {
    public let norm: Tensor, weight: Tensor, bias: Tensor
    let k: Int

    init(width D: Int, convWidth k: Int, rng: inout RNG) {
        self.k = k
        norm = Init.ones([D])
        weight = Init.normal([k, D], std: 1 / Float(k).squareRoot(), rng: &rng)
        bias = Init.zeros([D])
    }

    /// The residual branch CConv(RMSNorm_c(x)) for x [B, T, D] (not the sum).
    func branch(_ x: Tensor) -> Tensor { causalConv1d(x.rmsNorm(weight: norm), weight: weight, bias: bias) }

    /// The branch for a chunk x [B, t, D] that continues `history` (the last k−1 normalized rows, [B, k−1, D]).
    func step(_ x: Tensor, history: inout Tensor) -> Tensor {
        let u = x.rmsNorm(weight: norm)
        let full = concat([history, u], axis: 1)                            // [B, k−1+t, D]
        let n = full.dim(1), t = x.dim(1)
        history = full.slicedRaw(axis: 1, n - (k - 1), n).copy()
        return causalConv1d(full, weight: weight, bias: bias).slicedRaw(axis: 1, n - t, n)
    }

    /// PyTorch names of `Conv` in ttt.py: `norm.weight`, `conv.weight` (D, 1, k), `conv.bias`.
    var parameters: [Param] {
        [Param("norm.weight", norm),
         Param("conv.weight", weight, transposeInFile: true, fileShape: [weight.dim(1), 1, k]),
         Param("conv.bias", bias)]
    }
}

/// One residual block around a sequence layer (docs/ttt.md §3).
public final class Block {
    public let preConv: PreConv?
    public let shortConv: ShortConv?
    public let seqNorm: Tensor
    public let mixer: SequenceLayer
    public let ffnNorm: Tensor?
    public let mlp: SwiGLU?
    /// Kernels of the block's own parts (SwiGLU); the mixer keeps its own `kernels` (LanguageModel sets both).
    public var kernels: KernelPath

    /// Block `index` of `config`: its layer, backbone and MLP from `config.blockLayers[index]` (HybridStack.swift).
    init(_ config: ModelConfig, index: Int, rng: inout RNG) throws {
        let D = config.width
        preConv = config.blockBackbones[index] == .tttMamba ? PreConv(width: D, convWidth: config.convWidth, rng: &rng) : nil
        if let k = config.shortConv {
            var convRNG = rng.split()
            shortConv = ShortConv(width: D, kernel: k, rng: &convRNG)
        } else {
            shortConv = nil
        }
        seqNorm = Init.ones([D])
        var layerRNG = rng.split()
        mixer = try config.blockLayers[index].make(config.layerConfig(block: index), rng: &layerRNG)
        if !config.hasMLP(block: index) {
            ffnNorm = nil; mlp = nil
        } else {
            ffnNorm = Init.ones([D])
            mlp = SwiGLU(width: D, hidden: config.mlpHidden, rng: &rng)
        }
        kernels = mixer.kernels
    }

    /// x [B, T, D] → [B, T, D], differentiable.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var x = x
        if let preConv { x = x + preConv.branch(x) }
        if let shortConv { x = x + shortConv.branch(x) }
        x = x + mixer(x.rmsNorm(weight: seqNorm))
        if let mlp, let ffnNorm { x = x + mlp(x.rmsNorm(weight: ffnNorm), kernels: kernels) }
        return x
    }

    /// Recurrent form over a chunk x [B, t, D], advancing `state` (no gradient).
    func step(_ x: Tensor, state: BlockState) -> Tensor {
        var x = x
        if let preConv { x = x + preConv.step(x, history: &state.convHistory!) }
        if let shortConv { x = x + shortConv.step(x, history: &state.shortConvHistory!) }
        x = x + mixer.step(x.rmsNorm(weight: seqNorm), state: state.mixer)
        if let mlp, let ffnNorm { x = x + mlp(x.rmsNorm(weight: ffnNorm), kernels: kernels) }
        return x
    }

    /// Names follow the PyTorch TTT model: `conv.*`, `seq_norm.weight`, `seq_modeling_block.*`,
    /// `ffn_norm.weight`, `feed_forward.*`.
    var parameters: [Param] {
        var p: [Param] = []
        if let preConv { p += preConv.parameters.map { $0.prefixed("conv.") } }
        if let shortConv { p += shortConv.parameters.map { $0.prefixed("short_conv.") } }
        p.append(Param("seq_norm.weight", seqNorm))
        p += mixer.parameters.map { $0.prefixed("seq_modeling_block.") }
        if let ffnNorm { p.append(Param("ffn_norm.weight", ffnNorm)) }
        if let mlp { p += mlp.parameters.map { $0.prefixed("feed_forward.") } }
        return p
    }
}

/// Per-block decode state: the sequence layer's state and the pre-conv history.
final class BlockState {
    let mixer: LayerState
    var convHistory: Tensor?
    /// The short conv's last k−1 projected rows (nil without a short conv).
    var shortConvHistory: Tensor?
    init(mixer: LayerState, convHistory: Tensor?, shortConvHistory: Tensor? = nil) {
        self.mixer = mixer; self.convHistory = convHistory; self.shortConvHistory = shortConvHistory
    }
}

/// Decode state of a whole model for a batch of sequences.
public final class ModelState {
    let blocks: [BlockState]
    /// Tokens processed so far.
    public private(set) var position = 0
    init(blocks: [BlockState]) { self.blocks = blocks }
    func advance(_ t: Int) { position += t }
    /// Bytes held by the layers' states.
    public var bytes: Int {
        blocks.reduce(0) { $0 + $1.mixer.bytes + 4 * ($1.convHistory?.count ?? 0) + 4 * ($1.shortConvHistory?.count ?? 0) }
    }
}

extension Param {
    /// The same parameter under `prefix + name`.
    func prefixed(_ prefix: String) -> Param {
        Param(prefix + name, tensor, transposeInFile: transposeInFile, fileShape: fileShape)
    }
}

/// A causal language model over any sequence layer of the registry (docs/ttt.md §3).
///
/// ```swift
/// let model = try LanguageModel(config: .preset("tiny", layer: "ttt-linear"), seed: 0)
/// let loss = model.loss(inputs: ids, targets: next, batch: B)   // ids, next: B·T token ids
/// loss.backward()
/// let state = model.makeState(batch: 1)
/// let logits = model.step(promptIDs, batch: 1, state: state)    // prefill, then one id at a time
/// ```
public final class LanguageModel {
    public let config: ModelConfig
    /// Token embedding E [V, D], also the output head (tied).
    public let embedding: Tensor
    public let blocks: [Block]
    public let finalNorm: Tensor

    /// Builds the model with every parameter drawn from `seed` (one RNG stream, split per block).
    public init(config: ModelConfig, seed: UInt64) throws {
        try config.validate()
        self.config = config
        var rng = RNG(seed: seed)
        embedding = Init.normal([config.vocab, config.width], rng: &rng)
        var bs: [Block] = []
        for i in 0..<config.layers {
            var blockRNG = rng.split()
            bs.append(try Block(config, index: i, rng: &blockRNG))
        }
        blocks = bs
        finalNorm = Init.ones([config.width])
        kernels = bs.first?.mixer.kernels ?? .fused
    }

    /// All trainable parameters, in a stable order, with PyTorch-style names
    /// (`model.embed_tokens.weight`, `model.layers.{i}.…`, `model.norm.weight`).
    public var parameters: [Param] {
        var p: [Param] = [Param("model.embed_tokens.weight", embedding)]
        for (i, b) in blocks.enumerated() { p += b.parameters.map { $0.prefixed("model.layers.\(i).") } }
        p.append(Param("model.norm.weight", finalNorm))
        return p
    }

    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.tensor.count } }

    /// The kernels of every block's sequence layer and SwiGLU and of the loss (fused by default;
    /// `.reference` for the readable op chains). Setting it sets every block and mixer.
    public var kernels: KernelPath {
        didSet { for b in blocks { b.kernels = kernels; b.mixer.kernels = kernels } }
    }

    /// Whether training recomputes each block's activations in the backward instead of keeping them
    /// (BlockRecompute.swift): `.auto` (default) does above an estimated 512 MiB of kept activations
    /// (`tiny` at B·T = 8192), `.always`, `.never`. Same numbers either way. Not saved with a run.
    public var recompute: ActivationRecompute = .auto
    /// A deliberate fault in the recomputing node (negative-control tests only).
    var recomputeFault: RecomputeFault? = nil

    /// Sets ρ = ttt_lr_mult on every TTT layer (docs/ttt.md §1.4; TTT-MLP warms it up during training).
    public func setTTTLearningRateMultiplier(_ rho: Float) {
        for b in blocks { (b.mixer as? TTTLayer)?.lrMult = rho }
    }

    func checkIDs(_ ids: [Int], batch: Int) {
        precondition(batch > 0 && ids.count % batch == 0, "LanguageModel: \(ids.count) ids do not split into \(batch) sequences")
    }

    /// Hidden states before the final norm: ids (B·T, row-major [B, T]) → [B, T, D].
    public func hidden(_ ids: [Int], batch B: Int) -> Tensor {
        checkIDs(ids, batch: B)
        var x = TensorCore.embedding(embedding, ids).reshape([B, ids.count / B, config.width])   // [B, T, D]
        if GradMode.enabled && recomputes(tokens: ids.count) {
            for b in blocks { x = b.recomputing(x, fault: recomputeFault) }
        } else {
            for b in blocks { x = b(x) }
        }
        return x
    }

    /// Logits [B, T, V] for ids [B, T] (parallel forward, differentiable).
    public func logits(_ ids: [Int], batch B: Int) -> Tensor {
        head(hidden(ids, batch: B))
    }

    /// RMSNorm_final(x)·Eᵀ: [B, T, D] → [B, T, V].
    func head(_ x: Tensor) -> Tensor { matmul(x.rmsNorm(weight: finalNorm), embedding, transB: true) }

    /// Mean next-token cross-entropy in nats: `targets[i]` is the token after `inputs[i]`.
    public func loss(inputs: [Int], targets: [Int], batch B: Int) -> Tensor {
        precondition(inputs.count == targets.count, "loss: \(inputs.count) inputs but \(targets.count) targets")
        let lg = logits(inputs, batch: B).reshape([inputs.count, config.vocab])
        return kernels == .fused ? fusedCrossEntropy(lg, targets: targets) : lg.crossEntropy(targets: targets)
    }

    // MARK: recurrent form

    /// An empty decode state for `batch` sequences.
    public func makeState(batch: Int) -> ModelState {
        ModelState(blocks: blocks.map { b in
            BlockState(mixer: b.mixer.makeState(batch: batch),
                       convHistory: b.preConv.map { _ in Tensor(zeros: [batch, config.convWidth - 1, config.width]) },
                       shortConvHistory: b.shortConv.map { Tensor(zeros: [batch, $0.k - 1, config.width]) })
        })
    }

    /// Runs ids [B, t] (t ≥ 1; a prompt, or one token) through the recurrent form, advancing
    /// `state`; returns logits [B, t, V]. No gradient.
    public func step(_ ids: [Int], batch B: Int, state: ModelState) -> Tensor {
        checkIDs(ids, batch: B)
        return withNoGrad {
            var x = TensorCore.embedding(embedding, ids).reshape([B, ids.count / B, config.width])
            for (b, s) in zip(blocks, state.blocks) { x = b.step(x, state: s) }
            state.advance(ids.count / B)
            return head(x)
        }
    }

    // MARK: accounting (docs/ttt.md §5)

    /// Analytic forward FLOPs per token at `context`: the layers' own count, the SwiGLU `6DI`,
    /// the pre-conv `2Dk`, and the LM head `2DV` (embedding lookup and norms ignored; docs/ttt.md §5).
    public func flopsPerToken(context: Int) -> Double {
        config.flops(mixerFlops: blocks.map { $0.mixer.flopsPerToken(context: context) })
    }
}

extension ModelConfig {
    /// The model's FLOP sum given each block's sequence-layer FLOPs (docs/ttt.md §5); each block's MLP and
    /// pre-conv as its backbone has them (HybridStack.swift).
    func flops(mixerFlops: [Double]) -> Double {
        let D = Double(width)
        let bbs = blockBackbones
        var f = 2 * D * Double(vocab)                                       // tied head
        for (i, m) in mixerFlops.enumerated() {
            f += m
            if hasMLP(block: i) { f += 6 * D * Double(mlpHidden) }          // SwiGLU
            if let k = shortConv { f += 4 * D * D + 2 * D * Double(k) + D } // short conv: 2 projections, conv, gate
            if bbs[i] == .tttMamba { f += 2 * D * Double(convWidth) }       // pre-conv
        }
        return f
    }

    /// Forward FLOPs per token without allocating the model (for FLOP tables at the paper's sizes):
    /// builds one sequence layer per distinct block layer and adds the rest analytically.
    /// Equals `LanguageModel(config:).flopsPerToken(context:)`.
    public func flopsPerToken(context: Int) throws -> Double {
        try validate()
        return flops(mixerFlops: try blockMixers().map { $0.flopsPerToken(context: context) })
    }

    /// Parameter count without allocating the model (one sequence layer per distinct block layer is built).
    /// Equals `LanguageModel(config:).parameterCount`.
    public func parameterCount() throws -> Int {
        try validate()
        let mixers = try blockMixers(), bbs = blockBackbones
        var blocks = 0
        for i in mixers.indices {
            var perBlock = mixers[i].parameterCount + width                 // + seq_norm
            if hasMLP(block: i) { perBlock += width + 3 * width * mlpHidden }   // ffn_norm + SwiGLU
            if let k = shortConv { perBlock += ShortConv.parameterCount(width: width, kernel: k) }
            if bbs[i] == .tttMamba { perBlock += width + (convWidth + 1) * width }   // pre-conv norm, weight, bias
            blocks += perBlock
        }
        return vocab * width + blocks + width                               // embedding (tied) + blocks + final norm
    }
}
