/* refint8 simd kernels: depthwise Int8Convolution (one input channel per group, any channel
 * multiplier), r8_dw: the general kernel's layout (virtual positions, phase planes) with one output
 * channel a work item, its input channel widened to 16-bit pairs. */
/* Part of r8simd_kernels.h, which includes it once per ISA unit, in order after the parts
 * before it (not a header of its own: it uses their definitions). */

/* A depthwise channel's epilogue over raw sums of nv vectors from vb0 (add_comp: + comp[oc]):
 * rq_channel where r8_conv.rq is set and no consumer is fused (comp is 0 where add_comp is, so it
 * may always add it), else the general one. */
#if defined(R8_ZMM)
#define DW_EPILOGUE(p, n, g, oc, vb0, nv, raw, add_comp, out) \
    ((p)->rq && !(p)->elt ? SFX(rq_channel)(p, n, oc, vb0, nv, raw, out) \
             : SFX(conv_epilogue)(p, n, g, oc, 1, vb0, nv, raw, CHV * VL, add_comp, out))
#else
#define DW_EPILOGUE(p, n, g, oc, vb0, nv, raw, add_comp, out) \
    SFX(conv_epilogue)(p, n, g, oc, 1, vb0, nv, raw, CHV * VL, add_comp, out)
#endif

/* Layout as the general kernel (virtual positions v = oy*Wq + ox, phase planes), but one output
 * channel at a time. The planes are first packed with one int32 value q - za per position
 * (padding 0), then turned in place into int16 pair cells: cell[pos] = (val[pos], val[pos + 1]).
 * _plan/convolution.py pairs the taps: two taps of one phase at plane offsets off and off + 1 make one item
 * (tap_phase/tap_off/ntaps describe the items here), a lone tap an item with a zero second weight,
 * and w[oc][item] holds the two s16 weights (w - zw). One pmaddwd per item then adds
 * (q - za)*(w - zw) of both taps exactly (|values| <= 255: products and pair sums fit int32),
 * acc = sum over items, modulo 2^32 like every other path. p->comp is all zeros and p->zw NULL,
 * so the general epilogue applies. scratch: nphase * plane_pos + DW_SLACK int32 per thread. */
/* VL input codes as int32: consecutive (step 1) or every other byte (step 2). */
R8_INLINE vi dw_load1(const uint8_t *s, int sgn) {
#if defined(R8_ZMM)
    __m128i b = _mm_loadu_si128((const __m128i *)s);
    return sgn ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
#elif defined(R8_AVX2)
    __m128i b = _mm_loadl_epi64((const __m128i *)s);
    return sgn ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
#else
    int32_t w; memcpy(&w, s, 4);
    __m128i b = _mm_cvtsi32_si128(w);
    return sgn ? _mm_cvtepi8_epi32(b) : _mm_cvtepu8_epi32(b);
#endif
}
R8_INLINE vi dw_load2(const uint8_t *s, int sgn) {   /* reads 2*VL bytes, keeps the even ones */
#if defined(R8_ZMM)
    vi wd = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)s));
    return sgn ? _mm512_srai_epi32(_mm512_slli_epi32(wd, 24), 24) : _mm512_and_si512(wd, _mm512_set1_epi32(0xFF));
#elif defined(R8_AVX2)
    vi wd = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)s));
    return sgn ? _mm256_srai_epi32(_mm256_slli_epi32(wd, 24), 24) : _mm256_and_si256(wd, _mm256_set1_epi32(0xFF));
#else
    vi wd = _mm_cvtepu16_epi32(_mm_loadl_epi64((const __m128i *)s));
    return sgn ? _mm_srai_epi32(_mm_slli_epi32(wd, 24), 24) : _mm_and_si128(wd, _mm_set1_epi32(0xFF));
#endif
}

/* acc + the s16 pair dot product of a and b (pmaddwd; exact for |a|, |b| <= 255). */
R8_INLINE vi dw_madd(vi acc, vi a, vi b) {
#if defined(R8_VNNI) || defined(R8_AMX) || defined(R8_AMX_EMU)
    return _mm512_dpwssd_epi32(acc, a, b);
#elif defined(R8_ZMM)
    return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b));
#elif defined(R8_AVX2)
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#else
    return _mm_add_epi32(acc, _mm_madd_epi16(a, b));
#endif
}

/* In place, in order: cell[pos] = (s16 val[pos], s16 val[pos + 1]) for pos < n (n a multiple of VL;
 * val[n] is read from what follows: the next phase plane, not yet converted, or the slack). */
R8_INLINE void dw_pairs(int32_t *v, long n) {
    const vi lo = vi_set1(0xFFFF);
    for (long i = 0; i < n; i += VL) {
        vi a = vi_load(v + i), b = vi_load(v + i + 1);
#if defined(R8_ZMM)
        vi c = _mm512_or_si512(_mm512_and_si512(a, lo), _mm512_slli_epi32(b, 16));
#elif defined(R8_AVX2)
        vi c = _mm256_or_si256(_mm256_and_si256(a, lo), _mm256_slli_epi32(b, 16));
#else
        vi c = _mm_or_si128(_mm_and_si128(a, lo), _mm_slli_epi32(b, 16));
#endif
        vi_store(v + i, c);
    }
}

