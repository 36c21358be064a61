/* refint8 simd kernels: Int8Convolution's inputs, packed into phase planes of cells.
 *
 * Each phase plane holds, at virtual position v, a cell of 4 bytes, one dot-product operand: 4
 * input channels' codes (R8_MODE 0: VNNI, AMX and the s16_pairs units), or 2 channels' codes less
 * their zero points as int16 (R8_MODE 1: the exact paths without VNNI), so every tap of every
 * stride and dilation is one contiguous vector load (r8simd_api.h r8_conv): the packing of NCHW
 * rows (conv_pack_rows; with VBMI, conv_pack_s2_vbmi and pack_u8_run_vbmi), of a thread's own
 * positions (conv_pack_positions), of activations already in cells (conv_pack_cells), and the
 * window sums for weight zero points (conv_window_sums). */
/* Part of r8simd_kernels.h, which includes it once per ISA unit, in order after the parts
 * before it (not a header of its own: it uses their definitions). */

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
 * planes (a tail's rows then go into the scratch: r8_conv.tail_at, conv_on_cells). */
R8_INLINE int conv_cells_are_planes(const r8_conv *p) {
    return conv_planes_are_image(p) && p->G == 1 && p->ck * 4 == p->C && p->in_cells == p->plane_pos &&
           !p->pack_ck;
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
