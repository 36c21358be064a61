/* refint8 simd kernels: depthwise Int8Convolution on byte planes (VNNI + VBMI), r8_dwb. */
/* Part of r8simd_kernels.h, which includes it once per ISA unit, in order after the parts
 * before it (not a header of its own: it uses their definitions). */

/* One output channel per work item, as r8_dw, but the input channel is copied, not widened: one
 * u8 plane per row phase ry (rows ry + sy*yq of the padded input, padding = the code za' = za +
 * 128*signed, i8 codes + 128), row width Wb = sx*Wq bytes, so the virtual position v = oy*Wq + ox
 * reads byte sx*v + off of a plane. _plan/convolution.py groups the taps of one kernel row into *cells* of up
 * to 4 (kx = 4j .. 4j+3): cell k reads plane tap_phase[k] at byte offset tap_off[k], and lane i of a
 * vector starting at v0 takes the 4 bytes at sx*(v0 + i) + t*dx (t = 0..3) of it: one 64-byte load
 * and one vpermb by p->perm (index 4i + t -> sx*i + t*dx, < 64) give the 16 cells, and one vpdpbusd
 * with the cell's 4 weights (w[oc][k], s8, 0 for a missing tap) adds them exactly. acc = raw +
 * comp[oc] with comp = -za' * sum(w) (no weight zero points: _plan/convolution.py uses r8_dw then).
 * With r8_conv.rq (and no fused consumer) a channel is requantized from registers (dwb_requantize);
 * otherwise its raw sums go through the general epilogue. scratch per thread: nphase * plane_pos
 * bytes + 64, rounded up to whole lines (plane_pos: whole rows of Wb bytes, enough for every
 * 64-byte load). */
/* The plane at stride 1 (one row phase: consecutive input rows, so the codes of the plane are the
 * channel's bytes in order) 64 bytes at a time: p->pack_mask[b] marks the bytes of block b that
 * hold codes; vpexpandb places the next popcount(mask) input bytes there, the padding code elsewhere. */
__attribute__((target("avx512vbmi2")))
static void SFX(dwb_pack_expand)(const r8_conv *p, const uint8_t *src, uint8_t pad, uint8_t *plane) {
    const __m512i padv = _mm512_set1_epi8((char)pad), flip = _mm512_set1_epi8(p->in_signed ? (char)0x80 : 0);
    const long bytes = p->plane_pos + 64;   /* the plane and its 64 bytes of slack */
    for (long b = 0; 64 * b < bytes; b++) {
        const __mmask64 m = p->pack_mask[b];
        const int n = __builtin_popcountll(m);
        const __m512i codes = _mm512_xor_si512(_mm512_maskz_loadu_epi8(n == 64 ? ~0ULL : (1ULL << n) - 1, src), flip);
        const long left = bytes - 64 * b;
        _mm512_mask_storeu_epi8(plane + 64 * b, left >= 64 ? ~0ULL : (1ULL << left) - 1,
                                _mm512_mask_expand_epi8(padv, m, codes));
        src += n;
    }
}

static void SFX(dwb_pack)(const r8_conv *p, const uint8_t *src, uint8_t pad, uint8_t *planes) {
    if (p->pack_mask) { SFX(dwb_pack_expand)(p, src, pad, planes); return; }
    const long wb = (long)p->sx * p->Wq;
    const long rows = p->plane_pos / wb;
    const __m512i padv = _mm512_set1_epi8((char)pad), flip = _mm512_set1_epi8(p->in_signed ? (char)0x80 : 0);
    const long lo = p->pl, hi = (long)p->pl + p->W;   /* the row bytes that hold input columns */
    /* chunk by chunk of 64 bytes, each through every row: a chunk's bytes that hold input codes
     * (lo <= x < hi) and its bytes in the row are the same in every row */
    for (long x = 0; x < wb; x += 64) {
        const long a = R8_MAX(lo, x), b = R8_MIN(hi, x + 64), left = wb - x;
        const __mmask64 in_row = b > a ? (b - a == 64 ? ~0ULL : ((1ULL << (b - a)) - 1)) << (a - x) : 0;
        const __mmask64 in_plane = left >= 64 ? ~0ULL : (1ULL << left) - 1;
        for (int ph = 0; ph < p->nphase; ph++) {
            uint8_t *d = planes + (long)ph * p->plane_pos + x;
            long y = p->phase_ry[ph] - p->pt;
            for (long yq = 0; yq < rows; yq++, d += wb, y += p->sy) {
                __m512i v = padv;
                if (y >= 0 && y < p->H) {   /* masked loads never touch the bytes outside the row */
                    const __m512i codes = _mm512_maskz_loadu_epi8(in_row, src + y * p->W - lo + x);
                    v = _mm512_mask_blend_epi8(in_row, padv, _mm512_xor_si512(codes, flip));
                }
                _mm512_mask_storeu_epi8(d, in_plane, v);
            }
        }
    }
    memset(planes + (long)p->nphase * p->plane_pos, pad, 64);
}

