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
 * The AVX-512 VNNI build adds a convolution with output channels across the lanes for small
 * planes (r8simd_conv_oc.h, included below), on the same phase planes and epilogue.
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

#if defined(R8_VNNI) || defined(R8_AMX) || defined(R8_AMX_EMU) || defined(R8_PAIRS)
#define R8_MODE 0
#else
#define R8_MODE 1
#endif

#define R8_MIN(a, b) ((a) < (b) ? (a) : (b))
#define R8_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ceil(a / b) for b > 0 and any sign of a (C's division truncates toward zero). */
R8_INLINE int ceil_div(int a, int b) { return a >= 0 ? (a + b - 1) / b : a / b; }

/* ------------------------------------------------------------------------------------------- */
/* post-ops                                                                                    */

/* Post-ops run on register groups of PB vectors (one load and store of each vector, not one per
 * post-op), with their operands resolved once per run of vectors (post_resolve). */
#define CHV 64
#define PB 4
#define R8_MAX_POST 16   /* _plan/common.py MAX_POST_OPS: the backend declines longer chains */

/* A post-op with its operands resolved for one run: vector i of operand k at a[k].p + i*a[k].step. */
typedef struct { const float *p; long step; } r8_ref;
typedef struct { int type; float steps; r8_ref a[7]; } r8_post_run;

/* Resolve the operands of ops[0..count) for the run of vectors starting at (outer, inner0).
 * Returns 1 if every operand is the same vector all along the run (step 0: per-channel and scalar
 * operands), which post_group then reads without address arithmetic. */
static int post_resolve(const r8_post *ops, int count, long outer, long inner0, r8_post_run *res) {
    int uniform = 1;
    for (int k = 0; k < count; k++) {
        const r8_post *o = ops + k;
        const int used = o->type <= 2 ? 1 : o->type == 4 ? 2 : o->type == 3 ? 0 : 7;
        res[k].type = o->type;
        res[k].steps = o->steps;
        for (int i = 0; i < used; i++) {
            const r8_operand *d = &o->a[i];
            res[k].a[i].p = d->data + outer * d->s_outer + inner0 * d->s_inner;
            res[k].a[i].step = d->step;
            uniform &= d->step == 0;
        }
    }
    return uniform;
}

/* Operand k of post-op o as var_p/var_s (vector j of the group at var_p + j*var_s); with `uni`
 * (a compile-time constant at each call) the step is known to be 0. */
#define OPND(k, var) const long var##_s = uni ? 0 : o->a[k].step; const float *var##_p = o->a[k].p + i0 * var##_s;
#define VAL(var, j) vf_load(var##_p + (j) * var##_s)

/* Quantize onto an integer grid (post type 7, the reference's formula branch; see _plan/post_ops.py): one
 * vector x -> ol if x <= min(il, ih); oh if x > max(il, ih); else rint(((x - il) / (ih - il)) * steps) + ol. */
R8_INLINE vf quantize_grid(const r8_post_run *o, vf x, long i0, int j, const int uni) {
    OPND(0, il) OPND(1, di) OPND(2, ol) OPND(4, oh) OPND(5, lo) OPND(6, hi)
    const vf st = vf_set1(o->steps), olv = VAL(ol, j);
    vf r = vf_add(vf_round(vf_mul(vf_div(vf_sub(x, VAL(il, j)), VAL(di, j)), st)), olv);
    r = vf_blend(vm_gt(x, VAL(hi, j)), r, VAL(oh, j));
    return vf_blend(vm_le(x, VAL(lo, j)), r, olv);
}

/* Apply the resolved post-ops, in order, to the n vectors r[0..n) = vectors i0 .. i0+n-1 of the
 * run. n (PB or 1) and uni (post_resolve's result) are compile-time constants at each call
 * (POST_GROUP), so r[] stays in registers and uniform operands need no address arithmetic. */
R8_INLINE void post_group_(const r8_post_run *ops, int count, vf *r, const int n, long i0, const int uni) {
    for (int k = 0; k < count; k++) {
        const r8_post_run *o = ops + k;
        switch (o->type) {
        case 0: { OPND(0, a)
#pragma GCC unroll 4
            for (int j = 0; j < n; j++) r[j] = vf_mul(r[j], VAL(a, j));
            break; }
        case 1: { OPND(0, a)
#pragma GCC unroll 4
            for (int j = 0; j < n; j++) r[j] = vf_add(r[j], VAL(a, j));
            break; }
        case 2: { OPND(0, a)
#pragma GCC unroll 4
            for (int j = 0; j < n; j++) r[j] = vf_sub(r[j], VAL(a, j));
            break; }
        case 3: { /* Relu: y if y > 0 or NaN, else +0 */
            const vf zero = vf_set1(0.0f);
#pragma GCC unroll 4
            for (int j = 0; j < n; j++) r[j] = vf_keep(vm_nle(r[j], zero), r[j]);
            break; }
        case 4: { /* Clamp (refint8.ops.clamp): lo if y < lo, hi if y > hi, else y (NaN and -0.0 stay) */
            OPND(0, lo) OPND(1, hi)
#pragma GCC unroll 4
            for (int j = 0; j < n; j++) {
                vf v = r[j], l = VAL(lo, j), h = VAL(hi, j);
                r[j] = vf_blend(vm_lt(v, l), vf_blend(vm_gt(v, h), v, h), l);
            }
            break; }
        case 7: /* Quantize onto an integer grid: rint(((q / steps) * (oh - ol)) + ol) == q + ol when
                 * oh - ol == steps <= 255 and ol is an integer of magnitude <= 255 (_plan/post_ops.py) */
#pragma GCC unroll 4
            for (int j = 0; j < n; j++) r[j] = quantize_grid(o, r[j], i0, j, uni);
            break;
        case 8: { /* case 7 by the reciprocal m = steps / (ih - il) (_plan/post_ops.py: ih - il > 0, finite):
                   * c = min(steps, max(0, (x - il) * m)) is within 4u*steps of the reference's
                   * ((x - il) / (ih - il)) * steps wherever il < x <= ih, is exactly steps above ih
                   * and 0 (or -0) at or below il, and stays NaN for NaN. rint(c) is the reference's
                   * level unless c lies within 8u*steps of a midpoint k + 1/2 (u = 2^-24): such
                   * groups (about 1 in 4000 lanes) are recomputed by case 7's formula. */
            OPND(0, il) OPND(2, ol) OPND(3, m)
            const vf st = vf_set1(o->steps), zero = vf_set1(0.0f);
            const vf limit = vf_set1(0.5f - o->steps * 0x1p-21f);
            vf x[PB];
            unsigned near = 0;
#pragma GCC unroll 4
            for (int j = 0; j < n; j++) {
                x[j] = r[j];
                vf c = vf_min(st, vf_max(zero, vf_mul(vf_sub(r[j], VAL(il, j)), VAL(m, j))));
                vf q = vf_round(c);
                near |= vm_bits(vm_ge(vf_abs(vf_sub(c, q)), limit));
                r[j] = vf_add(q, VAL(ol, j));
            }
            if (__builtin_expect(near != 0, 0)) {
                for (int j = 0; j < n; j++) r[j] = quantize_grid(o, x[j], i0, j, uni);
            }
            break; }
        default: { /* FakeQuantize / Quantize: refint8.ops.fake_quantize per lane, in this order */
            OPND(0, il) OPND(1, di) OPND(2, ol) OPND(3, dO) OPND(4, oh) OPND(5, lo) OPND(6, hi)
            const vf st = vf_set1(o->steps);
#pragma GCC unroll 4
            for (int j = 0; j < n; j++) {
                vf x = r[j], olv = VAL(ol, j);
                vf q = vf_round(vf_mul(vf_div(vf_sub(x, VAL(il, j)), VAL(di, j)), st)); /* rint(((x-il)/(ih-il))*steps) */
                vf y = vf_add(vf_mul(vf_div(q, st), VAL(dO, j)), olv);                   /* ((q/steps)*(oh-ol))+ol */
                y = vf_blend(vm_gt(x, VAL(hi, j)), y, VAL(oh, j));                       /* x > max(il, ih): oh */
                r[j] = vf_blend(vm_le(x, VAL(lo, j)), y, olv);                           /* x <= min(il, ih): ol */
            }
            break; }
        }
    }
}

#define POST_GROUP(ops, count, r, n, i0, uni) \
    do { if (uni) post_group_(ops, count, r, n, i0, 1); else post_group_(ops, count, r, n, i0, 0); } while (0)

/* Apply the post-ops to y[0..nv) in memory (vector i at (outer, inner0 + i*VL)). */
static void post_run(const r8_post *ops, int count, vf *y, long nv, long outer, long inner0) {
    r8_post_run res[R8_MAX_POST];
    const int uni = post_resolve(ops, count, outer, inner0, res);
    long i = 0;
    for (; i + PB <= nv; i += PB) {
        vf r[PB];
#pragma GCC unroll 4
        for (int j = 0; j < PB; j++) r[j] = y[i + j];
        POST_GROUP(res, count, r, PB, i, uni);
#pragma GCC unroll 4
        for (int j = 0; j < PB; j++) y[i + j] = r[j];
    }
    for (; i < nv; i++) POST_GROUP(res, count, y + i, 1, i, uni);
}

/* Round half to even and saturate to the codes of kind 1 (u8) or 2 (i8), as float32. */
R8_INLINE vf to_codes(vf y, int kind) {
    vf lo = vf_set1(kind == 1 ? 0.0f : -128.0f), hi = vf_set1(kind == 1 ? 255.0f : 127.0f);
    return vf_min(vf_max(vf_round(y), lo), hi);
}

/* Store VL results (selected lanes, consecutive outputs) as float32 or as integer codes.
 * out_type (_plan/post_ops.py build_posts): bits 0-1: 0 float32, 1 u8, 2 i8 (round half to even, then
 * saturate); bit 2: the values are already integers inside the code range (or NaN), stored as they
 * are; bit 3: no NaN can reach the store (not counted). Returns the number of NaN lanes that reached
 * a Quantize (an error of the layer). */
