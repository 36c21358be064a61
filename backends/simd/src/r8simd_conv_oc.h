/* refint8 simd backend: the convolution with output channels across the lanes (AVX-512 VNNI).
 *
 * The general kernel (r8simd_conv.h conv_tile) puts VL consecutive virtual positions of a phase
 * plane in the lanes of a vector and one output channel's weights in every lane. On small output
 * planes many of those lanes are padding columns or past the plane's end (a 7x7 plane at stride 1
 * with 3x3 taps: 49 outputs in 4 vectors of 16 virtual positions). Here the lanes hold 16 output
 * channels of one output position instead, as oneDNN's and MLAS's int8 kernels do: a tile is OC_MR
 * output positions x OC_NR vectors of 16 channels, each input-channel step broadcasts one 4-channel
 * cell per position and loads OC_NR weight vectors, and only real output positions are computed.
 *
 * Input: conv_pack's phase planes, unchanged (r8simd_api.h): output position o reads the cells at
 * virtual position oc_vpos[o] + tap_off[t] of its tap's phase plane. Weights (r8_conv.w_oc):
 * [G][nob][ntaps][ck][OC_BLOCK][4 bytes], nob = ceil(OCg / OC_BLOCK), zero past OCg. The sums are
 * the general kernel's, integer for integer (acc = comp[oc] + sum of the same products, modulo
 * 2^32); a block of up to 16 output positions x OC_BLOCK channels is then turned to one vector of
 * 16 positions per channel and requantized by rq_vector, the interleaved requantization's own
 * arithmetic (each vector checked for lanes near a midpoint), so the codes stored are the same.
 *
 * Padding taps: a tile whose positions all read only padding cells with some taps (an output row at
 * the plane's top or bottom, a column at its left or right) leaves those taps out and starts from
 * comp plus their products with the padding cells (r8_conv.oc_pad_sums) instead: the same integer.
 * So that such tiles stay large, the positions of a chunk of the plane (up to OC_CHUNK, bands of
 * whole rows on small planes) are grouped by the taps they read real input with before they are
 * cut into tiles (oc_chunk_tiles); the epilogue then takes the chunk in position order. oneDNN's
 * brgemm convolutions likewise leave out the kernel rows and columns that fall on padding.
 * Used only with r8_conv.rq (no weight zero points); the plan chooses it per layer (_plan/
 * convolution.py). Inside a sequence it may store its codes as 4-channel cells (r8_conv.out_cells,
 * _plan/layout.py): the lanes of 4 channels' vectors interleaved, 16 cells a store. */

#define OC_MR 6                  /* output positions of a tile (registers: 6 x 4 accumulators) */
#define OC_NR 4                  /* vectors of 16 output channels of a tile */
#define OC_BLOCK (OC_NR * VL)    /* output channels of a weight block */
#define OC_POS VL                /* output positions of an epilogue block: one vector per channel */

/* The taps a tile runs: kernel rows y0 .. y1 - 1 and columns x0 .. x1 - 1 (tap ky*kw + kx). */
typedef struct { int y0, y1, x0, x1; } oc_taps;

/* One tap as a tile reads it: its cells' offset in bytes from the group's planes (at output
 * position 0), its weights' from the block's. */
typedef struct { long src, w; } oc_tap_at;

/* acc[m][j] = comp of channels oc0 + 16j .. + the dot products of output positions m < MR (their
 * cell offsets off[m], in bytes from the group's planes) with block weights wp over the ntaps taps
 * `taps`; stored to rows[m][0 .. OC_BLOCK). pf: lines to prefetch (pf_step; oc_item: the next
 * weights). */
