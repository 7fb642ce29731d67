// Tensor.swift — Float32 N-d tensors, row-major and contiguous, with an optional autodiff node.

/// Owns one contiguous Float32 buffer (64-byte aligned, freed on deinit).
public final class Storage: @unchecked Sendable {
    public let ptr: UnsafeMutablePointer<Float>
    public let count: Int
    init(count: Int) {
        self.count = count
        _ = Storage.allocatorTuned
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        ptr = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        AllocationMeter.allocated(max(count, 1) * 4)
    }
    deinit { UnsafeMutableRawPointer(ptr).deallocate(); AllocationMeter.freed(max(count, 1) * 4) }

    /// glibc serves blocks above 128 KiB (growing to 32 MiB) with fresh mmaps, so every large tensor
    /// would pay page faults on first touch — ~4% of a 1024³ GEMM. Keeping blocks up to 32 MiB in the
    /// heap (and not trimming it) lets freed tensor buffers be reused warm. The heap's top is never trimmed
    /// on free (threshold 2 GiB): a step that frees more than the old 256 MiB threshold (the recall study's
    /// 4-block D 64 model at 64 × 256 tokens keeps ≈ 0.7 GB) handed it back to the kernel after every step
    /// and re-faulted it (zeroed pages) in the next — ≈ 17 % of its CPU time. Memory goes back only by an
    /// explicit `malloc_trim` (long-context training does that per recomputed block, BlockRecompute.swift).
    static let allocatorTuned: Bool = {
        #if os(Linux)
        _ = glibcMallopt(-3, 32 << 20)     // M_MMAP_THRESHOLD (malloc.h)
        _ = glibcMallopt(-1, Int32.max)    // M_TRIM_THRESHOLD
        #endif
        return true
    }()
}

#if os(Linux)
/// glibc's `mallopt` (declared in malloc.h, which the Glibc module does not export).
@_silgen_name("mallopt") private func glibcMallopt(_ param: Int32, _ value: Int32) -> Int32
#endif

/// A Float32 tensor. Row-major, always contiguous; shape checks fail with the shapes in the message.
///
/// Tensors are reference types: ops return new tensors and record themselves for `backward()`
/// when any input `requiresGrad` and grad mode is on (see `Autodiff.swift`).
///
/// ```swift
/// let x = Tensor([1, 2, 3, 4], shape: [2, 2])
/// let y = (x * x).sum()       // 30
/// ```
public final class Tensor: @unchecked Sendable, CustomStringConvertible {
    public let shape: [Int]
    public let count: Int
    public let storage: Storage

    /// True for parameters and for every op output that depends on one (while grad mode is on).
    public internal(set) var requiresGrad: Bool = false
    /// Accumulated gradient of the last `backward()` for leaf tensors that require grad.
    public var grad: Tensor?
    /// How this tensor was made (nil for leaves and for outputs made under no-grad).
    var node: Node?
    /// Optional name (parameters), used in messages and weight files.
    public var name: String?

    // MARK: construction

    /// Uninitialised storage; callers must fill every element.
    public init(uninitializedShape shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.storage = Storage(count: count)
    }

    public convenience init(zeros shape: [Int]) {
        self.init(uninitializedShape: shape)
        storage.ptr.initialize(repeating: 0, count: count)
    }

    public convenience init(repeating value: Float, shape: [Int]) {
        self.init(uninitializedShape: shape)
        storage.ptr.initialize(repeating: value, count: count)
    }

    public convenience init(_ values: [Float], shape: [Int]) {
        let n = shape.reduce(1, *)
        precondition(values.count == n, "\(values.count) values do not fill shape \(shape) (\(n) elements)")
        self.init(uninitializedShape: shape)
        values.withUnsafeBufferPointer { storage.ptr.update(from: $0.baseAddress!, count: n) }
    }

    public convenience init(scalar: Float) { self.init([scalar], shape: []) }

    /// Shares `storage` under another shape (used by reshape).
    init(sharing storage: Storage, shape: [Int]) {
        self.storage = storage
        self.shape = shape
        self.count = shape.reduce(1, *)
        precondition(count == storage.count || (count == 0), "reshape: storage holds \(storage.count), shape \(shape) needs \(count)")
    }

    // MARK: access

    @inlinable public var data: UnsafeMutablePointer<Float> { storage.ptr }
    public var rank: Int { shape.count }
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: storage.ptr, count: count) }
    public var array: [Float] { Array(buffer) }
    /// The single value of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item: tensor of shape \(shape) has \(count) elements, not 1")
        return storage.ptr[0]
    }
    /// Size of dimension `axis` (negative counts from the end).
    public func dim(_ axis: Int) -> Int { shape[normalizeAxis(axis, rank)] }

    /// A new tensor with a copy of the data (not recorded, no grad).
    public func copy() -> Tensor {
        let t = Tensor(uninitializedShape: shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// The same values, cut from the graph: no gradient flows through.
    public func detached() -> Tensor { Tensor(sharing: storage, shape: shape) }

    /// Marks a leaf tensor as a trainable parameter.
    @discardableResult
    public func requiringGrad(_ on: Bool = true, name: String? = nil) -> Tensor {
        precondition(node == nil, "requiringGrad: only leaf tensors can be parameters")
        requiresGrad = on
        if let name { self.name = name }
        return self
    }

    public var description: String {
        let head = array.prefix(8).map { String(format: "%.4g", Double($0)) }.joined(separator: ", ")
        return "Tensor(\(shape): [\(head)\(count > 8 ? ", …" : "")])"
    }
}

@inline(__always) func normalizeAxis(_ axis: Int, _ rank: Int) -> Int {
    let a = axis < 0 ? axis + rank : axis
    precondition(a >= 0 && a < max(rank, 1), "axis \(axis) out of range for rank \(rank)")
    return a
}

/// Throws-free shape check with the shapes in the message.
@inline(__always) func checkShape(_ cond: Bool, _ msg: @autoclosure () -> String) {
    if !cond { preconditionFailure(msg()) }
}

import Foundation
