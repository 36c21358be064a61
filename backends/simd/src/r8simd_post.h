/* refint8 simd kernels: post-ops and the stores and loads of results.
 *
 * The float32 post-ops of an int8 layer (refint8.int8.post_ops) run on register groups of PB
 * vectors, their operands resolved once per run of vectors (post_resolve, post_group_); results are
 * stored as float32 or as codes (store_result), codes loaded back as floats (load_codes), and an
 * elementwise consumer's step (r8_elt_step, elt_combine) applied to a producer's results in
 * registers. Used by every kernel that follows. */
/* Part of r8simd_kernels.h, which includes it once per ISA unit, in order after the parts
 * before it (not a header of its own: it uses their definitions). */

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