R8_INLINE int store_result(void *out, long index, vf y, unsigned mask, int out_type) {
    const int kind = out_type & 3;
    if (kind == 0) {
        store_f32((float *)out + index, y, mask);
        return 0;
    }
    int nan = out_type & 8 ? 0 : __builtin_popcount(vm_bits(vm_nan(y)) & mask);
    if (!(out_type & 4)) y = to_codes(y, kind);
    STORE_CODES((uint8_t *)out + index, y, mask, kind == 2);
    return nan;
}

/* VL 8-bit codes (type 1 u8, 2 i8) as float32 in the lanes selected by mask, read from consecutive
 * bytes at src (the inverse of the stores' compress: lane order, no gaps); other lanes 0. */
R8_INLINE vf load_codes(const uint8_t *src, unsigned mask, int type) {
    if (mask == VM_FULL) return type == 2 ? vf_load_i8(src) : vf_load_u8(src);
#if defined(R8_ZMM)   /* the stored codes' bytes into the lanes of mask (vpexpandd) */
    const __m128i b = _mm_maskz_loadu_epi8((__mmask16)((1u << __builtin_popcount(mask)) - 1u), src);
    const vi v = type == 2 ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
    return _mm512_cvtepi32_ps(_mm512_maskz_expand_epi32((__mmask16)mask, v));
#else
    uint8_t tmp[16] __attribute__((aligned(16))) = {0};
    for (int i = 0, k = 0; i < VL; i++)
        if (mask >> i & 1u) tmp[i] = src[k++];
    return type == 2 ? vf_load_i8(tmp) : vf_load_u8(tmp);
#endif
}

/* What an elementwise layer's own step reads, copied out of its r8_elt once per kernel call: the
 * kernels store through byte pointers, which the compiler must assume may alias the struct. */
typedef struct { int kind; long hstep, rstep; int npost, out_type; } r8_elt_step;

R8_INLINE r8_elt_step elt_step_of(const r8_elt *p) {
    const r8_elt_step s = {p->kind, p->h.step, p->r.step, p->npost, p->out_type};
    return s;
}

/* An elementwise layer's own step on n vectors y (its input 0) and x1 (input 1), in place in y:
 * kind 1 Int8Add, 2 Int8Multiply; kind 0 (one input) leaves y. hp/rp: operands h and r resolved
 * for the run (vector i at hp + i*step). */
R8_INLINE void elt_combine(const r8_elt_step *p, vf *y, const vf *x1, const float *hp, const float *rp,
                           const int n, long i0) {
    if (!p->kind) return;
#pragma GCC unroll 4
    for (int j = 0; j < n; j++) {
        vf t = vf_sub(y[j], vf_load(hp + (i0 + j) * p->hstep));                      /* float32(q1) - h */
        if (p->kind == 1) y[j] = vf_add(vf_mul(t, vf_load(rp + (i0 + j) * p->rstep)), x1[j]); /* (t * r) + float32(q2) */
        else y[j] = vf_mul(t, x1[j]);                                                  /* t * float32(q2) */
    }
}

/* ------------------------------------------------------------------------------------------- */
/* Int8Convolution                                                                             */

/* The last partial block of a pack run: the bytes s[j][sx*x .. sx*(n-1)] of each present row j
 * copied into zeroed rows of tmp (rows x width bytes), b[j] pointing at them (or NULL). */
R8_INLINE void bounce_tail(uint8_t *tmp, int rows, int width, const uint8_t *const *s, long x, long n,
                           int sx, const uint8_t **b) {
    const long bytes = (long)sx * (n - x - 1) + 1;
    memset(tmp, 0, (size_t)rows * width);
    for (int j = 0; j < rows; j++) {
        b[j] = s[j] ? tmp + j * width : 0;
        if (s[j]) memcpy(tmp + j * width, s[j] + (long)sx * x, (size_t)bytes);
    }
}

#if R8_MODE == 0
/* 16 cells o[x] = the codes s[j][sx*x] (sx 1 or 2; channel j in byte j, xor flip; a missing
 * channel 0). Reads s[j][0 .. 16*sx). */
R8_INLINE void pack_u8_16(__m128i *o, const uint8_t *const s[4], int sx, __m128i fl) {
    const __m128i even = _mm_set1_epi16(0x00FF);
    __m128i r[4];
    for (int j = 0; j < 4; j++) {
        if (!s[j]) { r[j] = _mm_setzero_si128(); continue; }
        if (sx == 1) {
            r[j] = _mm_loadu_si128((const __m128i *)s[j]);
        } else {
            __m128i lo = _mm_loadu_si128((const __m128i *)s[j]);
            __m128i hi = _mm_loadu_si128((const __m128i *)(s[j] + 16));
            r[j] = _mm_packus_epi16(_mm_and_si128(lo, even), _mm_and_si128(hi, even));
        }
        r[j] = _mm_xor_si128(r[j], fl);
    }
    __m128i t0 = _mm_unpacklo_epi8(r[0], r[1]), t1 = _mm_unpackhi_epi8(r[0], r[1]);
    __m128i t2 = _mm_unpacklo_epi8(r[2], r[3]), t3 = _mm_unpackhi_epi8(r[2], r[3]);
    _mm_storeu_si128(o + 0, _mm_unpacklo_epi16(t0, t2));
    _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(t0, t2));
    _mm_storeu_si128(o + 2, _mm_unpacklo_epi16(t1, t3));
    _mm_storeu_si128(o + 3, _mm_unpackhi_epi16(t1, t3));
}

/* n cells d[x] = the codes s[j][sx*x] (j = 0..3, channel j in byte j; a missing channel 0), each
 * xor flip (i8 -> u8: + 128). Reads only the bytes s[j][0 .. sx*(n-1)]: the last partial block
 * goes through a bounce buffer. */
static void pack_u8_run(uint32_t *d, const uint8_t *const s[4], long n, int sx, uint8_t flip) {
    long x = 0;
    if (sx <= 2) {
        const __m128i fl = _mm_set1_epi8((char)flip);
        for (; x + 16 + (sx - 1) <= n; x += 16) {   /* reads stay within the run */
            const uint8_t *b[4];
            for (int j = 0; j < 4; j++) b[j] = s[j] ? s[j] + (long)sx * x : 0;
            pack_u8_16((__m128i *)(d + x), b, sx, fl);
        }
        if (x < n) {
            uint8_t tmp[4 * 32] __attribute__((aligned(16)));
            uint32_t cells[16] __attribute__((aligned(16)));
            const uint8_t *b[4];
            bounce_tail(tmp, 4, 32, s, x, n, sx, b);
            pack_u8_16((__m128i *)cells, b, sx, fl);
            memcpy(d + x, cells, (size_t)(n - x) * 4);
            return;
        }
    }
    for (; x < n; x++) {
        uint32_t cell = 0;
        for (int j = 0; j < 4; j++)
            if (s[j]) cell |= (uint32_t)(uint8_t)(s[j][(long)sx * x] ^ flip) << (8 * j);
        d[x] = cell;
    }
}
#if defined(R8_ZMM)
/* pack_u8_run_vbmi's permutation indices (constants: built per call, they took 5-10 % of the
 * stride-2 packs, whose rows are 7-28 positions long). */
#define R8_SEQ2(f, i) f(i), f((i) + 1)
#define R8_SEQ4(f, i) R8_SEQ2(f, i), R8_SEQ2(f, (i) + 2)
#define R8_SEQ8(f, i) R8_SEQ4(f, i), R8_SEQ4(f, (i) + 4)
#define R8_SEQ16(f, i) R8_SEQ8(f, i), R8_SEQ8(f, (i) + 8)
#define R8_SEQ32(f, i) R8_SEQ16(f, i), R8_SEQ16(f, (i) + 16)
#define R8_SEQ64(f, i) R8_SEQ32(f, i), R8_SEQ32(f, (i) + 32)
#define PACK_EVEN(i) (2 * (i))                          /* byte 2i of the 128 loaded */
#define PACK_ODD(i) (2 * (i) + 1)
#define PACK_CELL_LO(j) ((j) / 2 + (j) % 2 * 32)        /* (pair01[k], pair23[k]), k = 0..15 */
#define PACK_CELL_HI(j) (16 + (j) / 2 + (j) % 2 * 32)   /* k = 16..31 */
static const uint8_t pack_even[64] = {R8_SEQ64(PACK_EVEN, 0)};
static const uint8_t pack_odd[64] = {R8_SEQ64(PACK_ODD, 0)};
static const uint16_t pack_cell_lo[32] = {R8_SEQ32(PACK_CELL_LO, 0)};
static const uint16_t pack_cell_hi[32] = {R8_SEQ32(PACK_CELL_HI, 0)};
#define PACK_S2_PAIR(i) ((i) / 2 * 2 + (i) % 2 * 64)   /* (r0[2k], r1[2k]), k = 0..31 */
static const uint8_t pack_s2_pair[64] = {R8_SEQ64(PACK_S2_PAIR, 0)};

/* The 64 cells of 4 rows of 64 codes r[0..3] (channel j in byte j of a cell) in position order,
 * 16 to each of out[0..3]: the rows' bytes, then the byte pairs, interleaved within each 128-bit
 * lane (vpunpck*: lane L of the four results holds positions 16L + 0..3, 4..7, 8..11 and 12..15),
 * then the 4 x 4 blocks of lanes transposed (vshufi32x4). 7.7 cycles a step of 64 cells in L1 on
 * Zen 4 against 17 for the two levels of vpermt2b and vpermt2w it replaced (whose 512-bit forms
 * take several cycles there); AVX-512BW only. */
