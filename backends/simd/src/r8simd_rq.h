/* refint8 simd kernels: the fused requantization of the AVX-512 convolutions.
 *
 * The chain Multiply, Add, Quantize as one fused multiply-add and a rounding
 * (rq_vector, rq_level; _plan/fused_requantization.py bounds it against the reference's
 * operations), each vector's distance to a midpoint kept and the near ones recomputed by the
 * reference's formula (rq_vector_exact, rq_recheck); its places in the kernels: interleaved with
 * the next tile's dot products (rq_tile, rq_work: AMD), from a finished tile's registers
 * (RQ_DIRECT_TILE: Intel), per depthwise channel (rq_channel). Other ISAs get empty stand-ins. */
/* Part of r8simd_kernels.h, which includes it once per ISA unit, in order after the parts
 * before it (not a header of its own: it uses their definitions). */

#if defined(R8_ZMM)
/* The interleaved requantization (r8_conv.rq, the common chain Multiply, Add, reciprocal Quantize,
 * with r8_conv.rq_interleave: AMD CPUs): each tile's accumulation also requantizes the previous
 * tile's raw sums, a vector or two per input-channel step. The epilogue's float operations run on
 * other execution ports than vpdpbusd on Zen 4 (measured: 8 vaddps/vmaxps/vcvtdq2ps/vrndscaleps
 * zmm add nothing to 12 vpdpbusd, while vmulps and vcmpps do), so interleaved they mostly hide
 * behind the dot products, where run after the tiles they add to them (on Intel vpdpbusd takes
 * the float ports: conv_direct_item instead). The codes are rq_vector's (the fused chain). A lane
 * near a midpoint of the Quantize needs the reference's formula (rq_vector_exact); the check is
 * deferred to the end of the tile (a compare and its mask take a dot-product port; the running
 * maximum of the gaps, a vrangeps, does not, where the integer shift and max it replaces did): the
 * vectors of a tile with such a lane whose own gap is near are requantized again, checked
 * (rq_recheck). Registers: 24 accumulators, 4 input vectors and the weight broadcast leave three
 * for the requantization, whose operands come from memory as embedded broadcasts. */

/* A finished tile whose vectors wait for their requantization, output vector by output vector,
 * each for every channel of the tile: vector (j, i) (output channel oc0 + j, output vector vb + i)
 * has its raw sums at raw + j*CONV_MR*VL + i*VL. */
typedef struct {
    const int32_t *raw;
    const float *rq;           /* rq fields of channel oc0 */
    uint8_t *dst;              /* the output plane of channel oc0 */
    const unsigned *vmask;     /* at vector vb */
    const int *vstart;
    long plane;                /* OH*OW: from one channel's plane to the next */
    int nr, n, oc0, vb;
} rq_tile;

/* Where the requantization of a tile stands: the next vector's sums, its channel's rq fields, its
 * first output byte, its lane mask, the channels of its output vector i still to do. Kept in
 * locals of the tile loop (registers: the output stores cannot alias them). */
typedef struct {
    const int32_t *raw;
    const float *q;
    uint8_t *dst;
    unsigned mask;
    int left, i;
} rq_cursor;

R8_INLINE void rq_column(const rq_tile *t, rq_cursor *c, int i, const int ol_mode) {
    c->i = i;
    c->raw = t->raw + i * VL;
    c->q = t->rq;
    c->dst = t->dst + (long)t->vstart[i] * RQ_CODE_BYTES(ol_mode);
    c->mask = t->vmask[i];
    c->left = t->nr;
}

/* The near-midpoint limit of a reciprocal Quantize with `steps` levels (post_group_ case 8's
 * 0.5 - steps*2^-21) in every lane. */
R8_INLINE vf rq_limit(float steps) { return vf_set1(0.5f - steps * 0x1p-21f); }

/* The larger magnitude of a and b, sign cleared (vrangeps: on Zen 4 it issues with the float
 * additions, where an integer shift and max take ports of the dot products). */
R8_INLINE vf rq_wider(vf a, vf b) { return _mm512_range_ps(a, b, 0x0B); }

/* Whether a lane's gap x - r reaches the limit. */
R8_INLINE int rq_near(vf gap, vf limit) { return _mm512_cmp_ps_mask(vf_abs(gap), limit, _CMP_GE_OQ) != 0; }

