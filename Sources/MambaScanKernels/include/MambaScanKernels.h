// MambaScanKernels.h — Mamba's selective scan (the training node's forward and backward) compiled for the CPU it
// runs on and chosen at run time: one job as 8 lanes with AVX2, two jobs of a sequence as 16 lanes with AVX-512,
// so a portable build (whose Swift SIMD8 runs as two SSE halves) runs the scan at the CPU's vector width.
//
// A job is (sequence b, 8 channels), exactly as in MambaTraining.swift, whose Swift loops these functions repeat
// operation for operation in every lane (no FMA contraction, the same exp polynomial, the same order of every
// sum): the results are bit-identical to the Swift loops (Tests/LayersTests/MambaScanKernelTests.swift).
//
// Shapes: u, delta, y, gy, du, ddelta [B, t, c]; bm, cm [B, t, n]; dskip [c]; ag the A of the unit's first
// channel group [n, 8] (the second group's follows); ckpt the first job's chunk-start states [chunks, n, 8]
// (the second job's follow); gb, gc a worker's dB, dC partials [B, t, n, 8]; ga, gd the first job's dA [n, 8]
// and dD [8] (the second job's follow). `lanes` is the number of channels the unit covers from c0 (≤ 8 for a
// job, 9 … 16 for a pair).
#ifndef LAB_MAMBA_SCAN_KERNELS_H
#define LAB_MAMBA_SCAN_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when this CPU runs the one-job kernels (x86-64 with AVX2), else 0 (then they must not be called).
int lab_mamba_scan_available(void);
/// 1 when this CPU runs the two-job kernels (AVX-512F), else 0.
int lab_mamba_scan_pair_available(void);

/// Forward of one job from s = 0: s_t = e^{Δ_t·A} ⊙ s_{t−1} + Δ_t·x_t·B_t, y_t = s_t·C_t + D·x_t, saving s
/// before every `kc`-token chunk into `ckpt` when it is not null. s: scratch [n, 8].
void lab_mamba_scan_forward_job(const float *u, const float *delta, const float *bm, const float *cm,
                                const float *dskip, const float *ag, float *y, float *ckpt, float *s,
                                long t, long c, long n, long kc, long b, long c0, long lanes);

/// Backward of one job (scanBackward in MambaTraining.swift): writes du and dΔ (+ perturb) for its lanes, adds
/// into gb and gc, writes ga and gd. Scratch: sbuf [kc + 2, n, 8], dbuf [kc, n, 8], gs [n, 8].
void lab_mamba_scan_backward_job(const float *u, const float *delta, const float *bm, const float *cm,
                                 const float *dskip, const float *ag, const float *gy, const float *ckpt,
                                 float *du, float *ddelta, float *gb, float *gc, float *ga, float *gd,
                                 float *sbuf, float *dbuf, float *gs, float perturb,
                                 long t, long c, long n, long kc, long b, long c0, long lanes);

/// The forward of jobs jb and jb + 1 of sequence b as 16 lanes. s: scratch [n, 16].
void lab_mamba_scan_forward_pair(const float *u, const float *delta, const float *bm, const float *cm,
                                 const float *dskip, const float *ag, float *y, float *ckpt, float *s,
                                 long t, long c, long n, long kc, long b, long c0, long lanes);

/// The backward of jobs jb and jb + 1 as 16 lanes; into gb and gc it adds job jb's term, then job jb + 1's, per
/// element (the order of the one-job kernels run in turn). Scratch: sbuf [kc + 2, n, 16], dbuf [kc, n, 16], gs [n, 16].
void lab_mamba_scan_backward_pair(const float *u, const float *delta, const float *bm, const float *cm,
                                  const float *dskip, const float *ag, const float *gy, const float *ckpt,
                                  float *du, float *ddelta, float *gb, float *gc, float *ga, float *gd,
                                  float *sbuf, float *dbuf, float *gs, float perturb,
                                  long t, long c, long n, long kc, long b, long c0, long lanes);

#ifdef __cplusplus
}
#endif
#endif