R8_INLINE void pack_u8_cells64(const __m512i r[4], __m512i out[4]) {
    const __m512i pairs01lo = _mm512_unpacklo_epi8(r[0], r[1]), pairs01hi = _mm512_unpackhi_epi8(r[0], r[1]);
    const __m512i pairs23lo = _mm512_unpacklo_epi8(r[2], r[3]), pairs23hi = _mm512_unpackhi_epi8(r[2], r[3]);
    const __m512i p0 = _mm512_unpacklo_epi16(pairs01lo, pairs23lo), p4 = _mm512_unpackhi_epi16(pairs01lo, pairs23lo);
    const __m512i p8 = _mm512_unpacklo_epi16(pairs01hi, pairs23hi), p12 = _mm512_unpackhi_epi16(pairs01hi, pairs23hi);
    /* lane k of out[j] = lane j of p0, p4, p8, p12 for k = 0..3 */
    const __m512i l01a = _mm512_shuffle_i32x4(p0, p4, 0x44), l01b = _mm512_shuffle_i32x4(p8, p12, 0x44);
    const __m512i l23a = _mm512_shuffle_i32x4(p0, p4, 0xEE), l23b = _mm512_shuffle_i32x4(p8, p12, 0xEE);
    out[0] = _mm512_shuffle_i32x4(l01a, l01b, 0x88);
    out[1] = _mm512_shuffle_i32x4(l01a, l01b, 0xDD);
    out[2] = _mm512_shuffle_i32x4(l23a, l23b, 0x88);
    out[3] = _mm512_shuffle_i32x4(l23a, l23b, 0xDD);
}

/* pack_u8_run with AVX-512 VBMI (used when r8_cpu_features() reports it; sx 1 or 2): 64 positions
 * per step, masked loads and stores for the last ones. The 4 channel rows (every other byte picked
 * by vpermt2b at sx 2) are interleaved into cells by pack_u8_cells64. */
__attribute__((target("avx512vbmi")))
static void pack_u8_run_vbmi(uint32_t *d, const uint8_t *const s[4], long n, int sx, uint8_t flip) {
    const __m512i ev = _mm512_loadu_si512(pack_even);
    const __m512i fl = _mm512_set1_epi8((char)flip);
    long x = 0;
    if (sx == 1 && s[0] && s[1] && s[2] && s[3]) {   /* whole steps of 4 real rows: no masks */
        for (; x + 64 <= n; x += 64) {
            __m512i r[4];
            for (int j = 0; j < 4; j++) r[j] = _mm512_xor_si512(_mm512_loadu_si512(s[j] + x), fl);
            __m512i out[4];
            pack_u8_cells64(r, out);
            for (int k = 0; k < 4; k++) _mm512_storeu_si512(d + x + 16 * k, out[k]);
        }
    }
    for (; x < n; x += 64) {
        const long count = R8_MIN(64, n - x);
        __m512i r[4];
        for (int j = 0; j < 4; j++) {
            if (!s[j]) { r[j] = _mm512_setzero_si512(); continue; }
            if (sx == 1) {
                r[j] = _mm512_maskz_loadu_epi8(count == 64 ? ~0ULL : (1ULL << count) - 1, s[j] + x);
            } else {   /* bytes 2x .. 2x + 2(count - 1) */
                const long bytes = 2 * count - 1;
                const __m512i lo = _mm512_maskz_loadu_epi8(bytes >= 64 ? ~0ULL : (1ULL << bytes) - 1, s[j] + 2 * x);
                const __m512i hi = _mm512_maskz_loadu_epi8(bytes > 64 ? (1ULL << (bytes - 64)) - 1 : 0, s[j] + 2 * x + 64);
                r[j] = _mm512_permutex2var_epi8(lo, ev, hi);
            }
            r[j] = _mm512_xor_si512(r[j], fl);
        }
        __m512i out[4];
        pack_u8_cells64(r, out);
        for (int k = 0; k < 4; k++) {
            const long cells = R8_MIN(16, count - 16 * k);
            if (cells <= 0) break;
            _mm512_mask_storeu_epi32(d + x + 16 * k, (__mmask16)(cells == 16 ? 0xFFFF : (1u << cells) - 1), out[k]);
        }
    }
}

/* Whether this CPU has AVX-512 VBMI (r8_dispatch.c bit 5), asked once. */
static int r8_vbmi(void) {
    static int known = -1;
    if (known < 0) known = (r8_cpu_features() & 32u) != 0;
    return known;
}
#endif

/* pack_u8_run, by pack_u8_run_vbmi where the CPU has VBMI and sx is 1 or 2. */
static void pack_u8_cells(uint32_t *d, const uint8_t *const s[4], long n, int sx, uint8_t flip) {
#if defined(R8_ZMM)
    if (sx <= 2 && r8_vbmi()) { pack_u8_run_vbmi(d, s, n, sx, flip); return; }
#endif
    pack_u8_run(d, s, n, sx, flip);
}
#else
/* 8 cells o[x] = the s16 pair (s[0][sx*x] - z[0], s[1][sx*x] - z[1]) (sx 1 or 2; a missing channel
 * 0). Reads s[j][0 .. 8*sx). */
R8_INLINE void pack_s16_8(__m128i *o, const uint8_t *const s[2], const int z[2], int sx, int sgn) {
    const __m128i even = _mm_set1_epi16(0x00FF);
    __m128i r[2];
    for (int j = 0; j < 2; j++) {
        if (!s[j]) { r[j] = _mm_setzero_si128(); continue; }
        __m128i bytes;
        if (sx == 1) {
            bytes = _mm_loadl_epi64((const __m128i *)s[j]);
        } else {
            bytes = _mm_loadu_si128((const __m128i *)s[j]);
            bytes = _mm_packus_epi16(_mm_and_si128(bytes, even), _mm_setzero_si128());
        }
        r[j] = sgn ? _mm_cvtepi8_epi16(bytes) : _mm_cvtepu8_epi16(bytes);
        r[j] = _mm_sub_epi16(r[j], _mm_set1_epi16((short)z[j]));
    }
    _mm_storeu_si128(o + 0, _mm_unpacklo_epi16(r[0], r[1]));
    _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(r[0], r[1]));
}

/* n cells d[x] = the s16 pair (s[0][sx*x] - z[0], s[1][sx*x] - z[1]) (a missing channel 0). Reads
 * only s[j][0 .. sx*(n-1)]: the last partial block goes through a bounce buffer. */
static void pack_s16_run(uint32_t *d, const uint8_t *const s[2], const int z[2], long n, int sx, int sgn) {
    long x = 0;
    if (sx <= 2) {
        for (; x + 8 + (sx - 1) <= n; x += 8) {   /* reads stay within the run */
            const uint8_t *b[2] = {s[0] ? s[0] + (long)sx * x : 0, s[1] ? s[1] + (long)sx * x : 0};
            pack_s16_8((__m128i *)(d + x), b, z, sx, sgn);
        }
        if (x < n) {
            uint8_t tmp[2 * 16] __attribute__((aligned(16)));
            uint32_t cells[8] __attribute__((aligned(16)));
            const uint8_t *b[2];
            bounce_tail(tmp, 2, 16, s, x, n, sx, b);
            pack_s16_8((__m128i *)cells, b, z, sx, sgn);
            memcpy(d + x, cells, (size_t)(n - x) * 4);
            return;
        }
    }
    for (; x < n; x++) {
        int16_t v[2] = {0, 0};
        for (int j = 0; j < 2; j++)
            if (s[j]) v[j] = (int16_t)((sgn ? (int)(int8_t)s[j][(long)sx * x] : (int)s[j][(long)sx * x]) - z[j]);
        memcpy(d + x, v, 4);
    }
}
#endif

#if R8_MODE == 0 && defined(R8_ZMM)
/* Rows yq0 .. yq1 - 1 (up to cell `end`) of a plane at stride 1 whose rows hold each a whole input
 * row in columns xlo .. xhi - 1 (a padded layer's one phase: the rows of a 3x3 layer), from the
 * input rows src[j] (channel j of the cell, NULL: none) of the plane's first row: the real rows
 * packed as one run (whole steps of 64 cells) where the first of them goes, then moved to their
 * places from the last back (each lands at or after where it was packed, past the rows before
 * it), then the padding cells. Returns 0 (nothing written) where the last real row would pass
 * `end`. A row of 14 codes had cost a call of pack_u8_run_vbmi and its setup of its own: ResNet-50's
 * 14x14 3x3 layer spent a fifth of its time on AMX packing. */
static int conv_pack_spread(const r8_conv *p, uint32_t *dst, const uint8_t *const src[4], uint32_t padcell, int yq0,
                            int yq1, int xlo, int xhi, long end) {
    const long wq = p->Wq, w = p->W;
    const int ya = R8_MAX(yq0, p->pt), yb = R8_MIN(yq1, p->pt + p->H);   /* the real rows */
    if (ya < yb && (long)(yb - 1) * wq + xhi > end) return 0;
    if (ya < yb) {
        const long off = (long)(ya - p->pt) * w;
        const uint8_t *s[4];
        for (int j = 0; j < 4; j++) s[j] = src[j] ? src[j] + off : NULL;
        uint32_t *first = dst + (long)ya * wq + xlo;
        pack_u8_run_vbmi(first, s, (long)(yb - ya) * w, 1, p->in_signed ? 0x80 : 0);
        for (long r = yb - ya - 1; r > 0; r--) memmove(first + r * wq, first + r * w, (size_t)w * 4);
    }
    for (long yq = yq0; yq < yq1 && yq * wq < end; yq++) {
        uint32_t *d = dst + yq * wq;
        const long len = R8_MIN(wq, end - yq * wq);
        if (yq < ya || yq >= yb) {
            for (long x = 0; x < len; x++) d[x] = padcell;
            continue;
        }
        for (long x = 0; x < R8_MIN((long)xlo, len); x++) d[x] = padcell;
        for (long x = xhi; x < len; x++) d[x] = padcell;
    }
    return 1;
}
#endif

