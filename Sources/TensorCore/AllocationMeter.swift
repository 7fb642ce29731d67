// AllocationMeter.swift — bytes held by tensor storage and the fused kernels' buffers, live and peak.
import Foundation

/// Counts the bytes of every tensor `Storage` and every fused-kernel scratch buffer (`FastBuffer`) while they
/// are alive, and the peak since the last `resetPeak()`. Benchmarks read it to report a step's peak memory
/// (resident-set figures cannot: freed heap blocks stay resident for reuse). A measurement counter, like
/// `FLOPCounter`; nothing reads it to decide anything.
///
/// ```swift
/// let base = AllocationMeter.resetPeak()
/// _ = layer(x)
/// let peak = AllocationMeter.peak - base           // bytes above what was held before
/// ```
public enum AllocationMeter {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var liveBytes = 0
    nonisolated(unsafe) private static var peakBytes = 0

    @inline(__always) public static func allocated(_ bytes: Int) {
        lock.lock(); liveBytes += bytes; if liveBytes > peakBytes { peakBytes = liveBytes }; lock.unlock()
    }
    @inline(__always) public static func freed(_ bytes: Int) { lock.lock(); liveBytes -= bytes; lock.unlock() }
    /// Sets the peak to the bytes live now and returns them.
    @discardableResult public static func resetPeak() -> Int { lock.lock(); defer { lock.unlock() }; peakBytes = liveBytes; return liveBytes }
    public static var live: Int { lock.lock(); defer { lock.unlock() }; return liveBytes }
    public static var peak: Int { lock.lock(); defer { lock.unlock() }; return peakBytes }
}
