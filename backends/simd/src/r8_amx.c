/* AMX variant: AMX-INT8 tiles for Int8Convolution; the AVX-512 VNNI code for everything else
 * (packing, window sums, epilogue, matmul).
 *
 * Tiles: C = [16 output channels][16 positions] int32 (a row of C is a run of one NCHW plane),
 * A = weights [16 output channels][kc channel groups x 4] s8 (packed at compile time),
 * B = input [kc channel groups][16 positions x 4 channels] u8: rows of the phase plane, loaded
 * in place (row stride = one channel-group plane). TDPBSUD (s8 A x u8 B) sums exactly in int32.
 * Blocking 2x2: 32 output channels x 32 positions, tmm0-3 accumulators, tmm4-5 A, tmm6-7 B.
 *
 * Compiled twice: with -mamx-tile -mamx-int8 (R8_AMX, the real instructions), and with
 * R8_AMX_EMU, where the tile instructions are C functions with the same semantics, so the tiling
 * and the layouts are testable on CPUs without AMX.
 */
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

#ifdef R8_AMX_EMU
#define SFX(x) x##_amx_emu
#else
#define R8_AMX 1
#define SFX(x) x##_amx
#endif

#include "r8simd_api.h"
#include "r8simd_isa.h"

#define R8_CUSTOM_CONV_COMPUTE 1
static int amx_conv_compute(const r8_conv *p, int n, void *out, int nt);
#define CONV_COMPUTE amx_conv_compute
static int amx_by_positions(const r8_conv *p, int nt);
#define CONV_ITEMS_BY_POSITIONS amx_by_positions
static int amx_conv_compute_im2col(const r8_conv *p, const uint8_t *img, int n, void *out, int nt);
#define CONV_COMPUTE_IM2COL amx_conv_compute_im2col
static int amx_conv_compute_packing(const r8_conv *p, const uint8_t *img, int n, void *out, int nt);
#define CONV_COMPUTE_PACKING amx_conv_compute_packing
#define CONV_PACKING_OK(p, nt) 1   /* amx_by_positions: whole chunks a thread */
#include "r8simd_kernels.h"

typedef struct {
    uint8_t palette_id;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((packed)) tile_config;

#ifdef R8_AMX_EMU
typedef struct { int rows, colsb; uint8_t d[16][64]; } emu_tile;
static __thread emu_tile emu_t[8];
static void emu_config(const tile_config *c) {
    for (int i = 0; i < 8; i++) { emu_t[i].rows = c->rows[i]; emu_t[i].colsb = c->colsb[i]; memset(emu_t[i].d, 0, sizeof emu_t[i].d); }
}
static void emu_load(int t, const void *p, long stride) {
    for (int r = 0; r < emu_t[t].rows; r++) memcpy(emu_t[t].d[r], (const uint8_t *)p + r * stride, emu_t[t].colsb);
}
static void emu_store(int t, void *p, long stride) {
    for (int r = 0; r < emu_t[t].rows; r++) memcpy((uint8_t *)p + r * stride, emu_t[t].d[r], emu_t[t].colsb);
}
/* TDPBSUD: C[m][n] += sum_k sum_i s8(A[m][4k+i]) * u8(B[k][4n+i]) */
static void emu_dpbsud(int c, int a, int b) {
    emu_tile *C = &emu_t[c], *A = &emu_t[a], *B = &emu_t[b];
    for (int m = 0; m < C->rows; m++)
        for (int n = 0; n < C->colsb / 4; n++) {
            int32_t s;
            memcpy(&s, &C->d[m][4 * n], 4);
            for (int k = 0; k < A->colsb / 4; k++)
                for (int i = 0; i < 4; i++) s += (int32_t)(int8_t)A->d[m][4 * k + i] * (int32_t)B->d[k][4 * n + i];
            memcpy(&C->d[m][4 * n], &s, 4);
        }
}
#define TILE_CONFIG(c) emu_config(c)
#define TILE_LOAD(t, p, s) emu_load(t, p, s)
#define TILE_STORE(t, p, s) emu_store(t, p, s)
#define TILE_DPBSUD(c, a, b) emu_dpbsud(c, a, b)
#define TILE_DPBUSD(c, a, b) emu_dpbsud(c, a, b)
#define TILE_RELEASE() ((void)0)
#else
/* gcc 12 does not treat ldtilecfg as reading its 64 bytes: without the barrier (which hands it
 * the address and says memory may be read) it drops the stores that fill a local configuration,
 * and ldtilecfg faults (#GP) on the rows and columns left unset. */
#define TILE_CONFIG(c) do { __asm__ volatile("" : : "r"(c) : "memory"); _tile_loadconfig(c); } while (0)
#define TILE_LOAD(t, p, s) _tile_loadd(t, p, s)
#define TILE_STORE(t, p, s) _tile_stored(t, p, s)
#define TILE_ZERO(t) _tile_zero(t)
#define TILE_DPBSUD(c, a, b) _tile_dpbsud(c, a, b)
#define TILE_DPBUSD(c, a, b) _tile_dpbusd(c, a, b)
#define TILE_RELEASE() _tile_release()
#endif

/* The cell of input columns ix .. ix + 3 of the row src (W codes, each XOR flip; a column outside
 * 0 .. W - 1 the padding code padc). */
R8_INLINE uint32_t im2col_cell(const uint8_t *src, int ix, int W, uint8_t padc, uint8_t flip) {
    uint32_t cell = 0;
    for (int j = 0; j < 4; j++) {
        const int x = ix + j;
        cell |= (uint32_t)(x >= 0 && x < W ? (uint8_t)(src[x] ^ flip) : padc) << (8 * j);
    }
    return cell;
}

/* n cells d[0..n) of consecutive im2col positions whose 4 columns all lie inside the input row:
 * cell k holds src[k*sx .. k*sx + 3], each XOR flip. 16 at a time, one vpermb of a 64-byte window
 * (15*sx + 4 <= 64), loaded only as far as the cells reach (never past the row). */
__attribute__((target("avx512vbmi")))
static void im2col_cells_vbmi(uint32_t *d, const uint8_t *src, int n, int sx, const uint8_t idx[64], uint8_t flip) {
    const __m512i perm = _mm512_loadu_si512(idx), f = _mm512_set1_epi8((char)flip);
    const int reach = 15 * sx + 4;   /* the bytes 16 cells span */
    const __mmask64 whole = reach >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << reach) - 1;
    int x = 0;
    for (; x + 16 <= n; x += 16)
        _mm512_storeu_si512(d + x, _mm512_xor_si512(
                                       _mm512_permutexvar_epi8(perm, _mm512_maskz_loadu_epi8(whole, src + (long)x * sx)), f));
    if (x < n) {
        const int k = n - x, bytes = (k - 1) * sx + 4;
        const __m512i window = _mm512_maskz_loadu_epi8(((__mmask64)1 << bytes) - 1, src + (long)x * sx);
        _mm512_mask_storeu_epi32(d + x, (__mmask16)((1u << k) - 1),
                                 _mm512_xor_si512(_mm512_permutexvar_epi8(perm, window), f));
    }
}