#if R8_MODE == 0 && defined(R8_ZMM)
/* n cells d[0 .. n-1] = padcell, 16 a store. */
R8_INLINE void fill_cells(uint32_t *d, long n, uint32_t padcell) {
    const vi v = vi_set1((int32_t)padcell);
    for (long x = 0; x < n; x += VL)
        _mm512_mask_storeu_epi32(d + x, (__mmask16)(n - x >= VL ? VM_FULL : (1u << (n - x)) - 1u), v);
}

/* conv_pack_rows for a phase plane at column stride 2 whose real columns are at most 32 a row
 * (input rows of at most 64 codes: every stride-2 layer of ResNet-50), with VBMI: the rows from
 * yq0 on up to cell `end` (conv_pack_rows'), each real row's cells from one masked load of each channel row (the
 * 2n - 1 bytes its n cells span), its even bytes paired across two channels by one vpermt2b and
 * the pairs into cells by two vpermt2w; the padding cells 16 a store. pack_u8_run_vbmi took a call
 * a row, two loads and a permutation a channel row, and masks built for each: ResNet-50's stride-2
 * layers spent 7-11 % of their time packing (128x56x56 3x3 65 of 585 us). */
__attribute__((target("avx512vbmi")))
static void conv_pack_s2_vbmi(const r8_conv *p, uint32_t *dst, const uint8_t *const src[4], uint32_t padcell,
                              int ry, int x0, int xlo, int xhi, int yq0, long end) {
    const __m512i pair = _mm512_loadu_si512(pack_s2_pair);
    const __m512i clo = _mm512_loadu_si512(pack_cell_lo), chi = _mm512_loadu_si512(pack_cell_hi);
    const __m512i flip = _mm512_set1_epi8((char)(p->in_signed ? 0x80 : 0));
    const long wq = p->Wq;
    long pos = (long)yq0 * wq;
    for (int yq = yq0; pos < end; yq++, pos += wq) {
        const long len = R8_MIN(wq, end - pos);
        const int y = ry + p->sy * yq - p->pt;
        uint32_t *d = dst + pos;
        if (y < 0 || y >= p->H) {
            fill_cells(d, len, padcell);
            continue;
        }
        const long a = R8_MIN((long)xlo, len), b = R8_MIN((long)xhi, len), n = b - a;
        fill_cells(d, a, padcell);
        if (n > 0) {
            const __mmask64 bytes = (__mmask64)((1ULL << (2 * n - 1)) - 1);
            const long off = (long)y * p->W + x0 + 2 * a;
            __m512i r[4];
            for (int j = 0; j < 4; j++)
                r[j] = src[j] ? _mm512_xor_si512(_mm512_maskz_loadu_epi8(bytes, src[j] + off), flip)
                              : _mm512_setzero_si512();
            const __m512i p01 = _mm512_permutex2var_epi8(r[0], pair, r[1]);
            const __m512i p23 = _mm512_permutex2var_epi8(r[2], pair, r[3]);
            _mm512_mask_storeu_epi32(d + a, (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1u),
                                     _mm512_permutex2var_epi16(p01, clo, p23));
            if (n > 16)
                _mm512_mask_storeu_epi32(d + a + 16, (__mmask16)((1u << (n - 16)) - 1u),
                                         _mm512_permutex2var_epi16(p01, chi, p23));
        }
        fill_cells(d + b, len - b, padcell);
    }
}
#endif

/* The columns xq of a phase plane of column phase rx whose padded column rx + sx*xq is a real
 * input column: *xlo .. *xhi - 1 (input column rx - pl + sx*xq). */
R8_INLINE void conv_real_columns(const r8_conv *p, int rx, int *xlo, int *xhi) {
    const int x0 = rx - p->pl;
    *xlo = R8_MIN(p->Wq, R8_MAX(0, ceil_div(-x0, p->sx)));
    *xhi = R8_MAX(*xlo, R8_MIN(p->Wq, ceil_div(p->W - x0, p->sx)));
}

#if R8_MODE == 0
/* The padding cell of plane c4 of group g: byte j the pad code of channel g*Cg + 4*c4 + j, 0 past
 * the group's channels. */
R8_INLINE uint32_t conv_pad_cell(const r8_conv *p, long g, int c4) {
    uint32_t cell = 0;
    for (int j = 0; j < 4; j++)
        if (c4 * 4 + j < p->Cg) cell |= (uint32_t)(p->pad[g * p->Cg + c4 * 4 + j] & 0xFF) << (8 * j);
    return cell;
}
#endif

/* Pack rows yq0 .. yq1 - 1 of phase plane pl (group g, phase, channel cell c4) of one image (layout:
 * r8simd_api.h): row by row, padding cells, then the run of real columns; when a phase plane is the
 * image itself (stride 1, no column padding, Wq == W) consecutive rows are one contiguous run in
 * both layouts and are packed at once. The plane's last row may be partial (plane_pos). */
static void SFX(conv_pack_rows)(const r8_conv *p, const uint8_t *img, long pl, int yq0, int yq1) {
    const long ppos = p->plane_pos;
    const int ck = p->pack_ck ? p->pack_ck : p->ck, np = p->nphase * p->ck / ck;   /* as packed */
    int c4 = (int)(pl % ck), ph = (int)(pl / ck % np), g = (int)(pl / ((long)ck * np));
    int ry = p->phase_ry[ph], rx = p->phase_rx[ph];
    uint32_t *dst = (uint32_t *)p->scratch + pl * ppos;
    const int kp = R8_MODE == 0 ? 4 : 2;
    const uint8_t *src[4] = {0, 0, 0, 0};
#if R8_MODE == 0
    const uint32_t padcell = conv_pad_cell(p, g, c4);
#else
    const uint32_t padcell = 0;
#endif
    int chans[4], z[2] = {0, 0};
    (void)z;   /* mode 1 only */
    for (int j = 0; j < kp; j++) {
        int c = c4 * kp + j;
        chans[j] = c < p->Cg ? g * p->Cg + c : -1;
        if (chans[j] >= 0) {
            src[j] = img + (long)chans[j] * p->H * p->W;
            if (R8_MODE == 1) z[j] = p->pad[chans[j]];
        }
    }
    const int sx = p->sx, x0 = rx - p->pl;
    int xlo, xhi;
    conv_real_columns(p, rx, &xlo, &xhi);
    const int whole_rows = sx == 1 && p->sy == 1 && xlo == 0 && xhi == p->Wq && p->Wq == p->W && x0 == 0;
    const long end = R8_MIN(ppos, (long)yq1 * p->Wq);
#if R8_MODE == 0 && defined(R8_ZMM)
    if (sx == 1 && p->sy == 1 && ry == 0 && rx == 0 && !whole_rows && xhi - xlo == p->W && r8_vbmi() &&
        conv_pack_spread(p, dst, src, padcell, yq0, yq1, xlo, xhi, end))
        return;
    if (sx == 2 && xhi - xlo <= 32 && r8_vbmi()) {
        conv_pack_s2_vbmi(p, dst, src, padcell, ry, x0, xlo, xhi, yq0, end);
        return;
    }
#endif
    long pos = (long)yq0 * p->Wq;
    for (int yq = yq0; pos < end;) {
        long len = R8_MIN((long)p->Wq, end - pos);
        int y = ry + p->sy * yq - p->pt;
        uint32_t *d = dst + pos;
        if (y < 0 || y >= p->H) {
            for (long x = 0; x < len; x++) d[x] = padcell;
            pos += len;
            yq++;
            continue;
        }
        long a = R8_MIN((long)xlo, len), b = R8_MIN((long)xhi, len);
        int rows = 1;
        if (whole_rows) { /* rows yq.. while they are real and complete: one run */
            rows = (int)R8_MAX(1, R8_MIN((long)(p->H - y), (end - pos) / p->Wq));
            if (rows > 1) a = 0, b = len = (long)rows * p->W;
        }
        for (long x = 0; x < a; x++) d[x] = padcell;
        const long off = (long)y * p->W + x0 + (long)sx * a;
#if R8_MODE == 0
        const uint8_t *s[4];
        for (int j = 0; j < 4; j++) s[j] = src[j] ? src[j] + off : 0;
        pack_u8_cells(d + a, s, b - a, sx, p->in_signed ? 0x80 : 0);
#else
        const uint8_t *s[2] = {src[0] ? src[0] + off : 0, src[1] ? src[1] + off : 0};
        pack_s16_run(d + a, s, z, b - a, sx, p->in_signed);
#endif
        for (long x = b; x < len; x++) d[x] = padcell;
        pos += len;
        yq += rows;
    }
}

/* Whether the phase planes are the image itself (one tap, one phase, stride 1, no padding at
 * either end, rows of W: plane position v is image position v), so that any range of positions
 * packs alone. */
R8_INLINE int conv_planes_are_image(const r8_conv *p) {
    return p->ntaps == 1 && p->nphase == 1 && p->tap_off[0] == 0 && p->sx == 1 && p->sy == 1 && p->pt == 0 &&
           p->pl == 0 && p->OH == p->H && p->OW == p->W && p->Wq == p->W && p->phase_ry[0] == 0 &&
           p->phase_rx[0] == 0;
}

/* The variants whose convolutions can pack their own positions (CONV_COMPUTE_PACKING): AMX's, and
 * the 16-lane ones of u8 cells (conv_compute_rq_packing). */
#if R8_MODE == 0 && (defined(R8_CUSTOM_CONV_COMPUTE) ? defined(CONV_COMPUTE_PACKING) : defined(R8_ZMM))
#define R8_PACKS_POSITIONS 1
#endif

#if defined(R8_PACKS_POSITIONS)
/* Positions v0 .. v1 - 1 (up to H*W) of planes pl0 .. pl1 - 1 of one image whose planes are the
 * image (conv_planes_are_image): plane pl's cell of position v at dst + pl*stride + v - v0. */
