/* refint8 simd kernels: Int8Convolution's tiles, work items and entry point.
 *
 * The register tile (conv_tile: CONV_MR vectors x CONV_NR output channels over every tap and
 * input-channel step), the tail of a plane of few positions (conv_tail), the split into work
 * items (conv_split_of) with their prefetch (pf_*), the requantizing kernels (conv_compute_rq,
 * conv_rq_item, conv_direct_item; a fused consumer's codes in the thread's ring: conv_plane_codes,
 * rq_consume), the channel-lane kernel of the VNNI build (r8simd_conv_oc.h), and r8_conv. */
/* Part of r8simd_kernels.h, which includes it once per ISA unit, in order after the parts
 * before it (not a header of its own: it uses their definitions). */

/* Lines a tile prefetches into L2: `bytes` (one line or two) from `at` on at each of its
 * input-channel steps, until `stop`. */
typedef struct { const char *at, *stop; long bytes; } pf_lines;
#define PF_NONE ((pf_lines){NULL, NULL, 64})

R8_INLINE void pf_step(pf_lines *l) {
    if (l->at < l->stop) {
        _mm_prefetch(l->at, _MM_HINT_T1);
        _mm_prefetch(l->at + l->bytes - 64, _MM_HINT_T1);   /* the same line for one a step */
        l->at += l->bytes;
    }
}

/* A work item's prefetches, two ranges in turn, spread over its tiles of `steps` input-channel
 * steps each: a share a tile, enough to be done within the first 3/4 of them, at most two lines
 * a step (a tile's first pass reads its weight block at the tiles' pace from L3 or memory
 * unless prefetched, and prefetches bunched into a few tiles stall those in turn: ResNet-50's
 * layer4 reads 2.4 MB of weights a layer). */
typedef struct { const char *from[2], *to[2]; long share, bytes; } pf_spread;

R8_INLINE pf_spread pf_spread_of(const char *a, const char *a_end, const char *b, const char *b_end, long tiles,
                                 long steps) {
    pf_spread s = {{a, b}, {a_end, b_end}, 0, 64};
    const long lines = ((a_end - a) + (b_end - b)) / 64;
    if (lines > 0 && tiles > 0 && steps > 0) {
        const long share = lines * 4 / (3 * tiles) + 1, per = R8_MIN(2, (share + steps - 1) / steps);
        s.share = R8_MIN(share, per * steps) * 64;   /* what a tile can prefetch */
        s.bytes = per * 64;
    }
    return s;
}

/* The next tile's lines of s. */
R8_INLINE pf_lines pf_take(pf_spread *s) {
    pf_lines l = {NULL, NULL, s->bytes};
    for (int r = 0; r < 2; r++)
        if (s->from[r] < s->to[r]) {
            l.at = s->from[r];
            l.stop = s->from[r] += R8_MIN(s->share, s->to[r] - s->from[r]);
            break;
        }
    return l;
}

/* The most of the next step's weights a convolution prefetches (r8_conv.pf_next). */
#define PF_NEXT_MAX (512L << 10)

/* Item `it`'s share of the next step's first weights to prefetch (r8_conv.pf_next), spread over the
 * last quarter of the items: earlier, a layer's own weights streaming through L2 would evict them
 * again. None unless solo (one thread, which then runs the next step's first items too). */
R8_INLINE void pf_next_share(const r8_conv *p, long it, long items, int solo, const char **from, const char **to) {
    *from = *to = NULL;
    const long last = (items + 3) / 4, k = it - (items - last);
    if (!solo || !p->pf_next || k < 0) return;
    const long lines = R8_MIN(p->pf_next_bytes, PF_NEXT_MAX) / 64;
    *from = p->pf_next + lines * k / last * 64;
    *to = p->pf_next + lines * (k + 1) / last * 64;
}

/* Whether the requantizing kernels run the convolution: r8_conv.rq with no fused consumer, or with
 * one that requantizes too (rq_consume, in place after the codes). */
R8_INLINE int conv_rq_kernels(const r8_conv *p) { return p->rq && (!p->elt || p->elt->rq); }

/* Whether the fused requantizing consumer stores cells (r8_conv.out_cells with elt: the
 * convolution's codes then go into the calling thread's ring of CODE_RING planes in elt_codes,
 * and rq_consume_cells takes them from there). */
R8_INLINE int conv_consumes_into_cells(const r8_conv *p) { return p->elt && p->out_cells; }

#define CODE_RING (2 * CONV_NR)   /* planes of a thread's ring: two blocks of output channels */

/* Where the requantizing kernels store the convolution's codes (conv_plane_codes): out, or where
 * the consumer stores cells the calling thread's ring in r8_conv.elt_codes (CODE_RING planes of
 * float32 codes a thread, RQ_RING, rounded up to 64 bytes; _plan/layout.py). Asked once a work
 * item (omp_get_thread_num is a call). */
R8_INLINE uint8_t *conv_codes_base(const r8_conv *p, void *out) {
    if (!conv_consumes_into_cells(p)) return (uint8_t *)out;
    const long ring = (CODE_RING * (long)p->OH * p->OW * 4 + 63) / 64 * 64;   /* (floats: RQ_RING) */
    return (uint8_t *)p->elt_codes + omp_get_thread_num() * ring;
}

/* Where output channel oc's codes of image n go (plane stride OH*OW codes, positions at their
 * plane offsets), base conv_codes_base's: its plane of out (bytes), or plane oc % CODE_RING of the
 * thread's ring (floats: RQ_RING). A work item's runs of blocks start at multiples of 2 blocks
 * (conv_item_of), so the ring holds the block being stored and the one before it, whose codes a
 * cell straddling the two still needs (rq_consume_cells). */
R8_INLINE uint8_t *conv_plane_codes(const r8_conv *p, uint8_t *base, int n, int oc) {
    const long npos = (long)p->OH * p->OW;
    if (!conv_consumes_into_cells(p)) return base + ((long)n * p->OC + oc) * npos;
    return base + (oc % CODE_RING) * npos * 4;
}