static void SFX(dw_pack)(const r8_conv *p, const uint8_t *src, int za, int32_t *plane) {
    const long ppos = p->plane_pos;
    const int sx = p->sx, sy = p->sy, W = p->W, H = p->H, sgn = p->in_signed;
    const vi zav = vi_set1(za);
    for (int ph = 0; ph < p->nphase; ph++) {
        const int ry = p->phase_ry[ph], rx = p->phase_rx[ph];
        int32_t *dst = plane + (long)ph * ppos;
        int xlo = 0, xhi;
        while (xlo < p->Wq && rx + sx * xlo < p->pl) xlo++;
        xhi = xlo;
        while (xhi < p->Wq && rx + sx * xhi < p->pl + W) xhi++;
        const int x0 = rx - p->pl;
        long pos = 0;
        for (int yq = 0; pos < ppos; yq++) {
            const long len = R8_MIN((long)p->Wq, ppos - pos);
            const int y = ry + sy * yq - p->pt;
            int32_t *d = dst + pos;
            if (y < 0 || y >= H) {
                memset(d, 0, (size_t)len * 4);
            } else {
                const long a = R8_MIN((long)xlo, len), b = R8_MIN((long)xhi, len);
                if (a > 0) memset(d, 0, (size_t)a * 4);
                /* s[sx*x]: column x0 + sx*x of row y. Whole vectors while the bytes read stay in
                 * this channel plane (off + sx*(x + VL) <= H*W); lanes past b land in positions
                 * rewritten afterwards (this row's padding, the next row, or the per-thread slack). */
                const long off = (long)y * W + x0, end = (long)H * W;
                const uint8_t *s = src + off;
                long x = a;
                if (sx == 1) {
                    for (; x < b && off + x + VL <= end; x += VL) vi_store(d + x, vi_sub(dw_load1(s + x, sgn), zav));
                } else if (sx == 2) {
                    for (; x < b && off + 2 * (x + VL) <= end; x += VL) vi_store(d + x, vi_sub(dw_load2(s + 2 * x, sgn), zav));
                }
                if (sgn) for (; x < b; x++) d[x] = (int32_t)(int8_t)s[(long)sx * x] - za;
                else for (; x < b; x++) d[x] = (int32_t)s[(long)sx * x] - za;
                if (len > b) memset(d + b, 0, (size_t)(len - b) * 4);
            }
            pos += len;
        }
    }
    for (int ph = 0; ph < p->nphase; ph++) dw_pairs(plane + (long)ph * ppos, ppos);
}

#define DW_MR 4
#define DW_SLACK 64   /* int32 after each thread's planes (_plan/convolution.py allocates them) */

int SFX(r8_dw)(const r8_conv *p, const void *in, void *out) {
    const int nt = r8_team(p->threads);
    const long img = (long)p->C * p->H * p->W;
    const long items = (long)p->N * p->OC;
    const long per_thread = (long)p->nphase * p->plane_pos + DW_SLACK;
    const long ppos = p->plane_pos;
    int nan = 0;
#pragma omp parallel num_threads(nt) if (nt > 1 && items > 1) reduction(+ : nan)
    {
        int32_t *plane = (int32_t *)p->scratch + (long)omp_get_thread_num() * per_thread;
        int32_t raw[CHV * VL] __attribute__((aligned(64)));
#pragma omp for schedule(static)
        for (long it = 0; it < items; it++) {
            const int n = (int)(it / p->OC), oc = (int)(it % p->OC), c = oc / p->OCg;
            SFX(dw_pack)(p, (const uint8_t *)in + n * img + (long)c * p->H * p->W, p->pad[c], plane);
            const int32_t *wt = (const int32_t *)p->w + (long)oc * p->ntaps;
            for (int vb0 = 0; vb0 < p->nvec; vb0 += CHV) {
                const int nv = R8_MIN(CHV, p->nvec - vb0);
                int i = 0;
                for (; i + DW_MR <= nv; i += DW_MR) {
                    vi acc[DW_MR];
#pragma GCC unroll 8
                    for (int k = 0; k < DW_MR; k++) acc[k] = vi_zero();
                    const long v0 = (long)(vb0 + i) * VL;
                    for (int t = 0; t < p->ntaps; t++) {
                        const int32_t *s = plane + p->tap_phase[t] * ppos + v0 + p->tap_off[t];
                        const vi wv = vi_set1(wt[t]);
#pragma GCC unroll 8
                        for (int k = 0; k < DW_MR; k++) acc[k] = dw_madd(acc[k], vi_load(s + k * VL), wv);
                    }
#pragma GCC unroll 8
                    for (int k = 0; k < DW_MR; k++) vi_store(raw + (i + k) * VL, acc[k]);
                }
                for (; i < nv; i++) {
                    vi acc = vi_zero();
                    const long v0 = (long)(vb0 + i) * VL;
                    for (int t = 0; t < p->ntaps; t++)
                        acc = dw_madd(acc, vi_load(plane + p->tap_phase[t] * ppos + v0 + p->tap_off[t]), vi_set1(wt[t]));
                    vi_store(raw + i * VL, acc);
                }
                nan += DW_EPILOGUE(p, n, c, oc, vb0, nv, raw, 0, out);   /* comp is 0 */
            }
        }
    }
    return nan;
}
