/* avx2 kernels in refint8's s16_pairs accumulation mode (the non-VNNI oneDNN path: pmaddubsw
 * saturates each pair of u8 x s8 products to s16). Used only for nodes whose accumulation attribute
 * is s16_pairs; the exact variants never saturate. */
#define R8_AVX2 1
#define R8_PAIRS 1
#define SFX(x) x##_avx2_pairs
#include "r8simd_api.h"
#include "r8simd_isa.h"
#include "r8simd_kernels.h"
