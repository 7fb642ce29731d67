// RowSIMD.swift — 8-lane loads, stores and sums over one row of m floats, for the row-wise kernels whose
// loops carry a reduction (LayerNorm/RMSNorm statistics and VJPs, the TTT inner loss): the compiler does not
// reorder a scalar float sum, so without these such loops run one lane at a time.
//
// One code path for every m: the last chunk of a row that is not a multiple of 8 is loaded zero-padded and
// stored lane by lane, so a kernel only has to make sure padded lanes add nothing to its sums (`mask`).
// Sums run in a fixed order (8 lane accumulators, then `sum()`): deterministic, though not the scalar order.

/// The vector type of the row kernels.
public typealias RowV = SIMD8<Float>

/// Row-chunk loads and stores of `RowV`, zero-padded past the row's end.
///
/// ```swift
/// var acc = RowV()
/// var j = 0
/// while j < m { acc += RowSIMD.load(x, j, m); j += RowSIMD.width }
/// let total = acc.sum()
/// ```
public enum RowSIMD {
    public static let width = 8

    /// x[j ..< j+8], lanes at or past m read as 0.
    @inlinable @inline(__always)
    public static func load(_ x: UnsafePointer<Float>, _ j: Int, _ m: Int) -> RowV {
        if j + 8 <= m { return UnsafeRawPointer(x + j).loadUnaligned(as: RowV.self) }
        var v = RowV()
        for l in 0..<(m - j) { v[l] = x[j + l] }
        return v
    }

    @inlinable @inline(__always)
    public static func load(_ x: UnsafeMutablePointer<Float>, _ j: Int, _ m: Int) -> RowV { load(UnsafePointer(x), j, m) }

    /// y[j ..< min(j+8, m)] = v (lanes past m are not written).
    @inlinable @inline(__always)
    public static func store(_ v: RowV, _ y: UnsafeMutablePointer<Float>, _ j: Int, _ m: Int) {
        if j + 8 <= m { UnsafeMutableRawPointer(y + j).storeBytes(of: v, as: RowV.self); return }
        for l in 0..<(m - j) { y[j + l] = v[l] }
    }

    /// 1 for the lanes of chunk j inside the row, 0 past its end.
    @inlinable @inline(__always)
    public static func mask(_ j: Int, _ m: Int) -> RowV {
        if j + 8 <= m { return RowV(repeating: 1) }
        var v = RowV()
        for l in 0..<(m - j) { v[l] = 1 }
        return v
    }

    /// Σ x[j] over m floats.
    @inlinable @inline(__always)
    public static func sum(_ x: UnsafePointer<Float>, _ m: Int) -> Float {
        var acc = RowV(), j = 0
        while j < m { acc += load(x, j, m); j += 8 }
        return acc.sum()
    }

    /// Σ x[j]·y[j] over m floats.
    @inlinable @inline(__always)
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ m: Int) -> Float {
        var acc = RowV(), j = 0
        while j < m { acc += load(x, j, m) * load(y, j, m); j += 8 }
        return acc.sum()
    }
}