static void SFX(conv_pack_plane_positions)(const r8_conv *p, const uint8_t *img, long pl0, long pl1, long v0,
                                           long v1, uint32_t *dst, long stride) {
    const long hw = (long)p->H * p->W;
    v1 = R8_MIN(v1, hw);
    if (v0 >= v1) return;
    for (long pl = pl0; pl < pl1; pl++) {
        const int g = (int)(pl / p->ck), c4 = (int)(pl % p->ck);
        const uint8_t *s[4];
        for (int j = 0; j < 4; j++) {
            const int c = c4 * 4 + j;
            s[j] = c < p->Cg ? img + (long)(g * p->Cg + c) * hw + v0 : NULL;
        }
        pack_u8_cells(dst + pl * stride, s, v1 - v0, 1, p->in_signed ? 0x80 : 0);
    }
}

/* conv_pack_plane_positions for every plane, into planes of their own (dst + pl*stride: cell v - v0). */
static void SFX(conv_pack_positions)(const r8_conv *p, const uint8_t *img, long v0, long v1, uint32_t *dst,
                                     long stride) {
    SFX(conv_pack_plane_positions)(p, img, 0, (long)p->G * p->ck, v0, v1, dst, stride);
}
#endif

#if R8_MODE == 1
/* A lone channel's plane (r8_conv.pack_ck), packed as cells (value, 0): cell u becomes
 * (value[u], value[u + 1]), the last (value, 0). In place from the front: cell u + 1's value is
 * read before cell u + 1 is rewritten, and keeps its low half. */
static void conv_pair_lone(uint32_t *d, long n) {
    for (long u = 0; u + 1 < n; u++) d[u] = (d[u] & 0xFFFFu) | (d[u + 1] << 16);
    d[n - 1] &= 0xFFFFu;
}
#endif

#if defined(R8_PACKS_POSITIONS) && R8_MODE == 0 && defined(R8_ZMM)
/* conv_pack where the planes are the image (conv_planes_are_image): each plane one run of H*W
 * cells (conv_pack_plane_positions), its cells past H*W up to plane_pos the padding cell (as
 * conv_pack_rows writes them), by_rows each thread the same share of every plane's rows, else whole
 * planes. conv_pack_rows' setup of phases, rows and padding (four divisions among them) had cost more
 * than the cells of a small plane: ResNet-50's 2048x7x7 input 22 us, 1024x14x14 13 us. */
static void SFX(conv_pack_image)(const r8_conv *p, const uint8_t *img, int nt, int by_rows) {
    const long hw = (long)p->H * p->W, planes = (long)p->G * p->ck, ppos = p->plane_pos;
    uint32_t *scratch = (uint32_t *)p->scratch;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int t = omp_get_thread_num(), k = omp_get_num_threads();
        long pl0 = 0, pl1 = planes, v0 = 0, v1 = ppos;
        if (by_rows) v0 = (long)p->H * t / k * p->W, v1 = t == k - 1 ? ppos : (long)p->H * (t + 1) / k * p->W;
        else pl0 = planes * t / k, pl1 = planes * (t + 1) / k;
        SFX(conv_pack_plane_positions)(p, img, pl0, pl1, v0, v1, scratch + v0, ppos);
        for (long pl = pl0; v1 > hw && pl < pl1; pl++)   /* the cells past H*W: padding */
            fill_cells(scratch + pl * ppos + hw, ppos - hw, conv_pad_cell(p, pl / p->ck, (int)(pl % p->ck)));
    }
}
#endif

/* Pack one image into the phase planes (planes that are the image: conv_pack_image), on a team of
 * nt threads: by_rows, each thread packs the same share of every plane's rows, its share of the
 * output positions where the work items that follow are cut by positions and scheduled statically
 * in position order, so that a thread reads back the cells it packed (a 1x1 layer's from its own
 * core's cache); else each thread packs whole planes (no cache line written by two threads: rows
 * of small planes share lines). */
