/* refint8 simd backend: the kernels, written once over the primitives of r8simd_isa.h and
 * compiled once per ISA (the including file defines the ISA macro and SFX()).
 *
 * Int8Convolution ("pixel vectors"): a vector holds VL consecutive virtual output positions
 * v = oy*Wq + ox of one output channel (ox < Wq; the columns ox >= OW are computed and dropped),
 * so every kernel tap of every stride/dilation is one contiguous vector load from a phase plane
 * (see r8simd_api.h), and a vector of results is a run of one NCHW output row-major plane.
 * Register block: CONV_MR vectors x CONV_NR output channels; the reduction runs over every tap
 * and channel group, in integers, exactly (vdot); then float32(acc) and the post-ops, one IEEE
 * float32 operation each, in the order of refint8.int8.post_ops.
 *
 * Int8MatMul ("feature vectors"): a vector holds VL consecutive output features of one row.
 */
#include <omp.h>

#if defined(R8_SSE42) || defined(R8_AVX2)
#define CONV_MR 2
#define CONV_NR 6
#define MM_MR 2
#define MM_NR 4
#else
#define CONV_MR 4
#define CONV_NR 6
#define MM_MR 4
#define MM_NR 4
#endif

#if defined(R8_VNNI) || defined(R8_AMX) || defined(R8_AMX_EMU)
#define R8_MODE 0
#else
#define R8_MODE 1
#endif

#define R8_MIN(a, b) ((a) < (b) ? (a) : (b))
#define R8_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ------------------------------------------------------------------------------------------- */
/* post-ops                                                                                    */

R8_INLINE vf fetch(const r8_operand *o, long outer, long inner) {
    const float *q = o->data + outer * o->s_outer + inner * o->s_inner;
    return o->bcast ? vf_set1(*q) : vf_load(q);
}

/* refint8.ops.fake_quantize, per lane, float32, in this order. */
R8_INLINE vf fake_quantize(const r8_post *o, vf x, long outer, long inner) {
    vf il = fetch(&o->a[0], outer, inner), di = fetch(&o->a[1], outer, inner);
    vf ol = fetch(&o->a[2], outer, inner), dO = fetch(&o->a[3], outer, inner);
    vf oh = fetch(&o->a[4], outer, inner), lo = fetch(&o->a[5], outer, inner);
    vf hi = fetch(&o->a[6], outer, inner);
    vf st = vf_set1(o->steps);
    vf q = vf_round(vf_mul(vf_div(vf_sub(x, il), di), st));   /* rint(((x - il) / (ih - il)) * steps) */
    vf y = vf_add(vf_mul(vf_div(q, st), dO), ol);               /* ((q / steps) * (oh - ol)) + ol */
    y = vf_blend(vm_gt(x, hi), y, oh);                          /* x > max(il, ih): oh */
    y = vf_blend(vm_le(x, lo), y, ol);                          /* x <= min(il, ih): ol (first) */
    return y;
}

static vf post_apply(const r8_post *ops, int count, vf y, long outer, long inner) {
    for (int i = 0; i < count; i++) {
        const r8_post *o = ops + i;
        switch (o->type) {
        case 0: y = vf_mul(y, fetch(&o->a[0], outer, inner)); break;
        case 1: y = vf_add(y, fetch(&o->a[0], outer, inner)); break;
        case 2: y = vf_sub(y, fetch(&o->a[0], outer, inner)); break;
        case 3: /* y > 0 or NaN: y; else +0 */
            y = vf_keep(vm_nle(y, vf_set1(0.0f)), y);
            break;
        case 4: { /* numpy minimum(maximum(y, lo), hi): NaN propagates, ties give the bound */
            vf lo = fetch(&o->a[0], outer, inner), hi = fetch(&o->a[1], outer, inner);
            y = vf_blend(vm_nan(y), vf_max(y, lo), y);
            y = vf_blend(vm_nan(y), vf_min(y, hi), y);
            break;
        }
        default: y = fake_quantize(o, y, outer, inner); break;
        }
    }
    return y;
}

