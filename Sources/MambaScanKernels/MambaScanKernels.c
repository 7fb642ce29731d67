// MambaScanKernels.c — the selective scan's loops of MambaTraining.swift (written once in MambaScanLoops.h),
// compiled for one job as 8 lanes with AVX2 and for two jobs as 16 lanes with AVX-512, chosen at run time by the
// Swift caller. Every operation, constant and sum order is the Swift loops', and nothing is contracted into an
// FMA, so the results are bit-identical to them (Tests/LayersTests/MambaScanKernelTests.swift).
#include "MambaScanKernels.h"
#include <string.h>

#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))

typedef float v8 __attribute__((vector_size(32)));
typedef int vi8 __attribute__((vector_size(32)));
typedef unsigned vu8 __attribute__((vector_size(32)));
typedef float v16 __attribute__((vector_size(64)));
typedef int vi16 __attribute__((vector_size(64)));
typedef unsigned vu16 __attribute__((vector_size(64)));

int lab_mamba_scan_lanes(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") ? 16 : __builtin_cpu_supports("avx2") ? 8 : 0;
}

#define INLINE8 static inline __attribute__((always_inline, target("avx2")))
#define INLINE16 static inline __attribute__((always_inline, target("avx512f")))

// One job, 8 lanes (AVX2).
#define V v8
#define VI vi8
#define VU vu8
#define W 8
#define FORWARD forward8
#define BACKWARD backward8
#define ATTR static __attribute__((target("avx2")))
#define INLINEV INLINE8
#define SPLAT splat8
#define LD ld8
#define ST st8
#define LDN ldn8
#define STN stn8
#define SEL sel8
#define EXPV exp8
#define LDJ(p, js) ((void)(js), ld8(p))
#define STJ(v, p, js) ((void)(js), st8((v), (p)))
#define ADDJ(slot, v) st8(ld8(slot) + (v), (slot))
#include "MambaScanLoops.h"
#undef V
#undef VI
#undef VU
#undef W
#undef FORWARD
#undef BACKWARD
#undef ATTR
#undef INLINEV
#undef SPLAT
#undef LD
#undef ST
#undef LDN
#undef STN
#undef SEL
#undef EXPV
#undef LDJ
#undef STJ
#undef ADDJ

// Two jobs of one sequence (channel groups g, g + 1) as 16 lanes (AVX-512). Each lane's arithmetic is the 8-lane
// kernel's; what the two jobs share (the dB, dC partials) is added job g's term first, then job g + 1's, per
// element: the order in which the 8-lane kernels, run one job after the other, add them.

/// [lo ++ hi] from two 8-float rows, and back.
INLINE16 v16 ld2x8(const float *lo, const float *hi) { v16 v; memcpy(&v, lo, 32); memcpy((char *)&v + 32, hi, 32); return v; }
INLINE16 void st2x8(v16 v, float *lo, float *hi) { memcpy(lo, &v, 32); memcpy(hi, (char *)&v + 32, 32); }

/// slot[0 ..< 8] = (slot + v[0 ..< 8]) + v[8 ..< 16]: job g's term, then job g + 1's.
INLINE16 void addPair(float *slot, v16 v) {
    v8 a, lo, hi;
    memcpy(&a, slot, 32); memcpy(&lo, &v, 32); memcpy(&hi, (char *)&v + 32, 32);
    a = a + lo;
    a = a + hi;
    memcpy(slot, &a, 32);
}

#define V v16
#define VI vi16
#define VU vu16
#define W 16
#define FORWARD forward16
#define BACKWARD backward16
#define ATTR static __attribute__((target("avx512f")))
#define INLINEV INLINE16
#define SPLAT splat16
#define LD ld16
#define ST st16
#define LDN ldn16
#define STN stn16
#define SEL sel16
#define EXPV exp16
#define LDJ(p, js) ld2x8((p), (p) + (js))
#define STJ(v, p, js) st2x8((v), (p), (p) + (js))
#define ADDJ(slot, v) addPair((slot), (v))
#include "MambaScanLoops.h"


void lab_mamba_scan_forward(const float *u, const float *delta, const float *bm, const float *cm,
                            const float *dskip, const float *ag, float *y, float *ckpt, float *s,
                            long t, long c, long n, long kc, long b, long c0, long lanes) {
    (lanes > 8 ? forward16 : forward8)(u, delta, bm, cm, dskip, ag, y, ckpt, s, t, c, n, kc, b, c0, lanes);
}

void lab_mamba_scan_backward(const float *u, const float *delta, const float *bm, const float *cm,
                             const float *dskip, const float *ag, const float *gy, const float *ckpt,
                             float *du, float *ddelta, float *gb, float *gc, float *ga, float *gd,
                             float *sbuf, float *dbuf, float *gs, float perturb,
                             long t, long c, long n, long kc, long b, long c0, long lanes) {
    (lanes > 8 ? backward16 : backward8)(u, delta, bm, cm, dskip, ag, gy, ckpt, du, ddelta, gb, gc, ga, gd,
                                         sbuf, dbuf, gs, perturb, t, c, n, kc, b, c0, lanes);
}

#else   // not x86-64: the Swift loops run (lab_mamba_scan_lanes() is 0, so nothing below is called)

int lab_mamba_scan_lanes(void) { return 0; }
void lab_mamba_scan_forward(const float *u, const float *delta, const float *bm, const float *cm,
                            const float *dskip, const float *ag, float *y, float *ckpt, float *s,
                            long t, long c, long n, long kc, long b, long c0, long lanes) {}
void lab_mamba_scan_backward(const float *u, const float *delta, const float *bm, const float *cm,
                             const float *dskip, const float *ag, const float *gy, const float *ckpt,
                             float *du, float *ddelta, float *gb, float *gc, float *ga, float *gd,
                             float *sbuf, float *dbuf, float *gs, float perturb,
                             long t, long c, long n, long kc, long b, long c0, long lanes) {}
#endif
