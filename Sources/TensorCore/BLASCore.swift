// BLASCore.swift — which OpenBLAS kernel family runs, and a fix for CPUs OpenBLAS does not recognise.
//
// Debian's OpenBLAS (DYNAMIC_ARCH) picks its kernels from the CPU model number at load time. On virtual
// CPUs it does not know (e.g. "Intel(R) Xeon(R) Processor"), it falls back to the generic "Prescott"
// (SSE3) kernels: 4–5× slower sgemm on an AVX-512 machine, and no small-matrix kernels. The choice can
// only be overridden by OPENBLAS_CORETYPE before the library loads, so the `lab` executable re-executes
// itself once with the core named from the CPU's feature flags.
import CBLAS
import Foundation

public enum BLASCore {
    /// OpenBLAS's kernel family in this process ("Prescott", "SkylakeX", "Cooperlake", …).
    public static var name: String { String(cString: openblas_get_corename()) }

    /// The OPENBLAS_CORETYPE to use when OpenBLAS fell back to its generic kernels (`current` "Prescott")
    /// on a CPU with these feature flags (/proc/cpuinfo names); nil when nothing better applies.
    ///
    /// ```swift
    /// BLASCore.betterCore(current: "Prescott", flags: ["avx2", "fma"])     // "Haswell"
    /// ```
    public static func betterCore(current: String, flags: Set<String>) -> String? {
        guard current.lowercased() == "prescott" else { return nil }
        let avx512 = ["avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512cd"].allSatisfy(flags.contains)
        if avx512 && flags.contains("avx512_bf16") { return "Cooperlake" }
        if avx512 { return "SkylakeX" }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        return nil
    }

    /// Feature flags of the first CPU in /proc/cpuinfo (empty where there is none).
    public static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// When OPENBLAS_CORETYPE is unset and OpenBLAS runs its generic kernels on a CPU that has better
    /// ones, re-executes this program (same arguments) with OPENBLAS_CORETYPE set; returns otherwise
    /// (also when the re-exec fails). Call first thing in `main`.
    public static func reexecWithBetterCoreIfNeeded() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              let core = betterCore(current: name, flags: cpuFlags()) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
    }
}