/* r8_conv.im2col's packing (r8simd_api.h) of one chunk of an image: the cells of virtual positions
 * v0 .. v1 - 1 (v = oy*OW + ox) of every row into dst[row][cp] (cell v at v - v0). Per row and output
 * row, the positions whose 4 columns lie inside the input row straight from it (im2col_cells_vbmi
 * with VBMI; sx <= 4, _plan/convolution.py), those reaching into the padding (or all, without
 * VBMI) a cell at a time (im2col_cell). Codes of signed inputs are flipped to u8 (+128) like the
 * phase planes'. (Each input row had been laid out with its padding in a buffer first, for every
 * row and output row; ResNet-50's stem 0.91x the time without it, the groups of 16 unmasked.) */
static void amx_pack_im2col_chunk(const r8_conv *p, const uint8_t *img, long v0, long v1, uint32_t *dst, long cp) {
    const int ngx = (p->kw + 3) / 4, rows = p->Cg * p->kh * ngx;
    const int OW = p->OW, sx = p->sx, W = p->W, pl = p->pl;
    const uint8_t flip = p->in_signed ? 0x80 : 0;
    const int vbmi = r8_vbmi();
    uint8_t idx[64];
    for (int k = 0; k < 16; k++)
        for (int j = 0; j < 4; j++) idx[4 * k + j] = (uint8_t)(k * sx + j);
    for (int r = 0; r < rows; r++) {
        const int c = r / (p->kh * ngx), ky = r / ngx % p->kh, kx0 = 4 * (r % ngx);
        const uint8_t padc = (uint8_t)p->pad[c];
        const uint8_t *plane = img + (long)c * p->H * p->W;
        /* the positions ox whose columns ix = ox*sx + kx0 - pl .. ix + 3 lie inside the row */
        const int inner_lo = pl > kx0 ? (pl - kx0 + sx - 1) / sx : 0;
        const int inner_hi = W - 4 - kx0 + pl >= 0 ? (W - 4 - kx0 + pl) / sx + 1 : 0;
        uint32_t *d0 = dst + (long)r * cp - v0;   /* cell v at d0[v] */
        for (int oy = (int)(v0 / OW); (long)oy * OW < v1; oy++) {
            const int x0 = (int)R8_MAX(0, v0 - (long)oy * OW), x1 = (int)R8_MIN(OW, v1 - (long)oy * OW);
            uint32_t *d = d0 + (long)oy * OW;
            const int iy = oy * p->sy + ky * p->dy - p->pt;
            if (iy < 0 || iy >= p->H) {
                const uint32_t cell = padc * 0x01010101u;
                for (int ox = x0; ox < x1; ox++) d[ox] = cell;
                continue;
            }
            const uint8_t *src = plane + (long)iy * W;
            const int lo = R8_MIN(x1, R8_MAX(x0, inner_lo)), hi = R8_MAX(lo, R8_MIN(x1, inner_hi));
            for (int ox = x0; ox < lo; ox++) d[ox] = im2col_cell(src, ox * sx + kx0 - pl, W, padc, flip);
            if (vbmi && hi > lo) im2col_cells_vbmi(d + lo, src + lo * sx + kx0 - pl, hi - lo, sx, idx, flip);
            else for (int ox = lo; ox < hi; ox++) d[ox] = im2col_cell(src, ox * sx + kx0 - pl, W, padc, flip);
            for (int ox = hi; ox < x1; ox++) d[ox] = im2col_cell(src, ox * sx + kx0 - pl, W, padc, flip);
        }
    }
}

