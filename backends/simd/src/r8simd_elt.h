/* refint8 simd kernels: elementwise layers (Int8Add, Int8Multiply, Dequantize, FakeQuantize),
 * r8_elt (r8simd_api.h), with their requantization chain (elt_rq: folded, checked or proven) and
 * a convolution's fused consumer run in place on its codes (rq_consume, rq_consume_cells). */
/* Part of r8simd_kernels.h, which includes it once per ISA unit, in order after the parts
 * before it (not a header of its own: it uses their definitions). */

R8_INLINE vf load_as_f32(const void *base, int type) {
    switch (type) {
    case 0: return vf_load((const float *)base);
    case 1: return vf_load_u8(base);
    case 2: return vf_load_i8(base);
    default: return vf_cvt(vi_load(base));
    }
}

static const int r8_type_size[4] = {4, 1, 1, 4};

/* VL elements at element index e of an input; the last partial vector through a bounce buffer. */
R8_INLINE vf load_elems(const void *base, long e, long rem, int type) {
    const int size = r8_type_size[type];
    const uint8_t *src = (const uint8_t *)base + e * size;
    if (rem >= VL) return load_as_f32(src, type);
    uint8_t tmp[VL * 4] __attribute__((aligned(64)));
    memset(tmp, 0, sizeof tmp);
    memcpy(tmp, src, (size_t)rem * size);
    return load_as_f32(tmp, type);
}

/* Whether an elementwise layer runs on a team: more than one thread and work item, and at least
 * ELT_PARALLEL_ELEMENTS outputs. Below that the team's start and end cost more than half the work
 * (ResNet-50's 2048 dequantized features: 3.6 us on one thread, 34 us on two when the other
 * thread had gone to sleep, at 2000 spins). */
#define ELT_PARALLEL_ELEMENTS 32768
R8_INLINE int elt_parallel(const r8_elt *p, int nt, long items) {
    return nt > 1 && items > 1 && p->planes * p->plane >= ELT_PARALLEL_ELEMENTS;
}

/* Work items: (plane, block of CHV vectors); per register group of PB vectors: load, the layer's
 * step, the post-ops and the store, in registers. */
#if defined(R8_ZMM)   /* (every AVX-512 build: elt_rq) */
/* VL codes (type 1 u8, 2 i8) as float32 from the first lanes of mask (a prefix: 2^k - 1), the
 * other lanes 0. */
R8_INLINE vf load_prefix_codes(const uint8_t *src, unsigned mask, int type) {
    const __m128i b = _mm_maskz_loadu_epi8((__mmask16)mask, src);
    return _mm512_cvtepi32_ps(type == 2 ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b));
}

/* The plane's rq fields of r8_elt.rq in locals (stores through byte pointers could alias them). */
typedef struct {
    vf h, r, s, il, m, ol, steps, limit;
    vf A, B, C, fold_limit;   /* the folded chain (elt_rq_folded) */
    float f[RQ_ELT_FIELDS + 1];   /* + steps */
} elt_rq_plane;

/* The Quantize's input for codes y (q1) and b (q2, binary kinds): the general kernel's operations,
 * op by op (elt_combine, then post-op type 0). */
R8_INLINE vf elt_rq_input(const elt_rq_plane *c, int kind, vf y, vf b) {
    if (kind) {
        const vf d = vf_sub(y, c->h);                                   /* float32(q1) - h */
        y = kind == 1 ? vf_add(vf_mul(d, c->r), b) : vf_mul(d, b);
    }
    return vf_mul(y, c->s);                                             /* Multiply */
}

/* Post-op type 8 on x without the near-midpoint recomputation: rint(c) + ol, c = min(steps,
 * max(0, (x - il) * m)); *gap = c - rint(c). */
R8_INLINE vf elt_rq_codes(const elt_rq_plane *c, vf x, vf *gap) {
    const vf v = vf_min(c->steps, vf_max(vf_set1(0.0f), vf_mul(vf_sub(x, c->il), c->m)));
    const vf q = vf_round(v);
    *gap = vf_sub(v, q);
    return vf_add(q, c->ol);
}

/* Post-op type 8 by the reference's formula (post_group_'s case 7 recomputation). */
R8_INLINE vf elt_rq_exact(const elt_rq_plane *c, vf x) {
    return rq_quantize_exact(x, c->f[3], c->f[6], c->f[5], c->f[7], c->f[8], c->f[9], c->f[RQ_ELT_FIELDS]);
}

