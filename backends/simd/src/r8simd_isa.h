/* Per-ISA vector primitives. Each translation unit defines exactly one of
 *   R8_SSE42, R8_AVX2, R8_AVX512, R8_VNNI (AVX-512 VNNI), R8_AMX, R8_AMX_EMU
 * and is compiled with that ISA's flags and -ffp-contract=off (no FMA contraction: every float
 * operation below is one IEEE float32 operation, evaluated in the order written).
 *
 * vi: VL lanes of int32; vf: VL lanes of float32; vm: a lane mask.
 * vdot(acc, a, b): mode 0 (VNNI): acc + the 4-byte dot products of u8 a and s8 b (vpdpbusd,
 * exact in int32); mode 1 (s16): acc + the 2-term dot products of s16 a and b (pmaddwd: each
 * term <= 255*255, the pair sum fits int32 exactly) - no vpmaddubsw in the exact variants, so no
 * s16 saturation. Only the R8_PAIRS units (refint8's declared s16_pairs mode) use vpmaddubsw:
 * mode 0 layout, each pair of u8*s8 products saturated to s16, then pmaddwd by 1 sums two pairs.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define R8_INLINE static inline __attribute__((always_inline))

/* The 4- and 8-lane stores' bytes of int32 codes (s16: the codes saturated to int16): saturated
 * to i8 (CODES_I8) or u8 (CODES_U8; CODES_FLIP: then the top bit flipped, the i8 code c - 128 of
 * a c in 0..255). */
#define CODES_U8 0
#define CODES_I8 1
#define CODES_FLIP 2
R8_INLINE __m128i codes_narrow(__m128i s16, const int kind) {
    const __m128i b = kind == CODES_I8 ? _mm_packs_epi16(s16, s16) : _mm_packus_epi16(s16, s16);
    return kind == CODES_FLIP ? _mm_xor_si128(b, _mm_set1_epi8((char)0x80)) : b;
}

#if defined(R8_AVX512) || defined(R8_VNNI) || defined(R8_AMX) || defined(R8_AMX_EMU)
#define R8_ZMM 1
#define VL 16
typedef __m512i vi;
typedef __m512 vf;
typedef __mmask16 vm;
#define VM_FULL 0xFFFFu
R8_INLINE vi vi_load(const void *p) { return _mm512_loadu_si512(p); }
R8_INLINE void vi_store(void *p, vi a) { _mm512_storeu_si512(p, a); }
R8_INLINE vi vi_zero(void) { return _mm512_setzero_si512(); }
R8_INLINE vi vi_set1(int32_t x) { return _mm512_set1_epi32(x); }
R8_INLINE vi vi_add(vi a, vi b) { return _mm512_add_epi32(a, b); }
R8_INLINE vi vi_sub(vi a, vi b) { return _mm512_sub_epi32(a, b); }
R8_INLINE vi vi_mullo(vi a, vi b) { return _mm512_mullo_epi32(a, b); }
#if defined(R8_AVX512) && defined(R8_PAIRS)
/* s16_pairs (refint8.int8.accumulate): vpmaddubsw saturates each pair u8*s8 + u8*s8 to s16 */
R8_INLINE vi vdot(vi acc, vi a, vi b) {
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(a, b), _mm512_set1_epi16(1)));
}
#elif defined(R8_AVX512)
R8_INLINE vi vdot(vi acc, vi a, vi b) { return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b)); }
#else
R8_INLINE vi vdot(vi acc, vi a, vi b) { return _mm512_dpbusd_epi32(acc, a, b); }
#endif
R8_INLINE vf vf_cvt(vi a) { return _mm512_cvtepi32_ps(a); }
R8_INLINE vf vf_set1(float x) { return _mm512_set1_ps(x); }
R8_INLINE vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
R8_INLINE vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
R8_INLINE vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
R8_INLINE vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
R8_INLINE vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
R8_INLINE vf vf_round(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
/* x86 MAXPS/MINPS: a > b ? a : b (the second operand on equality or NaN). */
R8_INLINE vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
R8_INLINE vf vf_min(vf a, vf b) { return _mm512_min_ps(a, b); }
R8_INLINE vm vm_le(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
R8_INLINE vm vm_gt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
R8_INLINE vm vm_lt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
R8_INLINE vm vm_ge(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
R8_INLINE vf vf_abs(vf a) { return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(0x7FFFFFFF))); }
R8_INLINE vm vm_nle(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_NLE_UQ); }
R8_INLINE vm vm_nan(vf a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
R8_INLINE unsigned vm_bits(vm m) { return (unsigned)m; }
/* m ? b : a */
R8_INLINE vf vf_blend(vm m, vf a, vf b) { return _mm512_mask_blend_ps(m, a, b); }
R8_INLINE vf vf_keep(vm m, vf a) { return _mm512_maskz_mov_ps(m, a); }

R8_INLINE vf vf_load_u8(const void *p) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p))); }
R8_INLINE vf vf_load_i8(const void *p) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p))); }
R8_INLINE vi vi_load_u8(const void *p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)); }
R8_INLINE vi vi_max_u8(vi a, vi b) { return _mm512_max_epu8(a, b); }
R8_INLINE vi vi_max_i8(vi a, vi b) { return _mm512_max_epi8(a, b); }