#if defined(R8_ZMM) && !defined(R8_PAIRS)
static void SFX(rq_consume)(const r8_conv *p, long plane0, int nplanes, long start, long count, void *out);
#define RQ_CONSUME(p, plane0, nplanes, start, count, out) SFX(rq_consume)(p, plane0, nplanes, start, count, out)
#else   /* (the s16_pairs units have no elementwise kernels: _plan/fusion.py fuses no such pair) */
#define RQ_CONSUME(p, plane0, nplanes, start, count, out) ((void)(plane0), (void)(nplanes), (void)(start), (void)(count))
#endif

/* comp[oc] + the dot products of MR vectors (from virtual position v0) x NR output channels of
 * block ob, into raw (vector (j, i) at raw + j*stride + i*VL); with w, the interleaved
 * requantization of the previous tile between the input-channel steps (conv_compute_rq); pf: lines
 * to prefetch (pf_step). */
R8_INLINE void conv_tile(const r8_conv *p, int g, int ob, long v0, const int MR, const int NR,
                         int32_t *raw, long stride, rq_work *w, const rq_direct *d, const int ol_mode,
                         pf_lines pf) {
    vi acc[CONV_NR][CONV_MR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; j++) {
        const vi c = vi_set1(p->comp[p->OCg * g + ob * CONV_NR + j]);   /* acc starts at comp[oc] */
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) acc[j][i] = c;
    }
    const long ppos = p->plane_pos;
    const int nob = (p->OCg + CONV_NR - 1) / CONV_NR;
    const uint8_t *base = (const uint8_t *)p->scratch + (long)g * p->nphase * p->ck * ppos * 4;
    const int32_t *wp = (const int32_t *)p->w + (long)(g * nob + ob) * p->ntaps * p->ck * CONV_NR;
    const int ck = p->ck;
    rq_state rs = {0};
    if (w) rs = rq_begin(w);
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
            pf_step(&pf);
            if (w) rq_between(w, &rs);
        }
    }
    if (w) rq_end(w, &rs);
    if (ol_mode < RQ_PROVEN) {   /* (a proven direct tile is not requantized again from raw) */
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++)
#pragma GCC unroll 8
            for (int i = 0; i < MR; i++) vi_store(raw + j * stride + i * VL, acc[j][i]);
    }
#if defined(R8_ZMM)
    if (d) RQ_DIRECT_TILE(p, d, acc, MR, NR, raw, stride, ol_mode);
#else
    (void)d, (void)ol_mode;
#endif
}

#ifndef R8_CUSTOM_CONV_COMPUTE
#define TAIL_MAX (VL / 4)   /* _plan/convolution.py: a tail of at most VL/4 valid lanes */
#define TAIL_CELLS (8 * CONV_NR)   /* a group of 8 input cells of a block: a whole number of vectors */

/* The cells of a tail row: the block's weight cells of one tap, ck x CONV_NR, rounded up to
 * whole groups of TAIL_CELLS. */
R8_INLINE long tail_row_cells(const r8_conv *p) { return (long)((p->ck + 7) / 8) * TAIL_CELLS; }

/* The tail rows sit in the scratch after the phase planes of conv_pack (or at tail_at). */
R8_INLINE int32_t *tail_rows(const r8_conv *p) {
    if (p->tail_at) return (int32_t *)p->tail_at;
    return (int32_t *)((uint8_t *)p->scratch + (long)p->G * p->nphase * p->ck * p->plane_pos * 4);
}

/* The tail's inputs, written once per image after conv_pack: for group g, tail position m and tap t,
 * the row rows[((g*tail_n + m)*ntaps + t)*tail_row_cells + f] = the position's input cell
 * c = f / CONV_NR of that tap, each repeated for the CONV_NR channels of a weight block (whose
 * cells of a tap are [ck][CONV_NR], r8simd_api.h), zero after c = ck - 1. A row and the block's
 * weights then line up cell for cell: lane f of their dot product is channel f % CONV_NR's. */
static void SFX(conv_tail_inputs)(const r8_conv *p) {
    const long rw = tail_row_cells(p), ppos = p->plane_pos;
    int32_t *row = tail_rows(p);
    for (int g = 0; g < p->G; g++)
        for (int m = 0; m < p->tail_n; m++)
            for (int t = 0; t < p->ntaps; t++, row += rw) {
                const uint8_t *src = (const uint8_t *)p->scratch +
                    (((long)g * p->nphase + p->tap_phase[t]) * p->ck * ppos + p->tail_pos[m] + p->tap_off[t]) * 4;
                for (long f = 0; f < rw; f++) {
                    const long c = f / CONV_NR;
                    int32_t cell = 0;
                    if (c < p->ck) memcpy(&cell, src + c * ppos * 4, 4);
                    row[f] = cell;
                }
            }
}

/* The dot products of tn tail positions with block ob of group g into acc[m] (position m),
 * TAIL_CELLS / VL vectors at a time along the block's weights as the tiles read them (no copy):
 * lane f of acc[m] belongs to channel f % CONV_NR (conv_tail_inputs). */
R8_INLINE void tail_dots(const r8_conv *p, int g, int ob, const int tn, vi acc[][TAIL_CELLS / VL]) {
    enum { P = TAIL_CELLS / VL };
    const long rw = tail_row_cells(p), wstep = (long)p->ck * CONV_NR;
    const int nob = (p->OCg + CONV_NR - 1) / CONV_NR;
    const int32_t *rows = tail_rows(p) + (long)g * p->tail_n * p->ntaps * rw;
    const int32_t *wt = (const int32_t *)p->w + (long)(g * nob + ob) * p->ntaps * wstep;
    for (int m = 0; m < tn; m++)
        for (int k = 0; k < P; k++) acc[m][k] = vi_zero();
    for (int t = 0; t < p->ntaps; t++, wt += wstep)
        for (long f = 0; f < rw; f += TAIL_CELLS)
#pragma GCC unroll 12
            for (int k = 0; k < P; k++) {
                const vi w = vi_load(wt + f + k * VL);   /* past ck: the next cells, times zero */
#pragma GCC unroll 4
                for (int m = 0; m < tn; m++)
                    acc[m][k] = vdot(acc[m][k], vi_load(rows + ((long)m * p->ntaps + t) * rw + f + k * VL), w);
            }
}