/* The codes of one vector by the chain op by op, a lane near a midpoint by the reference's
 * formula: what the general kernel stores. */
R8_INLINE vf elt_rq_checked(const elt_rq_plane *c, int kind, vf a, vf b) {
    vf gap;
    const vf x = elt_rq_input(c, kind, a, b);
    const vf y = elt_rq_codes(c, x, &gap);
    return rq_near(gap, c->limit) ? elt_rq_exact(c, x) : y;
}

/* min(hi, max(0, u)) of finite floats u and hi >= 0 (as vmaxps and vminps give it, up to the
 * sign of a zero), by integer max and min of their bits: non-negative floats order as their bits
 * do, negative ones (and -0.0) have the sign bit set and fall below 0. In an elementwise kernel
 * these issue on any vector port, where vmaxps and vminps take float-addition slots (ResNet-50's
 * residual adds 0.95x the time, with the gap's subtraction as a fused multiply-add). */
R8_INLINE vf clamp_nonneg_bits(vf u, vf hi) {
    const vi m = _mm512_max_epi32(_mm512_castps_si512(u), _mm512_setzero_si512());
    return _mm512_castsi512_ps(_mm512_min_epi32(m, _mm512_castps_si512(hi)));
}

/* The folded chain (kinds 0 and 1): the Quantize's clamped argument as a*A + (b*B + C), two fused
 * multiply-adds instead of the chain's six operations (four for kind 0, with b = B = 0), whose
 * result differs from the chain's by at most E, a bound _plan/elementwise.py works out per plane
 * from the operands and the code ranges; the plane's fold_limit is the chain's near-midpoint limit
 * less E. A lane whose gap stays below it lies on the same side of every midpoint as the chain's
 * value, and further from the nearest than the chain's limit: the chain would give the same code
 * without recomputing it. rint(c) + ol into the result, c - rint(c) into *gap. */
R8_INLINE vf elt_rq_folded(const elt_rq_plane *c, vf a, vf b, vf *gap) {
    const vf u = _mm512_fmadd_ps(a, c->A, _mm512_fmadd_ps(b, c->B, c->C));
    const vf v = clamp_nonneg_bits(u, c->steps);
    const vf q = vf_round(v);
    *gap = _mm512_fnmadd_ps(q, vf_set1(1.0f), v);   /* v - q, exact, on the multiply ports */
    return vf_add(q, c->ol);
}

/* elt_rq_folded with ol 0 (u8 codes; q + 0 would store the same code): the clamped v rounded
 * straight to the integer code (vcvtps2dq with its own round-to-nearest-even, the same rint;
 * rq_vector's zero-low path): ResNet-50's residual adds 0.94-0.96x the time. */
R8_INLINE vi elt_rq_folded_ints(const elt_rq_plane *c, vf a, vf b, vf *gap) {
    const vf u = _mm512_fmadd_ps(a, c->A, _mm512_fmadd_ps(b, c->B, c->C));
    const vf v = clamp_nonneg_bits(u, c->steps);
    const vi q = _mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    *gap = _mm512_fnmadd_ps(vf_cvt(q), vf_set1(1.0f), v);   /* v - q, exact, on the multiply ports */
    return q;
}

/* elt_rq_folded_ints without the clamp (r8_elt.rq field 14: 256 levels, ol 0, |a*A + b*B + C| below
 * 2^30 for all codes): the level rint(u), which the stores saturate to 0 .. 255, the clamp's codes
 * (rq_level's argument), and the gap of u (vreduceps): ResNet-50's residual adds on AMX, where
 * they run apart, 0.8x the time (1.2 ms an inference to 0.96). */
