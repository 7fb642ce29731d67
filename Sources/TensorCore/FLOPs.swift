// FLOPs.swift — what the tensor core executed, counted as it runs (2 FLOPs per multiply-add).

/// Global FLOP counters. `matmul` holds GEMM FLOPs (2·m·n·k); `elementwise` holds everything else
/// (one per elementwise arithmetic result, a handful per transcendental or norm element).
public enum FLOPCounter {
    nonisolated(unsafe) public static var matmul: Int = 0
    nonisolated(unsafe) public static var elementwise: Int = 0
    public static var total: Int { matmul + elementwise }
    public static func reset() { matmul = 0; elementwise = 0 }

    /// FLOPs executed by `body` (counters restored afterwards to include them).
    public static func measure(_ body: () throws -> Void) rethrows -> (matmul: Int, elementwise: Int) {
        let m0 = matmul, e0 = elementwise
        try body()
        return (matmul - m0, elementwise - e0)
    }
}