/* Store the lanes selected by mask (consecutive outputs, in lane order) at dst. */
R8_INLINE void store_f32(float *dst, vf y, unsigned mask) {
    if (mask == VM_FULL) { _mm512_storeu_ps(dst, y); return; }
    vf c = _mm512_maskz_compress_ps((__mmask16)mask, y);
    _mm512_mask_storeu_ps(dst, (__mmask16)((1u << __builtin_popcount(mask)) - 1u), c);
}
/* codes: integral floats already clamped to the output range. */
/* Integer codes c (in range) narrowed to bytes, the lanes of mask stored from dst on (compressed). */
R8_INLINE void store_code_ints(void *dst, vi c, unsigned mask) {
    if (__builtin_expect(mask == VM_FULL, 1)) { _mm_storeu_si128((__m128i *)dst, _mm512_cvtepi32_epi8(c)); return; }
    c = _mm512_maskz_compress_epi32((__mmask16)mask, c);
    _mm_mask_storeu_epi8(dst, (__mmask16)((1u << __builtin_popcount(mask)) - 1u), _mm512_cvtepi32_epi8(c));
}

R8_INLINE void store_codes(void *dst, vf codes, unsigned mask) { store_code_ints(dst, _mm512_cvtps_epi32(codes), mask); }

/* Integer codes c in 0..255 stored as the i8 codes c - 128: their bytes with the top bit flipped. */
R8_INLINE void store_code_ints_flipped(void *dst, vi c, unsigned mask) {
    const __m128i flip = _mm_set1_epi8((char)0x80);
    if (__builtin_expect(mask == VM_FULL, 1)) {
        _mm_storeu_si128((__m128i *)dst, _mm_xor_si128(_mm512_cvtepi32_epi8(c), flip));
        return;
    }
    c = _mm512_maskz_compress_epi32((__mmask16)mask, c);
    _mm_mask_storeu_epi8(dst, (__mmask16)((1u << __builtin_popcount(mask)) - 1u),
                         _mm_xor_si128(_mm512_cvtepi32_epi8(c), flip));
}

#elif defined(R8_AVX2)
#define VL 8
typedef __m256i vi;
typedef __m256 vf;
typedef __m256 vm;
#define VM_FULL 0xFFu
R8_INLINE vi vi_load(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
R8_INLINE void vi_store(void *p, vi a) { _mm256_storeu_si256((__m256i *)p, a); }
R8_INLINE vi vi_zero(void) { return _mm256_setzero_si256(); }
R8_INLINE vi vi_set1(int32_t x) { return _mm256_set1_epi32(x); }
R8_INLINE vi vi_add(vi a, vi b) { return _mm256_add_epi32(a, b); }
R8_INLINE vi vi_sub(vi a, vi b) { return _mm256_sub_epi32(a, b); }
R8_INLINE vi vi_mullo(vi a, vi b) { return _mm256_mullo_epi32(a, b); }
#if defined(R8_PAIRS)
R8_INLINE vi vdot(vi acc, vi a, vi b) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1)));
}
#else
R8_INLINE vi vdot(vi acc, vi a, vi b) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }
#endif
R8_INLINE vf vf_cvt(vi a) { return _mm256_cvtepi32_ps(a); }
R8_INLINE vf vf_set1(float x) { return _mm256_set1_ps(x); }
R8_INLINE vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
R8_INLINE vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
R8_INLINE vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
R8_INLINE vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
R8_INLINE vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
R8_INLINE vf vf_round(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
R8_INLINE vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
R8_INLINE vf vf_min(vf a, vf b) { return _mm256_min_ps(a, b); }
R8_INLINE vm vm_le(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
R8_INLINE vm vm_gt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
R8_INLINE vm vm_lt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
R8_INLINE vm vm_ge(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
R8_INLINE vf vf_abs(vf a) { return _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF))); }
R8_INLINE vm vm_nle(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_NLE_UQ); }
R8_INLINE vm vm_nan(vf a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
R8_INLINE unsigned vm_bits(vm m) { return (unsigned)_mm256_movemask_ps(m); }
R8_INLINE vf vf_blend(vm m, vf a, vf b) { return _mm256_blendv_ps(a, b, m); }
R8_INLINE vf vf_keep(vm m, vf a) { return _mm256_and_ps(m, a); }
R8_INLINE vf vf_load_u8(const void *p) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p))); }
R8_INLINE vf vf_load_i8(const void *p) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p))); }
R8_INLINE vi vi_max_u8(vi a, vi b) { return _mm256_max_epu8(a, b); }
R8_INLINE vi vi_max_i8(vi a, vi b) { return _mm256_max_epi8(a, b); }
R8_INLINE void store_f32(float *dst, vf y, unsigned mask) {
    if (mask == VM_FULL) { _mm256_storeu_ps(dst, y); return; }
    float tmp[VL];
    _mm256_storeu_ps(tmp, y);
    for (int i = 0, k = 0; i < VL; i++) if (mask >> i & 1u) dst[k++] = tmp[i];
}
R8_INLINE vi vi_cvt(vf a) { return _mm256_cvtps_epi32(a); }   /* rounding to nearest even */
/* Integer codes c narrowed to bytes (codes_narrow's kind), the lanes of mask stored from dst on
 * (compressed). */
