// MambaScanLoops.h — private to MambaScanKernels.c: the scan node's forward and backward loops written once and
// included twice, for one job as 8 lanes (AVX2) and for two jobs of one sequence as 16 lanes (AVX-512). Each lane
// runs the arithmetic of MambaTraining.swift's Swift loops, in their order.
//
// The includer defines: V (the vector type), VI and VU (its int and unsigned twins), W (its lanes), FORWARD and
// BACKWARD (the function names), ATTR (the target attribute), INLINEV (the helpers' attributes), the names this
// file gives its helpers (SPLAT, LD, ST, LDN, STN, SEL, EXPV), and the per-job row helpers: LDJ(p, js) loads the W
// lanes [p[0..<8] ++ p[js..<js+8]] (one job: p[0..<8]), STJ(v, p, js) stores them back the same way, and
// ADDJ(slot, v) adds the jobs' terms into one shared 8-float slot in job order.

INLINEV V SPLAT(float a) { V v; for (int l = 0; l < W; l++) v[l] = a; return v; }
INLINEV V LD(const float *p) { V v; memcpy(&v, p, sizeof v); return v; }
INLINEV void ST(V v, float *p) { memcpy(p, &v, sizeof v); }
/// p[0 ..< lanes], zeros beyond (RowSIMD.load).
INLINEV V LDN(const float *p, long lanes) {
    if (lanes == W) return LD(p);
    V v = SPLAT(0.0f);
    for (long l = 0; l < lanes; l++) v[l] = p[l];
    return v;
}
/// p[0 ..< lanes] = v (RowSIMD.store).
INLINEV void STN(V v, float *p, long lanes) {
    if (lanes == W) { ST(v, p); return; }
    for (long l = 0; l < lanes; l++) p[l] = v[l];
}

/// m ? a : x per lane.
INLINEV V SEL(VI m, V a, V x) { return (V)(((VI)a & m) | ((VI)x & ~m)); }