/* sums[j] += the lanes f = j, j + CONV_NR, ... of the TAIL_CELLS lanes of acc[0..TAIL_CELLS/VL). */
R8_INLINE void tail_add_lanes(const vi *acc, int32_t *sums);

/* Block ob of group g of the tail: sums[m][j] (tail position m, channel j of the block, comp
 * included) placed at the position's lane of one vector per channel (0 elsewhere), then the
 * general epilogue of vector vt = nvec - 1 (the requantizing kernels take tail_rq instead). */
static int SFX(tail_epilogue)(const r8_conv *p, int n, int g, int ob, int32_t sums[][CONV_NR], void *out) {
    const int vt = p->nvec - 1, oc0 = g * p->OCg + ob * CONV_NR, nocs = R8_MIN(CONV_NR, p->OCg - ob * CONV_NR);
    int32_t raw[CONV_NR][VL] __attribute__((aligned(64)));
    memset(raw, 0, sizeof raw);
    for (int j = 0; j < nocs; j++)
        for (int m = 0; m < p->tail_n; m++) raw[j][p->tail_pos[m] - vt * VL] = sums[m][j];
    return SFX(conv_epilogue)(p, n, g, oc0, nocs, vt, 1, raw[0], VL, 0, out);
}

#if defined(R8_ZMM)
/* The 8 windows of 16 lanes starting at f = 6i of acc[0..3) (TAIL_CELLS = 48 lanes), added:
 * lane j < CONV_NR of the result is channel j's sum. */
R8_INLINE vi tail_channel_sums(const vi *acc) {
    const vi z = vi_zero();
    vi s = vi_add(acc[0], _mm512_alignr_epi32(acc[1], acc[0], 6));
    s = vi_add(s, vi_add(_mm512_alignr_epi32(acc[1], acc[0], 12), _mm512_alignr_epi32(acc[2], acc[1], 2)));
    s = vi_add(s, vi_add(_mm512_alignr_epi32(acc[2], acc[1], 8), _mm512_alignr_epi32(acc[2], acc[1], 14)));
    return vi_add(s, vi_add(_mm512_alignr_epi32(z, acc[2], 4), _mm512_alignr_epi32(z, acc[2], 10)));
}

R8_INLINE void tail_add_lanes(const vi *acc, int32_t *sums) {
    int32_t lanes[VL] __attribute__((aligned(64)));
    vi_store(lanes, tail_channel_sums(acc));
    for (int j = 0; j < CONV_NR; j++) sums[j] += lanes[j];
}

/* Whether every plane of the block of nr output channels from plane `outer` (n*OC + oc0) is proven
 * (r8_conv.rq_proven): its tiles then leave the near-midpoint check out. */
R8_INLINE int rq_block_proven(const r8_conv *p, long outer, int nr) {
    if (!p->rq_proven) return 0;
    int all = 1;
    for (int j = 0; j < nr; j++) all &= p->rq_proven[outer + j] != 0;
    return all;
}

/* The requantizing kernels' tail (conv_rq_kernels): block ob of group g, image n, its tn positions
 * x nocs channels requantized together. Lane l of vector k holds position m's sum for channel j
 * where m*CONV_NR + j = k*VL + l (two vectors: 24 lanes), comp added, each lane under its channel's
 * A, B and ol (r8_conv.rq_columns): rq_vector's fused chain and check, the codes of a vector with a
 * lane near a midpoint by the reference's formula, channel by channel (rq_codes_exact). Each code
 * then goes to its channel's plane: a byte (the low byte of its int32 code, ol included: i8 codes
 * too) or, where a consumer takes the codes, a float32 into the ring (RQ_RING). In place of an
 * rq_vector a channel on a vector of 1 to 4 valid lanes (tail_epilogue's, with the raw sums
 * placed in a zeroed vector first, and the sums through memory): in MobileNetV2, its 160 -> 960
 * layers on 7x7 planes (a tail of 1 position) 0.91-0.92x the time, the 14x14 expansions (a tail
 * of 4) 0.95-0.97x; ResNet-50's 7x7 and 14x14 1x1 layers (K of 512-2048) level. */