/* Store VL results (selected lanes, consecutive outputs) as float32 or as integer codes.
 * Returns the number of NaN lanes that reached a Quantize (an error of the layer). */
R8_INLINE int store_result(void *out, long index, vf y, unsigned mask, int out_type) {
    if (out_type == 0) {
        store_f32((float *)out + index, y, mask);
        return 0;
    }
    int nan = __builtin_popcount(vm_bits(vm_nan(y)) & mask);
    vf r = vf_round(y);
    vf lo = vf_set1(out_type == 1 ? 0.0f : -128.0f), hi = vf_set1(out_type == 1 ? 255.0f : 127.0f);
    r = vf_min(vf_max(r, lo), hi);
    STORE_CODES((uint8_t *)out + index, r, mask, out_type == 2);
    return nan;
}

/* ------------------------------------------------------------------------------------------- */
/* Int8Convolution                                                                             */

/* Pack one image into the phase planes (layout: r8simd_api.h). */
static void SFX(conv_pack)(const r8_conv *p, const uint8_t *img, int nt) {
    const long ppos = p->plane_pos;
    const int G = p->G, np = p->nphase, ck = p->ck;
    const long planes = (long)G * np * ck;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (long pl = 0; pl < planes; pl++) {
        int c4 = (int)(pl % ck), ph = (int)(pl / ck % np), g = (int)(pl / ((long)ck * np));
        int ry = p->phase_ry[ph], rx = p->phase_rx[ph];
        uint32_t *dst = (uint32_t *)p->scratch + pl * ppos;
        const int kp = R8_MODE == 0 ? 4 : 2;
        const uint8_t *src[4] = {0, 0, 0, 0};
        uint32_t padcell = 0;
        int chans[4];
        for (int j = 0; j < kp; j++) {
            int c = c4 * kp + j;
            chans[j] = c < p->Cg ? g * p->Cg + c : -1;
            if (chans[j] >= 0) {
                src[j] = img + (long)chans[j] * p->H * p->W;
                if (R8_MODE == 0) padcell |= (uint32_t)(p->pad[chans[j]] & 0xFF) << (8 * j);
            }
        }
        /* columns xq whose padded column rx + sx*xq is a real input column */
        int xlo = 0, xhi;
        while (xlo < p->Wq && rx + p->sx * xlo < p->pl) xlo++;
        xhi = xlo;
        while (xhi < p->Wq && rx + p->sx * xhi < p->pl + p->W) xhi++;
        long pos = 0;
        for (int yq = 0; pos < ppos; yq++) {
            long len = R8_MIN((long)p->Wq, ppos - pos);
            int y = ry + p->sy * yq - p->pt;
            uint32_t *d = dst + pos;
            if (y < 0 || y >= p->H) {
                for (long x = 0; x < len; x++) d[x] = padcell;
            } else {
                long a = R8_MIN((long)xlo, len), b = R8_MIN((long)xhi, len);
                for (long x = 0; x < a; x++) d[x] = padcell;
                const long row = (long)y * p->W;
                const int sx = p->sx, x0 = rx - p->pl;
#if R8_MODE == 0
                const uint32_t flip = p->in_signed ? 0x80u : 0u;
                for (int j = 0; j < 4; j++) {
                    uint8_t *db = (uint8_t *)d + j;
                    if (src[j]) {
                        const uint8_t *s = src[j] + row + x0;
                        for (long x = a; x < b; x++) db[4 * x] = (uint8_t)(s[sx * x] ^ flip);
                    } else {
                        for (long x = a; x < b; x++) db[4 * x] = 0;
                    }
                }
#else
                for (int j = 0; j < 2; j++) {
                    int16_t *dh = (int16_t *)d + j;
                    if (src[j]) {
                        const int za = p->pad[chans[j]];
                        if (p->in_signed) {
                            const int8_t *s = (const int8_t *)src[j] + row + x0;
                            for (long x = a; x < b; x++) dh[2 * x] = (int16_t)(s[sx * x] - za);
                        } else {
                            const uint8_t *s = src[j] + row + x0;
                            for (long x = a; x < b; x++) dh[2 * x] = (int16_t)(s[sx * x] - za);
                        }
                    } else {
                        for (long x = a; x < b; x++) dh[2 * x] = 0;
                    }
                }
#endif
                for (long x = b; x < len; x++) d[x] = padcell;
            }
            pos += len;
        }
    }
}

