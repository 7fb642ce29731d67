// Parallel.swift — work split across cores with Dispatch; OpenBLAS pinned to one thread.
//
// The lab parallelises itself (batch × head loops, row blocks of large GEMMs) and calls OpenBLAS
// single-threaded inside each worker, so the two thread pools never oversubscribe the cores. A fixed
// thread count gives a fixed split, hence bit-identical results run to run.
import CBLAS
import Dispatch
import Foundation

public enum Parallel {
    /// Worker count: `LAB_THREADS` if set, else the number of active cores.
    nonisolated(unsafe) public private(set) static var threads: Int = {
        let n = ProcessInfo.processInfo.environment["LAB_THREADS"].flatMap { Int($0) } ?? ProcessInfo.processInfo.activeProcessorCount
        openblas_set_num_threads(1)
        return max(1, n)
    }()

    /// Sets the worker count (OpenBLAS stays at one thread per worker).
    public static func setThreads(_ n: Int) {
        threads = max(1, n)
        openblas_set_num_threads(1)
    }

    /// Runs `body(i)` for i in 0..<n, in `min(n, threads)` contiguous chunks on separate threads.
    @inlinable
    public static func forEach(_ n: Int, minPerThread: Int = 1, _ body: (Int) -> Void) {
        chunks(n, minPerThread: minPerThread) { lo, hi in for i in lo..<hi { body(i) } }
    }

    /// Runs `body(lo, hi)` on disjoint contiguous ranges covering 0..<n.
    @inlinable
    public static func chunks(_ n: Int, minPerThread: Int = 1, _ body: (Int, Int) -> Void) {
        if n <= 0 { return }
        let k = Swift.min(threads, Swift.max(1, n / Swift.max(1, minPerThread)))
        if k <= 1 { body(0, n); return }
        DispatchQueue.concurrentPerform(iterations: k) { c in
            let lo = n * c / k, hi = n * (c + 1) / k
            if lo < hi { body(lo, hi) }
        }
    }
}