R8_INLINE void tail_rq(const r8_conv *p, int n, int g, int ob, const int tn, void *out) {
    enum { NV = 2 };
    static const int32_t channel_of_lane[NV * VL] __attribute__((aligned(64))) = {
        0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0};
    vi acc[TAIL_MAX][TAIL_CELLS / VL], s[TAIL_MAX];
    tail_dots(p, g, ob, tn, acc);
    for (int m = 0; m < tn; m++) s[m] = tail_channel_sums(acc[m]);
    /* position m's channel sums to lanes 6m .. 6m + 5 of the pair */
    const vi lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    vi v[NV] = {s[0], vi_zero()};
    if (tn > 1) v[0] = _mm512_mask_permutexvar_epi32(v[0], 0x0FC0, vi_add(lane, vi_set1(-6)), s[1]);
    if (tn > 2) {
        v[0] = _mm512_mask_permutexvar_epi32(v[0], 0xF000, vi_add(lane, vi_set1(-12)), s[2]);
        v[1] = _mm512_maskz_permutexvar_epi32(0x0003, vi_add(lane, vi_set1(4)), s[2]);
    }
    if (tn > 3) v[1] = _mm512_mask_permutexvar_epi32(v[1], 0x00FC, vi_add(lane, vi_set1(-2)), s[3]);

    const int oc0 = g * p->OCg + ob * CONV_NR, nocs = R8_MIN(CONV_NR, p->OCg - ob * CONV_NR);
    const long planes = (long)p->N * p->OC, outer0 = (long)n * p->OC + oc0;
    const __mmask16 channels = (__mmask16)((1u << nocs) - 1u);
    const vi comp = _mm512_maskz_loadu_epi32(channels, p->comp + oc0);
    const vf a = _mm512_maskz_loadu_ps(channels, p->rq_columns + outer0);
    const vf b = _mm512_maskz_loadu_ps(channels, p->rq_columns + planes + outer0);
    const vi ol = _mm512_maskz_loadu_epi32(channels, p->rq_columns + 2 * planes + outer0);
    const vf steps = vf_set1(p->post[p->npost - 1].steps), limit = rq_fused_limit(p);
    const int checked = !rq_block_proven(p, outer0, nocs), ring = conv_consumes_into_cells(p);
    union { float f[NV * VL]; int32_t i[NV * VL]; } codes __attribute__((aligned(64)));
#pragma GCC unroll 2
    for (int k = 0; k < NV; k++) {
        if (k * VL >= tn * CONV_NR) break;
        const vi channel = vi_load(channel_of_lane + k * VL);
        const int lanes = tn * CONV_NR - k * VL;   /* (of real positions) */
        const __mmask16 real = (__mmask16)(_mm512_cmplt_epi32_mask(channel, vi_set1(nocs)) &
                                           (lanes >= VL ? VM_FULL : (1u << lanes) - 1u));
        const vi sum = vi_add(v[k], _mm512_permutexvar_epi32(channel, comp));
        const vf fused = _mm512_fmadd_ps(vf_cvt(sum), _mm512_permutexvar_ps(channel, a), _mm512_permutexvar_ps(channel, b));
        const vf x = vf_min(steps, vf_max(vf_set1(0.0f), fused));   /* rq_fused_x */
        vf c = vf_add(vf_round(x), vf_cvt(_mm512_permutexvar_epi32(channel, ol)));
        if (checked && __builtin_expect(rq_near(_mm512_maskz_reduce_ps(real, x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), limit), 0))
            for (int j = 0; j < nocs; j++)
                c = _mm512_mask_mov_ps(c, _mm512_cmpeq_epi32_mask(channel, vi_set1(j)),
                                       rq_codes_exact(p, sum, p->rq + (outer0 + j) * RQ_FIELDS));
        if (ring) _mm512_store_ps(codes.f + k * VL, c);
        else _mm512_store_si512(codes.i + k * VL, _mm512_cvtps_epi32(c));
    }
    uint8_t *base = conv_codes_base(p, out);
    const long first = p->vstart[p->nvec - 1];   /* the tail's first output position */
    for (int j = 0; j < nocs; j++) {
        uint8_t *plane = conv_plane_codes(p, base, n, oc0 + j);
        for (int m = 0; m < tn; m++) {
            if (ring) memcpy(plane + (first + m) * 4, &codes.f[m * CONV_NR + j], 4);
            else plane[first + m] = (uint8_t)codes.i[m * CONV_NR + j];
        }
    }
}
#else
R8_INLINE void tail_add_lanes(const vi *acc, int32_t *sums) {
    int32_t lanes[TAIL_CELLS] __attribute__((aligned(64)));
    for (int k = 0; k < TAIL_CELLS / VL; k++) vi_store(lanes + k * VL, acc[k]);
    for (int f = 0; f < TAIL_CELLS; f++) sums[f % CONV_NR] += lanes[f];
}
#endif

/* Block ob of group g of the tail, tn (= tail_n) positions: tail_rq, or the sums (comp
 * included) through the general epilogue (tail_epilogue). */
R8_INLINE int tail_block(const r8_conv *p, int n, int g, int ob, const int tn, void *out) {
#if defined(R8_ZMM)
    if (conv_rq_kernels(p)) {   /* (a requantizing consumer runs after it: rq_consume) */
        tail_rq(p, n, g, ob, tn, out);
        return 0;
    }
#endif
    const int oc0 = g * p->OCg + ob * CONV_NR, nocs = R8_MIN(CONV_NR, p->OCg - ob * CONV_NR);
    vi acc[TAIL_MAX][TAIL_CELLS / VL];
    int32_t sums[TAIL_MAX][CONV_NR];
    tail_dots(p, g, ob, tn, acc);
    for (int m = 0; m < tn; m++) {
        for (int j = 0; j < CONV_NR; j++) sums[m][j] = j < nocs ? p->comp[oc0 + j] : 0;
        tail_add_lanes(acc[m], sums[m]);
    }
    return SFX(tail_epilogue)(p, n, g, ob, sums, out);
}

/* The last virtual vector vt = nvec - 1 when only tail_n of its lanes are valid (r8_conv.tail_n),
 * for block ob of group g: run by the work item of the last chunk of the block's run, right after
 * its tiles (the block's weights are in L1). The input cell of a position meets the weights of
 * the block's channels across the lanes: per position TAIL_CELLS / VL dot products per 8 cells,
 * where a tile's vector costs one per cell and channel (6 of a block), and the weights are read
 * where the tiles read them. Exact integer sums like the tiles', then tail_block's epilogue. */
static __attribute__((noinline)) int SFX(conv_tail)(const r8_conv *p, int n, int g, int ob, void *out) {
    switch (p->tail_n) {   /* the positions' accumulators in registers: tn a constant */
    case 1: return tail_block(p, n, g, ob, 1, out);
#if TAIL_MAX > 1
    case 2: return tail_block(p, n, g, ob, 2, out);
#endif
#if TAIL_MAX > 3
    case 3: return tail_block(p, n, g, ob, 3, out);
    case 4: return tail_block(p, n, g, ob, 4, out);
#endif
    default: return 0;
    }
}

/* The cases of a switch on a tile's shape mr * 8 + nr (mr <= CONV_MR vectors, nr <= CONV_NR = 6
 * channels), each CASE(mr, nr): conv_tile with literal sizes. */