R8_INLINE vi elt_rq_folded_levels(const elt_rq_plane *c, vf a, vf b, vf *gap) {
    const vf u = _mm512_fmadd_ps(a, c->A, _mm512_fmadd_ps(b, c->B, c->C));
    *gap = _mm512_reduce_ps(u, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);   /* u - rint(u), exact */
    return _mm512_cvt_roundps_epi32(u, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* The chain on n <= PB vectors of codes a (in0) and b (in1) as floats (fold, a literal: 0 op by op
 * into y, 1 folded into y, 2 folded with ol 0 into the integer codes, 3 that unclamped, the
 * levels elt_rq_folded_levels, which the stores saturate), the vectors with a lane near a
 * midpoint again by elt_rq_checked; fold + RQ_VERIFIED (5, 6, 7): folds 1-3 on a plane whose
 * folded chain gives the reference's code for every pair of codes (r8_elt.rq field 15, found so
 * by _plan/exhaustive.py), with no gap and no check. */
#define RQ_VERIFIED 4
R8_INLINE void elt_rq_vectors(const elt_rq_plane *c, int kind, const vf *a, const vf *b, int n, const int fold_,
                              vf *y, vi *codes) {
    const int fold = fold_ & 3, checked = fold_ < RQ_VERIFIED;
    vf gap[PB];
#pragma GCC unroll 4
    for (int j = 0; j < n; j++) {
        if (fold == 3) codes[j] = elt_rq_folded_levels(c, a[j], b[j], &gap[j]);
        else if (fold == 2) codes[j] = elt_rq_folded_ints(c, a[j], b[j], &gap[j]);
        else y[j] = fold ? elt_rq_folded(c, a[j], b[j], &gap[j])
                         : elt_rq_codes(c, elt_rq_input(c, kind, a[j], b[j]), &gap[j]);
    }
    if (!checked) return;   /* (the gaps are left unused: the compiler drops them) */
    /* the largest magnitude: n - 1 vrangeps (a lone vector's own magnitude: one) */
    vf worst = rq_wider(gap[0], gap[n > 1]);
#pragma GCC unroll 4
    for (int j = 2; j < n; j++) worst = rq_wider(worst, gap[j]);
    const vf limit = fold ? c->fold_limit : c->limit;
    if (__builtin_expect(rq_wide_near(worst, limit), 0)) {
        for (int j = 0; j < n; j++)
            if (rq_near(gap[j], limit)) {
                y[j] = elt_rq_checked(c, kind, a[j], b[j]);
                if (fold >= 2) codes[j] = _mm512_cvtps_epi32(y[j]);
            }
    }
}

/* One group of `n` vectors (n = PB, or 1 for a last partial vector: lanes `mask`) at element i of
 * a plane: codes, the chain (elt_rq_vectors; fold a literal), a group stored by rq_store_levels
 * (fold 3) or vector by vector. */
R8_INLINE void elt_rq_group(const elt_rq_plane *c, int kind, int t0, int t1, const uint8_t *a0,
                            const uint8_t *a1, uint8_t *dst, int n, unsigned mask, const int fold_) {
    const int fold = fold_ & 3;   /* (fold_: elt_rq_vectors', RQ_VERIFIED included) */
    vf a[PB], b[PB], y[PB];
    vi codes[PB];   /* fold 2, 3: the codes as integers (rounded straight from v, as rq_vector does) */
#pragma GCC unroll 4
    for (int j = 0; j < n; j++) {
        a[j] = n == PB ? load_codes(a0 + j * VL, VM_FULL, t0) : load_prefix_codes(a0, mask, t0);
        b[j] = !kind ? vf_set1(0.0f) : n == PB ? load_codes(a1 + j * VL, VM_FULL, t1) : load_prefix_codes(a1, mask, t1);
    }
    elt_rq_vectors(c, kind, a, b, n, fold_, y, codes);
    if (fold == 3 && n == PB) {
        rq_store_levels(dst, codes, PB, 0);
        return;
    }
#pragma GCC unroll 4
    for (int j = 0; j < n; j++) {
        if (fold == 3) codes[j] = _mm512_min_epi32(_mm512_max_epi32(codes[j], _mm512_setzero_si512()), vi_set1(255));
        if (fold >= 2) store_code_ints(dst + j * VL, codes[j], n == PB ? VM_FULL : mask);
        else store_codes(dst + j * VL, y[j], n == PB ? VM_FULL : mask);
    }
}

/* `count` elements of one plane from a0, a1 into dst, in groups of PB vectors, then vector by
 * vector (fold: elt_rq_group's). The groups of an Int8Add are compiled once per pair of input
 * types (u8 = 1, i8 = 2), which the loads then test no more (ResNet-50's residual adds, i8 + u8:
 * 0.94-0.97x the time alone). */
R8_INLINE void elt_rq_block(const r8_elt *p, const elt_rq_plane *c, const uint8_t *a0, const uint8_t *a1,
                            uint8_t *dst, long count, const int fold) {
    const int kind = p->kind, t0 = p->in0_type, t1 = p->in1_type;
    const long full = count / VL * VL;
    long i = 0;
#define ELT_RQ_GROUPS(kind_, t0_, t1_)                                                  \
    for (; i + PB * VL <= full; i += PB * VL)                                           \
        elt_rq_group(c, kind_, t0_, t1_, a0 + i, a1 + i, dst + i, PB, VM_FULL, fold)
    if (kind == 1 && t0 == 2 && t1 == 1) ELT_RQ_GROUPS(1, 2, 1);
    else if (kind == 1 && t0 == 1 && t1 == 2) ELT_RQ_GROUPS(1, 1, 2);
    else if (kind == 1 && t0 == 1 && t1 == 1) ELT_RQ_GROUPS(1, 1, 1);
    else if (kind == 1 && t0 == 2 && t1 == 2) ELT_RQ_GROUPS(1, 2, 2);
    else ELT_RQ_GROUPS(kind, t0, t1);
#undef ELT_RQ_GROUPS
    for (; i < count; i += VL) {
        const unsigned mask = count - i >= VL ? VM_FULL : (1u << (count - i)) - 1u;
        elt_rq_group(c, kind, t0, t1, a0 + i, a1 + i, dst + i, 1, mask, fold);
    }
}

/* Row `row` of e's rq table with the chain's Quantize steps, as elt_rq_block reads them. */
R8_INLINE elt_rq_plane elt_rq_plane_of(const r8_elt *e, long row) {
    elt_rq_plane c;
    for (int k = 0; k < RQ_ELT_FIELDS; k++) c.f[k] = e->rq[row * RQ_ELT_FIELDS + k];
    const float steps = e->post[e->npost - 1].steps;
    c.f[RQ_ELT_FIELDS] = steps;
    c.h = vf_set1(c.f[0]), c.r = vf_set1(c.f[1]), c.s = vf_set1(c.f[2]), c.il = vf_set1(c.f[3]);
    c.m = vf_set1(c.f[4]), c.ol = vf_set1(c.f[5]), c.steps = vf_set1(steps), c.limit = rq_limit(steps);
    c.A = vf_set1(c.f[10]), c.B = vf_set1(c.f[11]), c.C = vf_set1(c.f[12]), c.fold_limit = vf_set1(c.f[13]);
    return c;
}

/* elt_rq_block with the plane's chain: op by op where it has no folded one (limit 13 <= 0), else
 * folded, with ol 0 straight to the integer codes, unclamped where field 14 allows it, without
 * the near-midpoint check where field 15 says the folded chain was found exact on every pair of
 * codes (RQ_VERIFIED). */
R8_INLINE void elt_rq_plane_block(const r8_elt *e, const elt_rq_plane *c, const uint8_t *a0, const uint8_t *a1,
                                  uint8_t *dst, long count) {
    if (c->f[13] <= 0.0f) elt_rq_block(e, c, a0, a1, dst, count, 0);
    else if (c->f[15] != 0.0f) {   /* proven on every pair of codes: no check */
        if (c->f[5] == 0.0f && c->f[14] != 0.0f) elt_rq_block(e, c, a0, a1, dst, count, 3 + RQ_VERIFIED);
        else if (c->f[5] == 0.0f) elt_rq_block(e, c, a0, a1, dst, count, 2 + RQ_VERIFIED);
        else elt_rq_block(e, c, a0, a1, dst, count, 1 + RQ_VERIFIED);
    } else if (c->f[5] == 0.0f && c->f[14] != 0.0f) elt_rq_block(e, c, a0, a1, dst, count, 3);
    else if (c->f[5] == 0.0f) elt_rq_block(e, c, a0, a1, dst, count, 2);
    else elt_rq_block(e, c, a0, a1, dst, count, 1);
}

/* r8_elt with its requantization chain (r8_elt.rq): per vector of codes the general kernel's
 * operations with the plane's operands as broadcast scalars, or the folded chain where the plane
 * allows it; a group of PB vectors with a lane near a midpoint has those vectors recomputed
 * (elt_rq_checked); codes in range are stored as they are. */
static int SFX(elt_rq)(const r8_elt *p, const void *in0, const void *in1, void *out) {
    const int nt = r8_team(p->threads);
    const long blk = (long)CHV * VL;
    const long nblk = (p->plane + blk - 1) / blk;
    const long items = p->planes * nblk;
#pragma omp parallel for schedule(static) num_threads(nt) if (elt_parallel(p, nt, items))
    for (long it = 0; it < items; it++) {
        const long pl = it / nblk, i0 = it % nblk * blk;
        const long base = pl * p->plane + i0;
        const elt_rq_plane c = elt_rq_plane_of(p, pl);
        elt_rq_plane_block(p, &c, (const uint8_t *)in0 + base, (const uint8_t *)in1 + base, (uint8_t *)out + base,
                           R8_MIN(blk, p->plane - i0));
    }
    return 0;
}

/* Channel j's codes (type 1 u8, 2 i8) of 16 cells v as float32. */
R8_INLINE vf cell_channel_codes(vi v, int j, int type) {
    /* u8: channel 0 by a mask, 3 by a shift, 1 and 2 by a vpshufb each (byte j of each dword to
     * its byte 0, the others zeroed: one operation where the shift and mask took two) */
    const vi take = _mm512_broadcast_i32x4(_mm_setr_epi32((int)(0x80808000u + j), (int)(0x80808004u + j),
                                                          (int)(0x80808008u + j), (int)(0x8080800Cu + j)));
    const vi c = type == 2 ? _mm512_srai_epi32(_mm512_slli_epi32(v, 24 - 8 * j), 24)
                 : j == 0  ? _mm512_and_si512(v, vi_set1(0xFF))
                 : j == 3  ? _mm512_srli_epi32(v, 24)
                           : _mm512_shuffle_epi8(v, take);
    return _mm512_cvtepi32_ps(c);
}

/* rq_consume where the consumer stores cells (conv_consumes_into_cells; one row of rq constants,
 * _plan/layout.py): of the planes plane0 .. plane0 + nplanes - 1 just stored, the 4-channel cells
 * they complete (cells floor(plane0/4) .. floor((plane0 + nplanes)/4) - 1: a cell whose first
 * channels an earlier block of the item stored is completed here, one whose last channels the
 * next block stores is left to it). Per 16 positions, the 4 channels' codes in the ring
 * (conv_plane_codes; floats, read as they are) and the other input's (its cells, elt_other_cells
 * positions a plane, one byte of each a channel; or its NCHW planes) go through elt_rq_group's
 * arithmetic, a channel a vector (elt_rq_vectors, fold as elt_rq_plane_block chooses it), and the
 * 4 channels' codes are stored as 16 cells of out (cells_of_levels; out_cells positions a plane). */
R8_INLINE void rq_consume_cells_fold(const r8_conv *p, const elt_rq_plane *c, long plane0, int nplanes, long start,
                                     long count, void *out, const int fold_, const int t_other, const int mine_first,
                                     const int in_cells) {
    const int fold = fold_ & 3;   /* (fold_: elt_rq_vectors', RQ_VERIFIED included) */
    const r8_elt *e = p->elt;
    const long npos = (long)p->OH * p->OW, other_s = in_cells ? p->elt_other_cells : 0;
    const uint8_t *other = (const uint8_t *)p->elt_other;
    uint8_t *ring = conv_codes_base(p, NULL);
    const int kind = e->kind;
    const int sat_signed = fold <= 1 && c->f[5] < 0.0f;   /* ol < 0: i8 codes */
    for (long q = plane0 / 4; q < (plane0 + nplanes) / 4; q++) {
        const float *rows[4];
        const uint8_t *other_rows[4];
        for (int j = 0; j < 4; j++) {
            const long plane = 4 * q + j;
            rows[j] = (const float *)conv_plane_codes(p, ring, (int)(plane / p->OC), (int)(plane % p->OC));
            other_rows[j] = other + plane * npos;
        }
        const uint32_t *other_cells = (const uint32_t *)other + q * other_s;
        uint8_t *dst = (uint8_t *)out + q * p->out_cells * 4;
        for (long x = start; x < start + count; x += VL) {
            const long m = R8_MIN(VL, start + count - x);
            const unsigned mask = m == VL ? VM_FULL : (1u << m) - 1u;
            vf mine[4], theirs[4], y[4];
            vi codes[4];
            const vi cells = other_s ? _mm512_maskz_loadu_epi32((__mmask16)mask, other_cells + x) : vi_zero();
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                mine[j] = m == VL ? _mm512_loadu_ps(rows[j] + x) : _mm512_maskz_loadu_ps((__mmask16)mask, rows[j] + x);
                theirs[j] = other_s ? cell_channel_codes(cells, j, t_other)
                            : m == VL ? load_codes(other_rows[j] + x, VM_FULL, t_other)
                                      : load_prefix_codes(other_rows[j] + x, mask, t_other);
            }
            elt_rq_vectors(c, kind, mine_first ? mine : theirs, mine_first ? theirs : mine, 4, fold_, y, codes);
            if (fold <= 1)
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) codes[j] = _mm512_cvtps_epi32(y[j]);
            _mm512_mask_storeu_epi32(dst + x * 4, (__mmask16)mask, cells_of_levels(codes, sat_signed, 0));
        }
    }
}

