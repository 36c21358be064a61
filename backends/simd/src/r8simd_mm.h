/* refint8 simd kernels: Int8MatMul (FullyConnected), r8_mm. A vector holds VL consecutive output
 * features of one row; register block MM_MR rows x MM_NR vectors. */
/* Part of r8simd_kernels.h, which includes it once per ISA unit, in order after the parts
 * before it (not a header of its own: it uses their definitions). */

static void SFX(mm_pack)(const r8_mm *p, const void *in, int nt) {
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int m = 0; m < p->M; m++) {
        uint32_t *d = (uint32_t *)p->scratch + (long)m * p->kk;
#if R8_MODE == 0
        const uint8_t *s = (const uint8_t *)in + (long)m * p->K;
        uint8_t *db = (uint8_t *)d;
        const uint8_t flip = p->in_signed ? 0x80 : 0;
        int32_t sum = 0;
        for (int k = 0; k < p->K; k++) { uint8_t v = s[k] ^ flip; db[k] = v; sum += v; }
        for (int k = p->K; k < 4 * p->kk; k++) db[k] = 0;
        if (p->rowsum) p->rowsum[m] = sum;
#else
        int16_t *dh = (int16_t *)d;
        if (p->in_signed) {
            const int8_t *s = (const int8_t *)in + (long)m * p->K;
            for (int k = 0; k < p->K; k++) dh[k] = (int16_t)(s[k] - p->za);
        } else {
            const uint8_t *s = (const uint8_t *)in + (long)m * p->K;
            for (int k = 0; k < p->K; k++) dh[k] = (int16_t)(s[k] - p->za);
        }
        for (int k = p->K; k < 2 * p->kk; k++) dh[k] = 0;
#endif
    }
}

/* Epilogue of one row: nv (<= MM_NR) vectors of raw dot products for features n0, n0 + VL, ... */
static int SFX(mm_epilogue)(const r8_mm *p, int m, int n0, int nv, const int32_t *acc, void *out) {
    vf y[MM_NR] __attribute__((aligned(64)));
    for (int j = 0; j < nv; j++) {
        vi a = vi_add(vi_load(acc + j * VL), vi_load(p->comp + n0 + j * VL));
#if R8_MODE == 0
        if (p->zw) a = vi_sub(a, vi_mullo(vi_load(p->zw + n0 + j * VL), vi_set1(p->rowsum[m])));
#endif
        y[j] = vf_cvt(a);
    }
    post_run(p->post, p->npost, y, nv, m, n0);
    int nan = 0;
    for (int j = 0; j < nv; j++) {
        int n = n0 + j * VL;
        if (n >= p->N) break;
        unsigned mask = n + VL <= p->N ? VM_FULL : (1u << (p->N - n)) - 1u;
        nan += store_result(out, (long)m * p->N + n, y[j], mask, p->out_type);
    }
    return nan;
}

R8_INLINE int mm_tile(const r8_mm *p, int mb, int nb, const int MR, const int NR, void *out) {
    vi acc[MM_MR][MM_NR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) acc[i][j] = vi_zero();
    const int nbw = MM_NR * VL;
    const int32_t *rows = (const int32_t *)p->scratch + (long)mb * MM_MR * p->kk;
    const int32_t *wp = (const int32_t *)p->w + (long)nb * p->kk * nbw;
    const int kk = p->kk;
    for (int k = 0; k < kk; k++) {
        vi w[MM_NR];
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) w[j] = vi_load(wp + j * VL);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            vi b = vi_set1(rows[(long)i * kk + k]);
#pragma GCC unroll 8
            for (int j = 0; j < NR; j++) acc[i][j] = vdot(acc[i][j], b, w[j]);
        }
        wp += nbw;
    }
    int32_t spill[MM_MR][MM_NR][VL] __attribute__((aligned(64)));
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) vi_store(spill[i][j], acc[i][j]);
    int nan = 0;
    for (int i = 0; i < MR; i++)
        nan += SFX(mm_epilogue)(p, mb * MM_MR + i, nb * nbw, NR, spill[i][0], out);
    return nan;
}

#define MM_CASE(mr, nr) case (mr) * 8 + (nr): nan += mm_tile(p, mb, nb, mr, nr, out); break;
#define MM_CASES(mr) MM_CASE(mr, 1) MM_CASE(mr, 2) MM_CASE(mr, 3) MM_CASE(mr, 4)

int SFX(r8_mm)(const r8_mm *p, const void *in, void *out) {
    const int nt = r8_team(p->threads);
    SFX(mm_pack)(p, in, nt);
    const int nbw = MM_NR * VL;
    const int nnb = (int)(p->npad / nbw);
    const int nmb = (p->M + MM_MR - 1) / MM_MR;
    const long items = (long)nnb * nmb;
    int nan = 0;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1) reduction(+ : nan)
    for (long it = 0; it < items; it++) {
        int mb = (int)(it % nmb), nb = (int)(it / nmb);
        int mr = R8_MIN(MM_MR, p->M - mb * MM_MR);
        int nr = R8_MIN(MM_NR, (p->N - nb * nbw + VL - 1) / VL);
        switch (mr * 8 + nr) {
            MM_CASES(1)
            MM_CASES(2)
#if MM_MR > 2
            MM_CASES(3)
            MM_CASES(4)
#endif
        default: break;
        }
    }
    return nan;
}