#define AMX_BLK 32   /* int32 per output-channel row of a block: 2 position tiles of 16 */

/* A finished block waiting for its requantization (r8_conv.rq), done channel by channel between
 * the tile steps of the next block: output channel j's sums at blk + j*AMX_BLK (two vectors,
 * comp[oc] included), ocs channels from oc0 (rq fields q, output planes from dst, `plane` bytes
 * apart) x the block's vectors (vector i's lanes mask[i], 0 for a vector past the last, stored
 * from position at[i] of the plane); channel j the next;
 * near: bit j set where a lane of channel j came near a midpoint (about a fifth of ResNet-50's
 * blocks have one: only those channels are done again);
 * cells (r8_conv.out_cells): dst is the cell plane of channels oc0 .. oc0 + 3, the planes `plane`
 * bytes apart, at[i] a cell's position (amx_rq_cell_channels). */
typedef struct {
    const int32_t *blk;
    const float *q;
    uint8_t *dst;
    long plane;
    unsigned mask[2];
    long at[2];
    int ocs, j;
    uint32_t near;
    int cells;
} amx_rq;

R8_INLINE amx_rq amx_rq_of(const r8_conv *p, const int32_t *blk, void *out, int n, int oc0, int ocs, int vb,
                           int nvb) {
    const long outer = (long)n * p->OC + oc0, plane = (long)p->OH * p->OW;
    amx_rq r = {blk, p->rq + outer * RQ_FIELDS, (uint8_t *)out + outer * plane, plane,
                {p->vmask[vb], nvb > 1 ? p->vmask[vb + 1] : 0u}, {p->vstart[vb], nvb > 1 ? p->vstart[vb + 1] : 0},
                ocs, 0, 0u, 0};
    if (p->out_cells) {   /* (outer is a multiple of 4: OC is, and oc0 of 32) */
        r.dst = (uint8_t *)out + outer * p->out_cells;
        r.plane = p->out_cells * 4;
        r.cells = 1;
    }
    return r;
}

/* The next `count` channels of r, rounded up to whole cells (4 channels), stored as cells: per
 * cell plane and vector, rq_level of each of its 4 channels, then the 4 levels of each lane
 * interleaved into cells by cells_of_levels (its packs saturate to 0 .. 255, so the clamp may be
 * left to them with rq_saturate), one 64-byte store of 16 cells. ol_mode (a literal): 1-4 as rq_vector's
 * (the planner keeps cells to r8_conv.rq_ol_zero and rq_ol_flip). */
R8_INLINE void amx_rq_cell_channels(amx_rq *r, int count, vf steps, vf limit, const int ol_mode) {
    const int end = R8_MIN(r->ocs, (r->j + count + 3) & ~3);
    const int saturated = ol_mode >= 3, flip = ol_mode == 2 || ol_mode == 4;
    uint32_t near = r->near;
    for (int j = r->j; j < end; j += 4) {
        uint8_t *plane = r->dst + j / 4 * r->plane;
        vf wide[4] = {vf_set1(0.0f), vf_set1(0.0f), vf_set1(0.0f), vf_set1(0.0f)};   /* each channel's gaps */
        for (int i = 0; i < 2; i++) {
            const unsigned m = r->mask[i];
            if (!m) continue;
            vi level[4];
            for (int c = 0; c < 4; c++) {
                vf gap;
                level[c] = rq_level(vi_load(r->blk + (j + c) * AMX_BLK + i * VL), r->q + (j + c) * RQ_FIELDS, steps,
                                    saturated, &gap);
                wide[c] = i == 0 ? gap : rq_wider(wide[c], gap);
            }
            const vi cells = cells_of_levels(level, 0, flip);
            uint8_t *at = plane + r->at[i] * 4;
            if (m == VM_FULL) _mm512_storeu_si512(at, cells);
            else _mm512_mask_storeu_epi32(at, (__mmask16)((1u << __builtin_popcount(m)) - 1u),
                                          _mm512_maskz_compress_epi32((__mmask16)m, cells));
        }
        /* one test for the 4 channels' 8 vectors (a test a vector took 1.13x the time of the NCHW
         * stores on ResNet-50's 64 -> 256 layer), each channel's only where one came near */
        if (__builtin_expect(rq_wide_near(rq_wider(rq_wider(wide[0], wide[1]), rq_wider(wide[2], wide[3])), limit), 0))
            for (int c = 0; c < 4; c++) near |= (uint32_t)rq_near(wide[c], limit) << (j + c);
    }
    if (end > r->j) r->j = end;
    r->near = near;
}

/* Channel j of a block stored as cells with a lane near a midpoint again, checked (rq_vector,
 * its codes then written into byte j % 4 of their cells: widened to a lane each, shifted to that
 * byte, the valid lanes compressed to the front, one store masked to that byte of each; a byte at
 * a time, this recheck had been 1-2 % of ResNet-50's time on AMX). */