R8_INLINE void oc_tile(const r8_conv *p, const uint8_t *planes, const int8_t *wp, const long *off,
                       const int MR, const int32_t *comp, int32_t *const *rows, pf_lines pf,
                       const oc_tap_at *taps, int ntaps) {
    vi acc[OC_MR][OC_NR];
#pragma GCC unroll 4
    for (int j = 0; j < OC_NR; j++) {
        const vi c = vi_load(comp + j * VL);
#pragma GCC unroll 6
        for (int m = 0; m < MR; m++) acc[m][j] = c;
    }
    const long step = p->plane_pos * 4, ck = p->ck;
    long o[OC_MR];
#pragma GCC unroll 6
    for (int m = 0; m < MR; m++) o[m] = off[m];
    for (int i = 0; i < ntaps; i++) {
        const uint8_t *src = planes + taps[i].src;
        const int8_t *w8 = wp + taps[i].w;
        for (long c = 0; c < ck; c++) {
            vi w[OC_NR];
#pragma GCC unroll 4
            for (int j = 0; j < OC_NR; j++) w[j] = vi_load(w8 + j * VL * 4);
#pragma GCC unroll 6
            for (int m = 0; m < MR; m++) {
                const vi b = vi_set1(*(const int32_t *)(src + o[m]));
#pragma GCC unroll 4
                for (int j = 0; j < OC_NR; j++) acc[m][j] = vdot(acc[m][j], b, w[j]);
            }
            src += step;
            w8 += OC_BLOCK * 4;
            pf_step(&pf);
        }
    }
#pragma GCC unroll 6
    for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
        for (int j = 0; j < OC_NR; j++) vi_store(rows[m] + j * VL, acc[m][j]);
}

/* raw[col0 + c][i] = sums[i][col0 + c] for 16 positions i and 16 channels c (a 16 x 16 int32
 * transpose: 32-bit and 64-bit unpacks within 128-bit lanes, then two rounds of lane shuffles). */
R8_INLINE void oc_transpose16(const int32_t (*sums)[OC_BLOCK], int col0, int32_t (*raw)[OC_POS]) {
    __m512i r[16], u[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) r[i] = _mm512_load_si512(sums[i] + col0);
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        u[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        u[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {   /* r[4i + k], lane L: rows 4i .. 4i+3 of column 4L + k */
        r[4 * i] = _mm512_unpacklo_epi64(u[4 * i], u[4 * i + 2]);
        r[4 * i + 1] = _mm512_unpackhi_epi64(u[4 * i], u[4 * i + 2]);
        r[4 * i + 2] = _mm512_unpacklo_epi64(u[4 * i + 1], u[4 * i + 3]);
        r[4 * i + 3] = _mm512_unpackhi_epi64(u[4 * i + 1], u[4 * i + 3]);
    }
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        const __m512i v0 = _mm512_shuffle_i32x4(r[k], r[4 + k], 0x88);       /* lanes 0, 2 of each */
        const __m512i v1 = _mm512_shuffle_i32x4(r[k], r[4 + k], 0xDD);       /* lanes 1, 3 */
        const __m512i w0 = _mm512_shuffle_i32x4(r[8 + k], r[12 + k], 0x88);
        const __m512i w1 = _mm512_shuffle_i32x4(r[8 + k], r[12 + k], 0xDD);
        _mm512_store_si512(raw[col0 + k], _mm512_shuffle_i32x4(v0, w0, 0x88));
        _mm512_store_si512(raw[col0 + 4 + k], _mm512_shuffle_i32x4(v1, w1, 0x88));
        _mm512_store_si512(raw[col0 + 8 + k], _mm512_shuffle_i32x4(v0, w0, 0xDD));
        _mm512_store_si512(raw[col0 + 12 + k], _mm512_shuffle_i32x4(v1, w1, 0xDD));
    }
}

/* Work items: (group, block of OC_BLOCK channels, run of epilogue blocks of OC_POS positions). */
typedef struct { int nob, nblk, nrun, per; long items; int solo; } oc_split;

R8_INLINE oc_split oc_split_of(const r8_conv *p, int nt) {
    oc_split s;
    s.nob = (p->OCg + OC_BLOCK - 1) / OC_BLOCK;
    s.nblk = (p->OH * p->OW + OC_POS - 1) / OC_POS;
    s.nrun = 1;
    if (nt > 1) {   /* at least 4 items per thread */
        const long want = (4L * nt + (long)p->G * s.nob - 1) / ((long)p->G * s.nob);
        s.nrun = (int)R8_MIN(want, (long)s.nblk);
    }
    s.per = (s.nblk + s.nrun - 1) / s.nrun;
    s.nrun = (s.nblk + s.per - 1) / s.per;
    s.items = (long)p->G * s.nob * s.nrun;
    s.solo = nt <= 1;
    return s;
}

/* The noc channels' vectors raw[j] of a block (lanes mask), requantized (rq_vector, checked) into
 * planes (outer0 + j) from out on. Not inlined into oc_item: there its constants stayed live
 * across the tiles, which then spilled accumulators (ResNet-50's 3x3 layers took 1.18x the time
 * with the fused chain). */
static __attribute__((noinline)) void SFX(oc_requantize)(const r8_conv *p, const int32_t (*raw)[OC_POS], int noc,
                                                        long outer0, uint8_t *out, unsigned mask, int ol_mode) {
    const long npos = (long)p->OH * p->OW;
    const vf vsteps = vf_set1(p->post[p->npost - 1].steps), limit = rq_fused_limit(p);
#define OC_RQ(mode)                                                                                          \
    for (int j = 0; j < noc; j++)                                                                            \
        rq_vector(p, vi_load(raw[j]), p->rq + (outer0 + j) * RQ_FIELDS, out + (outer0 + j) * npos, mask, vsteps, \
                  limit, 1, mode)
    if (ol_mode == 1) OC_RQ(1);
    else OC_RQ(0);
#undef OC_RQ
}

/* The levels (0 .. steps) of the codes of accumulators acc (rq fields q) by the reference's
 * formula (rq_codes_exact), for a vector with a lane near a midpoint. */
static __attribute__((noinline, cold)) vi SFX(rq_level_exact)(const r8_conv *p, vi acc, const float *q) {
    return _mm512_cvtps_epi32(vf_sub(rq_codes_exact(p, acc, q), vf_set1(q[3])));   /* less ol: small integers */
}

/* oc_requantize into 4-channel cells (r8_conv.out_cells; the planner's channels come in whole
 * cells and every ol is 0 or every ol -128): 4 channels at a time, their levels (rq_level, or where
 * a channel's lane came near a midpoint rq_level_exact), then the 4 levels of each lane
 * interleaved into cells (cells_of_levels, flipped for i8 codes), one store of the block's cells
 * (lanes mask) at position o0 of cell plane (outer0 + j)/4. */
static __attribute__((noinline)) void SFX(oc_requantize_cells)(const r8_conv *p, const int32_t (*raw)[OC_POS],
                                                              int noc, long outer0, long o0, uint8_t *out,
                                                              unsigned mask) {
    const vf steps = vf_set1(p->post[p->npost - 1].steps), limit = rq_fused_limit(p);
    for (int j = 0; j < noc; j += 4) {
        const float *q = p->rq + (outer0 + j) * RQ_FIELDS;
        vi level[4];
        vf gap[4];
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) level[c] = rq_level(vi_load(raw[j + c]), q + c * RQ_FIELDS, steps, 0, &gap[c]);
        if (__builtin_expect(rq_wide_near(rq_wider(rq_wider(gap[0], gap[1]), rq_wider(gap[2], gap[3])), limit), 0))
            for (int c = 0; c < 4; c++)
                if (rq_near(gap[c], limit)) level[c] = SFX(rq_level_exact)(p, vi_load(raw[j + c]), q + c * RQ_FIELDS);
        const vi cells = cells_of_levels(level, 0, p->rq_ol_flip);
        _mm512_mask_storeu_epi32(out + ((outer0 + j) / 4 * p->out_cells + o0) * 4, (__mmask16)mask, cells);
    }
}

