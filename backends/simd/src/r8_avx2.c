/* AVX2 variant: exact s16 path (vpmaddwd on pre-widened s16 operands + vpaddd). */
#define R8_AVX2 1
#define SFX(x) x##_avx2
#include "r8simd_api.h"
#include "r8simd_isa.h"
#include "r8simd_kernels.h"

/* Register-only limit of the exact AVX2 path: vpmaddwd ymm (16 MAC) + vpaddd. */
double r8_peak_avx2(long iters) {
    for (long i = 0; i < iters; i++) {
        __asm__ volatile(
#define S(t, a) "vpmaddwd %%ymm0, %%ymm1, %%ymm" #t "\n\tvpaddd %%ymm" #t ", %%ymm" #a ", %%ymm" #a "\n\t"
            S(2, 8) S(3, 9) S(4, 10) S(5, 11) S(6, 12) S(7, 13)
            S(2, 8) S(3, 9) S(4, 10) S(5, 11) S(6, 12) S(7, 13)
#undef S
            ::: "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13");
    }
    __asm__ volatile("vzeroupper");
    return (double)iters * 12 * 16;
}