static __attribute__((noinline, cold)) void amx_rq_cell_recheck(const r8_conv *p, const amx_rq *r, int j, vf steps,
                                                                 vf limit) {
    uint8_t *plane = r->dst + j / 4 * r->plane;
    for (int i = 0; i < 2; i++) {
        const unsigned m = r->mask[i];
        if (!m) continue;
        uint8_t codes[VL];
        const vi acc = vi_load(r->blk + j * AMX_BLK + i * VL);
        if (p->rq_ol_flip) rq_vector(p, acc, r->q + j * RQ_FIELDS, codes, VM_FULL, steps, limit, 1, 2);
        else rq_vector(p, acc, r->q + j * RQ_FIELDS, codes, VM_FULL, steps, limit, 1, 1);
        const vi lanes = _mm512_slli_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)codes)), 8 * (j % 4));
        const int count = __builtin_popcount(m);
        const __mmask64 bytes = (count == VL ? ~0ULL : (1ULL << (4 * count)) - 1) & (0x1111111111111111ULL << (j % 4));
        _mm512_mask_storeu_epi8(plane + r->at[i] * 4, bytes, _mm512_maskz_compress_epi32((__mmask16)m, lanes));
    }
}

/* The next `count` channels of r (fewer if it has fewer left): rq_vector on each of their vectors,
 * the fused chain; checked and ol_mode: literals (rq_vector's). An unchecked channel with a lane
 * near a midpoint gets its bit in r->near. ol_mode 3 and 4 on a block of two whole vectors that
 * follow each other: rq_level unclamped, rq_store_levels (ResNet-50's 64 -> 256 and 128 -> 512
 * 1x1 layers 0.83-0.88x the time, the stem 0.93x). */
R8_INLINE void amx_rq_channels(const r8_conv *p, amx_rq *r, int count, vf steps, vf limit, const int checked,
                               const int ol_mode) {
    if (!checked && r->cells) {
        amx_rq_cell_channels(r, count, steps, limit, ol_mode);
        return;
    }
    const int end = R8_MIN(r->ocs, r->j + count);
    const unsigned m0 = r->mask[0], m1 = r->mask[1];
    uint8_t *dst0 = r->dst + r->at[0], *dst1 = r->dst + r->at[1];
    uint32_t near = r->near;
    if (ol_mode >= 3 && !checked && m0 == VM_FULL && m1 == VM_FULL && dst1 == dst0 + VL) {
        for (int j = r->j; j < end; j++) {   /* a whole block: its levels saturated by their packs */
            const float *q = r->q + j * RQ_FIELDS;
            const int32_t *row = r->blk + j * AMX_BLK;
            vi level[2];
            vf gap0, gap1;
            level[0] = rq_level(vi_load(row), q, steps, 1, &gap0);
            level[1] = rq_level(vi_load(row + VL), q, steps, 1, &gap1);
            rq_store_levels(dst0 + j * r->plane, level, 2, ol_mode == 4);
            near |= (uint32_t)rq_wide_near(rq_wider(gap0, gap1), limit) << j;
        }
    } else {
        for (int j = r->j; j < end; j++) {
            const float *q = r->q + j * RQ_FIELDS;
            const int32_t *row = r->blk + j * AMX_BLK;
            const long off = j * r->plane;
            vf wide = vf_set1(0.0f);
            if (m0) wide = rq_vector(p, vi_load(row), q, dst0 + off, m0, steps, limit, checked, ol_mode);
            if (m1) wide = rq_wider(wide, rq_vector(p, vi_load(row + VL), q, dst1 + off, m1, steps, limit,
                                                    checked, ol_mode));
            if (!checked) near |= (uint32_t)rq_near(wide, limit) << j;
        }
    }
    if (end > r->j) r->j = end;
    r->near = near;
}

/* Channel j of a block with a lane near a midpoint again, checked (rq_vector sends the near vectors
 * to rq_vector_exact; these stores replace the unchecked ones). */
static __attribute__((noinline, cold)) void amx_rq_recheck(const r8_conv *p, amx_rq r, int j, vf steps, vf limit) {
    r.j = j;
    amx_rq_channels(p, &r, 1, steps, limit, 1, 0);
}

/* The rest of r's channels, then the near channels again. */
R8_INLINE void amx_rq_finish(const r8_conv *p, amx_rq *r, vf steps, vf limit, const int ol_mode) {
    amx_rq_channels(p, r, r->ocs, steps, limit, 0, ol_mode);
    for (uint32_t near = r->near; __builtin_expect(near != 0, 0); near &= near - 1) {
        if (r->cells) amx_rq_cell_recheck(p, r, __builtin_ctz(near), steps, limit);
        else amx_rq_recheck(p, *r, __builtin_ctz(near), steps, limit);
    }
    r->near = 0;
}

/* The calling thread's tiles for the convolution's blocks: C tmm0-3 16 x 16 int32, A tmm4-5 16
 * output channels x kc*4 weights, B tmm6-7 kc rows of 16 positions x 4 codes. */
R8_INLINE void amx_configure(int kc) {
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int t = 0; t < 4; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
    for (int t = 4; t < 6; t++) { cfg.rows[t] = 16; cfg.colsb[t] = (uint16_t)(kc * 4); }
    for (int t = 6; t < 8; t++) { cfg.rows[t] = (uint8_t)kc; cfg.colsb[t] = 64; }
    TILE_CONFIG(&cfg);
}

/* The block's accumulators C tmm0-3 from its comp rows (amx_comp_rows). */
R8_INLINE void amx_load_accumulators(int32_t comp[32][16]) {
    TILE_LOAD(0, comp[0], 64); TILE_LOAD(1, comp[0], 64); TILE_LOAD(2, comp[16], 64); TILE_LOAD(3, comp[16], 64);
}

