/* refint8 simd kernels: Int8Convolution's general epilogue.
 *
 * Raw dot products to int32 accumulators (plus compensation, minus weight zero-point sums), to
 * float32, through the post-op table, stored NCHW or handed to a fused elementwise consumer
 * (conv_acc, conv_store, conv_consume, conv_epilogue); on SSE4.2 and AVX2 the requantizing
 * epilogue of the common chain Multiply, Add, Quantize (rq_epilogue) comes first where it applies.
 * RQ_FIELDS and RQ_ELT_FIELDS: the per-plane requantization fields of r8_conv.rq and r8_elt.rq. */
/* Part of r8simd_kernels.h, which includes it once per ISA unit, in order after the parts
 * before it (not a header of its own: it uses their definitions). */

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
 * and a conversion. RQ_CODE_BYTES: the bytes of a stored code in that mode and the others.
 * RQ_PROVEN, added to a direct item's ol_mode (conv_direct_item, RQ_DIRECT_TILE) for the tiles of
 * a block whose planes are all proven (r8_conv.rq_proven): they are requantized without the
 * near-midpoint check; RQ_OL_MODE: the ol mode without it. */
#define RQ_RING 5
#define RQ_PROVEN 8
#define RQ_OL_MODE(ol_mode) ((ol_mode) % RQ_PROVEN)
#define RQ_CODE_BYTES(ol_mode) (RQ_OL_MODE(ol_mode) == RQ_RING ? 4 : 1)

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
