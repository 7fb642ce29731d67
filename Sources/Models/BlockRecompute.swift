// BlockRecompute.swift — activation recomputation for long-context training: each residual block is one
// autodiff node that keeps only its input, and re-runs its forward (recording) inside the backward.
//
//   forward   per block: y = block(x) recorded on a detached x, then the block's graph is dropped;
//             the node keeps x [B, T, D] and the block (its parameters) — nothing per token inside the block
//   backward  given gy: x' = x (leaf), y' = block(x') recorded again — the same code, the same numbers —
//             y'.backward(seed: gy) fills the block's parameter gradients and gx = x'.grad
//   memory    L·B·T·D floats of block inputs + ONE block's saved activations at a time (instead of all L)
//   cost      one extra forward per block per step (≈ a third more work)
//
// Same arithmetic as the keep-everything graph: the recorded forward is run twice on the same input at the
// same thread count, so loss and every gradient are bit-identical (ModelsTests/BlockRecomputeTests.swift).
#if canImport(Glibc)
import Glibc
#endif
import Layers
import TensorCore

/// When `LanguageModel` recomputes each block's activations in the backward instead of keeping them.
///
/// ```swift
/// model.recompute = .always          // long-context training: ≈ one block's activations at a time
/// ```
public enum ActivationRecompute: String, Sendable, CaseIterable {
    /// Recompute when the activations the backward would keep are estimated above
    /// `LanguageModel.recomputeThresholdBytes` (see `LanguageModel.estimatedActivationBytes`).
    case auto
    /// Always recompute (when recording).
    case always
    /// Keep every block's activations (the fastest step).
    case never
}

/// A deliberate fault in the recomputing node, for negative-control tests only.
enum RecomputeFault {
    /// The recomputed forward runs on a slightly perturbed input (x·(1 + 2⁻²⁰)): results no longer bit-identical.
    case perturbedInput
    /// The backward hands back dL/dx but drops the block's parameter gradients.
    case dropParameterGradients
}

extension Block {
    /// The block's parameter tensors (the node's inputs besides x).
    var parameterTensors: [Tensor] { parameters.map(\.tensor) }

    /// x [B, T, D] → [B, T, D] as one recomputing node (same values as `callAsFunction`); the plain call
    /// when not recording.
    func recomputing(_ x: Tensor, fault: RecomputeFault? = nil) -> Tensor {
        let params = parameterTensors
        guard Tensor.recording([x] + params) else { return self(x) }
        // The recorded forward (not the no-grad fast path: its arithmetic may differ), its graph dropped on return.
        let y = self(x.detached().requiringGrad()).detached()
        releaseCaches()
        return y.recordingFused("block (recomputed)", [x] + params) { gy in
            let gx = self.recomputedBackward(x, gy: gy, params: params, fault: fault)   // its graph is gone on return
            self.releaseCaches()
            return [gx] + params.map { _ in nil }
        }
    }

    /// After a block's graph is dropped: its TTT layer's cached θ-snapshot buffer goes (one block's at a time,
    /// not one per layer) and the heap's free pages go back to the kernel.
    private func releaseCaches() {
        (mixer as? TTTLayer)?.releaseTrainingWorkspace()
        HeapTrim.now()
    }

    /// The backward of `recomputing`: re-runs the block recorded on x and back-propagates gy; parameter
    /// gradients accumulate into their `.grad`; returns dL/dx.
    private func recomputedBackward(_ x: Tensor, gy: Tensor, params: [Tensor], fault: RecomputeFault?) -> Tensor? {
        let xr = x.detached().requiringGrad()
        let input = fault == .perturbedInput ? withNoGrad { xr * (1 + 1.0 / 1_048_576) }.detached().requiringGrad() : xr
        let saved = GradMode.enabled
        GradMode.enabled = true                         // VJPs run under no-grad; the recompute must record
        let yr = self(input)
        GradMode.enabled = saved
        let old = params.map(\.grad)
        yr.backward(seed: gy)                           // parameter gradients accumulate into their .grad
        if fault == .dropParameterGradients { for (p, g) in zip(params, old) { p.grad = g } }
        return input.grad
    }
}

/// Hands the free pages inside the heap back to the kernel (glibc `malloc_trim(0)`; a no-op elsewhere).
/// The allocator keeps tensor blocks up to 32 MiB in the heap (Storage.allocatorTuned), where a freed block
/// between live ones stays resident; a block's dropped graph leaves many. Called once per block forward and
/// backward when recomputing, so the next block's buffers reuse or re-fault only what they touch.
enum HeapTrim {
    #if canImport(Glibc)
    typealias Trim = @convention(c) (Int) -> Int32
    static let trim: Trim? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim").map { unsafeBitCast($0, to: Trim.self) }
    #endif
    static func now() {
        #if canImport(Glibc)
        _ = trim?(0)
        #endif
    }
}

extension LanguageModel {
    /// Recompute above this estimate of kept activations (`.auto`): 512 MiB.
    public static let recomputeThresholdBytes = 512.0 * 1_048_576

    /// Estimated bytes the backward keeps when every block's activations are kept, for B·T tokens:
    /// ≈ 40·D + 4·I floats per token per block (measured ≈ 41·D + 3·I on the tiny TTT-Linear LM) plus
    /// the logits and their gradient.
    public func estimatedActivationBytes(tokens: Int) -> Double {
        let D = Double(config.width), I = config.hasMLP ? Double(config.mlpHidden) : 0
        return 4 * Double(tokens) * (Double(config.layers) * (40 * D + 4 * I) + 2 * Double(config.vocab))
    }

    /// Whether a recorded forward over `tokens` tokens recomputes block activations in the backward.
    public func recomputes(tokens: Int) -> Bool {
        switch recompute {
        case .always: return true
        case .never: return false
        case .auto: return estimatedActivationBytes(tokens: tokens) > Self.recomputeThresholdBytes
        }
    }
}