R8_INLINE void store_code_ints(void *dst, vi c, unsigned mask, const int kind) {
    const __m128i b = codes_narrow(_mm_packs_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1)), kind);
    if (mask == VM_FULL) { _mm_storel_epi64((__m128i *)dst, b); return; }
    uint8_t tmp[16];
    _mm_storeu_si128((__m128i *)tmp, b);
    uint8_t *d = (uint8_t *)dst;
    for (int i = 0, k = 0; i < VL; i++) if (mask >> i & 1u) d[k++] = tmp[i];
}
/* Four whole vectors of integer codes that follow each other, as store_code_ints: the packs work
 * within 128-bit halves, so the dwords of the packed bytes come out as (c0 lo, c1 lo, c2 lo,
 * c3 lo, c0 hi, ...) and one vpermd puts them in order. */
R8_INLINE void store_code_ints4(void *dst, const vi *c, const int kind) {
    const vi w01 = _mm256_packs_epi32(c[0], c[1]), w23 = _mm256_packs_epi32(c[2], c[3]);
    vi b = kind == CODES_I8 ? _mm256_packs_epi16(w01, w23) : _mm256_packus_epi16(w01, w23);
    b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    if (kind == CODES_FLIP) b = _mm256_xor_si256(b, _mm256_set1_epi8((char)0x80));
    _mm256_storeu_si256((__m256i *)dst, b);
}
R8_INLINE void store_codes(void *dst, vf codes, unsigned mask, int is_signed) {
    store_code_ints(dst, _mm256_cvtps_epi32(codes), mask, is_signed ? CODES_I8 : CODES_U8);
}