#define TILE_NR_CASES(CASE, mr) CASE(mr, 1) CASE(mr, 2) CASE(mr, 3) CASE(mr, 4) CASE(mr, 5) CASE(mr, 6)
#if CONV_MR > 2
#define TILE_SHAPE_CASES(CASE) TILE_NR_CASES(CASE, 1) TILE_NR_CASES(CASE, 2) TILE_NR_CASES(CASE, 3) TILE_NR_CASES(CASE, 4)
#else
#define TILE_SHAPE_CASES(CASE) TILE_NR_CASES(CASE, 1) TILE_NR_CASES(CASE, 2)
#endif
#define TILE_CASE(mr, nr) case (mr) * 8 + (nr): conv_tile(p, g, ob, (long)vb * VL, mr, nr, raw[0] + (vb - v0) * VL, CONV_CHUNK * VL, NULL, NULL, 0, PF_NONE); break;
#define CONV_CHUNK (256 / VL)   /* vectors per work item: 256 positions at every width */
#define CONV_CHUNK_RQ (2048 / VL)   /* conv_compute_rq's (it buffers 2 tiles, not a chunk) */
#define CONV_WEIGHT_BYTES 8192  /* packed weights of the output-channel blocks of one work item (L1) */

/* Work items: (group, chunk of at most `chunk` vectors, run of output-channel blocks whose packed
 * weights fit CONV_WEIGHT_BYTES). Chunks, runs and the tiles of a chunk are balanced (sizes differ
 * by at most one), so a plane of 49 vectors gives chunks 12, 12, 12, 13 and tiles of 3 or 4
 * vectors, not a last chunk of 1 vector run as a 1-vector tile, and 43 blocks give runs 15, 14, 14,
 * not 21, 21, 1. With nt threads the chunks are cut smaller where there would be fewer than 4
 * items per thread, and their number is then the first (up to twice as many) whose items divide
 * evenly among the threads: the items are statically scheduled, so 9 items of equal cost on 2
 * threads would leave one waiting for the other's fifth (ResNet-50's 64x56x56 -> 256 1x1 layers
 * had 2 threads 1.43x faster than 1, with runs 21, 21, 1 and 9 items). The split only schedules
 * the work: every output is the same whatever the chunks. */
typedef struct { int nob, run, nrun, nchunk; long items; int solo; } conv_split;   /* solo: one thread */
typedef struct { int g, v0, len, ntile, ob0, ob_end, last; } conv_item;   /* last: the last chunk */

/* The virtual vectors the tiles compute: all but a tail (conv_tail). */
R8_INLINE int conv_tile_vectors(const r8_conv *p) { return p->nvec - (p->tail_n ? 1 : 0); }

R8_INLINE conv_split conv_split_of(const r8_conv *p, int chunk, int nt) {
    conv_split s;
    s.nob = (p->OCg + CONV_NR - 1) / CONV_NR;
    const long ob_bytes = (long)p->ntaps * p->ck * CONV_NR * 4;
    s.run = (int)R8_MAX(1, R8_MIN((long)s.nob, CONV_WEIGHT_BYTES / ob_bytes));   /* the longest run */
    if (conv_consumes_into_cells(p) && s.run < s.nob) s.run = R8_MAX(2, s.run & ~1);   /* (conv_item_of) */
    s.nrun = (s.nob + s.run - 1) / s.run;
    const int vectors = conv_tile_vectors(p);
    s.nchunk = (vectors + chunk - 1) / chunk;
    if (nt > 1) {   /* at least 4 items per thread, chunks of CONV_CHUNK vectors at the least */
        const long per_chunk = (long)p->G * s.nrun;
        const int most = (vectors + CONV_CHUNK - 1) / CONV_CHUNK;
        const long want = (4L * nt + per_chunk - 1) / per_chunk;
        s.nchunk = (int)R8_MAX(s.nchunk, R8_MIN(want, (long)most));
        for (int c = s.nchunk; c <= R8_MIN(most, 2 * s.nchunk); c++)
            if (c * per_chunk % nt == 0) { s.nchunk = c; break; }
    }
    s.items = (long)p->G * s.nchunk * s.nrun;
    s.solo = nt <= 1;
    return s;
}

R8_INLINE conv_item conv_item_of(const r8_conv *p, const conv_split *s, long it) {
    conv_item w;
    const int ru = (int)(it % s->nrun);
    const long r = it / s->nrun;
    const int chunk = (int)(r % s->nchunk);
    w.g = (int)(r / s->nchunk);
    const int nvec = conv_tile_vectors(p);
    w.v0 = (int)((long)chunk * nvec / s->nchunk);
    w.len = (int)((long)(chunk + 1) * nvec / s->nchunk) - w.v0;
    w.ntile = (w.len + CONV_MR - 1) / CONV_MR;
    /* runs of whole pairs of blocks (12 channels) where the consumer stores cells: each 4-channel
     * cell then lies in one run, so one item completes it (rq_consume_cells); s->run is even then,
     * so there are at least nrun pairs */
    const int unit = conv_consumes_into_cells(p) ? 2 : 1, units = (s->nob + unit - 1) / unit;
    w.ob0 = (int)((long)ru * units / s->nrun) * unit;
    w.ob_end = (int)R8_MIN((long)s->nob, (long)(ru + 1) * units / s->nrun * unit);
    w.last = chunk == s->nchunk - 1;
    return w;
}

/* Per block of a work item's run: the raw sums of the chunk, tile by tile, then the epilogue; the
 * chunk's inputs and the run's weights are reused from L1 for small layers. */
static int SFX(conv_compute)(const r8_conv *p, int n, void *out, int nt) {
    const conv_split split = conv_split_of(p, CONV_CHUNK, 1);
    int nan = 0;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1) reduction(+ : nan)
    for (long it = 0; it < split.items; it++) {
        int32_t raw[CONV_NR][CONV_CHUNK * VL] __attribute__((aligned(64)));
        const conv_item w = conv_item_of(p, &split, it);
        const int g = w.g, v0 = w.v0, len = w.len, ntile = w.ntile;
        for (int ob = w.ob0; ob < w.ob_end; ob++) {
            const int nr = R8_MIN(CONV_NR, p->OCg - ob * CONV_NR);
            for (int t = 0, vb = v0; t < ntile; t++) {
                const int mr = len / ntile + (t < len % ntile);
                switch (mr * 8 + nr) {
                    TILE_SHAPE_CASES(TILE_CASE)
                default: break;
                }
                vb += mr;
            }
            nan += SFX(conv_epilogue)(p, n, g, g * p->OCg + ob * CONV_NR, nr, v0, len, raw[0], CONV_CHUNK * VL, 0, out);
            if (p->tail_n && w.last) nan += SFX(conv_tail)(p, n, g, ob, out);
        }
    }
    return nan;
}

