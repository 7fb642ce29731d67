// HostCPU.c — the start-up check of a CPU-tuned build (see include/HostCPU.h). This file is compiled for
// baseline x86-64 whatever the Swift targets are compiled for (no flag of the manifest reaches C targets),
// so the check itself runs on any x86-64 CPU.
#include "HostCPU.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct { unsigned bit; const char *name; } featureNames[] = {
    {LAB_CPU_AVX, "avx"}, {LAB_CPU_AVX2, "avx2"}, {LAB_CPU_FMA, "fma"}, {LAB_CPU_BMI1, "bmi1"},
    {LAB_CPU_BMI2, "bmi2"}, {LAB_CPU_F16C, "f16c"}, {LAB_CPU_MOVBE, "movbe"}, {LAB_CPU_LZCNT, "lzcnt"},
    {LAB_CPU_POPCNT, "popcnt"},
};

unsigned lab_host_cpu_required(void) {
#if defined(LAB_TARGET_CPU_HASWELL)
    return LAB_CPU_HASWELL;
#else
    return 0;
#endif
}

const char *lab_host_cpu_target(void) {
#if defined(LAB_TARGET_CPU_HASWELL)
    return "haswell";
#elif defined(__x86_64__)
    return "x86-64";
#else
    return "native";
#endif
}

unsigned lab_host_cpu_features(void) {
    unsigned have = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx")) have |= LAB_CPU_AVX;
    if (__builtin_cpu_supports("avx2")) have |= LAB_CPU_AVX2;
    if (__builtin_cpu_supports("fma")) have |= LAB_CPU_FMA;
    if (__builtin_cpu_supports("bmi")) have |= LAB_CPU_BMI1;
    if (__builtin_cpu_supports("bmi2")) have |= LAB_CPU_BMI2;
    if (__builtin_cpu_supports("f16c")) have |= LAB_CPU_F16C;
    if (__builtin_cpu_supports("movbe")) have |= LAB_CPU_MOVBE;
    if (__builtin_cpu_supports("lzcnt")) have |= LAB_CPU_LZCNT;
    if (__builtin_cpu_supports("popcnt")) have |= LAB_CPU_POPCNT;
#endif
    return have;
}

int lab_host_cpu_missing(unsigned required, unsigned have, char *buf, int cap) {
    int count = 0, used = 0;
    if (cap > 0) buf[0] = 0;
    for (unsigned i = 0; i < sizeof featureNames / sizeof featureNames[0]; i++) {
        if (!(required & featureNames[i].bit) || (have & featureNames[i].bit)) continue;
        count++;
        if (cap <= 0) continue;
        int n = snprintf(buf + used, (size_t)(cap - used), "%s%s", count > 1 ? " " : "", featureNames[i].name);
        if (n < 0 || used + n >= cap) { used = cap - 1; continue; }
        used += n;
    }
    return count;
}

#if defined(LAB_TARGET_CPU_HASWELL)
/// Runs before `main` (and before any Swift code of the process): a tuned binary on a CPU without the
/// features stops here with one line on stderr and exit status 2.
__attribute__((constructor)) static void lab_host_cpu_check(void) {
    unsigned have = lab_host_cpu_features();
    // LAB_HOST_CPU_MASK (hex) hides features, to see this check act on a CPU that has them.
    const char *mask = getenv("LAB_HOST_CPU_MASK");
    if (mask && *mask) have &= (unsigned)strtoul(mask, NULL, 16);
    char missing[96];
    if (lab_host_cpu_missing(lab_host_cpu_required(), have, missing, (int)sizeof missing) == 0) return;
    char line[320];
    int n = snprintf(line, sizeof line,
                     "error: this build of the lab was compiled for Haswell CPUs (LAB_TARGET_CPU=haswell) and this CPU "
                     "lacks %s; rebuild without LAB_TARGET_CPU (swift build -c release) to run here\n", missing);
    if (n > 0) (void)!write(2, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
    _exit(2);
}
#endif