/* The positions of a chunk at most: its tiles' sums, then its epilogue blocks (oc_item). */
#define OC_CHUNK (4 * OC_POS)

/* A tile of a chunk: the positions order[n0 .. n0 + mr) of the chunk (oc_chunk_tiles), the taps
 * it runs. */
typedef struct { int n0, mr; oc_taps taps; } oc_tile_at;

/* The positions of a column's taps that make a group of their own (fewer join their row's). */
#define OC_COLUMN_GROUP 3

/* The tiles of the chunk of count positions from o0, into tiles, and the order of the chunk's
 * positions they take, into order: balanced tiles of at most OC_MR positions. Where the kernel
 * leaves out padding taps (r8_conv.oc_tap_rows), the positions are first grouped by the taps that
 * read a real input: their row's range and their column's (the runs of columns of one range,
 * oc_col_runs), the positions of an edge column's range with fewer than OC_COLUMN_GROUP in the
 * chunk joining their row's others (whose tiles then run the union of their columns' taps); the
 * groups in order of their first position, each cut into its own tiles. Returns the number of
 * tiles. */
static int oc_chunk_tiles(const r8_conv *p, long o0, int count, oc_tile_at *tiles, unsigned char *order) {
    oc_taps taps[OC_CHUNK];
    int size[OC_CHUNK], ngroup = 0, n = 0;
    if (!p->oc_tap_rows) {
        ngroup = 1, size[0] = count, taps[0] = (oc_taps){0, p->kh, 0, p->kw};
        for (int i = 0; i < count; i++) order[i] = (unsigned char)i;
    } else {
        /* segments: the chunk's positions of one row and one run of columns */
        int seg_at[OC_CHUNK], seg_len[OC_CHUNK], seg_key[OC_CHUNK], nseg = 0;
        int kr[OC_CHUNK], kc[OC_CHUNK], kn[OC_CHUNK], nkey = 0;
        const long end = o0 + count;
        for (long y = o0 / p->OW; y * p->OW < end; y++) {
            const int r = p->oc_tap_rows[y];
            for (int k = 0; k < p->oc_ncol_runs; k++) {
                const int *run = p->oc_col_runs + 3 * k;
                const long a = R8_MAX(o0, y * p->OW + run[0]), b = R8_MIN(end, y * p->OW + run[1]);
                if (a >= b) continue;
                int key = 0;
                while (key < nkey && (kr[key] != r || kc[key] != run[2])) key++;
                if (key == nkey) kr[nkey] = r, kc[nkey] = run[2], kn[nkey++] = 0;
                kn[key] += (int)(b - a);
                seg_at[nseg] = (int)(a - o0), seg_len[nseg] = (int)(b - a), seg_key[nseg++] = key;
            }
        }
        const int full = p->kw << 16;   /* every column tap real */
        int gr[OC_CHUNK], gc[OC_CHUNK], kgroup[OC_CHUNK];
        for (int k = 0; k < nkey; k++) {
            const int c = kc[k] == full || kn[k] >= OC_COLUMN_GROUP ? kc[k] : full;
            int g = 0;
            while (g < ngroup && (gr[g] != kr[k] || gc[g] != c)) g++;
            if (g == ngroup) {
                gr[g] = kr[k], gc[g] = c, size[g] = 0;
                taps[g] = (oc_taps){kr[k] & 0xFFFF, kr[k] >> 16, p->kw, 0};   /* columns: the union below */
                ngroup++;
            }
            taps[g].x0 = R8_MIN(taps[g].x0, kc[k] & 0xFFFF), taps[g].x1 = R8_MAX(taps[g].x1, kc[k] >> 16);
            size[g] += kn[k];
            kgroup[k] = g;
        }
        int at = 0;
        for (int g = 0; g < ngroup; g++)
            for (int q = 0; q < nseg; q++)
                if (kgroup[seg_key[q]] == g)
                    for (int i = 0; i < seg_len[q]; i++) order[at++] = (unsigned char)(seg_at[q] + i);
    }
    for (int g = 0, m = 0; g < ngroup; g++) {
        const int len = size[g], nt = (len + OC_MR - 1) / OC_MR;
        for (int t = 0; t < nt; t++) {
            const int mr = len / nt + (t < len % nt);
            tiles[n++] = (oc_tile_at){m, mr, taps[g]};
            m += mr;
        }
    }
    return n;
}