#define CONV_COMPUTE SFX(conv_compute)

/* The outputs of work item w, [first, stop) of each of its planes, for a fused consumer
 * (rq_consume): those of its first and last vectors with valid lanes (one past the plane holds
 * none: vstart 0); first = stop without a consumer. */
typedef struct { long first, stop; } conv_span;
R8_INLINE conv_span conv_item_outputs(const r8_conv *p, const conv_item *w) {
    conv_span span = {0, 0};
    if (!p->elt) return span;
    int a = w->v0, b = w->last && p->tail_n ? p->nvec - 1 : w->v0 + w->len - 1;
    while (a <= b && !p->vmask[a]) a++;
    while (b >= a && !p->vmask[b]) b--;
    if (a <= b) span.first = p->vstart[a], span.stop = p->vstart[b] + __builtin_popcount(p->vmask[b]);
    return span;
}

#if defined(R8_ZMM)
#define RQ_CASE(mr, nr) case (mr) * 8 + (nr): conv_tile(p, g, ob, (long)vb * VL, mr, nr, raw[buf][0], CONV_MR * VL, &work, NULL, 0, PF_NONE); break;
#define DIRECT_TILE(mr, nr, mode) case (mr) * 8 + (nr): conv_tile(p, g, ob, (long)vb * VL, mr, nr, raw[0][0], CONV_MR * VL, NULL, &direct, mode, pf_take(&pf)); break;
#define DIRECT_CASE(mr, nr) DIRECT_TILE(mr, nr, ol_mode)
#define PROVEN_CASE(mr, nr) DIRECT_TILE(mr, nr, ol_mode + RQ_PROVEN)

/* Work item `it` of split (conv_split_of with CONV_CHUNK_RQ), tiles of at most CONV_MR vectors,
 * with the interleaved requantization: two raw buffers alternate between the tile being
 * accumulated and the one being requantized; the last tile of the item is requantized alone.
 * A fused requantizing consumer (rq_consume) runs on a block's codes once its last tile is
 * requantized and rechecked: during the next block's first tile, or after the item's last.
 * ol_mode: a literal (conv_compute_rq), so that the loop for ol 0 carries no addition of ol
 * (rq_vector). */
R8_INLINE void conv_rq_item(const r8_conv *p, const conv_split *split, long it, int n, void *out,
                            const int ol_mode) {
    int32_t raw[2][CONV_NR][CONV_MR * VL] __attribute__((aligned(64)));
    const float steps = p->post[p->npost - 1].steps;
    const int csteps = p->ntaps * p->ck;
    const conv_item w = conv_item_of(p, split, it);
    const int g = w.g, v0 = w.v0, len = w.len, ntile = w.ntile;
    rq_tile tile = {0};
    rq_work work = {p, &tile, {0}, 0, 0, 0, 0, steps, ol_mode};
    const conv_span span = conv_item_outputs(p, &w);
    const long outer0 = (long)n * p->OC + g * p->OCg;   /* the group's first plane */
    uint8_t *codes = conv_codes_base(p, out);
    int buf = 0;
    for (int ob = w.ob0; ob < w.ob_end; ob++) {
        const int nr = R8_MIN(CONV_NR, p->OCg - ob * CONV_NR);
        const int oc0 = g * p->OCg + ob * CONV_NR;
        const long outer = outer0 + (long)ob * CONV_NR;   /* n*OC + oc0 */
        uint8_t *const block_codes = conv_plane_codes(p, codes, n, oc0);   /* (once a block: tiles of 4 steps) */
        for (int t = 0, vb = v0; t < ntile; t++) {
            const int mr = len / ntile + (t < len % ntile);
            work.per = (work.pending + csteps - 1) / csteps;
            switch (mr * 8 + nr) {
                TILE_SHAPE_CASES(RQ_CASE)
            default: break;
            }
            RQ_RECHECK(work);
            if (t == 0 && ob > w.ob0 && span.stop > span.first)   /* block ob - 1 (whole: CONV_NR) is done */
                RQ_CONSUME(p, outer - CONV_NR, CONV_NR, span.first, span.stop - span.first, out);
            tile.raw = raw[buf][0];
            tile.rq = p->rq + outer * RQ_FIELDS;
            tile.dst = block_codes;
            tile.vmask = p->vmask + vb;
            tile.vstart = p->vstart + vb;
            tile.plane = (long)p->OH * p->OW * RQ_CODE_BYTES(ol_mode);
            tile.nr = nr, tile.n = n, tile.oc0 = oc0, tile.vb = vb;
            work.pending = work.vectors = mr * nr;
            rq_column(&tile, &work.c, 0, ol_mode);
            buf ^= 1;
            vb += mr;
        }
        if (p->tail_n && w.last) SFX(conv_tail)(p, n, g, ob, out);   /* (its block's weights in L1) */
    }
    rq_state last = rq_begin(&work);   /* the work item's last tile, alone */
    rq_end(&work, &last);
    RQ_RECHECK(work);
    if (span.stop > span.first) {
        const int ob = w.ob_end - 1;
        RQ_CONSUME(p, outer0 + ob * CONV_NR, R8_MIN(CONV_NR, p->OCg - ob * CONV_NR), span.first,
                   span.stop - span.first, out);
    }
}

/* Work item `it` of split as conv_rq_item's, each tile requantized straight from its accumulators
 * once its dot products are done (RQ_DIRECT_TILE; not r8_conv.rq_interleave), the tiles of a
 * proven block without the check (PROVEN_CASE: ol_mode + RQ_PROVEN). */