/* rq_near of a maximum of magnitudes (rq_wider's, whose sign is cleared): without the vandps that
 * would clear it again (one operation a group of 4 vectors in rq_consume_cells' loop). */
R8_INLINE int rq_wide_near(vf wide, vf limit) { return _mm512_cmp_ps_mask(wide, limit, _CMP_GE_OQ) != 0; }

/* Quantize type 7's formula (quantize_grid, the reference's) on the fields f = il, ih - il, ol, oh,
 * lo, hi (rq k 2, 4, 3, 5, 6, 7; r8_elt.rq k 3, 6, 5, 7, 8, 9): the code as a float. */
R8_INLINE vf rq_quantize_exact(vf x, float il, float di, float ol, float oh, float lo, float hi, float steps) {
    vf r = vf_add(vf_round(vf_mul(vf_div(vf_sub(x, vf_set1(il)), vf_set1(di)), vf_set1(steps))), vf_set1(ol));
    r = vf_blend(vm_gt(x, vf_set1(hi)), r, vf_set1(oh));
    return vf_blend(vm_le(x, vf_set1(lo)), r, vf_set1(ol));
}

/* rq_vector's vector with its Quantize by the reference's formula (rq_quantize_exact), for a
 * vector with a lane near a midpoint: the general epilogue's results (post_group_ case 8
 * recomputes such lanes by case 7's formula, and agrees with it on the others), without its
 * operand resolution; rq_codes_exact: those codes (floats, ol included), rq_vector_exact: stored. */
R8_INLINE vf rq_codes_exact(const r8_conv *p, vi acc, const float *q) {
    const vf y = vf_add(vf_mul(vf_cvt(acc), vf_set1(q[0])), vf_set1(q[1]));   /* Multiply, Add */
    return rq_quantize_exact(y, q[2], q[4], q[3], q[5], q[6], q[7], p->post[p->npost - 1].steps);
}

static __attribute__((noinline, cold)) void SFX(rq_vector_exact)(const r8_conv *p, vi acc, const float *q,
                                                                   uint8_t *dst, unsigned mask) {
    store_codes(dst, rq_codes_exact(p, acc, q), mask);
}

/* Codes as float32 into the ring (RQ_RING) at dst: the lanes of mask, one after the other. */
R8_INLINE void store_ring_codes(uint8_t *dst, vf codes, unsigned mask) {
    if (__builtin_expect(mask == VM_FULL, 1)) { _mm512_storeu_ps(dst, codes); return; }
    _mm512_mask_storeu_ps(dst, (__mmask16)((1u << __builtin_popcount(mask)) - 1u),
                          _mm512_maskz_compress_ps((__mmask16)mask, codes));
}

/* Requantize and store one vector: accumulators acc of an output channel (its rq fields at q),
 * first output byte dst, lane mask `mask`; the codes of post_group_ types 0, 1, 8 (Multiply, Add,
 * reciprocal Quantize) by the fused chain x = min(steps, max(0, fma(acc, A, B))) (rq fields 8 and
 * 9), code rint(x) (vcvtps2dq with its own round-to-nearest-even), plus ol. x differs from the
 * reference's ((y - il)/(ih - il))*steps by less than 0.5 - r8_conv.rq_near_limit wherever the
 * code depends on it (_plan/fused_requantization.py bounds both chains' rounding), so
 * rint(x) is the reference's level unless x lies within that of a midpoint: |x - rint(x)| (the
 * gap, one vreduceps) >= limit. Returns the gap. checked: a vector whose gap reaches limit goes to
 * rq_vector_exact instead (unchecked, the caller must recheck it: rq_recheck). ol_mode: a literal, 1
 * where every channel's ol is 0 (r8_conv.rq_ol_zero: the code is stored as it is), 2 where every
 * ol is -128 (r8_conv.rq_ol_flip, i8 codes: the code's byte with its top bit flipped, the code
 * being 0..steps <= 255), 0: ol added as an integer (rq_ol_int); 3 and 4 (r8_conv.rq_saturate, whose
 * whole tiles and blocks store through rq_store_levels) as 1 and 2 here; RQ_RING (5): the code as
 * a float32 at dst, a float a lane (store_ring_codes; the exact path's too). Replaced the op-by-op
 * chain (four operations more, and two to find the gap): ResNet-50's 64x56x56 -> 256 layer 0.8x
 * the time on AMX. */