/* comp of the block's channels with the products of the padding cells of the taps a tile leaves
 * out added (r8_conv.oc_pad_sums; int32 wrapping, as comp). */
static void oc_comp_without(const r8_conv *p, int oc0, int noc, const int32_t *comp, oc_taps taps, int32_t *out) {
    for (int j = 0; j < OC_BLOCK; j++) out[j] = comp[j];
    for (int ky = 0; ky < p->kh; ky++)
        for (int kx = 0; kx < p->kw; kx++) {
            if (ky >= taps.y0 && ky < taps.y1 && kx >= taps.x0 && kx < taps.x1) continue;
            const int *sums = p->oc_pad_sums + (long)(ky * p->kw + kx) * p->OC + oc0;
            for (int j = 0; j < noc; j++) out[j] = (int32_t)((uint32_t)out[j] + (uint32_t)sums[j]);
        }
}

/* An item's positions first .. stop - 1 (first a multiple of 16) cut into chunks of at most
 * OC_CHUNK: where the kernel leaves out padding taps and OC_COLUMN_GROUP rows fit in one, bands of
 * whole rows (but at the item's ends), as even as can be, so that an edge column's positions of
 * several rows meet in one chunk (oc_chunk_tiles); else pieces of OC_CHUNK, whose epilogue blocks
 * are then the blocks of 16 from the item's start. (Pieces of 16, the last taking a rest of fewer
 * than OC_MR: MobileNetV2's 7x7 1x1 layers 4-5 us more, a 14x14 one the same.) */