R8_INLINE void conv_direct_item(const r8_conv *p, const conv_split *split, long it, int n, void *out,
                                const int ol_mode) {
    int32_t raw[1][CONV_NR][CONV_MR * VL] __attribute__((aligned(64)));
    const conv_item w = conv_item_of(p, split, it);
    const int g = w.g, v0 = w.v0, len = w.len, ntile = w.ntile;
    const long plane = (long)p->OH * p->OW;
    const char *next, *next_end;   /* the item's share of the next step's weights, if any */
    pf_next_share(p, it, split->items, split->solo, &next, &next_end);
    pf_spread pf = pf_spread_of(next, next_end, NULL, NULL, (long)(w.ob_end - w.ob0) * ntile, (long)p->ntaps * p->ck);
    const conv_span span = conv_item_outputs(p, &w);
    uint8_t *codes = conv_codes_base(p, out);
    for (int ob = w.ob0; ob < w.ob_end; ob++) {
        const int nr = R8_MIN(CONV_NR, p->OCg - ob * CONV_NR);
        const long outer = (long)n * p->OC + g * p->OCg + ob * CONV_NR;
        uint8_t *const block_codes = conv_plane_codes(p, codes, n, g * p->OCg + ob * CONV_NR);   /* (once a block) */
#if defined(R8_PAIRS)
        const int proven = 0;   /* (_plan/convolution.py proves no s16_pairs layer) */
#else
        const int proven = rq_block_proven(p, outer, nr);
#endif
        for (int t = 0, vb = v0; t < ntile; t++) {
            const int mr = len / ntile + (t < len % ntile);
            const rq_direct direct = {outer, plane * RQ_CODE_BYTES(ol_mode), block_codes, vb};
            if (proven) {
                switch (mr * 8 + nr) {
                    TILE_SHAPE_CASES(PROVEN_CASE)
                default: break;
                }
            } else {
                switch (mr * 8 + nr) {
                    TILE_SHAPE_CASES(DIRECT_CASE)
                default: break;
                }
            }
            vb += mr;
        }
        if (p->tail_n && w.last) SFX(conv_tail)(p, n, g, ob, out);   /* (its block's weights in L1) */
        if (span.stop > span.first) RQ_CONSUME(p, outer, nr, span.first, span.stop - span.first, out);   /* the block's codes, still in L1 */
    }
}

/* item(p, &split, it, n, out, ol_mode) for every work item of split on nt threads, ol_mode the
 * literal `zero` where r8_conv.rq_ol_zero is set, else `other`: one OpenMP region per value, since
 * a flag passed into one region is not specialized (regions are outlined before inlining); one
 * region where the two are the same literal (RQ_RING: the condition folds to 0). */
#define RQ_FOR_ITEMS_AS(item, split, n, out, nt, zero, other)                                  \
    do {                                                                                        \
        if ((zero) != (other) && p->rq_ol_zero) {                                             \
            _Pragma("omp parallel for schedule(static) num_threads(nt) if (nt > 1)")            \
            for (long it = 0; it < (split).items; it++) item(p, &(split), it, n, out, zero);    \
        } else {                                                                                \
            _Pragma("omp parallel for schedule(static) num_threads(nt) if (nt > 1)")            \
            for (long it = 0; it < (split).items; it++) item(p, &(split), it, n, out, other);   \
        }                                                                                       \
    } while (0)
/* ol_mode 1 (ol 0) or 0 (ol added) */
#define RQ_FOR_ITEMS(item, split, n, out, nt) RQ_FOR_ITEMS_AS(item, split, n, out, nt, 1, 0)

/* conv_compute's results (the NaN count is 0: out_type bit 3) with the requantization interleaved
 * (conv_rq_item); the loop is compiled once more for ol = 0 (r8_conv.rq_ol_zero: a ReLU's codes,
 * u8; with the op-by-op chain, which also left out y - il there, 5-11 % on MobileNetV2's layers
 * of few input channels, which the requantization bounds). */
/* The requantizing kernel for p, through FOR_AS(item, zero, other) (an item loop with the ol modes
 * for rq_ol_zero and otherwise): interleaved items, or the direct ones, with rq_store_levels' whole
 * tiles (modes 3, 4) on 1x1 layers (on the 7x7 stem the two more copies of the item made GCC
 * spill the tap loop's pointers: 1.2x the time). */
#define RQ_KERNEL(FOR_AS)                                                                          \
    do {                                                                                           \
        if (conv_consumes_into_cells(p) && p->rq_interleave) FOR_AS(conv_rq_item, RQ_RING, RQ_RING); \
        else if (conv_consumes_into_cells(p)) FOR_AS(conv_direct_item, RQ_RING, RQ_RING);          \
        else if (p->rq_interleave) FOR_AS(conv_rq_item, 1, 0);                                     \
        else if (p->rq_saturate && (p->rq_ol_zero || p->rq_ol_flip) && p->ntaps == 1)              \
            FOR_AS(conv_direct_item, 3, 4);                                                        \
        else FOR_AS(conv_direct_item, 1, 0);                                                       \
    } while (0)

static int SFX(conv_compute_rq)(const r8_conv *p, int n, void *out, int nt) {
    const conv_split split = conv_split_of(p, CONV_CHUNK_RQ, nt);
#define RQ_FOR_SPLIT_AS(item, zero, other) RQ_FOR_ITEMS_AS(item, split, n, out, nt, zero, other)
    RQ_KERNEL(RQ_FOR_SPLIT_AS);
#undef RQ_FOR_SPLIT_AS
    return 0;
}
#define CONV_COMPUTE_RQ SFX(conv_compute_rq)

#if defined(R8_PACKS_POSITIONS)
/* item(&own, &split, it, n, out, mode) for the thread's items i0 .. i1 - 1, mode the literal `zero`
 * where r8_conv.rq_ol_zero is set, else `other`. */
#define RQ_FOR_OWN_ITEMS_AS(item, zero, other)                                                     \
    do {                                                                                           \
        if ((zero) != (other) && p->rq_ol_zero)                                                    \
            for (long it = i0; it < i1; it++) item(&own, &split, it, n, out, zero);                \
        else                                                                                       \
            for (long it = i0; it < i1; it++) item(&own, &split, it, n, out, other);               \
    } while (0)

