/* AVX-512 VNNI variant: vpdpbusd zmm (u8 x s8, exact int32 sums of 4 products). */
#define R8_VNNI 1
#define SFX(x) x##_avx512_vnni
#include "r8simd_api.h"
#include "r8simd_isa.h"
#include "r8simd_kernels.h"

/* Register-only limit: 24 independent vpdpbusd zmm accumulators (64 MAC each). */
double r8_peak_avx512_vnni(long iters) {
    for (long i = 0; i < iters; i++) {
        __asm__ volatile(
#define S(a) "vpdpbusd %%zmm1, %%zmm0, %%zmm" #a "\n\t"
            S(8) S(9) S(10) S(11) S(12) S(13) S(14) S(15) S(16) S(17) S(18) S(19)
            S(20) S(21) S(22) S(23) S(24) S(25) S(26) S(27) S(28) S(29) S(30) S(31)
#undef S
            ::: "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17",
                "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27",
                "xmm28", "xmm29", "xmm30", "xmm31");
    }
    __asm__ volatile("vzeroupper");
    return (double)iters * 24 * 64;
}
