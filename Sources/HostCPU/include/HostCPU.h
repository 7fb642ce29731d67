// HostCPU.h — which x86-64 features this build of the lab was compiled for, which the CPU it runs on has,
// and the start-up check between the two (HostCPU.c).
//
// A plain `swift build` targets baseline x86-64 and requires nothing. `LAB_TARGET_CPU=haswell swift build …`
// compiles every Swift target with `-target-cpu haswell` (Package.swift) and defines
// LAB_TARGET_CPU_HASWELL here; such a binary then checks the CPU before `main` and, on a CPU without
// the features, prints one line and exits with status 2 instead of dying of SIGILL in the first SIMD loop.
#ifndef LAB_HOST_CPU_H
#define LAB_HOST_CPU_H

#ifdef __cplusplus
extern "C" {
#endif

/// Feature bits of `lab_host_cpu_required` / `lab_host_cpu_features` (the Haswell level of x86-64).
enum {
    LAB_CPU_AVX = 1u << 0, LAB_CPU_AVX2 = 1u << 1, LAB_CPU_FMA = 1u << 2, LAB_CPU_BMI1 = 1u << 3,
    LAB_CPU_BMI2 = 1u << 4, LAB_CPU_F16C = 1u << 5, LAB_CPU_MOVBE = 1u << 6, LAB_CPU_LZCNT = 1u << 7,
    LAB_CPU_POPCNT = 1u << 8,
    LAB_CPU_HASWELL = (1u << 9) - 1u
};

/// The features this build was compiled for: LAB_CPU_HASWELL in a tuned build, 0 in a portable one.
unsigned lab_host_cpu_required(void);

/// The features of the CPU running this process (CPUID; 0 on a non-x86 CPU).
unsigned lab_host_cpu_features(void);

/// The build's CPU target as the manifest named it: "haswell" or "x86-64" (baseline), "native" elsewhere.
const char *lab_host_cpu_target(void);

/// Writes the names of the features in `required` that `have` lacks ("avx2 fma …") into `buf`
/// (NUL-terminated, at most `cap` bytes) and returns how many there are; 0 means the CPU can run the build.
///
///     char names[96];
///     lab_host_cpu_missing(LAB_CPU_HASWELL, LAB_CPU_HASWELL & ~LAB_CPU_FMA, names, sizeof names); // 1, "fma"
int lab_host_cpu_missing(unsigned required, unsigned have, char *buf, int cap);

#ifdef __cplusplus
}
#endif
#endif
