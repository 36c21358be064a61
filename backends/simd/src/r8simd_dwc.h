/* refint8 simd kernels: depthwise Int8Convolution on 4-channel cells (VNNI + VBMI), r8_dwc. */
/* Part of r8simd_kernels.h, which includes it once per ISA unit, in order after the parts
 * before it (not a header of its own: it uses their definitions). */

/* r8_dwb puts 16 virtual positions of one channel in a vector: on a small plane many of them are
 * padding columns or past the plane's end (a 7x7 plane: 49 outputs in 64 lanes), and each vector's
 * codes go to its own run of the output with a compress. Here a vector holds 4 consecutive output
 * positions of a row x 4 channels, lane 4i + k holding position ox + i of channel 4*c4 + k: the
 * order of the output's 4-channel cells (_plan/layout.py), so a vector's 16 codes are 4 whole
 * cells, one store.
 *
 * A work item is one image's 4 channels (one cell plane). Its input goes into the thread's
 * scratch as a padded cell plane (dwc_pack): rows of Wp = pl + W + pr cells (as many as the
 * output rows reach), row r holding padded input row r (input row r - pt) and cell x its column
 * x, the 4 channels' u8 codes (i8 codes + 128), the channels' padding codes p->pad outside the
 * input; read from NCHW planes or from cells (r8_conv.in_cells). Two such planes a thread: the
 * next item's is packed before this one's is read (r8_dwc).
 *
 * The plane's vectors are listed once (_plan/convolution.py): vector v (every output row's
 * positions in runs of 4, row by row) reads its input from byte dwc_vec[3v] of the plane (its
 * first position's first input cell, (oy*sy*Wp + sx*ox)*4), stores from output position
 * dwc_vec[3v + 1] (oy*OW + ox), and has dwc_vec[3v + 2] (1 .. 4) real positions. The taps of a
 * kernel row go in cells of up to 4 (kx = 4j .. 4j + 3), tap cell t = ky*cells + j at byte
 * offset p->tap_off[t] = (ky*dy*Wp + 4*j*dx)*4 from a vector's input: one 64-byte load of
 * 16 cells there and one vpermb by p->perm (byte 4*lane + u <- byte 4*(sx*i + dx*u) + k: channel
 * k's code under tap kx = 4j + u of position i, inside the load where 3*(sx + dx) <= 15), and
 * one vpdpbusd with the tap cell's weights p->w [C/4][ntaps][16 lanes][4 bytes] (lane 4i + k:
 * channel 4*c4 + k's w[ky][4j + u], 0 past kw) add the 4 products of each lane exactly. acc =
 * comp[c] + those sums, comp = -pad*sum(w) as r8_dwb's (no weight zero points; multiplier 1:
 * OC = C = G). Lanes of positions past a row's end and taps past kw read what follows in the
 * plane (the next row, or the padding cells of its slack): their products are 0 or their lanes
 * are not stored.
 *
 * Requantization (r8_conv.rq only): rq_vector's fused chain x = min(steps, max(0, fma(acc, A,
 * B))), code rint(x) + ol, with each lane's channel's A, B and ol; a group's vectors with a
 * lane near a midpoint (rq_fused_limit) take the reference's formula (rq_codes_exact, each
 * channel in its lanes), unless all 4 channels' planes are proven (r8_conv.rq_proven). The codes
 * go out as cells (r8_conv.out_cells) or to the 4 channels' NCHW planes.
 *
 * How it is built, measured on Zen 4 (960 channels of 7x7, cells in and out, 1 thread; a C
 * harness calling the kernel): vectors kept in arrays that a loop indexed at run time were
 * spilled to the stack and read back (each loop unrolled, every index a constant: 37 -> 28 us);
 * a loop over rows and runs of 4 positions with the sizes read at run time leaves 2 vectors a
 * group on a 7x7 plane (the vectors listed once and taken 4 at a time, the 3 tap cells of 3x3 ..
 * 3x4 kernels a constant: 28 -> 21.5 us); and a plane read as soon as it is packed waits for the
 * pack's stores (a stand-alone loop: 11.3 -> 8.2 us with the next item's plane packed first). */

#define DWC_MR 4   /* vectors (of 4 positions x 4 channels) a group */

