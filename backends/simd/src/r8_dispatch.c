/* CPU feature detection (baseline x86-64 code: safe to call on any machine). */
#include <cpuid.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <omp.h>
#include "r8simd_api.h"

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* bit 0: SSE4.2 (with SSE4.1/SSSE3), 1: AVX2 (+ OS AVX state), 2: AVX-512 F/BW/VL (+ OS zmm/opmask
 * state), 3: AVX-512 VNNI, 4: AMX-TILE + AMX-INT8 (+ OS tile state in XCR0; the per-process
 * permission is r8_amx_request). */
unsigned r8_cpu_features(void) {
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int sse42 = (c >> 20 & 1) && (c >> 19 & 1) && (c >> 9 & 1);
    int osxsave = c >> 27 & 1, avx = c >> 28 & 1;
    if (sse42) f |= 1u;
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    unsigned max_leaf = __get_cpuid_max(0, 0);
    if (max_leaf < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    int ymm_os = (xcr0 & 0x6) == 0x6, zmm_os = (xcr0 & 0xE6) == 0xE6, tile_os = (xcr0 & 0x60000) == 0x60000;
    if (sse42 && avx && ymm_os && (b >> 5 & 1)) f |= 2u;
    if ((f & 2u) && zmm_os && (b >> 16 & 1) && (b >> 30 & 1) && (b >> 31 & 1)) f |= 4u;
    if ((f & 4u) && (c >> 11 & 1)) f |= 8u;
    if ((f & 8u) && tile_os && (d >> 24 & 1) && (d >> 25 & 1)) f |= 16u;
    return f;
}

/* Ask Linux for permission to use AMX tile data (once per process; idempotent). 0 on success. */
int r8_amx_request(void) {
    static int state = 1; /* 1: not asked yet */
    if (state == 1) state = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0 ? 0 : -1;
    return state;
}

int r8_max_threads(void) { return omp_get_num_procs(); }