typedef struct { long first, stop, row0, ow; int n, rows; } oc_chunks;   /* rows 0: pieces */

R8_INLINE oc_chunks oc_chunks_of(const r8_conv *p, long first, long stop) {
    oc_chunks c = {first, stop, 0, p->OW, (int)((stop - first + OC_CHUNK - 1) / OC_CHUNK), 0};
    if (p->oc_tap_rows && OC_CHUNK / p->OW >= OC_COLUMN_GROUP && stop > first) {
        const long per = OC_CHUNK / p->OW;   /* rows a chunk */
        c.row0 = first / p->OW;
        c.rows = (int)((stop - 1) / p->OW - c.row0 + 1);
        c.n = (int)((c.rows + per - 1) / per);
    }
    return c;
}

/* The first position of chunk k (k = n: the item's end). */
R8_INLINE long oc_chunk_at(const oc_chunks *c, int k) {
    if (k == c->n) return c->stop;
    if (!c->rows) return R8_MIN(c->stop, c->first + (long)k * OC_CHUNK);
    return R8_MAX(c->first, (c->row0 + (long)c->rows * k / c->n) * c->ow);
}

/* The first position of epilogue block k of a chunk of len positions (k = its number of blocks,
 * ceil(len/16): len): in bands even blocks, in pieces the blocks of 16. */
R8_INLINE int oc_block_at(const oc_chunks *c, int len, int k) {
    const int nblk = (len + OC_POS - 1) / OC_POS;
    return c->rows ? len * k / nblk : R8_MIN(len, k * OC_POS);
}

/* Work item `it`: its positions (a run of s->per blocks of 16) cut into chunks (oc_chunks_of), each
 * chunk's tiles (oc_chunk_tiles) summed into sums, then the chunk's epilogue blocks of at most 16
 * positions (oc_block_at) transposed and requantized channel by channel. ol_mode: as
 * conv_rq_item's. */