/* rq_consume_cells_fold with the fold elt_rq_plane_block would choose, compiled apart (literal
 * type, order and source of the other input) for ResNet's residual adds: its convolution's codes
 * first, the other input u8 cells (a trunk) or i8 NCHW (a downsampling convolution's), the
 * folded chain unclamped; with the types tested at each load the loop spilled and ran 1.2x the
 * time of the NCHW rq_consume. */
static __attribute__((noinline, unused)) void SFX(rq_consume_cells)(const r8_conv *p, long plane0, int nplanes,
                                                                    long start, long count, void *out) {
    const elt_rq_plane c = elt_rq_plane_of(p->elt, 0);
    const r8_elt *e = p->elt;
    const int mine_first = p->elt_input == 0, in_cells = p->elt_other_cells != 0;
    const int t_other = mine_first ? e->in1_type : e->in0_type;
    const int proven = c.f[15] != 0.0f ? RQ_VERIFIED : 0;   /* (as elt_rq_plane_block) */
    const int fold = c.f[13] <= 0.0f ? 0 : (c.f[5] != 0.0f ? 1 : c.f[14] != 0.0f ? 3 : 2) + proven;
#define RQ_CELLS(fold_, t_other_, mine_first_, in_cells_)                                                           \
    rq_consume_cells_fold(p, &c, plane0, nplanes, start, count, out, fold_, t_other_, mine_first_, in_cells_)
    const int verified = RQ_VERIFIED + 3;
    if (fold == verified && mine_first && t_other == 1 && in_cells) RQ_CELLS(verified, 1, 1, 1);
    else if (fold == verified && mine_first && t_other == 2 && !in_cells) RQ_CELLS(verified, 2, 1, 0);
    else if (fold == 3 && mine_first && t_other == 1 && in_cells) RQ_CELLS(3, 1, 1, 1);
    else if (fold == 3 && mine_first && t_other == 2 && !in_cells) RQ_CELLS(3, 2, 1, 0);
    else if (fold == 0) RQ_CELLS(0, t_other, mine_first, in_cells);
    else if (fold == 1) RQ_CELLS(1, t_other, mine_first, in_cells);
    else if (fold == 2) RQ_CELLS(2, t_other, mine_first, in_cells);
    else if (fold == 3) RQ_CELLS(3, t_other, mine_first, in_cells);
    else if (fold == RQ_VERIFIED + 1) RQ_CELLS(RQ_VERIFIED + 1, t_other, mine_first, in_cells);
    else if (fold == RQ_VERIFIED + 2) RQ_CELLS(RQ_VERIFIED + 2, t_other, mine_first, in_cells);
    else RQ_CELLS(verified, t_other, mine_first, in_cells);
#undef RQ_CELLS
}

