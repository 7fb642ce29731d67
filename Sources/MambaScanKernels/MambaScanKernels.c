// MambaScanKernels.c — the selective scan's per-job loops of MambaTraining.swift, compiled for AVX2 (one
// 8-lane vector per register instead of two SSE halves) and chosen at run time by the Swift caller. Every
// operation, constant and sum order is the Swift kernel's, and nothing is contracted into an FMA, so the
// results are bit-identical to it (Tests/LayersTests/MambaScanKernelTests.swift).
#include "MambaScanKernels.h"
#include <string.h>

#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))

#define KERNEL __attribute__((target("avx2")))
#define INLINE static inline __attribute__((always_inline, target("avx2")))

typedef float v8 __attribute__((vector_size(32)));
typedef int vi8 __attribute__((vector_size(32)));
typedef unsigned vu8 __attribute__((vector_size(32)));

int lab_mamba_scan_available(void) { return __builtin_cpu_supports("avx2") ? 1 : 0; }

INLINE v8 splat(float a) { return (v8){a, a, a, a, a, a, a, a}; }
INLINE v8 ld(const float *p) { v8 v; memcpy(&v, p, sizeof v); return v; }
INLINE void st(v8 v, float *p) { memcpy(p, &v, sizeof v); }
/// p[0 ..< lanes], zeros beyond (RowSIMD.load).
INLINE v8 ldn(const float *p, long lanes) {
    if (lanes == 8) return ld(p);
    v8 v = splat(0.0f);
    for (long l = 0; l < lanes; l++) v[l] = p[l];
    return v;
}
/// p[0 ..< lanes] = v (RowSIMD.store).
INLINE void stn(v8 v, float *p, long lanes) {
    if (lanes == 8) { st(v, p); return; }
    for (long l = 0; l < lanes; l++) p[l] = v[l];
}
/// m ? a : x per lane.
INLINE v8 sel(vi8 m, v8 a, v8 x) { return (v8)(((vi8)a & m) | ((vi8)x & ~m)); }

/// FastMath.exp (Swift), operation for operation.
INLINE v8 exp8(v8 x) {
    x = sel(x < splat(-87.3f), splat(-87.3f), x);
    x = sel(x > splat(88.7f), splat(88.7f), x);
    const v8 magic = splat(12582912.0f);
    v8 t = x * 1.44269504088896341f + magic;
    v8 n = t - magic;
    v8 r = x - n * 0.693359375f + n * 2.12194440e-4f;
    v8 p = splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    v8 y = p * (r * r) + r + 1.0f;
    vu8 ni = (vu8)t - 0x4B400000u;
    v8 scale = (v8)((ni + 127u) << 23);
    return y * scale;
}

KERNEL void lab_mamba_scan_forward_job(const float *u, const float *delta, const float *bm, const float *cm,
                                       const float *dskip, const float *ag, float *y, float *ckpt, float *s,
                                       long t, long c, long n, long kc, long b, long c0, long lanes) {
    memset(s, 0, (size_t)(n * 8) * sizeof(float));
    const v8 dsk = ldn(dskip + c0, lanes);
    for (long ti = 0; ti < t; ti++) {
        if (ckpt && ti % kc == 0) memcpy(ckpt + (ti / kc) * n * 8, s, (size_t)(n * 8) * sizeof(float));
        const long i = (b * t + ti) * c + c0;
        const v8 dt = ldn(delta + i, lanes), x = ldn(u + i, lanes), dx = dt * x;
        const float *bt = bm + (b * t + ti) * n, *ct = cm + (b * t + ti) * n;
        v8 acc = splat(0.0f);
        for (long j = 0; j < n; j++) {
            const v8 sj = exp8(dt * ld(ag + j * 8)) * ld(s + j * 8) + dx * bt[j];
            st(sj, s + j * 8);
            acc += sj * ct[j];
        }
        stn(acc + dsk * x, y + i, lanes);
    }
}

