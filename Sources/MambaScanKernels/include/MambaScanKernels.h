// MambaScanKernels.h — Mamba's selective scan (the training node's forward and backward) compiled for the CPU it
// runs on and chosen at run time: one job as 8 lanes with AVX2, two jobs of a sequence as 16 lanes with AVX-512,
// so a portable build (whose Swift SIMD8 runs as two SSE halves) runs the scan at the CPU's vector width.
//
// A job is (sequence b, 8 channels), exactly as in MambaTraining.swift, whose Swift loops these functions repeat
// operation for operation in every lane (no FMA contraction, the same exp polynomial, the same order of every
// sum): the results are bit-identical to the Swift loops (Tests/LayersTests/MambaScanKernelTests.swift).
//
// A unit is the `lanes` channels from c0 of sequence b: one job (lanes ≤ 8; needs AVX2) or the two jobs of channel
// groups g, g + 1 (8 < lanes ≤ 16; needs AVX-512F), which add into what they share (dB, dC) job g's term first,
// then job g + 1's, per element — the order of the one-job kernel run on them in turn.
// Shapes: u, delta, y, gy, du, ddelta [B, t, c]; bm, cm [B, t, n]; dskip [c]; ag the A of the unit's first
// channel group [n, 8] (the second group's follows); ckpt the first job's chunk-start states [chunks, n, 8]
// (the second job's follow); gb, gc a worker's dB, dC partials [B, t, n, 8]; ga, gd the first job's dA [n, 8]
// and dD [8] (the second job's follow). Scratch, with w = 8 or 16 lanes: s, gs [n, w]; sbuf [kc + 2, n, w];
// dbuf [kc, n, w].
#ifndef LAB_MAMBA_SCAN_KERNELS_H
#define LAB_MAMBA_SCAN_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/// The widest unit this CPU runs: 16 (AVX-512F), 8 (AVX2) or 0 (then the kernels below must not be called).
int lab_mamba_scan_lanes(void);

/// Forward of one unit from s = 0: s_t = e^{Δ_t·A} ⊙ s_{t−1} + Δ_t·x_t·B_t, y_t = s_t·C_t + D·x_t, saving s
/// before every `kc`-token chunk into `ckpt` when it is not null.
void lab_mamba_scan_forward(const float *u, const float *delta, const float *bm, const float *cm,
                            const float *dskip, const float *ag, float *y, float *ckpt, float *s,
                            long t, long c, long n, long kc, long b, long c0, long lanes);

/// Backward of one unit (scanBackward in MambaTraining.swift): writes du and dΔ (+ perturb) for its lanes, adds
/// into gb and gc, writes ga and gd (zero on entry).
void lab_mamba_scan_backward(const float *u, const float *delta, const float *bm, const float *cm,
                             const float *dskip, const float *ag, const float *gy, const float *ckpt,
                             float *du, float *ddelta, float *gb, float *gc, float *ga, float *gd,
                             float *sbuf, float *dbuf, float *gs, float perturb,
                             long t, long c, long n, long kc, long b, long c0, long lanes);

#ifdef __cplusplus
}
#endif
#endif
