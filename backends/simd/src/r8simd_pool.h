/* refint8 simd kernels: pooling, r8_avgpool (float32) and r8_maxpool (codes). */
/* Part of r8simd_kernels.h, which includes it once per ISA unit, in order after the parts
 * before it (not a header of its own: it uses their definitions). */

/* ------------------------------------------------------------------------------------------- */
/* AvgPool on float32 (scalar float64 sums in the reference's order: exact by construction)     */

/* A global pooling (one output per plane, the window exactly the plane): the taps in order are
 * the plane's elements in order, so 8 planes are summed side by side, each sum in its own order
 * (8 independent float64 chains instead of one chain at the latency of an addition). The groups
 * of 8 split among the threads from 4096 inputs on (the models' 2048 or 1280 planes of 7x7: with
 * 262144 they ran on one thread, reading the half of the input the other core had just written
 * from that core's cache, 1.4x their one-thread time; split, each thread reads the planes its
 * core wrote, 0.43-0.47x). */
static void SFX(avgpool_global)(const r8_avgpool *p, const float *in, float *out, int nt) {
    const long hw = (long)p->H * p->W, groups = p->planes / 8;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1 && groups > 1 && groups * hw > 4096)
    for (long g = 0; g < groups; g++) {
        const float *src = in + g * 8 * hw;
        double sum[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
        for (long k = 0; k < hw; k++)
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) sum[j] += (double)src[j * hw + k];
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) out[g * 8 + j] = (float)(sum[j] / p->div[0]);
    }
    for (long pl = groups * 8; pl < p->planes; pl++) {
        double sum = 0.0;
        for (long k = 0; k < hw; k++) sum += (double)in[pl * hw + k];
        out[pl] = (float)(sum / p->div[0]);
    }
}