/* One tile step: input rows B tmm6-7 (16 positions each, the second 64 bytes after the first, rows
 * b_stride apart), weights A tmm4-5 (16 output channels each, rows of kc*4 bytes, the second tile
 * after the first), their 4 products into C tmm0-3. */
R8_INLINE void amx_tile_step(const uint8_t *b, long b_stride, const int8_t *a, int kc) {
    TILE_LOAD(6, b, b_stride);
    TILE_LOAD(7, b + 64, b_stride);
    TILE_LOAD(4, a, kc * 4);
    TILE_LOAD(5, a + 16L * kc * 4, kc * 4);
    TILE_DPBSUD(0, 4, 6);
    TILE_DPBSUD(1, 4, 7);
    TILE_DPBSUD(2, 5, 6);
    TILE_DPBSUD(3, 5, 7);
}

/* The accumulators into a block buffer: output channel j's 32 sums at o[j] (rows of 128 bytes). */
R8_INLINE void amx_store_accumulators(int32_t (*o)[AMX_BLK]) {
    const long stride = AMX_BLK * 4;
    TILE_STORE(0, &o[0][0], stride);
    TILE_STORE(1, &o[0][16], stride);
    TILE_STORE(2, &o[16][0], stride);
    TILE_STORE(3, &o[16][16], stride);
}

#define AMX_CHV 32   /* vectors per chunk of positions (16 blocks of 2 vectors) */

/* comp[oc] of the output-channel block's channels oc0 .. oc0 + ocs - 1, each in a row of 16 int32
 * (0 past ocs): the accumulator tiles start from them (TILE_LOAD), as the VNNI kernels' accumulators
 * start from comp, so that the requantization has one addition a vector less (its vector work
 * bounds the layers of small K, e.g. ResNet-50's 64 -> 256 1x1 one). */
R8_INLINE void amx_comp_rows(const r8_conv *p, int oc0, int ocs, int32_t rows[32][16]) {
    for (int j = 0; j < 32; j++) vi_store(rows[j], vi_set1(j < ocs ? p->comp[oc0 + j] : 0));
}

/* The blocks of the convolution. p->kc: channel groups per chunk (<= 16); p->ck is a multiple of
 * it. Weights packed [G][OCg/32][ntaps][ck/kc][32 oc][kc*4]. Position blocks of 2 vectors (p->nvec
 * may be odd: the planes have room for the extra vector, whose results are dropped). Each block's
 * sums go to a 4 KB buffer (rows of 128 bytes: the tile stores spread over the cache's sets). With
 * r8_conv.rq and no fused consumer, a block is requantized while the tiles of the next one
 * accumulate (the vector units idle beside the tile unit otherwise: amx_rq_channels after each
 * tile step), from one of two alternating buffers; else the general epilogue runs on each block as
 * it is stored. ol_mode: rq_vector's literal (1 for r8_conv.rq_ol_zero, 2 for r8_conv.rq_ol_flip,
 * else 0; 3 and 4 for those with r8_conv.rq_saturate: a whole block's levels are stored by
 * rq_store_levels).
 *
 * amx_block, one block: output channels of block ob (32) x vectors vb, vb + 1 (nvb of them valid)
 * of group g, the previous block requantized between its tile steps and after its tile stores (rq,
 * ol_mode: literals). The input cells: the group's phase planes from base, ppos positions each,
 * the block's first at position v0.
 * next_w (or NULL): next_bytes of the next output-channel block's weights, prefetched a part after
 * each tile step. comp: the block's amx_comp_rows. */
R8_INLINE int amx_block(const r8_conv *p, int n, void *out, int g, int ob, int vb, int nvb, const uint8_t *base,
                        long ppos, long v0, int32_t blk[2][32][AMX_BLK], amx_rq *prev, int *cur,
                        const int8_t *next_w, long next_bytes, int32_t comp[32][16], const int rq,
                        const int ol_mode) {
    const int kc = p->kc, nch = p->ck / kc;
    const int nob = (p->OCg + 31) / 32;
    const long asz = 16L * kc * 4;
    const int ksteps = p->ntaps * nch;
    /* whole lines a tile step (the last may lie past the next block's weights, even past the
     * array: a prefetch never faults) */
    const long pf_step = ((next_bytes + ksteps - 1) / ksteps + 63) & ~63L;
    const float fsteps = rq ? p->post[p->npost - 1].steps : 0.0f;
    const vf steps = vf_set1(fsteps), limit = rq_fused_limit(p);
    const int oc0 = g * p->OCg + ob * 32, ocs = R8_MIN(32, p->OCg - ob * 32);
    const int8_t *wa = (const int8_t *)p->w + (long)(g * nob + ob) * p->ntaps * nch * 2 * asz;
    /* the previous block's channels spread over the tile steps and the stores of the tiles, whose
     * share runs after them (amx_rq_finish): with the whole share before the stores (K = 64: one
     * tile step), each block's stores waited for it; ResNet-50's layers 0.9-1.0x the time */
    const int per = rq ? (prev->ocs - prev->j + ksteps) / (ksteps + 1) : 0;   /* channels a step */
    amx_load_accumulators(comp);
    for (int t = 0; t < p->ntaps; t++) {
        const uint8_t *src = base + ((long)p->tap_phase[t] * p->ck * ppos + v0 + p->tap_off[t]) * 4;
        for (int ch = 0; ch < nch; ch++) {
            amx_tile_step(src, ppos * 4, wa, kc);
            if (next_w) {   /* into L2 */
                for (long l = 0; l < pf_step; l += 64) _mm_prefetch((const char *)next_w + l, _MM_HINT_T1);
                next_w += pf_step;
            }
            src += (long)kc * ppos * 4;
            wa += 2 * asz;
            if (rq) amx_rq_channels(p, prev, per, steps, limit, 0, ol_mode);
        }
    }
    int32_t (*b)[AMX_BLK] = blk[*cur];
    amx_store_accumulators(b);
    if (rq) {
        amx_rq_finish(p, prev, steps, limit, ol_mode);
        *prev = amx_rq_of(p, b[0], out, n, oc0, ocs, vb, nvb);
        *cur ^= 1;
        return 0;
    }
    return SFX(conv_epilogue)(p, n, g, oc0, ocs, vb, nvb, b[0], AMX_BLK, 0, out);
}

