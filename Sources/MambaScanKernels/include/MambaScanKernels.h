// MambaScanKernels.h — Mamba's selective scan (the training node's forward and backward, one job at a time)
// compiled for AVX2 and chosen at run time, so a portable build runs it 8 lanes wide on a CPU that has AVX2.
//
// A job is (sequence b, channels c0 ..< c0 + lanes), lanes ≤ 8, exactly as in MambaTraining.swift, whose
// Swift loops these functions repeat operation for operation (no FMA contraction, the same exp polynomial,
// the same order of every sum): the results are bit-identical to the Swift kernels (tested).
#ifndef LAB_MAMBA_SCAN_KERNELS_H
#define LAB_MAMBA_SCAN_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when this CPU can run the kernels below (x86-64 with AVX2), else 0 (then they must not be called).
int lab_mamba_scan_available(void);

/// Forward of one job from s = 0: s_t = e^{Δ_t·A} ⊙ s_{t−1} + Δ_t·x_t·B_t, y_t = s_t·C_t + D·x_t, saving s
/// before every `kc`-token chunk into `ckpt` ([chunks, n, 8]) when it is not null. u, delta, y [B, t, c];
/// bm, cm [B, t, n]; dskip [c]; ag the job's A [n, 8]; s scratch [n, 8].
void lab_mamba_scan_forward_job(const float *u, const float *delta, const float *bm, const float *cm,
                                const float *dskip, const float *ag, float *y, float *ckpt, float *s,
                                long t, long c, long n, long kc, long b, long c0, long lanes);

/// Backward of one job (see scanBackward in MambaTraining.swift): writes du, dΔ (+ perturb) for its lanes,
/// adds into the worker's dB, dC partials gb, gc ([B, t, n, 8]) and the job's dA ga [n, 8], and stores its
/// dD lanes into gd [8]. ckpt the job's checkpoints [chunks, n, 8]; sbuf, dbuf [kc, n, 8], gs [n, 8] scratch.
void lab_mamba_scan_backward_job(const float *u, const float *delta, const float *bm, const float *cm,
                                 const float *dskip, const float *ag, const float *gy, const float *ckpt,
                                 float *du, float *ddelta, float *gb, float *gc, float *ga, float *gd,
                                 float *sbuf, float *dbuf, float *gs, float perturb,
                                 long t, long c, long n, long kc, long b, long c0, long lanes);

#ifdef __cplusplus
}
#endif
#endif