void SFX(r8_avgpool)(const r8_avgpool *p, const float *in, float *out) {
    const int nt = r8_team(p->threads);
    const long work = p->planes * p->OH * p->OW * p->kh * p->kw;
    if (p->OH == 1 && p->OW == 1 && p->kh == p->H && p->kw == p->W && p->pt == 0 && p->pl == 0) {
        SFX(avgpool_global)(p, in, out, nt);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1 && p->planes > 1 && work > 262144)
    for (long pl = 0; pl < p->planes; pl++) {
        const float *src = in + pl * p->H * p->W;
        float *dst = out + pl * p->OH * p->OW;
        for (int oy = 0; oy < p->OH; oy++) {
            for (int ox = 0; ox < p->OW; ox++) {
                double sum = 0.0;
                for (int i = 0; i < p->kh; i++) {
                    const int y = oy * p->sy + i - p->pt;
                    if (y < 0 || y >= p->H) continue;
                    const float *row = src + (long)y * p->W;
                    for (int j = 0; j < p->kw; j++) {
                        const int x = ox * p->sx + j - p->pl;
                        if (x >= 0 && x < p->W) sum += (double)row[x];
                    }
                }
                dst[(long)oy * p->OW + ox] = (float)(sum / p->div[(long)oy * p->OW + ox]);
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------- */
/* MaxPool on codes                                                                            */

#if defined(R8_ZMM)
/* d[i] = s[2i] for i < n, 32 at a time (the low byte of each 16-bit lane); reads s[0 .. 2n) rounded
 * up to 64 bytes (the maxima buffer's slack). */
R8_INLINE void even_bytes(uint8_t *d, const uint8_t *s, long n) {
    for (long i = 0; i < n; i += 32) {
        const __m256i even = _mm512_cvtepi16_epi8(_mm512_loadu_si512(s + 2 * i));
        const long left = n - i;
        _mm256_mask_storeu_epi8(d + i, left >= 32 ? ~0u : (1u << left) - 1u, even);
    }
}
#endif

#if defined(R8_ZMM) && R8_MODE == 0   /* (pack_even, r8_vbmi) */
/* 64 windows of 3 columns at stride 2 on a padded row b: max(b[2x], b[2x + 1], b[2x + 2]) for
 * x < 64, from the even and odd bytes of two 64-byte loads at b and two at b + 2 (vpermt2b).
 * Reads b[0 .. 130). sgn: the codes are i8 (a literal). */
__attribute__((target("avx512vbmi")))
R8_INLINE __m512i pool_row_3s2(const uint8_t *b, __m512i even, __m512i odd, const int sgn) {
    const __m512i lo = _mm512_loadu_si512(b), hi = _mm512_loadu_si512(b + 64);
    const __m512i e = _mm512_permutex2var_epi8(lo, even, hi), o = _mm512_permutex2var_epi8(lo, odd, hi);
    const __m512i e2 = _mm512_permutex2var_epi8(_mm512_loadu_si512(b + 2), even, _mm512_loadu_si512(b + 66));
    return sgn ? _mm512_max_epi8(_mm512_max_epi8(e, o), e2) : _mm512_max_epu8(_mm512_max_epu8(e, o), e2);
}

/* The output rows of one plane of a pool with 3-column windows at horizontal stride 2 (ResNet's
 * stem pool), 64 outputs at a time: each window row's maxima (pool_row_3s2) straight from the
 * padded plane buf, their maximum over the kh rows stored; no intermediate rows. A window's last
 * row is kept for the next output row, whose first row it is where kh - 1 == sy (3 rows at
 * stride 2: two rows' maxima per output row instead of three). */
__attribute__((target("avx512vbmi")))
static void SFX(maxpool_3s2)(const r8_pool *p, const uint8_t *buf, long wpad, uint8_t *dst, const int sgn) {
    const __m512i even = _mm512_loadu_si512(pack_even), odd = _mm512_loadu_si512(pack_odd);
    for (int x0 = 0; x0 < p->OW; x0 += 64) {
        const int left = p->OW - x0;
        const __mmask64 store = left >= 64 ? ~0ull : (1ull << left) - 1;
        __m512i last = _mm512_setzero_si512();
        long last_y = -1;   /* the row whose maxima `last` holds */
        for (int oy = 0; oy < p->OH; oy++) {
            const long y0 = (long)oy * p->sy;
            __m512i m = y0 == last_y ? last : pool_row_3s2(buf + y0 * wpad + 2 * x0, even, odd, sgn);
            for (int ky = 1; ky < p->kh; ky++) {
                last = pool_row_3s2(buf + (y0 + ky) * wpad + 2 * x0, even, odd, sgn);
                last_y = y0 + ky;
                m = sgn ? _mm512_max_epi8(m, last) : _mm512_max_epu8(m, last);
            }
            _mm512_mask_storeu_epi8(dst + (long)oy * p->OW + x0, store, m);
        }
    }
}
#endif

void SFX(r8_maxpool)(const r8_pool *p, const void *in, void *out) {
    const int nt = r8_team(p->threads);
    const int B = VL * 4;                          /* bytes per vector */
    const long wpad = ((long)p->Wp + 2 * B + 63) / 64 * 64;
    const long bufsize = ((long)p->Hp + 1) * wpad + (long)p->kh * wpad + 2 * wpad;
    const uint8_t lowest = p->in_signed ? 0x80 : 0x00;
#pragma omp parallel num_threads(nt) if (nt > 1 && p->planes > 1)
    {
        uint8_t *buf = (uint8_t *)p->scratch + (long)omp_get_thread_num() * bufsize;
        uint8_t *hm = buf + ((long)p->Hp + 1) * wpad;          /* kh rows of horizontal maxima */
        uint8_t *vmax = hm + (long)p->kh * wpad;
        const long span = (long)(p->OW - 1) * p->sx + 1;        /* columns the outputs sample */
        /* the padding: once per call, since the planes' rows overwrite only the inside */
        memset(buf, lowest, ((long)p->Hp + 1) * wpad);
#pragma omp for schedule(static)
        for (int pl = 0; pl < p->planes; pl++) {
            const uint8_t *src = (const uint8_t *)in + (long)pl * p->H * p->W;
            uint8_t *dst = (uint8_t *)out + (long)pl * p->OH * p->OW;
            for (int y = 0; y < p->H; y++) memcpy(buf + (long)(y + p->pt) * wpad + p->pl, src + (long)y * p->W, p->W);
#if defined(R8_ZMM) && R8_MODE == 0
            if (p->kw == 3 && p->sx == 2 && r8_vbmi()) {
                if (p->in_signed) SFX(maxpool_3s2)(p, buf, wpad, dst, 1);
                else SFX(maxpool_3s2)(p, buf, wpad, dst, 0);
                continue;
            }
#endif
            for (int oy = 0; oy < p->OH; oy++) {
                for (int ky = 0; ky < p->kh; ky++) {
                    const uint8_t *row = buf + (long)(oy * p->sy + ky) * wpad;
                    uint8_t *h = hm + (long)ky * wpad;
                    for (long x = 0; x < span; x += B) {
                        vi m = vi_load(row + x);
                        for (int kx = 1; kx < p->kw; kx++)
                            m = p->in_signed ? vi_max_i8(m, vi_load(row + x + kx)) : vi_max_u8(m, vi_load(row + x + kx));
                        vi_store(h + x, m);
                    }
                }
                for (long x = 0; x < span; x += B) {
                    vi m = vi_load(hm + x);
                    for (int ky = 1; ky < p->kh; ky++)
                        m = p->in_signed ? vi_max_i8(m, vi_load(hm + (long)ky * wpad + x)) : vi_max_u8(m, vi_load(hm + (long)ky * wpad + x));
                    vi_store(vmax + x, m);
                }
                uint8_t *d = dst + (long)oy * p->OW;
                if (p->sx == 1) memcpy(d, vmax, p->OW);
#if defined(R8_ZMM)
                else if (p->sx == 2) even_bytes(d, vmax, p->OW);
#endif
                else for (int ox = 0; ox < p->OW; ox++) d[ox] = vmax[(long)ox * p->sx];
            }
        }
    }
}