/* The fused consumer's requantizing step (r8_conv.elt with its own elt->rq: elt_rq's arithmetic,
 * each plane's row or its only one) on the `count` codes the convolution has stored from `start`
 * on in each output plane plane0 .. plane0 + nplanes - 1 (n*OC + oc), in place: the codes are its
 * input elt_input, the other input's codes at the same place of elt_other its other one. A
 * consumer of one row (per-tensor operands: ResNet-50's residual adds) has its plane's constants
 * built once for all the planes, not once a plane (a call a plane had built them for 8-16 vectors
 * of codes), and whole planes of it, which follow each other, are one run (elt_rq_block's groups
 * of 4 vectors across the planes: a 7x7 plane alone is 3 vectors and one of a single lane).
 * Where the consumer stores cells, rq_consume_cells instead. */
static __attribute__((noinline, unused)) void SFX(rq_consume)(const r8_conv *p, long plane0, int nplanes, long start,
                                                              long count, void *out) {
    if (conv_consumes_into_cells(p)) {
        SFX(rq_consume_cells)(p, plane0, nplanes, start, count, out);
        return;
    }
    const r8_elt *e = p->elt;
    elt_rq_plane c = elt_rq_plane_of(e, e->planes == 1 ? 0 : plane0);
    const long npos = (long)p->OH * p->OW;
    if (e->planes == 1 && start == 0 && count == npos) {   /* whole planes, one row: one run of them */
        uint8_t *codes = (uint8_t *)out + plane0 * npos;
        const uint8_t *other = (const uint8_t *)p->elt_other + plane0 * npos;
        elt_rq_plane_block(e, &c, p->elt_input == 0 ? codes : other, p->elt_input == 0 ? other : codes, codes,
                           nplanes * npos);
        return;
    }
    for (long plane = plane0; plane < plane0 + nplanes; plane++) {
        if (e->planes != 1 && plane != plane0) c = elt_rq_plane_of(e, plane);
        const long at = plane * npos + start;
        uint8_t *codes = (uint8_t *)out + at;
        const uint8_t *other = (const uint8_t *)p->elt_other + at;
        elt_rq_plane_block(e, &c, p->elt_input == 0 ? codes : other, p->elt_input == 0 ? other : codes, codes, count);
    }
}
#endif