R8_INLINE vi rq_level(vi acc, const float *q, vf steps, const int saturated, vf *gap);
R8_INLINE vf rq_fused_x(vi acc, const float *q, vf steps, const int saturated);

R8_INLINE vf rq_vector(const r8_conv *p, vi acc, const float *q, uint8_t *dst, unsigned mask, vf steps,
                       vf limit, const int checked, int ol_mode) {
    if (ol_mode == 3 || ol_mode == 4) ol_mode -= 2;   /* (rq_store_levels' modes, one vector at a time) */
    vf gap;
    if (ol_mode == RQ_RING) {   /* rint(x) + ol as a float */
        const vf x = rq_fused_x(acc, q, steps, 0);
        gap = _mm512_reduce_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        if (checked && __builtin_expect(rq_near(gap, limit), 0)) store_ring_codes(dst, rq_codes_exact(p, acc, q), mask);
        else store_ring_codes(dst, vf_add(vf_round(x), vf_set1(q[3])), mask);
        return gap;
    }
    const vi code = rq_level(acc, q, steps, 0, &gap);
    if (checked && __builtin_expect(rq_near(gap, limit), 0)) {
        SFX(rq_vector_exact)(p, acc, q, dst, mask);
        return gap;
    }
    if (ol_mode == 2) store_code_ints_flipped(dst, code, mask);
    else if (ol_mode == 1) store_code_ints(dst, code, mask);
    else store_code_ints(dst, vi_add(code, vi_set1(rq_ol_int(q))), mask);
    return gap;
}

/* rq_vector's level rint(x) of accumulators acc, its gap x - rint(x) into *gap. saturated 0: x is
 * min(steps, max(0, fma(acc, A, B))). saturated 1 (r8_conv.rq_saturate: steps 255, and
 * fma(acc, A, B) below 2^31 for every acc the layer can sum): x is fma(acc, A, B) itself, the
 * caller's stores saturating the level to 0 .. 255 (rq_store_levels), which is the clamp's code:
 * below -0.5 the level is negative (or the conversion's INT_MIN), above 255.5 at least 256; x on
 * (-0.5, 0) or (255, 255.5] rounds to the clamp's code too. A lane outside 0 .. 255 has the gap of
 * its unclamped x (one in about 4000 reaches a near-midpoint limit: its vector is done again,
 * checked, for nothing), every other lane rq_vector's. */
R8_INLINE vf rq_fused_x(vi acc, const float *q, vf steps, const int saturated) {
    const vf v = _mm512_fmadd_ps(vf_cvt(acc), vf_set1(q[8]), vf_set1(q[9]));    /* acc*A + B, rounded once */
    return saturated ? v : vf_min(steps, vf_max(vf_set1(0.0f), v));
}