/* conv_compute_rq where the planes are the image and each of the nt threads takes whole chunks
 * (CONV_PACKING_OK): a thread packs its chunks' positions into planes of its own (a copy of the
 * r8_conv whose scratch and plane_pos address them), then runs their items; no barrier, and no
 * plane shared between the cores (as AMX's amx_conv_compute_packing: ResNet-50's 512x28x28 ->
 * 128 layer took 0.78x the time on 2 threads). */
static int SFX(conv_compute_rq_packing)(const r8_conv *p, const uint8_t *img, int n, void *out, int nt) {
    const conv_split split = conv_split_of(p, CONV_CHUNK_RQ, nt);
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num(), k = omp_get_num_threads(), nvec = conv_tile_vectors(p);
        const long c0 = (long)split.nchunk * t / k, c1 = (long)split.nchunk * (t + 1) / k;
        const long v0 = c0 * nvec / split.nchunk * VL, v1 = c1 * nvec / split.nchunk * VL;
        const long i0 = c0 * split.nrun, i1 = c1 * split.nrun;
        uint32_t *planes = (uint32_t *)p->scratch + p->ck * v0;
        r8_conv own = *p;
        own.plane_pos = v1 - v0;
        own.scratch = planes - v0;   /* position v of plane c at scratch + c*plane_pos + v */
        SFX(conv_pack_positions)(p, img, v0, v1, planes, own.plane_pos);
        RQ_KERNEL(RQ_FOR_OWN_ITEMS_AS);
    }
    return 0;
}
#define CONV_COMPUTE_PACKING SFX(conv_compute_rq_packing)
/* one group, the requantizing kernels on positions, no tail, whole chunks a thread; not with the
 * interleaved requantization (AMD): on Zen 4 its items ran slower in this region than after the
 * shared planes' pack (the profile: the tile loop's weight pointer kept in memory; ResNet-50's 1x1
 * layers alone on 2 threads 1.1-1.3x the time, 256x56x56 -> 128 340 against 262 us) */
#define CONV_PACKING_OK(p, nt)                                                                     \
    ((p)->G == 1 && conv_rq_kernels(p) && !(p)->w_oc && !(p)->tail_n && !(p)->rq_interleave &&    \
     conv_split_of(p, CONV_CHUNK_RQ, nt).nchunk % (nt) == 0)
#endif
#if defined(R8_VNNI)
#include "r8simd_conv_oc.h"
#endif
#endif
#endif

/* Whether the position kernel's work items on nt threads give each thread its own output positions
 * (one group, at least nt chunks): conv_pack's by_rows. Not for the channel-lane kernel (its items
 * go by blocks of channels first); AMX's say it themselves (amx_by_positions). */
R8_INLINE int conv_items_by_positions(const r8_conv *p, int nt) {
    if (nt <= 1 || p->G != 1) return 0;
#if defined(CONV_COMPUTE_OC)
    if (conv_rq_kernels(p) && p->w_oc) return 0;
#endif
#ifdef R8_CUSTOM_CONV_COMPUTE
    return CONV_ITEMS_BY_POSITIONS(p, nt);
#else
#if defined(CONV_COMPUTE_RQ)
    if (conv_rq_kernels(p)) return conv_split_of(p, CONV_CHUNK_RQ, nt).nchunk >= nt;
#endif
    return conv_split_of(p, CONV_CHUNK, 1).nchunk >= nt;
#endif
}

/* The convolution of image n, its phase planes packed in p's scratch. */
static int SFX(conv_compute_planes)(const r8_conv *p, int n, void *out, int nt) {
#if defined(CONV_COMPUTE_OC)
    if (conv_rq_kernels(p) && p->w_oc) return CONV_COMPUTE_OC(p, n, out, nt);
#endif
#if R8_MODE == 0
    if (p->zw) SFX(conv_window_sums)(p, nt);
#endif
#ifndef R8_CUSTOM_CONV_COMPUTE
    if (p->tail_n) SFX(conv_tail_inputs)(p);
#endif
#if defined(CONV_COMPUTE_RQ)
    if (conv_rq_kernels(p)) return CONV_COMPUTE_RQ(p, n, out, nt);
#endif
    return CONV_COMPUTE(p, n, out, nt);
}

#if R8_MODE == 0
/* The convolution of image n given in cells (r8_conv.in_cells): on the cells themselves where they
 * are its planes (a copy of p whose scratch they are, its tail's rows in the scratch: tail_at),
 * else on planes packed from them. */
static int SFX(conv_on_cells)(const r8_conv *p, const uint8_t *cells, int n, void *out, int nt) {
    if (!conv_cells_are_planes(p)) {
        SFX(conv_pack_cells)(p, cells, nt);
        return SFX(conv_compute_planes)(p, n, out, nt);
    }
    r8_conv on_cells = *p;
    on_cells.scratch = (void *)cells;
    on_cells.tail_at = (int *)p->scratch;
    return SFX(conv_compute_planes)(&on_cells, n, out, nt);
}
#endif

int SFX(r8_conv)(const r8_conv *p, const void *in, void *out) {
    const int nt = r8_team(p->threads);
    const long img = (long)p->C * p->H * p->W;
    const int by_rows = conv_items_by_positions(p, nt);
    int nan = 0;
    for (int n = 0; n < p->N; n++) {
        const uint8_t *image = (const uint8_t *)in + n * img;
#if R8_MODE == 0
        if (p->in_cells) {   /* (_plan/layout.py) */
            nan += SFX(conv_on_cells)(p, (const uint8_t *)in + n * (long)p->C * p->in_cells, n, out, nt);
            continue;
        }
#endif
#if defined(CONV_COMPUTE_IM2COL)
        if (p->im2col) { nan += CONV_COMPUTE_IM2COL(p, image, n, out, nt); continue; }
#endif
#if defined(CONV_COMPUTE_PACKING)
        if (by_rows && conv_planes_are_image(p) && !p->zw && CONV_PACKING_OK(p, nt)) {   /* each its own positions */
            nan += CONV_COMPUTE_PACKING(p, image, n, out, nt);
            continue;
        }
#endif
        SFX(conv_pack)(p, image, nt, by_rows);
        nan += SFX(conv_compute_planes)(p, n, out, nt);
    }
    return nan;
}