/* The 4 channels' values of rq field `field` (q: channel 0's fields), each in its lanes. */
R8_INLINE vf dwc_field(const float *q, int field) {
    return _mm512_broadcast_f32x4(_mm_setr_ps(q[field], q[RQ_FIELDS + field], q[2 * RQ_FIELDS + field],
                                              q[3 * RQ_FIELDS + field]));
}

/* The padded cell plane of item (n, c4) into plane (layout above), 64 bytes (16 cells) at a time:
 * pack_mask marks the block's input cells (bit i: cell i), whose positions follow each other in
 * the input too (its rows are whole; the padding is only in the plane): the next popcount(mask)
 * positions' cells, from cells (r8_conv.in_cells) or from the 4 channels' NCHW codes (16 bytes of
 * each, interleaved into cells by a vpermb), go to those lanes (vpexpandd), the padding cell to
 * the others, and the block is stored whole (the slack after the rows, which the last vectors'
 * loads reach, so padding too). Row by row, with a masked load and a masked store for each 16
 * cells of a row and the masks worked out there, MobileNetV2's stride-1 layers (in the model: the
 * expand layers' NCHW codes in, cells out) took 1.14-1.41x the time (7x7: 24.9 against 17.9 us). */
__attribute__((target("avx512vbmi")))
static void SFX(dwc_pack)(const r8_conv *p, const uint8_t *in, int n, int c4, uint8_t *plane) {
    const long channel_bytes = (long)p->H * p->W;
    const int *pad = p->pad + 4 * c4;
    const uint32_t cell = (uint32_t)(pad[0] & 0xFF) | (uint32_t)(pad[1] & 0xFF) << 8 |
                          (uint32_t)(pad[2] & 0xFF) << 16 | (uint32_t)(pad[3] & 0xFF) << 24;
    const __m512i padv = _mm512_set1_epi32((int)cell), flip = _mm512_set1_epi8(p->in_signed ? (char)0x80 : 0);
    /* 16 positions of 4 NCHW rows (row k in bytes 16k .. 16k + 15) into 16 cells */
    const __m512i interleave = _mm512_set_epi8(63, 47, 31, 15, 62, 46, 30, 14, 61, 45, 29, 13, 60, 44, 28, 12,
                                               59, 43, 27, 11, 58, 42, 26, 10, 57, 41, 25, 9, 56, 40, 24, 8,
                                               55, 39, 23, 7, 54, 38, 22, 6, 53, 37, 21, 5, 52, 36, 20, 4,
                                               51, 35, 19, 3, 50, 34, 18, 2, 49, 33, 17, 1, 48, 32, 16, 0);
    const uint32_t *cells_in = (const uint32_t *)in + ((long)n * (p->C / 4) + c4) * p->in_cells;
    const uint8_t *codes_in = in + ((long)n * p->C + 4 * c4) * channel_bytes;
    long at = 0;   /* the block's first input position */
    for (long b = 0; b < p->dwc_bytes / 64; b++) {
        const __mmask16 m = (__mmask16)p->pack_mask[b];
        const int count = __builtin_popcount(m);
        const __mmask16 first = (__mmask16)((1u << count) - 1u);   /* (masked loads read no byte past them) */
        __m512i cells;
        if (p->in_cells) {
            cells = _mm512_maskz_loadu_epi32(first, cells_in + at);
        } else {
            const uint8_t *src = codes_in + at;
            __m512i rows = _mm512_castsi128_si512(_mm_maskz_loadu_epi8(first, src));
            rows = _mm512_inserti32x4(rows, _mm_maskz_loadu_epi8(first, src + channel_bytes), 1);
            rows = _mm512_inserti32x4(rows, _mm_maskz_loadu_epi8(first, src + 2 * channel_bytes), 2);
            rows = _mm512_inserti32x4(rows, _mm_maskz_loadu_epi8(first, src + 3 * channel_bytes), 3);
            cells = _mm512_permutexvar_epi8(interleave, rows);
        }
        _mm512_storeu_si512(plane + 64 * b, _mm512_mask_expand_epi32(padv, m, _mm512_xor_si512(cells, flip)));
        at += count;
    }
}