/* Whether the work items on nt threads go by chunks of positions first (and the planes are packed
 * by rows, conv_pack's by_rows: each thread packs and reads back the rows of its own positions):
 * with several threads, one group and at least nt chunks. On one thread, or else, by output-channel
 * blocks first (each block's weights reused by the chunks' positions; positions first on one
 * thread, each pair of vectors' inputs reused by every output channel, was no faster, and slower
 * where the weights are large). With 2 threads by channel blocks, each thread read the planes the
 * other had packed: ResNet-50's 256x56x56 -> 64 layer took 0.75x the one-thread time. */
static int amx_by_positions(const r8_conv *p, int nt) {
    return nt > 1 && p->G == 1 && !p->im2col && (p->nvec + AMX_CHV - 1) / AMX_CHV >= nt;
}

/* Vectors per chunk of positions: AMX_CHV, or by positions (amx_by_positions) the even size that
 * cuts the vectors into a multiple of nt near-equal chunks (statically scheduled, each thread
 * takes as many): with AMX_CHV ResNet-50's 28x28 planes (49 vectors) went 32 + 17 on 2 threads,
 * one thread waiting for the other (those layers 1.1-1.35x faster than on one thread). */
static int amx_chunk_vectors(const r8_conv *p, int nt, int by_positions) {
    if (!by_positions) return AMX_CHV;
    const int least = (p->nvec + AMX_CHV - 1) / AMX_CHV;
    const int chunks = (least + nt - 1) / nt * nt;
    return ((p->nvec + chunks - 1) / chunks + 1) & ~1;
}

/* Work item it of r8_conv.im2col: chunk it of 512 positions, its unfolded windows packed into the
 * thread's own part of the scratch (cells: ck rows of 512 cells, 96 KB for ResNet-50's stem, where
 * the whole image's 2.4 MB did not stay in L2 between the packing and the tiles), then its blocks
 * for every output-channel block. */
R8_INLINE int amx_im2col_item(const r8_conv *p, const uint8_t *img, uint32_t *cells, long it, int n, void *out,
                              int32_t blk[2][32][AMX_BLK], amx_rq *prev, int *cur, const int rq, const int ol_mode) {
    const int nob = (p->OCg + 31) / 32;
    const long cp = (long)AMX_CHV * VL, v0 = it * cp;
    const int vb0 = (int)(it * AMX_CHV), nv = R8_MIN(AMX_CHV, p->nvec - vb0);
    int nan = 0;
    int32_t comp[32][16] __attribute__((aligned(64)));
    amx_pack_im2col_chunk(p, img, v0, R8_MIN(v0 + cp, (long)p->OH * p->OW), cells, cp);
    for (int ob = 0; ob < nob; ob++) {
        amx_comp_rows(p, ob * 32, R8_MIN(32, p->OCg - ob * 32), comp);
        for (int pb = 0; pb < nv; pb += 2)
            nan += amx_block(p, n, out, 0, ob, vb0 + pb, R8_MIN(2, nv - pb), (const uint8_t *)cells, cp,
                             (long)pb * VL, blk, prev, cur, NULL, 0, comp, rq, ol_mode);
    }
    return nan;
}

/* A thread's own planes (amx_conv_compute_packing): positions first .. of every channel group,
 * ppos apart from base. */
typedef struct { const uint8_t *base; long ppos, first; } amx_planes;

/* Work item it: the blocks of output-channel block ob x chunk of chv positions' vectors
 * (amx_chunk_vectors; positions first: amx_by_positions), from the phase planes or `own`; with
 * img (r8_conv.im2col) amx_im2col_item's chunk. */
