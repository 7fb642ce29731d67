// Matmul.swift — (batched) matrix products through cblas_sgemm, split across cores.
import CBLAS

/// Raw row-major GEMM: C[m×n] = op(A)·op(B) (+ beta·C). No recording, no FLOP counting.
@inline(__always)
public func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                  _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
                  _ c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float = 1, beta: Float = 0) {
    let t0 = GEMMClock.enabled ? GEMMClock.now() : 0
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    if t0 != 0 { GEMMClock.add(since: t0) }
}

/// GEMM split over the workers when it is large enough to pay for it: C = op(A)·op(B), A, B, C dense
/// (lda, ldb, ldc from the shapes).
///
/// - many rows of C (activations × weights): rows of C split, each worker packs the shared op(B);
/// - few rows and a long reduction (weight gradients Xᵀ·G over B·T tokens, `k ≥ 4m`): the reduction is
///   split instead — each worker packs only its slice of both operands, writes a partial C, and the
///   partials are added in worker order (deterministic at a fixed thread count).
@inline(__always)
public func sgemmSplit(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                       _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>) {
    let lda = transA ? m : k, ldb = transB ? k : n
    let workers = Parallel.threads
    guard workers > 1 && m * n * k >= 1 << 18 else {
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a, lda: lda, b, ldb: ldb, c, ldc: n)
        return
    }
    if k >= 4 * m && k >= 2 * workers {
        // Reduction split: worker w computes op(A)[:, kw]·op(B)[kw, :] into C (w = 0) or its partial.
        let parts = workers
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: (parts - 1) * m * n)
        defer { scratch.deallocate() }
        Parallel.forEach(parts) { w in
            let lo = k * w / parts, hi = k * (w + 1) / parts
            let dst = w == 0 ? c : scratch + (w - 1) * m * n
            // A's columns lo..<hi (rows when stored transposed); B's rows lo..<hi (columns when transposed).
            let aw = transA ? a + lo * lda : a + lo, bw = transB ? b + lo : b + lo * ldb
            sgemm(transA: transA, transB: transB, m: m, n: n, k: hi - lo, aw, lda: lda, bw, ldb: ldb, dst, ldc: n)
        }
        Parallel.chunks(m * n, minPerThread: 1 << 13) { lo, hi in
            for w in 0..<(parts - 1) {
                let src = scratch + w * m * n
                for i in lo..<hi { c[i] += src[i] }
            }
        }
    } else if m >= 2 * workers {
        Parallel.chunks(m) { lo, hi in
            // Rows lo..<hi of op(A): row offset in A, or column offset when A is stored transposed.
            let aOff = transA ? lo : lo * lda
            sgemm(transA: transA, transB: transB, m: hi - lo, n: n, k: k, a + aOff, lda: lda, b, ldb: ldb, c + lo * n, ldc: n)
        }
    } else {
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a, lda: lda, b, ldb: ldb, c, ldc: n)
    }
}