static void SFX(conv_pack)(const r8_conv *p, const uint8_t *img, int nt, int by_rows) {
    const long planes = (long)p->G * p->nphase * p->ck;
    const int rows = (int)((p->plane_pos + p->Wq - 1) / p->Wq);
#if defined(R8_PACKS_POSITIONS) && R8_MODE == 0 && defined(R8_ZMM)
    if (conv_planes_are_image(p)) {
        SFX(conv_pack_image)(p, img, nt, by_rows);
        return;
    }
#endif
    if (by_rows && nt > 1 && !p->pack_ck) {   /* (pack_ck: whole planes, each paired once packed) */
#pragma omp parallel num_threads(nt)
        {
            const int t = omp_get_thread_num(), k = omp_get_num_threads();
            const int y0 = (int)((long)rows * t / k), y1 = (int)((long)rows * (t + 1) / k);
            for (long pl = 0; pl < planes; pl++) SFX(conv_pack_rows)(p, img, pl, y0, y1);
        }
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (long pl = 0; pl < planes; pl++) {
        SFX(conv_pack_rows)(p, img, pl, 0, rows);
#if R8_MODE == 1
        if (p->pack_ck && pl % p->pack_ck == p->pack_ck - 1)   /* a lone channel's plane */
            conv_pair_lone((uint32_t *)p->scratch + pl * p->plane_pos, p->plane_pos);
#endif
    }
}

#if R8_MODE == 0
/* Whether the input in cells (r8_conv.in_cells) is the phase planes themselves: planes that are
 * the image, as many cell planes as the kernel reads (ck of one group), as far apart as its
 * planes, and no tail cells to lay out after them in the scratch. */
R8_INLINE int conv_cells_are_planes(const r8_conv *p) {
    return conv_planes_are_image(p) && p->G == 1 && p->ck * 4 == p->C && p->in_cells == p->plane_pos &&
           !p->pack_ck && !p->tail_n;
}

/* Pack one image given in cells (r8_conv.in_cells: [C/4][in_cells][4 bytes], G == 1) into the
 * phase planes: conv_pack_rows' cells, each copied whole from the input's cell (the padding and
 * the cells past the last row the zero point's, the planes past C/4 zero); whole planes a thread. */
static void SFX(conv_pack_cells)(const r8_conv *p, const uint8_t *cells, int nt) {
    const long planes = (long)p->nphase * p->ck, ppos = p->plane_pos, wq = p->Wq;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (long pl = 0; pl < planes; pl++) {
        const int c4 = (int)(pl % p->ck), ph = (int)(pl / p->ck);
        const int ry = p->phase_ry[ph], rx = p->phase_rx[ph], sx = p->sx, x0 = rx - p->pl;
        uint32_t *dst = (uint32_t *)p->scratch + pl * ppos;
        const uint32_t padcell = conv_pad_cell(p, 0, c4);   /* (one group) */
        if (c4 * 4 >= p->C) {   /* (ck rounded up to the tiles' channel groups) */
            for (long v = 0; v < ppos; v++) dst[v] = 0;
            continue;
        }
        const uint32_t *src = (const uint32_t *)cells + c4 * p->in_cells;
        int xlo, xhi;
        conv_real_columns(p, rx, &xlo, &xhi);
        for (long pos = 0, yq = 0; pos < ppos; pos += wq, yq++) {
            const long len = R8_MIN(wq, ppos - pos), y = ry + p->sy * yq - p->pt;
            uint32_t *d = dst + pos;
            if (y < 0 || y >= p->H) {
                for (long x = 0; x < len; x++) d[x] = padcell;
                continue;
            }
            const long a = R8_MIN(xlo, len), b = R8_MAX(a, R8_MIN(xhi, len));
            const uint32_t *run = src + y * p->W + x0 + sx * a;   /* input row y, column x0 + sx*a */
            for (long x = 0; x < a; x++) d[x] = padcell;
            long x = a;
            if (sx == 1) memcpy(d + a, run, (size_t)(b - a) * 4), x = b;
#if defined(R8_ZMM)
            if (sx == 2) {   /* the even cells of 32, while the 32 are the row's (x + 16 < b), then
                                the last k of the row from the 2k - 1 cells they span (masked: a
                                cell at a time had been a third of the stride-2 layers' packing) */
                const vi even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                for (; x + 16 < b; x += 16) {
                    const uint32_t *s2 = run + 2 * (x - a);
                    _mm512_storeu_si512(d + x, _mm512_permutex2var_epi32(_mm512_loadu_si512(s2), even,
                                                                          _mm512_loadu_si512(s2 + 16)));
                }
                if (x < b) {
                    const uint32_t *s2 = run + 2 * (x - a);
                    const int k = (int)(b - x), span = 2 * k - 1;
                    const __mmask16 lo = (__mmask16)(span >= 16 ? 0xFFFFu : (1u << span) - 1u);
                    const __mmask16 hi = (__mmask16)(span > 16 ? (1u << (span - 16)) - 1u : 0u);
                    _mm512_mask_storeu_epi32(d + x, (__mmask16)((1u << k) - 1u),
                                             _mm512_permutex2var_epi32(_mm512_maskz_loadu_epi32(lo, s2), even,
                                                                       _mm512_maskz_loadu_epi32(hi, s2 + 16)));
                    x = b;
                }
            }
#endif
            for (; x < b; x++) d[x] = run[sx * (x - a)];
            for (long x = b; x < len; x++) d[x] = padcell;
        }
    }
}

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

/* Epilogue of output channels oc0 .. oc0+nocs-1 over nv (<= CHV) vectors starting at vector vb0:
 * raw dot products (row j at raw + j*stride) -> acc = raw (+ comp if add_comp, else the raw sums
 * started from it) - zw*S -> float32 -> post-ops
 * -> store the valid lanes into the NCHW output (or, with a fused consumer, conv_consume), a
 * register group at a time. Returns the NaN count reaching a Quantize. */
R8_INLINE void conv_acc(const int32_t *r, int add_comp, vi comp, const int32_t *ws, vi zwv,
                        vf *y, const int n, int i0) {
#pragma GCC unroll 4
    for (int j = 0; j < n; j++) {
        vi a = vi_load(r + (i0 + j) * VL);
        if (add_comp) a = vi_add(a, comp);   /* else the raw sums started from comp (or it is 0) */
#if R8_MODE == 0
        if (ws) a = vi_sub(a, vi_mullo(zwv, vi_load(ws + (i0 + j) * VL)));
#endif
        y[j] = vf_cvt(a);
    }
}

R8_INLINE int conv_store(int out_type, void *out, long base, const unsigned *vmask, const int *vstart,
                         const vf *y, const int n, int i0) {
    int nan = 0;
#pragma GCC unroll 4
    for (int j = 0; j < n; j++) {
        const unsigned mask = vmask[i0 + j];
        if (mask) nan += store_result(out, base + vstart[i0 + j], y[j], mask, out_type);
    }
    return nan;
}

/* The fused consumer (r8_conv.elt) on n vectors y of the convolution's post-op results: the codes
 * the convolution would store, as the consumer would read them back (NaN counted as the store
 * counts them; -0.0 made +0.0), the other input's codes at the same outputs (link: the
 * convolution's input position in the consumer; other: the other input's type), the consumer's
 * step and post-ops, and its store. Returns the NaN count. */
R8_INLINE int conv_consume(const r8_elt_step *e, int link, int other, int conv_type,
                           const uint8_t *codes, const r8_post_run *eres, int euni, const float *hp,
                           const float *rp, void *out, long base, const unsigned *vmask,
                           const int *vstart, vf *y, const int n, int i0) {
    const int kind = conv_type & 3;
    const vf zero = vf_set1(0.0f);
    int nan = 0;
    vf x[PB];
    codes += base;
#pragma GCC unroll 4
    for (int j = 0; j < n; j++) {
        const unsigned mask = vmask[i0 + j];
        if (!(conv_type & 8)) nan += __builtin_popcount(vm_bits(vm_nan(y[j])) & mask);
        if (!(conv_type & 4)) y[j] = to_codes(y[j], kind);
        /* the stored code 0 reads back as +0.0: rint of a value in (-0.5, 0] (or an ol of -0.0)
         * gives -0.0, which + 0.0 turns into +0.0 and leaves every other value as it is */
        y[j] = vf_add(y[j], zero);
        x[j] = mask ? load_codes(codes + vstart[i0 + j], mask, other) : zero;
    }
    if (link == 0) {
        elt_combine(e, y, x, hp, rp, n, i0);
    } else {
        elt_combine(e, x, y, hp, rp, n, i0);
#pragma GCC unroll 4
        for (int j = 0; j < n; j++) y[j] = x[j];
    }
    POST_GROUP(eres, e->npost, y, n, i0, euni);
#pragma GCC unroll 4
    for (int j = 0; j < n; j++) {
        const unsigned mask = vmask[i0 + j];
        if (mask) nan += store_result(out, base + vstart[i0 + j], y[j], mask, e->out_type);
    }
    return nan;
}

#define RQ_FIELDS 11       /* r8_conv.rq's, per plane (r8simd_api.h) */
#define RQ_ELT_FIELDS 16   /* r8_elt.rq's (elt_rq) */

/* rq_vector's ol_mode for a convolution whose fused consumer stores cells
 * (conv_consumes_into_cells): each code, level + ol, goes into the thread's ring as a float32,
 * which the consumer (rq_consume_cells) then reads as it is, where a byte took it a widening load
 * and a conversion. RQ_CODE_BYTES: the bytes of a stored code in that mode and the others. */
#define RQ_RING 5
#define RQ_CODE_BYTES(ol_mode) ((ol_mode) == RQ_RING ? 4 : 1)

/* The plane's ol as the int32 rq field 10 holds it (its bits, not a float): added to the codes
 * straight from memory (an embedded broadcast), where converting q[3] took a conversion and a
 * broadcast from a general register a vector (the avx512_vnni interleaved loop, mode 0: ResNet-50's
 * i8 conv3 layers). */
R8_INLINE int32_t rq_ol_int(const float *q) {
    int32_t ol;
    memcpy(&ol, q + 10, sizeof ol);
    return ol;
}

#if !defined(R8_ZMM)
/* The requantizing epilogue of the 4- and 8-lane kernels (SSE4.2, AVX2; r8_conv.rq without a
 * fused consumer or weight zero points), one output channel: accumulators r (+ comp), rq fields
 * q, output plane `plane`. The fused chain x = min(steps, max(0, acc*A + B)), its product and its
 * sum each rounded (no FMA on these variants: _plan/fused_requantization.py's contracted=False
 * bound), code rint(x) + ol; ol_mode a literal as rq_vector's: 0 ol added (codes of out kind
 * `kind`), 1 every ol 0, 2 every ol -128 (i8: the byte's top bit flipped), 3 and 4 those with
 * r8_conv.rq_saturate (no clamp: the packs' saturation clamps, rq_level's argument). Returns 0
 * where a lane lay within the limit of a midpoint: the caller then runs the general epilogue on
 * the channel, whose stores replace these. In place of the general epilogue's post-op
 * interpreter (about half its operations a vector, no jump a group): ResNet-50's 64x56x56 -> 64
 * and -> 256 1x1 layers 0.82-0.83x the time on AVX2 and SSE4.2, the stem 0.93x (alternating
 * processes); without its epilogue that 64 -> 256 layer had taken 0.65x. */
R8_INLINE int rq_epilogue_channel(const r8_conv *p, const int32_t *r, vi comp, const float *q, uint8_t *plane,
                                  const unsigned *vmask, const int *vstart, int nv, const int kind,
                                  const int ol_mode) {
    const vf a = vf_set1(q[8]), b = vf_set1(q[9]), zero = vf_set1(0.0f);
    const vf steps = vf_set1(p->post[p->npost - 1].steps), limit = vf_set1(p->rq_near_limit);
    const vi ol = vi_set1(ol_mode == 0 ? rq_ol_int(q) : 0);
    const int codes = ol_mode == 0 ? kind : ol_mode % 2 == 0 ? CODES_FLIP : CODES_U8;
    vf worst = zero;
    int i = 0;
    for (; i < nv; i += PB) {
        const int n = R8_MIN(PB, nv - i);
        vi c[PB];
#pragma GCC unroll 4
        for (int j = 0; j < PB; j++) {
            if (j >= n) { c[j] = c[0]; continue; }
            const vf v = vf_add(vf_mul(vf_cvt(vi_add(vi_load(r + (i + j) * VL), comp)), a), b);
            const vf x = ol_mode >= 3 ? v : vf_min(steps, vf_max(zero, v));
            const vf level = vf_round(x);
            worst = vf_max(worst, vf_abs(vf_sub(x, level)));
            c[j] = ol_mode == 0 ? vi_add(vi_cvt(level), ol) : vi_cvt(level);
        }
        const unsigned *m = vmask + i;
        const int *at = vstart + i;
        if (n == PB && (m[0] & m[1] & m[2] & m[3]) == VM_FULL && at[3] == at[0] + 3 * VL) {
            store_code_ints4(plane + at[0], c, codes);
        } else {
            for (int j = 0; j < n; j++)
                if (m[j]) store_code_ints(plane + at[j], c[j], m[j], codes);
        }
    }
    return vm_bits(vm_ge(worst, limit)) == 0;
}

/* rq_epilogue_channel with its ol_mode chosen from p's flags (kind: the output codes' CODES_*). */
static int SFX(rq_epilogue)(const r8_conv *p, const int32_t *r, vi comp, const float *q, uint8_t *plane,
                            const unsigned *vmask, const int *vstart, int nv, int kind) {
    if (p->rq_ol_zero && p->rq_saturate) return rq_epilogue_channel(p, r, comp, q, plane, vmask, vstart, nv, kind, 3);
    if (p->rq_ol_flip && p->rq_saturate) return rq_epilogue_channel(p, r, comp, q, plane, vmask, vstart, nv, kind, 4);
    if (p->rq_ol_zero) return rq_epilogue_channel(p, r, comp, q, plane, vmask, vstart, nv, kind, 1);
    if (p->rq_ol_flip) return rq_epilogue_channel(p, r, comp, q, plane, vmask, vstart, nv, kind, 2);
    return rq_epilogue_channel(p, r, comp, q, plane, vmask, vstart, nv, kind, 0);
}
#endif

static int SFX(conv_epilogue)(const r8_conv *p, int n, int g, int oc0, int nocs, int vb0, int nv,
                              const int32_t *raw, long stride, int add_comp, void *out) {
    int nan = 0;
    const unsigned *vmask = p->vmask + vb0;
    const int *vstart = p->vstart + vb0;
    const long inner0 = (long)vb0 * VL;
    const int32_t *ws = NULL;
    const r8_elt *e = p->elt;
    const int npost = p->npost, out_type = p->out_type;   /* (stores through out may alias *p) */
    r8_elt_step es = {0, 0, 0, 0, 0};
    int link = 0, other = 0;
    const uint8_t *codes = (const uint8_t *)p->elt_other;
    if (e) {
        es = elt_step_of(e);
        link = p->elt_input;
        other = link ? e->in0_type : e->in1_type;
    }
#if R8_MODE == 0
    if (p->zw) ws = p->wsum + (long)g * p->nvpad + (long)vb0 * VL;
#endif
#if !defined(R8_ZMM)
    const int rq = p->rq && !e && !ws, kind = (out_type & 3) == 2 ? CODES_I8 : CODES_U8;
#endif
    for (int j = 0; j < nocs; j++) {
        const int oc = oc0 + j;
        const int32_t *r = raw + j * stride;
        const vi comp = vi_set1(add_comp ? p->comp[oc] : 0), zwv = vi_set1(ws ? p->zw[oc] : 0);
        const long outer = (long)n * p->OC + oc;
        const long base = outer * p->OH * p->OW;
#if !defined(R8_ZMM)
        if (rq && SFX(rq_epilogue)(p, r, comp, p->rq + outer * RQ_FIELDS, (uint8_t *)out + base, vmask, vstart, nv, kind))
            continue;
#endif
        r8_post_run res[R8_MAX_POST], eres[R8_MAX_POST];
        const float *hp = NULL, *rp = NULL;
        const int uni = post_resolve(p->post, npost, outer, inner0, res);
        int euni = 0;
        if (e) {
            euni = post_resolve(e->post, es.npost, outer, inner0, eres);
            hp = e->h.data + outer * e->h.s_outer + inner0 * e->h.s_inner;
            rp = e->r.data + outer * e->r.s_outer + inner0 * e->r.s_inner;
        }
        int i = 0;
        if (!ws && !e && uni) {   /* the common case, with its conditions known to the compiler */
            for (; i + PB <= nv; i += PB) {
                vf y[PB];
                conv_acc(r, add_comp, comp, NULL, zwv, y, PB, i);
                post_group_(res, npost, y, PB, i, 1);
                nan += conv_store(out_type, out, base, vmask, vstart, y, PB, i);
            }
        }
        if (!ws && e && uni && euni) {   /* the common fused case, likewise */
            for (; i + PB <= nv; i += PB) {
                vf y[PB];
                conv_acc(r, add_comp, comp, NULL, zwv, y, PB, i);
                post_group_(res, npost, y, PB, i, 1);
                nan += conv_consume(&es, link, other, out_type, codes, eres, 1, hp, rp, out, base, vmask, vstart, y, PB, i);
            }
        }
        for (; i + PB <= nv; i += PB) {
            vf y[PB];
            conv_acc(r, add_comp, comp, ws, zwv, y, PB, i);
            POST_GROUP(res, npost, y, PB, i, uni);
            if (e) nan += conv_consume(&es, link, other, out_type, codes, eres, euni, hp, rp, out, base, vmask, vstart, y, PB, i);
            else nan += conv_store(out_type, out, base, vmask, vstart, y, PB, i);
        }
        for (; i < nv; i++) {
            vf y[1];
            conv_acc(r, add_comp, comp, ws, zwv, y, 1, i);
            POST_GROUP(res, npost, y, 1, i, uni);
            if (e) nan += conv_consume(&es, link, other, out_type, codes, eres, euni, hp, rp, out, base, vmask, vstart, y, 1, i);
            else nan += conv_store(out_type, out, base, vmask, vstart, y, 1, i);
        }
    }
    return nan;
}

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
    vf *gaps;                  /* each vector's gap (rq_vector's), vector (j, i) at gaps[i*nr + j] */
    int nr, n, oc0, vb;
} rq_tile;