#define DWB_MR 4
/* The raw sums of m <= DWB_MR vectors from virtual position v0 into acc (which holds their
 * starting values): per cell one 64-byte load and vpermb per vector, one vpdpbusd. */
__attribute__((target("avx512vbmi")))
R8_INLINE void dwb_accumulate(const r8_conv *p, __m512i perm, const uint8_t *planes, const int32_t *wt, long v0,
                              int m, vi acc[DWB_MR]) {
    const long sx = p->sx;
    for (int c = 0; c < p->ntaps; c++) {
        const uint8_t *s = planes + (long)p->tap_phase[c] * p->plane_pos + p->tap_off[c] + sx * v0;
        const vi wv = vi_set1(wt[c]);
#pragma GCC unroll 4
        for (int k = 0; k < DWB_MR; k++)
            if (k < m) acc[k] = vdot(acc[k], _mm512_permutexvar_epi8(perm, _mm512_loadu_si512(s + sx * k * VL)), wv);
    }
}

/* Raw sums of nv vectors from vector vb0 into raw (the general epilogue's input). */
__attribute__((target("avx512vbmi")))
static void SFX(dwb_sums)(const r8_conv *p, const uint8_t *planes, const int32_t *wt, int vb0, int nv,
                          int32_t *raw) {
    const __m512i perm = _mm512_loadu_si512(p->perm);
    for (int i = 0; i < nv; i += DWB_MR) {
        const int m = R8_MIN(DWB_MR, nv - i);
        vi acc[DWB_MR];
#pragma GCC unroll 4
        for (int k = 0; k < DWB_MR; k++) acc[k] = vi_zero();
        dwb_accumulate(p, perm, planes, wt, (long)(vb0 + i) * VL, m, acc);
        for (int k = 0; k < m; k++) vi_store(raw + (i + k) * VL, acc[k]);
    }
}

#if defined(R8_ZMM)
/* Output channel oc of image n with r8_conv.rq: DWB_MR vectors at a time, their sums (from
 * comp[oc]) in registers, each requantized by rq_vector as soon as they are done, with no raw sums
 * stored and read back (MobileNetV2's depthwise layers, one process alternating with the raw sums
 * and rq_channel: 0.91-0.93x the time, session 11). The near-midpoint check once a group of
 * DWB_MR vectors, whose vectors, if a lane is near, are requantized again from the registers,
 * checked (rq_vector_exact for the near ones). (Checked once a channel, a near channel would be
 * summed and requantized again whole: with one lane in about 4000 near, nearly every channel of a
 * 112x112 plane, 12544 lanes, and half of a 56x56 one; MobileNetV2 0.91x the time on AMX.) The
 * loops over a group's vectors run over DWB_MR with the count m a guard, so that they unroll and
 * the accumulators stay in registers: a loop to m indexed acc[] at run time, which GCC kept on the
 * stack, stored after the sums and read back for each vector (MobileNetV2's layers alone
 * 0.79-0.96x the time without, session 31). */