#if defined(R8_ZMM)
/* r8_elt.quantize_f32 on codes count from in and out on (the NaN count): post_group_ case 8 (c =
 * min(steps, max(0, (x - il)*m)), its level rint(c) unless c lies within the near-midpoint limit
 * of k + 1/2, where the vectors' codes come from case 7's formula, rq_quantize_exact) plus ol: the
 * level by vcvtps2dq and its gap by vreduceps, as rq_level; 4 vectors at a time, their gaps and
 * NaNs tested once (a test a vector: 0.88x the interpreter's time, 4 at once 0.62x; ResNet-50's
 * first layer, its 224x224 RGB image, 35 -> 22 us on AMX). A NaN lane stays NaN to the store (c
 * and its gap NaN, never near) and is counted. */
/* The codes of x by case 7's formula (rq_quantize_exact) on the post-op's fields, stored. */
R8_INLINE void elt_quantize_f32_exact(const r8_post *o, vf x, uint8_t *out, unsigned mask) {
    store_codes(out, rq_quantize_exact(x, o->a[0].data[0], o->a[1].data[0], o->a[2].data[0], o->a[4].data[0],
                                       o->a[5].data[0], o->a[6].data[0], o->steps),
                mask);
}

R8_INLINE int elt_quantize_f32_block(const r8_post *o, const float *in, uint8_t *out, long count) {
    const float steps = o->steps;
    const vf il = vf_set1(o->a[0].data[0]), m = vf_set1(o->a[3].data[0]), st = vf_set1(steps);
    const vf zero = vf_set1(0.0f), limit = rq_limit(steps);
    const vi ol = vi_set1((int32_t)o->a[2].data[0]);
    int nan = 0;
    long i = 0;
    for (; i + 4 * VL <= count; i += 4 * VL) {   /* 4 whole vectors: one test of their gaps and NaNs */
        vf x[4], wide = zero;
        vi level[4];
        unsigned nans = 0;
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            x[j] = _mm512_loadu_ps(in + i + j * VL);
            const vf c = vf_min(st, vf_max(zero, vf_mul(vf_sub(x[j], il), m)));
            wide = rq_wider(wide, _mm512_reduce_ps(c, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            level[j] = vi_add(_mm512_cvt_roundps_epi32(c, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), ol);
            nans |= vm_bits(vm_nan(x[j]));
        }
        if (__builtin_expect(nans != 0, 0))
            for (int j = 0; j < 4; j++) nan += __builtin_popcount(vm_bits(vm_nan(x[j])));
        if (__builtin_expect(rq_wide_near(wide, limit), 0)) {
            for (int j = 0; j < 4; j++) elt_quantize_f32_exact(o, x[j], out + i + j * VL, VM_FULL);
            continue;
        }
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) store_code_ints(out + i + j * VL, level[j], VM_FULL);
    }
    for (; i < count; i += VL) {
        const unsigned mask = count - i >= VL ? VM_FULL : (1u << (count - i)) - 1u;
        const vf x = _mm512_maskz_loadu_ps((__mmask16)mask, in + i);
        const vf c = vf_min(st, vf_max(zero, vf_mul(vf_sub(x, il), m)));
        const vf gap = _mm512_reduce_ps(c, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const vi level = _mm512_cvt_roundps_epi32(c, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        nan += __builtin_popcount(vm_bits(vm_nan(x)) & mask);
        if (__builtin_expect(rq_near(gap, limit), 0))
            elt_quantize_f32_exact(o, x, out + i, mask);
        else
            store_code_ints(out + i, vi_add(level, ol), mask);
    }
    return nan;
}

static int SFX(elt_quantize_f32)(const r8_elt *p, const float *in, uint8_t *out) {
    const int nt = r8_team(p->threads);
    const long blk = (long)CHV * VL, items = (p->plane + blk - 1) / blk;
    int nan = 0;
#pragma omp parallel for schedule(static) num_threads(nt) if (elt_parallel(p, nt, items)) reduction(+ : nan)
    for (long it = 0; it < items; it++)
        nan += elt_quantize_f32_block(p->post, in + it * blk, out + it * blk, R8_MIN(blk, p->plane - it * blk));
    return nan;
}
#endif

int SFX(r8_elt)(const r8_elt *p, const void *in0, const void *in1, void *out) {
#if defined(R8_ZMM)
    if (p->rq) return SFX(elt_rq)(p, in0, in1, out);
    if (p->quantize_f32) return SFX(elt_quantize_f32)(p, (const float *)in0, (uint8_t *)out);
#endif
    const int nt = r8_team(p->threads);
    const long blk = (long)CHV * VL;
    const long nblk = (p->plane + blk - 1) / blk;
    const long items = p->planes * nblk;
    int nan = 0;
#pragma omp parallel for schedule(static) num_threads(nt) if (elt_parallel(p, nt, items)) reduction(+ : nan)
    for (long it = 0; it < items; it++) {
        const long pl = it / nblk, i0 = it % nblk * blk;
        const long base = pl * p->plane + i0;
        const long count = R8_MIN(blk, p->plane - i0);
        const long full = count / VL, nv = (count + VL - 1) / VL;
        const int t0 = p->in0_type, t1 = p->in1_type, s0 = r8_type_size[t0], s1 = r8_type_size[t1];
        const uint8_t *a0 = (const uint8_t *)in0 + base * s0, *a1 = (const uint8_t *)in1 + base * s1;
        const float *hp = p->h.data + pl * p->h.s_outer + i0 * p->h.s_inner;
        const float *rp = p->r.data + pl * p->r.s_outer + i0 * p->r.s_inner;
        r8_post_run res[R8_MAX_POST];
        const int uni = post_resolve(p->post, p->npost, pl, i0, res);
        const r8_elt_step es = elt_step_of(p);
        long i = 0;
        for (; i + PB <= full; i += PB) {
            vf y[PB], x1[PB] = {0};
#pragma GCC unroll 4
            for (int j = 0; j < PB; j++) {
                y[j] = load_as_f32(a0 + (i + j) * VL * s0, t0);
                if (es.kind) x1[j] = load_as_f32(a1 + (i + j) * VL * s1, t1);
            }
            elt_combine(&es, y, x1, hp, rp, PB, i);
            POST_GROUP(res, es.npost, y, PB, i, uni);
#pragma GCC unroll 4
            for (int j = 0; j < PB; j++) nan += store_result(out, base + (i + j) * VL, y[j], VM_FULL, es.out_type);
        }
        for (; i < nv; i++) {
            const long rem = count - i * VL;
            vf y[1], x1[1] = {0};
            y[0] = rem >= VL ? load_as_f32(a0 + i * VL * s0, t0) : load_elems(a0, i * VL, rem, t0);
            if (es.kind) x1[0] = rem >= VL ? load_as_f32(a1 + i * VL * s1, t1) : load_elems(a1, i * VL, rem, t1);
            elt_combine(&es, y, x1, hp, rp, 1, i);
            POST_GROUP(res, es.npost, y, 1, i, uni);
            nan += store_result(out, base + i * VL, y[0], rem >= VL ? VM_FULL : (1u << rem) - 1u, es.out_type);
        }
    }
    return nan;
}