/// Batched product without recording: `a [..., m, k]` (or `[..., k, m]` if transA) times
/// `b [..., k, n]` (or `[..., n, k]`); leading dims equal, or either operand 2-D (shared).
public func matmulRaw(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false) -> Tensor {
    checkShape(a.rank >= 2 && b.rank >= 2, "matmul: operands need rank ≥ 2, got \(a.shape) and \(b.shape)")
    let ar = a.shape.suffix(2), br = b.shape.suffix(2)
    let m = transA ? ar.last! : ar.first!, ka = transA ? ar.first! : ar.last!
    let kb = transB ? br.last! : br.first!, n = transB ? br.first! : br.last!
    checkShape(ka == kb, "matmul: inner dimensions differ: \(a.shape)\(transA ? "ᵀ" : "") · \(b.shape)\(transB ? "ᵀ" : "")")
    let la = Array(a.shape.dropLast(2)), lb = Array(b.shape.dropLast(2))
    let k = ka
    let lead: [Int]
    if la == lb { lead = la } else if lb.isEmpty { lead = la } else if la.isEmpty { lead = lb } else {
        preconditionFailure("matmul: leading dimensions differ: \(a.shape) · \(b.shape)")
    }
    let batch = lead.reduce(1, *)
    let out = Tensor(uninitializedShape: lead + [m, n])
    FLOPCounter.matmul += 2 * batch * m * n * k
    if batch == 0 || m == 0 || n == 0 { return out }
    if k == 0 { out.data.initialize(repeating: 0, count: out.count); return out }
    let pa = UnsafePointer(a.data), pb = UnsafePointer(b.data), pc = out.data
    if lb.isEmpty && !transA {
        // Shared right operand: fold the batch into the rows of one GEMM.
        sgemmSplit(transA: false, transB: transB, m: batch * m, n: n, k: k, pa, pb, pc)
        return out
    }
    let sa = la.isEmpty ? 0 : m * k, sb = lb.isEmpty ? 0 : k * n
    if batch >= Parallel.threads || batch * m * n * k < 1 << 18 {
        Parallel.forEach(batch) { i in
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, pa + i * sa, lda: transA ? m : k,
                  pb + i * sb, ldb: transB ? k : n, pc + i * m * n, ldc: n)
        }
    } else {
        for i in 0..<batch { sgemmSplit(transA: transA, transB: transB, m: m, n: n, k: k, pa + i * sa, pb + i * sb, pc + i * m * n) }
    }
    return out
}

/// Matrix product `op(a)·op(b)` over the last two dims, batched over the leading ones.
///
/// ```swift
/// let y = matmul(x, w)                 // x [B, T, D], w [D, E] → [B, T, E]
/// let s = matmul(q, k, transB: true)   // q, k [BH, T, d] → [BH, T, T]
/// ```
public func matmul(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false) -> Tensor {
    let out = matmulRaw(a, b, transA: transA, transB: transB)
    let graph: (Tensor) -> [Tensor?] = { g in
        // The same products as the VJP below, recorded (create-graph mode).
        var ga: Tensor? = nil, gb: Tensor? = nil
        if a.requiresGrad {
            ga = transA ? matmul(b, g, transA: transB, transB: true) : matmul(g, b, transB: !transB)
            if ga!.rank > a.rank { ga = ga!.reshape([-1] + Array(a.shape)).sum(axis: 0) }
        }
        if b.requiresGrad {
            if b.rank == 2 && a.rank > 2 && !transA {
                let af = a.reshape([-1, a.shape.last!]), gf = g.reshape([-1, g.shape.last!])
                gb = transB ? matmul(gf, af, transA: true) : matmul(af, gf, transA: true)
            } else {
                gb = transB ? matmul(g, a, transA: true, transB: transA) : matmul(a, g, transA: !transA)
                if gb!.rank > b.rank { gb = gb!.reshape([-1] + Array(b.shape)).sum(axis: 0) }
            }
        }
        return [ga, gb]
    }
    return out.recorded("matmul", [a, b], graph: graph) { g in
        var ga: Tensor? = nil, gb: Tensor? = nil
        if a.requiresGrad {
            ga = transA ? matmulRaw(b, g, transA: transB, transB: true) : matmulRaw(g, b, transB: !transB)
            if ga!.rank > a.rank { ga = ga!.reshaped([-1] + Array(a.shape)).sumRaw(axis: 0) }
        }
        if b.requiresGrad {
            if b.rank == 2 && a.rank > 2 && !transA {
                // Fold the batch: dB = A_flatᵀ·G_flat (or its transpose).
                let af = a.reshaped([-1, a.shape.last!]), gf = g.reshaped([-1, g.shape.last!])
                gb = transB ? matmulRaw(gf, af, transA: true) : matmulRaw(af, gf, transA: true)
            } else {
                gb = transB ? matmulRaw(g, a, transA: true, transB: transA) : matmulRaw(a, g, transA: !transA)
                if gb!.rank > b.rank { gb = gb!.reshaped([-1] + Array(b.shape)).sumRaw(axis: 0) }
            }
        }
        return [ga, gb]
    }
}