/* The reference's codes of a vector (rq_codes_exact, each channel's fields in its lanes), as ints. */
static __attribute__((noinline, cold)) vi SFX(dwc_codes_exact)(const r8_conv *p, vi acc, const float *q) {
    vf codes = vf_set1(0.0f);
    for (int k = 0; k < 4; k++)
        codes = _mm512_mask_mov_ps(codes, (__mmask16)(0x1111u << k), rq_codes_exact(p, acc, q + k * RQ_FIELDS));
    return _mm512_cvtps_epi32(codes);
}

/* Store a vector's 16 codes (bytes: lane 4i + k at byte 4i + k) of `valid` positions from output
 * position o: 4*valid bytes of cells, or each channel's valid bytes to its NCHW plane. */
R8_INLINE void dwc_store(__m128i bytes, int valid, long outer0, long o, long out_cells, long plane, uint8_t *out) {
    if (out_cells) {
        _mm_mask_storeu_epi8(out + (outer0 / 4 * out_cells + o) * 4, (__mmask16)((1u << 4 * valid) - 1), bytes);
        return;
    }
    /* channel k's 4 positions to bytes 4k .. 4k + 3 */
    const __m128i t = _mm_shuffle_epi8(bytes, _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
    const __mmask16 m = (__mmask16)((1u << valid) - 1);
    uint8_t *dst = out + outer0 * plane + o;
    _mm_mask_storeu_epi8(dst, m, t);
    _mm_mask_storeu_epi8(dst + plane, m, _mm_bsrli_si128(t, 4));
    _mm_mask_storeu_epi8(dst + 2 * plane, m, _mm_bsrli_si128(t, 8));
    _mm_mask_storeu_epi8(dst + 3 * plane, m, _mm_bsrli_si128(t, 12));
}

/* The item's constants: each lane's channel's A, B and ol, comp, the permutation, whether all 4
 * planes are proven, the steps and near-midpoint limit, and the output's layout. */
typedef struct {
    vf a, b, steps, limit;
    vi ol, comp, perm;
    int proven;
    const float *q;          /* channel 0's rq fields */
    const int32_t *wt;       /* the item's tap cells' weights */
    long outer0, out_cells, out_plane;
} dwc_consts;

/* Vectors v0 .. v0 + m - 1 of the list (m <= DWC_MR, a literal where the caller can; ntaps: the
 * tap cells, a literal where it can), summed, requantized and stored. */
__attribute__((target("avx512vbmi")))
R8_INLINE void dwc_group(const r8_conv *p, const dwc_consts *k0, const uint8_t *plane, const int *vec, const int m,
                         const int ntaps, uint8_t *out) {
    const dwc_consts c = *k0;
    const int *tap_off = p->tap_off;
    vi acc[DWC_MR];
    const uint8_t *src[DWC_MR];
#pragma GCC unroll 4   /* (a vector past m: its guarded sums are never made; its src stays in the list) */
    for (int k = 0; k < DWC_MR; k++) acc[k] = c.comp, src[k] = plane + vec[3 * R8_MIN(k, m - 1)];
#pragma GCC unroll 4
    for (int t = 0; t < ntaps; t++) {
        const vi w = vi_load(c.wt + t * VL);
        const long off = tap_off[t];
#pragma GCC unroll 4
        for (int k = 0; k < DWC_MR; k++)
            if (k < m) acc[k] = vdot(acc[k], _mm512_permutexvar_epi8(c.perm, _mm512_loadu_si512(src[k] + off)), w);
    }
    __m128i bytes[DWC_MR];
    vf gap[DWC_MR], worst = vf_set1(0.0f);
#pragma GCC unroll 4
    for (int k = 0; k < DWC_MR; k++) {
        bytes[k] = _mm_setzero_si128(), gap[k] = worst;   /* (the lanes past m: never stored) */
        if (k >= m) continue;
        const vf x = vf_min(c.steps, vf_max(vf_set1(0.0f), _mm512_fmadd_ps(vf_cvt(acc[k]), c.a, c.b)));   /* rq_fused_x */
        const vi code = vi_add(_mm512_cvt_roundps_epi32(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), c.ol);
        bytes[k] = _mm512_cvtepi32_epi8(code);   /* (vpmovdb: the codes are in range) */
        if (!c.proven) {   /* the gap of the lanes of real positions only */
            gap[k] = _mm512_maskz_reduce_ps((__mmask16)((1u << 4 * vec[3 * k + 2]) - 1), x,
                                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            worst = rq_wider(worst, gap[k]);
        }
    }
    if (!c.proven && __builtin_expect(rq_wide_near(worst, c.limit), 0))
#pragma GCC unroll 4
        for (int k = 0; k < DWC_MR; k++)
            if (k < m && rq_near(gap[k], c.limit)) bytes[k] = _mm512_cvtepi32_epi8(SFX(dwc_codes_exact)(p, acc[k], c.q));
#pragma GCC unroll 4
    for (int k = 0; k < DWC_MR; k++)
        if (k < m) dwc_store(bytes[k], vec[3 * k + 2], c.outer0, vec[3 * k + 1], c.out_cells, c.out_plane, out);
}

/* Item (n, c4) from its padded cell plane: the list's vectors, DWC_MR at a time. */
__attribute__((target("avx512vbmi")))
static void SFX(dwc_item)(const r8_conv *p, const uint8_t *plane, int n, int c4, uint8_t *out) {
    dwc_consts c;
    c.outer0 = (long)n * p->OC + 4 * c4;
    c.q = p->rq + c.outer0 * RQ_FIELDS;
    c.a = dwc_field(c.q, 8), c.b = dwc_field(c.q, 9);
    c.steps = vf_set1(p->post[p->npost - 1].steps), c.limit = rq_fused_limit(p);
    c.ol = _mm512_broadcast_i32x4(_mm_setr_epi32(rq_ol_int(c.q), rq_ol_int(c.q + RQ_FIELDS),
                                                 rq_ol_int(c.q + 2 * RQ_FIELDS), rq_ol_int(c.q + 3 * RQ_FIELDS)));
    c.comp = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(p->comp + 4 * c4)));
    c.perm = _mm512_loadu_si512(p->perm);
    c.proven = p->rq_proven && p->rq_proven[c.outer0] && p->rq_proven[c.outer0 + 1] &&
               p->rq_proven[c.outer0 + 2] && p->rq_proven[c.outer0 + 3];
    c.wt = (const int32_t *)p->w + (long)c4 * p->ntaps * VL;
    c.out_cells = p->out_cells, c.out_plane = (long)p->OH * p->OW;
    const int nvec = p->dwc_nvec, whole = nvec - nvec % DWC_MR;
    const int *vec = p->dwc_vec;
    if (p->ntaps == 3) {
        for (int v = 0; v < whole; v += DWC_MR) dwc_group(p, &c, plane, vec + 3 * v, DWC_MR, 3, out);
        if (whole < nvec) dwc_group(p, &c, plane, vec + 3 * whole, nvec - whole, 3, out);
    } else {
        for (int v = 0; v < whole; v += DWC_MR) dwc_group(p, &c, plane, vec + 3 * v, DWC_MR, p->ntaps, out);
        if (whole < nvec) dwc_group(p, &c, plane, vec + 3 * whole, nvec - whole, p->ntaps, out);
    }
}

