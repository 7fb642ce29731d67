// ResidentMemory.swift — the process's peak resident set (Linux VmHWM), reset in-process, for the
// memory rows of `lab bench train`.
//
//   reset:  malloc_trim(0) (free heap pages go back to the kernel), then "5" → /proc/self/clear_refs
//           (the kernel sets VmHWM to the current VmRSS)
//   read:   VmHWM and VmRSS from /proc/self/status (kB)
#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The process's resident memory from /proc/self/status (nil where it cannot be read: not Linux).
///
/// ```swift
/// ResidentMemory.resetPeak()
/// step()
/// let peak = ResidentMemory.peakBytes        // most bytes resident since the reset (whole process)
/// ```
public enum ResidentMemory {
    /// Returns free heap pages to the kernel and resets the peak to the current resident set.
    /// False when the peak cannot be reset (then `peakBytes` is the peak since the process started).
    @discardableResult
    public static func resetPeak() -> Bool {
        trimHeap()
        #if canImport(Glibc)
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return write(fd, "5", 1) == 1
        #else
        return false
        #endif
    }

    /// glibc's malloc_trim(0), looked up at run time (its header is not in the Glibc module; absent elsewhere).
    static func trimHeap() {
        #if canImport(Glibc)
        typealias Trim = @convention(c) (Int) -> Int32
        if let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") { _ = unsafeBitCast(sym, to: Trim.self)(0) }
        #endif
    }

    /// Peak resident bytes since the last reset (VmHWM).
    public static var peakBytes: Int? { field("VmHWM:") }
    /// Resident bytes now (VmRSS).
    public static var currentBytes: Int? { field("VmRSS:") }

    static func field(_ name: String) -> Int? {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in s.split(separator: "\n") where line.hasPrefix(name) {
            let kb = line.dropFirst(name.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
            return kb.map { $0 * 1024 }
        }
        return nil
    }
}
