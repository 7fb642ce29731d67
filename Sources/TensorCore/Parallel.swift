// Parallel.swift — work split across cores; OpenBLAS pinned to one thread.
//
// The lab parallelises itself (batch × head loops, row blocks of large GEMMs) and calls OpenBLAS
// single-threaded inside each worker, so the two thread pools never oversubscribe the cores. A fixed
// thread count gives a fixed split, hence bit-identical results run to run.
//
// A training step opens a few hundred short parallel regions (one per op). On Linux they run on a
// `WorkerPool` whose workers spin for a short while after each region before they park, so the next region
// starts without a futex wake-up per worker (Dispatch's workers park at once: ≈ 400 wake/park round trips
// per `tiny` LM step). Elsewhere Dispatch runs them.
import CBLAS
import Dispatch
import Foundation
#if os(Linux)
import Synchronization
#endif

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

    /// Runs `body(lo, hi)` on disjoint contiguous ranges covering 0..<n. The ranges depend only on n,
    /// `minPerThread` and `threads` (never on timing), so results are the same run to run.
    @inlinable
    public static func chunks(_ n: Int, minPerThread: Int = 1, _ body: (Int, Int) -> Void) {
        if n <= 0 { return }
        let k = Swift.min(threads, Swift.max(1, n / Swift.max(1, minPerThread)))
        if k <= 1 { body(0, n); return }
        run(k) { c in
            let lo = n * c / k, hi = n * (c + 1) / k
            if lo < hi { body(lo, hi) }
        }
    }

    /// Runs `body(c)` for c in 0..<k (k ≤ threads) on separate threads: the calling thread runs c = 0.
    @usableFromInline
    static func run(_ k: Int, _ body: (Int) -> Void) {
        #if os(Linux)
        // A region opened while another is in flight (inside a slice, or from a second thread) runs its
        // slices in order on this thread: same slices, same results, no oversubscribed cores.
        if !WorkerPool.shared(size: threads - 1).run(k, body) { for c in 0..<k { body(c) } }
        #else
        DispatchQueue.concurrentPerform(iterations: k, execute: body)
        #endif
    }
}

#if os(Linux)
/// `size` persistent threads that run the slices 1…size of one region at a time while the caller runs
/// slice 0. Between regions each worker spins on the region counter for `spinLimit` polls (tens of
/// microseconds), then parks on a condition variable until the next region. One region at a time: a region
/// opened while another runs (from inside a slice, or from a second thread) is refused (the caller runs it inline).
final class WorkerPool: @unchecked Sendable {
    let size: Int
    /// Polls of the region counter before a worker parks (≈ 0.1 ms: longer than the serial gaps between
    /// the regions of a training step, short enough to cost nothing when the program goes quiet).
    static let spinLimit = 100_000

    private let region = Atomic<Int>(0)          // bumped once per region (publishes `body`, `count`)
    private let pending = Atomic<Int>(0)         // workers that have not finished the current region
    private let parked = Atomic<Int>(0)          // workers waiting on `wake`
    private let busy = Atomic<Bool>(false)       // a region is in flight
    private var body: ((Int) -> Void)? = nil
    private var count = 0
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    private init(size: Int) {
        self.size = size
        pthread_mutex_init(lock, nil)
        pthread_cond_init(wake, nil)
        for w in 1...size {
            let t = Thread { [unowned self] in self.loop(slice: w) }
            t.name = "lab-worker-\(w)"
            t.start()
        }
    }

    nonisolated(unsafe) private static var pools: [Int: WorkerPool] = [:]
    private static let poolsLock = NSLock()

    /// The pool with `size` workers (made once per size and kept: `Parallel.setThreads` may switch sizes).
    static func shared(size: Int) -> WorkerPool {
        poolsLock.lock(); defer { poolsLock.unlock() }
        if let p = pools[size] { return p }
        let p = WorkerPool(size: max(1, size))
        pools[size] = p
        return p
    }

    /// Runs body(0..<k) with slice 0 on the caller; false (nothing run) when a region is already in flight.
    func run(_ k: Int, _ body: (Int) -> Void) -> Bool {
        guard k <= size + 1, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        withoutActuallyEscaping(body) { b in
            self.body = b
            self.count = k
            pending.store(size, ordering: .relaxed)
            region.add(1, ordering: .sequentiallyConsistent)                 // publish body and count
            if parked.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(lock); pthread_cond_broadcast(wake); pthread_mutex_unlock(lock)
            }
            b(0)
            while pending.load(ordering: .acquiring) > 0 {}                  // every worker has seen this region
            self.body = nil
        }
        busy.store(false, ordering: .releasing)
        return true
    }

    /// Worker `slice`: wait for a new region, run its slice if it has one, report, repeat.
    private func loop(slice: Int) {
        var seen = 0
        while true {
            var r = region.load(ordering: .acquiring), polls = 0
            while r == seen {
                polls += 1
                if polls < Self.spinLimit { r = region.load(ordering: .acquiring); continue }
                pthread_mutex_lock(lock)
                parked.add(1, ordering: .sequentiallyConsistent)
                r = region.load(ordering: .sequentiallyConsistent)
                while r == seen {
                    pthread_cond_wait(wake, lock)
                    r = region.load(ordering: .sequentiallyConsistent)
                }
                parked.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(lock)
            }
            seen = r
            if slice < count, let b = body { b(slice) }
            pending.subtract(1, ordering: .releasing)
        }
    }
}
#endif