#elif defined(R8_SSE42)
#define VL 4
typedef __m128i vi;
typedef __m128 vf;
typedef __m128 vm;
#define VM_FULL 0xFu
R8_INLINE vi vi_load(const void *p) { return _mm_loadu_si128((const __m128i *)p); }
R8_INLINE void vi_store(void *p, vi a) { _mm_storeu_si128((__m128i *)p, a); }
R8_INLINE vi vi_zero(void) { return _mm_setzero_si128(); }
R8_INLINE vi vi_set1(int32_t x) { return _mm_set1_epi32(x); }
R8_INLINE vi vi_add(vi a, vi b) { return _mm_add_epi32(a, b); }
R8_INLINE vi vi_sub(vi a, vi b) { return _mm_sub_epi32(a, b); }
R8_INLINE vi vi_mullo(vi a, vi b) { return _mm_mullo_epi32(a, b); }
#if defined(R8_PAIRS)
R8_INLINE vi vdot(vi acc, vi a, vi b) {
    return _mm_add_epi32(acc, _mm_madd_epi16(_mm_maddubs_epi16(a, b), _mm_set1_epi16(1)));
}
#else
R8_INLINE vi vdot(vi acc, vi a, vi b) { return _mm_add_epi32(acc, _mm_madd_epi16(a, b)); }
#endif
R8_INLINE vf vf_cvt(vi a) { return _mm_cvtepi32_ps(a); }
R8_INLINE vf vf_set1(float x) { return _mm_set1_ps(x); }
R8_INLINE vf vf_load(const float *p) { return _mm_loadu_ps(p); }
R8_INLINE vf vf_add(vf a, vf b) { return _mm_add_ps(a, b); }
R8_INLINE vf vf_sub(vf a, vf b) { return _mm_sub_ps(a, b); }
R8_INLINE vf vf_mul(vf a, vf b) { return _mm_mul_ps(a, b); }
R8_INLINE vf vf_div(vf a, vf b) { return _mm_div_ps(a, b); }
R8_INLINE vf vf_round(vf a) { return _mm_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
R8_INLINE vf vf_max(vf a, vf b) { return _mm_max_ps(a, b); }
R8_INLINE vf vf_min(vf a, vf b) { return _mm_min_ps(a, b); }
R8_INLINE vm vm_le(vf a, vf b) { return _mm_cmple_ps(a, b); }
R8_INLINE vm vm_gt(vf a, vf b) { return _mm_cmpgt_ps(a, b); }
R8_INLINE vm vm_lt(vf a, vf b) { return _mm_cmplt_ps(a, b); }
R8_INLINE vm vm_ge(vf a, vf b) { return _mm_cmpge_ps(a, b); }
R8_INLINE vf vf_abs(vf a) { return _mm_and_ps(a, _mm_castsi128_ps(_mm_set1_epi32(0x7FFFFFFF))); }
R8_INLINE vm vm_nle(vf a, vf b) { return _mm_cmpnle_ps(a, b); }
R8_INLINE vm vm_nan(vf a) { return _mm_cmpunord_ps(a, a); }
R8_INLINE unsigned vm_bits(vm m) { return (unsigned)_mm_movemask_ps(m); }
R8_INLINE vf vf_blend(vm m, vf a, vf b) { return _mm_blendv_ps(a, b, m); }
R8_INLINE vf vf_keep(vm m, vf a) { return _mm_and_ps(m, a); }
R8_INLINE vf vf_load_u8(const void *p) { int32_t w; memcpy(&w, p, 4); return _mm_cvtepi32_ps(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(w))); }
R8_INLINE vf vf_load_i8(const void *p) { int32_t w; memcpy(&w, p, 4); return _mm_cvtepi32_ps(_mm_cvtepi8_epi32(_mm_cvtsi32_si128(w))); }
R8_INLINE vi vi_max_u8(vi a, vi b) { return _mm_max_epu8(a, b); }
R8_INLINE vi vi_max_i8(vi a, vi b) { return _mm_max_epi8(a, b); }
R8_INLINE void store_f32(float *dst, vf y, unsigned mask) {
    if (mask == VM_FULL) { _mm_storeu_ps(dst, y); return; }
    float tmp[VL];
    _mm_storeu_ps(tmp, y);
    for (int i = 0, k = 0; i < VL; i++) if (mask >> i & 1u) dst[k++] = tmp[i];
}
R8_INLINE vi vi_cvt(vf a) { return _mm_cvtps_epi32(a); }   /* rounding to nearest even */
R8_INLINE void store_code_ints(void *dst, vi c, unsigned mask, const int kind) {
    const uint32_t word = (uint32_t)_mm_cvtsi128_si32(codes_narrow(_mm_packs_epi32(c, c), kind));
    if (mask == VM_FULL) { memcpy(dst, &word, 4); return; }
    uint8_t *d = (uint8_t *)dst;
    for (int i = 0, k = 0; i < VL; i++) if (mask >> i & 1u) d[k++] = (uint8_t)(word >> (8 * i));
}
R8_INLINE void store_code_ints4(void *dst, const vi *c, const int kind) {
    const vi w01 = _mm_packs_epi32(c[0], c[1]), w23 = _mm_packs_epi32(c[2], c[3]);
    vi b = kind == CODES_I8 ? _mm_packs_epi16(w01, w23) : _mm_packus_epi16(w01, w23);
    if (kind == CODES_FLIP) b = _mm_xor_si128(b, _mm_set1_epi8((char)0x80));
    _mm_storeu_si128((__m128i *)dst, b);
}
R8_INLINE void store_codes(void *dst, vf codes, unsigned mask, int is_signed) {
    store_code_ints(dst, _mm_cvtps_epi32(codes), mask, is_signed ? CODES_I8 : CODES_U8);
}
#else
#error "define one ISA macro"
#endif

#ifdef R8_ZMM
#define STORE_CODES(dst, codes, mask, is_signed) store_codes(dst, codes, mask)
#else
#define STORE_CODES(dst, codes, mask, is_signed) store_codes(dst, codes, mask, is_signed)
#endif