R8_INLINE int amx_item(const r8_conv *p, const uint8_t *img, uint32_t *cells, long it, int n, void *out,
                       int32_t blk[2][32][AMX_BLK], amx_rq *prev, int *cur, int by_positions, int chv,
                       const amx_planes *own, const int rq, const int ol_mode) {
    if (img) return amx_im2col_item(p, img, cells, it, n, out, blk, prev, cur, rq, ol_mode);
    const int nob = (p->OCg + 31) / 32;
    const int nchunk = (p->nvec + chv - 1) / chv;
    int chunk, ob, g;
    if (by_positions) {
        ob = (int)(it % nob);
        chunk = (int)(it / nob % nchunk);
        g = (int)(it / ((long)nob * nchunk));
    } else {
        chunk = (int)(it % nchunk);
        ob = (int)(it / nchunk % nob);
        g = (int)(it / ((long)nchunk * nob));
    }
    const int vb0 = chunk * chv, nv = R8_MIN(chv, p->nvec - vb0);
    int nan = 0;
    const long ppos = own ? own->ppos : p->plane_pos, first = own ? own->first : 0;
    const uint8_t *base = own ? own->base : (const uint8_t *)p->scratch + (long)g * p->nphase * p->ck * ppos * 4;
    /* The next output-channel block's weights, prefetched into L2 by the blocks of this one's last
     * chunk (channel blocks first), each a share of them, spread over its tile steps: ResNet-50's
     * layer4 streams 15 MB of weights from L3 an inference, where they were loaded at the tiles'
     * pace; its layer4 and layer3.0 convolutions took 0.86-0.88x the time, all layers 0.94-0.95x
     * (three alternating pairs of processes). All by the chunk's first block, as first written, its
     * 32 lines a tile step stalled the tile loads behind them (a quarter of the samples of layer4's
     * 3x3 layers, whose 7x7 planes are two blocks): shared, layer4's 3x3 layers took 0.92-0.96x the
     * time alone, the others the same within the noise (alternating runs). */
    const long block_weights = (long)p->ntaps * p->ck * 4 * 32;
    const int8_t *next_w = !by_positions && chunk == nchunk - 1 && ob + 1 < nob
                               ? (const int8_t *)p->w + (long)(g * nob + ob + 1) * block_weights : NULL;
    const long blocks = (nv + 1) / 2, share = ((block_weights + blocks - 1) / blocks + 63) & ~63L;
    int32_t comp[32][16] __attribute__((aligned(64)));
    amx_comp_rows(p, g * p->OCg + ob * 32, R8_MIN(32, p->OCg - ob * 32), comp);
    for (int pb = 0; pb < nv; pb += 2)
        nan += amx_block(p, n, out, g, ob, vb0 + pb, R8_MIN(2, nv - pb), base, ppos, (long)(vb0 + pb) * VL - first,
                         blk, prev, cur, next_w ? next_w + pb / 2 * share : NULL, share, comp, rq, ol_mode);
    return nan;
}

/* amx_item for the work items of one thread (rq, ol_mode: literals), the last block's
 * requantization after them. With `packing` (by positions, planes that are the image), the
 * thread's items are its own range of chunks, whose positions it packs first: no thread reads
 * another's cells, so no barrier between the packing and the tiles. */
#define AMX_ITEMS(rq, ol_mode)                                                                    \
    do {                                                                                           \
        if (packing) {                                                                             \
            const int t = omp_get_thread_num(), k = omp_get_num_threads();                        \
            const long c0 = nchunk * t / k, c1 = nchunk * (t + 1) / k, nob = (p->OCg + 31) / 32;   \
            const long v0 = c0 * chv * VL, v1 = R8_MIN(c1 * chv, (p->nvec + 1) & ~1) * VL;         \
            const amx_planes own = {(const uint8_t *)p->scratch + p->ck * v0 * 4, v1 - v0, v0};    \
            SFX(conv_pack_positions)(p, img, v0, v1, (uint32_t *)own.base, own.ppos);               \
            for (long it = c0 * nob; it < c1 * nob; it++)                                          \
                nan += amx_item(p, NULL, cells, it, n, out, blk, &prev, &cur, 1, chv, &own, rq, ol_mode); \
        } else {                                                                                   \
            _Pragma("omp for schedule(static)")                                                    \
            for (long it = 0; it < items; it++)                                                    \
                nan += amx_item(p, img, cells, it, n, out, blk, &prev, &cur, by_positions, chv, NULL, rq, \
                                ol_mode);                                                          \
        }                                                                                          \
        if (rq) {                                                                                  \
            const float fsteps = p->post[p->npost - 1].steps;                                      \
            amx_rq_finish(p, &prev, vf_set1(fsteps), rq_fused_limit(p), ol_mode);              \
        }                                                                                          \
    } while (0)

/* The convolution of image n on nt threads; img: the image's codes for r8_conv.im2col (packed
 * chunk by chunk here) or with `packing` (conv_planes_are_image, by positions: each thread packs
 * its own), else NULL (the phase planes are packed). */
static int amx_run(const r8_conv *p, const uint8_t *img, int n, void *out, int nt, const int packing) {
    const int kc = p->kc;
    const int by_positions = amx_by_positions(p, nt);
    const int chv = img && !packing ? AMX_CHV : amx_chunk_vectors(p, nt, by_positions);
    const long nchunk = (p->nvec + chv - 1) / chv;
    const long items = img && !packing ? nchunk : (long)p->G * ((p->OCg + 31) / 32) * nchunk;
    const int rq = p->rq && !p->elt;
    int nan = 0;
#pragma omp parallel num_threads(nt) if (nt > 1) reduction(+ : nan)
    {
        amx_configure(kc);
        int32_t blk[2][32][AMX_BLK] __attribute__((aligned(64)));
        amx_rq prev = {0};
        int cur = 0;
        uint32_t *cells = img && !packing ? (uint32_t *)p->scratch + (long)omp_get_thread_num() * p->ck * AMX_CHV * VL
                                          : NULL;
        if (!rq) AMX_ITEMS(0, 0);
        else if (p->rq_ol_zero && p->rq_saturate) AMX_ITEMS(1, 3);
        else if (p->rq_ol_flip && p->rq_saturate) AMX_ITEMS(1, 4);
        else if (p->rq_ol_zero) AMX_ITEMS(1, 1);
        else if (p->rq_ol_flip) AMX_ITEMS(1, 2);
        else AMX_ITEMS(1, 0);
        TILE_RELEASE();
    }
    return nan;
}