R8_INLINE void oc_item(const r8_conv *p, const oc_split *s, long it, int n, void *out, const int ol_mode) {
    int32_t sums[OC_CHUNK + OC_POS][OC_BLOCK] __attribute__((aligned(64)));
    int32_t raw[OC_BLOCK][OC_POS] __attribute__((aligned(64)));
    const int run = (int)(it % s->nrun), ob = (int)(it / s->nrun % s->nob), g = (int)(it / s->nrun / s->nob);
    const long npos = (long)p->OH * p->OW;
    const uint8_t *planes = (const uint8_t *)p->scratch + (long)g * p->nphase * p->ck * p->plane_pos * 4;
    const int8_t *wp = (const int8_t *)p->w_oc + (long)(g * s->nob + ob) * p->ntaps * p->ck * OC_BLOCK * 4;
    const int oc0 = g * p->OCg + ob * OC_BLOCK;
    const int noc = R8_MIN(OC_BLOCK, p->OCg - ob * OC_BLOCK);
    int32_t comp[OC_BLOCK] __attribute__((aligned(64))), comp_left[OC_BLOCK] __attribute__((aligned(64)));
    for (int j = 0; j < OC_BLOCK; j++) comp[j] = j < noc ? p->comp[oc0 + j] : 0;
    oc_taps have = {-1, -1, -1, -1};   /* the taps of list, nlist and tile_comp */
    oc_tap_at list[p->ntaps];
    int nlist = 0;
    const int32_t *tile_comp = comp;
    const long outer0 = (long)n * p->OC + oc0;
    const long first = (long)run * s->per * OC_POS, stop = R8_MIN(npos, (long)(run + 1) * s->per * OC_POS);
    const oc_chunks chunks = oc_chunks_of(p, first, stop);
    const int nchunk = chunks.n;
#define CHUNK_AT(c) oc_chunk_at(&chunks, c)
    /* Prefetched into L2 over the item's tiles (pf_spread): share `run` of nrun of the next
     * channel block's weights (a thread's next items, the static schedule's), then the item's share
     * of the next step's (pf_next_share). */
    const long wbytes = (long)p->ntaps * p->ck * OC_BLOCK * 4, lines = wbytes / 64;
    long tiles = 0;
    oc_tile_at plan[OC_CHUNK];
    unsigned char order[OC_CHUNK];
    for (int c = 0; c < nchunk; c++)
        tiles += oc_chunk_tiles(p, CHUNK_AT(c), (int)(CHUNK_AT(c + 1) - CHUNK_AT(c)), plan, order);
    const int more = g * s->nob + ob + 1 < p->G * s->nob;   /* another block follows in the weights */
    const char *block = more ? (const char *)wp + wbytes + lines * run / s->nrun * 64 : NULL;
    const char *block_end = more ? (const char *)wp + wbytes + lines * (run + 1) / s->nrun * 64 : NULL;
    const char *next, *next_end;
    pf_next_share(p, it, s->items, s->solo, &next, &next_end);
    pf_spread pf = pf_spread_of(block, block_end, next, next_end, tiles, (long)p->ntaps * p->ck);
    for (int c = 0; c < nchunk; c++) {
        const long c0 = CHUNK_AT(c);
        const int len = (int)(CHUNK_AT(c + 1) - c0);
        const int ntile = oc_chunk_tiles(p, c0, len, plan, order);
        long off[OC_CHUNK];   /* in the tiles' order: their cells' offsets, their rows of sums */
        int32_t *rows[OC_CHUNK];
        for (int i = 0; i < len; i++) {
            off[i] = (long)p->oc_vpos[c0 + order[i]] * 4;
            rows[i] = sums[order[i]];
        }
        for (int t = 0; t < ntile; t++) {
            const int m0 = plan[t].n0;
            const oc_taps taps = plan[t].taps;
            if (memcmp(&taps, &have, sizeof taps)) {   /* the tap list, and comp less the taps left out */
                have = taps;
                nlist = 0;
                for (int ky = taps.y0; ky < taps.y1; ky++)
                    for (int kx = taps.x0; kx < taps.x1; kx++, nlist++) {
                        const int tap = ky * p->kw + kx;
                        list[nlist].src = ((long)p->tap_phase[tap] * p->ck * p->plane_pos + p->tap_off[tap]) * 4;
                        list[nlist].w = (long)tap * p->ck * OC_BLOCK * 4;
                    }
                tile_comp = comp;
                if (p->oc_pad_sums && nlist < p->ntaps) {
                    oc_comp_without(p, oc0, noc, comp, taps, comp_left);
                    tile_comp = comp_left;
                }
            }
            switch (plan[t].mr) {
#define OC_CASE(k) case k: oc_tile(p, planes, wp, off + m0, k, tile_comp, rows + m0, pf_take(&pf), list, nlist); break;
                OC_CASE(1) OC_CASE(2) OC_CASE(3) OC_CASE(4) OC_CASE(5) OC_CASE(6)
#undef OC_CASE
            default: break;
            }
        }
        const int nblk = (len + OC_POS - 1) / OC_POS;
        for (int i = len; i < oc_block_at(&chunks, len, nblk - 1) + OC_POS; i++)   /* lanes past the chunk: */
            for (int j = 0; j < OC_BLOCK; j++) sums[i][j] = 0;                      /* never stored */
        for (int k = 0; k < nblk; k++) {
            const int b0 = oc_block_at(&chunks, len, k), count = oc_block_at(&chunks, len, k + 1) - b0;
            const long o0 = c0 + b0;
            for (int j = 0; j < noc; j += 16) oc_transpose16((const int32_t (*)[OC_BLOCK])(sums + b0), j, raw);
            if (p->out_cells)   /* (_plan/layout.py: no fused consumer then) */
                SFX(oc_requantize_cells)(p, (const int32_t (*)[OC_POS])raw, noc, outer0, o0, (uint8_t *)out,
                                         (1u << count) - 1);
            else
                SFX(oc_requantize)(p, (const int32_t (*)[OC_POS])raw, noc, outer0, (uint8_t *)out + o0,
                                   (1u << count) - 1, ol_mode);
        }
    }
#undef CHUNK_AT
    if (p->elt) RQ_CONSUME(p, outer0, noc, first, stop - first, out);   /* the item's codes, still in L1 */
}

/* conv_compute_rq's results with the output channels across the lanes (r8_conv.w_oc). */
static int SFX(conv_compute_oc)(const r8_conv *p, int n, void *out, int nt) {
    const oc_split split = oc_split_of(p, nt);
    RQ_FOR_ITEMS(oc_item, split, n, out, nt);
    return 0;
}
#define CONV_COMPUTE_OC SFX(conv_compute_oc)