KERNEL void lab_mamba_scan_backward_job(const float *u, const float *delta, const float *bm, const float *cm,
                                        const float *dskip, const float *ag, const float *gy, const float *ckpt,
                                        float *du, float *ddelta, float *gb, float *gc, float *ga, float *gd,
                                        float *sbuf, float *dbuf, float *gs, float perturb,
                                        long t, long c, long n, long kc, long b, long c0, long lanes) {
    const long chunks = (t + kc - 1) / kc;
    const v8 dsk = ldn(dskip + c0, lanes);
    memset(gs, 0, (size_t)(n * 8) * sizeof(float));
    v8 gDacc = splat(0.0f);
    for (long ck = chunks - 1; ck >= 0; ck--) {
        const long t0 = ck * kc, t1 = t0 + kc < t ? t0 + kc : t;
        const float *s0 = ckpt + ck * n * 8;                           // s_{t0−1}
        const float *prev = s0;
        for (long ti = t0; ti < t1; ti++) {                            // recompute s_t and e^{Δ_t A}
            const long i = (b * t + ti) * c + c0, r = ti - t0;
            const v8 dt = ldn(delta + i, lanes), dx = dt * ldn(u + i, lanes);
            const float *bt = bm + (b * t + ti) * n;
            float *da = dbuf + r * n * 8, *sr = sbuf + r * n * 8;
            __builtin_prefetch(gy + i, 0, 3);                          // dL/dy rows the reverse scan reads next
            for (long j = 0; j < n; j++) {
                const v8 e = exp8(dt * ld(ag + j * 8));
                st(e, da + j * 8);
                st(e * ld(prev + j * 8) + dx * bt[j], sr + j * 8);
            }
            prev = sr;
        }
        for (long ti = t1 - 1; ti >= t0; ti--) {                       // reverse scan carrying g_s
            const long i = (b * t + ti) * c + c0, r = ti - t0, row = (b * t + ti) * n;
            const v8 dt = ldn(delta + i, lanes), x = ldn(u + i, lanes), g = ldn(gy + i, lanes), dx = dt * x;
            const float *sr = sbuf + r * n * 8, *da = dbuf + r * n * 8;
            const float *sp = r > 0 ? sbuf + (r - 1) * n * 8 : s0;
            const float *bt = bm + row, *ct = cm + row;
            float *gBr = gb + row * 8, *gCr = gc + row * 8;
            v8 gdt = splat(0.0f), gbx = splat(0.0f);
            for (long j = 0; j < n; j++) {
                const v8 sj = ld(sr + j * 8), e = ld(da + j * 8);
                st(ld(gCr + j * 8) + g * sj, gCr + j * 8);
                const v8 gh = ld(gs + j * 8) + g * ct[j];
                const v8 gaj = gh * ld(sp + j * 8) * e;                 // ∂L/∂(Δ·A_j)
                gdt += gaj * ld(ag + j * 8);
                gbx += gh * bt[j];
                st(ld(ga + j * 8) + gaj * dt, ga + j * 8);
                st(ld(gBr + j * 8) + gh * dx, gBr + j * 8);
                st(gh * e, gs + j * 8);
            }
            stn(gdt + gbx * x + perturb, ddelta + i, lanes);
            stn(g * dsk + gbx * dt, du + i, lanes);
            gDacc += g * x;
        }
    }
    st(gDacc, gd);
}

#else   // not x86-64: the Swift kernels run (lab_mamba_scan_available() is 0)

int lab_mamba_scan_available(void) { return 0; }
void lab_mamba_scan_forward_job(const float *u, const float *delta, const float *bm, const float *cm,
                                const float *dskip, const float *ag, float *y, float *ckpt, float *s,
                                long t, long c, long n, long kc, long b, long c0, long lanes) {}
void lab_mamba_scan_backward_job(const float *u, const float *delta, const float *bm, const float *cm,
                                 const float *dskip, const float *ag, const float *gy, const float *ckpt,
                                 float *du, float *ddelta, float *gb, float *gc, float *ga, float *gd,
                                 float *sbuf, float *dbuf, float *gs, float perturb,
                                 long t, long c, long n, long kc, long b, long c0, long lanes) {}
#endif