static int amx_conv_compute(const r8_conv *p, int n, void *out, int nt) { return amx_run(p, NULL, n, out, nt, 0); }

static int amx_conv_compute_im2col(const r8_conv *p, const uint8_t *img, int n, void *out, int nt) {
    return amx_run(p, img, n, out, nt, 0);
}

/* By positions on planes that are the image (r8simd_conv.h r8_conv), each thread packing its
 * own: on 2 threads ResNet-50's 512x28x28 -> 128 and -> 256 layers took 0.67-0.70x the time,
 * 128x28x28 -> 512 and 256x56x56 -> 64 0.83-0.84x (before, about a tenth of the samples spun at
 * the barrier after conv_pack, and each plane was written half by each core). */
static int amx_conv_compute_packing(const r8_conv *p, const uint8_t *img, int n, void *out, int nt) {
    return amx_run(p, img, n, out, nt, 1);
}

#ifndef R8_AMX_EMU
/* r8simd_api.h r8_amx_tile_steps: what a tile step of the convolution costs with its operands in
 * memory (benchmarks/simd_efficiency.py): a 3x3 tap's one-column shift puts the input rows 4 bytes
 * past a line, each row then spanning two. */
double r8_amx_tile_steps(long steps, long a_bytes, int b_offset) {
    if (r8_amx_request() != 0) return -1.0;
    a_bytes = R8_MAX(a_bytes, 2048L) / 2048 * 2048;
    int8_t *a = aligned_alloc(64, (size_t)a_bytes);
    uint8_t *b = aligned_alloc(64, 16 * 4096 + 128);
    if (!a || !b) { free(a); free(b); return -1.0; }
    memset(a, 1, (size_t)a_bytes);
    memset(b, 1, 16 * 4096 + 128);
    amx_configure(16);
    TILE_ZERO(0); TILE_ZERO(1); TILE_ZERO(2); TILE_ZERO(3);
    long at = 0;
    for (long i = 0; i < steps; i++) {
        amx_tile_step(b + b_offset, 4096, a + at, 16);
        at = at + 2048 < a_bytes ? at + 2048 : 0;
    }
    TILE_RELEASE();
    free(a);
    free(b);
    return (double)steps * 4 * 16384;
}

/* r8simd_api.h r8_amx_tile_blocks: a block's fixed cost on the tile unit. The tile instructions
 * complete in order and an accumulator is stored only once its last product is done, and loaded
 * again for the next block only once stored; a block of one step (K = 64, e.g. ResNet-50's
 * 64 -> 256 1x1 layer) then takes about twice its four products' time. The input rows 256 bytes
 * apart (16 rows of 4 KB apart would share one L1 set). */
double r8_amx_tile_blocks(long blocks, int steps, int store) {
    if (r8_amx_request() != 0) return -1.0;
    static int8_t a[2048] __attribute__((aligned(64)));
    static uint8_t b[16 * 256 + 128] __attribute__((aligned(64)));
    static int32_t comp[32][16] __attribute__((aligned(64)));
    static int32_t blk[2][32][AMX_BLK] __attribute__((aligned(64)));
    memset(a, 1, sizeof a);
    memset(b, 1, sizeof b);
    amx_configure(16);
    int cur = 0;
    for (long i = 0; i < blocks; i++) {
        amx_load_accumulators(comp);
        for (int s = 0; s < steps; s++) amx_tile_step(b, 256, a, 16);
        if (store) {
            amx_store_accumulators(blk[cur]);
            cur ^= 1;
        }
    }
    TILE_RELEASE();
    return (double)blocks * steps * 4 * 16384;
}

/* Register-only limit: 2x2 tile blocking, TDPBUSD 16x16x64 (16384 MAC each). */
double r8_peak_amx(long iters) {
    if (r8_amx_request() != 0) return -1.0;
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int t = 0; t < 8; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
    static uint8_t zero[1024] __attribute__((aligned(64)));
    TILE_CONFIG(&cfg);
    TILE_ZERO(0); TILE_ZERO(1); TILE_ZERO(2); TILE_ZERO(3);
    TILE_LOAD(4, zero, 64); TILE_LOAD(5, zero, 64); TILE_LOAD(6, zero, 64); TILE_LOAD(7, zero, 64);
    for (long i = 0; i < iters; i++) {
        TILE_DPBUSD(0, 4, 6);
        TILE_DPBUSD(1, 4, 7);
        TILE_DPBUSD(2, 5, 6);
        TILE_DPBUSD(3, 5, 7);
    }
    TILE_RELEASE();
    return (double)iters * 4 * 16384;
}
#endif