/* Each thread's items in order, one contiguous run of them; the next item's plane is packed (into
 * the other of the thread's two planes) before this one's is read: a load of the plane just
 * packed would wait for the pack's stores (no forwarding from several stores), which on a 7x7
 * plane, read as soon as it is written, is most of its loads. */
int SFX(r8_dwc)(const r8_conv *p, const void *in, void *out) {
    const int nt = r8_team(p->threads);
    const long C4 = p->C / 4, items = (long)p->N * C4;
    const long per_plane = p->dwc_bytes;   /* whole cache lines (_plan/convolution.py), two a thread */
#pragma omp parallel num_threads(nt) if (nt > 1 && items > 1)
    {
        const long t = omp_get_thread_num(), team = omp_get_num_threads();
        const long first = items * t / team, end = items * (t + 1) / team;
        uint8_t *planes = (uint8_t *)p->scratch + t * 2 * per_plane;
        if (first < end) SFX(dwc_pack)(p, (const uint8_t *)in, (int)(first / C4), (int)(first % C4), planes);
        for (long it = first; it < end; it++) {
            const long next = it + 1, slot = (it - first) & 1;
            if (next < end)
                SFX(dwc_pack)(p, (const uint8_t *)in, (int)(next / C4), (int)(next % C4), planes + (1 - slot) * per_plane);
            SFX(dwc_item)(p, planes + slot * per_plane, (int)(it / C4), (int)(it % C4), (uint8_t *)out);
        }
    }
    return 0;
}