#if R8_MODE == 0
/* Window sums of the packed codes (mode 0 with weight zero points): wsum[g][v] = sum over the
 * taps and channels of group g of q' at v, by vdot with weights of ones. */
static void SFX(conv_window_sums)(const r8_conv *p, int nt) {
    const long ppos = p->plane_pos;
    const long items = (long)p->G * p->nvec;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (long it = 0; it < items; it++) {
        int vb = (int)(it % p->nvec), g = (int)(it / p->nvec);
        const uint8_t *base = (const uint8_t *)p->scratch + (long)g * p->nphase * p->ck * ppos * 4;
        const int32_t *ones = (const int32_t *)p->ones + (long)g * p->ntaps * p->ck;
        vi s = vi_zero();
        for (int t = 0; t < p->ntaps; t++) {
            const uint8_t *src = base + ((long)p->tap_phase[t] * p->ck * ppos + (long)vb * VL + p->tap_off[t]) * 4;
            for (int c = 0; c < p->ck; c++) s = vdot(s, vi_load(src + (long)c * ppos * 4), vi_set1(ones[t * p->ck + c]));
        }
        vi_store(p->wsum + (long)g * p->nvpad + (long)vb * VL, s);
    }
}
#endif

/* acc (raw dot products of VL positions) -> output channel oc, vector vb. */
static int SFX(conv_epilogue)(const r8_conv *p, int n, int g, int oc, int vb, vi a, void *out) {
    unsigned mask = p->vmask[vb];
    if (!mask) return 0;
    a = vi_add(a, vi_set1(p->comp[oc]));
    if (p->zw) a = vi_sub(a, vi_mullo(vi_set1(p->zw[oc]), vi_load(p->wsum + (long)g * p->nvpad + (long)vb * VL)));
    long outer = (long)n * p->OC + oc;
    vf y = post_apply(p->post, p->npost, vf_cvt(a), outer, (long)vb * VL);
    return store_result(out, outer * p->OH * p->OW + p->vstart[vb], y, mask, p->out_type);
}

R8_INLINE int conv_tile(const r8_conv *p, int n, int g, int ob, int pb, const int MR, const int NR, void *out) {
    vi acc[CONV_NR][CONV_MR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; j++)
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) acc[j][i] = vi_zero();
    const long ppos = p->plane_pos;
    const int nob = (p->OCg + CONV_NR - 1) / CONV_NR;
    const uint8_t *base = (const uint8_t *)p->scratch + (long)g * p->nphase * p->ck * ppos * 4;
    const int32_t *wp = (const int32_t *)p->w + (long)(g * nob + ob) * p->ntaps * p->ck * CONV_NR;
    const long v0 = (long)pb * CONV_MR * VL;
    const int ck = p->ck;
    for (int t = 0; t < p->ntaps; t++) {
        const uint8_t *src = base + ((long)p->tap_phase[t] * ck * ppos + v0 + p->tap_off[t]) * 4;
        for (int c = 0; c < ck; c++) {
            vi in[CONV_MR];
#pragma GCC unroll 8
            for (int i = 0; i < MR; i++) in[i] = vi_load(src + i * VL * 4);
#pragma GCC unroll 8
            for (int j = 0; j < NR; j++) {
                vi b = vi_set1(wp[j]);
#pragma GCC unroll 8
                for (int i = 0; i < MR; i++) acc[j][i] = vdot(acc[j][i], in[i], b);
            }
            src += ppos * 4;
            wp += CONV_NR;
        }
    }
    int32_t spill[CONV_NR][CONV_MR][VL] __attribute__((aligned(64)));