/// FastMath.exp (Swift), operation for operation: clamp to [−87.3, 88.7], x = n·ln2 + r, degree-6 polynomial in
/// r, 2ⁿ by exponent bits.
INLINEV V EXPV(V x) {
    x = SEL(x < SPLAT(-87.3f), SPLAT(-87.3f), x);
    x = SEL(x > SPLAT(88.7f), SPLAT(88.7f), x);
    const V magic = SPLAT(12582912.0f);
    V t = x * 1.44269504088896341f + magic;
    V n = t - magic;
    V r = x - n * 0.693359375f + n * 2.12194440e-4f;
    V p = SPLAT(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    V y = p * (r * r) + r + 1.0f;
    VU ni = (VU)t - 0x4B400000u;
    V scale = (V)((ni + 127u) << 23);
    return y * scale;
}

ATTR void FORWARD(const float *u, const float *delta, const float *bm, const float *cm,
                  const float *dskip, const float *ag, float *y, float *ckpt, float *s,
                  long t, long c, long n, long kc, long b, long c0, long lanes) {
    const long chunks = (t + kc - 1) / kc, cjs = chunks * n * 8;      // job jb + 1's checkpoints follow job jb's
    memset(s, 0, (size_t)(n * W) * sizeof(float));
    const V dsk = LDN(dskip + c0, lanes);
    for (long ti = 0; ti < t; ti++) {
        if (ckpt && ti % kc == 0) {
            float *o = ckpt + (ti / kc) * n * 8;
            for (long j = 0; j < n; j++) STJ(LD(s + j * W), o + j * 8, cjs);
        }
        const long i = (b * t + ti) * c + c0;
        const V dt = LDN(delta + i, lanes), x = LDN(u + i, lanes), dx = dt * x;
        const float *bt = bm + (b * t + ti) * n, *ct = cm + (b * t + ti) * n;
        V acc = SPLAT(0.0f);
        for (long j = 0; j < n; j++) {                                 // s_j = e^{Δ A_j} s_j + Δ x B_j;  y += s_j C_j
            const V sj = EXPV(dt * LDJ(ag + j * 8, n * 8)) * LD(s + j * W) + dx * bt[j];
            ST(sj, s + j * W);
            acc += sj * ct[j];
        }
        STN(acc + dsk * x, y + i, lanes);
    }
}

ATTR void BACKWARD(const float *u, const float *delta, const float *bm, const float *cm,
                   const float *dskip, const float *ag, const float *gy, const float *ckpt,
                   float *du, float *ddelta, float *gb, float *gc, float *ga, float *gd,
                   float *sbuf, float *dbuf, float *gs, float perturb,
                   long t, long c, long n, long kc, long b, long c0, long lanes) {
    const long chunks = (t + kc - 1) / kc, cjs = chunks * n * 8;
    const V dsk = LDN(dskip + c0, lanes);
    float *gal = sbuf + kc * n * W, *s0 = gal + n * W;                 // dA from 0; the chunk's start state
    memset(gs, 0, (size_t)(n * W) * sizeof(float));
    memset(gal, 0, (size_t)(n * W) * sizeof(float));
    V gDacc = SPLAT(0.0f);
    for (long ck = chunks - 1; ck >= 0; ck--) {
        const long t0 = ck * kc, t1 = t0 + kc < t ? t0 + kc : t;
        for (long j = 0; j < n; j++) ST(LDJ(ckpt + ck * n * 8 + j * 8, cjs), s0 + j * W);   // s_{t0−1}
        const float *prev = s0;
        for (long ti = t0; ti < t1; ti++) {                            // recompute s_t and e^{Δ_t A} over the chunk
            const long i = (b * t + ti) * c + c0, r = ti - t0;
            const V dt = LDN(delta + i, lanes), dx = dt * LDN(u + i, lanes);
            const float *bt = bm + (b * t + ti) * n;
            float *da = dbuf + r * n * W, *sr = sbuf + r * n * W;
            __builtin_prefetch(gy + i, 0, 3);                          // dL/dy rows the reverse scan reads next
            for (long j = 0; j < n; j++) {
                const V e = EXPV(dt * LDJ(ag + j * 8, n * 8));
                ST(e, da + j * W);
                ST(e * LD(prev + j * W) + dx * bt[j], sr + j * W);
            }
            prev = sr;
        }
        for (long ti = t1 - 1; ti >= t0; ti--) {                       // reverse scan carrying g_s = ∂L/∂s_t
            const long i = (b * t + ti) * c + c0, r = ti - t0, row = (b * t + ti) * n;
            const V dt = LDN(delta + i, lanes), x = LDN(u + i, lanes), g = LDN(gy + i, lanes), dx = dt * x;
            const float *sr = sbuf + r * n * W, *da = dbuf + r * n * W;
            const float *sp = r > 0 ? sbuf + (r - 1) * n * W : s0;
            const float *bt = bm + row, *ct = cm + row;
            float *gBr = gb + row * 8, *gCr = gc + row * 8;
            V gdt = SPLAT(0.0f), gbx = SPLAT(0.0f);
            for (long j = 0; j < n; j++) {
                const V sj = LD(sr + j * W), e = LD(da + j * W);
                ADDJ(gCr + j * 8, g * sj);
                const V gh = LD(gs + j * W) + g * ct[j];
                const V gaj = gh * LD(sp + j * W) * e;                  // ∂L/∂(Δ·A_j)
                gdt += gaj * LDJ(ag + j * 8, n * 8);
                gbx += gh * bt[j];
                ST(LD(gal + j * W) + gaj * dt, gal + j * W);
                ADDJ(gBr + j * 8, gh * dx);
                ST(gh * e, gs + j * W);
            }
            STN(gdt + gbx * x + perturb, ddelta + i, lanes);
            STN(g * dsk + gbx * dt, du + i, lanes);
            gDacc += g * x;
        }
    }
    for (long j = 0; j < n; j++) STJ(LD(gal + j * W), ga + j * 8, n * 8);
    STJ(gDacc, gd, 8);
}