R8_INLINE vi rq_level(vi acc, const float *q, vf steps, const int saturated, vf *gap) {
    const vf x = rq_fused_x(acc, q, steps, saturated);
    *gap = _mm512_reduce_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);   /* x - rint(x), exact */
    return _mm512_cvt_roundps_epi32(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* n (2 or 4) vectors of levels of one plane that follow each other (c[i] from dst + i*VL on),
 * saturated to 0 .. 255 as they are packed (vpackssdw, then vpackuswb: a dword below 0 gives 0,
 * above 255 gives 255; the first pack signed, since vpackusdw keeps a dword of 32768 .. 65535,
 * whose word vpackuswb reads as negative: 0 for 255), in lane order (vpermd: after the packs,
 * 128-bit lane k holds dword k of each vector's bytes, vector by vector), flip: their top bits
 * flipped (ol -128, i8 codes). Four operations for four vectors where each vector took a clamp,
 * a minimum and a two-operation vpmovdb. */
R8_INLINE void rq_store_levels(uint8_t *dst, const vi *c, const int n, const int flip) {
    const vi order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const vi words01 = _mm512_packs_epi32(c[0], c[1]);
    const vi words23 = n == 4 ? _mm512_packs_epi32(c[2], c[3]) : words01;
    const vi bytes = _mm512_permutexvar_epi32(order, _mm512_packus_epi16(words01, words23));
    const vi flipped = flip ? _mm512_xor_si512(bytes, _mm512_set1_epi8((char)0x80)) : bytes;
    if (n == 4) _mm512_storeu_si512(dst, flipped);
    else _mm256_storeu_si256((__m256i *)dst, _mm512_castsi512_si256(flipped));
}

/* 16 cells of 4 channels' integer codes or levels c[0 .. 3] at 16 positions: packed to words, then
 * to bytes with the saturation of the codes' type (sat_signed: i8; else u8, which also takes
 * levels past 0 .. 255 to those, as rq_store_levels does), channel-major within each 128-bit lane
 * (lane k: channel c's positions 4k .. 4k + 3 at bytes 4c .. 4c + 3), gathered into cells by a
 * vpshufb, flip: their top bits flipped (u8 levels of i8 codes). */
R8_INLINE vi cells_of_levels(const vi *c, const int sat_signed, const int flip) {
    const vi order = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
    const vi w01 = _mm512_packs_epi32(c[0], c[1]), w23 = _mm512_packs_epi32(c[2], c[3]);
    const vi bytes = sat_signed ? _mm512_packs_epi16(w01, w23) : _mm512_packus_epi16(w01, w23);
    const vi cells = _mm512_shuffle_epi8(bytes, order);
    return flip ? _mm512_xor_si512(cells, _mm512_set1_epi8((char)0x80)) : cells;
}

/* The near-midpoint limit of the convolution's fused requantization (rq_vector) in every lane. */
R8_INLINE vf rq_fused_limit(const r8_conv *p) { return vf_set1(p->rq_near_limit); }

/* Move the cursor to the next channel of its output vector (the tile's next vector, unless the
 * column is done: then rq_column). */
R8_INLINE void rq_advance(const rq_tile *t, rq_cursor *c) {
    c->raw += CONV_MR * VL;
    c->q += RQ_FIELDS;
    c->dst += t->plane;
    c->left--;
}

/* Requantize and store the vector at the cursor and move it on (the tile must have one left);
 * its gap into *worst (rq_vector, checked or not, its ol_mode). */
R8_INLINE void rq_next(const r8_conv *p, const rq_tile *t, rq_cursor *c, vf steps, vf limit, vf *worst,
                       const int checked, const int ol_mode) {
    if (c->left == 0) rq_column(t, c, c->i + 1, ol_mode);
    const int32_t *raw = c->raw;
    const float *q = c->q;
    uint8_t *dst = c->dst;
    rq_advance(t, c);
    if (__builtin_expect(c->mask != 0, 1))
        *worst = rq_wider(*worst, rq_vector(p, vi_load(raw), q, dst, c->mask, steps, limit, checked, ol_mode));
}

/* One pass of rq_channel over nv vectors of a channel from vb0, their sums at raw (plus comp),
 * its rq fields at q, its output plane at plane (rq_vector, checked or not, its ol_mode); the
 * largest gap. */
R8_INLINE vf rq_channel_pass(const r8_conv *p, const float *q, uint8_t *plane, vi comp, int vb0, int nv,
                             const int32_t *raw, vf steps, vf limit, const int checked, const int ol_mode) {
    vf worst = vf_set1(0.0f);
    for (int i = 0; i < nv; i++) {
        const unsigned mask = p->vmask[vb0 + i];
        if (mask)
            worst = rq_wider(worst, rq_vector(p, vi_add(vi_load(raw + i * VL), comp), q, plane + p->vstart[vb0 + i],
                                              mask, steps, limit, checked, ol_mode));
    }
    return worst;
}

/* The depthwise kernels' epilogue with r8_conv.rq: output channel oc of image n over nv vectors
 * from vb0, accumulators raw + comp[oc]; the near-midpoint check once a group of RQ_GROUP vectors,
 * a near group's vectors then requantized again, checked (once for all nv vectors, up to CHV =
 * 1024 lanes, about one pass in five would be done twice); none on a proven plane
 * (r8_conv.rq_proven: the unused gaps and their maximum are dropped by the compiler). */
#define RQ_GROUP 4
static int SFX(rq_channel)(const r8_conv *p, int n, int oc, int vb0, int nv, const int32_t *raw, void *out) {
    const long outer = (long)n * p->OC + oc;
    const float *q = p->rq + outer * RQ_FIELDS;
    uint8_t *plane = (uint8_t *)out + outer * p->OH * p->OW;
    const vf steps = vf_set1(p->post[p->npost - 1].steps), limit = rq_fused_limit(p);
    const vi comp = vi_set1(p->comp[oc]);
    const int ol_zero = p->rq_ol_zero;
    if (p->rq_proven && p->rq_proven[outer]) {
        if (ol_zero) rq_channel_pass(p, q, plane, comp, vb0, nv, raw, steps, limit, 0, 1);
        else rq_channel_pass(p, q, plane, comp, vb0, nv, raw, steps, limit, 0, 0);
        return 0;
    }
    for (int i = 0; i < nv; i += RQ_GROUP) {
        const int m = R8_MIN(RQ_GROUP, nv - i);
        const int32_t *r = raw + i * VL;
        const vf worst = ol_zero ? rq_channel_pass(p, q, plane, comp, vb0 + i, m, r, steps, limit, 0, 1)
                                 : rq_channel_pass(p, q, plane, comp, vb0 + i, m, r, steps, limit, 0, 0);
        if (__builtin_expect(rq_wide_near(worst, limit), 0))
            rq_channel_pass(p, q, plane, comp, vb0 + i, m, r, steps, limit, 1, 0);
    }
    return 0;
}

/* The requantization a tile runs between its input-channel steps: `per` vectors of tile t after
 * each step, `pending` left in all, from cursor c; steps: the convolution's Quantize's; near: set
 * by rq_end when a lane of the tile came near a midpoint (the near vectors of the tile of `vectors`
 * vectors must then be requantized again, checked: rq_recheck). */
typedef struct {
    const r8_conv *p;
    const rq_tile *t;
    rq_cursor c;
    int pending, per, vectors, near;
    float steps;
    int ol_mode;   /* a literal: rq_vector's */
} rq_work;

/* The part of rq_work a tile changes or reads at every vector, in its locals (registers: the
 * output stores cannot alias them); worst: the largest gap so far. */
typedef struct {
    rq_cursor c;
    int pending;
    vf steps, limit, worst;
} rq_state;

R8_INLINE rq_state rq_begin(const rq_work *w) {
    const rq_state s = {w->c, w->pending, vf_set1(w->steps), rq_fused_limit(w->p), vf_set1(0.0f)};
    return s;
}

R8_INLINE void rq_between(const rq_work *w, rq_state *s) {
    for (int done = 0; done < w->per && s->pending; done++, s->pending--)
        rq_next(w->p, w->t, &s->c, s->steps, s->limit, &s->worst, 0, w->ol_mode);
}

R8_INLINE void rq_end(rq_work *w, rq_state *s) {
    for (; s->pending; s->pending--)
        rq_next(w->p, w->t, &s->c, s->steps, s->limit, &s->worst, 0, w->ol_mode);
    w->near = rq_wide_near(s->worst, s->limit);
    w->c = s->c;
    w->pending = 0;
}

/* The vectors of tile t (`vectors` of them) whose gap reaches the limit, again, checked: their
 * stores replace the unchecked ones (these kernels write the output, never read it). The other
 * vectors' gaps show that their lanes are not near a midpoint: their codes stand. Each gap is
 * worked out again from the tile's raw sums, still in place (rq_vector's: x - rint(x) of the fused
 * chain's x, the same operations on the same values); until session 33 the unchecked pass kept
 * them in memory, a 64-byte store for every vector of every tile, for the few tiles with a lane
 * that near (about one lane in 4000). Called outside conv_tile (a call there makes it spill its
 * accumulators), with values: the address of rq_work must not escape (it would keep rq_work out
 * of registers). */
static __attribute__((noinline, cold, unused)) void SFX(rq_recheck)(const r8_conv *p, const rq_tile *t, int vectors,
                                                             float steps, int ol_mode) {
    rq_cursor c;
    ol_mode = ol_mode == RQ_RING ? RQ_RING : 0;
    rq_column(t, &c, 0, ol_mode);
    const vf limit = rq_fused_limit(p), steps_v = vf_set1(steps);
    vf ignored = vf_set1(0.0f);
    for (int k = 0; k < vectors; k++) {
        if (c.left == 0) rq_column(t, &c, c.i + 1, ol_mode);
        if (c.mask && rq_near(_mm512_reduce_ps(rq_fused_x(vi_load(c.raw), c.q, steps_v, 0),
                                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), limit)) {
            rq_next(p, t, &c, steps_v, limit, &ignored, 1, ol_mode);
        } else {
            rq_advance(t, &c);
        }
    }
}
#define RQ_RECHECK(w) \
    if (__builtin_expect((w).near, 0)) \
        SFX(rq_recheck)((w).p, (w).t, (w).vectors, (w).steps, (w).ol_mode)

/* Where a tile requantized straight from its accumulators (conv_tile with r8_conv.rq and not
 * rq_interleave) stores its codes: output channel oc0 + j's plane at dst + j*plane (outer: the
 * first's n*OC + oc0), the tile's first vector vb. */
typedef struct {
    long outer, plane;
    uint8_t *dst;
    int vb;
} rq_direct;

/* The vectors of a tile whose largest gap reached the limit, again from their raw sums (vector
 * (j, i) at raw + j*stride + i*VL), checked: rq_vector sends the near ones to rq_vector_exact. */
static __attribute__((noinline, cold, unused)) void SFX(rq_direct_recheck)(const r8_conv *p, const rq_direct *d,
                                                                        const int32_t *raw, long stride, int MR,
                                                                        int NR, int ol_mode) {
    const vf steps = vf_set1(p->post[p->npost - 1].steps), limit = rq_fused_limit(p);
    const int mode = ol_mode == RQ_RING ? RQ_RING : 0;   /* (the checked path adds any ol) */
    for (int j = 0; j < NR; j++)
        for (int i = 0; i < MR; i++) {
            const unsigned mask = p->vmask[d->vb + i];
            if (mask)
                rq_vector(p, vi_load(raw + j * stride + i * VL), p->rq + (d->outer + j) * RQ_FIELDS,
                          d->dst + j * d->plane + (long)p->vstart[d->vb + i] * RQ_CODE_BYTES(mode), mask, steps,
                          limit, 1, mode);
        }
}

/* Requantize a finished tile's MR x NR accumulators in registers (rq_vector, unchecked; ol_mode a
 * literal), the largest gap kept: where it reaches the limit, the tile again from raw, checked.
 * A tile of whole vectors that follow each other in the planes (every 1x1 layer's but at a plane's
 * end) stores from one address with the full mask as a literal: the lane masks, their tests and
 * one address per vector took registers the compiler then spilled (ResNet-50's 64 -> 256 and
 * 128 -> 512 1x1 layers 0.93-0.94x the time, the 256 -> 64 one 0.97x); with ol_mode 3 or 4 and 4
 * or 2 vectors a channel, its levels go unclamped through rq_store_levels (rq_level). With
 * RQ_PROVEN in ol_mode (r8_conv.rq_proven) no gap is kept or checked (the compiler drops the
 * unused vreduceps), and conv_tile stores no raw sums for a recheck. */
#define RQ_DIRECT_VECTOR(p, acc, q, dst, mask, steps, limit, worst, ol_mode, proven)         \
    do {                                                                                   \
        const vf gap_v_ = rq_vector(p, acc, q, dst, mask, steps, limit, 0, ol_mode);       \
        if (!(proven)) worst = rq_wider(worst, gap_v_);                                    \
    } while (0)
#define RQ_DIRECT_TILE(p, d, acc, MR, NR, raw, stride, ol_mode)                                          \
    do {                                                                                                 \
        const vf steps_ = vf_set1((p)->post[(p)->npost - 1].steps), limit_ = rq_fused_limit(p);          \
        const int mode_ = RQ_OL_MODE(ol_mode), proven_ = (ol_mode) >= RQ_PROVEN;                         \
        vf worst_ = vf_set1(0.0f);                                                                       \
        /* the tile's masks, offsets and rq rows in locals: the byte stores could alias p's fields */    \
        unsigned mask_[CONV_MR];                                                                         \
        uint8_t *dst_[CONV_MR];                                                                          \
        int whole_ = 1;                                                                                  \
        _Pragma("GCC unroll 8")                                                                          \
        for (int i = 0; i < (MR); i++) {                                                                 \
            mask_[i] = (p)->vmask[(d)->vb + i];                                                          \
            dst_[i] = (d)->dst + (long)(p)->vstart[(d)->vb + i] * RQ_CODE_BYTES(mode_);                  \
            whole_ &= mask_[i] == VM_FULL && dst_[i] == dst_[0] + i * VL * RQ_CODE_BYTES(mode_);         \
        }                                                                                                \
        const float *q_ = (p)->rq + (d)->outer * RQ_FIELDS;                                              \
        const long plane_ = (d)->plane;                                                                  \
        if (whole_ && (mode_ == 3 || mode_ == 4) && ((MR) == 4 || (MR) == 2)) {                          \
            _Pragma("GCC unroll 8")                                                                      \
            for (int j = 0; j < (NR); j++) {                                                             \
                vi level_[CONV_MR];                                                                      \
                _Pragma("GCC unroll 8")                                                                  \
                for (int i = 0; i < (MR); i++) {                                                         \
                    vf gap_;                                                                             \
                    level_[i] = rq_level(acc[j][i], q_ + j * RQ_FIELDS, steps_, 1, &gap_);               \
                    if (!proven_) worst_ = rq_wider(worst_, gap_);                                       \
                }                                                                                        \
                rq_store_levels(dst_[0] + j * plane_, level_, MR, mode_ == 4);                           \
            }                                                                                            \
        } else if (whole_) {                                                                             \
            _Pragma("GCC unroll 8")                                                                      \
            for (int j = 0; j < (NR); j++)                                                               \
                _Pragma("GCC unroll 8")                                                                  \
                for (int i = 0; i < (MR); i++)                                                           \
                    RQ_DIRECT_VECTOR(p, acc[j][i], q_ + j * RQ_FIELDS,                                   \
                                     dst_[0] + j * plane_ + i * VL * RQ_CODE_BYTES(mode_),               \
                                     VM_FULL, steps_, limit_, worst_, mode_, proven_);                   \
        } else {                                                                                         \
            _Pragma("GCC unroll 8")                                                                      \
            for (int j = 0; j < (NR); j++)                                                               \
                _Pragma("GCC unroll 8")                                                                  \
                for (int i = 0; i < (MR); i++)                                                           \
                    if (mask_[i])                                                                        \
                        RQ_DIRECT_VECTOR(p, acc[j][i], q_ + j * RQ_FIELDS, dst_[i] + j * plane_,         \
                                         mask_[i], steps_, limit_, worst_, mode_, proven_);              \
        }                                                                                                \
        if (!proven_ && __builtin_expect(rq_wide_near(worst_, limit_), 0))                               \
            SFX(rq_direct_recheck)(p, d, raw, stride, MR, NR, mode_);                                    \
    } while (0)

#if !defined(R8_PAIRS)
/* r8simd_api.h r8_rq_fused_codes: rq_vector unchecked, ol added as an integer (ol_mode 0), as
 * every requantizing kernel of this unit stores it without the check (the other ol modes store
 * the same codes, and so do rq_level's unclamped levels through the saturating packs of
 * rq_store_levels: rq_saturate). */
void SFX(r8_rq_fused_codes)(const r8_conv *p, const int *acc, int rows, long count, unsigned char *codes) {
    const vf steps = vf_set1(p->post[p->npost - 1].steps), limit = rq_fused_limit(p);
    for (long r = 0; r < rows; r++)
        for (long i = 0; i + VL <= count; i += VL)
            rq_vector(p, vi_load(acc + r * count + i), p->rq + r * RQ_FIELDS, codes + r * count + i, VM_FULL,
                      steps, limit, 0, 0);
}
#endif
#else
/* only AVX-512 builds interleave the requantization */
typedef struct { int none; } rq_direct;
typedef struct { int none; } rq_work;
typedef struct { int none; } rq_state;
R8_INLINE rq_state rq_begin(const rq_work *w) { const rq_state s = {0}; (void)w; return s; }
R8_INLINE void rq_between(const rq_work *w, rq_state *s) { (void)w; (void)s; }
R8_INLINE void rq_end(rq_work *w, rq_state *s) { (void)w; (void)s; }
#endif