#pragma GCC unroll 8
    for (int j = 0; j < NR; j++)
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) vi_store(spill[j][i], acc[j][i]);
    int nan = 0;
    for (int j = 0; j < NR; j++) {
        int oc = g * p->OCg + ob * CONV_NR + j;
        for (int i = 0; i < MR; i++) nan += SFX(conv_epilogue)(p, n, g, oc, pb * CONV_MR + i, vi_load(spill[j][i]), out);
    }
    return nan;
}

#ifndef R8_CUSTOM_CONV_COMPUTE
#define TILE_CASE(mr, nr) case (mr) * 8 + (nr): nan += conv_tile(p, n, g, ob, pb, mr, nr, out); break;
#define TILE_CASES(mr) TILE_CASE(mr, 1) TILE_CASE(mr, 2) TILE_CASE(mr, 3) TILE_CASE(mr, 4) TILE_CASE(mr, 5) TILE_CASE(mr, 6)

static int SFX(conv_compute)(const r8_conv *p, int n, void *out, int nt) {
    const int nob = (p->OCg + CONV_NR - 1) / CONV_NR;
    const int npb = (p->nvec + CONV_MR - 1) / CONV_MR;
    const long items = (long)p->G * nob * npb;
    int nan = 0;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1) reduction(+ : nan)
    for (long it = 0; it < items; it++) {
        int pb = (int)(it % npb);
        long r = it / npb;
        int ob = (int)(r % nob), g = (int)(r / nob);
        int mr = R8_MIN(CONV_MR, p->nvec - pb * CONV_MR), nr = R8_MIN(CONV_NR, p->OCg - ob * CONV_NR);
        switch (mr * 8 + nr) {
            TILE_CASES(1)
            TILE_CASES(2)
#if CONV_MR > 2
            TILE_CASES(3)
            TILE_CASES(4)
#endif
        default: break;
        }
    }
    return nan;
}

#define CONV_COMPUTE SFX(conv_compute)
#endif

int SFX(r8_conv)(const r8_conv *p, const void *in, void *out) {
    const int nt = p->threads > 0 ? p->threads : 1;
    const long img = (long)p->C * p->H * p->W;
    const long oimg = (long)p->OC * p->OH * p->OW;
    int nan = 0;
    (void)oimg;
    for (int n = 0; n < p->N; n++) {
        SFX(conv_pack)(p, (const uint8_t *)in + n * img, nt);
#if R8_MODE == 0
        if (p->zw) SFX(conv_window_sums)(p, nt);
#endif
        nan += CONV_COMPUTE(p, n, out, nt);
    }
    return nan;
}

/* ------------------------------------------------------------------------------------------- */
/* Int8MatMul                                                                                  */

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
    for (int i = 0; i < MR; i++) {
        int m = mb * MM_MR + i;
        for (int j = 0; j < NR; j++) {
            int n0 = nb * nbw + j * VL;
            if (n0 >= p->N) break;
            unsigned mask = n0 + VL <= p->N ? VM_FULL : (1u << (p->N - n0)) - 1u;
            vi a = vi_add(vi_load(spill[i][j]), vi_load(p->comp + n0));
#if R8_MODE == 0
            if (p->zw) a = vi_sub(a, vi_mullo(vi_load(p->zw + n0), vi_set1(p->rowsum[m])));
#endif
            vf y = post_apply(p->post, p->npost, vf_cvt(a), m, n0);
            nan += store_result(out, (long)m * p->N + n0, y, mask, p->out_type);
        }
    }
    return nan;
}

#define MM_CASE(mr, nr) case (mr) * 8 + (nr): nan += mm_tile(p, mb, nb, mr, nr, out); break;
#define MM_CASES(mr) MM_CASE(mr, 1) MM_CASE(mr, 2) MM_CASE(mr, 3) MM_CASE(mr, 4)

int SFX(r8_mm)(const r8_mm *p, const void *in, void *out) {
    const int nt = p->threads > 0 ? p->threads : 1;
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
