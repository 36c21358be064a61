/* AVX-512 (F/BW/VL, no VNNI) variant: exact s16 path (vpmaddwd zmm + vpaddd). */
#define R8_AVX512 1
#define SFX(x) x##_avx512
#include "r8simd_api.h"
#include "r8simd_isa.h"
#include "r8simd_kernels.h"

/* Register-only limit of the exact AVX-512 path: vpmaddwd zmm (32 MAC) + vpaddd. */
double r8_peak_avx512(long iters) {
    for (long i = 0; i < iters; i++) {
        __asm__ volatile(
#define S(t, a) "vpmaddwd %%zmm0, %%zmm1, %%zmm" #t "\n\tvpaddd %%zmm" #t ", %%zmm" #a ", %%zmm" #a "\n\t"
            S(2, 14) S(3, 15) S(4, 16) S(5, 17) S(6, 18) S(7, 19)
            S(8, 20) S(9, 21) S(10, 22) S(11, 23) S(12, 24) S(13, 25)
#undef S
            ::: "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
                "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22",
                "xmm23", "xmm24", "xmm25");
    }
    __asm__ volatile("vzeroupper");
    return (double)iters * 12 * 32;
}
