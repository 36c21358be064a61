/* SSE4.2 variant: exact s16 path (pmovzx-equivalent widening at pack time + pmaddwd). */
#define R8_SSE42 1
#define SFX(x) x##_sse42
#include "r8simd_api.h"
#include "r8simd_isa.h"
#include "r8simd_kernels.h"

/* Register-only limit of the exact SSE path: pmaddwd on s16 operands + paddd (8 MAC each). */
double r8_peak_sse42(long iters) {
    for (long i = 0; i < iters; i++) {
        __asm__ volatile(
#define S(t, a) "movdqa %%xmm0, %%xmm" #t "\n\tpmaddwd %%xmm1, %%xmm" #t "\n\tpaddd %%xmm" #t ", %%xmm" #a "\n\t"
            S(2, 8) S(3, 9) S(4, 10) S(5, 11) S(6, 12) S(7, 13)
            S(2, 8) S(3, 9) S(4, 10) S(5, 11) S(6, 12) S(7, 13)
#undef S
            ::: "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13");
    }
    return (double)iters * 12 * 8;
}
