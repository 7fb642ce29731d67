// GEMMClock.swift — optional accounting of the time spent inside cblas_sgemm (for `lab bench train`'s
// "share of the step outside GEMMs"). Off by default: the hot path then pays one predictable branch.
#if os(Linux)
import Glibc
import Synchronization
#endif

/// Thread-seconds spent inside `sgemm` calls while `enabled` (summed over every worker thread).
///
/// ```swift
/// GEMMClock.enabled = true; GEMMClock.reset()
/// step()                                    // forward + backward + optimizer
/// let gemm = GEMMClock.seconds              // thread-seconds in cblas_sgemm
/// let outside = 1 - gemm / (Double(Parallel.threads) * wall)
/// GEMMClock.enabled = false
/// ```
public enum GEMMClock {
    /// Set by a benchmark around the steps it accounts; never by training code.
    nonisolated(unsafe) public static var enabled = false
    #if os(Linux)
    static let nanos = Atomic<Int>(0)
    static let calls = Atomic<Int>(0)
    #endif

    /// Thread-seconds accumulated since the last `reset()`.
    public static var seconds: Double {
        #if os(Linux)
        return Double(nanos.load(ordering: .relaxed)) * 1e-9
        #else
        return 0
        #endif
    }

    /// sgemm calls accumulated since the last `reset()`.
    public static var callCount: Int {
        #if os(Linux)
        return calls.load(ordering: .relaxed)
        #else
        return 0
        #endif
    }

    public static func reset() {
        #if os(Linux)
        nanos.store(0, ordering: .relaxed); calls.store(0, ordering: .relaxed)
        #endif
    }

    /// Monotonic clock in nanoseconds.
    @inline(__always) static func now() -> Int {
        #if os(Linux)
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec * 1_000_000_000 + ts.tv_nsec
        #else
        return 0
        #endif
    }

    /// Adds the time since `start` (from `now()`) and one call.
    @inline(__always) static func add(since start: Int) {
        #if os(Linux)
        nanos.add(now() - start, ordering: .relaxed); calls.add(1, ordering: .relaxed)
        #endif
    }
}