/* Where the requantization of a tile stands: the next vector's sums, its channel's rq fields, its
 * first output byte, its lane mask, the channels of its output vector i still to do. Kept in
 * locals of the tile loop (registers: the output stores cannot alias them). */
typedef struct {
    const int32_t *raw;
    const float *q;
    uint8_t *dst;
    vf *gap;
    unsigned mask;
    int left, i;
} rq_cursor;

R8_INLINE void rq_column(const rq_tile *t, rq_cursor *c, int i, const int ol_mode) {
    c->i = i;
    c->raw = t->raw + i * VL;
    c->q = t->rq;
    c->dst = t->dst + (long)t->vstart[i] * RQ_CODE_BYTES(ol_mode);
    c->gap = t->gaps + i * t->nr;
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

/* Requantize and store the vector at the cursor and move it on (the tile must have one left);
 * its gap into *worst (rq_vector, checked or not, its ol_mode). */
/* Move the cursor to the next channel of its output vector (the tile's next vector, unless the
 * column is done: then rq_column). */
R8_INLINE void rq_advance(const rq_tile *t, rq_cursor *c) {
    c->raw += CONV_MR * VL;
    c->q += RQ_FIELDS;
    c->dst += t->plane;
    c->gap++;
    c->left--;
}

R8_INLINE void rq_next(const r8_conv *p, const rq_tile *t, rq_cursor *c, vf steps, vf limit, vf *worst,
                       const int checked, const int ol_mode) {
    if (c->left == 0) rq_column(t, c, c->i + 1, ol_mode);
    const int32_t *raw = c->raw;
    const float *q = c->q;
    uint8_t *dst = c->dst;
    vf *gap = c->gap;
    rq_advance(t, c);
    if (__builtin_expect(c->mask != 0, 1)) {
        *gap = rq_vector(p, vi_load(raw), q, dst, c->mask, steps, limit, checked, ol_mode);
        *worst = rq_wider(*worst, *gap);
    }
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
 * 1024 lanes, about one pass in five would be done twice). */
#define RQ_GROUP 4
static int SFX(rq_channel)(const r8_conv *p, int n, int oc, int vb0, int nv, const int32_t *raw, void *out) {
    const long outer = (long)n * p->OC + oc;
    const float *q = p->rq + outer * RQ_FIELDS;
    uint8_t *plane = (uint8_t *)out + outer * p->OH * p->OW;
    const vf steps = vf_set1(p->post[p->npost - 1].steps), limit = rq_fused_limit(p);
    const vi comp = vi_set1(p->comp[oc]);
    const int ol_zero = p->rq_ol_zero;
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

/* The vectors of tile t (`vectors` of them) whose gap, kept by the unchecked pass in t->gaps,
 * reaches the limit, again, checked: their stores replace the unchecked ones (these kernels write
 * the output, never read it). The other vectors' gaps show
 * that their lanes are not near a midpoint: their codes stand. Called outside conv_tile (a call
 * there makes it spill its accumulators), with values: the address of rq_work must not escape (it
 * would keep rq_work out of registers). */
static __attribute__((noinline, cold, unused)) void SFX(rq_recheck)(const r8_conv *p, const rq_tile *t, int vectors,
                                                             float steps, int ol_mode) {
    rq_cursor c;
    ol_mode = ol_mode == RQ_RING ? RQ_RING : 0;
    rq_column(t, &c, 0, ol_mode);
    const vf limit = rq_fused_limit(p);
    vf ignored = vf_set1(0.0f);
    for (int k = 0; k < vectors; k++) {
        if (c.left == 0) rq_column(t, &c, c.i + 1, ol_mode);
        if (c.mask && rq_near(*c.gap, limit)) {
            rq_next(p, t, &c, vf_set1(steps), limit, &ignored, 1, ol_mode);
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
 * or 2 vectors a channel, its levels go unclamped through rq_store_levels (rq_level). */
#define RQ_DIRECT_VECTOR(p, acc, q, dst, mask, steps, limit, worst, ol_mode) \
    worst = rq_wider(worst, rq_vector(p, acc, q, dst, mask, steps, limit, 0, ol_mode))
#define RQ_DIRECT_TILE(p, d, acc, MR, NR, raw, stride, ol_mode)                                          \
    do {                                                                                                 \
        const vf steps_ = vf_set1((p)->post[(p)->npost - 1].steps), limit_ = rq_fused_limit(p);         \
        vf worst_ = vf_set1(0.0f);                                                                       \
        /* the tile's masks, offsets and rq rows in locals: the byte stores could alias p's fields */    \
        unsigned mask_[CONV_MR];                                                                         \
        uint8_t *dst_[CONV_MR];                                                                          \
        int whole_ = 1;                                                                                  \
        _Pragma("GCC unroll 8")                                                                          \
        for (int i = 0; i < (MR); i++) {                                                                 \
            mask_[i] = (p)->vmask[(d)->vb + i];                                                          \
            dst_[i] = (d)->dst + (long)(p)->vstart[(d)->vb + i] * RQ_CODE_BYTES(ol_mode);                \
            whole_ &= mask_[i] == VM_FULL && dst_[i] == dst_[0] + i * VL * RQ_CODE_BYTES(ol_mode);       \
        }                                                                                                \
        const float *q_ = (p)->rq + (d)->outer * RQ_FIELDS;                                              \
        const long plane_ = (d)->plane;                                                                  \
        if (whole_ && ((ol_mode) == 3 || (ol_mode) == 4) && ((MR) == 4 || (MR) == 2)) {                 \
            _Pragma("GCC unroll 8")                                                                      \
            for (int j = 0; j < (NR); j++) {                                                             \
                vi level_[CONV_MR];                                                                      \
                _Pragma("GCC unroll 8")                                                                  \
                for (int i = 0; i < (MR); i++) {                                                         \
                    vf gap_;                                                                             \
                    level_[i] = rq_level(acc[j][i], q_ + j * RQ_FIELDS, steps_, 1, &gap_);               \
                    worst_ = rq_wider(worst_, gap_);                                                     \
                }                                                                                        \
                rq_store_levels(dst_[0] + j * plane_, level_, MR, (ol_mode) == 4);                       \
            }                                                                                            \
        } else if (whole_) {                                                                             \
            _Pragma("GCC unroll 8")                                                                      \
            for (int j = 0; j < (NR); j++)                                                               \
                _Pragma("GCC unroll 8")                                                                  \
                for (int i = 0; i < (MR); i++)                                                           \
                    RQ_DIRECT_VECTOR(p, acc[j][i], q_ + j * RQ_FIELDS,                                  \
                                     dst_[0] + j * plane_ + i * VL * RQ_CODE_BYTES(ol_mode),             \
                                     VM_FULL, steps_, limit_, worst_, ol_mode);                          \
        } else {                                                                                         \
            _Pragma("GCC unroll 8")                                                                      \
            for (int j = 0; j < (NR); j++)                                                               \
                _Pragma("GCC unroll 8")                                                                  \
                for (int i = 0; i < (MR); i++)                                                           \
                    if (mask_[i])                                                                        \
                        RQ_DIRECT_VECTOR(p, acc[j][i], q_ + j * RQ_FIELDS, dst_[i] + j * plane_,         \
                                         mask_[i], steps_, limit_, worst_, ol_mode);                     \
        }                                                                                                \
        if (__builtin_expect(rq_wide_near(worst_, limit_), 0))                                          \
            SFX(rq_direct_recheck)(p, d, raw, stride, MR, NR, ol_mode);                                  \
    } while (0)
#else
/* only AVX-512 builds interleave the requantization */
typedef struct { int none; } rq_direct;
typedef struct { int none; } rq_work;
typedef struct { int none; } rq_state;
R8_INLINE rq_state rq_begin(const rq_work *w) { const rq_state s = {0}; (void)w; return s; }
R8_INLINE void rq_between(const rq_work *w, rq_state *s) { (void)w; (void)s; }
R8_INLINE void rq_end(rq_work *w, rq_state *s) { (void)w; (void)s; }
#endif

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
#pragma GCC unroll 8
    for (int j = 0; j < NR; j++)
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) vi_store(raw + j * stride + i * VL, acc[j][i]);
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

/* The tail rows sit in the scratch after the phase planes of conv_pack. */
R8_INLINE int32_t *tail_rows(const r8_conv *p) {
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

/* Block ob of group g of the tail: sums[m][j] (tail position m, channel j of the block, comp
 * included) placed at the position's lane of one vector per channel (0 elsewhere), then each
 * channel's epilogue at vector vt = nvec - 1: rq_vector, checked, where the requantizing kernels
 * run (conv_rq_kernels), else the general one. */
static int SFX(tail_epilogue)(const r8_conv *p, int n, int g, int ob, int32_t sums[][CONV_NR], void *out) {
    const int vt = p->nvec - 1, oc0 = g * p->OCg + ob * CONV_NR, nocs = R8_MIN(CONV_NR, p->OCg - ob * CONV_NR);
    int32_t raw[CONV_NR][VL] __attribute__((aligned(64)));
    memset(raw, 0, sizeof raw);
    for (int j = 0; j < nocs; j++)
        for (int m = 0; m < p->tail_n; m++) raw[j][p->tail_pos[m] - vt * VL] = sums[m][j];
#if defined(R8_ZMM)
    if (conv_rq_kernels(p)) {   /* (a requantizing consumer runs after it: rq_consume) */
        const float steps = p->post[p->npost - 1].steps;
        const long plane = (long)p->OH * p->OW;
        uint8_t *codes = conv_plane_codes(p, conv_codes_base(p, out), n, oc0);
        const int mode = conv_consumes_into_cells(p) ? RQ_RING : 0;
        for (int j = 0; j < nocs; j++) {
            const long outer = (long)n * p->OC + oc0 + j;
            rq_vector(p, vi_load(raw[j]), p->rq + outer * RQ_FIELDS,
                      codes + (j * plane + p->vstart[vt]) * RQ_CODE_BYTES(mode), p->vmask[vt], vf_set1(steps),
                      rq_fused_limit(p), 1, mode);
        }
        return 0;
    }
#endif
    return SFX(conv_epilogue)(p, n, g, oc0, nocs, vt, 1, raw[0], VL, 0, out);
}

/* sums[j] += the lanes f = j, j + CONV_NR, ... of the TAIL_CELLS lanes of acc[0..TAIL_CELLS/VL). */
R8_INLINE void tail_add_lanes(const vi *acc, int32_t *sums) {
#if defined(R8_ZMM)
    /* the 8 windows of 16 lanes starting at f = 6i (lanes 0-5 of each are channels 0-5), added */
    const vi z = vi_zero();
    vi s = vi_add(acc[0], _mm512_alignr_epi32(acc[1], acc[0], 6));
    s = vi_add(s, vi_add(_mm512_alignr_epi32(acc[1], acc[0], 12), _mm512_alignr_epi32(acc[2], acc[1], 2)));
    s = vi_add(s, vi_add(_mm512_alignr_epi32(acc[2], acc[1], 8), _mm512_alignr_epi32(acc[2], acc[1], 14)));
    s = vi_add(s, vi_add(_mm512_alignr_epi32(z, acc[2], 4), _mm512_alignr_epi32(z, acc[2], 10)));
    int32_t lanes[VL] __attribute__((aligned(64)));
    vi_store(lanes, s);
    for (int j = 0; j < CONV_NR; j++) sums[j] += lanes[j];
#else
    int32_t lanes[TAIL_CELLS] __attribute__((aligned(64)));
    for (int k = 0; k < TAIL_CELLS / VL; k++) vi_store(lanes + k * VL, acc[k]);
    for (int f = 0; f < TAIL_CELLS; f++) sums[f % CONV_NR] += lanes[f];
#endif
}

/* The dot products of tn tail positions with block ob of group g, TAIL_CELLS / VL vectors at a
 * time along the block's weights as the tiles read them (no copy): lane f of the sums of position
 * m belongs to channel f % CONV_NR (conv_tail_inputs), and is added into sums[m][f % CONV_NR]. */
R8_INLINE void tail_dots(const r8_conv *p, int g, int ob, const int tn, int32_t sums[][CONV_NR]) {
    enum { P = TAIL_CELLS / VL };
    const long rw = tail_row_cells(p), wstep = (long)p->ck * CONV_NR;
    const int nob = (p->OCg + CONV_NR - 1) / CONV_NR;
    const int32_t *rows = tail_rows(p) + (long)g * p->tail_n * p->ntaps * rw;
    const int32_t *wt = (const int32_t *)p->w + (long)(g * nob + ob) * p->ntaps * wstep;
    vi acc[TAIL_MAX][P];
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
    for (int m = 0; m < tn; m++) tail_add_lanes(acc[m], sums[m]);
}

/* The last virtual vector vt = nvec - 1 when only tail_n of its lanes are valid (r8_conv.tail_n),
 * for block ob of group g: run by the work item of the last chunk of the block's run, right after
 * its tiles (the block's weights are in L1). The input cell of a position meets the weights of
 * the block's channels across the lanes: per position TAIL_CELLS / VL dot products per 8 cells,
 * where a tile's vector costs one per cell and channel (6 of a block), and the weights are read
 * where the tiles read them. Exact integer sums like the tiles', then tail_epilogue. */
static __attribute__((noinline)) int SFX(conv_tail)(const r8_conv *p, int n, int g, int ob, void *out) {
    int32_t sums[TAIL_MAX][CONV_NR];
    const int oc0 = g * p->OCg + ob * CONV_NR, nocs = R8_MIN(CONV_NR, p->OCg - ob * CONV_NR);
    for (int m = 0; m < p->tail_n; m++)
        for (int j = 0; j < CONV_NR; j++) sums[m][j] = j < nocs ? p->comp[oc0 + j] : 0;
    switch (p->tail_n) {   /* the positions' accumulators in registers: tn a constant */
    case 1: tail_dots(p, g, ob, 1, sums); break;
#if TAIL_MAX > 1
    case 2: tail_dots(p, g, ob, 2, sums); break;
#endif
#if TAIL_MAX > 3
    case 3: tail_dots(p, g, ob, 3, sums); break;
    case 4: tail_dots(p, g, ob, 4, sums); break;
#endif
    default: break;
    }
    return SFX(tail_epilogue)(p, n, g, ob, sums, out);
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
#define DIRECT_CASE(mr, nr) case (mr) * 8 + (nr): conv_tile(p, g, ob, (long)vb * VL, mr, nr, raw[0][0], CONV_MR * VL, NULL, &direct, ol_mode, pf_take(&pf)); break;

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
    vf gaps[CONV_NR * CONV_MR];
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
            tile.gaps = gaps;
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
 * once its dot products are done (RQ_DIRECT_TILE; not r8_conv.rq_interleave). */
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
        for (int t = 0, vb = v0; t < ntile; t++) {
            const int mr = len / ntile + (t < len % ntile);
            const rq_direct direct = {outer, plane * RQ_CODE_BYTES(ol_mode), block_codes, vb};
            switch (mr * 8 + nr) {
                TILE_SHAPE_CASES(DIRECT_CASE)
            default: break;
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
 * are its planes (a copy of p whose scratch they are), else on planes packed from them. */
static int SFX(conv_on_cells)(const r8_conv *p, const uint8_t *cells, int n, void *out, int nt) {
    if (!conv_cells_are_planes(p)) {
        SFX(conv_pack_cells)(p, cells, nt);
        return SFX(conv_compute_planes)(p, n, out, nt);
    }
    r8_conv on_cells = *p;
    on_cells.scratch = (void *)cells;
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

/* ------------------------------------------------------------------------------------------- */
/* Depthwise Int8Convolution (one input channel per group, any channel multiplier)             */

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

#if defined(R8_VNNI) || defined(R8_AMX) || defined(R8_AMX_EMU)
/* ------------------------------------------------------------------------------------------- */
/* Depthwise Int8Convolution on byte planes (VNNI + VBMI)                                      */

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
 * 112x112 plane, 12544 lanes, and half of a 56x56 one; MobileNetV2 0.91x the time on AMX.) */
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
    const int nvec = p->nvec, ol_zero = p->rq_ol_zero;
    for (int i = 0; i < nvec; i += DWB_MR) {
        const int m = R8_MIN(DWB_MR, nvec - i);
        vi acc[DWB_MR];
#pragma GCC unroll 4
        for (int k = 0; k < DWB_MR; k++) acc[k] = comp;
        dwb_accumulate(p, perm, planes, wt, (long)i * VL, m, acc);
        vf worst = vf_set1(0.0f);
        for (int k = 0; k < m; k++) {
            const unsigned mask = p->vmask[i + k];
            if (!mask) continue;
            uint8_t *dst = plane + p->vstart[i + k];
            worst = rq_wider(worst, ol_zero ? rq_vector(p, acc[k], q, dst, mask, vsteps, limit, 0, 1)
                                            : rq_vector(p, acc[k], q, dst, mask, vsteps, limit, 0, 0));
        }
        if (__builtin_expect(rq_wide_near(worst, limit), 0))
            for (int k = 0; k < m; k++) {
                const unsigned mask = p->vmask[i + k];
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
#endif

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

#ifndef R8_PAIRS  /* the s16_pairs units only provide Int8Convolution and Int8MatMul */
/* ------------------------------------------------------------------------------------------- */
/* Elementwise layers: Int8Add, Int8Multiply, Dequantize, FakeQuantize (r8simd_api.h r8_elt)    */

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
#endif