__attribute__((target("avx512vbmi")))
static void SFX(dwb_requantize)(const r8_conv *p, const uint8_t *planes, const int32_t *wt, int n, int oc,
                                void *out) {
    const long outer = (long)n * p->OC + oc;
    const float *q = p->rq + outer * RQ_FIELDS;
    uint8_t *plane = (uint8_t *)out + outer * p->OH * p->OW;
    const float steps = p->post[p->npost - 1].steps;
    const vf vsteps = vf_set1(steps), limit = rq_fused_limit(p);
    const vi comp = vi_set1(p->comp[oc]);
    const __m512i perm = _mm512_loadu_si512(p->perm);
    const int nvec = p->nvec, ol_zero = p->rq_ol_zero, proven = p->rq_proven && p->rq_proven[outer];
    for (int i = 0; i < nvec; i += DWB_MR) {
        const int m = R8_MIN(DWB_MR, nvec - i);
        vi acc[DWB_MR];
#pragma GCC unroll 4
        for (int k = 0; k < DWB_MR; k++) acc[k] = comp;
        dwb_accumulate(p, perm, planes, wt, (long)i * VL, m, acc);
        if (proven) {   /* r8_conv.rq_proven: no gaps, no check (the compiler drops the unused vreduceps) */
#pragma GCC unroll 4
            for (int k = 0; k < DWB_MR; k++) {
                const unsigned mask = k < m ? p->vmask[i + k] : 0;
                if (!mask) continue;
                uint8_t *dst = plane + p->vstart[i + k];
                if (ol_zero) rq_vector(p, acc[k], q, dst, mask, vsteps, limit, 0, 1);
                else rq_vector(p, acc[k], q, dst, mask, vsteps, limit, 0, 0);
            }
            continue;
        }
        vf worst = vf_set1(0.0f);
#pragma GCC unroll 4
        for (int k = 0; k < DWB_MR; k++) {
            const unsigned mask = k < m ? p->vmask[i + k] : 0;
            if (!mask) continue;
            uint8_t *dst = plane + p->vstart[i + k];
            worst = rq_wider(worst, ol_zero ? rq_vector(p, acc[k], q, dst, mask, vsteps, limit, 0, 1)
                                            : rq_vector(p, acc[k], q, dst, mask, vsteps, limit, 0, 0));
        }
        if (__builtin_expect(rq_wide_near(worst, limit), 0))
#pragma GCC unroll 4
            for (int k = 0; k < DWB_MR; k++) {
                const unsigned mask = k < m ? p->vmask[i + k] : 0;
                if (mask) rq_vector(p, acc[k], q, plane + p->vstart[i + k], mask, vsteps, limit, 1, ol_zero);
            }
    }
}
#endif

int SFX(r8_dwb)(const r8_conv *p, const void *in, void *out) {
    const int nt = r8_team(p->threads);
    const long img = (long)p->C * p->H * p->W;
    const long items = (long)p->N * p->OC;
    /* whole cache lines a thread (_plan/convolution.py's scratch_bytes): the 208 bytes of a 7x7
     * plane and its slack had put both threads' planes in one line, rewritten for every channel by
     * both cores (MobileNetV2's 7x7 depthwise layers took 1.35x the one-thread time on two) */
    const long per_thread = ((long)p->nphase * p->plane_pos + 64 + 63) / 64 * 64;
    int nan = 0;
#pragma omp parallel num_threads(nt) if (nt > 1 && items > 1) reduction(+ : nan)
    {
        uint8_t *planes = (uint8_t *)p->scratch + (long)omp_get_thread_num() * per_thread;
        int32_t raw[CHV * VL] __attribute__((aligned(64)));
        int packed = -1;
#pragma omp for schedule(static)
        for (long it = 0; it < items; it++) {
            const int n = (int)(it / p->OC), oc = (int)(it % p->OC), c = oc / p->OCg;
            if (packed != n * p->C + c) {   /* channel multipliers share the packed channel */
                SFX(dwb_pack)(p, (const uint8_t *)in + n * img + (long)c * p->H * p->W, (uint8_t)p->pad[c], planes);
                packed = n * p->C + c;
            }
            const int32_t *wt = (const int32_t *)p->w + (long)oc * p->ntaps;
#if defined(R8_ZMM)
            if (p->rq && !p->elt) {
                SFX(dwb_requantize)(p, planes, wt, n, oc, out);
                continue;
            }
#endif
            for (int vb0 = 0; vb0 < p->nvec; vb0 += CHV) {
                const int nv = R8_MIN(CHV, p->nvec - vb0);
                SFX(dwb_sums)(p, planes, wt, vb0, nv, raw);
                nan += SFX(conv_epilogue)(p, n, c, oc, 1, vb0, nv, raw, CHV * VL, 1, out);   /* rq: above */
            }
        }
    }
    return nan;
}
